//! The engine demo: the seed design's scenarios, played for real, with a report.
//!
//! Run with `cargo run --release --example demo`. It ends by itself in a few seconds.
//!
//! 1. Order timeouts: every new order arms a "close if unpaid" task; most orders are paid in time and cancel it.
//! 2. A periodic heartbeat at a fixed rate.
//! 3. A burst of immediate jobs at three priorities (throughput of submit → run).
//! 4. A burst of 1 ms delayed jobs (throughput through the wheel).
//! 5. An email group limited to 4 concurrent sends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use taskwheel::{Engine, Lateness, Priority, Shutdown, Stats, TaskHandle, TaskState};

const ORDERS: usize = 20_000;
const ORDER_TIMEOUT: Duration = Duration::from_secs(2);
const BURST: usize = 200_000;
const EMAILS: usize = 200;

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn show(label: &str, l: &Lateness) {
    println!(
        "  {label:<26} n={:<8} p50 {:>9.1?}  p90 {:>9.1?}  p99 {:>9.1?}  p99.9 {:>9.1?}  max {:>9.1?}",
        l.count, l.p50, l.p90, l.p99, l.p999, l.max
    );
}

/// Percentiles of lateness samples measured inside tasks (start minus `ctx.scheduled_for()`).
fn percentiles(samples: &Mutex<Vec<Duration>>) -> Lateness {
    let mut samples = samples.lock().expect("samples").clone();
    samples.sort();
    let at = |q: f64| {
        samples.get(((q * samples.len() as f64).ceil() as usize).saturating_sub(1)).copied().unwrap_or_default()
    };
    let mut lateness = Lateness::default(); // non-exhaustive: filled field by field
    (lateness.count, lateness.p50, lateness.p90) = (samples.len() as u64, at(0.5), at(0.9));
    (lateness.p99, lateness.p999, lateness.max) = (at(0.99), at(0.999), at(1.0));
    lateness
}

fn delta(after: &Stats, before: &Stats) -> (u64, u64, u64) {
    (after.succeeded - before.succeeded, after.failed - before.failed, after.cancelled - before.cancelled)
}

fn main() -> Result<(), taskwheel::Error> {
    let started = Instant::now();
    let workers = thread::available_parallelism().map_or(1, |n| n.get()).max(4);
    let engine = Engine::builder().workers(workers).group("email", 4).thread_name("demo").build()?;
    println!("taskwheel engine demo: {workers} worker threads, 1 ms tick\n");
    let timer_lateness = Arc::new(Mutex::new(Vec::new()));

    // 2. Heartbeat, running through the whole demo.
    let beats = Arc::new(AtomicUsize::new(0));
    let (beats_in_task, lateness) = (beats.clone(), timer_lateness.clone());
    let heartbeat = engine
        .periodic(Duration::from_millis(100), move |ctx| {
            lateness.lock().expect("samples").push(Instant::now().saturating_duration_since(ctx.scheduled_for()));
            beats_in_task.fetch_add(1, Ordering::Relaxed);
        })
        .key("heartbeat")
        .priority(Priority::High)
        .submit()?;

    // 1. Order timeouts: arm one per order, pay 90% of them at a random moment before the timeout.
    let closed = Arc::new(AtomicUsize::new(0));
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let arm_start = Instant::now();
    let orders: Vec<TaskHandle> = (0..ORDERS)
        .map(|order| {
            let (closed, lateness) = (closed.clone(), timer_lateness.clone());
            engine
                .task(move |ctx| {
                    lateness
                        .lock()
                        .expect("samples")
                        .push(Instant::now().saturating_duration_since(ctx.scheduled_for()));
                    closed.fetch_add(1, Ordering::Relaxed);
                })
                .after(ORDER_TIMEOUT)
                .key(format!("close-order-{order}"))
                .submit()
        })
        .collect::<Result<_, _>>()?;
    let arm_time = arm_start.elapsed();
    let payer = {
        let orders = orders.clone();
        thread::spawn(move || {
            let mut paid = 0;
            for (i, order) in orders.iter().enumerate() {
                if xorshift(&mut rng) % 10 != 0 {
                    if i % 2_000 == 0 {
                        thread::sleep(Duration::from_millis(100)); // payments trickle in over ~1 s
                    }
                    order.cancel();
                    paid += 1;
                }
            }
            paid
        })
    };

    // 3. Immediate burst at three priorities.
    let before = engine.stats();
    let burst_start = Instant::now();
    let mut last = None;
    for i in 0..BURST {
        let priority = [Priority::High, Priority::Normal, Priority::Low][i % 3];
        last = Some(engine.task(|_| ()).priority(priority).submit()?);
    }
    if let Some(last) = last {
        last.wait().unwrap();
    }
    engine.wait_idle().unwrap();
    let burst_time = burst_start.elapsed();
    let immediate = engine.stats();

    // 4. 1 ms delayed burst.
    let delayed_start = Instant::now();
    let mut last = None;
    for _ in 0..BURST {
        last = Some(engine.after(Duration::from_millis(1), |_| ())?);
    }
    if let Some(last) = last {
        last.wait().unwrap();
    }
    engine.wait_idle().unwrap();
    let delayed_time = delayed_start.elapsed();
    let delayed = engine.stats();

    // 5. Emails, at most 4 at a time.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let emails: Vec<TaskHandle> = (0..EMAILS)
        .map(|_| {
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            engine
                .task(move |_| {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(2));
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                })
                .group("email")
                .submit()
        })
        .collect::<Result<_, _>>()?;
    let email_start = Instant::now();
    let sent = emails.iter().filter(|e| e.wait().unwrap() == TaskState::Succeeded).count();
    let email_time = email_start.elapsed();

    let paid = payer.join().expect("payer thread");
    for order in &orders {
        order.wait().unwrap();
    }
    let orders_closed = orders.iter().filter(|o| o.state() == TaskState::Succeeded).count();
    let orders_cancelled = orders.iter().filter(|o| o.state() == TaskState::Cancelled).count();
    heartbeat.cancel();

    let final_stats = engine.stats();
    let report = engine.shutdown(Shutdown::Drain { timeout: Duration::from_secs(1) }).unwrap();

    println!(
        "order timeouts      {ORDERS} armed in {arm_time:.1?} ({:.0} ns each), {paid} paid in time",
        arm_time.as_nanos() as f64 / ORDERS as f64
    );
    println!(
        "                    {orders_closed} closed at their timeout, {orders_cancelled} cancelled (closure ran {} times)",
        closed.load(Ordering::Relaxed)
    );
    println!("heartbeat           {} beats every 100 ms over {:.1?}", beats.load(Ordering::Relaxed), started.elapsed());
    let (ok, _, _) = delta(&immediate, &before);
    println!(
        "immediate burst     {BURST} tasks (High/Normal/Low) in {burst_time:.1?}: {:.2} M tasks/s submit→run ({ok} ran)",
        BURST as f64 / burst_time.as_secs_f64() / 1e6
    );
    let (ok, _, _) = delta(&delayed, &immediate);
    println!(
        "1 ms delayed burst  {BURST} tasks in {delayed_time:.1?}: {:.2} M tasks/s submit→run ({ok} ran)",
        BURST as f64 / delayed_time.as_secs_f64() / 1e6
    );
    println!(
        "email group (4)     {sent}/{EMAILS} sent in {email_time:.1?}, peak concurrency {}",
        peak.load(Ordering::SeqCst)
    );
    println!();
    println!(
        "engine totals: submitted {}, succeeded {}, failed {}, cancelled {}, rejected {}, runs {}",
        final_stats.submitted,
        final_stats.succeeded,
        final_stats.failed,
        final_stats.cancelled,
        final_stats.rejected.total(),
        final_stats.runs
    );
    println!(
        "tick thread: {} wakeups, {} of them by an earlier submission",
        final_stats.tick_wakeups, final_stats.signalled_wakeups
    );
    println!("fire lateness (actual start − instant asked for):");
    show("order timeouts + heartbeat", &percentiles(&timer_lateness));
    show("every run (bursts queue up)", &final_stats.lateness);
    println!(
        "shutdown: {} completed, {} cancelled, {} still running; whole demo {:.1?}",
        report.completed,
        report.cancelled,
        report.still_running,
        started.elapsed()
    );
    Ok(())
}
