//! Node processes (`taskwheel-redis-node`) and the runs they log: each run is one appended line, written before the
//! handler returns, so a node killed mid-run leaves whole lines of every run it started.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// How the node processes of a test are started.
#[derive(Clone, Debug)]
pub struct NodeArgs {
    pub queue: String,
    pub workers: u32,
    pub work_us: u64,
    pub lease_ms: Option<u64>,
    pub horizon_ms: Option<u64>,
    pub recover_ms: Option<u64>,
    pub every_ms: Option<u64>,
}

/// A node process with its log.
pub struct NodeProcess {
    pub id: String,
    pub log: PathBuf,
    pub child: Child,
}

impl NodeProcess {
    /// Starts node `id` on the server at `url`, logging to `dir/<id>.log`. The process stops when its standard input
    /// closes ([`stop`](Self::stop)).
    pub fn start(url: &str, args: &NodeArgs, id: &str, dir: &Path) -> NodeProcess {
        let log = dir.join(format!("{id}.log"));
        // Set by cargo for this crate's own tests (the benches share this support module without it).
        let Some(binary) = option_env!("CARGO_BIN_EXE_taskwheel-redis-node") else {
            panic!("node processes are started only by taskwheel-redis's own tests (cargo names their binary)");
        };
        let mut cmd = Command::new(binary);
        cmd.args(["--url", url, "--queue", &args.queue, "--id", id]);
        cmd.args(["--workers", &args.workers.to_string(), "--work-us", &args.work_us.to_string()]);
        for (flag, value) in [
            ("--lease-ms", args.lease_ms),
            ("--horizon-ms", args.horizon_ms),
            ("--recover-ms", args.recover_ms),
            ("--every-ms", args.every_ms),
        ] {
            if let Some(value) = value {
                cmd.args([flag, &value.to_string()]);
            }
        }
        let child = cmd
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a node process");
        NodeProcess { id: id.to_string(), log, child }
    }

    /// Closes its standard input (it shuts down cleanly) and waits for it.
    pub fn stop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One run as a node logged it.
#[derive(Clone, Debug)]
pub struct Run {
    pub node: String,
    pub handler: String,
    pub task: u64,
    pub token: u64,
    /// When the task was due and when the run started, in µs since the Unix epoch.
    pub due: u64,
    pub start: u64,
}

/// The runs in a node's log.
pub fn runs(log: &Path) -> Vec<Run> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            // "<node> ran <handler> task <id> token <t> attempt <a> due <µs> start <µs>: <payload>"
            let start = words.get(12)?.trim_end_matches(':');
            Some(Run {
                node: words[0].to_string(),
                handler: words[2].to_string(),
                task: words[4].parse().ok()?,
                token: words[6].parse().ok()?,
                due: words[10].parse().ok()?,
                start: start.parse().ok()?,
            })
        })
        .collect()
}
