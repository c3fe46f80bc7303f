//! Wheel operations of taskwheel beside every baseline, in the same run.
//!
//! - `wheel/*` (hot cache: each operation touches timers inserted a moment before, or due at `now + 1`): insert,
//!   cancel, insert+cancel, reschedule, advance expiring 1,000 timers, and a network-timeout lifecycle, at 1k,
//!   100k and 1M pending timers with deadlines uniform over 1 s – 1 h.
//! - `wheel-scale/*` (the workloads users bring, from `taskwheel_benches::scale`): cancel and reschedule of random
//!   pending timers (victims drawn before the clock starts), and expiry of timers due over the next 1,000 ticks
//!   armed just before or an hour before (so they cascade), advanced one tick at a time, and insert while filling;
//!   at 1k, 100k and 1M pending (10M with `TASKWHEEL_BENCH_10M=1`); and the network-timeout lifecycle (60 s
//!   timeouts, 90% cancelled after 10–500 ms, 100k arms per simulated second). `--bin timers` prints the same
//!   beside the memory floors, with the lifecycle's memory.
//!
//! `cargo bench -p taskwheel-benches --bench wheel`; `TASKWHEEL_BENCH_QUICK=1` for the CI smoke run (1k and
//! 100k pending, short measurements); `TASKWHEEL_BENCH_SPREAD=clustered` for deadlines clustered like network
//! timeouts (groups `wheel-clustered/*`). Early and late firings of each library are reported by
//! `cargo run --release -p taskwheel-benches --bin timers`.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime};
use taskwheel_benches::{
    BitwheelQueue, HeapQueue, HhwtQueue, Rng, Spread, TaskwheelQueue, TimerQueue, TokioQueue, fill, quick,
};

/// Timers per timed chunk.
const CHUNK: usize = 1_000;

fn sizes() -> &'static [usize] {
    if quick() { &[1_000, 100_000] } else { &[1_000, 100_000, 1_000_000] }
}

/// Runs `per_chunk` over chunks of `CHUNK` timers until `iters` timers were measured; `per_chunk` returns the
/// time it measured.
fn chunked(iters: u64, mut per_chunk: impl FnMut() -> Duration) -> Duration {
    let chunks = iters.div_ceil(CHUNK as u64);
    let total: Duration = (0..chunks).map(|_| per_chunk()).sum();
    total.mul_f64(iters as f64 / (chunks * CHUNK as u64) as f64)
}

/// The deadline spread of the per-operation benches.
fn spread() -> Spread {
    match std::env::var("TASKWHEEL_BENCH_SPREAD").as_deref() {
        Ok("clustered") => Spread::Clustered,
        _ => Spread::Uniform,
    }
}

fn bench_queue<Q: TimerQueue>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    op: &str,
    pending: usize,
    make: &dyn Fn(usize) -> Q,
) {
    let spread = spread();
    let id = format!("{}/{pending}", Q::NAME);
    let mut rng = Rng::new(7);
    let mut queue = make(pending + CHUNK * 2);
    let mut keys: Vec<Option<Q::Key>> = fill(&mut queue, pending, spread, &mut rng).into_iter().map(Some).collect();
    let mut next_id = pending as u64;
    let mut now = 0u64;
    let mut fired = Vec::with_capacity(CHUNK * 4);
    match op {
        "insert" => {
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    chunked(iters, || {
                        let start = Instant::now();
                        let added: Vec<Q::Key> = (0..CHUNK)
                            .map(|_| {
                                next_id += 1;
                                queue.insert(black_box(spread.deadline(now, &mut rng)), next_id)
                            })
                            .collect();
                        let elapsed = start.elapsed();
                        added.into_iter().for_each(|key| queue.cancel(key));
                        elapsed
                    })
                })
            });
        }
        "cancel" => {
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    chunked(iters, || {
                        let added: Vec<Q::Key> = (0..CHUNK)
                            .map(|_| {
                                next_id += 1;
                                queue.insert(spread.deadline(now, &mut rng), next_id)
                            })
                            .collect();
                        let start = Instant::now();
                        added.into_iter().for_each(|key| queue.cancel(black_box(key)));
                        start.elapsed()
                    })
                })
            });
        }
        "insert+cancel" => {
            group.bench_function(id, |b| {
                b.iter(|| {
                    next_id += 1;
                    let key = queue.insert(spread.deadline(now, &mut rng), next_id);
                    queue.cancel(black_box(key));
                })
            });
        }
        "reschedule" => {
            group.bench_function(id, |b| {
                b.iter(|| {
                    let at = (rng.next_u64() % keys.len() as u64) as usize;
                    if let Some(key) = keys[at].take() {
                        let deadline = spread.deadline(now, &mut rng);
                        keys[at] = Some(queue.reschedule(key, at as u64, black_box(deadline)));
                    }
                })
            });
        }
        "advance-1k" => {
            group.throughput(Throughput::Elements(CHUNK as u64));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        for _ in 0..CHUNK {
                            next_id += 1;
                            queue.insert(now + 1, next_id);
                        }
                        now += 1;
                        fired.clear();
                        let start = Instant::now();
                        queue.advance(now, &mut fired);
                        total += start.elapsed();
                        black_box(&fired);
                    }
                    total
                })
            });
            group.throughput(Throughput::Elements(1));
        }
        "lifecycle" => {
            // Network timeouts: each timer armed, 90% cancelled soon after, 10% expire; time moves 10 ms a round.
            group.throughput(Throughput::Elements(CHUNK as u64));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut armed: Vec<Q::Key> = (0..CHUNK)
                            .map(|_| {
                                next_id += 1;
                                queue.insert(Spread::Clustered.deadline(now, &mut rng), next_id)
                            })
                            .collect();
                        armed.drain(..CHUNK / 10 * 9).for_each(|key| queue.cancel(key));
                        now += 10;
                        fired.clear();
                        queue.advance(now, &mut fired);
                        black_box(&fired);
                    }
                    start.elapsed()
                })
            });
            group.throughput(Throughput::Elements(1));
        }
        other => unreachable!("unknown op {other}"),
    }
}

fn wheel_ops(c: &mut Criterion) {
    for op in ["insert", "cancel", "insert+cancel", "reschedule", "advance-1k", "lifecycle"] {
        let prefix = if spread() == Spread::Clustered { "wheel-clustered" } else { "wheel" };
        let mut group = c.benchmark_group(format!("{prefix}/{op}"));
        group.sample_size(if quick() { 10 } else { 20 });
        group.warm_up_time(Duration::from_millis(if quick() { 100 } else { 800 }));
        group.measurement_time(Duration::from_millis(if quick() { 300 } else { 2_000 }));
        for &pending in sizes() {
            bench_queue(&mut group, op, pending, &TaskwheelQueue::new);
            bench_queue(&mut group, op, pending, &|_| HeapQueue::default());
            bench_queue(&mut group, op, pending, &TokioQueue::new);
            bench_queue(&mut group, op, pending, &|_| HhwtQueue::default());
            bench_queue(&mut group, op, pending, &|_| BitwheelQueue::default());
        }
        group.finish();
    }
}

/// One scale workload for queue `Q`: each sample builds a fresh queue (untimed) and reports the time per operation
/// the workload measured.
fn bench_scale<Q: TimerQueue>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    pending: usize,
    make: &dyn Fn(usize) -> Q,
    measure: &dyn Fn(&mut Q, usize, u64) -> f64,
) {
    let mut seed = 1;
    // The lifecycle's size is its rate (it ignores `pending`): named as its steady state.
    let size = if group_is_lifecycle(pending) { "steady-state".to_string() } else { pending.to_string() };
    group.bench_function(format!("{}/{size}", Q::NAME), |b| {
        b.iter_custom(|iters| {
            seed += 1;
            let ns = measure(&mut make(pending), pending, seed);
            Duration::from_nanos((ns * iters as f64) as u64)
        })
    });
}

/// The lifecycle group passes `pending` 0.
fn group_is_lifecycle(pending: usize) -> bool {
    pending == 0
}

fn wheel_scale(c: &mut Criterion) {
    use taskwheel_benches::scale::{self, BTreeQueue, HOUR_MS};
    let mut sizes = sizes().to_vec();
    if std::env::var_os("TASKWHEEL_BENCH_10M").is_some() {
        sizes.push(10_000_000);
    }
    type Measure<Q> = fn(&mut Q, usize, u64) -> f64;
    fn workloads<Q: TimerQueue>() -> [(&'static str, Measure<Q>); 6] {
        [
            ("insert-fill", scale::insert_fill::<Q>),
            ("cancel-random", scale::cancel_random::<Q>),
            ("reschedule-random", scale::reschedule_random::<Q>),
            ("expiry-next-1000-ticks", |q, n, seed| scale::expiry(q, n, 1, 1_000, seed)),
            ("expiry-an-hour-ahead", |q, n, seed| scale::expiry(q, n, HOUR_MS, 1_000, seed)),
            // The network-timeout lifecycle at 100k arms per simulated second (20k in quick mode); its size is
            // set by the rate, not by `n`, so it runs once, under the first size.
            ("lifecycle-100k-per-s", |q, _, seed| {
                let (rate, seconds) = if quick() { (20_000, 8) } else { (100_000, 70) };
                scale::lifecycle(q, rate, seconds, seed, |_, _| ()).ns_per_armed
            }),
        ]
    }
    for index in 0..6 {
        let name = workloads::<TaskwheelQueue>()[index].0;
        let mut group = c.benchmark_group(format!("wheel-scale/{name}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(1));
        group.measurement_time(Duration::from_millis(if quick() { 100 } else { 1_000 }));
        let sizes = if name.starts_with("lifecycle") { &[0][..] } else { &sizes[..] };
        for &pending in sizes {
            let capacity = |n: usize| n.max(1_000);
            bench_scale(
                &mut group,
                pending,
                &|n| TaskwheelQueue::new(capacity(n)),
                &workloads::<TaskwheelQueue>()[index].1,
            );
            bench_scale(
                &mut group,
                pending,
                &|n| HeapQueue::with_capacity(capacity(n)),
                &workloads::<HeapQueue>()[index].1,
            );
            bench_scale(&mut group, pending, &|_| BTreeQueue::default(), &workloads::<BTreeQueue>()[index].1);
            bench_scale(&mut group, pending, &|n| TokioQueue::new(capacity(n)), &workloads::<TokioQueue>()[index].1);
            bench_scale(&mut group, pending, &|_| HhwtQueue::default(), &workloads::<HhwtQueue>()[index].1);
        }
        group.finish();
    }
}

criterion_group!(benches, wheel_ops, wheel_scale);
criterion_main!(benches);
