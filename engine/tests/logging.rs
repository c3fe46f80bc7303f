//! With the `log` feature, the engine logs through the `log` facade (target `taskwheel`): a run that panicked at
//! warn, a failed run at debug, a hook that panicked at error, an engine's start and shutdown at info.
//! `cargo test -p taskwheel --features log --test logging` (`.ci/run` does).
#![cfg(feature = "log")]

use std::sync::{Arc, Mutex, OnceLock};

use taskwheel::{Engine, Hooks, RunStart, Shutdown};

struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "taskwheel"
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.0.lock().unwrap().push((record.level(), record.args().to_string()));
        }
    }

    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).expect("the only logger of this test binary");
        log::set_max_level(log::LevelFilter::Debug);
        capture
    })
}

struct PanickingHook;

impl Hooks for PanickingHook {
    fn before_run(&self, _: &RunStart) {
        panic!("hook bug");
    }
}

#[test]
fn runs_failures_panics_hooks_start_and_shutdown_are_logged_at_their_levels() {
    let capture = capture();
    let engine = Engine::builder().workers(1).thread_name("logged").hooks(Arc::new(PanickingHook)).build().unwrap();
    engine.spawn(|_| -> () { panic!("boom") }).unwrap().wait().unwrap();
    engine.spawn(|_| Err::<(), _>("refused")).unwrap().wait().unwrap();
    engine.shutdown(Shutdown::CancelPending).unwrap();
    let records = capture.0.lock().unwrap().clone();
    let has = |level: log::Level, text: &str| records.iter().any(|(l, message)| *l == level && message.contains(text));
    assert!(has(log::Level::Info, "engine \"logged\" started"), "{records:?}");
    assert!(has(log::Level::Warn, "panicked: boom"), "{records:?}");
    assert!(has(log::Level::Debug, "failed: refused"), "{records:?}");
    assert!(has(log::Level::Error, "before_run hook panicked"), "{records:?}");
    assert!(has(log::Level::Info, "engine \"logged\" shut down"), "{records:?}");
}
