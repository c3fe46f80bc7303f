//! Issue 24: a shutdown or a drop with a million tasks pending ends every one of them, and drops each closure
//! exactly once (counted), without one command per task to the tick thread. No timing is asserted: the figures
//! for 1,000,000 and 10,000,000 pending are the `millions` bench's (BENCHMARKS.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use taskwheel::{Engine, Shutdown};

const PENDING: u64 = 1_000_000;

/// Counts its drops.
struct Counted(Arc<AtomicU64>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// An engine holding `PENDING` tasks due an hour out, each closure holding a drop counter.
fn loaded(drops: &Arc<AtomicU64>) -> Engine {
    let engine = Engine::builder().workers(2).capacity(PENDING as usize + 10).build().unwrap();
    for _ in 0..PENDING {
        let counted = Counted(drops.clone());
        engine.after(Duration::from_secs(3600), move |_| drop(counted)).unwrap();
    }
    engine
}

#[test]
fn a_shutdown_with_a_million_pending_cancels_each_and_drops_each_closure_once() {
    let drops = Arc::new(AtomicU64::new(0));
    let engine = loaded(&drops);
    let report = engine.shutdown(Shutdown::CancelPending).unwrap();
    assert_eq!((report.cancelled, report.completed, report.still_running), (PENDING, 0, 0));
    assert_eq!(drops.load(Ordering::SeqCst), PENDING, "each closure dropped once, by the shutdown");
    let stats = engine.stats();
    assert_eq!((stats.cancelled, stats.pending, stats.running), (PENDING, 0, 0));
    drop(engine);
    assert_eq!(drops.load(Ordering::SeqCst), PENDING, "and never again");
}

#[test]
fn dropping_an_engine_with_a_million_pending_drops_each_closure_once() {
    let drops = Arc::new(AtomicU64::new(0));
    let engine = loaded(&drops);
    drop(engine);
    assert_eq!(drops.load(Ordering::SeqCst), PENDING);
}
