//! What a task leaves behind (issue 12): typed results through `JoinHandle`, return codes, and what lookups by id
//! find after a task ends — a summary of a detached task up to the retention bound, a joinable task until it is
//! released.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use taskwheel::{Clock, Engine, Error, JoinError, ManualClock, Retry, RunOutcome, TaskState};

#[derive(Debug)]
struct Refused {
    cause: std::io::Error,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the mail server refused")
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

fn engine() -> Engine {
    Engine::builder().workers(2).build().unwrap()
}

#[test]
fn join_gives_the_value_of_a_success() {
    let engine = engine();
    let job = engine.spawn_with_result(|ctx| Ok::<_, Refused>(format!("task {} ran", ctx.id()))).unwrap();
    let id = job.id();
    assert_eq!(job.join().unwrap(), format!("task {id} ran"));
}

#[test]
fn join_gives_the_error_value_itself_with_its_source_chain() {
    let engine = engine();
    let job = engine
        .spawn_with_result(|_| -> Result<(), Refused> {
            Err(Refused { cause: std::io::Error::other("port 25 closed") })
        })
        .unwrap();
    let task = job.task().clone();
    let error = job.join().unwrap_err();
    let JoinError::Failed(refused) = &error else { panic!("expected Failed, got {error:?}") };
    assert_eq!(refused.cause.kind(), std::io::ErrorKind::Other);
    // The chain: JoinError -> Refused -> io::Error.
    let source = error.source().expect("the error is the source");
    assert_eq!(source.to_string(), "the mail server refused");
    assert_eq!(source.source().map(ToString::to_string).as_deref(), Some("port 25 closed"));
    // The untyped record agrees.
    assert_eq!(task.state(), TaskState::Failed);
    assert_eq!(task.failure().as_deref(), Some("the mail server refused"));
}

#[test]
fn a_panics_message_is_the_message_itself_and_none_for_a_non_string_payload() {
    let engine = engine();
    let formatted = engine.spawn_with_result(|_| -> Result<u8, Refused> { panic!("kaboom {}", 7) }).unwrap();
    assert_eq!(formatted.join().unwrap_err().panic_message().as_deref(), Some("kaboom 7"));
    let opaque = engine.spawn_with_result(|_| -> Result<u8, Refused> { std::panic::panic_any(42_u32) }).unwrap();
    let error = opaque.join().unwrap_err();
    assert_eq!(error.panic_message(), None, "a non-string payload has no message");
    let JoinError::Panicked(mut payload) = error else { panic!("not a panic") };
    assert_eq!(payload.get_mut().downcast_ref::<u32>(), Some(&42));
    assert_eq!(payload.into_inner().downcast_ref::<u32>(), Some(&42));
    let refused =
        engine.spawn_with_result(|_| -> Result<u8, Refused> { Err(Refused { cause: std::io::Error::other("no") }) });
    assert_eq!(refused.unwrap().join().unwrap_err().panic_message(), None, "not a panic");
}

#[test]
fn a_panic_is_its_own_outcome_with_its_payload() {
    let engine = engine();
    let job = engine.spawn_with_result(|_| -> Result<u8, Refused> { panic!("disk on fire") }).unwrap();
    let task = job.task().clone();
    let error = job.join().unwrap_err();
    assert!(matches!(error, JoinError::Panicked(_)), "{error:?}");
    assert_eq!(error.panic_message().as_deref(), Some("disk on fire"), "the message itself");
    assert_eq!(error.to_string(), "the task panicked: disk on fire");
    let JoinError::Panicked(payload) = error else { unreachable!() };
    assert_eq!(payload.message(), Some("disk on fire"));
    assert_eq!(payload.into_inner().downcast_ref::<&str>(), Some(&"disk on fire"));
    assert_eq!(task.state(), TaskState::Failed);
    assert_eq!(engine.stats().failed, 1);
}

#[test]
fn a_cancelled_task_joins_as_cancelled_and_a_timed_out_join_gives_the_handle_back() {
    let clock = ManualClock::new();
    let engine = Engine::builder().workers(1).clock(Clock::Manual(clock.clone())).build().unwrap();
    let job = engine.task_with_result(|_| Ok::<u8, Refused>(1)).after(Duration::from_secs(60)).submit().unwrap();
    let (job, error) = job.join_timeout(Duration::ZERO).unwrap_err();
    assert!(matches!(error, JoinError::Wait(Error::Timeout)), "{error:?}");
    job.cancel();
    assert!(matches!(job.join(), Err(JoinError::Cancelled)));
}

#[test]
fn joining_from_inside_the_task_itself_is_refused_not_hung() {
    let engine = engine();
    let (handle_tx, handle_rx) = mpsc::channel::<taskwheel::JoinHandle<&str, Refused>>();
    let (answer_tx, answer_rx) = mpsc::channel();
    let job = engine
        .spawn_with_result(move |_| {
            let me = handle_rx.recv().unwrap();
            answer_tx.send(matches!(me.join(), Err(JoinError::Wait(Error::WouldDeadlock(_))))).unwrap();
            Ok("done")
        })
        .unwrap();
    let task = job.task().clone();
    handle_tx.send(job).unwrap();
    assert!(answer_rx.recv().unwrap(), "a task joining itself is refused with WouldDeadlock");
    assert_eq!(task.wait().unwrap(), TaskState::Succeeded);
}

#[test]
fn a_closure_returning_a_code_keeps_it_and_nonzero_fails() {
    let engine = engine();
    let ok = engine.spawn(|_| 0).unwrap();
    let seven = engine.spawn(|_| 7).unwrap();
    let explicit = engine.spawn(|_| RunOutcome::Exit(-2)).unwrap();
    assert_eq!((ok.wait().unwrap(), ok.code()), (TaskState::Succeeded, Some(0)));
    assert_eq!((seven.wait().unwrap(), seven.code()), (TaskState::Failed, Some(7)));
    assert_eq!(seven.failure().as_deref(), Some("returned 7"));
    assert_eq!((explicit.wait().unwrap(), explicit.code()), (TaskState::Failed, Some(-2)));
    let plain = engine.spawn(|_| ()).unwrap();
    plain.wait().unwrap();
    assert_eq!(plain.code(), None);
}

#[test]
fn a_finished_detached_task_is_found_by_id_with_its_state_code_and_failure_until_the_bound() {
    let engine = Engine::builder().workers(1).retain_finished(64).build().unwrap();
    let first = engine.spawn(|_| 3).unwrap();
    let id = first.id();
    drop(first);
    engine.wait_idle().unwrap();
    let found = engine.get(id).unwrap();
    assert_eq!((found.state(), found.code(), found.runs()), (TaskState::Failed, Some(3), 1));
    assert_eq!(found.failure().as_deref(), Some("returned 3"));
    assert!(found.is_finished());
    assert_eq!(found.wait().unwrap(), TaskState::Failed);
    // Far beyond the bound, it is forgotten: "forgotten", never another task's state.
    for _ in 0..10 {
        let handles: Vec<_> = (0..100).map(|_| engine.spawn(|_| ()).unwrap()).collect();
        for handle in handles {
            handle.wait().unwrap();
        }
    }
    assert!(matches!(engine.get(id), Err(Error::Forgotten(missing)) if missing == id));
}

#[test]
fn a_joinable_task_outlives_the_retention_bound_until_released() {
    let engine = Engine::builder().workers(1).retain_finished(0).build().unwrap();
    let kept = engine.task(|_| 5).joinable().submit().unwrap().id();
    let detached = engine.spawn(|_| ()).unwrap().id();
    for _ in 0..1_000 {
        engine.spawn(|_| ()).unwrap();
    }
    engine.wait_idle().unwrap();
    assert!(engine.get(detached).is_err(), "nothing detached is retained with retain_finished(0)");
    let handle = engine.get(kept).unwrap();
    assert_eq!((handle.state(), handle.code()), (TaskState::Failed, Some(5)));
    engine.release(kept).unwrap();
    assert!(matches!(engine.get(kept), Err(Error::Forgotten(_))));
    assert!(matches!(engine.release(kept), Err(Error::Forgotten(_))));
    // The handle already held keeps working.
    assert_eq!(handle.state(), TaskState::Failed);
}

#[test]
fn releasing_a_joinable_task_before_it_ends_makes_it_detached() {
    let clock = ManualClock::new();
    let engine = Engine::builder().workers(1).retain_finished(0).clock(Clock::Manual(clock.clone())).build().unwrap();
    let id = engine.task(|_| ()).joinable().after(Duration::from_secs(1)).submit().unwrap().id();
    engine.release(id).unwrap();
    assert_eq!(engine.get(id).unwrap().state(), TaskState::Pending, "a live task is always found");
    clock.advance(Duration::from_secs(1));
    engine.wait_idle().unwrap();
    assert!(engine.get(id).is_err(), "detached, and nothing is retained");
}

#[test]
fn memory_of_ended_tasks_is_reused_ids_are_not() {
    let engine = Engine::builder().workers(1).retain_finished(0).build().unwrap();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..20 {
        let handles: Vec<_> = (0..500).map(|_| engine.spawn(|_| ()).unwrap()).collect();
        for handle in handles {
            assert!(ids.insert(handle.id()), "id {} issued twice", handle.id());
            handle.wait().unwrap();
        }
    }
    assert_eq!(ids.len(), 10_000);
}

/// Issue 23, item 7: `JoinError` is `Sync` (so `join()?` goes into `anyhow`), a failure's text keeps the whole chain
/// of an `anyhow` error, and typed results can be retried (panics only when the `Retry` says so).
#[test]
fn typed_results_retry_keep_the_error_chain_and_join_into_anyhow() {
    fn joined(engine: &Engine) -> anyhow::Result<u32> {
        let job = engine.spawn_with_result(|_| Ok::<u32, Refused>(7))?;
        Ok(job.join()?)
    }
    let engine = engine();
    assert_eq!(joined(&engine).unwrap(), 7);

    let chained = engine
        .spawn_with_result(|_| -> Result<(), anyhow::Error> {
            Err::<(), _>(anyhow::anyhow!("port 25 closed")).context("the mail server refused")
        })
        .unwrap();
    let task = chained.task().clone();
    assert!(chained.join().is_err());
    assert_eq!(task.failure().as_deref(), Some("the mail server refused: port 25 closed"));
    let untyped = engine
        .spawn(|_| -> Result<(), anyhow::Error> {
            Err::<(), _>(anyhow::anyhow!("disk full")).context("saving the order")
        })
        .unwrap();
    untyped.wait().unwrap();
    assert_eq!(untyped.failure().as_deref(), Some("saving the order: disk full"));

    let attempts = Arc::new(AtomicU32::new(0));
    let counted = attempts.clone();
    let retry = Retry::new(4).backoff(Duration::from_millis(1), 1, Duration::from_millis(1));
    let flaky = engine
        .retrying_with_result(retry, move |ctx| match counted.fetch_add(1, Ordering::SeqCst) {
            0 => Err(Refused { cause: std::io::Error::other("busy") }),
            1 => panic!("attempt {}", ctx.run()),
            _ => Ok(ctx.run()),
        })
        .submit()
        .unwrap();
    assert_eq!(flaky.join().unwrap(), 3, "the third attempt's value");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);

    let no_panics = engine
        .retrying_with_result(retry.on_panic(false), |_| -> Result<u8, Refused> { panic!("once is enough") })
        .submit()
        .unwrap();
    let task = no_panics.task().clone();
    let error = no_panics.join().unwrap_err();
    assert_eq!(error.panic_message().as_deref(), Some("once is enough"));
    assert_eq!(task.runs(), 1, "a panic is not retried when the Retry says so");
    assert_eq!(task.failure().as_deref(), Some("panicked: once is enough"));
}
