//! The API's small edges users tripped on (issue 23): group names checked as keys are, priorities named, parsed and
//! ordered, task handles comparable and hashable (item 8); `wait_idle` beside always-due periodic work (item 1).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use taskwheel::{CancelOutcome, Engine, Error, Priority, TaskState};

#[test]
fn an_empty_or_nul_group_name_is_refused_as_an_empty_key_is() {
    for name in ["", "mail\0", "\0"] {
        match Engine::builder().workers(1).group(name, 1).build() {
            Err(Error::InvalidArgument(why)) => assert!(why.contains("empty or holds a NUL"), "{name:?}: {why}"),
            other => panic!("group {name:?} accepted: {:?}", other.map(|_| ())),
        }
    }
    assert!(Engine::builder().workers(1).group("mail", 1).build().is_ok());
}

#[test]
fn priorities_have_names_that_parse_back() {
    for priority in Priority::ALL {
        assert_eq!(priority.to_string().parse::<Priority>(), Ok(priority));
        assert_eq!(priority.to_string().to_uppercase().parse::<Priority>(), Ok(priority));
    }
    assert_eq!(Priority::High.to_string(), "high");
    assert!("".parse::<Priority>().is_err());
    assert!("urgent".parse::<Priority>().is_err());
}

#[test]
// A handle's hash and equality read only its task's identity, never the state its atomics hold: clippy cannot
// see that (`ignore-interior-mutability = ["taskwheel::TaskHandle"]` in a user's clippy.toml says it).
#[allow(clippy::mutable_key_type)]
fn task_handles_are_equal_for_the_same_task_and_key_a_set() {
    let engine = Engine::builder().workers(1).build().unwrap();
    let a = engine.task(|_| ()).after(Duration::from_secs(3600)).submit().unwrap();
    let b = engine.task(|_| ()).after(Duration::from_secs(3600)).submit().unwrap();
    let a_again = engine.get(a.id()).unwrap();
    assert_eq!(a, a.clone());
    assert_eq!(a, a_again, "the same task found again by its id");
    assert_ne!(a, b);
    let set: HashSet<_> = [a.clone(), b.clone(), a_again].into_iter().collect();
    assert_eq!(set.len(), 2);
    // Another engine's task with the same id is another task.
    let other = Engine::builder().workers(1).build().unwrap();
    let c = other.task(|_| ()).after(Duration::from_secs(3600)).submit().unwrap();
    assert_eq!(c.id(), a.id());
    assert_ne!(c, a);
    a.cancel();
    b.cancel();
    c.cancel();
}

#[test]
fn priorities_order_by_urgency() {
    assert!(Priority::High > Priority::Normal && Priority::Normal > Priority::Low);
    let mut sorted = vec![Priority::Normal, Priority::Low, Priority::High];
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sorted, Priority::ALL, "descending is the queues' order, highest first");
}

/// Item 1: beside periodic work that is always due (every 1 ms, each run 3 ms, on the real clock), `wait_idle`
/// returns once the runs due at the call have ended instead of waiting for an idleness that never comes, and the
/// schedule goes on. The wait runs on a thread and is given 60 s, so that a regression fails instead of hanging;
/// nothing is asserted about how long it took.
#[test]
fn wait_idle_beside_always_due_periodic_work_returns_once_the_runs_due_at_the_call_end() {
    let engine = Arc::new(Engine::builder().workers(2).build().unwrap());
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let (started, first) = mpsc::sync_channel(1);
    let beat = engine
        .every(Duration::from_millis(1), move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = started.try_send(());
            thread::sleep(Duration::from_millis(3));
        })
        .unwrap();
    first.recv_timeout(Duration::from_secs(60)).expect("the schedule started"); // work is due from now on
    let (returned, waited) = mpsc::channel();
    let waiter = engine.clone();
    thread::spawn(move || returned.send(waiter.wait_idle()).unwrap());
    let result = waited.recv_timeout(Duration::from_secs(60)).expect("wait_idle returned beside periodic work");
    result.unwrap();
    assert!(runs.load(Ordering::SeqCst) >= 1);
    assert_eq!(beat.cancel(), CancelOutcome::Cancelled, "the schedule goes on after the wait");
    assert_eq!(beat.wait().unwrap(), TaskState::Cancelled);
}
