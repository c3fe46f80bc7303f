//! Starts the metrics example (`engine/examples/metrics_server.rs`) on a free loopback port, scrapes `/metrics`
//! with a real HTTP client, and validates the text with a real parser: the Python `prometheus_client` OpenMetrics
//! parser. Without Python's `prometheus_client` the parse is skipped loudly (`.ci/run` installs it and sets
//! `TASKWHEEL_REQUIRE_PROMETHEUS_PARSER`, which makes that skip a failure).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, String) {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<binary>").to_path_buf();
    let profile = if profile_dir.ends_with("release") { "release" } else { "dev" };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let built = Command::new(cargo)
        .current_dir(root())
        .args(["build", "--quiet", "-p", "taskwheel", "--features", "metrics", "--example", "metrics_server"])
        .args(["--profile", profile])
        .status()
        .expect("cargo runs");
    assert!(built.success(), "the metrics example builds");
    let mut child = Command::new(profile_dir.join("examples/metrics_server"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).expect("the example says where it listens");
    let url = first.trim().strip_prefix("listening on ").expect("`listening on URL`").to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (server, url)
}

fn scrape(url: &str) -> (String, String) {
    let mut response = ureq::get(url).call().expect("the scrape answers");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (content_type, response.body_mut().read_to_string().expect("a text body"))
}

/// Parses `text` with the OpenMetrics parser of Python's `prometheus_client`; prints one `name type value` line per
/// sample. `None` when Python or the module is missing.
fn parse_with_prometheus_client(text: &str) -> Option<String> {
    let program = "import sys\n\
                   from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
                   for family in text_string_to_metric_families(sys.stdin.read()):\n    \
                       for sample in family.samples:\n        \
                           print(sample.name, family.type, dict(sample.labels), sample.value, \
                                 *([dict(sample.exemplar.labels)] if sample.exemplar else []))\n";
    let probe = Command::new("python3").args(["-c", "import prometheus_client"]).output().ok()?;
    if !probe.status.success() {
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    child.stdin.take().expect("piped stdin").write_all(text.as_bytes()).expect("write the text");
    let output = child.wait_with_output().expect("python3 ends");
    assert!(output.status.success(), "prometheus_client refused the text: {}", String::from_utf8_lossy(&output.stderr));
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn the_metrics_endpoint_serves_text_a_real_parser_accepts() {
    let (_server, url) = start_server();
    let (content_type, text) = scrape(&url);
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");
    assert_eq!(text.matches("# TYPE taskwheel_tasks_submitted counter").count(), 1, "each family once:\n{text}");
    for name in [
        "taskwheel_tasks_submitted_total",
        "taskwheel_runs_failed_total",
        "taskwheel_queue_depth{engine=\"orders\",priority=\"high\"}",
        "taskwheel_group_limit{engine=\"orders\",group=\"email\"} 1",
        "taskwheel_run_lateness_seconds_bucket{le=\"0.000001\",engine=\"orders\"}",
        "taskwheel_run_lateness_seconds_count{engine=\"mail\"}",
        "taskwheel_submissions_rejected_total{engine=\"mail\",reason=\"full\"} 0",
        "taskwheel_tick_commands_queued{engine=\"orders\"}",
    ] {
        assert!(text.contains(name), "no {name} in:\n{text}");
    }
    // The failed-runs counter's exemplar names the latest failed run of a named task (issue 23, item 6).
    let failed = text.lines().find(|line| line.starts_with("taskwheel_runs_failed_total{engine=\"orders\"}"));
    let failed = failed.unwrap_or_else(|| panic!("no failed-runs sample for orders in:\n{text}"));
    assert!(failed.starts_with("taskwheel_runs_failed_total{engine=\"orders\"} 10 # {task_id=\""), "{failed}");
    assert!(failed.contains(",task=\"order ") && failed.ends_with("\"} 1.0"), "{failed}");
    // A second scrape reads the engine's counters again: the heartbeat keeps running.
    let (_, again) = scrape(&url);
    assert!(again.contains("taskwheel_runs_total"));

    match parse_with_prometheus_client(&text) {
        Some(samples) => {
            assert!(samples.lines().count() > 40, "{samples}");
            // The parser's view: names, types, labels and values as a Prometheus server would store them.
            let has = |line: &str| samples.lines().any(|sample| sample == line || sample == format!("{line}.0"));
            // Two engines in one exposition (issue 23): each family once (the parser refuses a repeated one), each
            // engine's samples under its constant label.
            assert!(has("taskwheel_tasks_submitted_total counter {'engine': 'orders'} 1006"), "{samples}");
            assert!(has("taskwheel_tasks_submitted_total counter {'engine': 'mail'} 3"), "{samples}");
            let exemplar = samples
                .lines()
                .find(|line| line.starts_with("taskwheel_runs_failed_total counter {'engine': 'orders'}"));
            assert!(
                exemplar.is_some_and(|line| line.contains("'task': 'order ")),
                "the parser reads the exemplar: {samples}"
            );
            assert!(has("taskwheel_group_limit gauge {'engine': 'orders', 'group': 'email'} 1"), "{samples}");
            assert!(
                samples.contains("taskwheel_run_lateness_seconds_bucket histogram {'le': '+Inf', 'engine': 'orders'}"),
                "{samples}"
            );
        }
        None => {
            assert!(
                std::env::var_os("TASKWHEEL_REQUIRE_PROMETHEUS_PARSER").is_none(),
                "Python's prometheus_client is required (TASKWHEEL_REQUIRE_PROMETHEUS_PARSER)"
            );
            eprintln!(
                "\n*** SKIPPED: parsing with Python's prometheus_client (not installed; .ci/run installs it) ***\n"
            );
        }
    }
}
