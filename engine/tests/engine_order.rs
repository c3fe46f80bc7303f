//! The order promise: within a priority, due tasks reach the run queue in exact-deadline order, ties in
//! submission order, whatever the tick and however deadlines fall across tick boundaries. With one worker the run
//! queue's order is the order the tasks run in, which each task records. All on the manual clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use taskwheel::{Clock, Engine, ManualClock};

fn one_worker(tick: Duration) -> (Engine, ManualClock) {
    let clock = ManualClock::new();
    let engine = Engine::builder().workers(1).tick(tick).clock(Clock::Manual(clock.clone())).build().unwrap();
    (engine, clock)
}

/// Submits a task that appends `label` to `order` when it runs, due `delay` after now.
fn submit(engine: &Engine, order: &Arc<Mutex<Vec<u32>>>, label: u32, delay: Duration) {
    let order = order.clone();
    engine.after(delay, move |_| order.lock().unwrap().push(label)).unwrap();
}

#[test]
fn a_later_deadline_submitted_first_runs_second() {
    // The case: B due at base + 2g submitted before A due at base + g, for gaps inside one tick, across a
    // tick boundary and several ticks apart; the clock then jumps past both at once, or moves to each in turn.
    let tick = Duration::from_millis(1);
    for gap_us in [1, 100, 499, 500, 999, 1_000, 1_001, 3_000, 70_000] {
        for base_us in [0, 1, 250, 999, 1_000, 5_432] {
            for jump in [false, true] {
                let (engine, clock) = one_worker(tick);
                let order = Arc::new(Mutex::new(Vec::new()));
                let (base, gap) = (Duration::from_micros(base_us + 1), Duration::from_micros(gap_us));
                submit(&engine, &order, 2, base + 2 * gap);
                submit(&engine, &order, 1, base + gap);
                if jump {
                    clock.advance(base + 3 * gap);
                } else {
                    clock.advance(base + gap);
                    engine.wait_idle().unwrap();
                    clock.advance(gap);
                }
                engine.wait_idle().unwrap();
                assert_eq!(*order.lock().unwrap(), [1, 2], "gap {gap_us} µs, base {base_us} µs, jump {jump}");
            }
        }
    }
}

#[test]
fn tasks_with_the_same_deadline_run_in_submission_order() {
    // libuv's test-timer.c "timer_order": equal timeouts run in the order they were started.
    let (engine, clock) = one_worker(Duration::from_micros(100));
    let order = Arc::new(Mutex::new(Vec::new()));
    for label in 0..50 {
        submit(&engine, &order, label, Duration::from_micros(1_234));
    }
    clock.advance(Duration::from_millis(2));
    engine.wait_idle().unwrap();
    assert_eq!(*order.lock().unwrap(), (0..50).collect::<Vec<_>>());
}

#[derive(Clone, Debug)]
enum Step {
    /// Submit a task due this many ticks and nanoseconds from now.
    Submit { ticks: u64, ns: u64 },
    /// Move the clock by this many ticks and nanoseconds, then let the engine catch up.
    Advance { ticks: u64, ns: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..6u64, 0..1_000_000u64).prop_map(|(ticks, ns)| Step::Submit { ticks, ns }),
        1 => Just(Step::Submit { ticks: 0, ns: 0 }),
        2 => (0..4u64, 0..1_000_000u64).prop_map(|(ticks, ns)| Step::Advance { ticks, ns }),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Random deadlines across ticks and random submit times, checked against a reference: at each clock move,
    /// the tasks that fell due run sorted by (deadline, submission); a task due at once runs at once.
    #[test]
    fn due_tasks_run_in_deadline_order_ties_in_submission_order(
        tick_us in prop_oneof![Just(10u64), Just(100), Just(1_000)],
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let tick = Duration::from_micros(tick_us);
        let (engine, clock) = one_worker(tick);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (mut now, mut pending, mut expected) = (0u64, Vec::<(u64, u32)>::new(), Vec::new());
        let scale = |ticks: u64, ns: u64| ticks * tick_us * 1_000 + ns % (tick_us * 1_000);
        for (label, step) in (0u32..).zip(&steps) {
            match *step {
                Step::Submit { ticks, ns } => {
                    let delay = scale(ticks, ns);
                    submit(&engine, &order, label, Duration::from_nanos(delay));
                    if delay == 0 {
                        expected.push(label); // due at once: nothing else is due (the engine caught up)
                    } else {
                        pending.push((now + delay, label));
                    }
                }
                Step::Advance { ticks, ns } => {
                    let by = scale(ticks, ns);
                    now += by;
                    clock.advance(Duration::from_nanos(by));
                    engine.wait_idle().unwrap();
                    let mut due: Vec<_> = pending.iter().copied().filter(|&(deadline, _)| deadline <= now).collect();
                    due.sort(); // by deadline, then label: labels grow with submission
                    pending.retain(|&(deadline, _)| deadline > now);
                    expected.extend(due.into_iter().map(|(_, label)| label));
                }
            }
        }
        engine.wait_idle().unwrap(); // the tasks due at once after the last move
        let ran = order.lock().unwrap().clone();
        prop_assert_eq!(ran, expected);
    }
}
