//! A durable-queue node as a process of its own: the crash test kills and restarts it, and the README's two-node
//! example runs two of it. It runs these handlers, each printing (or with `--log`, appending to a file) one line
//! per run, `<node> ran <handler> task <id> token <token> attempt <attempt> due <µs> start <µs>: <payload>`:
//!
//! - `print`: succeeds;
//! - `flaky`: fails its first attempt, succeeds after;
//! - `fail`: always fails;
//! - `beat`: the handler of the schedule `--every-ms` declares.
//!
//! Usage: `taskwheel-redis-node --url URL --queue NAME --id ID [--workers N] [--lease-ms N] [--horizon-ms N]
//! [--recover-ms N] [--every-ms N] [--work-us N] [--log FILE] [--run-for-ms N]` (`--work-us`: each run sleeps that
//! long after its line). It stops after `--run-for-ms` (default: when
//! its standard input closes).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use taskwheel_redis::{DurableContext, Node, Schedule};

fn micros(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let number = |name: &str, default: u64| value(name).map_or(default, |v| v.parse().expect("a number"));
    let (Some(url), Some(queue), Some(id)) = (value("--url"), value("--queue"), value("--id")) else {
        eprintln!("usage: taskwheel-redis-node --url URL --queue NAME --id ID [options]");
        std::process::exit(2);
    };
    let out: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(match value("--log") {
        Some(path) => Box::new(OpenOptions::new().create(true).append(true).open(path).expect("open the log")),
        None => Box::new(std::io::stdout()),
    }));
    let work = Duration::from_micros(number("--work-us", 0));
    let record = |handler: &'static str| {
        let (out, node) = (out.clone(), id.clone());
        move |ctx: &DurableContext<'_>, payload: &[u8]| {
            let line = format!(
                "{node} ran {handler} task {} token {} attempt {} due {} start {}: {}\n",
                ctx.id(),
                ctx.token(),
                ctx.attempt(),
                micros(ctx.due()),
                micros(SystemTime::now()),
                String::from_utf8_lossy(payload)
            );
            // One write per line: a process killed mid-run leaves whole lines.
            let _ = out.lock().write_all(line.as_bytes());
            std::thread::sleep(work);
            match handler {
                "flaky" if ctx.attempt() == 1 => Err("the first attempt fails".to_string()),
                "fail" => Err("this handler always fails".to_string()),
                _ => Ok(()),
            }
        }
    };
    let mut builder = Node::builder(url, queue)
        .id(id.clone())
        .workers(number("--workers", 4) as usize)
        .lease(Duration::from_millis(number("--lease-ms", 30_000)))
        .horizon(Duration::from_millis(number("--horizon-ms", 2_000)))
        .recover_interval(Duration::from_millis(number("--recover-ms", 1_000)))
        .handler("print", record("print"))
        .handler("flaky", record("flaky"))
        .handler("fail", record("fail"))
        .handler("beat", record("beat"));
    if let Some(every) = value("--every-ms") {
        let period = Duration::from_millis(every.parse().expect("a number"));
        builder = builder.schedule(Schedule::every("beat", period, "beat", b"every".to_vec()));
    }
    let node = match builder.start() {
        Ok(node) => node,
        Err(error) => {
            eprintln!("{id}: {error}");
            std::process::exit(1);
        }
    };
    eprintln!("{id}: started");
    match value("--run-for-ms") {
        Some(ms) => std::thread::sleep(Duration::from_millis(ms.parse().expect("a number"))),
        None => {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        }
    }
    match node.shutdown() {
        Ok(stats) => eprintln!("{id}: stopped after {} runs ({} claimed)", stats.runs, stats.claimed),
        Err(error) => eprintln!("{id}: stopped: {error}"),
    }
}
