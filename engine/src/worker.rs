//! A worker thread: takes due tasks from the run queues, highest priority first, and runs them.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::current::WorkScope;
use crate::lifecycle::TaskState;
use crate::queues::Work;
use crate::shared::{Shared, drop_quietly};
use crate::sync::Arc;
use crate::sync::atomic::Ordering;
use crate::task::{RunOutcome, Task, TaskContext};

/// The worker loop: runs until it takes a `Stop`.
pub(crate) fn run(shared: Arc<Shared>) {
    loop {
        match shared.queues.pop() {
            Work::Run { task, has_slot } => run_one(&shared, task, has_slot),
            Work::Stop => return,
        }
    }
}

/// Takes one piece of work through its group slot, its run and its bookkeeping.
pub(crate) fn run_one(shared: &Arc<Shared>, task: Arc<Task>, has_slot: bool) {
    // Everything below, the run and the closure drops included, is this engine's work on this task: blocking calls
    // that could never return from here refuse (see `current`).
    let _scope = WorkScope::enter(shared, &task);
    if let Some(group) = task.group {
        if !has_slot && !shared.groups.acquire(group, &task) {
            // Parked in the group's queue, holding no worker. It is no longer in flight: the task holding the slot
            // is, and when it releases the slot it dispatches this one again (counted in flight anew).
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            shared.changes.notify_all();
            return;
        }
    }
    if task.state.transition(TaskState::Pending, TaskState::Running).is_ok() {
        execute(shared, &task);
    }
    if let Some(group) = task.group {
        if let Some(next) = shared.groups.release(group) {
            shared.dispatch(next, true);
        }
    }
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    // One notification for everything above: the task's end (`finish_unnotified`) and the work done.
    shared.changes.notify_all();
}

/// Runs a task this worker has moved to `Running`, then moves it on: terminal, or back to `Pending` and re-armed.
fn execute(shared: &Arc<Shared>, task: &Arc<Task>) {
    shared.running.fetch_add(1, Ordering::SeqCst);
    let scheduled = task.deadline();
    // Precise mode hands tasks over a little early; never start one before its instant.
    let mut started = shared.now_ns();
    while started < scheduled {
        std::hint::spin_loop();
        started = shared.now_ns();
    }
    shared.stats.lateness.record(started.saturating_sub(scheduled));
    let run = task.runs.fetch_add(1, Ordering::SeqCst) + 1;

    let Some(mut job) = task.take_job() else {
        // Unreachable by the ownership rules; fail the task rather than the worker if it ever happens.
        shared.running.fetch_sub(1, Ordering::SeqCst);
        if task.state.transition(TaskState::Running, TaskState::Failed).is_ok() {
            task.set_failure("the task's closure was missing".to_string());
            shared.finish_unnotified(task, TaskState::Failed);
        }
        return;
    };
    let ctx = TaskContext { task, run, scheduled_for: shared.instant_of(scheduled) };
    let outcome = catch_unwind(AssertUnwindSafe(|| job(&ctx)))
        .unwrap_or_else(|payload| RunOutcome::Failed(panic_message(&*payload)));
    // The run is over before anyone can see the task leave `Running`: a shutdown that sees the task ended never
    // reports it among the runs still in progress.
    shared.running.fetch_sub(1, Ordering::SeqCst);
    let failed = match outcome {
        RunOutcome::Done => false,
        RunOutcome::Cancelled => {
            // The task ends cancelled, one-shot or periodic. If a canceller got there first (a periodic task
            // cancelled during its run), it did the bookkeeping; either way the closure is ours to drop.
            drop_quietly(job);
            if task.state.transition(TaskState::Running, TaskState::Cancelled).is_ok() {
                task.cancel_requested.store(true, Ordering::SeqCst);
                shared.finish_unnotified(task, TaskState::Cancelled);
            }
            return;
        }
        RunOutcome::Failed(message) => {
            task.failed_runs.fetch_add(1, Ordering::SeqCst);
            shared.stats.failed_runs.fetch_add(1, Ordering::Relaxed);
            task.set_failure(message);
            true
        }
    };

    let Some(periodic) = &task.periodic else {
        drop_quietly(job);
        let end = if failed { TaskState::Failed } else { TaskState::Succeeded };
        if task.state.transition(TaskState::Running, end).is_ok() {
            shared.finish_unnotified(task, end);
        }
        return;
    };
    let finished = shared.now_ns();
    let next = if failed && periodic.stop_on_failure { None } else { periodic.next_deadline(run, scheduled, finished) };
    match next {
        Some(next) => {
            task.deadline.store(next, Ordering::SeqCst);
            // The closure goes back before the state does: whoever next moves the task out of Pending finds it.
            task.put_job(job);
            if task.state.transition(TaskState::Running, TaskState::Pending).is_ok() {
                shared.schedule(task.clone(), finished);
            } else {
                // Cancelled during the run; the canceller did the bookkeeping, the closure is ours to drop.
                drop_quietly(task.take_job());
            }
        }
        None => {
            drop_quietly(job);
            let end = if failed && periodic.stop_on_failure { TaskState::Failed } else { TaskState::Succeeded };
            if task.state.transition(TaskState::Running, end).is_ok() {
                shared.finish_unnotified(task, end);
            }
        }
    }
}

/// The message of a panic payload: its text when it is a string, a placeholder otherwise.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        format!("panicked: {message}")
    } else if let Some(message) = payload.downcast_ref::<String>() {
        format!("panicked: {message}")
    } else {
        "panicked with a non-string payload".to_string()
    }
}
