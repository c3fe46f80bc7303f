//! The engine end to end, beside tokio in the same run: submit → run throughput for immediate tasks and for
//! 1 ms delayed tasks, from 1, 2 and 4 submitter threads, and cancel throughput of pending delayed tasks.
//! Baselines: tokio's multi-thread runtime (2 workers) spawning the task, or spawning a task that sleeps 1 ms; and
//! for immediate tasks a raw pool: boxed closures on a crossbeam channel drained by 2 std threads (the floor of
//! "a closure on a channel"). Also immediate tasks with every handle kept and waited on, and with 64 threads idle
//! in `wait()` on tasks an hour away (`engine/immediate-kept-and-waited`, `engine/immediate-64-idle-waiters`).
//! Also concurrency groups at scale: building an engine with 100,000 groups beside one with none, and submitting
//! to the last of them beside submitting with no group, in the same run.
//!
//! `cargo bench -p taskwheel-benches --bench engine`; `TASKWHEEL_BENCH_QUICK=1` for the CI smoke run.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use taskwheel::Engine;
use taskwheel_benches::{IdleWaiters, RawPool, quick};

/// Tasks per measured batch.
fn batch() -> usize {
    if quick() { 2_000 } else { 20_000 }
}

/// Submits `batch` tasks (each `delay` from its submission) from `submitters` threads and waits until all ran.
fn taskwheel_batch(engine: &Engine, submitters: usize, delay: Option<Duration>, batch: usize) -> Duration {
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..submitters {
            let (spawner, done) = (engine.spawner(), done.clone());
            scope.spawn(move || {
                for _ in 0..batch / submitters {
                    let done = done.clone();
                    let task = move |_: &taskwheel::TaskContext<'_>| {
                        done.fetch_add(1, Ordering::Relaxed);
                    };
                    let submitted = match delay {
                        None => spawner.spawn(task),
                        Some(delay) => spawner.after(delay, task),
                    };
                    submitted.expect("capacity is ample");
                }
            });
        }
    });
    while done.load(Ordering::Relaxed) < batch / submitters * submitters {
        std::thread::yield_now();
    }
    start.elapsed()
}

fn tokio_batch(
    runtime: &tokio::runtime::Runtime,
    submitters: usize,
    delay: Option<Duration>,
    batch: usize,
) -> Duration {
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..submitters {
            let (handle, done) = (runtime.handle().clone(), done.clone());
            scope.spawn(move || {
                for _ in 0..batch / submitters {
                    let done = done.clone();
                    handle.spawn(async move {
                        if let Some(delay) = delay {
                            tokio::time::sleep(delay).await;
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
        }
    });
    while done.load(Ordering::Relaxed) < batch / submitters * submitters {
        std::thread::yield_now();
    }
    start.elapsed()
}

fn raw_pool_batch(pool: &RawPool, submitters: usize, batch: usize) -> Duration {
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..submitters {
            let (sender, done) = (pool.sender(), done.clone());
            scope.spawn(move || {
                for _ in 0..batch / submitters {
                    let done = done.clone();
                    sender
                        .send(Box::new(move || {
                            done.fetch_add(1, Ordering::Relaxed);
                        }))
                        .expect("pool open");
                }
            });
        }
    });
    while done.load(Ordering::Relaxed) < batch / submitters * submitters {
        std::thread::yield_now();
    }
    start.elapsed()
}

/// Immediate tasks from one submitter with every handle kept, then each waited on.
fn kept_and_waited_batch(engine: &Engine, batch: usize) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..batch).map(|_| engine.spawn(|_| ()).expect("capacity is ample")).collect();
    for handle in &handles {
        handle.wait().expect("not inside a task");
    }
    start.elapsed()
}

fn engine_throughput(c: &mut Criterion) {
    let engine = Engine::builder().workers(2).capacity(4_000_000).build().expect("engine");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().expect("tokio");
    let batch = batch();
    for (kind, delay) in [("immediate", None), ("delayed-1ms", Some(Duration::from_millis(1)))] {
        let mut group = c.benchmark_group(format!("engine/{kind}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(if quick() { 100 } else { 500 }));
        group.measurement_time(Duration::from_millis(if quick() { 500 } else { 3_000 }));
        group.throughput(Throughput::Elements(batch as u64));
        for submitters in [1, 2, 4] {
            group.bench_function(format!("taskwheel/{submitters}-submitters"), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| taskwheel_batch(&engine, submitters, delay, batch)).sum())
            });
            group.bench_function(format!("tokio/{submitters}-submitters"), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| tokio_batch(&runtime, submitters, delay, batch)).sum())
            });
            if delay.is_none() {
                let pool = RawPool::new(2);
                group.bench_function(format!("raw-pool/{submitters}-submitters"), |b| {
                    b.iter_custom(|iters| (0..iters).map(|_| raw_pool_batch(&pool, submitters, batch)).sum())
                });
            }
        }
        group.finish();
    }

    let settings = |group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>| {
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(if quick() { 100 } else { 500 }));
        group.measurement_time(Duration::from_millis(if quick() { 500 } else { 3_000 }));
        group.throughput(Throughput::Elements(batch as u64));
    };
    let mut group = c.benchmark_group("engine/immediate-kept-and-waited");
    settings(&mut group);
    group.bench_function("taskwheel/fire-and-forget", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| taskwheel_batch(&engine, 1, None, batch)).sum())
    });
    group.bench_function("taskwheel/kept-and-waited", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| kept_and_waited_batch(&engine, batch)).sum())
    });
    group.finish();

    let mut group = c.benchmark_group("engine/immediate-idle-waiters");
    settings(&mut group);
    for waiters in [0usize, 8, 64, 256] {
        let _waiters = IdleWaiters::start(&engine, waiters);
        group.bench_function(format!("taskwheel/{waiters}-waiters"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| taskwheel_batch(&engine, 1, None, batch)).sum())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("engine/cancel-pending");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(if quick() { 100 } else { 500 }));
    group.measurement_time(Duration::from_millis(if quick() { 500 } else { 3_000 }));
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("taskwheel", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let handles: Vec<_> = (0..batch)
                        .map(|_| engine.after(Duration::from_secs(3600), |_| ()).expect("capacity is ample"))
                        .collect();
                    let start = Instant::now();
                    for handle in &handles {
                        handle.cancel();
                    }
                    start.elapsed()
                })
                .sum()
        })
    });
    group.bench_function("tokio-abort", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let handles: Vec<_> = (0..batch)
                        .map(|_| runtime.spawn(async { tokio::time::sleep(Duration::from_secs(3600)).await }))
                        .collect();
                    let start = Instant::now();
                    for handle in &handles {
                        handle.abort();
                    }
                    start.elapsed()
                })
                .sum()
        })
    });
    group.finish();
}

/// Submits `batch` immediate tasks of `group` (or none) from this thread and waits until all ran.
fn grouped_batch(engine: &Engine, group: Option<&str>, batch: usize) -> Duration {
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    for _ in 0..batch {
        let done = done.clone();
        let builder = engine.task(move |_| {
            done.fetch_add(1, Ordering::Relaxed);
        });
        match group {
            Some(group) => builder.group(group).submit(),
            None => builder.submit(),
        }
        .expect("capacity is ample");
    }
    while done.load(Ordering::Relaxed) < batch {
        std::thread::yield_now();
    }
    start.elapsed()
}

fn groups(c: &mut Criterion) {
    const GROUPS: usize = 100_000;
    let with_groups = |count: usize| {
        (0..count).fold(Engine::builder().workers(2).capacity(4_000_000), |builder, index| {
            builder.group(format!("tenant-{index}"), 1_000_000)
        })
    };
    let mut group = c.benchmark_group("engine/groups");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(if quick() { 100 } else { 500 }));
    group.measurement_time(Duration::from_millis(if quick() { 500 } else { 3_000 }));
    for count in [0, GROUPS] {
        group.bench_function(format!("build/{count}-groups"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let builder = with_groups(count);
                        let start = Instant::now();
                        let engine = builder.build().expect("engine");
                        let elapsed = start.elapsed();
                        drop(engine);
                        elapsed
                    })
                    .sum()
            })
        });
    }
    let engine = with_groups(GROUPS).build().expect("engine");
    let last = format!("tenant-{}", GROUPS - 1);
    let batch = batch();
    group.throughput(Throughput::Elements(batch as u64));
    for (name, target) in [("submit/no-group", None), ("submit/last-of-100000-groups", Some(last.as_str()))] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| grouped_batch(&engine, target, batch)).sum())
        });
    }
    group.finish();
}

criterion_group!(benches, engine_throughput, groups);
criterion_main!(benches);
