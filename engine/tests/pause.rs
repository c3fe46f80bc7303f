//! Pause and resume (issue 13) of one task, one concurrency group and the whole engine, on the manual clock.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use common::{advance, counter};
use taskwheel::{Clock, Engine, Error, ManualClock, Shutdown, TaskHandle, TaskState};

const SECOND: Duration = Duration::from_secs(1);

fn engine() -> (Engine, ManualClock) {
    let clock = ManualClock::new();
    let engine = Engine::builder().workers(2).group("mail", 1).clock(Clock::Manual(clock.clone())).build().unwrap();
    (engine, clock)
}

#[test]
fn a_paused_one_shot_whose_deadline_passed_runs_on_resume() {
    let (engine, clock) = engine();
    let (runs, task) = counter();
    let handle = engine.after(10 * SECOND, task).unwrap();
    handle.pause().unwrap();
    handle.pause().unwrap(); // twice: nothing more
    assert!(handle.is_paused());
    advance(&engine, &clock, 60 * SECOND);
    assert_eq!((runs.load(Ordering::SeqCst), handle.state()), (0, TaskState::Pending));
    handle.resume().unwrap();
    engine.wait_idle().unwrap();
    assert_eq!((runs.load(Ordering::SeqCst), handle.state()), (1, TaskState::Succeeded));
    assert!(matches!(handle.pause(), Err(Error::NotPending(TaskState::Succeeded))));
    assert!(matches!(handle.resume(), Err(Error::NotPending(TaskState::Succeeded))));
}

#[test]
fn a_task_paused_and_resumed_before_its_deadline_runs_at_its_deadline() {
    let (engine, clock) = engine();
    let (runs, task) = counter();
    let handle = engine.after(10 * SECOND, task).unwrap();
    handle.pause().unwrap();
    advance(&engine, &clock, 5 * SECOND);
    handle.resume().unwrap();
    advance(&engine, &clock, 5 * SECOND - Duration::from_millis(1));
    assert_eq!(runs.load(Ordering::SeqCst), 0, "ran early");
    advance(&engine, &clock, Duration::from_millis(1));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_paused_periodic_task_follows_its_misfire_policy_on_resume() {
    let (engine, clock) = engine();
    let (runs, task) = counter();
    let beat = engine.every(10 * SECOND, task).unwrap(); // fixed rate, one run for the missed ones
    advance(&engine, &clock, 10 * SECOND);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    beat.pause().unwrap();
    advance(&engine, &clock, 55 * SECOND); // t = 65 s: five runs missed
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    beat.resume().unwrap();
    engine.wait_idle().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "one run for the missed ones, not five");
    assert_eq!(engine.stats().missed_runs, 4);
    advance(&engine, &clock, 5 * SECOND); // t = 70 s: back on the grid
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    beat.cancel();
}

#[test]
fn a_paused_group_starts_none_of_its_tasks_until_resumed() {
    let (engine, _clock) = engine();
    engine.pause_group("mail").unwrap();
    let (runs, task) = counter();
    let mail = engine.task(task).group("mail").submit().unwrap();
    let (other_runs, other) = counter();
    engine.spawn(other).unwrap();
    engine.wait_idle().unwrap();
    assert_eq!((runs.load(Ordering::SeqCst), other_runs.load(Ordering::SeqCst)), (0, 1), "only the group waits");
    assert_eq!(mail.state(), TaskState::Pending);
    engine.resume_group("mail").unwrap();
    assert_eq!(mail.wait().unwrap(), TaskState::Succeeded);
    assert!(matches!(engine.pause_group("sms"), Err(Error::UnknownGroup(_))));
    assert!(matches!(engine.resume_group("sms"), Err(Error::UnknownGroup(_))));
}

#[test]
fn a_paused_engine_starts_nothing_until_resumed_and_runs_in_progress_go_on() {
    let (engine, clock) = engine();
    let (started_tx, started) = mpsc::channel();
    let (finish, gate) = mpsc::channel::<()>();
    let long = engine
        .spawn(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv();
        })
        .unwrap();
    started.recv().unwrap();
    engine.pause();
    let (runs, task) = counter();
    let now = engine.spawn(task).unwrap();
    let (later_runs, later) = counter();
    engine.after(SECOND, later).unwrap();
    finish.send(()).unwrap();
    assert_eq!(long.wait().unwrap(), TaskState::Succeeded, "the run in progress went on");
    advance(&engine, &clock, 2 * SECOND);
    assert_eq!((runs.load(Ordering::SeqCst), later_runs.load(Ordering::SeqCst)), (0, 0), "paused: nothing started");
    assert_eq!(now.state(), TaskState::Pending);
    engine.resume();
    engine.wait_idle().unwrap();
    assert_eq!((runs.load(Ordering::SeqCst), later_runs.load(Ordering::SeqCst)), (1, 1));
}

#[test]
fn a_shutdown_resumes_a_paused_engine_and_cancels_paused_tasks() {
    let (engine, _clock) = engine();
    let paused = engine.after(SECOND, |_| ()).unwrap();
    paused.pause().unwrap();
    engine.pause();
    let (runs, task) = counter();
    let held = engine.spawn(task).unwrap();
    engine.wait_idle().unwrap();
    let report = engine.shutdown(Shutdown::Drain { timeout: 60 * SECOND }).unwrap();
    assert_eq!(held.state(), TaskState::Succeeded, "the held task ran in the drain");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(paused.state(), TaskState::Cancelled, "a paused task cannot run: cancelled at once");
    assert_eq!((report.completed, report.cancelled), (1, 1));
}

/// Issue 23: pausing a periodic task while its run is in progress takes effect after that run, as a cancel does;
/// resuming brings its schedule back.
/// A task every 10 s whose first run, started here (at 10 s), blocks until the returned sender sends (at most
/// 60 s): the task, its run count and the release.
fn in_first_run(engine: &Engine, clock: &ManualClock) -> (TaskHandle, Arc<AtomicUsize>, mpsc::Sender<()>) {
    let (started_tx, started) = mpsc::channel();
    let (release, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let beat = engine
        .every(10 * SECOND, move |_| {
            let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
            if run == 1 {
                started_tx.send(()).unwrap();
                let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(60)); // bounded
            }
        })
        .unwrap();
    clock.advance(10 * SECOND);
    started.recv().unwrap();
    assert_eq!(beat.state(), TaskState::Running);
    (beat, runs, release)
}

#[test]
fn a_periodic_task_paused_during_its_run_pauses_after_that_run() {
    let (engine, clock) = engine();
    let (beat, runs, release) = in_first_run(&engine, &clock);
    beat.pause().unwrap(); // during the run: no NotPending(Running)
    assert!(beat.is_paused());
    release.send(()).unwrap();
    advance(&engine, &clock, 60 * SECOND);
    assert_eq!((runs.load(Ordering::SeqCst), beat.state()), (1, TaskState::Pending), "paused after its first run");
    beat.resume().unwrap();
    engine.wait_idle().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "its schedule comes back: one run for the missed ones");
    beat.cancel();
}

/// Issue 23, item 2: rescheduling a periodic task while its run is in progress moves the next run (no
/// `NotPending(Running)`), and the runs after it keep the schedule; a one-shot task's run still refuses.
#[test]
fn a_periodic_task_rescheduled_during_its_run_moves_its_next_run() {
    let (engine, clock) = engine();
    let (beat, runs, release) = in_first_run(&engine, &clock);
    let moved_to = engine.now() + 100 * SECOND;
    beat.reschedule_at(moved_to).unwrap(); // during the run
    release.send(()).unwrap();
    engine.wait_idle().unwrap();
    assert_eq!(beat.next_deadline(), Some(moved_to), "the next run moved, not the one in progress");
    advance(&engine, &clock, 60 * SECOND); // past the old next deadline (t = 20 s) and more
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the old next deadline starts nothing");
    advance(&engine, &clock, 40 * SECOND); // t = 110 s
    // The moved run, then the schedule as before: its occurrences from t = 30 s are past, and the default misfire
    // policy folds them into one run.
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    beat.cancel();

    let (started_tx, started) = mpsc::channel();
    let (release, gate) = mpsc::channel::<()>();
    let once = engine
        .spawn(move |_| {
            started_tx.send(()).unwrap();
            let _ = gate.recv_timeout(Duration::from_secs(60)); // bounded
        })
        .unwrap();
    started.recv().unwrap();
    assert!(matches!(once.reschedule_after(SECOND), Err(Error::NotPending(TaskState::Running))));
    release.send(()).unwrap();
    assert_eq!(once.wait().unwrap(), TaskState::Succeeded);
}
