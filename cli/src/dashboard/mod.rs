//! `taskwheel-redis dashboard`: a small web dashboard of the server's durable queues, served by this process.
//!
//! The stack, chosen for the long run and for users who build only Rust and C: pages rendered on the server
//! (`maud`: HTML checked at compile time, every value escaped by construction), a blocking HTTP server
//! (`tiny_http`: no async runtime, as the rest of taskwheel), and one chart library, uPlot (MIT, 50 KB, no
//! dependencies), vendored in `cli/static/` and compiled into the binary: nothing to build, fetch or serve apart.
//! Every action (cancel, requeue, delete, pause, resume) goes through a confirmation page, then one `Queue` call,
//! which is one script call with the same checks as the API and the CLI; with a token (`--token` or
//! `TASKWHEEL_DASHBOARD_TOKEN`) the confirmation asks for it. It listens on loopback unless told otherwise.

mod pages;
mod series;

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use maud::Markup;
use taskwheel_redis::{Deleted, DurableCancel, ListState, Queue, Requeued};
use tiny_http::{Header, Method, Request, Response, Server};

use pages::{Action, QueueLine, QueueView, urlencode};
use series::Series;

/// The dashboard's settings.
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) listen: String,
    pub(crate) token: Option<String>,
    pub(crate) interval: Duration,
}

/// What the request handlers share.
struct Dashboard {
    settings: Settings,
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    series: Mutex<Series>,
}

/// Serves until the process is stopped. Prints `listening on http://ADDRESS` first (the address bound, so that
/// `--listen 127.0.0.1:0` tells its port).
pub(crate) fn serve(settings: Settings) -> Result<(), String> {
    let server = Server::http(&settings.listen).map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let address = server.server_addr().to_ip().map_or_else(|| settings.listen.clone(), |a| a.to_string());
    // Reach Redis once before saying we listen: a wrong URL is an error at start, not on the first page.
    taskwheel_redis::queues(&settings.url).map_err(|e| e.to_string())?;
    println!("listening on http://{address}");
    let dashboard = Arc::new(Dashboard { settings, queues: Mutex::new(HashMap::new()), series: Mutex::default() });
    let sampler = dashboard.clone();
    std::thread::Builder::new()
        .name("dashboard-sampler".into())
        .spawn(move || sampler.sample_forever())
        .map_err(|e| format!("cannot start the sampler: {e}"))?;
    for request in server.incoming_requests() {
        dashboard.handle(request);
    }
    Ok(())
}

/// A response: a status, a content type and a body.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    location: Option<String>,
}

impl Reply {
    fn page(status: u16, markup: Markup) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            body: markup.into_string().into_bytes(),
            location: None,
        }
    }

    fn redirect(to: String) -> Reply {
        Reply { status: 303, content_type: "text/plain", body: Vec::new(), location: Some(to) }
    }

    fn asset(content_type: &'static str, body: &'static [u8]) -> Reply {
        Reply { status: 200, content_type, body: body.to_vec(), location: None }
    }
}

/// The query string's or a form body's fields.
fn fields(text: &str) -> HashMap<String, String> {
    form_urlencoded::parse(text.as_bytes()).into_owned().collect()
}

impl Dashboard {
    fn queue(&self, name: &str) -> Result<Arc<Queue>, taskwheel_redis::Error> {
        if let Some(queue) = self.queues.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(queue.clone());
        }
        let queue = Arc::new(Queue::connect(&self.settings.url, name)?);
        self.queues.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), queue.clone());
        Ok(queue)
    }

    /// Samples every queue each interval, for the charts.
    fn sample_forever(&self) {
        loop {
            let started = Instant::now();
            if let Ok(names) = taskwheel_redis::queues(&self.settings.url) {
                for name in names {
                    if let Ok(queue) = self.queue(&name) {
                        let _ = self.series.lock().unwrap_or_else(|p| p.into_inner()).sample(&queue);
                    }
                }
            }
            std::thread::sleep(self.settings.interval.saturating_sub(started.elapsed()));
        }
    }

    fn handle(&self, mut request: Request) {
        let url = request.url().to_string();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let query = fields(query);
        let method = request.method().clone();
        let mut body = String::new();
        if method == Method::Post {
            let _ = request.as_reader().take(64 * 1024).read_to_string(&mut body);
        }
        let segments: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let reply = match (&method, segments.as_slice()) {
            (Method::Get, []) => self.overview(),
            (Method::Get, ["static", file]) => static_file(file),
            (Method::Get, ["q", queue]) => self.queue_page(queue),
            (Method::Get, ["q", queue, "series.json"]) => self.series_json(queue),
            (Method::Get, ["q", queue, "tasks"]) => self.tasks_page(queue, &query),
            (Method::Get, ["q", queue, "find"]) => self.find(queue, query.get("q").map(String::as_str).unwrap_or("")),
            (Method::Get, ["q", queue, "t", id]) => self.task_page(queue, id),
            (Method::Get, ["q", queue, "confirm"]) => self.confirm(queue, &query),
            (Method::Post, ["q", queue, "do"]) => self.act(queue, &fields(&body)),
            _ => Reply::page(404, pages::not_found(&format!("no page {path}"))),
        };
        let mut response = Response::from_data(reply.body).with_status_code(reply.status);
        if let Ok(header) = Header::from_bytes(&b"Content-Type"[..], reply.content_type.as_bytes()) {
            response.add_header(header);
        }
        if let Some(location) = reply.location
            && let Ok(header) = Header::from_bytes(&b"Location"[..], location.as_bytes())
        {
            response.add_header(header);
        }
        let _ = request.respond(response);
    }

    fn overview(&self) -> Reply {
        let read = || -> Result<Vec<QueueLine>, taskwheel_redis::Error> {
            taskwheel_redis::queues(&self.settings.url)?
                .into_iter()
                .map(|name| {
                    let queue = self.queue(&name)?;
                    Ok(QueueLine {
                        counts: queue.counts()?,
                        paused: queue.paused()?,
                        nodes: queue.nodes()?.len(),
                        name,
                    })
                })
                .collect()
        };
        match read() {
            Ok(lines) => Reply::page(200, pages::overview(&lines)),
            Err(e) => Reply::page(502, pages::error(&e.to_string())),
        }
    }

    fn queue_page(&self, name: &str) -> Reply {
        let read = || -> Result<Markup, taskwheel_redis::Error> {
            let queue = self.queue(name)?;
            let (counts, stats, nodes) = (queue.counts()?, queue.stats()?, queue.nodes()?);
            let limits: Vec<_> = queue.rate_limits()?.into_iter().collect();
            Ok(pages::queue(&QueueView { name, counts: &counts, stats: &stats, limits: &limits, nodes: &nodes }))
        };
        match read() {
            Ok(page) => Reply::page(200, page),
            Err(e) => Reply::page(502, pages::error(&e.to_string())),
        }
    }

    fn series_json(&self, name: &str) -> Reply {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut chart = series.chart(name);
        chart["samples"] = serde_json::json!(series.len(name));
        Reply { status: 200, content_type: "application/json", body: chart.to_string().into_bytes(), location: None }
    }

    fn tasks_page(&self, name: &str, query: &HashMap<String, String>) -> Reply {
        let Some(state) = query.get("state").and_then(|s| s.parse::<ListState>().ok()) else {
            return Reply::page(400, pages::error("name a state: ?state=pending (scheduled, retrying, active, ...)"));
        };
        let offset = query.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
        let limit = query.get("limit").and_then(|o| o.parse().ok()).unwrap_or(50u64).clamp(1, 1000);
        match self.queue(name).and_then(|queue| queue.list(state, offset, limit)) {
            Ok(page) => Reply::page(200, pages::tasks(name, state, offset, limit, &page)),
            Err(e) => Reply::page(502, pages::error(&e.to_string())),
        }
    }

    /// A search: an id goes to its task's page; anything else is looked up as a dedupe key.
    fn find(&self, name: &str, what: &str) -> Reply {
        let what = what.trim();
        let found = match what.parse::<u64>() {
            Ok(id) => Ok(Some(id)),
            Err(_) if what.is_empty() => Ok(None),
            Err(_) => self.queue(name).and_then(|queue| queue.find_key(what)),
        };
        match found {
            Ok(Some(id)) => Reply::redirect(format!("/q/{}/t/{id}", urlencode(name))),
            Ok(None) => Reply::page(404, pages::not_found(&format!("no task with id or dedupe key {what:?}"))),
            Err(e) => Reply::page(400, pages::error(&e.to_string())),
        }
    }

    fn task_page(&self, name: &str, id: &str) -> Reply {
        let Ok(id) = id.parse::<u64>() else { return Reply::page(404, pages::not_found("a task id is a number")) };
        match self.queue(name).and_then(|queue| queue.get(id)) {
            Ok(Some(info)) => Reply::page(200, pages::task(name, &info)),
            Ok(None) => Reply::page(404, pages::not_found(&format!("no task {id} (never submitted, or forgotten)"))),
            Err(e) => Reply::page(502, pages::error(&e.to_string())),
        }
    }

    fn confirm(&self, name: &str, query: &HashMap<String, String>) -> Reply {
        match action_of(query) {
            Ok(action) => Reply::page(200, pages::confirm(name, &action, self.settings.token.is_some())),
            Err(why) => Reply::page(400, pages::error(&why)),
        }
    }

    /// Runs a confirmed action: the token checked first when one is set.
    fn act(&self, name: &str, form: &HashMap<String, String>) -> Reply {
        if let Some(token) = &self.settings.token
            && form.get("token") != Some(token)
        {
            return Reply::page(403, pages::result(name, false, "wrong or missing token: nothing was done", "/"));
        }
        let action = match action_of(form) {
            Ok(action) => action,
            Err(why) => return Reply::page(400, pages::error(&why)),
        };
        let queue = match self.queue(name) {
            Ok(queue) => queue,
            Err(e) => return Reply::page(502, pages::error(&e.to_string())),
        };
        let q = urlencode(name);
        let task_page = |id: u64| format!("/q/{q}/t/{id}");
        let outcome: Result<(bool, String, String), taskwheel_redis::Error> = (|| {
            Ok(match (action.name.as_str(), action.id) {
                ("cancel", Some(id)) => match queue.cancel(id)? {
                    DurableCancel::Cancelled => (true, format!("task {id} cancelled"), task_page(id)),
                    DurableCancel::Requested => {
                        (true, format!("task {id} is running: its cancellation is requested"), task_page(id))
                    }
                    DurableCancel::AlreadyFinished => (false, format!("task {id} has ended already"), task_page(id)),
                    _ => (false, format!("no task {id}"), format!("/q/{q}")),
                },
                ("requeue", Some(id)) => match queue.requeue(id, None)? {
                    Requeued::Requeued { .. } => (true, format!("task {id} requeued, due now"), task_page(id)),
                    Requeued::Active => (false, format!("task {id} is active: cancel it first"), task_page(id)),
                    Requeued::KeyHeld { holder } => {
                        (false, format!("task {holder} holds its dedupe key now"), task_page(holder))
                    }
                    _ => (false, format!("no task {id}"), format!("/q/{q}")),
                },
                ("delete", Some(id)) => match queue.delete(id)? {
                    Deleted::Deleted => (true, format!("task {id} deleted"), format!("/q/{q}")),
                    Deleted::Active => (false, format!("task {id} is active: cancel it first"), task_page(id)),
                    _ => (false, format!("no task {id}"), format!("/q/{q}")),
                },
                ("pause" | "resume", _) => {
                    let pause = action.name == "pause";
                    let handler = action.handler.as_deref();
                    let changed = if pause { queue.pause(handler)? } else { queue.resume(handler)? };
                    let what = action.describe(name);
                    (
                        true,
                        if changed { format!("done: {what}") } else { format!("nothing to do: {what}") },
                        format!("/q/{q}"),
                    )
                }
                _ => (false, "unknown action".to_string(), format!("/q/{q}")),
            })
        })();
        match outcome {
            Ok((ok, message, next)) => {
                Reply::page(if ok { 200 } else { 409 }, pages::result(name, ok, &message, &next))
            }
            Err(e) => Reply::page(400, pages::result(name, false, &e.to_string(), &format!("/q/{q}"))),
        }
    }
}

/// The action a form or query names.
fn action_of(fields: &HashMap<String, String>) -> Result<Action, String> {
    let name = fields.get("action").cloned().unwrap_or_default();
    let id = fields.get("id").map(|id| id.parse::<u64>().map_err(|_| format!("task id {id:?}"))).transpose()?;
    let handler = fields.get("handler").filter(|h| !h.is_empty()).cloned();
    match name.as_str() {
        "cancel" | "requeue" | "delete" if id.is_some() => Ok(Action { name, id, handler: None }),
        "pause" | "resume" => Ok(Action { name, id: None, handler }),
        _ => Err(format!("unknown action {name:?} (cancel, requeue or delete a task; pause or resume)")),
    }
}

fn static_file(file: &str) -> Reply {
    match file {
        "uPlot.iife.min.js" => {
            Reply::asset("text/javascript; charset=utf-8", include_bytes!("../../static/uPlot.iife.min.js"))
        }
        "uPlot.min.css" => Reply::asset("text/css; charset=utf-8", include_bytes!("../../static/uPlot.min.css")),
        "app.css" => Reply::asset("text/css; charset=utf-8", include_bytes!("../../static/app.css")),
        _ => Reply::page(404, pages::not_found(&format!("no file {file}"))),
    }
}
