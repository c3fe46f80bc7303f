//! A task's record and a node's facts as JSON text, as the CLI's `--json`, the dashboard and the C API give them:
//! times in RFC 3339 (UTC, to the microsecond), a payload as text when it is UTF-8 (`payload`) and as hex otherwise
//! (`payload_hex`).

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::controls::NodeInfo;
use crate::state::TaskInfo;

/// A time for JSON: RFC 3339 to the microsecond, or null.
fn time(time: Option<SystemTime>) -> Value {
    time.map_or(Value::Null, |t| Value::String(humantime::format_rfc3339_micros(t).to_string()))
}

/// A payload's field name and value, as `to_json` writes it: `payload` and its text when it is UTF-8, else
/// `payload_hex` and its bytes in hex.
pub fn payload_field(bytes: &[u8]) -> (&'static str, String) {
    match std::str::from_utf8(bytes) {
        Ok(text) => ("payload", text.to_string()),
        Err(_) => ("payload_hex", bytes.iter().map(|b| format!("{b:02x}")).collect()),
    }
}

impl TaskInfo {
    /// The record as one JSON object.
    ///
    /// ```
    /// # fn show(info: &taskwheel_redis::TaskInfo) {
    /// let record: serde_json::Value = serde_json::from_str(&info.to_json()).unwrap();
    /// println!("{} is {}", record["id"], record["state"]);
    /// # }
    /// ```
    pub fn to_json(&self) -> String {
        let (name, body) = payload_field(&self.payload);
        let mut value = json!({
            "id": self.id,
            "handler": self.handler,
            "state": self.state.as_str(),
            "due": time(Some(self.due)),
            "priority": self.priority.to_string(),
            "timeout_ms": self.timeout.map(|d| d.as_millis() as u64),
            "attempts": self.token,
            "runs": self.runs,
            "failures": self.failures,
            "recoveries": self.recoveries,
            "node": self.node,
            "error": self.error,
            "key": self.key,
            "schedule": self.schedule.as_ref().map(|(name, _)| name),
            "occurrence": time(self.schedule.as_ref().map(|(_, at)| *at)),
            "cancel_requested": self.cancel_requested,
            "created": time(Some(self.created)),
            "finished": time(self.finished),
            "lease_until": time(self.lease_until),
            "payload_bytes": self.payload.len(),
        });
        value[name] = Value::String(body);
        value.to_string()
    }
}

impl NodeInfo {
    /// The node's facts as one JSON object.
    pub fn to_json(&self) -> String {
        json!({
            "id": self.id,
            "handlers": self.handlers,
            "heartbeat": time(Some(self.heartbeat)),
            "alive_until": time(Some(self.alive_until)),
            "claimed": self.claimed,
            "running": self.running,
            "version": self.version,
            "started": time(self.started),
            "lateness_p50_us": self.lateness.map(|(p50, _)| p50.as_micros() as u64),
            "lateness_p99_us": self.lateness.map(|(_, p99)| p99.as_micros() as u64),
        })
        .to_string()
    }
}
