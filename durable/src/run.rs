//! A run of a claimed task on one of the node's workers: started only under a lease the node can show it holds,
//! the handler called, its outcome (success, retry, failure, death, cancellation) decided for the finisher.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use taskwheel::{RunOutcome, TaskContext};

use crate::context::{DurableContext, Handler};
use crate::outcome::{Finished, Outcome};
use crate::protocol::claim::Claimed;
use crate::shared::NodeShared;
use crate::spec::{decode_retry, from_micros, micros_of};

/// How long a run due while its claim is still a reserve waits for the heartbeat to promote it (it asks at once; the
/// heartbeat promotes ahead of time, so this is waited only when it fell behind, or cannot reach Redis).
const PROMOTION_WAIT: Duration = Duration::from_secs(2);

/// Whether this node may start `task` now: only while it can show that its whole lease holds. A node that was
/// frozen (SIGSTOP, a VM paused) or cut off past its lease may have lost the task to another node, which may be
/// running it now; a task claimed ahead under the reserve lease is promoted first (a reserve is given back soon
/// after its node dies, so a run must never start under one). A task it may not start is forgotten: its lease
/// expires and a recovery hands it on.
fn may_start(shared: &NodeShared, task: &Claimed) -> bool {
    let asked = Instant::now();
    loop {
        let now = Instant::now();
        {
            let mut held = shared.held.lock();
            let Some(ours) = held.get(&task.id).filter(|h| h.token == task.token) else { return false };
            if now < ours.valid_until && ours.full {
                return true;
            }
            if now >= ours.valid_until || now >= asked + PROMOTION_WAIT {
                held.remove(&task.id);
                return false;
            }
        }
        let _ = shared.promote_now.0.try_send(());
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One run of a claimed task: the handler, then its outcome for the finisher.
pub(crate) fn run_one(shared: &NodeShared, task: &Claimed, handler: &Handler, run: &TaskContext<'_>) -> RunOutcome {
    if !may_start(shared, task) {
        NodeShared::count(&shared.counters.lost_leases, 1);
        return RunOutcome::Cancelled; // recorded by nobody: the lease expires and a recovery hands it on
    }
    let started = Instant::now();
    shared.start_lateness.record(Duration::from_micros(shared.server_now_us().saturating_sub(task.due_us)));
    let ctx = DurableContext {
        id: task.id,
        token: task.token,
        failures: task.failures,
        recoveries: task.recoveries,
        due: from_micros(task.due_us),
        schedule: (!task.schedule.is_empty()).then_some(task.schedule.as_str()),
        run,
    };
    shared.counters.running.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let result = catch_unwind(AssertUnwindSafe(|| handler(&ctx, &task.payload)));
    shared.counters.running.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    // Outlasted its timeout: by this clock, or by the engine's, which set the run's flag at the timeout (the only
    // other setters are a cancellation request, which the finish script turns into `Cancelled` anyway, and a lost
    // lease, whose completion is refused).
    let timed_out = task.timeout.filter(|&timeout| started.elapsed() >= timeout || run.is_cancelled());
    let failure = match (&result, timed_out) {
        (_, Some(timeout)) => Some((format!("timed out after {timeout:?}"), false)),
        (Ok(RunOutcome::Done | RunOutcome::Exit(0)), None) => None,
        (Ok(RunOutcome::Cancelled), None) => None,
        (Ok(RunOutcome::Failed(why)), None) => Some((why.clone(), false)),
        (Ok(RunOutcome::Exit(code)), None) => Some((format!("exit code {code}"), false)),
        (Ok(other), None) => Some((format!("{other:?}"), false)),
        (Err(panic), None) => Some((taskwheel::panic_message(panic.as_ref()), true)),
    };
    let counters = &shared.counters;
    let (outcome, error) = match failure {
        None if matches!(result, Ok(RunOutcome::Cancelled)) => {
            NodeShared::count(&counters.cancelled, 1);
            (Outcome::Cancelled, "cancelled".to_string())
        }
        None => {
            NodeShared::count(&counters.succeeded, 1);
            (Outcome::Succeeded, String::new())
        }
        Some((why, panicked)) => {
            let attempt = task.failures + 1;
            let retry = decode_retry(&task.retry);
            match retry {
                Some(retry) if retry.retries_after(attempt, panicked) => {
                    NodeShared::count(&counters.retried, 1);
                    let delay = retry.delay_after(attempt, task.id, shared.config.seed);
                    (Outcome::Retry { delay_us: micros_of(delay) }, why)
                }
                Some(retry) if retry.max_attempts() > 1 => {
                    NodeShared::count(&counters.failed, 1);
                    (Outcome::Dead, why)
                }
                _ => {
                    NodeShared::count(&counters.failed, 1);
                    (Outcome::Failed, why)
                }
            }
        }
    };
    NodeShared::count(&counters.runs, 1);
    NodeShared::average(&shared.run_us, u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
    if let Some(held) = shared.held.lock().get_mut(&task.id)
        && held.token == task.token
    {
        held.ended = true; // its worker is free: a claimer waiting for one claims again now
    }
    let _ = shared.worker_freed.0.try_send(());
    let _ = shared.finished.send(Finished { id: task.id, token: task.token, outcome, error });
    RunOutcome::Done
}
