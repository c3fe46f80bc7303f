//! The protocol with Redis: every state change of a durable task is one Lua script (`src/protocol/lua/`, its keys and
//! fields documented at the top of `common.lua`), run with `EVALSHA` (loaded again when the server forgot it). Each
//! script has one typed function here, an arguments struct in and the parsed reply out, so that nothing else builds
//! a script's arguments by position: the clients' `queue` (enqueue, cancel, schedule, unschedule), the operators'
//! `admin` (list, requeue, requeue all, delete, pause) and the node's `claim`, `lease` (renew, release), `finish`,
//! `recovery` (recover, sweep) and `schedules` (materialize).

use std::sync::OnceLock;

use crate::conn::Conn;
use crate::error::Error;

pub(crate) mod admin;
pub(crate) mod claim;
pub(crate) mod finish;
pub(crate) mod lease;
pub(crate) mod queue;
pub(crate) mod recovery;
pub(crate) mod reply;
pub(crate) mod schedules;

use redis::{
    Cmd, ConnectionLike, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisResult, Script, ServerErrorKind,
};

macro_rules! script {
    ($file:literal) => {
        concat!(include_str!("lua/common.lua"), include_str!(concat!("lua/", $file)))
    };
    ($part:literal, $file:literal) => {
        concat!(
            include_str!("lua/common.lua"),
            include_str!(concat!("lua/", $part)),
            include_str!(concat!("lua/", $file))
        )
    };
}

/// The scripts, compiled once per process.
pub(crate) struct Scripts {
    pub(crate) enqueue: Script,
    pub(crate) claim: Script,
    pub(crate) finish: Script,
    pub(crate) renew: Script,
    pub(crate) recover: Script,
    pub(crate) sweep: Script,
    pub(crate) cancel: Script,
    pub(crate) schedule: Script,
    pub(crate) unschedule: Script,
    pub(crate) materialize: Script,
    pub(crate) release: Script,
    pub(crate) list: Script,
    pub(crate) requeue: Script,
    pub(crate) requeue_all: Script,
    pub(crate) delete: Script,
    pub(crate) pause: Script,
}

/// The process's scripts.
pub(crate) fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        enqueue: Script::new(script!("enqueue.lua")),
        claim: Script::new(script!("claim.lua")),
        finish: Script::new(script!("finish.lua")),
        renew: Script::new(script!("renew.lua")),
        recover: Script::new(script!("recover.lua")),
        sweep: Script::new(script!("sweep.lua")),
        cancel: Script::new(script!("cancel.lua")),
        schedule: Script::new(script!("schedule.lua")),
        unschedule: Script::new(script!("unschedule.lua")),
        materialize: Script::new(script!("materialize.lua")),
        release: Script::new(script!("release.lua")),
        list: Script::new(script!("list.lua")),
        requeue: Script::new(script!("requeue_finished.lua", "requeue.lua")),
        requeue_all: Script::new(script!("requeue_finished.lua", "requeue_all.lua")),
        delete: Script::new(script!("delete.lua")),
        pause: Script::new(script!("pause.lua")),
    })
}

impl Scripts {
    /// Every script, to load them all after a server forgot them (a restart empties its script cache).
    fn all(&self) -> [&Script; 16] {
        [
            &self.enqueue,
            &self.claim,
            &self.finish,
            &self.renew,
            &self.recover,
            &self.sweep,
            &self.cancel,
            &self.schedule,
            &self.unschedule,
            &self.materialize,
            &self.release,
            &self.list,
            &self.requeue,
            &self.requeue_all,
            &self.delete,
            &self.pause,
        ]
    }
}

/// `TIME` of the server that holds the queue at `base`: on a cluster, the master of the queue's slot, whose clock
/// every script of the queue reads (a bare `TIME` would go to any node). `EVAL` of one line, which the server
/// compiles once and keeps.
pub(crate) fn time(base: &str) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg("return redis.call('TIME')").arg(1).arg(base);
    cmd
}

/// `EVALSHA <script> 1 <base>`, for the caller to add the script's arguments.
pub(crate) fn call(script: &Script, base: &str) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(1).arg(base);
    cmd
}

/// Whether the server did not know a script.
fn is_noscript(error: &RedisError) -> bool {
    error.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

/// Sends one script call, loading the scripts first if the server forgot them.
pub(crate) fn query<T: FromRedisValue>(con: &mut dyn ConnectionLike, cmd: &Cmd) -> RedisResult<T> {
    match cmd.query(con) {
        Err(error) if is_noscript(&error) => {
            load_all(con)?;
            cmd.query(con)
        }
        other => other,
    }
}

/// Sends a pipeline of script calls, loading the scripts first if the server forgot them (a server that forgot one
/// refuses every call in the pipeline, so none ran).
pub(crate) fn query_pipeline<T: FromRedisValue>(conn: &mut Conn, pipe: &Pipeline) -> Result<T, Error> {
    conn.pipeline_reloading(pipe, load_all, is_noscript)
}

fn load_all(con: &mut dyn ConnectionLike) -> RedisResult<()> {
    for script in scripts().all() {
        script.load(con)?;
    }
    Ok(())
}
