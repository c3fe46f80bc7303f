//! Serves two engines' metrics at `/metrics` on loopback, in the Prometheus / OpenMetrics text format, while the
//! engines run a small mixed load (a heartbeat every 10 ms, a burst of tasks, some failing, a group). Each engine's
//! samples carry its name as a constant label (`engine="orders"`, `engine="mail"`), and one merged collector writes
//! each metric family once:
//!
//! ```sh
//! cargo run -p taskwheel --features metrics --example metrics_server -- 127.0.0.1:9464
//! curl http://127.0.0.1:9464/metrics
//! ```
//!
//! The address defaults to `127.0.0.1:0` (a free port); the first line printed says where it listens. It serves
//! until killed.

use std::time::Duration;

use prometheus_client::registry::Registry;
use taskwheel::{Engine, MetricsCollector, Priority};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_string());
    let server = tiny_http::Server::http(&address).map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let port = server.server_addr().to_ip().map(|a| a.port()).ok_or("not an IP address")?;
    println!("listening on http://127.0.0.1:{port}/metrics");

    let engine = Engine::builder().workers(2).group("email", 1).build()?;
    engine.every(Duration::from_millis(10), |_| ())?;
    for i in 0..1_000u32 {
        let priority = if i % 10 == 0 { Priority::High } else { Priority::Normal };
        let task = engine.task(move |_| if i % 100 == 7 { Err("upstream 503") } else { Ok(()) }).priority(priority);
        // Named tasks: a failed one is the exemplar of the failed-runs counter.
        task.name(format!("order {i}")).submit()?;
    }
    for _ in 0..5 {
        engine.task(|_| std::thread::sleep(Duration::from_millis(20))).group("email").submit()?;
    }

    let mail = Engine::builder().workers(1).build()?;
    for _ in 0..3 {
        mail.spawn(|_| ())?;
    }
    // Everything submitted has run before the first scrape (the heartbeat's later runs are not waited for).
    engine.wait_idle()?;
    mail.wait_idle()?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(MetricsCollector::merge([
        engine.metrics_collector().with_label("engine", "orders"),
        mail.metrics_collector().with_label("engine", "mail"),
    ])?));

    let content_type = tiny_http::Header::from_bytes(
        &b"Content-Type"[..],
        &b"application/openmetrics-text; version=1.0.0; charset=utf-8"[..],
    )
    .map_err(|()| "bad header")?;
    for request in server.incoming_requests() {
        let response = if request.url() == "/metrics" {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry).map_err(|_| "encode the metrics")?;
            tiny_http::Response::from_string(text).with_header(content_type.clone())
        } else {
            tiny_http::Response::from_string("not found: try /metrics\n").with_status_code(404)
        };
        let _ = request.respond(response);
    }
    Ok(())
}
