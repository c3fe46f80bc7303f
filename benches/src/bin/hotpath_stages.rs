//! The immediate hot path split into its two stages, each timed alone, beside the raw pool's (issue 24): what a
//! submission costs the submitting thread, and what running a queued task costs the workers.
//!
//! Each round holds both workers (the engine's, or the raw pool's threads) in a gate task, submits `TASKS`
//! immediate tasks from one thread while nothing runs them (the **submit** stage: the process's CPU time over the
//! submissions, all of it the submitter's), then opens the gate and waits for the last task to end (the **drain**
//! stage: the process's CPU time until then, all of it the workers'). Both systems run the same closure (a countdown
//! tick). Concurrent rounds, where the stages overlap and contend, are `--bin hotpath`'s; this is where their CPU
//! per task goes. A monotonic clock read is measured in the same run (the engine reads the clock once per stage and
//! task: the submission's deadline, the run's start).
//!
//! `cargo run --release -p taskwheel-benches --bin hotpath_stages`; `TASKWHEEL_STAGES_TASKS=n` sets the tasks per
//! round (default 200,000; `TASKWHEEL_BENCH_QUICK=1`: 2,000, a smoke run). Medians of 7 rounds, the systems
//! alternating. Reports; never fails on a figure.

use taskwheel::Engine;
use taskwheel_benches::{Countdown, RawPool, Round, clock_read_floor, measure, median, quick};

const WORKERS: usize = 2;

/// The two systems.
#[derive(Clone, Copy, PartialEq)]
enum System {
    Taskwheel,
    RawPool,
}

/// Holds every worker of a system until dropped.
struct Gate {
    open: crossbeam_channel::Sender<()>,
}

impl Gate {
    /// Starts one gate task per worker and returns once all of them are running.
    fn hold(workers: usize, start: impl Fn(Box<dyn FnOnce() + Send>)) -> Gate {
        let (open, opened) = crossbeam_channel::bounded::<()>(0);
        let (held, holding) = crossbeam_channel::bounded::<()>(workers);
        for _ in 0..workers {
            let (opened, held) = (opened.clone(), held.clone());
            start(Box::new(move || {
                held.send(()).expect("the round waits for every worker");
                let _ = opened.recv(); // an error is the gate opening: its sender dropped
            }));
        }
        for _ in 0..workers {
            holding.recv().expect("a worker reached the gate");
        }
        Gate { open }
    }

    /// Lets every held worker go.
    fn open(self) {
        drop(self.open); // the gate tasks' receive fails: they return
    }
}

/// One round: (submit stage, drain stage).
fn round(system: System, engine: &Engine, pool: &RawPool, tasks: usize) -> (Round, Round) {
    let gate = match system {
        System::Taskwheel => Gate::hold(WORKERS, |gate| {
            engine.spawn(move |_| gate()).expect("capacity is ample");
        }),
        System::RawPool => Gate::hold(WORKERS, |gate| pool.send(gate)),
    };
    let (countdown, last) = Countdown::new(tasks);
    let submit = measure(|| {
        for _ in 0..tasks {
            let countdown = countdown.clone();
            match system {
                System::Taskwheel => {
                    engine.spawn(move |_| countdown.tick()).expect("capacity is ample");
                }
                System::RawPool => pool.send(move || countdown.tick()),
            }
        }
    });
    let drain = measure(|| {
        gate.open();
        last.recv().expect("the last task signals");
    });
    if system == System::Taskwheel {
        engine.wait_idle().expect("waits from outside the engine"); // the gate tasks' and the drained tasks' bookkeeping, before the next round
    }
    (submit, drain)
}

fn main() {
    let tasks = std::env::var("TASKWHEEL_STAGES_TASKS").ok().and_then(|n| n.parse().ok()).unwrap_or(if quick() {
        2_000
    } else {
        200_000
    });
    let rounds = if quick() { 2 } else { 7 };
    let engine = Engine::builder().workers(WORKERS).capacity(tasks + 2 * WORKERS).build().expect("an engine");
    let pool = RawPool::new(WORKERS);
    let mut cpu: [[Vec<f64>; 2]; 2] = Default::default(); // [system][stage]
    for _ in 0..rounds {
        for (at, system) in [System::Taskwheel, System::RawPool].into_iter().enumerate() {
            let (submit, drain) = round(system, &engine, &pool, tasks);
            cpu[at][0].push(submit.cpu.as_nanos() as f64 / tasks as f64);
            cpu[at][1].push(drain.cpu.as_nanos() as f64 / tasks as f64);
        }
    }
    let [[submit, drain], [raw_submit, raw_drain]] = cpu.map(|stages| stages.map(median));
    println!(
        "## The immediate hot path by stage ({tasks} tasks a round, {WORKERS} workers, medians of {rounds} rounds; \
         CPU ns per task)\n"
    );
    println!("| stage | taskwheel | raw pool | taskwheel / raw pool |");
    println!("|---|---|---|---|");
    for (stage, ours, raw) in
        [("submit (the submitting thread)", submit, raw_submit), ("drain (the workers)", drain, raw_drain)]
    {
        println!("| {stage} | {ours:.0} | {raw:.0} | {:.2}× |", ours / raw);
    }
    println!(
        "| both | {:.0} | {:.0} | {:.2}× |",
        submit + drain,
        raw_submit + raw_drain,
        (submit + drain) / (raw_submit + raw_drain)
    );
    println!(
        "\nFloor, same run: a monotonic clock read costs {:.1} ns (taskwheel reads it once per stage).",
        clock_read_floor()
    );
}
