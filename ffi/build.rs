//! Gives the shared library its SONAME, `libtaskwheel.so.VERSION` (while 0.x the exact version: any release may
//! change the ABI), so a program linked against one release never loads another by accident. `ffi/install.sh`
//! installs the library under that name with the `libtaskwheel.so` link beside it; for programs run from the
//! build tree (`LD_LIBRARY_PATH=target/release`), the same link is made there: `libtaskwheel.so.VERSION` →
//! `libtaskwheel.so`.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let soname = format!("libtaskwheel.so.{version}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out: the library lands in <target>/<profile>.
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    if let Some(profile_dir) = out.ancestors().nth(3) {
        let link = profile_dir.join(&soname);
        if std::fs::symlink_metadata(&link).is_err() {
            // A link to a file made later by the linker; failing to make it only affects runs from the build tree.
            let _ = std::os::unix::fs::symlink("libtaskwheel.so", &link);
        }
    }
}
