//! One Redis connection that reconnects: a command on a lost connection is an error, and the next command
//! reconnects first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::{Client, Connection, RedisResult};

use crate::error::{Error, is_connection_error};

/// How long connecting may take, and how long a reply may (a blocking command adds its own timeout).
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to one Redis server, opened again after it is lost.
pub(crate) struct Conn {
    client: Client,
    con: Option<Connection>,
    read_timeout: Duration,
    /// Times the connection was opened again after a loss.
    pub(crate) reconnects: u64,
}

impl Conn {
    /// Connects now: an unreachable server is an error here, not later.
    pub(crate) fn open(url: &str) -> Result<Conn, Error> {
        let client = Client::open(url).map_err(|error| Error::InvalidOption(format!("Redis URL {url:?}: {error}")))?;
        let mut conn = Conn { client, con: None, read_timeout: IO_TIMEOUT, reconnects: 0 };
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
        let con = self.client.get_connection_with_timeout(IO_TIMEOUT).map_err(|e| Error::Connect(e.to_string()))?;
        con.set_read_timeout(Some(self.read_timeout)).map_err(|e| Error::Connect(e.to_string()))?;
        con.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| Error::Connect(e.to_string()))?;
        self.con = Some(con);
        Ok(())
    }

    /// Runs `f` once, reconnecting first if the connection was lost before. A connection error drops the
    /// connection and is returned: the command may or may not have run.
    pub(crate) fn run<T>(&mut self, f: impl FnOnce(&mut Connection) -> RedisResult<T>) -> Result<T, Error> {
        if self.con.is_none() {
            self.connect()?;
            self.reconnects += 1;
        }
        let Some(con) = self.con.as_mut() else { return Err(Error::Connect("not connected".into())) };
        f(con).map_err(|error| {
            if is_connection_error(&error) {
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
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
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
