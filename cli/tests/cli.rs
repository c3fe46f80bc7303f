//! The `taskwheel-redis` binary as an operator runs it, against a real `redis-server` and a node in this process:
//! counts, dead tasks listed, shown, requeued and run, a handler paused and resumed, nodes and schedules listed,
//! `--json` documents, and the exit codes scripts rely on.

#[path = "../../durable/tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::{RedisServer, free_port, wait_for};
use taskwheel::Retry;
use taskwheel_redis::{DurableState, DurableTask, Node, Queue, Schedule};

const LIMIT: Duration = Duration::from_secs(30);

/// Runs the binary on `queue` at `url`; returns (exit code, standard output, standard error).
fn cli(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_taskwheel-redis"))
        .args(["--url", url, "--queue", "jobs"])
        .args(args)
        .env_remove("TASKWHEEL_REDIS_URL")
        .env_remove("TASKWHEEL_QUEUE")
        .output()
        .expect("run taskwheel-redis");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8");
    (out.status.code().expect("an exit code"), text(out.stdout), text(out.stderr))
}

/// Runs a `--json` command that must succeed; its document.
fn json(url: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, out, err) = cli(url, &all);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

fn ids(listing: &Value) -> Vec<u64> {
    listing["tasks"].as_array().expect("tasks").iter().map(|t| t["id"].as_u64().expect("an id")).collect()
}

#[test]
fn an_operator_finds_dead_tasks_requeues_them_after_a_fix_pauses_a_handler_and_reads_the_fleet() {
    let Some(server) = RedisServer::start("cli") else { return };
    let url = server.url();
    let fixed = Arc::new(AtomicBool::new(false));
    let node = Node::builder(url.clone(), "jobs")
        .id("node-a")
        .lease(Duration::from_secs(3))
        .horizon(Duration::from_millis(400))
        .handler("email", {
            let fixed = fixed.clone();
            move |_c, _p: &[u8]| if fixed.load(Ordering::SeqCst) { Ok(()) } else { Err("smtp refused") }
        })
        .handler("report", |_c, _p: &[u8]| ())
        .start()
        .unwrap();
    let queue = Queue::connect(&url, "jobs").unwrap();
    let dead: Vec<u64> = (0..3)
        .map(|i| {
            let task = DurableTask::new("email", format!("to-{i}")).retry(Retry::new(2).no_jitter());
            queue.submit(&task.key(format!("mail-{i}"))).unwrap().id
        })
        .collect();
    for &id in &dead {
        wait_for("the email to die", LIMIT, || queue.get(id).unwrap().is_some_and(|t| t.state == DurableState::Dead));
    }

    // The counts, and the dead tasks listed and shown.
    let stats = json(&url, &["stats"]);
    assert_eq!(stats["states"]["dead"], 3);
    assert_eq!(stats["counters"]["dead"], 3);
    let listing = json(&url, &["task", "ls", "--state", "dead"]);
    assert_eq!((listing["total"].as_u64(), ids(&listing).len()), (Some(3), 3));
    let (code, table, _) = cli(&url, &["task", "ls", "--state", "dead", "--limit", "2"]);
    assert_eq!(code, 0);
    assert!(table.contains("smtp refused") && table.contains("dead: 1-2 of 3"), "{table}");
    let shown = json(&url, &["task", "show", &dead[0].to_string()]);
    assert_eq!((shown["state"].as_str(), shown["runs"].as_u64()), (Some("dead"), Some(2)));
    assert_eq!((shown["payload"].as_str(), shown["error"].as_str()), (Some("to-0"), Some("smtp refused")));

    // After the fix: one requeued by id, the rest in bulk; all run.
    fixed.store(true, Ordering::SeqCst);
    let (code, out, _) = cli(&url, &["task", "requeue", &dead[0].to_string()]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = cli(&url, &["task", "requeue", "--all", "--state", "dead", "--handler", "email"]);
    assert_eq!((code, out.trim()), (0, "requeued 2 dead tasks of email"));
    for &id in &dead {
        wait_for("the requeued email to succeed", LIMIT, || {
            queue.get(id).unwrap().is_some_and(|t| t.state == DurableState::Succeeded)
        });
    }
    assert_eq!(json(&url, &["task", "ls", "--state", "dead"])["total"], 0);

    // A paused handler: its task waits (the other handler's, submitted after it, runs); resumed, it runs.
    let (code, out, _) = cli(&url, &["queue", "pause", "--handler", "report"]);
    assert_eq!((code, out.trim()), (0, "paused handler report of jobs"));
    let parked = queue.submit(&DurableTask::new("report", "monthly")).unwrap().id;
    let witness = queue.submit(&DurableTask::new("email", "after")).unwrap().id;
    wait_for("the witness to run", LIMIT, || {
        queue.get(witness).unwrap().is_some_and(|t| t.state == DurableState::Succeeded)
    });
    assert_eq!(ids(&json(&url, &["task", "ls", "--state", "pending"])), [parked]);
    assert_eq!(json(&url, &["queue", "ls"])[0]["paused"][0], "report");
    assert_eq!(cli(&url, &["queue", "resume", "--handler", "report"]).0, 0);
    wait_for("the resumed task to run", LIMIT, || {
        queue.get(parked).unwrap().is_some_and(|t| t.state == DurableState::Succeeded)
    });

    // A rate limit, shown by the stats, then lifted.
    let (code, out, _) = cli(&url, &["queue", "limit", "--handler", "report", "--max", "2", "--per", "1h"]);
    assert_eq!((code, out.trim()), (0, "handler report of jobs: at most 2 starts per 1h"));
    let stats = json(&url, &["stats"]);
    assert_eq!(
        (stats["rate_limits"]["report"]["max"].as_u64(), stats["rate_limits"]["report"]["per_ms"].as_u64()),
        (Some(2), Some(3_600_000))
    );
    assert_eq!(cli(&url, &["queue", "limit", "--handler", "report", "--off"]).0, 0);
    assert_eq!(json(&url, &["stats"])["rate_limits"], serde_json::json!({}));
    assert_eq!(cli(&url, &["queue", "limit", "--handler", "report", "--max", "0", "--per", "1s"]).0, 1);
    assert_eq!(cli(&url, &["queue", "limit", "--handler", "report", "--max", "3"]).0, 2);

    // The fleet and the schedules.
    wait_for("the node to be listed", LIMIT, || json(&url, &["node", "ls"])[0]["id"] == "node-a");
    let nodes = json(&url, &["node", "ls"]);
    assert_eq!(nodes[0]["handlers"], serde_json::json!(["email", "report"]));
    assert_eq!(nodes[0]["version"], env!("CARGO_PKG_VERSION"));
    queue.schedule(&Schedule::every("digest", Duration::from_secs(3600), "report", Vec::new())).unwrap();
    let schedules = json(&url, &["schedule", "ls"]);
    assert_eq!((schedules[0]["name"].as_str(), schedules[0]["kind"].as_str()), (Some("digest"), Some("every")));
    let (code, table, _) = cli(&url, &["schedule", "ls"]);
    assert!(code == 0 && table.contains("1h"), "{table}");
    drop(node);
}

#[test]
fn exit_codes_tell_scripts_what_happened() {
    let Some(server) = RedisServer::start("cli_exit_codes") else { return };
    let url = server.url();
    let release = Arc::new(AtomicBool::new(false));
    let node = Node::builder(url.clone(), "jobs")
        .lease(Duration::from_secs(3))
        .handler("slow", {
            let release = release.clone();
            move |_c, _p: &[u8]| wait_for("the release", LIMIT, || release.load(Ordering::SeqCst))
        })
        .start()
        .unwrap();
    let queue = Queue::connect(&url, "jobs").unwrap();
    let running = queue.submit(&DurableTask::new("slow", Vec::new()).key("the-slow-one")).unwrap().id;
    wait_for("the run", LIMIT, || node.stats().running == 1);
    let id = running.to_string();
    // 3: no such task; 4: refused; 2: bad usage; 1: Redis unreachable.
    assert_eq!(cli(&url, &["task", "show", "424242"]).0, 3);
    assert_eq!(cli(&url, &["task", "show", "--key", "no-such-key"]).0, 3);
    assert_eq!(cli(&url, &["task", "requeue", &id]).0, 4);
    assert_eq!(cli(&url, &["task", "delete", &id]).0, 4);
    assert_eq!(cli(&url, &["task", "ls", "--state", "zombie"]).0, 2);
    assert_eq!(cli(&url, &["task", "ls", "--state", "dead", "--limit", "5000"]).0, 1);
    assert_eq!(cli(&url, &["task", "requeue", &id, "--at", "yesterday"]).0, 2);
    let (code, out, err) = cli(&format!("redis://127.0.0.1:{}/", free_port()), &["--json", "stats"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["error"], "error");
    // Found by its key; cancelled while running (requested), then refused once it ended.
    assert_eq!(json(&url, &["task", "show", "--key", "the-slow-one"])["id"].as_u64(), Some(running));
    assert_eq!(json(&url, &["task", "cancel", &id])["outcome"], "requested");
    release.store(true, Ordering::SeqCst);
    wait_for("the run to end", LIMIT, || queue.get(running).unwrap().is_some_and(|t| t.state.is_finished()));
    assert_eq!(cli(&url, &["task", "cancel", &id]).0, 4);
    assert_eq!(json(&url, &["task", "delete", &id])["deleted"], true);
    assert_eq!(cli(&url, &["task", "delete", &id]).0, 3);
    drop(node);
}
