//! Per-run timeouts (issue 13), on the manual clock. A run that outlasts its timeout sees its cancellation flag
//! and ends as timed out when it returns; one that ignores the flag keeps its worker and its group's slot until it
//! returns, and is counted as soon as its timeout passes. Every wait below is for an event, bounded, never timed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use taskwheel::{Clock, Engine, Error, ManualClock, Retry, TaskState};

const SECOND: Duration = Duration::from_secs(1);

fn engine(workers: usize) -> (Engine, ManualClock) {
    let clock = ManualClock::new();
    let engine =
        Engine::builder().workers(workers).group("mail", 1).seed(1).clock(Clock::Manual(clock.clone())).build();
    (engine.unwrap(), clock)
}

/// Waits (bounded: at most a minute of polling) until `done()`.
fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..60_000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("never happened: {what}");
}

#[test]
fn a_run_that_honours_its_timeout_ends_as_timed_out() {
    let (engine, clock) = engine(1);
    let (started_tx, started) = mpsc::channel();
    let handle = engine
        .task(move |ctx| {
            started_tx.send(()).unwrap();
            // A cooperative job: works until told to stop (bounded for the test's sake).
            for _ in 0..60_000 {
                if ctx.is_cancelled() {
                    return Ok(()); // returns "fine": a timed-out run is timed out whatever it returns
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err("never told to stop")
        })
        .timeout(5 * SECOND)
        .submit()
        .unwrap();
    started.recv().unwrap();
    clock.advance(4 * SECOND);
    clock.advance(SECOND);
    assert_eq!(handle.wait().unwrap(), TaskState::Failed);
    assert!(handle.timed_out());
    assert_eq!(handle.failure().as_deref(), Some("timed out after 5s"));
    let stats = engine.stats();
    assert_eq!((stats.timed_out_runs, stats.failed), (1, 1));
}

#[test]
fn a_run_that_ignores_its_timeout_keeps_its_worker_and_slot_and_is_counted_at_once() {
    let (engine, clock) = engine(2);
    let (started_tx, started) = mpsc::channel();
    let (release, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let stubborn = engine
        .task(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.lock().unwrap().recv(); // ignores its flag
        })
        .group("mail")
        .timeout(SECOND)
        .submit()
        .unwrap();
    started.recv().unwrap();
    let next_ran = Arc::new(AtomicUsize::new(0));
    let counted = next_ran.clone();
    let next = engine
        .task(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .group("mail")
        .submit()
        .unwrap();
    clock.advance(2 * SECOND);
    eventually("the timeout is counted", || engine.stats().timed_out_runs == 1);
    assert_eq!(stubborn.state(), TaskState::Running, "a closure cannot be stopped from outside");
    assert!(stubborn.timed_out(), "the run in progress outlasted its timeout: it will end as timed out");
    assert_eq!(next_ran.load(Ordering::SeqCst), 0, "the group's slot is still held");
    release.send(()).unwrap();
    assert_eq!(stubborn.wait().unwrap(), TaskState::Failed);
    assert!(stubborn.timed_out());
    assert_eq!(next.wait().unwrap(), TaskState::Succeeded);
}

#[test]
fn a_timed_out_run_is_retried_and_the_next_attempt_has_its_own_timeout() {
    let (engine, clock) = engine(1);
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let (started_tx, started) = mpsc::channel();
    let started_tx = Mutex::new(started_tx);
    let handle = engine
        .retrying(Retry::new(2).backoff(SECOND, 1, SECOND).no_jitter(), move |ctx| {
            let attempt = counted.fetch_add(1, Ordering::SeqCst) + 1;
            started_tx.lock().unwrap().send(attempt).unwrap();
            if attempt == 1 {
                // The first attempt hangs until its timeout tells it to stop.
                for _ in 0..60_000 {
                    if ctx.is_cancelled() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            assert_eq!(ctx.is_cancelled(), attempt == 1, "the flag belongs to the run that timed out");
        })
        .timeout(3 * SECOND)
        .submit()
        .unwrap();
    assert_eq!(started.recv().unwrap(), 1);
    clock.advance(3 * SECOND); // attempt 1 times out; attempt 2 is due 1 s after it returns
    eventually("attempt 1 ended", || handle.state() == TaskState::Pending && handle.runs() == 1);
    clock.advance(SECOND);
    assert_eq!(started.recv().unwrap(), 2);
    assert_eq!(handle.wait().unwrap(), TaskState::Succeeded);
    assert!(!handle.timed_out(), "the last run did not time out");
    assert_eq!((engine.stats().timed_out_runs, engine.stats().retries), (1, 1));
}

#[test]
fn a_cancelled_run_that_says_so_ends_cancelled_not_timed_out() {
    let (engine, _clock) = engine(1);
    let (started_tx, started) = mpsc::channel();
    let handle = engine
        .task(move |ctx| {
            started_tx.send(()).unwrap();
            for _ in 0..60_000 {
                if ctx.is_cancelled() {
                    return taskwheel::RunOutcome::Cancelled;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            taskwheel::RunOutcome::Done
        })
        .timeout(3600 * SECOND)
        .submit()
        .unwrap();
    started.recv().unwrap();
    handle.cancel();
    assert_eq!(handle.wait().unwrap(), TaskState::Cancelled);
    assert!(!handle.timed_out());
}

#[test]
fn a_zero_or_too_long_timeout_is_refused() {
    let (engine, _clock) = engine(1);
    assert!(matches!(engine.task(|_| ()).timeout(Duration::ZERO).submit(), Err(Error::InvalidArgument(_))));
    let too_long = taskwheel::MAX_DELAY + SECOND;
    assert!(matches!(engine.task(|_| ()).timeout(too_long).submit(), Err(Error::InvalidArgument(_))));
}

#[test]
fn a_run_that_ends_in_time_is_not_timed_out_and_its_watch_is_forgotten() {
    let (engine, clock) = engine(1);
    let handle = engine.task(|_| ()).timeout(SECOND).submit().unwrap();
    assert_eq!(handle.wait().unwrap(), TaskState::Succeeded);
    clock.advance(10 * SECOND);
    engine.wait_idle().unwrap();
    assert!(!handle.timed_out());
    assert_eq!(engine.stats().timed_out_runs, 0);
}

#[test]
fn a_typed_result_past_its_timeout_joins_as_timed_out() {
    let (engine, clock) = engine(1);
    let (started_tx, started) = mpsc::channel();
    let job = engine
        .task_with_result(move |ctx| {
            started_tx.send(()).unwrap();
            for _ in 0..60_000 {
                if ctx.is_cancelled() {
                    return Ok::<u32, String>(7); // a value after the timeout: dropped
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err("never told to stop".to_string())
        })
        .timeout(SECOND)
        .submit()
        .unwrap();
    started.recv().unwrap();
    let task = job.task().clone();
    clock.advance(2 * SECOND);
    let error = job.join().unwrap_err();
    assert!(matches!(error, taskwheel::JoinError::TimedOut), "{error:?}");
    assert_eq!(error.to_string(), "the task timed out");
    assert_eq!((task.state(), task.timed_out()), (TaskState::Failed, true));
    // In time, the value comes back.
    let quick = engine.task_with_result(|_| Ok::<u32, String>(3)).timeout(SECOND).submit().unwrap();
    assert_eq!(quick.join().unwrap(), 3);
}
