//! One Redis connection that reconnects: a command on a lost connection is an error, and the next command
//! reconnects first. To one server (`redis://host:port/db`); to a Redis Cluster (`redis+cluster://host:port,
//! host:port,...`: any of its nodes; each command goes to the master of its key's slot, and every key of a queue
//! shares the queue's `{name}` hash tag, so a queue's scripts and pipelines stay on one master); or to the primary
//! a set of Sentinels names (`redis+sentinel://host:port,host:port/<master name>`: each connection asks them
//! which server is the primary now, so a connection lost in a failover, or refused by a demoted primary with
//! `READONLY`, is opened again to the new one).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterConnection, cluster_pipe};
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{Client, Connection, ConnectionLike, FromRedisValue, Pipeline, RedisResult};

use crate::error::{Error, is_connection_error, is_read_only};

/// How long connecting may take, and how long a reply may (a blocking command adds its own timeout).
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The scheme of a cluster's URL, and of a Sentinel-managed primary's.
const CLUSTER_SCHEME: &str = "redis+cluster://";
const SENTINEL_SCHEME: &str = "redis+sentinel://";

/// Where connections go.
enum Target {
    Server(Client),
    Cluster(Vec<String>),
    Sentinel(Box<SentinelClient>),
}

/// `host:port,host:port` as `redis://host:port/` URLs.
fn node_urls(list: &str) -> Vec<String> {
    list.split(',').filter(|n| !n.is_empty()).map(|node| format!("redis://{node}/")).collect()
}

/// An open connection, to a server or to a cluster.
enum Open {
    Server(Connection),
    Cluster(Box<ClusterConnection>),
}

impl Open {
    fn as_dyn(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Open::Server(con) => con,
            Open::Cluster(con) => con.as_mut(),
        }
    }
}

/// Sends `pipe` on `open`: as it is to a server, as a cluster pipeline to a cluster.
fn send<T: FromRedisValue>(open: &mut Open, pipe: &Pipeline) -> RedisResult<T> {
    match open {
        Open::Server(con) => pipe.query(con),
        Open::Cluster(con) => {
            let mut cluster = cluster_pipe();
            for cmd in pipe.cmd_iter() {
                cluster.add_command(cmd.clone());
            }
            cluster.query(con.as_mut())
        }
    }
}

/// A connection to one Redis server or a cluster, opened again after it is lost.
pub(crate) struct Conn {
    target: Target,
    con: Option<Open>,
    read_timeout: Duration,
    /// Times the connection was opened again after a loss.
    pub(crate) reconnects: u64,
}

impl Conn {
    /// Connects now: an unreachable server is an error here, not later.
    pub(crate) fn open(url: &str) -> Result<Conn, Error> {
        let bad = |error: String| Error::InvalidOption(format!("Redis URL {url:?}: {error}"));
        let target = if let Some(nodes) = url.strip_prefix(CLUSTER_SCHEME) {
            let nodes = node_urls(nodes.trim_end_matches('/'));
            if nodes.is_empty() {
                return Err(bad("a cluster URL names at least one node".into()));
            }
            // Checked now, as a single server's URL is.
            ClusterClient::new(nodes.clone()).map_err(|e| bad(e.to_string()))?;
            Target::Cluster(nodes)
        } else if let Some(rest) = url.strip_prefix(SENTINEL_SCHEME) {
            let (sentinels, master) = rest.split_once('/').unwrap_or((rest, ""));
            let master = master.trim_end_matches('/');
            let sentinels = node_urls(sentinels);
            if sentinels.is_empty() || master.is_empty() {
                return Err(bad(
                    "a Sentinel URL names its sentinels and the master: redis+sentinel://h:p,h:p/name".into()
                ));
            }
            let client = SentinelClient::build(sentinels, master.to_string(), None, SentinelServerType::Master)
                .map_err(|e| bad(e.to_string()))?;
            Target::Sentinel(Box::new(client))
        } else {
            Target::Server(Client::open(url).map_err(|e| bad(e.to_string()))?)
        };
        let mut conn = Conn { target, con: None, read_timeout: IO_TIMEOUT, reconnects: 0 };
        conn.connect()?;
        Ok(conn)
    }

    /// A connection for blocking commands that wait up to `wait`: replies may take that long plus the usual margin.
    pub(crate) fn open_blocking(url: &str, wait: Duration) -> Result<Conn, Error> {
        let mut conn = Conn::open(url)?;
        conn.read_timeout = wait + IO_TIMEOUT;
        conn.con = None;
        conn.connect()?;
        Ok(conn)
    }

    fn connect(&mut self) -> Result<(), Error> {
        let lost = |e: redis::RedisError| Error::Connect(e.to_string());
        let server = |client: &Client| -> Result<Open, Error> {
            let con = client.get_connection_with_timeout(IO_TIMEOUT).map_err(lost)?;
            con.set_read_timeout(Some(self.read_timeout)).map_err(lost)?;
            con.set_write_timeout(Some(IO_TIMEOUT)).map_err(lost)?;
            Ok(Open::Server(con))
        };
        self.con = Some(match &mut self.target {
            Target::Server(client) => server(client)?,
            Target::Sentinel(sentinels) => server(&sentinels.get_client().map_err(lost)?)?,
            Target::Cluster(nodes) => {
                let client = ClusterClient::builder(nodes.clone())
                    .connection_timeout(IO_TIMEOUT)
                    .response_timeout(self.read_timeout)
                    .retries(2)
                    .build()
                    .map_err(lost)?;
                Open::Cluster(Box::new(client.get_connection().map_err(lost)?))
            }
        });
        Ok(())
    }

    /// Runs `f` once, reconnecting first if the connection was lost before. A connection error drops the
    /// connection and is returned: the command may or may not have run.
    pub(crate) fn run<T>(&mut self, f: impl FnOnce(&mut dyn ConnectionLike) -> RedisResult<T>) -> Result<T, Error> {
        self.with(|open| f(open.as_dyn()))
    }

    /// Sends a pipeline, as [`run`](Self::run) a command. On a cluster it goes as a cluster pipeline (each command
    /// to its slot's master; a queue's are all on one). Commands marked `ignore` are not supported here.
    pub(crate) fn pipeline<T: FromRedisValue>(&mut self, pipe: &Pipeline) -> Result<T, Error> {
        self.with(|open| send(open, pipe))
    }

    /// Sends a pipeline of script calls; when the server answers that it forgot a script (a restart empties its
    /// cache; it then ran none of the pipeline), runs `reload` and sends it again.
    pub(crate) fn pipeline_reloading<T: FromRedisValue>(
        &mut self,
        pipe: &Pipeline,
        reload: impl FnOnce(&mut dyn ConnectionLike) -> RedisResult<()>,
        forgot: impl Fn(&redis::RedisError) -> bool,
    ) -> Result<T, Error> {
        self.with(|open| match send(open, pipe) {
            Err(error) if forgot(&error) => {
                reload(open.as_dyn())?;
                send(open, pipe)
            }
            other => other,
        })
    }

    fn with<T>(&mut self, f: impl FnOnce(&mut Open) -> RedisResult<T>) -> Result<T, Error> {
        if self.con.is_none() {
            self.connect()?;
            self.reconnects += 1;
        }
        let Some(con) = self.con.as_mut() else { return Err(Error::Connect("not connected".into())) };
        f(con).map_err(|error| {
            // A demoted primary refuses writes: the next command asks the Sentinels for the new one.
            if is_connection_error(&error) || is_read_only(&error) {
                self.con = None;
            }
            Error::from(error)
        })
    }

    /// Runs `f` until it succeeds, reconnecting with backoff (20 ms doubling to 1 s) while the connection is lost,
    /// until `stop` is set or `patience` has passed. `f` must be safe to run again after a connection error (the
    /// scripts are: each checks the task's fencing token and state before changing it).
    pub(crate) fn run_retrying<T>(
        &mut self,
        stop: &AtomicBool,
        patience: Duration,
        mut f: impl FnMut(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> Result<T, Error> {
        let deadline = Instant::now() + patience;
        let mut backoff = Duration::from_millis(20);
        loop {
            match self.run(&mut f) {
                Err(Error::Connect(why)) => {
                    if stop.load(Ordering::Relaxed) || Instant::now() + backoff > deadline {
                        return Err(Error::Connect(why));
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }
}
