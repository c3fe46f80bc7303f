//! Builds libtaskwheel, then compiles and runs the C and C++ hosts against the committed header, linked both
//! dynamically and statically; checks that README's static link line is what rustc prints and that README's C
//! example compiles and runs as written. The host binaries are left in `target/c-hosts/<profile>/` for `.ci/run`
//! to run again under valgrind (against the debug and the release library).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// `target/<profile>` of this test binary, and the profile's name for cargo.
fn profile_dir() -> (PathBuf, &'static str) {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<binary>").to_path_buf();
    let profile = if dir.ends_with("release") { "release" } else { "dev" };
    (dir, profile)
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?} did not start: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{command:?} failed ({}):\n{text}", output.status);
    text
}

/// Builds the library once for all tests of this file.
fn library() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let (dir, profile) = profile_dir();
            run(cargo().current_dir(root()).args(["build", "--quiet", "-p", "taskwheel-ffi", "--profile", profile]));
            assert!(dir.join("libtaskwheel.so").exists() && dir.join("libtaskwheel.a").exists());
            dir
        })
        .clone()
}

/// The `native-static-libs` rustc prints for the static library.
fn native_static_libs() -> Vec<String> {
    static LIBS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LIBS.get_or_init(print_native_static_libs).clone()
}

fn print_native_static_libs() -> Vec<String> {
    let (_, profile) = profile_dir();
    let text = run(cargo().current_dir(root()).args([
        "rustc",
        "--quiet",
        "-p",
        "taskwheel-ffi",
        "--lib",
        "--crate-type",
        "staticlib",
        "--profile",
        profile,
        "--",
        "--print",
        "native-static-libs",
    ]));
    let line = text.lines().find_map(|l| l.split("native-static-libs:").nth(1)).expect("rustc prints the list");
    line.split_whitespace().map(str::to_string).collect()
}

/// `target/c-hosts/<debug|release>`: the hosts built against each profile's library, kept apart so that `.ci/run`
/// can run both under valgrind.
fn out_dir() -> PathBuf {
    let (lib, _) = profile_dir();
    let profile = lib.file_name().expect("target/<profile>").to_string_lossy().into_owned();
    // Beside the build's own outputs, in whatever target directory cargo uses (CARGO_TARGET_DIR included).
    let dir = lib.parent().expect("a target directory").join("c-hosts").join(profile);
    std::fs::create_dir_all(&dir).expect("create target/c-hosts");
    dir
}

/// Compiles `source` with `compiler` and `flags`, links it both ways, runs both, and checks the closing line.
#[path = "../../durable/tests/support/mod.rs"]
mod redis_support;

fn build_and_run(compiler: &str, flags: &[&str], source: &str, name: &str) {
    let lib = library();
    let include = root().join("include");
    let source = root().join(source);
    let static_libs = native_static_libs();
    for (kind, link) in [
        ("dynamic", vec![format!("-L{}", lib.display()), "-ltaskwheel".to_string()]),
        ("static", std::iter::once(lib.join("libtaskwheel.a").display().to_string()).chain(static_libs).collect()),
    ] {
        let binary = out_dir().join(format!("{name}_{kind}"));
        run(Command::new(compiler)
            .args(flags)
            .arg(format!("-I{}", include.display()))
            .arg(&source)
            .args(&link)
            .arg("-o")
            .arg(&binary));
        // The C host's durable case runs against a real Redis of its own (skipped loudly without redis-server).
        let redis = redis_support::RedisServer::start(&format!("{name}_{kind}"));
        let mut host = Command::new(&binary);
        host.env("LD_LIBRARY_PATH", &lib);
        if let Some(redis) = &redis {
            host.env("TW_REDIS_URL", redis.url());
        }
        let output = run(&mut host);
        let closing = output.lines().rev().find(|l| l.contains(" passed, ")).unwrap_or_default();
        assert!(closing.ends_with(" 0 failed"), "{name} ({kind}):\n{output}");
        println!("{name} ({kind}): {closing}");
    }
}

#[test]
fn c11_host_passes_linked_dynamically_and_statically() {
    build_and_run(
        "gcc",
        &["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-g"],
        "tests/c/host.c",
        "host_c",
    );
}

#[test]
fn cpp17_host_passes_linked_dynamically_and_statically() {
    build_and_run(
        "g++",
        &["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-g"],
        "tests/cpp/host.cpp",
        "host_cpp",
    );
}

/// The README section "Use from C and C++".
fn readme_section() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme.find("## Use from C and C++").expect("README has a C section");
    let rest = &readme[start + 3..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

#[test]
fn readme_static_link_line_is_what_rustc_prints() {
    let section = readme_section();
    let libs = native_static_libs().join(" ");
    assert!(
        section.contains(&format!("libtaskwheel.a {libs}")),
        "README's static link line must end with rustc's native-static-libs: `libtaskwheel.a {libs}`"
    );
}

#[test]
fn readme_c_example_compiles_and_runs_as_written() {
    let example = readme_c_example();
    let lib = library();
    let source = out_dir().join("readme_example.c");
    std::fs::write(&source, example).expect("write the example");
    let binary = out_dir().join("readme_example");
    run(Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wwrite-strings"])
        .arg(format!("-I{}", root().join("include").display()))
        .arg(&source)
        .arg(format!("-L{}", lib.display()))
        .arg("-ltaskwheel")
        .arg("-o")
        .arg(&binary));
    let output = run(Command::new(&binary).env("LD_LIBRARY_PATH", &lib));
    assert!(output.contains("fired"), "{output}");
    // The same text is valid C++ too, string literals and all (-Wwrite-strings), as a C++ user would paste it.
    let cpp_binary = out_dir().join("readme_example_cpp");
    run(Command::new("g++")
        .args(["-x", "c++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wwrite-strings"])
        .arg(format!("-I{}", root().join("include").display()))
        .arg(&source)
        .args(["-x", "none"])
        .arg(format!("-L{}", lib.display()))
        .arg("-ltaskwheel")
        .arg("-o")
        .arg(&cpp_binary));
    let output = run(Command::new(&cpp_binary).env("LD_LIBRARY_PATH", &lib));
    assert!(output.contains("fired"), "{output}");
}

/// The README's C example, as written.
fn readme_c_example() -> String {
    let section = readme_section();
    let start = section.find("```c\n").expect("a ```c block") + 5;
    section[start..start + section[start..].find("```").expect("closed block")].to_string()
}

/// Installs with `ffi/install.sh` into a fresh `prefix` (the profile of this test run), checks what it wrote.
fn install_into(prefix: &Path) -> String {
    let _ = std::fs::remove_dir_all(prefix);
    let (_, profile) = profile_dir();
    let profile = if profile == "release" { "release" } else { "debug" };
    run(Command::new("bash").arg(root().join("ffi/install.sh")).arg(prefix).arg(profile));
    let version = env!("CARGO_PKG_VERSION");
    let lib = prefix.join("lib");
    for file in [
        format!("libtaskwheel.so.{version}"),
        "libtaskwheel.so".to_string(),
        "libtaskwheel.a".to_string(),
        "pkgconfig/taskwheel.pc".to_string(),
        "pkgconfig/taskwheel-static.pc".to_string(),
        "cmake/taskwheel/taskwheelConfig.cmake".to_string(),
        "cmake/taskwheel/taskwheelConfigVersion.cmake".to_string(),
    ] {
        assert!(lib.join(&file).exists(), "install wrote no lib/{file}");
    }
    assert!(prefix.join("include/taskwheel.h").exists());
    let dynamic = run(Command::new("readelf").arg("-d").arg(lib.join("libtaskwheel.so")));
    assert!(dynamic.contains(&format!("Library soname: [libtaskwheel.so.{version}]")), "{dynamic}");
    version.to_string()
}

/// Compiles `source` with gcc and `link`, runs it with `library_path`, and checks it ran the README's tasks.
fn build_and_run_example(source: &Path, link: &[String], binary: &Path, library_path: &Path) -> String {
    run(Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(source)
        .args(link)
        .arg("-o")
        .arg(binary));
    let output = run(Command::new(binary).env("LD_LIBRARY_PATH", library_path));
    assert!(output.contains("fired"), "{output}");
    run(Command::new("readelf").arg("-d").arg(binary))
}

fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let flags = run(Command::new("pkg-config").env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")).args(args));
    flags.split_whitespace().map(str::to_string).collect()
}

#[test]
fn an_install_is_found_by_pkg_config_and_cmake_and_links_both_ways() {
    let dir = out_dir().join("install-test");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test directory");
    let source = dir.join("readme_example.c");
    std::fs::write(&source, readme_c_example()).expect("write the example");
    let prefix = dir.join("prefix");
    let version = install_into(&prefix);

    // 1. pkg-config --cflags --libs: the shared library, found by its soname.
    let flags = pkg_config(&prefix, &["--cflags", "--libs", "taskwheel"]);
    let needed = build_and_run_example(&source, &flags, &dir.join("app_pkg_config"), &prefix.join("lib"));
    assert!(needed.contains(&format!("Shared library: [libtaskwheel.so.{version}]")), "{needed}");

    // 2. taskwheel-static, in the same prefix as the shared library (where `-ltaskwheel --static` would pick the
    // .so): the archive and what it needs, run without any library path.
    let flags = pkg_config(&prefix, &["--cflags", "--libs", "taskwheel-static"]);
    let needed = build_and_run_example(&source, &flags, &dir.join("app_pkg_config_static"), &dir);
    assert!(!needed.contains("libtaskwheel"), "linked statically, yet needs the shared library:\n{needed}");

    // 3. CMake: find_package(taskwheel 0.x CONFIG) and the imported target taskwheel::taskwheel.
    let have_cmake = Command::new("cmake").arg("--version").output().is_ok_and(|o| o.status.success());
    if !have_cmake {
        assert!(std::env::var_os("TASKWHEEL_REQUIRE_CMAKE").is_none(), "cmake is required (TASKWHEEL_REQUIRE_CMAKE)");
        eprintln!("\n*** SKIPPED: the CMake part of the install test (no cmake on PATH; .ci/run installs it) ***\n");
        return;
    }
    let (major, minor) = (env!("CARGO_PKG_VERSION_MAJOR"), env!("CARGO_PKG_VERSION_MINOR"));
    for (statically, name) in [(false, "shared"), (true, "static")] {
        let project = dir.join(format!("cmake-{name}"));
        std::fs::create_dir_all(&project).expect("create the CMake project");
        std::fs::write(
            project.join("CMakeLists.txt"),
            format!(
                "cmake_minimum_required(VERSION 3.16)\nproject(readme_example C)\n\
                 set(TASKWHEEL_STATIC {})\nfind_package(taskwheel {major}.{minor} CONFIG REQUIRED)\n\
                 add_executable(app {})\ntarget_link_libraries(app PRIVATE taskwheel::taskwheel)\n",
                if statically { "ON" } else { "OFF" },
                source.display()
            ),
        )
        .expect("write CMakeLists.txt");
        let build = project.join("build");
        run(Command::new("cmake")
            .arg("-S")
            .arg(&project)
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())));
        run(Command::new("cmake").arg("--build").arg(&build));
        let output = run(&mut Command::new(build.join("app")));
        assert!(output.contains("fired"), "{name}: {output}");
        let needed = run(Command::new("readelf").arg("-d").arg(build.join("app")));
        assert_eq!(needed.contains("libtaskwheel"), !statically, "{name}:\n{needed}");
    }
    // A version this install does not satisfy is refused at configure time (0.x: another minor is another ABI).
    let project = dir.join("cmake-too-new");
    std::fs::create_dir_all(&project).expect("create the CMake project");
    let next_minor = minor.parse::<u32>().expect("a numeric minor") + 1;
    std::fs::write(
        project.join("CMakeLists.txt"),
        format!("cmake_minimum_required(VERSION 3.16)\nproject(p C)\nfind_package(taskwheel {major}.{next_minor} CONFIG REQUIRED)\n"),
    )
    .expect("write CMakeLists.txt");
    let refused = Command::new("cmake")
        .arg("-S")
        .arg(&project)
        .arg("-B")
        .arg(project.join("build"))
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
        .output()
        .expect("cmake runs");
    assert!(!refused.status.success(), "find_package({major}.{next_minor}) accepted taskwheel {version}");
}

#[test]
fn the_static_library_links_and_works_beside_another_rust_static_library() {
    let lib = library();
    let other_dir = root().join("target/other-staticlib");
    run(cargo()
        .current_dir(root())
        .args(["build", "--quiet", "--manifest-path", "tests/other-staticlib/Cargo.toml", "--target-dir"])
        .arg(&other_dir));
    let (ours, theirs) = (lib.join("libtaskwheel.a"), other_dir.join("debug/libotherlib.a"));
    // In either order on the link line: a C developer should not have to know which goes first.
    for (name, archives) in [("ours_first", [&ours, &theirs]), ("theirs_first", [&theirs, &ours])] {
        let binary = out_dir().join(format!("two_rust_libs_{name}"));
        run(Command::new("gcc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg(format!("-I{}", root().join("include").display()))
            .arg(root().join("tests/c/two_rust_libs.c"))
            .args(archives)
            .args(native_static_libs())
            .arg("-o")
            .arg(&binary));
        let output = run(&mut Command::new(&binary));
        assert!(output.contains("the other library says 15"), "{name}: {output}");
    }
}

/// While 0.x the soname is the exact version, so the CMake package accepts only that version: evaluated with
/// `cmake -P` on the version file filled for a 0.1.3 install.
#[test]
fn the_cmake_version_file_accepts_only_the_exact_version_while_0x() {
    let have_cmake = Command::new("cmake").arg("--version").output().is_ok_and(|o| o.status.success());
    if !have_cmake {
        assert!(std::env::var_os("TASKWHEEL_REQUIRE_CMAKE").is_none(), "cmake is required (TASKWHEEL_REQUIRE_CMAKE)");
        eprintln!("\n*** SKIPPED: the CMake version-file test (no cmake on PATH; .ci/run installs it) ***\n");
        return;
    }
    let dir = out_dir().join("cmake-version-file");
    std::fs::create_dir_all(&dir).expect("create the test directory");
    let template = std::fs::read_to_string(root().join("ffi/pkg/taskwheelConfigVersion.cmake.in")).expect("template");
    let accepts = |installed: &str, asked: &str| {
        let file = dir.join(format!("version-{installed}.cmake"));
        std::fs::write(&file, template.replace("@VERSION@", installed)).expect("write the version file");
        let parts: Vec<&str> = asked.split('.').collect();
        let mut script =
            format!("set(PACKAGE_FIND_VERSION \"{asked}\")\nset(PACKAGE_FIND_VERSION_COUNT {})\n", parts.len());
        for (name, part) in ["MAJOR", "MINOR", "PATCH"].iter().zip(parts.iter().chain(std::iter::repeat(&"0"))) {
            script.push_str(&format!("set(PACKAGE_FIND_VERSION_{name} {part})\n"));
        }
        script.push_str(&format!(
            "include(\"{}\")\nmessage(\"compatible=${{PACKAGE_VERSION_COMPATIBLE}}\")\n",
            file.display()
        ));
        let script_file = dir.join("check.cmake");
        std::fs::write(&script_file, script).expect("write the script");
        let output = Command::new("cmake").arg("-P").arg(&script_file).output().expect("run cmake -P");
        let text = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(text.contains("compatible="), "{text}");
        text.contains("compatible=TRUE")
    };
    assert!(accepts("0.1.3", "0.1.3"), "the exact version");
    assert!(!accepts("0.1.3", "0.1.2"), "an older patch: another soname, another ABI");
    assert!(!accepts("0.1.3", "0.1"), "0.1 means 0.1.0");
    assert!(accepts("0.1.0", "0.1"));
    assert!(!accepts("0.1.3", "0.2.0") && !accepts("0.2.0", "0.1.0"), "another minor");
    assert!(accepts("1.4.2", "1.2") && !accepts("1.4.2", "2.0"), "from 1.0, any later version of the major");
}

/// Issue 23: `ffi/install.sh` takes the library from the target directory cargo reports (a `CARGO_TARGET_DIR`, a
/// shared target directory, is honoured), not from `target/`. Run against a stand-in `cargo` on `PATH` that reports
/// another directory, holding stand-in libraries: the install must copy those.
#[test]
fn install_takes_the_library_from_the_target_directory_cargo_reports() {
    use std::os::unix::fs::PermissionsExt;
    let dir = out_dir().join("install-target-dir");
    let _ = std::fs::remove_dir_all(&dir);
    let (bin, elsewhere, prefix) = (dir.join("bin"), dir.join("elsewhere"), dir.join("prefix"));
    std::fs::create_dir_all(&bin).expect("create bin");
    std::fs::create_dir_all(elsewhere.join("release")).expect("create the other target directory");
    std::fs::write(elsewhere.join("release/libtaskwheel.a"), "the archive built elsewhere").expect("write");
    std::fs::write(elsewhere.join("release/libtaskwheel.so"), "the library built elsewhere").expect("write");
    let cargo = bin.join("cargo");
    std::fs::write(
        &cargo,
        "#!/bin/sh\n# A stand-in cargo: builds nothing, reports CARGO_TARGET_DIR as cargo does.\ncase \"$1\" in\n  \
         metadata) printf '{\"packages\":[],\"target_directory\":\"%s\",\"version\":1}\\n' \"$CARGO_TARGET_DIR\" ;;\n  \
         rustc) echo 'note: native-static-libs: -lc' >&2 ;;\nesac\n",
    )
    .expect("write the stand-in cargo");
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).expect("make it executable");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    run(Command::new("bash")
        .arg(root().join("ffi/install.sh"))
        .arg(&prefix)
        .arg("release")
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", &elsewhere));
    let installed = |name: &str| std::fs::read_to_string(prefix.join("lib").join(name)).expect("installed");
    assert_eq!(installed("libtaskwheel.a"), "the archive built elsewhere");
    assert_eq!(installed(&format!("libtaskwheel.so.{}", env!("CARGO_PKG_VERSION"))), "the library built elsewhere");
}
