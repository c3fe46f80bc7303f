//! The dashboard's pages, rendered on the server with `maud` (every value escaped by construction): the overview, a
//! queue, a listing, a task, the confirmation of an action and its result.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use taskwheel_redis::{ListState, NodeInfo, QueueStats, RateLimit, TaskInfo, TaskPage};

use crate::render;

/// One queue's line of the overview.
pub(crate) struct QueueLine {
    pub(crate) name: String,
    pub(crate) counts: Vec<(ListState, u64)>,
    pub(crate) paused: Vec<String>,
    pub(crate) nodes: usize,
}

/// An action an operator may take, with what it acts on.
pub(crate) struct Action {
    /// `cancel`, `requeue`, `delete`, `pause` or `resume`.
    pub(crate) name: String,
    pub(crate) id: Option<u64>,
    pub(crate) handler: Option<String>,
}

impl Action {
    /// What it does, in words.
    pub(crate) fn describe(&self, queue: &str) -> String {
        match (self.name.as_str(), self.id, self.handler.as_deref()) {
            (verb @ ("cancel" | "requeue" | "delete"), Some(id), _) => format!("{verb} task {id} of queue {queue}"),
            (verb, _, Some(handler)) => format!("{verb} handler {handler} of queue {queue}"),
            (verb, _, None) => format!("{verb} the whole queue {queue}"),
        }
    }
}

fn layout(title: &str, charts: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · taskwheel" }
                link rel="stylesheet" href="/static/app.css";
                @if charts {
                    link rel="stylesheet" href="/static/uPlot.min.css";
                    script src="/static/uPlot.iife.min.js" {}
                }
            }
            body {
                header { a href="/" { "taskwheel" } span.sub { " durable queues" } }
                main { (body) }
            }
        }
    }
}

fn state_link(queue: &str, state: ListState) -> String {
    format!("/q/{}/tasks?state={}", urlencode(queue), state.as_str())
}

/// Percent-encodes a path segment or a query value.
pub(crate) fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub(crate) fn overview(queues: &[QueueLine]) -> Markup {
    layout(
        "Queues",
        false,
        html! {
            h1 { "Queues" }
            @if queues.is_empty() {
                p { "No queue on this server yet (a queue is listed once a client or node of it connects)." }
            } @else {
                table #queues {
                    thead { tr {
                        th { "queue" }
                        @for state in ListState::ALL { th.num { (state.as_str()) } }
                        th { "paused" } th.num { "nodes" }
                    } }
                    tbody {
                        @for q in queues {
                            tr data-queue=(q.name) {
                                td { a href={ "/q/" (urlencode(&q.name)) } { (q.name) } }
                                @for (state, n) in &q.counts {
                                    td.num data-state=(state.as_str()) { a href=(state_link(&q.name, *state)) { (n) } }
                                }
                                td { @if q.paused.is_empty() { "-" } @else { span.badge { (q.paused.join(", ")) } } }
                                td.num { (q.nodes) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// Everything the queue page shows.
pub(crate) struct QueueView<'a> {
    pub(crate) name: &'a str,
    pub(crate) counts: &'a [(ListState, u64)],
    pub(crate) stats: &'a QueueStats,
    pub(crate) limits: &'a [(String, RateLimit)],
    pub(crate) nodes: &'a [NodeInfo],
}

pub(crate) fn queue(view: &QueueView<'_>) -> Markup {
    let q = view.name;
    let whole_paused = view.stats.paused.iter().any(|p| p == "*");
    let mut handlers: Vec<(String, u64)> = view.stats.waiting.iter().map(|(h, n)| (h.clone(), *n)).collect();
    for node in view.nodes {
        for h in &node.handlers {
            if !handlers.iter().any(|(name, _)| name == h) {
                handlers.push((h.clone(), 0));
            }
        }
    }
    handlers.sort();
    let chart_url = format!("/q/{}/series.json", urlencode(q));
    layout(
        q,
        true,
        html! {
            h1 { "Queue " (q) @if whole_paused { " " span.badge #paused { "paused" } } }
            div.cards {
                @for (state, n) in view.counts {
                    a.card href=(state_link(q, *state)) id={ "count-" (state.as_str()) } {
                        span.n { (n) } span.label { (state.as_str()) }
                    }
                }
            }
            form.search method="get" action={ "/q/" (urlencode(q)) "/find" } {
                input #search type="search" name="q" placeholder="task id or dedupe key";
                button type="submit" { "Find" }
            }
            div.charts {
                div { h2 { "Throughput (per second)" } div #throughput {} }
                div { h2 { "Start lateness (ms, nodes' recent runs)" } div #lateness {} }
            }
            h2 { "Handlers" }
            p {
                @if whole_paused {
                    a.button #resume-queue href={ "/q/" (urlencode(q)) "/confirm?action=resume" } { "Resume the queue" }
                } @else {
                    a.button #pause-queue href={ "/q/" (urlencode(q)) "/confirm?action=pause" } { "Pause the queue" }
                }
            }
            table #handlers {
                thead { tr { th { "handler" } th.num { "waiting" } th { "state" } th { "rate limit" } th {} } }
                tbody {
                    @for (h, waiting) in &handlers {
                        @let paused = view.stats.paused.contains(h);
                        tr data-handler=(h) {
                            td { (h) }
                            td.num { (waiting) }
                            td {
                                @if paused { span.badge { "paused" } }
                                @else if view.stats.unknown_handlers.contains(h) { span.badge.warn { "no node runs it" } }
                                @else { "running" }
                            }
                            td {
                                @match view.limits.iter().find(|(name, _)| name == h) {
                                    Some((_, l)) => { (l.max) " per " (humantime::format_duration(l.per)) }
                                    None => { "-" }
                                }
                            }
                            td {
                                @let action = if paused { "resume" } else { "pause" };
                                a.button id={ (action) "-" (h) }
                                    href={ "/q/" (urlencode(q)) "/confirm?action=" (action) "&handler=" (urlencode(h)) } {
                                    @if paused { "Resume" } @else { "Pause" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Nodes" }
            table #nodes {
                thead { tr {
                    th { "node" } th { "handlers" } th { "last heartbeat" } th.num { "claimed" } th.num { "running" }
                    th { "lateness p50 / p99" } th { "version" }
                } }
                tbody {
                    @for n in view.nodes {
                        tr {
                            td { (n.id) } td { (n.handlers.join(", ")) } td { (render::time(Some(n.heartbeat))) }
                            td.num { (n.claimed) } td.num { (n.running) }
                            td { @match n.lateness {
                                Some((a, b)) => { (humantime::format_duration(a)) " / " (humantime::format_duration(b)) }
                                None => { "-" }
                            } }
                            td { (n.version) }
                        }
                    }
                }
            }
            script { (PreEscaped(charts_script(&chart_url))) }
        },
    )
}

/// Draws the two charts from the series endpoint, and redraws them every 5 s.
fn charts_script(url: &str) -> String {
    let url = serde_json::to_string(url).unwrap_or_else(|_| "\"\"".into());
    format!(
        r#"(function () {{
  var url = {url}, plots = {{}};
  function draw(id, series, data) {{
    var el = document.getElementById(id);
    var opts = {{ width: Math.max(320, el.clientWidth || 560), height: 220, series: series,
                 axes: [{{}}, {{ size: 60 }}] }};
    if (plots[id]) {{ plots[id].setData(data); return; }}
    el.textContent = '';
    plots[id] = new uPlot(opts, data, el);
  }}
  function load() {{
    fetch(url).then(function (r) {{ return r.json(); }}).then(function (d) {{
      draw('throughput', [{{}}, {{ label: 'succeeded', stroke: '#2a7' }}, {{ label: 'failed', stroke: '#c33' }},
                          {{ label: 'retried', stroke: '#d90' }}], d.throughput);
      draw('lateness', [{{}}, {{ label: 'p50', stroke: '#36c' }}, {{ label: 'p99', stroke: '#93c' }}], d.lateness);
      document.body.setAttribute('data-charts', d.throughput[0].length);
    }});
  }}
  load();
  setInterval(load, 5000);
}})();"#
    )
}

pub(crate) fn tasks(queue: &str, state: ListState, offset: u64, limit: u64, page: &TaskPage) -> Markup {
    let q = urlencode(queue);
    let shown = page.tasks.len() as u64;
    layout(
        &format!("{queue}: {state}"),
        false,
        html! {
            h1 { a href={ "/q/" (q) } { (queue) } " · " (state.as_str()) }
            nav.tabs {
                @for s in ListState::ALL {
                    a.current[s == state] href=(state_link(queue, s)) { (s.as_str()) }
                }
            }
            p #range {
                @if shown == 0 { "none" } @else { (offset + 1) "–" (offset + shown) } " of " span #total { (page.total) }
            }
            table #tasks {
                thead { tr {
                    th { "id" } th { "handler" } th { "state" } th { "due" } th.num { "runs" } th.num { "failures" }
                    th { "node" } th { "key" } th { "error" }
                } }
                tbody {
                    @for t in &page.tasks {
                        tr data-id=(t.id) {
                            td { a href={ "/q/" (q) "/t/" (t.id) } { (t.id) } }
                            td { (t.handler) } td { (t.state.as_str()) } td { (render::time(Some(t.due))) }
                            td.num { (t.runs) } td.num { (t.failures) }
                            td { (t.node.as_deref().unwrap_or("-")) } td { (t.key.as_deref().unwrap_or("-")) }
                            td.error { (render::short(t.error.as_deref().unwrap_or("-"), 80)) }
                        }
                    }
                }
            }
            nav.pages {
                @if offset > 0 {
                    a #prev href={ (state_link(queue, state)) "&offset=" (offset.saturating_sub(limit)) } { "← newer / earlier" }
                }
                @if offset + shown < page.total {
                    a #next href={ (state_link(queue, state)) "&offset=" (offset + limit) } { "more →" }
                }
            }
        },
    )
}

pub(crate) fn task(queue: &str, info: &TaskInfo) -> Markup {
    let q = urlencode(queue);
    let json = serde_json::to_string_pretty(&render::info_json(info)).unwrap_or_default();
    layout(
        &format!("task {}", info.id),
        false,
        html! {
            h1 { a href={ "/q/" (q) } { (queue) } " · task " (info.id) " " span.badge #state { (info.state.as_str()) } }
            p.actions {
                @for action in ["cancel", "requeue", "delete"] {
                    a.button id=(action) href={ "/q/" (q) "/confirm?action=" (action) "&id=" (info.id) } { (action) }
                }
            }
            pre #record { (render::info_text(info)) }
            details { summary { "JSON" } pre { (json) } }
        },
    )
}

pub(crate) fn confirm(queue: &str, action: &Action, token_required: bool) -> Markup {
    let q = urlencode(queue);
    layout(
        "Confirm",
        false,
        html! {
            h1 { "Confirm" }
            p #what { "Do you want to " strong { (action.describe(queue)) } "?" }
            form method="post" action={ "/q/" (q) "/do" } {
                input type="hidden" name="action" value=(action.name);
                @if let Some(id) = action.id { input type="hidden" name="id" value=(id); }
                @if let Some(handler) = &action.handler { input type="hidden" name="handler" value=(handler); }
                @if token_required {
                    label { "Token " input #token type="password" name="token" autocomplete="off"; }
                }
                button #confirm type="submit" { "Yes, " (action.name) }
                " "
                a href={ "/q/" (q) } { "No, go back" }
            }
        },
    )
}

pub(crate) fn result(queue: &str, ok: bool, message: &str, next: &str) -> Markup {
    layout(
        if ok { "Done" } else { "Refused" },
        false,
        html! {
            h1 { @if ok { "Done" } @else { "Refused" } }
            p #message .ok[ok] .refused[!ok] { (message) }
            p { a #continue href=(next) { "Continue" } " · " a href={ "/q/" (urlencode(queue)) } { "the queue" } }
        },
    )
}

pub(crate) fn not_found(what: &str) -> Markup {
    layout("Not found", false, html! { h1 { "Not found" } p #message { (what) } p { a href="/" { "Queues" } } })
}

pub(crate) fn error(what: &str) -> Markup {
    layout("Error", false, html! { h1 { "Error" } p #message { (what) } p { a href="/" { "Queues" } } })
}
