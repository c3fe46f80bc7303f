//! An idle engine sleeps: no tick-driven wakeups, with nothing pending or with one task far away. Real clock; the
//! assertion counts wakeups, which no amount of machine load can add (load only delays threads), so it holds on a
//! noisy machine. The sleep only decides how long a ticking engine would have to show itself.

use std::thread;
use std::time::Duration;

use taskwheel::{Engine, Stats};

/// `wait_idle` wakes the tick thread to acknowledge it; that wake may be counted just after `wait_idle` returns
/// (the tick thread can take the request before the wake flag is raised, then wake once for the flag). So one
/// wakeup is the request itself; more would mean the engine wakes on its own.
const SYNC_WAKEUP: u64 = 1;

fn wakeups_while_idle(engine: &Engine) -> u64 {
    engine.wait_idle().unwrap();
    let before = engine.stats();
    thread::sleep(Duration::from_millis(50));
    let Stats { tick_wakeups, .. } = engine.stats();
    tick_wakeups - before.tick_wakeups
}

#[test]
fn an_idle_engine_does_not_wake() {
    // A 100 µs tick: an engine that woke every tick would wake ~500 times in the 50 ms.
    let engine = Engine::builder().workers(1).tick(Duration::from_micros(100)).build().unwrap();
    assert!(wakeups_while_idle(&engine) <= SYNC_WAKEUP, "nothing pending");
    let far = engine.after(Duration::from_secs(3600), |_| ()).unwrap();
    assert!(wakeups_while_idle(&engine) <= SYNC_WAKEUP, "one task an hour away");
    far.cancel();
    assert!(wakeups_while_idle(&engine) <= SYNC_WAKEUP, "after a cancel");
}
