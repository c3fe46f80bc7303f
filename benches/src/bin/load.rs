//! `taskwheel-load`: drives an engine with a configurable mix for a duration or a count, shows a live progress
//! line, prints a final report (lateness percentiles, tasks per second, CPU per task) and can write a CSV of
//! per-second figures and a profile of the run (a flamegraph SVG and a pprof protobuf) — the seed's load test and
//! pprof, for taskwheel.
//!
//! ```sh
//! cargo run --release -p taskwheel-benches --bin taskwheel-load -- --count 1000000 --profile target/profile
//! cargo run --release -p taskwheel-benches --bin taskwheel-load -- --duration 10 --rate 200000 \
//!     --delayed 60 --periodic 5 --cancel 20 --high 10 --groups 4 --work-us 5 --csv target/load.csv
//! ```
//!
//! Open loop (`--rate`): submissions at a fixed rate whatever the engine does. Closed loop (the default,
//! `--in-flight`): at most that many tasks live, a new one submitted as one ends. Figures come from the engine's
//! own statistics (lateness: a run's start minus its due instant) and `getrusage`.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use taskwheel::{Engine, Priority, Stats, TaskHandle};
use taskwheel_benches::{Rng, cpu_time};

/// Drives a taskwheel engine with a mix of tasks and reports how it kept up.
#[derive(Parser, Debug)]
#[command(name = "taskwheel-load", version)]
struct Options {
    /// Run this long, in seconds (default: until --count tasks are submitted, or 10 s).
    #[arg(long)]
    duration: Option<f64>,
    /// Submit this many tasks, then wait for them.
    #[arg(long)]
    count: Option<u64>,
    /// Open loop: submit this many tasks per second.
    #[arg(long)]
    rate: Option<f64>,
    /// Closed loop: keep at most this many tasks live (ignored with --rate).
    #[arg(long, default_value_t = 10_000)]
    in_flight: u64,
    /// Percent of tasks delayed (the rest, but periodic ones, run at once).
    #[arg(long, default_value_t = 0.0)]
    delayed: f64,
    /// Delayed tasks are due up to this many milliseconds ahead (uniform).
    #[arg(long, default_value_t = 100)]
    delay_ms: u64,
    /// Percent of tasks periodic (every 10 ms, 10 runs).
    #[arg(long, default_value_t = 0.0)]
    periodic: f64,
    /// Percent of delayed tasks cancelled right after submission.
    #[arg(long, default_value_t = 0.0)]
    cancel: f64,
    /// Percent of tasks at High priority.
    #[arg(long, default_value_t = 0.0)]
    high: f64,
    /// Percent of tasks at Low priority.
    #[arg(long, default_value_t = 0.0)]
    low: f64,
    /// Spread tasks over this many concurrency groups (0: none).
    #[arg(long, default_value_t = 0)]
    groups: usize,
    /// Each group's limit.
    #[arg(long, default_value_t = 2)]
    group_limit: usize,
    /// Each run spins this many microseconds (the task body's cost).
    #[arg(long, default_value_t = 0)]
    work_us: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Write per-second figures to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Profile the run: write flamegraph.svg and profile.pb (pprof) into this directory.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// No progress line (for logs and CI).
    #[arg(long)]
    quiet: bool,
    /// Seed of the mix's random choices.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Drive the engine through the C API (`tw_engine_new`, `tw_schedule`, `tw_cancel`, `tw_engine_stats`) of
    /// libtaskwheel.so, loaded at run time as a C program links it, with C task functions and user data.
    #[arg(long)]
    c_api: bool,
    /// The libtaskwheel.so `--c-api` loads (default: the one beside this binary, from
    /// `cargo build --release -p taskwheel-ffi`).
    #[arg(long)]
    c_lib: Option<std::path::PathBuf>,
}

/// What kind of task to submit next.
enum Kind {
    Now,
    Delayed(Duration),
    Periodic,
}

struct Mix<'a> {
    options: &'a Options,
    rng: Rng,
}

impl Mix<'_> {
    fn percent(&mut self) -> f64 {
        self.rng.below(1_000_000) as f64 / 10_000.0
    }

    fn kind(&mut self) -> Kind {
        let roll = self.percent();
        if roll < self.options.periodic {
            Kind::Periodic
        } else if roll < self.options.periodic + self.options.delayed {
            Kind::Delayed(Duration::from_micros(self.rng.below(self.options.delay_ms.max(1) * 1_000)))
        } else {
            Kind::Now
        }
    }

    fn priority(&mut self) -> Priority {
        let roll = self.percent();
        if roll < self.options.high {
            Priority::High
        } else if roll < self.options.high + self.options.low {
            Priority::Low
        } else {
            Priority::Normal
        }
    }
}

fn spin(micros: u64) {
    if micros == 0 {
        return;
    }
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn submit(engine: &Engine, mix: &mut Mix<'_>, ended: &Arc<AtomicU64>) -> Option<TaskHandle> {
    let options = mix.options;
    let priority = mix.priority();
    let group = (options.groups > 0).then(|| format!("g{}", mix.rng.below(options.groups as u64)));
    let work = options.work_us;
    let ended = ended.clone();
    let handle = match mix.kind() {
        Kind::Periodic => {
            let mut builder = engine
                .periodic(Duration::from_millis(10), move |ctx| {
                    spin(work);
                    if ctx.run() == 10 {
                        ended.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .first_delay(Duration::ZERO)
                .max_runs(10)
                .priority(priority);
            if let Some(group) = group {
                builder = builder.group(group);
            }
            builder.submit()
        }
        kind => {
            let in_task = ended.clone();
            let mut builder = engine
                .task(move |_| {
                    spin(work);
                    in_task.fetch_add(1, Ordering::Relaxed);
                })
                .priority(priority);
            let delayed = matches!(kind, Kind::Delayed(_));
            if let Kind::Delayed(delay) = kind {
                builder = builder.after(delay);
            }
            if let Some(group) = group {
                builder = builder.group(group);
            }
            let handle = builder.submit().ok()?;
            if delayed && mix.percent() < options.cancel && handle.cancel() == taskwheel::CancelOutcome::Cancelled {
                ended.fetch_add(1, Ordering::Relaxed);
            }
            return Some(handle);
        }
    };
    handle.ok()
}

/// The C ABI's types (`tw_config`, `tw_task_spec`, `tw_stats`, `tw_status`), from libtaskwheel's own source so that
/// their layout is the library's; the functions come from libtaskwheel.so itself ([`CApi`]).
#[path = "../../../ffi/src/lib.rs"]
#[allow(dead_code, unused_imports, unreachable_pub, missing_docs, clippy::all)]
mod ffi;

/// The entry points `--c-api` calls, looked up in libtaskwheel.so.
struct CApi {
    _library: libloading::Library,
    config_init_sized: unsafe extern "C" fn(*mut ffi::tw_config, usize) -> ffi::tw_status,
    engine_new: unsafe extern "C" fn(*const ffi::tw_config, *mut *mut ffi::tw_engine) -> ffi::tw_status,
    spec_init_sized: unsafe extern "C" fn(*mut ffi::tw_task_spec, usize) -> ffi::tw_status,
    schedule: unsafe extern "C" fn(*mut ffi::tw_engine, *const ffi::tw_task_spec, *mut u64) -> ffi::tw_status,
    cancel: unsafe extern "C" fn(*mut ffi::tw_engine, u64) -> ffi::tw_status,
    stats: unsafe extern "C" fn(*const ffi::tw_engine, *mut ffi::tw_stats) -> ffi::tw_status,
    free: unsafe extern "C" fn(*mut ffi::tw_engine),
}

impl CApi {
    fn load(path: &std::path::Path) -> Result<CApi, String> {
        // SAFETY: libtaskwheel.so runs no code at load time beyond Rust's own initialisation.
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| format!("{}: {e}", path.display()))?;
        macro_rules! symbol {
            ($name:literal) => {
                // SAFETY: each symbol is the C function of that name in include/taskwheel.h, whose signature the
                // field it is stored in repeats (the types are the library's own, from ffi/src).
                *unsafe { library.get(concat!($name, "\0").as_bytes()) }.map_err(|e| format!("{}: {e}", $name))?
            };
        }
        Ok(CApi {
            config_init_sized: symbol!("tw_config_init_sized"),
            engine_new: symbol!("tw_engine_new"),
            spec_init_sized: symbol!("tw_task_spec_init_sized"),
            schedule: symbol!("tw_schedule"),
            cancel: symbol!("tw_cancel"),
            stats: symbol!("tw_engine_stats"),
            free: symbol!("tw_engine_free"),
            _library: library,
        })
    }
}

/// How many C tasks ended: counted by their `free_user_data`, which the engine calls exactly once per task however
/// it ends (ran, ran its last periodic run, cancelled, refused).
static C_ENDED: AtomicU64 = AtomicU64::new(0);
static C_WORK_US: AtomicU64 = AtomicU64::new(0);

/// A C task: spins the body's cost, returns success.
unsafe extern "C" fn c_task(_user_data: *mut std::ffi::c_void) -> std::ffi::c_int {
    spin(C_WORK_US.load(Ordering::Relaxed));
    0
}

/// A C task's destroy-notify: the task has ended.
unsafe extern "C" fn c_task_ended(_user_data: *mut std::ffi::c_void) {
    C_ENDED.fetch_add(1, Ordering::Relaxed);
}

/// Drives an engine through the C API: the same mix, counted by the C task itself.
struct CDriver {
    api: CApi,
    engine: *mut ffi::tw_engine,
}

impl CDriver {
    fn new(options: &Options) -> Result<CDriver, String> {
        if options.groups > 0 {
            return Err("--c-api drives no groups (give --groups 0)".into());
        }
        let path = match &options.c_lib {
            Some(path) => path.clone(),
            None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("libtaskwheel.so"),
        };
        let api = CApi::load(&path).map_err(|e| format!("{e} (build it: cargo build --release -p taskwheel-ffi)"))?;
        let mut config = std::mem::MaybeUninit::<ffi::tw_config>::uninit();
        // SAFETY: tw_config_init_sized writes every field of the config it is given when the size is the library's
        // (checked: TW_OK).
        let mut config = unsafe {
            let status = (api.config_init_sized)(config.as_mut_ptr(), std::mem::size_of::<ffi::tw_config>());
            if status != ffi::tw_status::TW_OK {
                return Err(format!("tw_config_init: {status:?}"));
            }
            config.assume_init()
        };
        config.capacity = 10_000_000;
        config.seed = options.seed;
        config.workers = options.workers.unwrap_or(0) as u32;
        let mut engine = std::ptr::null_mut();
        // SAFETY: a valid config and out-pointer.
        let status = unsafe { (api.engine_new)(&config, &mut engine) };
        if status != ffi::tw_status::TW_OK {
            return Err(format!("tw_engine_new: {status:?}"));
        }
        C_WORK_US.store(options.work_us, Ordering::Relaxed);
        Ok(CDriver { api, engine })
    }

    /// Submits one task of the mix; `false` when it was refused.
    fn submit(&self, mix: &mut Mix<'_>) -> bool {
        let mut spec = std::mem::MaybeUninit::<ffi::tw_task_spec>::uninit();
        // SAFETY: tw_task_spec_init_sized writes every field of the spec it is given when the size is the library's
        // (the types come from the library's source, so it is).
        let mut spec = unsafe {
            (self.api.spec_init_sized)(spec.as_mut_ptr(), std::mem::size_of::<ffi::tw_task_spec>());
            spec.assume_init()
        };
        spec.run = Some(c_task);
        spec.free_user_data = Some(c_task_ended);
        spec.priority = mix.priority() as u32;
        let mut cancel = false;
        match mix.kind() {
            Kind::Now => {}
            Kind::Delayed(delay) => {
                spec.delay_ns = delay.as_nanos() as u64;
                cancel = mix.percent() < mix.options.cancel;
            }
            Kind::Periodic => {
                spec.period_ns = 10_000_000;
                spec.max_runs = 10;
            }
        }
        let mut id = 0;
        // SAFETY: a live engine, a valid spec whose strings are NULL, a valid out-pointer.
        if unsafe { (self.api.schedule)(self.engine, &spec, &mut id) } != ffi::tw_status::TW_OK {
            return false; // refused: its free_user_data has counted it already
        }
        if cancel {
            // SAFETY: a live engine. A cancelled task's free_user_data counts it.
            let _ = unsafe { (self.api.cancel)(self.engine, id) };
        }
        true
    }

    fn stats(&self) -> ffi::tw_stats {
        let mut stats = std::mem::MaybeUninit::<ffi::tw_stats>::uninit();
        // SAFETY: a live engine and a valid out-pointer, written on success (always, for a live engine).
        unsafe {
            (self.api.stats)(self.engine, stats.as_mut_ptr());
            stats.assume_init()
        }
    }
}

impl Drop for CDriver {
    fn drop(&mut self) {
        // SAFETY: the engine from tw_engine_new, freed once, here.
        unsafe { (self.api.free)(self.engine) };
    }
}

/// `--c-api`: the same loop through the C API, a shorter report from `tw_engine_stats`.
fn run_c_api(options: &Options, duration: Option<Duration>) -> Result<(), Box<dyn std::error::Error>> {
    let driver = CDriver::new(options)?;
    let mut mix = Mix { options, rng: Rng::new(options.seed) };
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let limit = options.count.unwrap_or(u64::MAX);
    let (mut submitted, mut refused) = (0u64, 0u64);
    while submitted < limit && duration.is_none_or(|d| start.elapsed() < d) {
        let allowed = match options.rate {
            Some(rate) => ((start.elapsed().as_secs_f64() * rate) as u64).min(limit),
            None => (C_ENDED.load(Ordering::Relaxed) + options.in_flight).min(limit),
        };
        if submitted >= allowed {
            std::thread::yield_now();
            continue;
        }
        for _ in 0..(allowed - submitted).min(256) {
            submitted += 1;
            if !driver.submit(&mut mix) {
                refused += 1;
            }
        }
    }
    let wait_until = Instant::now() + Duration::from_millis(options.delay_ms) + Duration::from_secs(30);
    while C_ENDED.load(Ordering::Relaxed) < submitted && Instant::now() < wait_until {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (wall, cpu) = (start.elapsed(), cpu_time().saturating_sub(cpu_start));
    let stats = driver.stats();
    let done = C_ENDED.load(Ordering::Relaxed);
    let ns = |ns: u64| Duration::from_nanos(ns);
    let lateness = [
        stats.lateness_p50_ns,
        stats.lateness_p90_ns,
        stats.lateness_p99_ns,
        stats.lateness_p999_ns,
        stats.lateness_max_ns,
    ]
    .map(ns);
    let run = Run { label: "taskwheel-load --c-api", submitted, refused, done, wall, cpu, runs: stats.runs, lateness };
    run.print();
    Ok(())
}

/// What a run of the tool measured, for its report.
struct Run {
    label: &'static str,
    submitted: u64,
    refused: u64,
    done: u64,
    wall: Duration,
    cpu: Duration,
    runs: u64,
    /// p50, p90, p99, p99.9, max.
    lateness: [Duration; 5],
}

impl Run {
    fn print(&self) {
        let Run { label, submitted, refused, done, wall, cpu, runs, lateness } = self;
        println!("# {label}: {submitted} tasks submitted ({refused} refused), {done} ended, in {wall:.2?}");
        println!();
        println!("| figure | value |");
        println!("|---|---|");
        println!("| tasks per second (ended / wall time) | {:.0} |", *done as f64 / wall.as_secs_f64());
        println!("| runs | {runs} |");
        let per_task = cpu.as_nanos() as f64 / (*done).max(1) as f64;
        println!("| CPU per task (user + system, whole process) | {per_task:.0} ns |");
        let [p50, p90, p99, p999, max] = lateness.map(micros);
        println!(
            "| lateness p50 / p90 / p99 / p99.9 / max | {p50:.1} / {p90:.1} / {p99:.1} / {p999:.1} / {max:.1} µs |"
        );
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    let duration = options.duration.map(Duration::from_secs_f64);
    let duration = match (duration, options.count) {
        (None, None) => Some(Duration::from_secs(10)),
        (duration, _) => duration,
    };
    if options.c_api {
        return run_c_api(&options, duration);
    }
    let mut builder = Engine::builder().capacity(10_000_000).seed(options.seed);
    if let Some(workers) = options.workers {
        builder = builder.workers(workers);
    }
    for index in 0..options.groups {
        builder = builder.group(format!("g{index}"), options.group_limit);
    }
    let engine = builder.build()?;
    let profiler = match &options.profile {
        Some(_) => Some(
            pprof::ProfilerGuardBuilder::default()
                .frequency(997)
                .blocklist(&["libc", "libgcc", "pthread", "vdso"])
                .build()?,
        ),
        None => None,
    };
    let progress = if options.quiet { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    progress.set_style(ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")?);
    let mut csv = match &options.csv {
        Some(path) => {
            let mut file = BufWriter::new(File::create(path)?);
            writeln!(file, "second,submitted,ended,tasks_per_second,lateness_p50_us,lateness_p99_us,queued")?;
            Some(file)
        }
        None => None,
    };

    let ended = Arc::new(AtomicU64::new(0));
    let mut mix = Mix { options: &options, rng: Rng::new(options.seed) };
    let (start, cpu_start) = (Instant::now(), cpu_time());
    let mut submitted = 0u64;
    let mut refused = 0u64;
    let mut next_report = Duration::from_secs(1);
    let mut ended_at_report = 0;
    let limit = options.count.unwrap_or(u64::MAX);
    loop {
        let elapsed = start.elapsed();
        if submitted >= limit || duration.is_some_and(|d| elapsed >= d) {
            break;
        }
        let allowed = match options.rate {
            Some(rate) => ((elapsed.as_secs_f64() * rate) as u64).min(limit),
            None => (ended.load(Ordering::Relaxed) + options.in_flight).min(limit),
        };
        if submitted < allowed {
            // Submit in small batches between clock reads.
            for _ in 0..(allowed - submitted).min(256) {
                match submit(&engine, &mut mix, &ended) {
                    Some(_) => submitted += 1,
                    None => {
                        refused += 1;
                        submitted += 1;
                        ended.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        } else {
            std::thread::yield_now();
        }
        if elapsed >= next_report {
            let stats = engine.stats();
            let now_ended = ended.load(Ordering::Relaxed);
            let per_second = now_ended - ended_at_report;
            ended_at_report = now_ended;
            progress.set_message(format!(
                "submitted {submitted}, ended {now_ended} ({per_second}/s), lateness p50 {:.1} µs p99 {:.1} µs, queued {}",
                micros(stats.lateness.p50),
                micros(stats.lateness.p99),
                stats.queued.total()
            ));
            progress.tick();
            if let Some(file) = csv.as_mut() {
                writeln!(
                    file,
                    "{},{submitted},{now_ended},{per_second},{:.1},{:.1},{}",
                    next_report.as_secs(),
                    micros(stats.lateness.p50),
                    micros(stats.lateness.p99),
                    stats.queued.total()
                )?;
            }
            next_report += Duration::from_secs(1);
        }
    }
    // Wait (bounded) for what was submitted: the delayed tasks' delay and the periodic ones' 100 ms, then some.
    let wait_until = Instant::now() + Duration::from_millis(options.delay_ms) + Duration::from_secs(30);
    while ended.load(Ordering::Relaxed) < submitted && Instant::now() < wait_until {
        std::thread::sleep(Duration::from_millis(1));
    }
    let wall = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_start);
    progress.finish_and_clear();
    let stats: Stats = engine.stats();
    let done = ended.load(Ordering::Relaxed);
    let l = stats.lateness;
    let run = Run {
        label: "taskwheel-load",
        submitted,
        refused,
        done,
        wall,
        cpu,
        runs: stats.runs,
        lateness: [l.p50, l.p90, l.p99, l.p999, l.max],
    };
    run.print();
    println!(
        "| cancelled / failed runs / missed runs | {} / {} / {} |",
        stats.cancelled, stats.failed_runs, stats.missed_runs
    );
    if let Some(file) = csv.as_mut() {
        // A last row for the whole run (its second column is the run's length, fractional).
        writeln!(
            file,
            "{:.3},{submitted},{done},{:.0},{:.1},{:.1},{}",
            wall.as_secs_f64(),
            done as f64 / wall.as_secs_f64(),
            micros(l.p50),
            micros(l.p99),
            stats.queued.total()
        )?;
        file.flush()?;
    }
    if let (Some(guard), Some(dir)) = (profiler, &options.profile) {
        let report = guard.report().build()?;
        std::fs::create_dir_all(dir)?;
        report.flamegraph(File::create(dir.join("flamegraph.svg"))?)?;
        let profile = report.pprof()?;
        let mut bytes = Vec::new();
        pprof::protos::Message::encode(&profile, &mut bytes)?;
        std::fs::write(dir.join("profile.pb"), bytes)?;
        print_top(&report);
        println!();
        println!("profile: {} and {}", dir.join("flamegraph.svg").display(), dir.join("profile.pb").display());
    }
    engine.shutdown(taskwheel::Shutdown::CancelPending)?;
    Ok(())
}

/// Where the samples were taken, by the innermost function outside the standard library (an atomic's
/// compare-exchange is charged to the function that called it), the most first.
fn print_top(report: &pprof::Report) {
    let mut by_function: std::collections::HashMap<String, isize> = std::collections::HashMap::new();
    let mut total = 0;
    for (frames, &count) in &report.data {
        total += count;
        let names = frames.frames.iter().flat_map(|frame| frame.iter().map(pprof::Symbol::name));
        let mut names = names.peekable();
        let first = names.peek().cloned().unwrap_or_else(|| "?".to_string());
        let outside_std = names.find(|name| {
            !["core::", "alloc::", "std::", "<core::", "<alloc::", "<std::"].iter().any(|p| name.starts_with(p))
        });
        *by_function.entry(outside_std.unwrap_or(first)).or_default() += count;
    }
    let mut top: Vec<(String, isize)> = by_function.into_iter().collect();
    top.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    println!();
    println!("| samples | share | function (innermost outside std) |");
    println!("|---|---|---|");
    for (name, count) in top.into_iter().take(15) {
        let short: String = name.chars().take(110).collect();
        println!("| {count} | {:.1}% | `{short}` |", 100.0 * count as f64 / total.max(1) as f64);
    }
}
