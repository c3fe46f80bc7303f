//! The extremes: each gets a typed error or a documented behaviour, and the engine keeps working afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use taskwheel::wheel::Wheel;
use taskwheel::{Clock, Engine, Error, ManualClock, Shutdown, TaskState};

fn manual_engine(tick: Duration) -> (Engine, ManualClock) {
    let clock = ManualClock::new();
    let engine = Engine::builder().clock(Clock::Manual(clock.clone())).workers(2).tick(tick).build().unwrap();
    (engine, clock)
}

/// Counts drops of the closure that owns it.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The engine still runs a task end to end.
fn still_works(engine: &Engine) {
    assert_eq!(engine.spawn(|_| ()).unwrap().wait().unwrap(), TaskState::Succeeded);
}

#[test]
fn zero_and_maximal_durations_run_at_once_or_are_refused() {
    let (engine, _clock) = manual_engine(Duration::from_millis(1));
    assert_eq!(engine.after(Duration::ZERO, |_| ()).unwrap().wait().unwrap(), TaskState::Succeeded);
    assert!(matches!(engine.after(Duration::MAX, |_| ()), Err(Error::InvalidArgument(_))));
    assert!(matches!(engine.after(Duration::from_secs(u64::MAX / 2), |_| ()), Err(Error::InvalidArgument(_))));
    assert!(matches!(engine.every(Duration::MAX, |_| ()), Err(Error::InvalidArgument(_))));
    still_works(&engine);
}

#[test]
fn past_and_far_future_instants() {
    let (engine, clock) = manual_engine(Duration::from_millis(1));
    let past = clock.now().checked_sub(Duration::from_secs(1)).unwrap_or(clock.now());
    assert_eq!(engine.at(past, |_| ()).unwrap().wait().unwrap(), TaskState::Succeeded, "a past instant runs at once");
    assert_eq!(engine.at_system_time(SystemTime::UNIX_EPOCH, |_| ()).unwrap().wait().unwrap(), TaskState::Succeeded);
    // A century ahead: accepted (well inside 584 years), pending, cancellable.
    let far = engine.at(clock.now() + Duration::from_secs(100 * 365 * 86_400), |_| ()).unwrap();
    engine.wait_idle().unwrap();
    assert_eq!(far.state(), TaskState::Pending);
    let far_wall = engine.at_system_time(SystemTime::now() + Duration::from_secs(100 * 365 * 86_400), |_| ()).unwrap();
    clock.advance(Duration::from_secs(3600));
    engine.wait_idle().unwrap();
    assert_eq!(far_wall.state(), TaskState::Pending);
    far.cancel();
    far_wall.cancel();
    still_works(&engine);
}

#[test]
fn a_period_of_exactly_one_tick_runs_every_tick() {
    let (engine, clock) = manual_engine(Duration::from_micros(10));
    let handle = engine.periodic(Duration::from_micros(10), |_| ()).max_runs(50).submit().unwrap();
    for _ in 0..50 {
        clock.advance(Duration::from_micros(10));
        engine.wait_idle().unwrap();
    }
    assert_eq!(handle.wait().unwrap(), TaskState::Succeeded);
    assert_eq!(handle.runs(), 50);
}

#[test]
fn a_10us_tick_with_timers_hours_away_fires_them_exactly() {
    let (engine, clock) = manual_engine(Duration::from_micros(10));
    let three_hours = Duration::from_secs(3 * 3600);
    let handle = engine.after(three_hours, |_| ()).unwrap();
    let later = engine.after(three_hours * 4, |_| ()).unwrap(); // 2^40 ticks away: beyond the wheel's span
    clock.advance(three_hours - Duration::from_nanos(1));
    engine.wait_idle().unwrap();
    assert_eq!(handle.state(), TaskState::Pending);
    clock.advance(Duration::from_nanos(1));
    engine.wait_idle().unwrap();
    assert_eq!(handle.state(), TaskState::Succeeded);
    clock.advance(three_hours * 3);
    engine.wait_idle().unwrap();
    assert_eq!(later.state(), TaskState::Succeeded);
    assert_eq!(engine.stats().lateness.max, Duration::ZERO);
}

#[test]
fn ten_million_pending_timers_all_fire_in_order() {
    let count: u64 = std::env::var("TASKWHEEL_EXTREME_TIMERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let mut wheel = Wheel::with_capacity(count as usize);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for id in 0..count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        wheel.insert(1 + state % (1 << 30), id);
    }
    assert_eq!(wheel.len() as u64, count);
    wheel.advance(1 << 30).unwrap();
    let (mut fired, mut last) = (0u64, 0u64);
    while let Some(timer) = wheel.pop_expired() {
        assert!(timer.deadline >= last, "out of order");
        last = timer.deadline;
        fired += 1;
    }
    assert_eq!(fired, count);
    assert!(wheel.is_empty());
}

#[test]
fn a_task_that_never_returns_is_reported_by_a_drain_shutdown() {
    let (engine, clock) = manual_engine(Duration::from_millis(1));
    let (release, stuck) = mpsc::channel::<()>();
    let stuck = Arc::new(Mutex::new(stuck));
    let (started_tx, started) = mpsc::channel();
    let closure_drops = Arc::new(AtomicUsize::new(0));
    let token = DropCount(closure_drops.clone());
    let hung = engine
        .spawn(move |_| {
            let _keep = &token;
            started_tx.send(()).unwrap();
            let _ = stuck.lock().unwrap().recv(); // returns only when the test lets it
        })
        .unwrap();
    started.recv().unwrap();
    let spawner = engine.spawner();
    let mover = thread::spawn(move || {
        while spawner.spawn(|_| ()).is_ok() {
            thread::yield_now();
        }
        clock.advance(Duration::from_secs(2));
    });
    let report = engine.shutdown(Shutdown::Drain { timeout: Duration::from_secs(1) }).unwrap();
    mover.join().unwrap();
    assert_eq!(report.still_running, 1, "the hung task is reported, and shutdown returned");
    assert_eq!(hung.state(), TaskState::Running);
    assert!(matches!(engine.spawn(|_| ()), Err(Error::ShutDown)));
    // Regression (found by the ffi_calls fuzz target): dropping the engine after a drain timed out returned while
    // the task still ran, so its closure (a C task's free_user_data) was dropped after `tw_engine_free`.
    let dropper = thread::spawn(move || {
        drop(engine);
        closure_drops.load(Ordering::SeqCst)
    });
    thread::sleep(Duration::from_millis(5));
    assert!(!dropper.is_finished(), "the drop waits for the running task");
    release.send(()).unwrap();
    assert_eq!(dropper.join().unwrap(), 1, "when the drop returns, the closure has been dropped");
    assert_eq!(hung.wait().unwrap(), TaskState::Succeeded, "it still ends in exactly one terminal state");
}

#[test]
fn a_task_panicking_with_a_non_string_payload_fails_and_the_engine_goes_on() {
    let (engine, _clock) = manual_engine(Duration::from_millis(1));
    let handle = engine.spawn(|_| -> () { std::panic::panic_any(vec![1u8, 2, 3]) }).unwrap();
    assert_eq!(handle.wait().unwrap(), TaskState::Failed);
    assert_eq!(handle.failure().as_deref(), Some("panicked with a non-string payload"));
    still_works(&engine);
}

#[test]
fn a_full_engine_refuses_then_recovers() {
    let (engine, _clock) = {
        let clock = ManualClock::new();
        (Engine::builder().clock(Clock::Manual(clock.clone())).capacity(3).build().unwrap(), clock)
    };
    let held: Vec<_> = (0..3).map(|_| engine.after(Duration::from_secs(1), |_| ()).unwrap()).collect();
    for _ in 0..100 {
        assert!(matches!(engine.spawn(|_| ()), Err(Error::Full { capacity: 3 })));
    }
    held.iter().for_each(|h| {
        h.cancel();
    });
    still_works(&engine);
    assert_eq!(engine.stats().rejected.full, 100);
    assert_eq!(engine.stats().rejected.total(), 100);
}
