//! A real `redis-server` for the tests: on a free loopback port, in a temporary directory, stopped on drop.
//! Without the binary the tests say loudly that they were skipped; `TASKWHEEL_REQUIRE_REDIS=1` (set by `.ci/run`)
//! makes that a failure.
#![allow(dead_code, unreachable_pub)]

pub mod fleet;
pub mod proxy;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    args: Vec<String>,
}

fn binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("TASKWHEEL_REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("redis-server")).find(|p| p.is_file())
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a loopback port").local_addr().expect("its address").port()
}

impl RedisServer {
    /// Starts a server, or returns `None` after saying loudly that the test is skipped.
    pub fn start(test: &str) -> Option<RedisServer> {
        RedisServer::start_with(test, &[])
    }

    /// Starts a server with extra configuration (`["--appendonly", "yes"]`).
    pub fn start_with(test: &str, extra: &[&str]) -> Option<RedisServer> {
        let Some(binary) = binary() else {
            if std::env::var("TASKWHEEL_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
                panic!("{test}: redis-server not found and TASKWHEEL_REQUIRE_REDIS=1");
            }
            eprintln!("\n*** SKIPPED {test}: redis-server not found (apt-get install redis-server) ***\n");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("taskwheel-redis-{}-{test}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let mut server = RedisServer { child: None, port: 0, dir, args: extra.iter().map(|s| s.to_string()).collect() };
        server.port = free_port();
        server.spawn(&binary);
        Some(server)
    }

    fn spawn(&mut self, binary: &PathBuf) {
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--maxmemory-policy", "noeviction", "--protected-mode", "yes"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(200))
                && redis::cmd("PING").query::<String>(&mut con).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer on port {} within 10 s", self.port);
    }

    /// Stops the server (SIGTERM: with AOF on, it writes what it has) and starts it again on the same port and
    /// directory.
    pub fn restart(&mut self) {
        self.stop();
        let binary = binary().expect("the binary that started it");
        self.spawn(&binary);
    }

    /// Starts the server again after [`kill`](Self::kill), on the same port and directory (and so the same AOF).
    pub fn restart_killed(&mut self) {
        let binary = binary().expect("the binary that started it");
        self.spawn(&binary);
    }

    /// Kills the server at once (SIGKILL: only what reached its AOF survives).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // std's `Child::kill` sends SIGKILL; a clean stop (AOF written) needs SIGTERM, sent by kill(1).
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A plain connection, for the tests' own commands.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url()).expect("a URL").get_connection().expect("connect")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `done` every 10 ms until it holds, for at most `limit`; panics with `what` otherwise.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

impl RedisServer {
    /// The server process's id (for signals), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// Sends `signal` (`"-STOP"`, `"-CONT"`, `"-KILL"`) to process `pid` through kill(1).
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(signal).arg(pid.to_string()).status().expect("run kill(1)");
    assert!(status.success(), "kill {signal} {pid}");
}
