//! Strict priority and weighted sharing between the run queues, on one worker held by a gate while the queues fill:
//! the order of the runs that follow is decided by the queues alone.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskwheel::{Clock, Engine, EngineBuilder, Error, ManualClock, Priority};

/// Runs 40 High and then 40 Low tasks queued behind a gate on one worker; returns their priorities in run order.
fn run_order(builder: EngineBuilder) -> Vec<Priority> {
    let engine = builder.workers(1).clock(Clock::Manual(ManualClock::new())).build().unwrap();
    engine.wait_idle().unwrap();
    let (started_tx, started) = mpsc::channel();
    let (open, gate) = mpsc::channel::<()>();
    let gate_task = engine
        .spawn(move |_| {
            started_tx.send(()).unwrap();
            gate.recv().unwrap();
        })
        .unwrap();
    started.recv().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for priority in [Priority::High; 40].into_iter().chain([Priority::Low; 40]) {
        let order = order.clone();
        let task = engine.task(move |_| order.lock().unwrap().push(priority)).priority(priority).submit().unwrap();
        handles.push(task);
    }
    // Bounded: the submissions are in the queues within moments; give up after 10 s rather than hang.
    for _ in 0..10_000 {
        if engine.stats().queued.total() == 80 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(engine.stats().queued.total(), 80, "the queues filled while the worker was held");
    assert_eq!((engine.stats().queued.high, engine.stats().queued.low), (40, 40));
    open.send(()).unwrap();
    gate_task.wait().unwrap();
    for handle in handles {
        handle.wait().unwrap();
    }
    order.lock().unwrap().clone()
}

#[test]
fn strict_priority_runs_every_queued_high_task_before_any_low_one() {
    let order = run_order(Engine::builder());
    assert_eq!(order.len(), 80);
    assert!(order[..40].iter().all(|&p| p == Priority::High));
}

#[test]
fn weighted_sharing_gives_low_its_share_while_high_floods() {
    // Weights 3:0:1: of every four takes, three are High's and one Low's, whatever turn the worker is at.
    let order = run_order(Engine::builder().priority_weights(3, 0, 1));
    assert_eq!(order.len(), 80);
    let low_in_first_40 = order[..40].iter().filter(|&&p| p == Priority::Low).count();
    assert_eq!(low_in_first_40, 10);
    // Once High is drained, Low takes every turn.
    assert!(order[60..].iter().all(|&p| p == Priority::Low));
}

#[test]
fn impossible_weights_are_refused() {
    for (high, normal, low) in [(0, 0, 0), (taskwheel::MAX_PRIORITY_WEIGHT + 1, 1, 1)] {
        let refused = Engine::builder().priority_weights(high, normal, low).build();
        assert!(matches!(refused, Err(Error::InvalidArgument(_))), "{high}:{normal}:{low}");
    }
}
