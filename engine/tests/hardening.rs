//! What new users and two peers' test suites tripped on (issue 10): calls that hung from inside a task, bad input
//! that was accepted or panicked, and semantics that surprised. Each test failed (or hung) before its fix.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, SystemTime};

use taskwheel::{
    CancelOutcome, Clock, Engine, Error, MAX_DELAY, MAX_PRECISE_SPIN, ManualClock, Precision, RunOutcome, Shutdown,
    TaskHandle, TaskResult, TaskState, WhenFull,
};

const MS: Duration = Duration::from_millis(1);
const NS: Duration = Duration::from_nanos(1);

/// Runs `body` on its own thread and fails the test, instead of hanging it, if it does not return within a
/// minute (a guard against the hangs these tests are about, not a timing assertion).
fn returns<T: Send + 'static>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(body());
    });
    rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("{what} hung"))
}

fn manual_engine() -> (Engine, ManualClock) {
    let clock = ManualClock::new();
    (Engine::builder().workers(2).clock(Clock::Manual(clock.clone())).build().unwrap(), clock)
}

// ---- 1. Calls from inside a task that could never return ----

#[test]
fn a_task_waiting_for_itself_is_refused_at_once() {
    // The repro: the task sends what its own waits returned.
    returns("the issue's repro", || {
        let engine = Engine::builder().workers(2).build().unwrap();
        let (handle_tx, handle_rx) = mpsc::channel::<TaskHandle>();
        let (result_tx, result_rx) = mpsc::channel();
        let h = engine
            .spawn(move |_| {
                let own = handle_rx.recv().unwrap();
                result_tx.send((own.wait(), own.wait_timeout(Duration::from_secs(3600)))).unwrap();
            })
            .unwrap();
        handle_tx.send(h.clone()).unwrap();
        let (waited, timed) = result_rx.recv().unwrap();
        assert!(matches!(waited, Err(Error::WouldDeadlock(_))), "{waited:?}");
        assert!(matches!(timed, Err(Error::WouldDeadlock(_))), "{timed:?}");
        assert_eq!(h.wait().unwrap(), TaskState::Succeeded);
        drop(engine); // hung before the fix
    });
}

#[test]
fn waiting_for_another_task_from_inside_a_task_works_and_with_one_worker_is_refused() {
    returns("waits between tasks", || {
        let engine = Engine::builder().workers(2).build().unwrap();
        let spawner = engine.spawner();
        let outer = engine.spawn(move |_| spawner.spawn(|_| ()).unwrap().wait().map(drop)).unwrap();
        assert_eq!(outer.wait().unwrap(), TaskState::Succeeded);

        let (engine, clock) = {
            let clock = ManualClock::new();
            (Engine::builder().workers(1).clock(Clock::Manual(clock.clone())).build().unwrap(), clock)
        };
        let later = engine.after(Duration::from_secs(10), |_| ()).unwrap();
        let (tx, rx) = mpsc::channel();
        let finished = engine.spawn(|_| ()).unwrap();
        finished.wait().unwrap();
        let (waited_for_later, waited_for_finished) = (later.clone(), finished.clone());
        engine.spawn(move |_| tx.send((waited_for_later.wait(), waited_for_finished.wait())).unwrap()).unwrap();
        let (on_later, on_finished) = rx.recv().unwrap();
        assert!(matches!(on_later, Err(Error::WouldDeadlock(_))), "the only worker cannot run it: {on_later:?}");
        assert_eq!(on_finished.unwrap(), TaskState::Succeeded, "a finished task needs no worker");
        clock.advance(Duration::from_secs(10));
        assert_eq!(later.wait().unwrap(), TaskState::Succeeded);
    });
}

#[test]
fn wait_idle_and_shutdown_from_inside_a_task_are_refused_and_change_nothing() {
    returns("wait_idle and shutdown inside a task", || {
        let engine = Arc::new(Engine::builder().workers(2).build().unwrap());
        let inner = engine.clone();
        let (tx, rx) = mpsc::channel();
        let task = engine
            .spawn(move |_| {
                let idle = inner.wait_idle();
                let shutdown = inner.shutdown(Shutdown::CancelPending);
                let spawner_idle = inner.spawner().wait_idle();
                tx.send((idle, shutdown, spawner_idle)).unwrap();
            })
            .unwrap();
        let (idle, shutdown, spawner_idle) = rx.recv().unwrap();
        assert!(matches!(idle, Err(Error::WouldDeadlock(_))), "{idle:?}");
        assert!(matches!(shutdown, Err(Error::WouldDeadlock(_))), "{shutdown:?}");
        assert!(matches!(spawner_idle, Err(Error::WouldDeadlock(_))), "{spawner_idle:?}");
        assert_eq!(task.wait().unwrap(), TaskState::Succeeded);
        // The refused shutdown did nothing: the engine still accepts and runs work, and shuts down normally.
        assert_eq!(engine.spawn(|_| ()).unwrap().wait().unwrap(), TaskState::Succeeded);
        let report = engine.shutdown(Shutdown::CancelPending).unwrap();
        assert_eq!(report.still_running, 0);
    });
}

#[test]
fn dropping_the_last_engine_inside_a_task_stops_it_without_hanging() {
    returns("a drop inside a task", || {
        let engine = Arc::new(Engine::builder().workers(2).build().unwrap());
        let pending = engine.after(Duration::from_secs(3600), |_| ()).unwrap();
        let (go_tx, go_rx) = mpsc::channel::<Arc<Engine>>();
        let (done_tx, done_rx) = mpsc::channel();
        let dropper = engine
            .spawn(move |_| {
                let last = go_rx.recv().unwrap();
                drop(last); // the last reference: hung before the fix
                done_tx.send(()).unwrap();
            })
            .unwrap();
        let spawner = engine.spawner();
        go_tx.send(engine).unwrap();
        done_rx.recv().unwrap();
        assert_eq!(pending.wait().unwrap(), TaskState::Cancelled, "pending work is cancelled");
        assert_eq!(dropper.wait().unwrap(), TaskState::Succeeded, "the running task ends as it returns");
        assert!(matches!(spawner.spawn(|_| ()), Err(Error::ShutDown)), "the dropped engine accepts nothing");
    });
}

// ---- 3. One rule for times beyond the clock's range ----

#[test]
fn every_task_time_beyond_max_delay_is_refused_and_max_delay_itself_is_kept() {
    let (engine, clock) = manual_engine();
    let beyond = MAX_DELAY + NS;
    let refused =
        |result: Result<TaskHandle, Error>| matches!(result, Err(Error::InvalidArgument(m)) if m.contains("range"));
    assert!(refused(engine.after(beyond, |_| ())), "delay");
    assert!(refused(engine.after(Duration::MAX, |_| ())), "delay");
    assert!(refused(engine.at(clock.now() + beyond, |_| ())), "instant");
    assert!(refused(engine.at_system_time(SystemTime::now() + beyond + Duration::from_secs(3600), |_| ())), "wall");
    assert!(refused(engine.every(beyond, |_| ())), "period");
    assert!(refused(engine.every(Duration::from_nanos(u64::MAX), |_| ())), "period u64::MAX ns");
    assert!(refused(engine.every(Duration::from_nanos(0xFFFF_FFFF_FFFF_FFF0), |_| ())), "period");
    assert!(refused(engine.periodic(MS, |_| ()).until(clock.now() + beyond).submit()), "end time");
    assert!(refused(engine.periodic(MS, |_| ()).first_delay(beyond).submit()), "first delay");
    assert_eq!(engine.stats().rejected.invalid_argument, 9);

    // At the bound itself: accepted, and a periodic task with the longest period is re-armed, never ended early.
    let far = engine.after(MAX_DELAY, |_| ()).unwrap();
    let longest = engine.periodic(MAX_DELAY, |_| ()).first_delay(Duration::ZERO).submit().unwrap();
    let half = engine.periodic(Duration::from_nanos(1 << 63 >> 1), |_| ()).first_delay(MS).submit().unwrap();
    clock.advance(MS);
    engine.wait_idle().unwrap();
    assert_eq!(longest.runs(), 1);
    assert_eq!(longest.state(), TaskState::Pending, "re-armed MAX_DELAY ahead, not ended after one run");
    assert_eq!(half.runs(), 1);
    assert_eq!(half.state(), TaskState::Pending);
    assert_eq!(far.state(), TaskState::Pending);
    assert_eq!(engine.stats().succeeded, 0);
}

// ---- 4, 5. Builder settings that panicked or were not checked ----

#[test]
fn a_thread_name_with_a_nul_byte_is_an_invalid_argument() {
    let built = Engine::builder().workers(1).thread_name("bad\0name").build(); // panicked before the fix
    assert!(matches!(built, Err(Error::InvalidArgument(m)) if m.contains("NUL")));
    assert!(Engine::builder().workers(1).thread_name("good name").build().is_ok());
}

#[test]
fn a_precise_spin_beyond_its_bound_is_refused() {
    for spin in [MAX_PRECISE_SPIN + NS, Duration::from_secs(5), Duration::MAX] {
        let built = Engine::builder().workers(1).precision(Precision::Precise { spin }).build();
        assert!(matches!(built, Err(Error::InvalidArgument(m)) if m.contains("spin")), "{spin:?}");
    }
    let engine = Engine::builder().workers(1).precision(Precision::Precise { spin: MAX_PRECISE_SPIN }).build();
    assert!(engine.is_ok());
}

// ---- 6. Many groups ----

#[test]
fn an_engine_with_a_hundred_thousand_groups_finds_each_one() {
    let (clock, mut builder) = (ManualClock::new(), Engine::builder().workers(1));
    builder = builder.clock(Clock::Manual(clock));
    for index in 0..100_000 {
        builder = builder.group(format!("tenant-{index}"), 1 + index % 3);
    }
    let engine = builder.build().unwrap();
    for name in ["tenant-0", "tenant-50000", "tenant-99999"] {
        assert_eq!(engine.task(|_| ()).group(name).submit().unwrap().wait().unwrap(), TaskState::Succeeded);
    }
    assert!(matches!(engine.task(|_| ()).group("tenant-100000").submit(), Err(Error::UnknownGroup(_))));
    let twice = Engine::builder().group("a", 1).group("b", 1).group("a", 2).build();
    assert!(matches!(twice, Err(Error::InvalidArgument(m)) if m.contains("twice")));
}

// ---- 7. A running task can end as cancelled ----

/// Spawns a task that runs until it sees its cancellation flag and then returns `ending`; returns its handle
/// once it has started.
fn running_until_cancelled<R: TaskResult + Send + 'static>(engine: &Engine, ending: R) -> TaskHandle {
    let (started_tx, started) = mpsc::channel();
    let handle = engine
        .spawn(move |ctx| {
            started_tx.send(()).unwrap();
            while !ctx.is_cancelled() {
                thread::yield_now();
            }
            ending
        })
        .unwrap();
    started.recv().unwrap();
    handle
}

#[test]
fn a_running_one_shot_that_sees_its_cancellation_ends_cancelled() {
    let engine = Engine::builder().workers(1).build().unwrap();
    let handle = running_until_cancelled(&engine, RunOutcome::Cancelled);
    assert_eq!(handle.cancel(), CancelOutcome::Signalled);
    assert_eq!(handle.wait().unwrap(), TaskState::Cancelled);
    let stats = engine.stats();
    assert_eq!((stats.cancelled, stats.succeeded, stats.failed, stats.failed_runs, stats.runs), (1, 0, 0, 0, 1));
    assert_eq!(handle.failure(), None);

    // Returning an error instead still fails it, as before.
    let handle = running_until_cancelled(&engine, Err::<(), _>("stopped"));
    handle.cancel();
    assert_eq!(handle.wait().unwrap(), TaskState::Failed);
}

#[test]
fn a_task_can_cancel_itself_and_a_periodic_one_then_runs_no_more() {
    let (engine, clock) = manual_engine();
    let periodic = engine
        .periodic(MS, |ctx| if ctx.run() == 3 { RunOutcome::Cancelled } else { RunOutcome::Done })
        .submit()
        .unwrap();
    for _ in 0..10 {
        clock.advance(MS);
        engine.wait_idle().unwrap();
    }
    assert_eq!(periodic.wait().unwrap(), TaskState::Cancelled);
    assert_eq!(periodic.runs(), 3);
    let one_shot = engine.spawn(|_| RunOutcome::Cancelled).unwrap();
    assert_eq!(one_shot.wait().unwrap(), TaskState::Cancelled);
    let failed: RunOutcome = Err::<(), _>("no").into();
    assert_eq!(engine.spawn(move |_| failed).unwrap().wait().unwrap(), TaskState::Failed);
    let stats = engine.stats();
    assert_eq!((stats.cancelled, stats.failed, stats.succeeded), (2, 1, 0));
}

// ---- 8. Refusals by reason ----

#[test]
fn refusals_are_counted_by_their_reason() {
    let clock = ManualClock::new();
    let engine = Engine::builder().workers(1).clock(Clock::Manual(clock.clone())).capacity(2).group("g", 1).build();
    let engine = engine.unwrap();
    let _held = engine.task(|_| ()).after(MS).key("k").submit().unwrap();
    assert!(matches!(engine.task(|_| ()).key("k").submit(), Err(Error::DuplicateKey { .. })));
    assert!(matches!(engine.task(|_| ()).group("nope").submit(), Err(Error::UnknownGroup(_))));
    assert!(matches!(engine.after(Duration::MAX, |_| ()), Err(Error::InvalidArgument(_))));
    assert!(matches!(engine.task(|_| ()).key("").submit(), Err(Error::InvalidArgument(_))));
    let _second = engine.after(MS, |_| ()).unwrap();
    assert!(matches!(engine.spawn(|_| ()), Err(Error::Full { .. })));
    let rejected = engine.stats().rejected;
    assert_eq!(
        (rejected.duplicate_key, rejected.unknown_group, rejected.invalid_argument, rejected.full),
        (1, 1, 2, 1)
    );
    assert_eq!((rejected.shut_down, rejected.timed_out, rejected.total()), (0, 0, 5));

    let blocking = Engine::builder().workers(1).clock(Clock::Manual(clock.clone())).capacity(1);
    let blocking = blocking.when_full(WhenFull::Block(MS)).build().unwrap();
    let _hold = blocking.after(Duration::from_secs(60), |_| ()).unwrap();
    let spawner = blocking.spawner();
    let waiter = thread::spawn(move || spawner.spawn(|_| ()).map(drop));
    while !waiter.is_finished() {
        clock.advance(MS);
        thread::yield_now();
    }
    assert!(matches!(waiter.join().unwrap(), Err(Error::Timeout)));
    blocking.shutdown(Shutdown::CancelPending).unwrap();
    assert!(matches!(blocking.spawn(|_| ()), Err(Error::ShutDown)));
    let rejected = blocking.stats().rejected;
    assert_eq!((rejected.timed_out, rejected.shut_down, rejected.total()), (1, 1, 2));
}

// ---- 9. A duplicate-key error tells the holder's state at the refusal ----

#[test]
fn a_duplicate_key_error_keeps_the_holders_state_as_it_was_when_refused() {
    let (engine, clock) = manual_engine();
    let holder = engine.task(|_| ()).after(MS).key("order-42").submit().unwrap();
    let error = engine.task(|_| ()).key("order-42").submit().unwrap_err();
    clock.advance(MS);
    assert_eq!(holder.wait().unwrap(), TaskState::Succeeded);
    // Printed after the holder ended: still the state it had when the submission was refused.
    let text = error.to_string();
    assert!(text.contains(&format!("held by task {} (pending)", holder.id())), "{text}");
    match error {
        Error::DuplicateKey { holder_state, existing, .. } => {
            assert_eq!(holder_state, TaskState::Pending);
            assert_eq!(engine.get(existing).unwrap().state(), TaskState::Succeeded, "the handle tells the state now");
        }
        other => panic!("{other:?}"),
    }
}

// ---- 10. Types that can grow, and what users print ----

#[test]
fn engines_and_spawners_print_and_a_spawn_error_keeps_its_io_error() {
    let engine = Engine::builder().workers(1).thread_name("billing").build().unwrap();
    let printed = format!("{engine:?} {:?}", engine.spawner());
    assert!(printed.contains("Engine") && printed.contains("Spawner") && printed.contains("billing"), "{printed}");

    let io = std::io::Error::new(std::io::ErrorKind::OutOfMemory, "no threads left");
    let error = Error::Spawn(Arc::new(io));
    let source = std::error::Error::source(&error).expect("the I/O error is the source");
    let io = source.downcast_ref::<std::io::Error>().expect("an io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::OutOfMemory);
    assert!(error.to_string().contains("thread"));
    assert!(std::error::Error::source(&Error::Timeout).is_none());
}

/// Counts the closures dropped, for checks that cancelled work is released.
#[derive(Clone, Default)]
struct Drops(Arc<AtomicUsize>);

impl Drops {
    fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }
}

struct DropToken(Arc<AtomicUsize>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_drop_inside_a_task_releases_every_closure() {
    returns("a drop inside a task, closures", || {
        let drops = Drops::default();
        let engine = Arc::new(Engine::builder().workers(2).build().unwrap());
        for _ in 0..10 {
            let token = drops.token();
            engine.after(Duration::from_secs(3600), move |_| drop(token)).unwrap();
        }
        let (engine_tx, engine_rx) = mpsc::channel::<Arc<Engine>>();
        let seen = Arc::new(Mutex::new(None));
        let (seen_in, token) = (seen.clone(), drops.token());
        let dropper = engine
            .spawn(move |_| {
                let _token = token;
                drop(engine_rx.recv().unwrap());
                *seen_in.lock().unwrap() = Some(());
            })
            .unwrap();
        engine_tx.send(engine).unwrap();
        assert_eq!(dropper.wait().unwrap(), TaskState::Succeeded);
        // Every pending closure was dropped by the cancel; the dropper's own by its worker, after its run.
        while drops.0.load(Ordering::SeqCst) < 11 {
            thread::yield_now();
        }
        assert_eq!(drops.0.load(Ordering::SeqCst), 11);
        assert!(seen.lock().unwrap().is_some());
    });
}
