//! Two durable-queue nodes sharing one Redis on loopback, and what each ran.
//!
//! `cargo run -p taskwheel-redis --example two_nodes` starts a `redis-server` of its own (a free loopback port, a
//! temporary directory), two node processes (this program again, as `two_nodes node URL ID`), submits a dozen
//! tasks (some now, some delayed, one with a dedupe key submitted twice), prints each node's lines as they come,
//! then a summary, and stops everything. With `-- --c` the two nodes are `examples/node.c`, built with gcc
//! against the debug libtaskwheel (`cargo build -p taskwheel-ffi` first).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use taskwheel_redis::{DurableTask, Node, Queue};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("node") {
        return run_node(&args[1], &args[2]);
    }
    let c_nodes = args.iter().any(|a| a == "--c");
    let redis = Redis::start()?;
    let program = if c_nodes { build_c_node()? } else { std::env::current_exe()? };
    let (lines, seen) = mpsc::channel();
    let mut nodes = Vec::new();
    for id in ["A", "B"] {
        let mut command = Command::new(&program);
        if !c_nodes {
            command.arg("node");
        }
        let mut child = command.arg(&redis.url).arg(id).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("{line}");
                let _ = lines.send(line);
            }
        });
        nodes.push(child);
    }
    let queue = Queue::connect(&redis.url, "demo")?;
    let mut tasks: Vec<DurableTask> = (1..=8).map(|i| DurableTask::new("print", format!("email {i} (now)"))).collect();
    tasks.extend((1..=3).map(|i| {
        DurableTask::new("print", format!("reminder {i} (+{}00 ms)", 2 * i)).after(Duration::from_millis(200 * i))
    }));
    tasks.push(DurableTask::new("print", "close order 42 (keyed)").key("order-42").after(Duration::from_millis(100)));
    tasks.push(DurableTask::new("print", "close order 42 again (a duplicate: never runs)").key("order-42"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while queue.stats()?.nodes.len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // One at a time, as requests arrive: each submission wakes one idle node.
    let mut expected = 0;
    for task in &tasks {
        if !queue.submit(task)?.duplicate {
            expected += 1;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let mut ran = Vec::new();
    while ran.len() < expected && Instant::now() < deadline {
        if let Ok(line) = seen.recv_timeout(Duration::from_millis(100)) {
            ran.push(line);
        }
    }
    for mut node in nodes {
        drop(node.stdin.take());
        node.wait()?;
    }
    let count = |id: &str| ran.iter().filter(|l| l.starts_with(&format!("{id} "))).count();
    let stats = queue.stats()?;
    println!(
        "\nA ran {}, B ran {}; {} submitted, {} a duplicate; {} succeeded in Redis",
        count("A"),
        count("B"),
        tasks.len(),
        tasks.len() - expected,
        stats.counter("succeeded")
    );
    if ran.len() != expected {
        return Err(format!("{} of {expected} tasks ran", ran.len()).into());
    }
    Ok(())
}

/// One node: prints each task it runs, stops when its standard input closes.
fn run_node(url: &str, id: &str) -> Result<(), Failure> {
    let name = id.to_string();
    let node = Node::builder(url, "demo")
        .id(id)
        .workers(2)
        .handler("print", move |ctx, payload: &[u8]| {
            println!("{name} ran task {}: {}", ctx.id(), String::from_utf8_lossy(payload));
        })
        .start()?;
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    node.shutdown()?;
    Ok(())
}

/// Builds `examples/node.c` against the debug libtaskwheel.
fn build_c_node() -> Result<PathBuf, Failure> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("no workspace root")?.to_path_buf();
    // target/<profile>/examples/two_nodes: the profile's directory in whatever target directory cargo uses.
    let exe = std::env::current_exe()?;
    let lib = exe.parent().and_then(Path::parent).ok_or("no target directory")?.to_path_buf();
    if !lib.join("libtaskwheel.so").exists() {
        return Err("build libtaskwheel first: cargo build -p taskwheel-ffi".into());
    }
    let binary = lib.join("two_nodes_c_node");
    let status = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", root.join("include").display()))
        .arg(root.join("durable/examples/node.c"))
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-ltaskwheel", "-o"])
        .arg(&binary)
        .status()?;
    if !status.success() {
        return Err("gcc failed".into());
    }
    Ok(binary)
}

/// A `redis-server` of the demo's own, stopped on drop.
struct Redis {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Redis {
    fn start() -> Result<Redis, Failure> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir().join(format!("taskwheel-two-nodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start redis-server (apt-get install redis-server): {e}"))?;
        let url = format!("redis://127.0.0.1:{port}/");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Queue::connect(&url, "demo").is_err() {
            if Instant::now() > deadline {
                return Err("redis-server did not start".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Redis { child, dir, url })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
