//! Arbitrary submissions (every kind, extreme durations, keys, groups, priorities), cancels, waits, clock moves and
//! shutdowns on an engine with a manual clock. At the end: counts reconcile, no task ran twice, every handle is
//! terminal after shutdown, and every closure was dropped exactly once.
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use taskwheel::{Clock, Engine, Error, ManualClock, Misfire, Priority, Shutdown, TaskHandle, TaskState};

#[derive(Arbitrary, Debug)]
enum When {
    Now,
    AfterMs(u16),
    AfterNanos(u64),
    Max,
    AtOffsetMs(i16),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Submit {
        when: When,
        periodic: Option<(u16, u8, bool, bool, bool)>,
        key: Option<u8>,
        group: Option<u8>,
        priority: u8,
        fail: bool,
        panic: bool,
    },
    Cancel(u16),
    CancelId(u64),
    Advance(u16),
    AdvanceHuge,
    WaitIdle,
    WaitTimeout(u16),
    Stats,
}

#[derive(Arbitrary, Debug)]
struct Input {
    workers: u8,
    tick_us: u16,
    capacity: u16,
    ops: Vec<Op>,
    drain: Option<u16>,
}

struct Counted {
    drops: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// libFuzzer's panic hook aborts on every panic, but a panic inside a task is the engine's to catch (the task
/// fails and the worker lives on): let panics on worker threads through, abort on every other.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_worker = std::thread::current().name().is_some_and(|name| name.starts_with("taskwheel-worker"));
            if !on_worker {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|input: Input| {
    install_panic_hook();
    let clock = ManualClock::new();
    let tick = Duration::from_micros(u64::from(input.tick_us % 2_000).max(10));
    let built = Engine::builder()
        .clock(Clock::Manual(clock.clone()))
        .workers(usize::from(input.workers % 3) + 1)
        .tick(tick)
        .capacity(usize::from(input.capacity % 64) + 1)
        .group("g", 1)
        .build();
    let engine = match built {
        Ok(engine) => engine,
        Err(e) => panic!("valid settings refused: {e}"),
    };
    let drops = Arc::new(AtomicUsize::new(0));
    let mut made = 0usize;
    let mut handles: Vec<(TaskHandle, Arc<AtomicUsize>, bool)> = Vec::new();
    for op in input.ops.into_iter().take(64) {
        match op {
            Op::Submit { when, periodic, key, group, priority, fail, panic } => {
                let runs = Arc::new(AtomicUsize::new(0));
                let token = Counted { drops: drops.clone() };
                made += 1;
                let runs_in_task = runs.clone();
                let priority = [Priority::High, Priority::Normal, Priority::Low][usize::from(priority % 3)];
                let key = key.map(|k| if k % 5 == 0 { String::new() } else { format!("k{}", k % 4) });
                let group = group.map(|g| if g % 3 == 0 { "nope".to_string() } else { "g".to_string() });
                let result = match periodic {
                    None => {
                        let mut b = engine
                            .task(move |_| -> Result<(), String> {
                                let _keep = &token;
                                runs_in_task.fetch_add(1, Ordering::SeqCst);
                                if panic {
                                    std::panic::panic_any(1u8);
                                }
                                if fail { Err("failed".into()) } else { Ok(()) }
                            })
                            .priority(priority);
                        b = match when {
                            When::Now => b,
                            When::AfterMs(ms) => b.after(Duration::from_millis(u64::from(ms))),
                            When::AfterNanos(ns) => b.after(Duration::from_nanos(ns)),
                            When::Max => b.after(Duration::MAX),
                            When::AtOffsetMs(ms) => {
                                let now = engine.now();
                                let at = if ms >= 0 {
                                    now + Duration::from_millis(ms as u64)
                                } else {
                                    now.checked_sub(Duration::from_millis(ms.unsigned_abs() as u64)).unwrap_or(now)
                                };
                                b.at(at)
                            }
                        };
                        if let Some(key) = key {
                            b = b.key(key);
                        }
                        if let Some(group) = group {
                            b = b.group(group);
                        }
                        b.submit()
                    }
                    Some((period_us, max_runs, fixed_delay, catch_up, stop_on_failure)) => {
                        let mut b = engine
                            .periodic(Duration::from_micros(u64::from(period_us)), move |_| -> Result<(), String> {
                                let _keep = &token;
                                runs_in_task.fetch_add(1, Ordering::SeqCst);
                                if fail { Err("failed".into()) } else { Ok(()) }
                            })
                            .priority(priority)
                            .max_runs(u64::from(max_runs % 5));
                        if fixed_delay {
                            b = b.fixed_delay();
                        }
                        if catch_up {
                            b = b.misfire(Misfire::RunEach { max: 2 }).jitter(Duration::from_micros(50));
                        }
                        if stop_on_failure {
                            b = b.stop_on_failure();
                        }
                        if let When::AfterMs(ms) = when {
                            b = b.first_delay(Duration::from_millis(u64::from(ms)));
                        }
                        if let Some(key) = key {
                            b = b.key(key);
                        }
                        if let Some(group) = group {
                            b = b.group(group);
                        }
                        b.submit()
                    }
                };
                match result {
                    Ok(handle) => handles.push((handle, runs, periodic.is_some())),
                    // The holder was live when the key was checked; it may have ended since.
                    Err(Error::DuplicateKey { existing, .. }) => assert_ne!(existing, 0),
                    Err(_) => {}
                }
            }
            Op::Cancel(pick) if !handles.is_empty() => {
                let (handle, _, _) = &handles[usize::from(pick) % handles.len()];
                handle.cancel();
            }
            Op::Cancel(_) => {}
            Op::CancelId(id) => {
                let _ = engine.cancel(id);
            }
            Op::Advance(ms) => {
                clock.advance(Duration::from_millis(u64::from(ms % 100)));
                engine.wait_idle().unwrap();
            }
            Op::AdvanceHuge => {
                clock.advance(Duration::from_secs(1 << 40));
                engine.wait_idle().unwrap();
            }
            Op::WaitIdle => engine.wait_idle().unwrap(),
            Op::WaitTimeout(pick) if !handles.is_empty() => {
                let (handle, _, _) = &handles[usize::from(pick) % handles.len()];
                // On a manual clock a zero timeout is checked at once and never blocks on time.
                let _ = handle.wait_timeout(Duration::ZERO);
            }
            Op::WaitTimeout(_) => {}
            Op::Stats => {
                let stats = engine.stats();
                assert!(stats.succeeded + stats.failed + stats.cancelled <= stats.submitted);
            }
        }
    }
    let report = match input.drain {
        Some(_) => {
            // A zero-timeout drain does not wait for runs in progress: let them finish first.
            engine.wait_idle().unwrap();
            engine.shutdown(Shutdown::Drain { timeout: Duration::ZERO }).unwrap()
        }
        None => engine.shutdown(Shutdown::CancelPending).unwrap(),
    };
    assert_eq!(report.still_running, 0);
    let stats = engine.stats();
    assert_eq!(stats.succeeded + stats.failed + stats.cancelled, stats.submitted, "{stats:?}");
    assert_eq!(stats.pending + stats.running, 0);
    for (handle, runs, periodic) in &handles {
        let state = handle.state();
        assert!(state.is_terminal(), "task {} is {state} after shutdown", handle.id());
        assert!(handle.is_finished());
        let runs = runs.load(Ordering::SeqCst);
        if !periodic {
            assert!(runs <= 1, "one-shot task ran {runs} times");
            match state {
                TaskState::Cancelled => assert_eq!(runs, 0),
                _ => assert_eq!(runs, 1),
            }
        }
    }
    drop(engine);
    assert_eq!(drops.load(Ordering::SeqCst), made, "every closure dropped exactly once");
});
