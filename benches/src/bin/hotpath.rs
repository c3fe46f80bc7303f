//! The engine's hot path beside its two baselines, in one run (issue 12): `cargo run --release -p
//! taskwheel-benches --bin hotpath`.
//!
//! - **raw pool**: the same closures, boxed, on a crossbeam channel drained by as many std threads as the engine
//!   has workers — the floor of "a closure on a channel";
//! - **tokio**: a multi-thread runtime with as many workers, `spawn` from outside the runtime, and `spawn` of
//!   `sleep(1 ms)` then the work for delayed tasks.
//!
//! Cases: immediate and 1 ms delayed; 1, 2 and 4 submitting threads; fire-and-forget, and every handle kept and
//! waited on; 0, 8, 64 and 256 threads idle in a wait for a task an hour away; immediate and delayed with 1,000,000
//! tasks pending an hour out behind them (the engine's own, and as many sleeping tokio tasks). Every case runs `ROUNDS` rounds of
//! `TASKS` tasks with the systems interleaved within each round; the table gives medians: throughput (tasks per
//! second of wall time, from the first submission to the last task's end) and CPU per task (user + system time of
//! the whole process over the round, from `getrusage`, divided by the tasks). A fire-and-forget round ends when the
//! last task's closure signals a channel (no spinning thread takes a core from the workers). Two floors are
//! measured in the same run: a monotonic clock read (`Instant::now`) and a futex wake of a parked thread.
//!
//! `TASKWHEEL_BENCH_QUICK=1` runs small rounds (a smoke test: figures meaningless); `TASKWHEEL_HOTPATH_CASES=text`
//! keeps the cases whose label contains `text`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use taskwheel::Engine;
use taskwheel_benches::{Countdown, IdleWaiters, RawPool, Round, clock_read_floor, measure, median, quick};

const WORKERS: usize = 2;

/// Splits `tasks` among `submitters` threads and runs `submit(count)` on each.
fn submit_from(submitters: usize, tasks: usize, submit: impl Fn(usize) + Sync) {
    std::thread::scope(|scope| {
        for index in 0..submitters {
            let share = tasks / submitters + usize::from(index < tasks % submitters);
            let submit = &submit;
            scope.spawn(move || submit(share));
        }
    });
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(WORKERS).enable_time().build().expect("tokio runtime")
}

/// Threads idle in a wait for a task an hour away, on the raw pool (a channel receive that never gets a message)
/// or on tokio (`block_on` of a task sleeping an hour).
enum OtherWaiters {
    Raw { sender: Option<crossbeam_channel::Sender<()>>, threads: Vec<std::thread::JoinHandle<()>> },
    Tokio { handles: Vec<tokio::task::AbortHandle>, threads: Vec<std::thread::JoinHandle<()>> },
}

impl OtherWaiters {
    fn raw(count: usize) -> OtherWaiters {
        let (sender, receiver) = crossbeam_channel::unbounded::<()>();
        let threads = (0..count)
            .map(|_| {
                let receiver = receiver.clone();
                std::thread::spawn(move || {
                    let _ = receiver.recv();
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        OtherWaiters::Raw { sender: Some(sender), threads }
    }

    fn tokio(runtime: &tokio::runtime::Runtime, count: usize) -> OtherWaiters {
        let mut handles = Vec::new();
        let threads = (0..count)
            .map(|_| {
                let task = runtime.spawn(async { tokio::time::sleep(Duration::from_secs(3600)).await });
                handles.push(task.abort_handle());
                let handle = runtime.handle().clone();
                std::thread::spawn(move || drop(handle.block_on(task)))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        OtherWaiters::Tokio { handles, threads }
    }
}

impl Drop for OtherWaiters {
    fn drop(&mut self) {
        match self {
            OtherWaiters::Raw { sender, threads } => {
                sender.take(); // the receivers wake with an error
                threads.drain(..).for_each(|thread| drop(thread.join()));
            }
            OtherWaiters::Tokio { handles, threads } => {
                handles.iter().for_each(tokio::task::AbortHandle::abort);
                threads.drain(..).for_each(|thread| drop(thread.join()));
            }
        }
    }
}

/// The systems of one case.
#[derive(Copy, Clone, PartialEq, Eq)]
enum System {
    Taskwheel,
    RawPool,
    Tokio,
}

/// What is measured in a case.
#[derive(Copy, Clone)]
struct Case {
    delayed: bool,
    submitters: usize,
    kept: bool,
    idle_waiters: usize,
    /// Tasks pending an hour out behind the measured ones (issue 24): the engine's, and tokio's sleeping tasks;
    /// the raw pool has no timers to hold.
    pending: usize,
}

impl Case {
    fn label(self) -> String {
        let mut label = format!(
            "{}, {} submitter{}",
            if self.delayed { "1 ms delayed" } else { "immediate" },
            self.submitters,
            if self.submitters == 1 { "" } else { "s" }
        );
        if self.kept {
            label.push_str(", every handle kept and waited on");
        }
        if self.idle_waiters > 0 {
            label.push_str(&format!(", {} idle waiters", self.idle_waiters));
        }
        if self.pending > 0 {
            label.push_str(&format!(", {} pending an hour out", self.pending));
        }
        label
    }
}

/// The systems a case set up: the engine (or pool, or runtime) and its idle waiters, kept across rounds.
struct Setup {
    engine: Option<(Engine, IdleWaiters)>,
    pool: Option<(RawPool, OtherWaiters)>,
    runtime: Option<(tokio::runtime::Runtime, OtherWaiters)>,
}

impl Setup {
    fn new(systems: &[System], case: Case, tasks: usize) -> Setup {
        let engine = systems.contains(&System::Taskwheel).then(|| {
            let capacity = tasks + case.idle_waiters + case.pending + 1;
            let engine = Engine::builder().workers(WORKERS).capacity(capacity).build().expect("engine");
            for _ in 0..case.pending {
                engine.after(Duration::from_secs(3600), |_| ()).expect("pending task");
            }
            let waiters = IdleWaiters::start(&engine, case.idle_waiters);
            (engine, waiters)
        });
        let pool =
            systems.contains(&System::RawPool).then(|| (RawPool::new(WORKERS), OtherWaiters::raw(case.idle_waiters)));
        let runtime = systems.contains(&System::Tokio).then(|| {
            let runtime = tokio_runtime();
            for _ in 0..case.pending {
                runtime.spawn(async { tokio::time::sleep(Duration::from_secs(3600)).await });
            }
            let waiters = OtherWaiters::tokio(&runtime, case.idle_waiters);
            (runtime, waiters)
        });
        Setup { engine, pool, runtime }
    }

    fn round(&self, system: System, case: Case, tasks: usize) -> Round {
        let delay = Duration::from_millis(1);
        match system {
            System::Taskwheel => {
                let (engine, _) = self.engine.as_ref().expect("set up");
                if case.kept {
                    return measure(|| {
                        let handles: Vec<_> = (0..tasks)
                            .map(|_| {
                                if case.delayed { engine.after(delay, |_| ()) } else { engine.spawn(|_| ()) }
                                    .expect("capacity is ample")
                            })
                            .collect();
                        for handle in &handles {
                            handle.wait().expect("waits");
                        }
                    });
                }
                let (countdown, last) = Countdown::new(tasks);
                measure(|| {
                    submit_from(case.submitters, tasks, |share| {
                        for _ in 0..share {
                            let countdown = countdown.clone();
                            let task = move |_: &taskwheel::TaskContext<'_>| countdown.tick();
                            if case.delayed { engine.after(delay, task) } else { engine.spawn(task) }
                                .expect("capacity is ample");
                        }
                    });
                    last.recv().expect("the last task signals");
                })
            }
            System::RawPool => {
                let (pool, _) = self.pool.as_ref().expect("set up");
                if case.kept {
                    return measure(|| {
                        let receivers: Vec<_> = (0..tasks)
                            .map(|_| {
                                let (done, receiver) = crossbeam_channel::bounded(1);
                                pool.send(move || {
                                    let _ = done.send(());
                                });
                                receiver
                            })
                            .collect();
                        receivers.iter().for_each(|receiver| receiver.recv().expect("each job signals"));
                    });
                }
                let (countdown, last) = Countdown::new(tasks);
                measure(|| {
                    submit_from(case.submitters, tasks, |share| {
                        for _ in 0..share {
                            let countdown = countdown.clone();
                            pool.send(move || countdown.tick());
                        }
                    });
                    last.recv().expect("the last task signals");
                })
            }
            System::Tokio => {
                let (runtime, _) = self.runtime.as_ref().expect("set up");
                if case.kept {
                    return measure(|| {
                        let handles: Vec<_> = (0..tasks)
                            .map(|_| {
                                runtime.spawn(async move {
                                    if case.delayed {
                                        tokio::time::sleep(delay).await;
                                    }
                                })
                            })
                            .collect();
                        for handle in handles {
                            runtime.block_on(handle).expect("joins");
                        }
                    });
                }
                let (countdown, last) = Countdown::new(tasks);
                measure(|| {
                    submit_from(case.submitters, tasks, |share| {
                        for _ in 0..share {
                            let countdown = countdown.clone();
                            runtime.spawn(async move {
                                if case.delayed {
                                    tokio::time::sleep(delay).await;
                                }
                                countdown.tick();
                            });
                        }
                    });
                    last.recv().expect("the last task signals");
                })
            }
        }
    }
}

/// Median throughput (M tasks/s) and CPU per task (ns) of a system's rounds.
fn summary(rounds: &[Round], tasks: usize) -> (f64, f64) {
    let throughput = median(rounds.iter().map(|r| tasks as f64 / r.wall.as_secs_f64() / 1e6).collect());
    let cpu = median(rounds.iter().map(|r| r.cpu.as_nanos() as f64 / tasks as f64).collect());
    (throughput, cpu)
}

/// The round trip of waking a parked thread and being woken back by it (`thread::unpark` then `park`: two futex
/// wakes), median of 9 runs of 10,000.
fn futex_wake_floor() -> f64 {
    use std::sync::atomic::AtomicBool;
    median(
        (0..9)
            .map(|_| {
                let turn = Arc::new(AtomicBool::new(false)); // true: the echo thread's turn
                let main = std::thread::current();
                let echo = {
                    let turn = turn.clone();
                    std::thread::spawn(move || {
                        for _ in 0..10_000 {
                            while !turn.load(Ordering::Acquire) {
                                std::thread::park();
                            }
                            turn.store(false, Ordering::Release);
                            main.unpark();
                        }
                    })
                };
                let start = Instant::now();
                for _ in 0..10_000 {
                    turn.store(true, Ordering::Release);
                    echo.thread().unpark();
                    while turn.load(Ordering::Acquire) {
                        std::thread::park();
                    }
                }
                let each = start.elapsed().as_nanos() as f64 / 10_000.0;
                echo.join().expect("echo thread");
                each
            })
            .collect(),
    )
}

fn main() {
    let quick = quick();
    let (tasks, rounds) = if quick { (2_000, 3) } else { (100_000, 7) };
    let mut cases = Vec::new();
    for delayed in [false, true] {
        for submitters in [1, 2, 4] {
            cases.push(Case { delayed, submitters, kept: false, idle_waiters: 0, pending: 0 });
        }
        cases.push(Case { delayed, submitters: 1, kept: true, idle_waiters: 0, pending: 0 });
    }
    for idle_waiters in [8, 64, 256] {
        cases.push(Case { delayed: false, submitters: 1, kept: false, idle_waiters, pending: 0 });
    }
    // Issue 24: the same work with a million tasks armed an hour out behind it.
    let pending = if quick { 10_000 } else { 1_000_000 };
    for delayed in [false, true] {
        cases.push(Case { delayed, submitters: 1, kept: false, idle_waiters: 0, pending });
    }
    println!(
        "# hotpath: {WORKERS} workers everywhere; {rounds} rounds of {tasks} tasks per case, systems interleaved; \
         medians"
    );
    println!();
    println!(
        "Floors, same run: a monotonic clock read {:.0} ns; a futex wake round trip (wake a parked thread, be woken \
         back) {:.0} ns.",
        clock_read_floor(),
        futex_wake_floor()
    );
    println!();
    println!(
        "| case | taskwheel | raw pool | tokio | taskwheel / raw pool | taskwheel / tokio | CPU per task: taskwheel \
         / raw pool / tokio |"
    );
    println!("|---|---|---|---|---|---|---|");
    // `TASKWHEEL_HOTPATH_CASES=immediate` keeps only the cases whose label contains the text (for trying a change).
    let only = std::env::var("TASKWHEEL_HOTPATH_CASES").ok();
    for case in cases.into_iter().filter(|case| only.as_ref().is_none_or(|text| case.label().contains(text.as_str()))) {
        let systems: &[System] = if case.delayed {
            &[System::Taskwheel, System::Tokio]
        } else {
            &[System::Taskwheel, System::RawPool, System::Tokio]
        };
        let setup = Setup::new(systems, case, tasks);
        let mut measured: Vec<Vec<Round>> = vec![Vec::new(); systems.len()];
        for round in 0..rounds {
            for offset in 0..systems.len() {
                // Rotate who goes first, so that no system always follows the same one.
                let index = (round + offset) % systems.len();
                measured[index].push(setup.round(systems[index], case, tasks));
            }
        }
        drop(setup);
        let figures: Vec<(System, (f64, f64))> =
            systems.iter().zip(&measured).map(|(&system, rounds)| (system, summary(rounds, tasks))).collect();
        let of = |system: System| figures.iter().find(|(s, _)| *s == system).map(|(_, figure)| *figure);
        let (tw, tw_cpu) = of(System::Taskwheel).expect("taskwheel is in every case");
        let cell = |figure: Option<(f64, f64)>| figure.map_or("—".to_string(), |(t, _)| format!("{t:.2} M/s"));
        let ratio = |figure: Option<(f64, f64)>| figure.map_or("—".to_string(), |(t, _)| format!("{:.2}×", tw / t));
        let cpu = |figure: Option<(f64, f64)>| figure.map_or("—".to_string(), |(_, c)| format!("{c:.0}"));
        println!(
            "| {} | {tw:.2} M/s | {} | {} | {} | {} | {tw_cpu:.0} / {} / {} ns |",
            case.label(),
            cell(of(System::RawPool)),
            cell(of(System::Tokio)),
            ratio(of(System::RawPool)),
            ratio(of(System::Tokio)),
            cpu(of(System::RawPool)),
            cpu(of(System::Tokio)),
        );
    }
}
