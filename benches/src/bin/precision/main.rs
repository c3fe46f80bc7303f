//! The tick-precision probe: how late (or early) timers start, for taskwheel and for the floors and baselines
//! measured in the same run.
//!
//! Lateness = actual start − the instant asked for (not a tick boundary: rounding up to a tick counts against the
//! timer). Early firings are counted apart (goal: none, ever).
//!
//! - taskwheel, relaxed, standard and precise modes: many one-shot timers at random instants over a window, plus a
//!   steady 1 kHz periodic task; lateness measured inside each task.
//! - Floors: `thread::sleep` to each instant; the same with 1 ns timer slack; sleep-then-spin; a `BinaryHeap` +
//!   condvar timer thread handing each due timer to a parked worker (the timer → worker handoff), with the default
//!   timer slack and with 1 ns.
//! - tokio: `tokio::time::sleep_until` on a 2-worker multi-thread runtime.
//! - Tick size and mode: the same timers through engines with 10 µs, 100 µs, 1 ms and 10 ms ticks (standard) and
//!   a 1 ms tick (relaxed): lateness, tick-thread wakeups and CPU time per timer.
//! - Idle cost: tick-thread wakeups per second with no timers, and with one timer an hour away.
//!
//! `cargo run --release -p taskwheel-benches --bin precision` (100k timers over 10 s for each engine mode);
//! `TASKWHEEL_BENCH_QUICK=1` for a short run. Writes `target/precision.csv` (mode, lateness in ns) and
//! `target/precision.svg` (the lateness CDF of every mode, drawn with plotters).

mod plot;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use taskwheel::{Engine, Precision};
use taskwheel_benches::{Rng, quick};

/// Signed lateness samples of one mode, in nanoseconds (negative: early).
struct Samples {
    mode: String,
    values: Vec<i64>,
}

fn lateness(asked: Instant, started: Instant) -> i64 {
    if started >= asked { (started - asked).as_nanos() as i64 } else { -((asked - started).as_nanos() as i64) }
}

fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn us(ns: i64) -> String {
    format!("{:.1}", ns as f64 / 1_000.0)
}

/// Random instants over `window` starting 50 ms from now, sorted.
fn instants(count: usize, window: Duration, seed: u64) -> (Instant, Vec<Instant>) {
    let start = Instant::now() + Duration::from_millis(50);
    let mut rng = Rng::new(seed);
    let mut at: Vec<Instant> =
        (0..count).map(|_| start + Duration::from_nanos(rng.next_u64() % window.as_nanos() as u64)).collect();
    at.sort();
    (start, at)
}

/// Schedules one task at each instant on `engine`, waits until all ran, and returns their lateness samples.
fn run_at_instants(engine: &Engine, at: &[Instant]) -> Vec<i64> {
    let samples = Arc::new(Mutex::new(Vec::with_capacity(at.len())));
    let remaining = Arc::new(AtomicUsize::new(at.len()));
    for &instant in at {
        let (samples, remaining) = (samples.clone(), remaining.clone());
        engine
            .at(instant, move |_| {
                let now = Instant::now();
                samples.lock().expect("samples").push(lateness(instant, now));
                remaining.fetch_sub(1, Ordering::SeqCst);
            })
            .expect("submit");
    }
    while remaining.load(Ordering::SeqCst) > 0 {
        thread::sleep(Duration::from_millis(5));
    }
    std::mem::take(&mut *samples.lock().expect("samples"))
}

/// taskwheel: one-shot timers at random instants plus a 1 kHz periodic task.
fn taskwheel_probe(precision: Precision, count: usize, window: Duration) -> (Samples, Samples) {
    let engine = Engine::builder().workers(2).precision(precision).capacity(count + 16).build().expect("engine");
    let (_, at) = instants(count, window, 11);
    let periodic_samples = Arc::new(Mutex::new(Vec::new()));
    let ticker = {
        let samples = periodic_samples.clone();
        engine
            .periodic(Duration::from_millis(1), move |ctx| {
                let now = Instant::now();
                samples.lock().expect("samples").push(lateness(ctx.scheduled_for(), now));
            })
            .submit()
            .expect("periodic")
    };
    let one_shot = run_at_instants(&engine, &at);
    ticker.cancel();
    let name = match precision {
        Precision::Relaxed => "taskwheel relaxed",
        Precision::Standard => "taskwheel standard",
        Precision::Precise { .. } => "taskwheel precise",
    };
    let periodic = std::mem::take(&mut *periodic_samples.lock().expect("samples"));
    (
        Samples { mode: format!("{name}: one-shot"), values: one_shot },
        Samples { mode: format!("{name}: 1 kHz periodic"), values: periodic },
    )
}

/// One thread sleeping to each of `count` instants 1 ms apart, waking by `wait`.
fn sleep_floor(mode: &str, count: usize, slack_1ns: bool, wait: fn(Instant)) -> Samples {
    let mode = mode.to_string();
    thread::spawn(move || {
        if slack_1ns {
            // SAFETY: PR_SET_TIMERSLACK takes one integer and changes only this thread's timer slack.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        }
        let mut values = Vec::with_capacity(count);
        let mut next = Instant::now() + Duration::from_millis(1);
        for _ in 0..count {
            wait(next);
            values.push(lateness(next, Instant::now()));
            next += Duration::from_millis(1);
        }
        Samples { mode, values }
    })
    .join()
    .expect("sleeper")
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        thread::sleep(deadline - now);
    }
}

fn sleep_then_spin(deadline: Instant) {
    let early = deadline - Duration::from_micros(100);
    sleep_until(early);
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

/// The seed design done simply: a timer thread over a `BinaryHeap` and a condvar hands due timers to a worker.
/// With `slack_1ns`, the timer thread sleeps with 1 ns timer slack (as taskwheel's standard mode does).
fn heap_scheduler(count: usize, window: Duration, slack_1ns: bool) -> Samples {
    let (_, at) = instants(count, window, 12);
    let queue = Arc::new((Mutex::new(BinaryHeap::new()), Condvar::new()));
    let (to_worker, worker_rx) = mpsc::channel::<Instant>();
    let worker = thread::spawn(move || {
        let mut values = Vec::with_capacity(count);
        for asked in worker_rx {
            values.push(lateness(asked, Instant::now()));
        }
        values
    });
    let timer = {
        let queue = queue.clone();
        thread::spawn(move || {
            if slack_1ns {
                // SAFETY: PR_SET_TIMERSLACK takes one integer and changes only this thread's timer slack.
                unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
            }
            let (heap, cond) = &*queue;
            let mut heap = heap.lock().expect("heap");
            let mut fired = 0;
            while fired < count {
                match heap.peek().copied() {
                    Some(Reverse(next)) if next <= Instant::now() => {
                        heap.pop();
                        fired += 1;
                        let _ = to_worker.send(next);
                    }
                    Some(Reverse(next)) => {
                        let wait = next.saturating_duration_since(Instant::now());
                        heap = cond.wait_timeout(heap, wait).expect("heap").0;
                    }
                    None => heap = cond.wait(heap).expect("heap"),
                }
            }
        })
    };
    for instant in at {
        queue.0.lock().expect("heap").push(Reverse(instant));
        queue.1.notify_one();
    }
    timer.join().expect("timer thread");
    let mode =
        if slack_1ns { "BinaryHeap + condvar → worker, 1 ns slack" } else { "BinaryHeap + condvar → worker" };
    Samples { mode: mode.to_string(), values: worker.join().expect("worker") }
}

fn tokio_probe(count: usize, window: Duration) -> Samples {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().expect("tokio");
    let (_, at) = instants(count, window, 13);
    let samples = Arc::new(Mutex::new(Vec::with_capacity(count)));
    runtime.block_on(async {
        let handles: Vec<_> = at
            .into_iter()
            .map(|instant| {
                let samples = samples.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(instant.into()).await;
                    let now = Instant::now();
                    samples.lock().expect("samples").push(lateness(instant, now));
                })
            })
            .collect();
        for handle in handles {
            let _ = handle.await;
        }
    });
    let values = std::mem::take(&mut *samples.lock().expect("samples"));
    Samples { mode: "tokio::time::sleep_until".to_string(), values }
}

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` fills the `rusage` we pass and touches nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// How the tick size trades precision against cost: the same timers through engines with different ticks.
fn tick_sweep(count: usize, window: Duration) {
    println!("\n## Tick size and precision mode: {count} timers over {window:?}\n");
    println!("| tick | mode | p50 µs | p99 µs | early | tick wakeups | CPU µs per timer |");
    println!("|---|---|---|---|---|---|---|");
    let ticks =
        [Duration::from_micros(10), Duration::from_micros(100), Duration::from_millis(1), Duration::from_millis(10)];
    let runs =
        ticks.iter().map(|&tick| (tick, Precision::Standard)).chain([(Duration::from_millis(1), Precision::Relaxed)]);
    for (tick, precision) in runs {
        let engine =
            Engine::builder().workers(2).tick(tick).precision(precision).capacity(count + 16).build().expect("engine");
        let (_, at) = instants(count, window, 17);
        let cpu_before = cpu_time();
        let mut values = run_at_instants(&engine, &at);
        let cpu = cpu_time() - cpu_before;
        values.sort_unstable();
        let early = values.iter().filter(|&&v| v < 0).count();
        let mode = if precision == Precision::Relaxed { "relaxed" } else { "standard" };
        println!(
            "| {tick:?} | {mode} | {} | {} | {early} | {} | {:.2} |",
            us(percentile(&values, 0.5)),
            us(percentile(&values, 0.99)),
            engine.stats().tick_wakeups,
            cpu.as_secs_f64() * 1e6 / count as f64
        );
    }
}

fn idle_wakeups(with_far_timer: bool, seconds: u64) -> f64 {
    let engine = Engine::builder().workers(1).build().expect("engine");
    if with_far_timer {
        engine.after(Duration::from_secs(3600), |_| ()).expect("submit");
    }
    thread::sleep(Duration::from_millis(50));
    let before = engine.stats().tick_wakeups;
    thread::sleep(Duration::from_secs(seconds));
    (engine.stats().tick_wakeups - before) as f64 / seconds as f64
}

/// A text histogram of lateness in log2 µs buckets.
fn histogram(samples: &Samples) -> String {
    let mut buckets = [0usize; 16];
    for &v in &samples.values {
        let micros = (v.max(0) / 1_000) as u64;
        let bucket = if micros == 0 { 0 } else { (64 - micros.leading_zeros() as usize).min(15) };
        buckets[bucket] += 1;
    }
    let total = samples.values.len().max(1);
    let mut out = String::new();
    for (i, &count) in buckets.iter().enumerate().filter(|(_, c)| **c > 0) {
        let label = if i == 0 { "<1 µs".to_string() } else { format!("<{} µs", 1u64 << i) };
        let bar = "#".repeat((count * 50).div_ceil(total));
        out += &format!("    {label:>10} {count:>7} {bar}\n");
    }
    out
}

fn main() {
    let (count, window, floor_count) =
        if quick() { (5_000, Duration::from_secs(1), 300) } else { (100_000, Duration::from_secs(10), 3_000) };
    println!("precision probe: {count} timers over {window:?} per engine mode; {floor_count} 1 ms sleeps per floor\n");

    let mut all = Vec::new();
    for precision in [Precision::Relaxed, Precision::Standard, Precision::Precise { spin: Duration::from_micros(50) }] {
        let (one_shot, periodic) = taskwheel_probe(precision, count, window);
        all.push(one_shot);
        all.push(periodic);
    }
    all.push(heap_scheduler(count, window, false));
    all.push(heap_scheduler(count, window, true));
    all.push(tokio_probe(count, window));
    all.push(sleep_floor("floor: thread::sleep", floor_count, false, sleep_until));
    all.push(sleep_floor("floor: sleep, 1 ns timer slack", floor_count, true, sleep_until));
    all.push(sleep_floor("floor: sleep then spin 100 µs", floor_count, false, sleep_then_spin));

    println!("| mode | n | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | early |");
    println!("|---|---|---|---|---|---|---|---|");
    for samples in &mut all {
        samples.values.sort_unstable();
        let v = &samples.values;
        let early = v.iter().filter(|&&x| x < 0).count();
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {early} |",
            samples.mode,
            v.len(),
            us(percentile(v, 0.5)),
            us(percentile(v, 0.9)),
            us(percentile(v, 0.99)),
            us(percentile(v, 0.999)),
            us(v.last().copied().unwrap_or(0)),
        );
    }
    println!();
    for samples in &all {
        println!("  {}\n{}", samples.mode, histogram(samples));
    }

    if quick() {
        tick_sweep(2_000, Duration::from_millis(500));
    } else {
        tick_sweep(20_000, Duration::from_secs(2));
    }

    let seconds = if quick() { 1 } else { 3 };
    println!(
        "idle tick-thread wakeups per second: no timers {:.2}, one timer 1 h away {:.2}",
        idle_wakeups(false, seconds),
        idle_wakeups(true, seconds)
    );

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/precision.csv");
    if let Ok(mut file) = std::fs::File::create(&path) {
        let _ = writeln!(file, "mode,lateness_ns");
        for samples in &all {
            for v in &samples.values {
                let _ = writeln!(file, "{},{v}", samples.mode);
            }
        }
        println!("samples written to {}", path.display());
    }
    let path = path.with_extension("svg");
    let curves: Vec<(&str, &[i64])> = all.iter().map(|s| (s.mode.as_str(), s.values.as_slice())).collect();
    match plot::cdf_svg(&path, &curves) {
        Ok(()) => println!("lateness CDF drawn in {}", path.display()),
        Err(error) => println!("no plot: {error}"),
    }
}
