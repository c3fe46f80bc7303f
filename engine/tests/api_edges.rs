//! The API's small edges users tripped on (issue 23, item 8): group names checked as keys are, priorities named
//! and parsed, task handles comparable and hashable.

use std::collections::HashSet;
use std::time::Duration;

use taskwheel::{Engine, Error, Priority};

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
