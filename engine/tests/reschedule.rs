//! Moving a pending task to another instant (issue 13): on the manual clock, deterministic. The task keeps its id
//! and its dedupe key; the old deadline never starts it, wherever its old dispatch waits (the wheel, a run queue,
//! a group's queue); once it runs or has ended, a reschedule is refused with `Error::NotPending`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{advance, counter};
use taskwheel::{Clock, Engine, EngineBuilder, Error, MAX_DELAY, ManualClock, TaskState};

const SECOND: Duration = Duration::from_secs(1);

fn builder(clock: &ManualClock) -> EngineBuilder {
    Engine::builder().clock(Clock::Manual(clock.clone())).workers(1)
}

/// Occupies the engine's one worker until the returned sender sends (or is dropped).
fn block_the_worker(engine: &Engine) -> mpsc::Sender<()> {
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    engine
        .spawn(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
        })
        .unwrap();
    started.recv().unwrap();
    release
}

#[test]
fn a_later_deadline_skips_the_old_one_and_runs_once_at_the_new() {
    let clock = ManualClock::new();
    let engine = builder(&clock).build().unwrap();
    let (runs, task) = counter();
    let handle = engine.after(10 * SECOND, task).unwrap();
    handle.reschedule_after(60 * SECOND).unwrap();
    advance(&engine, &clock, 10 * SECOND);
    assert_eq!((runs.load(Ordering::SeqCst), handle.state()), (0, TaskState::Pending), "ran at the old deadline");
    advance(&engine, &clock, 49 * SECOND);
    assert_eq!(runs.load(Ordering::SeqCst), 0, "ran early");
    advance(&engine, &clock, SECOND);
    assert_eq!((runs.load(Ordering::SeqCst), handle.state()), (1, TaskState::Succeeded));
    advance(&engine, &clock, 3600 * SECOND);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "ran twice");
}

#[test]
fn an_earlier_deadline_or_a_past_instant_runs_it_sooner() {
    let clock = ManualClock::new();
    let engine = builder(&clock).build().unwrap();
    let (runs, task) = counter();
    let handle = engine.after(3600 * SECOND, task).unwrap();
    handle.reschedule_after(SECOND).unwrap();
    advance(&engine, &clock, SECOND);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let (runs, task) = counter();
    let handle = engine.after(3600 * SECOND, task).unwrap();
    handle.reschedule_at(clock.now() - SECOND).unwrap(); // already past: due at once
    engine.wait_idle().unwrap();
    assert_eq!((runs.load(Ordering::SeqCst), handle.state()), (1, TaskState::Succeeded));
    advance(&engine, &clock, 3600 * SECOND);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the old deadline ran it again");
}

#[test]
fn it_keeps_its_id_and_its_dedupe_key() {
    let clock = ManualClock::new();
    let engine = builder(&clock).build().unwrap();
    let handle = engine.task(|_| ()).after(10 * SECOND).key("order-42").submit().unwrap();
    handle.reschedule_after(300 * SECOND).unwrap();
    assert!(matches!(
        engine.task(|_| ()).key("order-42").submit(),
        Err(Error::DuplicateKey { existing, .. }) if existing == handle.id()
    ));
    assert_eq!(engine.get(handle.id()).unwrap().state(), TaskState::Pending);
    advance(&engine, &clock, 300 * SECOND);
    assert_eq!(handle.state(), TaskState::Succeeded);
    engine.task(|_| ()).key("order-42").submit().expect("the key is free once the task has ended");
}

#[test]
fn a_task_already_in_the_run_queue_is_not_started_by_its_old_dispatch() {
    let clock = ManualClock::new();
    let engine = builder(&clock).build().unwrap();
    let release = block_the_worker(&engine);
    let (runs, task) = counter();
    let handle = engine.spawn(task).unwrap(); // due now: queued behind the blocked worker
    handle.reschedule_after(3600 * SECOND).unwrap();
    release.send(()).unwrap();
    engine.wait_idle().unwrap();
    assert_eq!((runs.load(Ordering::SeqCst), handle.state()), (0, TaskState::Pending), "the stale dispatch ran it");
    advance(&engine, &clock, 3600 * SECOND);
    assert_eq!((runs.load(Ordering::SeqCst), handle.state()), (1, TaskState::Succeeded));
}

#[test]
fn a_task_waiting_for_its_groups_slot_is_not_started_when_the_slot_passes_to_it() {
    let clock = ManualClock::new();
    let engine = builder(&clock).workers(2).group("mail", 1).build().unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    engine
        .task(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
        })
        .group("mail")
        .submit()
        .unwrap();
    started.recv().unwrap();
    let (runs, task) = counter();
    let parked = engine.task(task).group("mail").submit().unwrap();
    let (after_runs, after) = counter();
    let next = engine.task(after).group("mail").submit().unwrap();
    // The second worker parks both in the group's queue behind the slot holder, now or soon: the reschedule finds
    // `parked`'s dispatch in the run queue or in the group's queue, and neither may start it.
    parked.reschedule_after(3600 * SECOND).unwrap();
    release.send(()).unwrap();
    next.wait().unwrap();
    engine.wait_idle().unwrap();
    assert_eq!(after_runs.load(Ordering::SeqCst), 1, "the slot passed on past the stale entry");
    assert_eq!((runs.load(Ordering::SeqCst), parked.state()), (0, TaskState::Pending));
    advance(&engine, &clock, 3600 * SECOND);
    assert_eq!((runs.load(Ordering::SeqCst), parked.state()), (1, TaskState::Succeeded));
}

#[test]
fn a_running_or_ended_task_is_refused_with_not_pending() {
    let clock = ManualClock::new();
    let engine = builder(&clock).build().unwrap();
    let (started_tx, started) = mpsc::channel();
    let (finish, gate) = mpsc::channel::<()>();
    let long = engine
        .spawn(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
        })
        .unwrap();
    started.recv().unwrap();
    assert!(matches!(long.reschedule_after(SECOND), Err(Error::NotPending(TaskState::Running))));
    finish.send(()).unwrap();
    assert_eq!(long.wait().unwrap(), TaskState::Succeeded);
    assert!(matches!(long.reschedule_after(SECOND), Err(Error::NotPending(TaskState::Succeeded))));
    let cancelled = engine.after(SECOND, |_| ()).unwrap();
    cancelled.cancel();
    let refused = cancelled.reschedule_after(SECOND).unwrap_err();
    assert!(matches!(refused, Error::NotPending(TaskState::Cancelled)));
    assert_eq!(refused.to_string(), "the task is cancelled: only a pending task can be rescheduled");
}

#[test]
fn a_time_beyond_the_clock_range_is_refused_and_changes_nothing() {
    let clock = ManualClock::new();
    let engine = builder(&clock).build().unwrap();
    let (runs, task) = counter();
    let handle = engine.after(SECOND, task).unwrap();
    assert!(matches!(handle.reschedule_after(MAX_DELAY + SECOND), Err(Error::InvalidArgument(_))));
    advance(&engine, &clock, SECOND);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the refused reschedule moved it");
}

#[test]
fn a_periodic_tasks_next_run_moves_and_the_runs_after_it_keep_the_schedule() {
    let clock = ManualClock::new();
    let engine = builder(&clock).build().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let beat = engine
        .periodic(10 * SECOND, move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .fixed_delay()
        .submit()
        .unwrap();
    beat.reschedule_after(25 * SECOND).unwrap();
    advance(&engine, &clock, 10 * SECOND);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    advance(&engine, &clock, 15 * SECOND); // t = 25 s: the moved run
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    advance(&engine, &clock, 10 * SECOND); // fixed delay: 10 s after it
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    beat.cancel();
}
