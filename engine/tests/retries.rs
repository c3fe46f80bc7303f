//! Retries with exponential backoff and full jitter (issue 13), on the manual clock: deterministic.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::advance;
use taskwheel::{Clock, Engine, Error, ManualClock, Retry, RunOutcome, TaskState};

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

fn engine(seed: u64) -> (Engine, ManualClock) {
    let clock = ManualClock::new();
    let engine = Engine::builder().workers(1).seed(seed).clock(Clock::Manual(clock.clone())).build().unwrap();
    (engine, clock)
}

/// A closure that fails its first `failures` attempts, counting attempts.
fn failing(failures: usize) -> (Arc<AtomicUsize>, impl FnMut(&taskwheel::TaskContext<'_>) -> Result<(), String>) {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    (attempts, move |ctx| {
        let attempt = counted.fetch_add(1, Ordering::SeqCst) + 1;
        assert_eq!(ctx.run(), attempt as u64, "the context counts attempts");
        if attempt <= failures { Err(format!("attempt {attempt} failed")) } else { Ok(()) }
    })
}

#[test]
fn each_retry_waits_its_backoff_exactly_without_jitter() {
    let (engine, clock) = engine(1);
    let policy = Retry::new(4).backoff(SECOND, 3, 60 * SECOND).no_jitter();
    let (attempts, job) = failing(3);
    let handle = engine.retrying(policy, job).submit().unwrap();
    engine.wait_idle().unwrap();
    // Backoffs 1 s, 3 s, 9 s: each attempt runs exactly then, not a millisecond before.
    for (backoff, attempt) in [(SECOND, 2), (3 * SECOND, 3), (9 * SECOND, 4)] {
        advance(&engine, &clock, backoff - MS);
        assert_eq!(attempts.load(Ordering::SeqCst), attempt - 1, "attempt {attempt} ran early");
        assert_eq!(handle.state(), TaskState::Pending, "waiting between attempts");
        advance(&engine, &clock, MS);
        assert_eq!(attempts.load(Ordering::SeqCst), attempt);
    }
    assert_eq!(handle.wait().unwrap(), TaskState::Succeeded);
    assert_eq!((handle.runs(), handle.failed_runs()), (4, 3));
    let stats = engine.stats();
    assert_eq!((stats.retries, stats.succeeded, stats.failed, stats.failed_runs), (3, 1, 0, 3));
}

#[test]
fn it_gives_up_after_its_last_attempt_with_the_last_failure() {
    let (engine, clock) = engine(1);
    let (attempts, job) = failing(usize::MAX);
    let handle = engine.retrying(Retry::new(3).backoff(SECOND, 2, SECOND).no_jitter(), job).submit().unwrap();
    engine.wait_idle().unwrap();
    for _ in 0..5 {
        advance(&engine, &clock, SECOND);
    }
    assert_eq!(handle.state(), TaskState::Failed);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(handle.failure().as_deref(), Some("attempt 3 failed"));
    assert_eq!(engine.stats().retries, 2);
}

#[test]
fn panics_are_retried_unless_the_policy_says_not() {
    let (engine, clock) = engine(1);
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let retried = engine
        .retrying(Retry::new(2).backoff(SECOND, 1, SECOND).no_jitter(), move |_| {
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first attempt panics");
            }
        })
        .submit()
        .unwrap();
    engine.wait_idle().unwrap(); // the first attempt, at t = 0
    advance(&engine, &clock, SECOND);
    assert_eq!((retried.state(), runs.load(Ordering::SeqCst)), (TaskState::Succeeded, 2));

    let not_retried = engine
        .retrying(Retry::new(5).on_panic(false), |_| -> Result<(), String> { panic!("no retry") })
        .submit()
        .unwrap();
    advance(&engine, &clock, 60 * SECOND);
    assert_eq!((not_retried.state(), not_retried.runs()), (TaskState::Failed, 1));

    // Panics only (a crash-only policy): an error ends the task at once; a panic is tried again.
    let panics_only = Retry::new(5).backoff(SECOND, 1, SECOND).no_jitter().on_error(false);
    let error = engine.retrying(panics_only, |_| -> Result<(), String> { Err("bad input".into()) }).submit().unwrap();
    let crash = engine
        .retrying(panics_only, |ctx| -> Result<(), String> {
            if ctx.run() == 1 {
                panic!("crashed");
            }
            Ok(())
        })
        .submit()
        .unwrap();
    engine.wait_idle().unwrap();
    advance(&engine, &clock, SECOND);
    assert_eq!((error.state(), error.runs()), (TaskState::Failed, 1));
    assert_eq!((crash.state(), crash.runs()), (TaskState::Succeeded, 2));
}

#[test]
fn a_cancelled_task_is_never_retried() {
    let (engine, clock) = engine(1);
    // Cancelled between attempts: it never runs again.
    let (attempts, job) = failing(usize::MAX);
    let handle = engine.retrying(Retry::new(10).backoff(SECOND, 1, SECOND).no_jitter(), job).submit().unwrap();
    engine.wait_idle().unwrap();
    handle.cancel();
    advance(&engine, &clock, 30 * SECOND);
    assert_eq!((handle.state(), attempts.load(Ordering::SeqCst)), (TaskState::Cancelled, 1));

    // A run that ends as cancelled is not a failure to retry.
    let stops = engine.retrying(Retry::new(10), |_| RunOutcome::Cancelled).submit().unwrap();
    advance(&engine, &clock, 60 * SECOND);
    assert_eq!((stops.state(), stops.runs()), (TaskState::Cancelled, 1));

    // A run that fails after its cancellation was signalled is not retried either.
    let (started_tx, started) = mpsc::channel();
    let (go, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let signalled = engine
        .retrying(Retry::new(10).no_jitter(), move |ctx| {
            let _ = started_tx.send(());
            let _ = gate.lock().unwrap().recv();
            if ctx.is_cancelled() { Err("stopped half way") } else { Ok(()) }
        })
        .submit()
        .unwrap();
    started.recv().unwrap();
    signalled.cancel();
    go.send(()).unwrap();
    assert_eq!(signalled.wait().unwrap(), TaskState::Failed);
    advance(&engine, &clock, 120 * SECOND);
    assert_eq!(signalled.runs(), 1);
}

/// When (after the engine's start) the second attempt of a task that fails once was due, under `seed`.
fn second_attempt_due(seed: u64) -> Duration {
    let (engine, clock) = engine(seed);
    let start = clock.now();
    let due = Arc::new(Mutex::new(None::<Instant>));
    let seen = due.clone();
    let handle = engine
        .retrying(Retry::new(2).backoff(10 * SECOND, 2, 60 * SECOND), move |ctx| {
            if ctx.run() == 1 {
                return Err("fails once");
            }
            *seen.lock().unwrap() = Some(ctx.scheduled_for());
            Ok(())
        })
        .submit()
        .unwrap();
    engine.wait_idle().unwrap();
    advance(&engine, &clock, 10 * SECOND); // the longest the jittered wait can be
    assert_eq!(handle.wait().unwrap(), TaskState::Succeeded);
    let due = due.lock().unwrap().expect("the second attempt ran");
    due - start
}

#[test]
fn full_jitter_draws_within_the_backoff_and_one_seed_draws_the_same() {
    let first = second_attempt_due(42);
    assert!(first <= 10 * SECOND, "{first:?}");
    assert_eq!(second_attempt_due(42), first, "the same seed gave another wait");
    let spread: std::collections::HashSet<Duration> = (0..20).map(second_attempt_due).collect();
    assert!(spread.len() > 15, "seeds spread the waits: {}", spread.len());
}

#[test]
fn impossible_policies_are_typed_errors() {
    let (engine, _clock) = engine(1);
    for policy in
        [Retry::new(0), Retry::new(2).backoff(SECOND, 0, SECOND), Retry::new(2).backoff(2 * SECOND, 2, SECOND)]
    {
        assert!(matches!(engine.retrying(policy, |_| ()).submit(), Err(Error::InvalidArgument(_))), "{policy:?}");
    }
}
