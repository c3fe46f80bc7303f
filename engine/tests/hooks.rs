//! Hooks around each run, on the manual clock: what each hook is told, and that a panicking hook is caught and
//! counted and changes nothing else.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskwheel::{Clock, Engine, Hooks, ManualClock, Priority, RunEnd, RunFinish, RunOutcome, RunStart, TaskState};

const MS: Duration = Duration::from_millis(1);

/// Records every call, as text, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Hooks for Recorder {
    fn before_run(&self, start: &RunStart<'_>) {
        let line = format!("start {} run {} late {:?} {:?}", start.task_id, start.run, start.lateness, start.priority);
        self.0.lock().unwrap().push(line);
    }

    fn after_run(&self, finish: &RunFinish<'_>) {
        let line = format!("end {} run {} {:?} code {:?}", finish.task_id, finish.run, finish.end, finish.code);
        self.0.lock().unwrap().push(line);
    }
}

fn engine_with(hooks: Arc<impl Hooks>) -> (Engine, ManualClock) {
    let clock = ManualClock::new();
    let engine = Engine::builder().workers(1).hooks(hooks).clock(Clock::Manual(clock.clone())).build().unwrap();
    (engine, clock)
}

#[test]
fn each_run_is_told_before_and_after_with_its_attempt_lateness_and_outcome() {
    let recorder = Arc::new(Recorder::default());
    let (engine, clock) = engine_with(recorder.clone());
    let late = engine.task(|_| ()).after(5 * MS).priority(Priority::High).submit().unwrap();
    common::advance(&engine, &clock, 7 * MS); // due at 5 ms, started at 7 ms
    let failed = engine.spawn(|_| Err::<(), _>("no route to host")).unwrap();
    let panicked = engine.spawn(|_| -> () { panic!("index out of bounds") }).unwrap();
    let code = engine.spawn(|_| 3).unwrap();
    let cancelled = engine.spawn(|_| RunOutcome::Cancelled).unwrap();
    engine.wait_idle().unwrap();
    cancelled.cancel();
    let timed = engine
        .task({
            let clock = clock.clone();
            move |ctx| {
                clock.advance(10 * MS); // outlasts its timeout while it runs: wait (bounded) until told so
                for _ in 0..10_000 {
                    if ctx.is_cancelled() {
                        break;
                    }
                    std::thread::sleep(MS);
                }
            }
        })
        .timeout(MS)
        .submit()
        .unwrap();
    engine.wait_idle().unwrap();
    let ids = [late.id(), failed.id(), panicked.id(), code.id(), cancelled.id(), timed.id()];
    let lines = recorder.0.lock().unwrap().clone();
    assert_eq!(
        lines,
        [
            format!("start {} run 1 late 2ms High", ids[0]),
            format!("end {} run 1 Succeeded code None", ids[0]),
            format!("start {} run 1 late 0ns Normal", ids[1]),
            format!("end {} run 1 Failed(\"no route to host\") code None", ids[1]),
            format!("start {} run 1 late 0ns Normal", ids[2]),
            format!("end {} run 1 Panicked(\"panicked: index out of bounds\") code None", ids[2]),
            format!("start {} run 1 late 0ns Normal", ids[3]),
            format!("end {} run 1 Failed(\"a non-zero return code\") code Some(3)", ids[3]),
            format!("start {} run 1 late 0ns Normal", ids[4]),
            format!("end {} run 1 Cancelled code None", ids[4]),
            format!("start {} run 1 late 0ns Normal", ids[5]),
            format!("end {} run 1 TimedOut code None", ids[5]),
        ]
    );
}

#[test]
fn retries_and_periodic_runs_are_told_run_by_run() {
    let recorder = Arc::new(Recorder::default());
    let (engine, clock) = engine_with(recorder.clone());
    let beat = engine.periodic(10 * MS, |_| ()).max_runs(2).submit().unwrap();
    common::advance(&engine, &clock, 10 * MS);
    common::advance(&engine, &clock, 10 * MS);
    assert_eq!(beat.wait().unwrap(), TaskState::Succeeded);
    let runs: Vec<String> = recorder.0.lock().unwrap().iter().filter(|l| l.starts_with("end")).cloned().collect();
    assert_eq!(
        runs,
        [
            format!("end {} run 1 Succeeded code None", beat.id()),
            format!("end {} run 2 Succeeded code None", beat.id())
        ]
    );
}

struct Panicking;

impl Hooks for Panicking {
    fn before_run(&self, _: &RunStart) {
        panic!("a hook's own bug");
    }

    fn after_run(&self, finish: &RunFinish<'_>) {
        if finish.end == RunEnd::Succeeded {
            panic!("and another");
        }
    }
}

#[test]
fn a_panicking_hook_is_caught_and_counted_and_the_run_and_the_worker_go_on() {
    let (engine, _clock) = engine_with(Arc::new(Panicking));
    for _ in 0..3 {
        assert_eq!(engine.spawn(|_| ()).unwrap().wait().unwrap(), TaskState::Succeeded);
    }
    let stats = engine.stats();
    assert_eq!((stats.hook_panics, stats.succeeded, stats.failed_runs), (6, 3, 0));
}

/// Issue 23, item 6: a task's optional name reaches the hooks (start and end), its handle and its record once it has
/// ended; an empty or NUL name is refused as an empty key is.
#[test]
fn a_tasks_name_is_shown_by_the_hooks_its_handle_and_its_ended_record() {
    #[derive(Default)]
    struct Names(Mutex<Vec<(u64, Option<String>, &'static str)>>);
    impl Hooks for Names {
        fn before_run(&self, start: &RunStart<'_>) {
            self.0.lock().unwrap().push((start.task_id, start.name.map(str::to_string), "start"));
        }
        fn after_run(&self, finish: &RunFinish<'_>) {
            self.0.lock().unwrap().push((finish.task_id, finish.name.map(str::to_string), "end"));
        }
    }
    let names = Arc::new(Names::default());
    let (engine, clock) = engine_with(names.clone());
    let report = engine.task(|_| ()).name("nightly report").after(MS).submit().unwrap();
    let plain = engine.task(|_| ()).after(MS).submit().unwrap();
    assert_eq!(report.name(), Some("nightly report"));
    assert_eq!(plain.name(), None);
    common::advance(&engine, &clock, MS);
    let seen = names.0.lock().unwrap().clone();
    let named = Some("nightly report".to_string());
    assert_eq!(
        seen,
        [
            (report.id(), named.clone(), "start"),
            (report.id(), named, "end"),
            (plain.id(), None, "start"),
            (plain.id(), None, "end")
        ]
    );
    assert_eq!(engine.get(report.id()).unwrap().name(), Some("nightly report"), "kept in the ended record");
    for bad in ["", "a\0b"] {
        assert!(matches!(engine.task(|_| ()).name(bad).submit(), Err(taskwheel::Error::InvalidArgument(_))), "{bad:?}");
    }
    let periodic = engine.every(Duration::from_secs(1), |_| ()).unwrap();
    assert_eq!(periodic.name(), None);
    let named_periodic = engine.periodic(Duration::from_secs(1), |_| ()).name("heartbeat").submit().unwrap();
    assert_eq!(named_periodic.name(), Some("heartbeat"));
}
