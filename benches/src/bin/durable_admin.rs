//! The operators' listings at scale (issue 25): a page of dead tasks among a million records, read from the state
//! index the scripts keep, and a page of scheduled ones, read from the due sets by a search on the due time, beside what the same page costs a client that knows where to look (the floor: one
//! `ZRANGE` and the page's `HMGET`s in one pipelined round trip), a `PING` round trip, and what one pass of `SCAN`
//! over the keyspace costs (the least a listing without indexes would pay).
//!
//! The records: `N / 10` tasks run by a node until dead (two failed attempts each), then the rest submitted an hour
//! ahead (scheduled). Pages of 100 at the front, the middle and the end of each listing, 30 reads each, medians.
//!
//! `cargo run --release -p taskwheel-benches --bin durable_admin` (N = 1,000,000: ~2 GB of Redis, a few minutes);
//! `TASKWHEEL_BENCH_QUICK=1` for N = 20,000; `-- N` to choose. Reports; never fails on a figure.

#[path = "../../../durable/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::RedisServer;
use taskwheel::Retry;
use taskwheel_benches::quick;
use taskwheel_redis::{DurableTask, ListState, Node, Queue};

const PAGE: u64 = 100;
const READS: usize = 30;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// The median of `READS` timings of `read`.
fn timed(mut read: impl FnMut()) -> Duration {
    median(
        (0..READS)
            .map(|_| {
                let started = Instant::now();
                read();
                started.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let n: u64 =
        std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(if quick() { 20_000 } else { 1_000_000 });
    let dead_n = n / 10;
    let Some(server) = RedisServer::start("durable_admin") else { return };
    let url = server.url();
    let queue = Queue::connect(&url, "bench").expect("connect");
    let mut con = server.connection();

    // The dead ones: run by a node, two failed attempts each.
    let started = Instant::now();
    let ran = Arc::new(AtomicU64::new(0));
    let node = Node::builder(url.clone(), "bench")
        .workers(4)
        .handler("dies", {
            let ran = ran.clone();
            move |_c, _p: &[u8]| {
                ran.fetch_add(1, Ordering::Relaxed);
                Err::<(), _>("the endpoint answered 503")
            }
        })
        .start()
        .expect("node");
    let tasks: Vec<DurableTask> =
        (0..dead_n).map(|i| DurableTask::new("dies", format!("order-{i}")).retry(Retry::new(2).no_jitter())).collect();
    for chunk in tasks.chunks(1000) {
        queue.submit_all(chunk).expect("submit");
    }
    let deadline = Instant::now() + Duration::from_secs(1800);
    let count =
        |state: ListState| queue.counts().expect("counts").into_iter().find(|c| c.0 == state).map_or(0, |c| c.1);
    while count(ListState::Dead) < dead_n {
        assert!(Instant::now() < deadline, "the dead tasks did not all die in 30 minutes");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(node);
    let dead_took = started.elapsed();
    // The rest: scheduled an hour ahead.
    let later: Vec<DurableTask> =
        (dead_n..n).map(|i| DurableTask::new("later", format!("order-{i}")).after(Duration::from_secs(3600))).collect();
    for chunk in later.chunks(1000) {
        queue.submit_all(chunk).expect("submit");
    }
    let scheduled_n = count(ListState::Scheduled);
    println!(
        "# Listing tasks among {n} records ({dead_n} dead, {scheduled_n} scheduled; set up in {:.0} s)\n",
        started.elapsed().as_secs_f64()
    );
    println!("(the dead ones ran {} attempts in {:.1} s)\n", ran.load(Ordering::Relaxed), dead_took.as_secs_f64());

    let ping = timed(|| {
        let _: String = redis::cmd("PING").query(&mut con).expect("PING");
    });
    let base = "tw:{bench}";
    println!("Floors, same run: a PING round trip {}.\n", ms(ping));
    println!(
        "| listing (page of {PAGE}) | offset | `Queue::list` | the floor: ZRANGE + {PAGE} HMGET, one pipelined round trip | list / floor |"
    );
    println!("|---|---|---|---|---|");
    for (state, index, total) in
        [(ListState::Dead, "ix:dead", dead_n), (ListState::Scheduled, "due:later", scheduled_n)]
    {
        for offset in [0, total / 2, total.saturating_sub(PAGE)] {
            let list = timed(|| {
                let page = queue.list(state, offset, PAGE).expect("list");
                assert_eq!(page.tasks.len() as u64, PAGE.min(total - offset));
            });
            let floor = timed(|| {
                let ids: Vec<u64> = redis::cmd(if state == ListState::Dead { "ZREVRANGE" } else { "ZRANGE" })
                    .arg(format!("{base}:{index}"))
                    .arg(offset)
                    .arg(offset + PAGE - 1)
                    .query(&mut con)
                    .expect("ZRANGE");
                let mut pipe = redis::pipe();
                for id in &ids {
                    pipe.cmd("HMGET").arg(format!("{base}:t:{id}")).arg(&["h", "st", "due", "e", "k", "fin"]);
                }
                let _: Vec<Vec<Option<String>>> = pipe.query(&mut con).expect("HMGET");
            });
            println!(
                "| {state} | {offset} | {} | {} | {:.2}× |",
                ms(list),
                ms(floor),
                list.as_secs_f64() / floor.as_secs_f64()
            );
        }
    }
    // What a listing without indexes would pay at least: one pass of SCAN over the keyspace.
    let started = Instant::now();
    let mut cursor = 0u64;
    let mut keys = 0usize;
    for _ in 0..1_000_000 {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{base}:t:*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut con)
            .expect("SCAN");
        keys += batch.len();
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    println!(
        "\nOne SCAN pass over the keyspace (MATCH the records, COUNT 1000): {} for {keys} records.",
        ms(started.elapsed())
    );
    let dead_index: u64 = redis::cmd("MEMORY").arg("USAGE").arg(format!("{base}:ix:dead")).query(&mut con).unwrap_or(0);
    let used: String = redis::cmd("INFO").arg("memory").query(&mut con).expect("INFO");
    let used: u64 = used.lines().find_map(|l| l.strip_prefix("used_memory:")?.trim().parse().ok()).unwrap_or(0);
    println!(
        "The dead index's memory: {:.0} B per entry (the scheduled ones are listed from their due set, which claims \
         need anyway); Redis in all {:.0} B per record.",
        dead_index as f64 / dead_n as f64,
        used as f64 / n as f64
    );
}
