//! Concurrency models: the places where threads meet, each checked against the invariant it is named after.
//!
//! Each model runs through [`model`]: under `RUSTFLAGS="--cfg loom"` loom explores every interleaving (within
//! its preemption bound); in a normal build the body runs once on real threads. The models drive the engine's
//! own code (its `Shared` state, worker step and tick thread) without the thread pool, so each one keeps to the
//! two or three threads whose meeting it checks. `engine/INVARIANTS.md` lists the promise behind each model.

use std::time::Duration;

use crate::api::engine::EngineBuilder;
use crate::api::handle::TaskHandle;
use crate::config::WhenFull;
use crate::error::Error;
use crate::run::queues::Work;
use crate::run::worker;
use crate::shared::Shared;
use crate::submit::capacity::Capacity;
use crate::submit::options::{Repeat, Submission, When, once, repeating};
use crate::submit::registry::Found;
use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::sync::channel::Receiver;
use crate::sync::{Arc, model, thread};
use crate::task::state::CancelOutcome;
use crate::task::state::TaskState;
use crate::tick::link::Command;
use crate::tick::thread::TickThread;
use crate::time::clock::{Clock, ManualClock};

/// An engine's shared state on a manual clock, with no threads of its own.
fn parts(groups: &[(&str, usize)]) -> (Arc<Shared>, Receiver<Command>) {
    let mut builder = EngineBuilder::new().clock(Clock::Manual(ManualClock::new())).workers(1);
    for (name, limit) in groups {
        builder = builder.group(*name, *limit);
    }
    Shared::new(builder.into_config())
}

/// One worker step: takes one queued piece of work and runs it. `false` when the queues were empty.
fn work_once(shared: &Arc<Shared>) -> bool {
    match shared.run.try_take() {
        Some(Work::Run { task, has_slot, epoch, phase }) => {
            worker::run_one(shared, task, has_slot, epoch, phase);
            true
        }
        _ => false,
    }
}

fn submit(shared: &Arc<Shared>, submission: Submission) -> Result<TaskHandle, Error> {
    let task = Shared::submit(shared, submission)?;
    Ok(TaskHandle { task, shared: shared.clone() })
}

/// A one-shot task, due `when`, that counts its runs.
fn counting(when: When, runs: &Arc<AtomicUsize>) -> Submission {
    let runs = runs.clone();
    Submission::new(
        once(move |_| {
            runs.fetch_add(1, Ordering::SeqCst);
        }),
        when,
    )
}

/// Counts drops of the closure that owns it.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn cancel_racing_fire_runs_at_most_once_and_drops_the_closure_once() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        let (ran, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (ran_in_task, token) = (ran.clone(), DropCount(dropped.clone()));
        let job = once(move |_| {
            let _keep = &token;
            ran_in_task.fetch_add(1, Ordering::SeqCst);
        });
        // Due now: it is already in the run queue, as if the tick thread had just fired it.
        let handle = submit(&shared, Submission::new(job, When::Now)).unwrap();
        let worker = {
            let shared = shared.clone();
            thread::spawn(move || while work_once(&shared) {})
        };
        let outcome = handle.cancel();
        worker.join().unwrap();

        let ran = ran.load(Ordering::SeqCst);
        match outcome {
            CancelOutcome::Cancelled => assert_eq!((ran, handle.state()), (0, TaskState::Cancelled)),
            CancelOutcome::Signalled | CancelOutcome::AlreadyFinished => {
                assert_eq!((ran, handle.state()), (1, TaskState::Succeeded))
            }
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "the closure is dropped exactly once");
        assert!(handle.is_finished());
    });
}

#[test]
fn submit_racing_the_tick_threads_sleep_is_never_lost() {
    model(|| {
        let (shared, commands) = parts(&[]);
        let runs = Arc::new(AtomicUsize::new(0));
        submit(&shared, counting(When::After(Duration::from_secs(100)), &runs)).unwrap();
        let tick = {
            let tick = TickThread::new(shared.clone(), commands);
            thread::spawn(move || tick.run())
        };
        // Earlier than the deadline the tick thread sleeps (or is about to sleep) toward.
        let near = submit(&shared, counting(When::After(Duration::from_secs(10)), &runs)).unwrap();
        let near_deadline = near.task.deadline();
        // No clock movement: only the submission itself can make the tick thread re-plan. A lost wakeup leaves
        // both threads blocked, which loom reports as a deadlock.
        shared.time.clock().wait(shared.ends.changes(), None, || shared.tick.sleep_target() == near_deadline);
        shared.tick.stop();
        tick.join().unwrap();
    });
}

#[test]
fn shutdown_racing_submit_never_accepts_and_then_drops_a_task() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        let dropped = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let (shared, token) = (shared.clone(), DropCount(dropped.clone()));
            thread::spawn(move || {
                let job = once(move |_| drop(token));
                submit(&shared, Submission::new(job, When::After(Duration::from_secs(1))))
            })
        };
        shared.stop_accepting();
        shared.cancel_live(|_| true);
        match submitter.join().unwrap() {
            // Accepted: the shutdown's sweep saw it and it ended cancelled.
            Ok(handle) => assert_eq!(handle.state(), TaskState::Cancelled),
            Err(Error::ShutDown) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "accepted or refused, the closure is dropped once");
        assert!(shared.registry_is_quiet(), "no live task is left behind");
    });
}

#[test]
fn two_submits_with_one_key_accept_exactly_one_and_the_key_frees_when_it_ends() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        let keyed = || {
            let mut submission = Submission::new(once(|_| ()), When::After(Duration::from_secs(1)));
            submission.options().key = Some("order-42".to_string());
            submission
        };
        let other = {
            let (shared, submission) = (shared.clone(), keyed());
            thread::spawn(move || submit(&shared, submission))
        };
        let mine = submit(&shared, keyed());
        let theirs = other.join().unwrap();
        let (accepted, refused) = match (mine, theirs) {
            (Ok(a), Err(b)) | (Err(b), Ok(a)) => (a, b),
            (Ok(_), Ok(_)) => panic!("both submissions with the same key were accepted"),
            (Err(a), Err(b)) => panic!("both refused: {a}; {b}"),
        };
        match refused {
            Error::DuplicateKey { existing, .. } => assert_eq!(existing, accepted.id()),
            other => panic!("unexpected error {other}"),
        }
        assert_eq!(accepted.cancel(), CancelOutcome::Cancelled);
        assert!(submit(&shared, keyed()).is_ok(), "the key is free once its task ended");
    });
}

/// Whether `seen`, a sequence of observed states of a one-shot task, is a legal path of its lifecycle.
fn legal_one_shot_path(seen: &[TaskState]) -> bool {
    let rank = |s: TaskState| match s {
        TaskState::Pending => 0,
        TaskState::Running => 1,
        _ => 2,
    };
    seen.windows(2).all(|pair| {
        let (a, b) = (pair[0], pair[1]);
        a == b || (rank(a) < rank(b) && (a.can_become(b) || (a == TaskState::Pending && b.is_terminal())))
    })
}

#[test]
fn observed_states_follow_the_lifecycle_and_terminal_states_never_change() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        let handle = submit(&shared, Submission::new(once(|_| ()), When::Now)).unwrap();
        let observer = {
            let handle = handle.clone();
            thread::spawn(move || (0..3).map(|_| handle.state()).collect::<Vec<_>>())
        };
        let canceller = {
            let handle = handle.clone();
            thread::spawn(move || handle.cancel())
        };
        work_once(&shared);
        let mut seen = observer.join().unwrap();
        canceller.join().unwrap();
        seen.push(handle.state());
        assert!(legal_one_shot_path(&seen), "illegal path {seen:?}");
        assert!(seen.last().is_some_and(|s| s.is_terminal()), "{seen:?}");
    });
}

#[test]
fn a_periodic_task_cancelled_during_a_run_never_runs_again() {
    model(|| {
        let (shared, commands) = parts(&[]);
        let runs = Arc::new(AtomicUsize::new(0));
        let job = {
            let runs = runs.clone();
            repeating(move |_| {
                runs.fetch_add(1, Ordering::SeqCst);
            })
        };
        let mut submission = Submission::new(job, When::Now);
        submission.options().repeat = Some(Repeat::new(Duration::from_secs(1)));
        let handle = submit(&shared, submission).unwrap();
        let worker = {
            let shared = shared.clone();
            thread::spawn(move || work_once(&shared))
        };
        assert_eq!(handle.cancel(), CancelOutcome::Cancelled);
        assert_eq!(handle.state(), TaskState::Cancelled, "cancelled as soon as cancel returns");
        worker.join().unwrap();
        // Fire whatever the worker re-armed, as the tick thread would, and run it.
        while let Ok(command) = commands.try_recv() {
            if let Command::Schedule(task) = command {
                let (state, epoch) = task.lifecycle().load_with_epoch();
                if state == TaskState::Pending {
                    shared.run.dispatch(task, false, epoch);
                }
            }
        }
        while work_once(&shared) {}
        assert!(runs.load(Ordering::SeqCst) <= 1, "a run started after cancel returned");
        assert_eq!(handle.state(), TaskState::Cancelled);
    });
}

#[test]
fn a_group_at_its_limit_never_exceeds_it_and_never_strands_a_waiting_task() {
    model(|| {
        let (shared, _commands) = parts(&[("g", 1)]);
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let grouped = || {
            let (now, peak) = (now.clone(), peak.clone());
            let job = once(move |_| {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(running, Ordering::SeqCst);
                now.fetch_sub(1, Ordering::SeqCst);
            });
            let mut submission = Submission::new(job, When::Now);
            submission.options().group = Some("g".to_string());
            submission
        };
        let a = submit(&shared, grouped()).unwrap();
        let b = submit(&shared, grouped()).unwrap();
        let worker = {
            let shared = shared.clone();
            thread::spawn(move || while work_once(&shared) {})
        };
        while work_once(&shared) {}
        worker.join().unwrap();
        while work_once(&shared) {}
        assert_eq!((a.state(), b.state()), (TaskState::Succeeded, TaskState::Succeeded), "a task was stranded");
        assert_eq!(peak.load(Ordering::SeqCst), 1, "the group ran more than its limit at once");
        assert_eq!(shared.groups.running(0), 0);
    });
}

#[test]
fn wait_racing_completion_always_returns_the_final_state() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        let handle = submit(&shared, Submission::new(once(|_| ()), When::Now)).unwrap();
        let waiter = {
            let handle = handle.clone();
            thread::spawn(move || handle.wait())
        };
        work_once(&shared);
        assert_eq!(waiter.join().unwrap().unwrap(), TaskState::Succeeded);
    });
}

#[test]
fn a_task_seen_ended_is_never_counted_as_running() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        let handle = submit(&shared, Submission::new(once(|_| ()), When::Now)).unwrap();
        let worker = {
            let shared = shared.clone();
            thread::spawn(move || work_once(&shared))
        };
        // What a drain shutdown does when its timeout runs out: a task already ended is not "still running".
        if handle.state().is_terminal() {
            assert_eq!(shared.run.running(), 0, "an ended task was reported as still running");
        }
        worker.join().unwrap();
        assert_eq!(shared.run.running(), 0);
    });
}

#[test]
fn a_task_due_at_once_never_overtakes_a_due_task_the_tick_thread_holds() {
    model(|| {
        let (shared, commands) = parts(&[]);
        let Clock::Manual(clock) = shared.time.clock().clone() else {
            unreachable!("parts() builds on a manual clock")
        };
        let first = submit(&shared, Submission::new(once(|_| ()), When::After(Duration::from_secs(1)))).unwrap();
        clock.advance(Duration::from_secs(1)); // `first` is due now, and held by the tick thread
        let tick = {
            let tick = TickThread::new(shared.clone(), commands);
            thread::spawn(move || tick.run())
        };
        // Due at once, with the same deadline: it must reach the run queue after `first` (ties in submission
        // order), whether it goes straight there or through the tick thread.
        let second = submit(&shared, Submission::new(once(|_| ()), When::Now)).unwrap();
        let mut order = Vec::new();
        while order.len() < 2 {
            if let Work::Run { task, .. } = shared.run.take() {
                order.push(task.id);
            }
        }
        assert_eq!(order, [first.id(), second.id()], "a task due at once overtook a due task");
        shared.tick.stop();
        tick.join().unwrap();
    });
}

#[test]
fn a_waiter_is_woken_by_its_own_task_and_another_task_leaves_it_waiting() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        let other = submit(&shared, Submission::new(once(|_| ()), When::Now)).unwrap();
        let awaited = submit(&shared, Submission::new(once(|_| ()), When::Now)).unwrap();
        let waiter = {
            let awaited = awaited.clone();
            thread::spawn(move || awaited.wait())
        };
        assert!(work_once(&shared)); // `other` runs and ends first (queue order)
        assert!(other.is_finished() && !awaited.is_finished());
        // The waiter is either not registered yet or still registered: `other`'s end did not take it away.
        assert!(shared.ends.waiting() <= 1);
        assert!(work_once(&shared));
        assert_eq!(waiter.join().unwrap().unwrap(), TaskState::Succeeded, "the waiter was not woken");
        assert_eq!(shared.ends.waiting(), 0, "a registration was left behind");
    });
}

#[test]
fn a_task_a_worker_ended_is_always_found_and_recorded_before_wait_idle_returns() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        // No tick thread in this model: `wait_idle` then waits only for the work in flight.
        shared.tick.mark_stopped();
        let worker = {
            let shared = shared.clone();
            thread::spawn(move || worker::run(shared))
        };
        let handle = submit(&shared, Submission::new(once(|_| ()), When::Now)).unwrap();
        let id = handle.id();
        drop(handle);
        // Between its end and the worker's batched record of it, a lookup finds the task itself; after, its
        // summary: never "not found".
        let seen = shared.registry.get(id).map(|found| match found {
            Found::Task(task) => task.state(),
            Found::Ended(summary) => summary.state,
        });
        assert!(matches!(seen, Some(TaskState::Pending | TaskState::Running | TaskState::Succeeded)), "{seen:?}");
        shared.wait_idle(None);
        assert!(
            matches!(shared.registry.get(id), Some(Found::Ended(summary)) if summary.state == TaskState::Succeeded),
            "wait_idle returned before the worker recorded the task's end"
        );
        shared.run.stop_workers(1);
        worker.join().unwrap();
    });
}

#[test]
fn a_drain_ends_only_after_the_work_in_flight_at_its_start_whatever_is_dispatched_meanwhile() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        let first_done = Arc::new(AtomicUsize::new(0));
        // In flight when the drain starts: one task (as if the tick thread had just dispatched it).
        let done = first_done.clone();
        submit(
            &shared,
            Submission::new(
                once(move |_| {
                    done.fetch_add(1, Ordering::SeqCst);
                }),
                When::Now,
            ),
        )
        .unwrap();
        let epoch = shared.run.drain_epoch();
        let worker = {
            let shared = shared.clone();
            thread::spawn(move || {
                // The first task's run submits more work while it is in flight, then it and the new work end.
                let Some(Work::Run { task, has_slot, epoch, phase }) = shared.run.try_take() else { unreachable!() };
                submit(&shared, Submission::new(once(|_| ()), When::Now)).unwrap();
                worker::run_one(&shared, task, has_slot, epoch, phase);
                while work_once(&shared) {}
            })
        };
        // The waiter's side of `Shared::wait_idle` after its tick sync (bounded: every step yields).
        let mut drained = false;
        for _ in 0..50 {
            if shared.run.drained(epoch) {
                drained = true;
                break;
            }
            thread::yield_now();
        }
        if drained {
            assert_eq!(first_done.load(Ordering::SeqCst), 1, "the drain ended before the work in flight at its start");
        }
        worker.join().unwrap();
        assert!(shared.run.drained(epoch), "every piece of work ended, yet the drain never ends");
    });
}

/// Issue 24: the command backlog a task due at once may wait behind is visible in the statistics: here no tick
/// thread takes the commands, so every delayed submission stays counted.
#[test]
fn the_statistics_show_the_commands_the_tick_thread_has_not_taken() {
    model(|| {
        let (shared, commands) = parts(&[]);
        let runs = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            submit(&shared, counting(When::After(Duration::from_secs(3600)), &runs)).unwrap();
        }
        assert_eq!(shared.stats().commands_queued, 3);
        while commands.try_recv().is_ok() {}
        assert_eq!(shared.stats().commands_queued, 0);
    });
}

/// Issue 24, head of line: a task due at once goes straight to a run queue past any number of queued submissions
/// that cannot be due yet (an hour out), and behind one that may be (a millisecond out, within the count's bound).
/// No tick thread here: the commands stay queued, as behind ten million of them.
#[test]
fn a_task_due_at_once_passes_queued_submissions_that_are_not_due_and_waits_behind_one_that_may_be() {
    model(|| {
        let (shared, commands) = parts(&[]);
        let runs = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            submit(&shared, counting(When::After(Duration::from_secs(3600)), &runs)).unwrap();
        }
        let now = submit(&shared, counting(When::Now, &runs)).unwrap();
        assert!(matches!(shared.run.try_take(), Some(Work::Run { task, .. }) if task.id == now.id()), "not held back");
        submit(&shared, counting(When::After(Duration::from_millis(1)), &runs)).unwrap();
        submit(&shared, counting(When::Now, &runs)).unwrap();
        assert!(shared.run.try_take().is_none(), "behind a submission that may be due first: through the tick thread");
        while commands.try_recv().is_ok() {}
    });
}

#[test]
fn a_reschedule_racing_a_workers_start_either_moves_the_task_or_finds_it_started() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        let runs = Arc::new(AtomicUsize::new(0));
        // Due now: its dispatch (under epoch 0) is in the run queue, as if the tick thread had just fired it.
        let handle = submit(&shared, counting(When::Now, &runs)).unwrap();
        let later = shared.time.now_ns() + 3_600_000_000_000;
        let rescheduler = {
            let (shared, task) = (shared.clone(), handle.task.clone());
            thread::spawn(move || shared.reschedule(&task, later))
        };
        work_once(&shared);
        let moved = rescheduler.join().unwrap();
        match moved {
            // Moved: the old dispatch never started it, and it waits for its new deadline.
            Ok(()) => {
                assert_eq!(runs.load(Ordering::SeqCst), 0, "the stale dispatch ran a moved task");
                assert_eq!(handle.state(), TaskState::Pending);
                assert_eq!(handle.task.deadline(), later);
            }
            Err(Error::NotPending(state)) => {
                assert!(matches!(state, TaskState::Running | TaskState::Succeeded), "{state:?}");
                assert_eq!(runs.load(Ordering::SeqCst), 1);
            }
            Err(other) => panic!("{other:?}"),
        }
    });
}

#[test]
fn a_resume_racing_a_worker_that_holds_its_work_never_strands_it() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        shared.run.set_paused(true);
        let runs = Arc::new(AtomicUsize::new(0));
        submit(&shared, counting(When::Now, &runs)).unwrap(); // in the run queue
        let worker = {
            let shared = shared.clone();
            thread::spawn(move || work_once(&shared))
        };
        shared.run.set_paused(false);
        worker.join().unwrap();
        // Whatever the order, the work ran or went back to the run queue: none is left held.
        while work_once(&shared) {}
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the held work was stranded");
        assert!(shared.run.holds_nothing());
    });
}

#[test]
fn a_timeout_racing_the_end_of_its_run_is_counted_exactly_when_the_run_ends_timed_out() {
    model(|| {
        let (shared, _commands) = parts(&[]);
        let mut submission = Submission::new(once(|_| ()), When::Now);
        submission.options().timeout = Some(Duration::from_millis(1));
        let handle = submit(&shared, submission).unwrap();
        // The tick thread's part: the run's timeout passes (whenever this interleaves with the run).
        let timeout = {
            let task = handle.task.clone();
            thread::spawn(move || task.time_out(1))
        };
        assert!(work_once(&shared));
        let counted = timeout.join().unwrap();
        assert_eq!(handle.state(), if counted { TaskState::Failed } else { TaskState::Succeeded });
        assert_eq!(counted, handle.timed_out(), "counted as timed out exactly when it ended timed out");
    });
}

#[test]
fn the_capacity_is_never_exceeded_and_a_unit_given_back_is_never_refused() {
    model(|| {
        let capacity = Arc::new(Capacity::new(2, WhenFull::Reject));
        assert!(capacity.try_reserve() && capacity.try_reserve());
        assert!(!capacity.try_reserve(), "full");
        let given_back = Arc::new(AtomicBool::new(false));
        let giver = {
            let (capacity, given_back) = (capacity.clone(), given_back.clone());
            thread::spawn(move || {
                capacity.release();
                given_back.store(true, Ordering::SeqCst);
            })
        };
        let racer = {
            let capacity = capacity.clone();
            thread::spawn(move || capacity.try_reserve())
        };
        let free_before = given_back.load(Ordering::SeqCst);
        let mine = capacity.try_reserve();
        let theirs = racer.join().unwrap();
        giver.join().unwrap();
        assert!(!(mine && theirs), "two units taken where one was given back");
        assert!(!(free_before && !theirs && !mine), "refused while a unit was free");
        assert_eq!(capacity.live(), 1 + usize::from(mine) + usize::from(theirs));
        assert_eq!(capacity.try_reserve(), !(mine || theirs), "the unit given back is free unless taken");
        assert_eq!(capacity.live(), 2);
    });
}
