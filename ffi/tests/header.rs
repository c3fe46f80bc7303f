//! `include/taskwheel.h` is committed; this test fails when a fresh cbindgen generation differs from it.
//! `TASKWHEEL_BLESS=1 cargo test -p taskwheel-ffi --test header` rewrites it.

use std::path::Path;

#[test]
fn committed_header_matches_a_fresh_generation() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    // The version macros come from Cargo.toml, so they always match tw_version() (the C host checks that).
    config.after_includes = Some(format!(
        "\n/* This header's version, the library's (tw_version()) when both come from the same build. */\n\
         #define TW_VERSION_MAJOR {}\n#define TW_VERSION_MINOR {}\n#define TW_VERSION_PATCH {}\n\
         #define TW_VERSION_STRING \"{}\"\n",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    ));
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("header is UTF-8");
    let committed_path = crate_dir.join("../include/taskwheel.h");
    if std::env::var_os("TASKWHEEL_BLESS").is_some() {
        std::fs::write(&committed_path, &fresh).expect("write the header");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/taskwheel.h is stale: regenerate with `TASKWHEEL_BLESS=1 cargo test -p taskwheel-ffi --test header`"
    );
}

/// The engine's event counters are one table (`taskwheel::Stats::EVENT_COUNTERS`); the C `tw_stats` carries each,
/// under the same name, so a counter added to the table without its C field fails here.
#[test]
fn tw_stats_carries_every_event_counter_of_the_engine() {
    let header = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/taskwheel.h"))
        .expect("the committed header");
    let start = header.find("typedef struct tw_stats {").expect("tw_stats in the header");
    let end = start + header[start..].find("} tw_stats;").expect("the end of tw_stats");
    let fields = &header[start..end];
    for counter in taskwheel::Stats::EVENT_COUNTERS {
        assert!(fields.contains(&format!("uint64_t {counter};")), "tw_stats has no field {counter}");
    }
}
