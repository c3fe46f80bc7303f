//! A worker thread: takes due tasks from the run queues, highest priority first, and runs them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use crate::error::Error;
use crate::observe::logging::log_at;
use crate::run::dispatch::Unretired;
use crate::run::hooks::{HookSet, RunEnd, RunFinish, RunStart};
use crate::run::panics::QuietRun;
use crate::run::panics::panic_message;
use crate::run::queues::Work;
use crate::run::scope::WorkScope;
use crate::shared::Shared;
use crate::sync::Arc;
use crate::sync::atomic::Ordering;
use crate::task::cell::{RunOutcome, Task, TaskContext, TaskRef};
use crate::task::periodic::{Periodic, Start};
use crate::task::state::TaskState;

/// How many ended tasks a worker collects before it records their ends in the registry in one go (it also does so
/// whenever the run queues are empty, before it blocks, and before it exits). Until then they count as in flight,
/// so `wait_idle` returns only once they are recorded.
const RETIRE_BATCH: usize = 64;

/// The worker loop: runs until it takes a `Stop`.
pub(crate) fn run(shared: Arc<Shared>) {
    let mut ended = Unretired::with_capacity(RETIRE_BATCH);
    loop {
        let work = match shared.run.try_take() {
            Some(work) => work,
            None => {
                shared.retire_ended(&mut ended);
                shared.run.take()
            }
        };
        match work {
            Work::Run { task, has_slot, epoch, phase } => {
                if let Some(task) = run_deferring_retirement(&shared, task, has_slot, epoch, phase) {
                    ended.push(task, phase);
                    if ended.tasks.len() >= RETIRE_BATCH {
                        shared.retire_ended(&mut ended);
                    }
                }
            }
            Work::Stop => {
                shared.retire_ended(&mut ended);
                return;
            }
        }
    }
}

/// Takes one piece of work through its group slot, its run and all its bookkeeping.
#[cfg(test)]
pub(crate) fn run_one(shared: &Arc<Shared>, task: TaskRef, has_slot: bool, epoch: u32, phase: u8) {
    if let Some(task) = run_deferring_retirement(shared, task, has_slot, epoch, phase) {
        let mut ended = Unretired::with_capacity(1);
        ended.push(task, phase);
        shared.retire_ended(&mut ended);
    }
}

/// Takes one piece of work through its group slot, its run and its bookkeeping but for the registry's record of
/// the task's end: when this worker ended the task, the task comes back, still counted in flight, for
/// `Shared::retire_ended`.
fn run_deferring_retirement(
    shared: &Arc<Shared>,
    task: TaskRef,
    has_slot: bool,
    epoch: u32,
    phase: u8,
) -> Option<TaskRef> {
    // Everything below, the run and the closure drops included, is this engine's work on this task: blocking calls
    // that could never return from here refuse (see `current`).
    let _scope = WorkScope::enter(shared, &task);
    if shared.run.hold_if_paused(&task, has_slot, epoch, phase, shared.ends.changes()) {
        return None;
    }
    if let Some(group) = task.group() {
        if !has_slot && !shared.groups.acquire(group, &task, epoch) {
            // Parked in the group's queue, holding no worker. It is no longer in flight: the task holding the slot
            // is, and when it releases the slot it dispatches this one again (counted in flight anew).
            shared.run.finished_with(phase);
            shared.ends.notify();
            return None;
        }
    }
    let ended = task.lifecycle().start(epoch).is_ok() && execute(shared, &task);
    if let Some(group) = task.group() {
        if let Some((next, next_epoch)) = shared.groups.release(group) {
            shared.run.dispatch(next, true, next_epoch);
        }
    }
    if ended {
        // Its end is told at once (to blocked submitters, shutdown: capacity and the live count changed); it stays
        // in flight until `Shared::retire_ended` records it in the registry.
        shared.ends.notify();
        return Some(task);
    }
    shared.run.finished_with(phase);
    // One notification for everything above: a re-arm, a group's slot passed on, the work done.
    shared.ends.notify();
    None
}

/// Runs a task this worker has moved to `Running`, then moves it on: terminal, or back to `Pending` and re-armed.
/// Returns `true` when this worker ended the task (its bookkeeping done but for the registry's record).
fn execute(shared: &Arc<Shared>, task: &TaskRef) -> bool {
    let scheduled = task.deadline();
    let mut started = shared.time.now_ns();
    if scheduled > started.saturating_add(shared.time.handoff_ns()) {
        // Not due: a dispatch that raced a reschedule read the new epoch with the old deadline (the epoch moves
        // before the deadline is stored). Give the task back to the tick thread for its real deadline.
        return give_back(shared, task, started);
    }
    // A periodic task's due run stands for one of the occurrences that came due: its misfire policy says which,
    // or that none runs now.
    let mut occurrence = 0;
    if let Some(periodic) = task.periodic() {
        match periodic.at_start(periodic.occurrence(), shared.time.occurrence_now(periodic, started)) {
            Start::Run { occurrence: chosen, missed } => {
                shared.stats.missed_runs.add(missed, Ordering::Relaxed);
                if missed > 0 {
                    log_at!(debug, "task {}: {missed} missed occurrences, folded into this run", task.label());
                }
                periodic.set_occurrence(chosen);
                occurrence = chosen;
            }
            Start::Skip { missed, next } => {
                shared.stats.missed_runs.add(missed, Ordering::Relaxed);
                log_at!(debug, "task {}: {missed} missed occurrences skipped", task.label());
                return rearm(shared, task, periodic, next, started);
            }
            Start::Early => {
                // A cron task whose deadline was converted before the wall clock moved back: wait for its time.
                let deadline = shared.time.deadline_of_occurrence(periodic, periodic.occurrence(), started);
                task.set_deadline(deadline.saturating_add_signed(periodic.offset()));
                return give_back(shared, task, started);
            }
        }
    }
    shared.run.run_started();
    // Precise mode hands tasks over a little early; never start one before its instant.
    while started < scheduled {
        std::hint::spin_loop();
        started = shared.time.now_ns();
    }
    shared.stats.lateness.record(started.saturating_sub(scheduled));
    let run = task.start_run();
    if let Some(timeout) = task.timeout_ns() {
        shared.watch(task, run, started.saturating_add(timeout));
    }

    // A periodic run was scheduled for the occurrence it stands for (with its offset), not for the first one due.
    let scheduled_for = match task.periodic() {
        Some(periodic) => shared.time.instant_of_occurrence(periodic, occurrence, started),
        None => shared.time.instant_of(scheduled),
    };
    let ctx = TaskContext { task, run, scheduled_for };
    // A quiet engine's task panics are caught and reported, not printed (see `quiet`).
    let _quiet = (!shared.config.report_panics).then(QuietRun::enter);
    if let Some(hooks) = &shared.config.hooks {
        let start = RunStart {
            task_id: task.id,
            name: task.name().map(|name| name.as_str()),
            run,
            lateness: Duration::from_nanos(started.saturating_sub(scheduled)),
            priority: task.priority(),
        };
        if !hooks.call(|hooks| hooks.before_run(&start)) {
            shared.stats.hook_panics.add(1, Ordering::Relaxed);
            log_at!(error, "a before_run hook panicked (task {}, run {run})", task.label());
        }
    }
    let mut panicked = false;
    // SAFETY: this worker moved the task from Pending to Running: it owns the closure until it discards it or
    // moves the task back to Pending.
    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { task.run_job(&ctx) }))
        .unwrap_or_else(|payload| {
            panicked = true;
            Some(RunOutcome::Failed(panic_message(&*payload)))
        })
        // Unreachable by the ownership rules; fail the task rather than the worker if it ever happens.
        .unwrap_or_else(|| RunOutcome::Failed("the task's closure was missing".to_string()));
    // The run is over before anyone can see the task leave `Running`: a shutdown that sees the task ended never
    // reports it among the runs still in progress.
    shared.run.run_returned();
    // A run that outlasted its timeout ends as timed out whatever it returned — unless it was cancelled and says so.
    // Decided once, against the tick thread's timeout: whichever comes first decides, so the count of timed-out
    // runs, this outcome and its report agree.
    let timed_out = task.end_run(run);
    let outcome = match outcome {
        RunOutcome::Cancelled if task.cancel_requested() => RunOutcome::Cancelled,
        _ if timed_out => RunOutcome::Failed(String::new()),
        other => other,
    };
    if let Some(hooks) = &shared.config.hooks {
        after_run_hook(shared, hooks, task, run, started, &outcome, panicked, timed_out);
    }
    // Each `discard_job` below is safe for one reason: this worker still owns the closure. It has not moved the
    // task back to Pending, and a canceller that moves a task out of Running leaves the closure to the worker.
    let failed = match outcome {
        RunOutcome::Done | RunOutcome::Exit(0) => {
            if let RunOutcome::Exit(code) = outcome {
                task.set_report(None, Some(code), false);
            } else if task.timeout_ns().is_some() {
                task.clear_timed_out(); // this run ended in time: the last run is no longer a timed-out one
            }
            false
        }
        RunOutcome::Cancelled => {
            // The task ends cancelled, one-shot or periodic. If a canceller got there first (a periodic task
            // cancelled during its run), it did the bookkeeping; either way the closure is ours to drop.
            // SAFETY: this worker owns the closure (see above).
            unsafe { task.discard_job() };
            if task.lifecycle().transition(TaskState::Running, TaskState::Cancelled).is_ok() {
                task.request_cancel();
                shared.finish_unretired(task, TaskState::Cancelled);
                return true;
            }
            return false;
        }
        RunOutcome::Failed(message) => {
            let message = match (timed_out, task.timeout_ns()) {
                (true, Some(timeout)) => format!("timed out after {:?}", Duration::from_nanos(timeout)),
                _ => message,
            };
            record_failure(shared, task, message, None, timed_out);
            true
        }
        RunOutcome::Exit(code) => {
            record_failure(shared, task, format!("returned {code}"), Some(code), false);
            true
        }
    };

    let Some(periodic) = task.periodic() else {
        if failed && retry_later(shared, task, run, panicked) {
            return false;
        }
        // SAFETY: this worker owns the closure (see above).
        unsafe { task.discard_job() };
        let end = if failed { TaskState::Failed } else { TaskState::Succeeded };
        if task.lifecycle().transition(TaskState::Running, end).is_ok() {
            shared.finish_unretired(task, end);
            return true;
        }
        return false;
    };
    let finished = shared.time.now_ns();
    if failed && periodic.stop_on_failure {
        return end(shared, task, TaskState::Failed);
    }
    // The next occurrence follows the one this run stood for, never the run's end (but for fixed delay).
    rearm(shared, task, periodic, periodic.following(occurrence, finished), finished)
}

/// Tells the hooks how run `run` of `task`, started at `started`, ended.
#[allow(clippy::too_many_arguments)]
fn after_run_hook(
    shared: &Shared,
    hooks: &HookSet,
    task: &Task,
    run: u64,
    started: u64,
    outcome: &RunOutcome,
    panicked: bool,
    timed_out: bool,
) {
    let end = match outcome {
        RunOutcome::Done | RunOutcome::Exit(0) => RunEnd::Succeeded,
        RunOutcome::Cancelled => RunEnd::Cancelled,
        _ if timed_out => RunEnd::TimedOut,
        RunOutcome::Failed(message) if panicked => RunEnd::Panicked(message),
        RunOutcome::Failed(message) => RunEnd::Failed(message),
        RunOutcome::Exit(_) => RunEnd::Failed("a non-zero return code"),
    };
    let code = match outcome {
        RunOutcome::Exit(code) => Some(*code),
        _ => None,
    };
    let duration = Duration::from_nanos(shared.time.now_ns().saturating_sub(started));
    let finish = RunFinish { task_id: task.id, name: task.name().map(|name| name.as_str()), run, duration, end, code };
    if !hooks.call(|hooks| hooks.after_run(&finish)) {
        shared.stats.hook_panics.add(1, Ordering::Relaxed);
        log_at!(error, "an after_run hook panicked (task {}, run {run})", task.label());
    }
}

/// Gives a task this worker moved to `Running` back to the tick thread, unrun, for its deadline.
fn give_back(shared: &Arc<Shared>, task: &TaskRef, now: u64) -> bool {
    if task.lifecycle().transition(TaskState::Running, TaskState::Pending).is_ok() {
        shared.schedule(task.clone(), now);
    } else {
        // A periodic task cancelled meanwhile: the canceller did the bookkeeping; the closure is ours to drop.
        // SAFETY: this worker moved the task to Running and has not given it back: it owns the closure.
        unsafe { task.discard_job() };
    }
    false
}

/// Schedules the run of a periodic task (held `Running` by this worker) for occurrence `next`, its deadline the
/// occurrence on the engine's clock plus the run's jitter; or ends the task when its schedule is over (run limit,
/// end time, no further occurrence: succeeded) or broken (a cron search that did not advance: failed). Returns
/// `true` when this worker ended the task.
fn rearm(
    shared: &Arc<Shared>,
    task: &TaskRef,
    periodic: &Periodic,
    next: Result<Option<u64>, Error>,
    now: u64,
) -> bool {
    let runs = task.runs();
    let next = match next {
        Ok(next) => next,
        Err(error) => {
            task.set_report(Some(error.to_string()), None, false);
            return end(shared, task, TaskState::Failed);
        }
    };
    let Some(occurrence) = next else { return end(shared, task, TaskState::Succeeded) };
    let deadline = shared.time.deadline_of_occurrence(periodic, occurrence, now);
    if !periodic.allows(runs, deadline) {
        return end(shared, task, TaskState::Succeeded);
    }
    let jitter = periodic.jitter_of(runs + 1, task.id, shared.config.seed);
    periodic.set_occurrence(occurrence);
    // A reschedule made during the run moves this next run (the occurrence it stands for stays: the move goes into
    // its offset, as for a reschedule of a pending task).
    let (offset, deadline) = match periodic.take_requested() {
        Some(requested) => {
            ((i128::from(requested) - i128::from(deadline)).clamp(i64::MIN.into(), i64::MAX.into()) as i64, requested)
        }
        None => (jitter as i64, deadline.saturating_add(jitter)),
    };
    periodic.set_offset(offset);
    task.set_deadline(deadline);
    // The closure stays in place: whoever next moves the task out of Pending finds it.
    give_back(shared, task, now);
    // A reschedule that came while the task was going back to Pending left its request after the take above and
    // found the task still running: it is this worker's to apply.
    if let Some(requested) = periodic.take_requested() {
        let _ = shared.reschedule(task, requested); // refused only if the task was cancelled meanwhile
    }
    false
}

/// Ends a task this worker holds `Running` in `state`, dropping its closure. Returns `true` when this worker ended
/// it (a canceller may have got there first and done the bookkeeping).
fn end(shared: &Arc<Shared>, task: &TaskRef, state: TaskState) -> bool {
    // SAFETY: this worker moved the task to Running and has not given it back: it owns the closure.
    unsafe { task.discard_job() };
    if task.lifecycle().transition(TaskState::Running, state).is_ok() {
        shared.finish_unretired(task, state);
        return true;
    }
    false
}

/// Sends a failed one-shot task back for another attempt when its retry policy says so (never once it was asked
/// to stop): `true` when it is pending again, its closure kept for the next attempt.
fn retry_later(shared: &Arc<Shared>, task: &TaskRef, attempt: u64, panicked: bool) -> bool {
    let Some(retry) = task.retry() else { return false };
    if !retry.retries(attempt, panicked) || task.cancel_requested() {
        return false;
    }
    let finished = shared.time.now_ns();
    let next = finished.saturating_add(retry.delay_ns(attempt, task.id, shared.config.seed));
    task.set_deadline(next);
    if task.lifecycle().transition(TaskState::Running, TaskState::Pending).is_err() {
        return false;
    }
    shared.stats.retries.add(1, Ordering::Relaxed);
    shared.schedule(task.clone(), finished);
    true
}

/// Counts a failed run and keeps what it reported.
fn record_failure(shared: &Shared, task: &Task, message: String, code: Option<i32>, timed_out: bool) {
    if message.starts_with("panicked") {
        log_at!(warn, "task {} run {}: {message}", task.label(), task.runs());
    } else {
        log_at!(debug, "task {} run {} failed: {message}", task.label(), task.runs());
    }
    task.count_failed_run();
    shared.stats.failed_runs.add(1, Ordering::Relaxed);
    if task.name().is_some() {
        shared.stats.last_named_failure.swap(task.id, Ordering::Relaxed); // the metrics' exemplar
    }
    task.set_report(Some(message), code, timed_out);
}
