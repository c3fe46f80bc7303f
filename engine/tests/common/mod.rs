//! Helpers shared by the engine's manual-clock integration tests.

#![allow(dead_code)] // each test file uses the helpers it needs

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskwheel::{Engine, ManualClock, TaskContext};

/// Moves the clock and lets the engine run everything now due.
pub(crate) fn advance(engine: &Engine, clock: &ManualClock, by: Duration) {
    clock.advance(by);
    engine.wait_idle().unwrap();
}

/// A task closure that counts its runs, and the count.
pub(crate) fn counter() -> (Arc<AtomicUsize>, impl Fn(&TaskContext<'_>) + Send + 'static) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    (runs, move |_: &TaskContext<'_>| {
        counted.fetch_add(1, Ordering::SeqCst);
    })
}
