//! The web dashboard as a person uses it, in headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`): a real `redis-server`, a node in this process and `taskwheel-redis dashboard` on a free
//! loopback port. The overview shows the right counts; a dead task is found, requeued (behind the confirmation and
//! the token) and runs; a handler is paused and its task does not start until it is resumed. Screenshots go to
//! `target/dashboard-screenshots/`. Without Chromium or chromedriver the browser test says loudly that it skipped;
//! `TASKWHEEL_REQUIRE_CHROMIUM=1` (set by `.ci/run`) makes that a failure. The plain-HTTP checks (the token, bad
//! input, escaping) need no browser.

#[path = "../../durable/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{RedisServer, free_port, wait_for};
use taskwheel::Retry;
use taskwheel_redis::{DurableState, DurableTask, Node, Queue};

const LIMIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "s3cret";

/// Kills a child process when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `taskwheel-redis dashboard` on a free loopback port; its base URL.
fn dashboard(redis_url: &str, token: Option<&str>) -> (Process, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_taskwheel-redis"));
    command.args(["--url", redis_url, "dashboard", "--listen", "127.0.0.1:0", "--interval", "200ms"]);
    command.env_remove("TASKWHEEL_DASHBOARD_TOKEN");
    if let Some(token) = token {
        command.args(["--token", token]);
    }
    let mut child = command.stdout(Stdio::piped()).spawn().expect("start the dashboard");
    let stdout = child.stdout.take().expect("its stdout");
    let process = Process(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("the dashboard says where it listens");
    let url = line.trim().strip_prefix("listening on ").expect("`listening on URL`").to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (process, url)
}

fn get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.get(url).call().expect("the dashboard answers");
    (response.status().as_u16(), response.body_mut().read_to_string().expect("a text body"))
}

fn post(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
    let mut response = agent.post(url).send_form(form.iter().copied()).expect("the dashboard answers");
    (response.status().as_u16(), response.body_mut().read_to_string().expect("a text body"))
}

/// A node whose `email` handler fails until `fixed`, and a `report` handler that succeeds.
fn node(url: &str, fixed: Arc<AtomicBool>) -> Node {
    Node::builder(url.to_string(), "jobs")
        .id("node-a")
        .lease(Duration::from_secs(3))
        .horizon(Duration::from_millis(400))
        .handler("email", move |_c, _p: &[u8]| if fixed.load(Ordering::SeqCst) { Ok(()) } else { Err("smtp refused") })
        .handler("report", |_c, _p: &[u8]| ())
        .start()
        .unwrap()
}

fn state(queue: &Queue, id: u64) -> Option<DurableState> {
    queue.get(id).unwrap().map(|t| t.state)
}

#[test]
fn actions_need_the_token_bad_input_is_refused_and_values_are_escaped() {
    let Some(server) = RedisServer::start("dashboard_http") else { return };
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let id = queue.submit(&DurableTask::new("nobody", "<script>alert(1)</script>").key("<b>k</b>")).unwrap().id;
    let (_process, base) = dashboard(&server.url(), Some(TOKEN));
    let (status, page) = get(&format!("{base}/"));
    assert_eq!(status, 200);
    assert!(page.contains(r#"data-queue="jobs""#), "{page}");
    let (status, page) = get(&format!("{base}/q/jobs/t/{id}"));
    assert_eq!(status, 200);
    assert!(!page.contains("<script>alert(1)</script>") && !page.contains("<b>k</b>"), "escaped: {page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // Without the token, or with a wrong one: refused, nothing done.
    let act = format!("{base}/q/jobs/do");
    let (status, _) = post(&act, &[("action", "cancel"), ("id", &id.to_string())]);
    assert_eq!(status, 403);
    let (status, _) = post(&act, &[("action", "cancel"), ("id", &id.to_string()), ("token", "guess")]);
    assert_eq!(status, 403);
    assert_eq!(state(&queue, id), Some(DurableState::Pending));
    let (status, page) = post(&act, &[("action", "cancel"), ("id", &id.to_string()), ("token", TOKEN)]);
    assert_eq!(status, 200, "{page}");
    assert_eq!(state(&queue, id), Some(DurableState::Cancelled));
    // Bad input: typed refusals, not crashes.
    assert_eq!(post(&act, &[("action", "explode"), ("token", TOKEN)]).0, 400);
    assert_eq!(post(&act, &[("action", "pause"), ("handler", "a,b"), ("token", TOKEN)]).0, 400);
    assert_eq!(get(&format!("{base}/q/jobs/tasks?state=zombie")).0, 400);
    assert_eq!(get(&format!("{base}/q/jobs/t/424242")).0, 404);
    assert_eq!(get(&format!("{base}/q/jobs/t/abc")).0, 404);
    assert_eq!(get(&format!("{base}/nowhere")).0, 404);
    assert_eq!(get(&format!("{base}/q/jobs/find?q=%3Cb%3Ek%3C%2Fb%3E")).0, 404, "the cancelled task released its key");
    let (status, css) = get(&format!("{base}/static/uPlot.min.css"));
    assert!(status == 200 && css.contains(".uplot"));
    // The charts' data: samples taken every 200 ms.
    wait_for("two samples", LIMIT, || {
        let (_, body) = get(&format!("{base}/q/jobs/series.json"));
        serde_json::from_str::<Value>(&body).unwrap()["samples"].as_u64().unwrap_or(0) >= 2
    });
}

// ---- A WebDriver client, enough for these tests (W3C WebDriver over HTTP, JSON in and out). ----

struct Browser {
    driver: String,
    session: String,
    _chromedriver: Process,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; `None` (after saying so loudly) without them.
    fn start() -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) =
            (find_binary(&["chromium", "chromium-browser", "google-chrome"]), find_binary(&["chromedriver"]))
        else {
            let required = std::env::var("TASKWHEEL_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
            assert!(!required, "chromium and chromedriver not found and TASKWHEEL_REQUIRE_CHROMIUM=1");
            eprintln!(
                "\n*** SKIPPED the browser test: chromium / chromedriver not found (apt-get install chromium chromium-driver) ***\n"
            );
            return None;
        };
        let port = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let process = Process(child);
        let driver = format!("http://127.0.0.1:{port}");
        wait_for("chromedriver to answer", LIMIT, || ureq::get(&format!("{driver}/status")).call().is_ok());
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--no-first-run"]
            }
        } } });
        let reply = call("POST", &format!("{driver}/session"), Some(capabilities));
        let session = reply["sessionId"].as_str().expect("a session id").to_string();
        let browser = Browser { driver, session, _chromedriver: process };
        // Finding an element waits for it (up to 10 s): a page a click navigated to may still be loading.
        call("POST", &browser.url("/timeouts"), Some(json!({ "implicit": 10_000, "pageLoad": 30_000 })));
        Some(browser)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.driver, self.session)
    }

    fn go(&self, url: &str) {
        call("POST", &self.url("/url"), Some(json!({ "url": url })));
    }

    fn find(&self, css: &str) -> String {
        let reply = call("POST", &self.url("/element"), Some(json!({ "using": "css selector", "value": css })));
        reply[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {reply}")).to_string()
    }

    fn text(&self, css: &str) -> String {
        let element = self.find(css);
        call("GET", &self.url(&format!("/element/{element}/text")), None).as_str().unwrap_or("").to_string()
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        call("POST", &self.url(&format!("/element/{element}/click")), Some(json!({})));
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        call("POST", &self.url(&format!("/element/{element}/value")), Some(json!({ "text": text })));
    }

    fn current_url(&self) -> String {
        call("GET", &self.url("/url"), None).as_str().unwrap_or("").to_string()
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let png = call("GET", &self.url("/screenshot"), None);
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().expect("base64")).expect("a PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard-screenshots");
        std::fs::create_dir_all(&dir).expect("the screenshots' folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("write the screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.driver, self.session)).call();
    }
}

/// One WebDriver command; its `value`.
fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = match (method, body) {
        ("POST", Some(body)) => agent.post(url).send_json(&body),
        ("GET", _) => agent.get(url).call(),
        _ => panic!("method {method}"),
    }
    .unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"));
    let reply: Value = response.body_mut().read_json().expect("a JSON reply");
    assert!(reply["value"].get("error").is_none(), "WebDriver {method} {url}: {reply}");
    reply["value"].clone()
}

/// Waits until the page at `css` reads `expected` (reloading it), for the state Redis reaches in its own time.
fn wait_text(browser: &Browser, url: &str, css: &str, expected: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        browser.go(url);
        let text = browser.text(css);
        if text.trim() == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{css} on {url} reads {text:?}, not {expected:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_operator_finds_a_dead_task_requeues_it_and_pauses_a_handler_in_a_real_browser() {
    let Some(server) = RedisServer::start("dashboard_browser") else { return };
    let fixed = Arc::new(AtomicBool::new(false));
    let node = node(&server.url(), fixed.clone());
    let queue = Queue::connect(&server.url(), "jobs").unwrap();
    let dead: Vec<u64> = (0..3)
        .map(|i| {
            let task =
                DurableTask::new("email", format!("to-{i}")).key(format!("mail-{i}")).retry(Retry::new(2).no_jitter());
            queue.submit(&task).unwrap().id
        })
        .collect();
    for i in 0..5 {
        queue.submit(&DurableTask::new("report", format!("r{i}"))).unwrap();
    }
    for &id in &dead {
        wait_for("the email to die", LIMIT, || state(&queue, id) == Some(DurableState::Dead));
    }
    wait_for("the reports", LIMIT, || queue.stats().unwrap().counter("succeeded") == 5);
    let (_dashboard, base) = dashboard(&server.url(), Some(TOKEN));
    let Some(browser) = Browser::start() else { return };

    // The overview: the right counts.
    browser.go(&format!("{base}/"));
    assert_eq!(browser.text(r#"tr[data-queue="jobs"] td[data-state="dead"]"#), "3");
    assert_eq!(browser.text(r#"tr[data-queue="jobs"] td[data-state="succeeded"]"#), "5");
    browser.screenshot("overview");

    // The queue page, with its charts drawn from the sampled series.
    browser.click(r#"tr[data-queue="jobs"] td a"#);
    assert_eq!(browser.text("#count-dead .n"), "3");
    let deadline = Instant::now() + LIMIT;
    loop {
        let drawn = call(
            "POST",
            &browser.url("/execute/sync"),
            Some(json!({
                "script": "return document.querySelectorAll('.uplot').length", "args": []
            })),
        );
        if drawn.as_u64() == Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "the two charts are drawn");
        std::thread::sleep(Duration::from_millis(200));
        browser.go(&format!("{base}/q/jobs"));
    }
    browser.screenshot("queue");

    // A dead task found by its id (its key was released when it ended), requeued after the fix, behind the
    // confirmation and the token; it runs.
    fixed.store(true, Ordering::SeqCst);
    browser.type_into("#search", &dead[1].to_string());
    browser.click(".search button");
    let page = format!("/q/jobs/t/{}", dead[1]);
    wait_for("the search to land on the task's page", LIMIT, || browser.current_url().ends_with(&page));
    assert_eq!(browser.text("#state"), "dead");
    browser.screenshot("task");
    browser.click("#requeue");
    assert!(browser.text("#what").contains(&format!("requeue task {} of queue jobs", dead[1])));
    browser.type_into("#token", TOKEN);
    browser.click("#confirm");
    assert_eq!(browser.text("#message"), format!("task {} requeued, due now", dead[1]));
    wait_text(&browser, &format!("{base}/q/jobs/t/{}", dead[1]), "#state", "succeeded");
    // The listing of the dead ones: the other two.
    browser.go(&format!("{base}/q/jobs/tasks?state=dead"));
    assert_eq!(browser.text("#total"), "2");
    browser.screenshot("dead");

    // A handler paused: its task waits while another handler's, submitted after it, runs; resumed, it runs.
    browser.go(&format!("{base}/q/jobs"));
    browser.click("#pause-email");
    browser.type_into("#token", TOKEN);
    browser.click("#confirm");
    assert!(browser.text("#message").starts_with("done: pause handler email"));
    let parked = queue.submit(&DurableTask::new("email", "later")).unwrap().id;
    let witness = queue.submit(&DurableTask::new("report", "witness")).unwrap().id;
    wait_for("the witness", LIMIT, || state(&queue, witness) == Some(DurableState::Succeeded));
    assert_eq!(state(&queue, parked), Some(DurableState::Pending));
    browser.go(&format!("{base}/q/jobs"));
    assert_eq!(browser.text(r#"tr[data-handler="email"] .badge"#), "paused");
    browser.screenshot("paused");
    browser.click("#resume-email");
    browser.type_into("#token", TOKEN);
    browser.click("#confirm");
    wait_for("the resumed task", LIMIT, || state(&queue, parked) == Some(DurableState::Succeeded));
    drop(browser);
    drop(node);
}
