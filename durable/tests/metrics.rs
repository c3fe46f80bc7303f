//! A node's Prometheus / OpenMetrics text against a real `redis-server`: the node's counters, its histograms, the
//! queue's figures from Redis and its engine's, parsed by a real parser (Python's `prometheus_client`, skipped loudly
//! without it; `.ci/run` makes that skip a failure); a scrape while Redis is down; and the Grafana dashboard, whose
//! every query must name a metric the code exports.
#![cfg(feature = "metrics")]

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use prometheus_client::registry::Registry;
use support::{RedisServer, wait_for};
use taskwheel::Retry;
use taskwheel_redis::{DurableState, DurableTask, Node};

const LIMIT: Duration = Duration::from_secs(30);

/// The value of the sample `name{labels}` (labels as written, in order), if present.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(name_and_labels)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

/// Every series name the text exports: its samples', and those of every family it declares (a family with no
/// sample now, such as a group's with no group, still is one): a counter's `_total`, a histogram's `_bucket`,
/// `_sum` and `_count`.
fn names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        if let Some(declared) = line.strip_prefix("# TYPE ") {
            let (name, kind) = declared.split_once(' ').unwrap_or((declared, ""));
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|suffix| format!("{name}{suffix}")));
        } else if !line.starts_with('#') {
            names.insert(line.split(['{', ' ']).next().unwrap_or("").to_string());
        }
    }
    names
}

/// Parses `text` with Python's `prometheus_client` OpenMetrics parser; `None` when Python or the module is missing.
fn parses(text: &str) -> Option<Result<(), String>> {
    let program = "import sys\n\
                   from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
                   list(text_string_to_metric_families(sys.stdin.read()))\n";
    let check = Command::new("python3").args(["-c", "import prometheus_client"]).status().ok()?;
    if !check.success() {
        return None;
    }
    let mut child =
        Command::new("python3").args(["-c", program]).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().ok()?;
    child.stdin.take()?.write_all(text.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    Some(if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) })
}

#[test]
fn a_nodes_metrics_show_its_runs_its_queue_and_its_engine_and_a_real_parser_accepts_them() {
    let Some(mut server) = RedisServer::start("metrics") else { return };
    let node = Node::builder(server.url(), "jobs")
        .id("n1")
        .lease(Duration::from_secs(3))
        .handler("ok", |_c, _p: &[u8]| ())
        .handler("bad", |_c, _p: &[u8]| Err::<(), _>("no"))
        .start()
        .unwrap();
    let queue = node.queue();
    let ids: Vec<u64> = (0..5).map(|_| queue.submit(&DurableTask::new("ok", Vec::new())).unwrap().id).collect();
    let dead = queue.submit(&DurableTask::new("bad", Vec::new()).retry(Retry::new(2).no_jitter())).unwrap().id;
    for &id in ids.iter().chain([&dead]) {
        wait_for("the task to end", LIMIT, || queue.get(id).unwrap().is_some_and(|t| t.state.is_finished()));
    }
    assert_eq!(queue.get(dead).unwrap().unwrap().state, DurableState::Dead);
    queue.pause(Some("ok")).unwrap();
    wait_for("every end recorded", LIMIT, || node.stats().runs == 7);

    let text = node.metrics_text().unwrap();
    let l = r#"{queue="jobs",node="n1""#;
    let at = |name: &str, extra: &str| sample(&text, &format!("{name}{l}{extra}}}"));
    assert_eq!(at("taskwheel_redis_runs_ended_total", r#",outcome="succeeded""#), Some(5.0), "{text}");
    assert_eq!(at("taskwheel_redis_runs_ended_total", r#",outcome="retried""#), Some(1.0));
    assert_eq!(at("taskwheel_redis_runs_ended_total", r#",outcome="failed""#), Some(1.0));
    assert_eq!(at("taskwheel_redis_runs_total", ""), Some(7.0));
    assert_eq!(at("taskwheel_redis_tasks_claimed_total", ""), Some(7.0));
    assert_eq!(at("taskwheel_redis_start_lateness_seconds_count", ""), Some(7.0));
    assert!(at("taskwheel_redis_claim_seconds_count", "").is_some_and(|n| n >= 1.0));
    assert_eq!(at("taskwheel_redis_runs_in_progress", ""), Some(0.0));
    assert_eq!(sample(&text, r#"taskwheel_redis_queue_tasks{queue="jobs",state="succeeded"}"#), Some(5.0));
    assert_eq!(sample(&text, r#"taskwheel_redis_queue_tasks{queue="jobs",state="dead"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"taskwheel_redis_queue_nodes{queue="jobs"}"#), Some(1.0));
    assert_eq!(sample(&text, r#"taskwheel_redis_queue_paused{queue="jobs"}"#), Some(1.0));
    assert_eq!(sample(&text, "taskwheel_runs_total"), Some(7.0), "the engine's own metrics are there");
    match parses(&text) {
        Some(result) => result.expect("Python's prometheus_client parses the text"),
        None => {
            let required = std::env::var("TASKWHEEL_REQUIRE_PROMETHEUS_PARSER").is_ok_and(|v| v == "1");
            assert!(!required, "python3 -m pip install prometheus_client (TASKWHEEL_REQUIRE_PROMETHEUS_PARSER=1)");
            eprintln!("\n*** SKIPPED the parse: Python's prometheus_client is not installed ***\n");
        }
    }

    // The Grafana dashboard: every metric a query names is exported (histograms by their _bucket series).
    let exported = names(&text);
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../grafana/taskwheel.json")).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 20, "the dashboard's queries: {}", exprs.len());
    let mut named = 0;
    for expr in &exprs {
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("taskwheel_") {
                named += 1;
                assert!(exported.contains(word), "the dashboard's query {expr:?} names {word}, which is not exported");
            }
        }
    }
    assert!(named >= exprs.len(), "every query names a metric");

    // A scrape while Redis is down: the node's own figures, no queue's, and the failure counted.
    let collector = node.metrics_collector().unwrap();
    server.kill();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    let mut down = String::new();
    prometheus_client::encoding::text::encode(&mut down, &registry).unwrap();
    assert_eq!(sample(&down, &format!("taskwheel_redis_runs_total{l}}}")), Some(7.0));
    assert_eq!(sample(&down, &format!("taskwheel_redis_scrape_errors_total{l}}}")), Some(1.0));
    assert!(!down.contains("taskwheel_redis_queue_tasks"), "{down}");
    drop(node);
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_exprs(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_exprs(item, out)),
        _ => {}
    }
}
