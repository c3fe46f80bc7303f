//! A task's panic is caught and reported by the engine, and stays quiet: it does not go through the process's panic
//! hook, unless the engine is built with `report_panics(true)`. Every other panic of the program still does. (Its
//! own test binary: the panic hook belongs to the whole process.)

use std::panic;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use taskwheel::{Engine, TaskState};

#[test]
fn task_panics_are_quiet_unless_asked_and_other_panics_still_reach_the_programs_hook() {
    let printed = Arc::new(AtomicUsize::new(0));
    let counted = printed.clone();
    panic::set_hook(Box::new(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    }));
    let quiet = Engine::builder().workers(1).build().unwrap(); // wraps the hook above
    for _ in 0..100 {
        let task = quiet.spawn(|_| -> () { panic!("caught and reported") }).unwrap();
        assert_eq!(task.wait().unwrap(), TaskState::Failed);
    }
    assert_eq!(printed.load(Ordering::SeqCst), 0, "the quiet engine's task panics reached the program's hook");
    assert_eq!(quiet.stats().failed_runs, 100);

    assert!(panic::catch_unwind(|| panic!("the program's own panic")).is_err());
    assert_eq!(printed.load(Ordering::SeqCst), 1, "a panic outside any task still reaches the program's hook");

    let loud = Engine::builder().workers(1).report_panics(true).build().unwrap();
    assert_eq!(loud.spawn(|_| -> () { panic!("reported") }).unwrap().wait().unwrap(), TaskState::Failed);
    assert_eq!(printed.load(Ordering::SeqCst), 2, "report_panics(true) prints through the program's hook");
}
