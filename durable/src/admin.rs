//! An operator's view and controls of a queue: tasks listed by state (from the due sets and the indexes the
//! scripts keep, paged by rank), requeued, deleted; handlers paused, resumed and rate-limited across the fleet; the
//! live nodes and the schedules. What they take and answer is in `controls`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use redis::Value;

use crate::controls::{
    Deleted, ListState, NodeInfo, RateLimit, Requeued, RequeuedAll, ScheduleInfo, TaskPage, TaskSummary,
};
use crate::error::Error;
use crate::protocol;
use crate::protocol::admin::{RequeueAll, RequeueReply};
use crate::protocol::reply::{array, text};
use crate::queue::Queue;
use crate::spec::{check_name, duration_micros, from_micros, time_micros};

/// The most tasks one bulk requeue batch looks at (one script call: the server is busy for its length).
const REQUEUE_BATCH: u64 = 500;

impl Queue {
    /// A page of the tasks in `state`: `limit` (at most 1,000) from rank `offset`, in the state's order. Read from
    /// indexes the scripts keep, by rank: a page costs the same at any depth of a million tasks.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a limit above 1,000; [`Error::Connect`] / [`Error::Redis`].
    pub fn list(&self, state: ListState, offset: u64, limit: u64) -> Result<TaskPage, Error> {
        if limit > 1000 {
            return Err(Error::InvalidOption(format!("a page of {limit} tasks (at most 1,000)")));
        }
        let page = protocol::admin::list(&mut self.conn.lock(), &self.base, state.as_str(), offset, limit)?;
        Ok(TaskPage {
            total: page.total,
            tasks: page.rows.into_iter().map(TaskSummary::parse).collect::<Result<_, _>>()?,
            now: from_micros(page.now_us),
        })
    }

    /// How many tasks are in each state, in [`ListState::ALL`]'s order (each an index's count: O(log n); all in one
    /// round trip).
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] / [`Error::Redis`].
    pub fn counts(&self) -> Result<Vec<(ListState, u64)>, Error> {
        let states = ListState::ALL.map(ListState::as_str);
        let totals = protocol::admin::totals(&mut self.conn.lock(), &self.base, &states)?;
        Ok(ListState::ALL.into_iter().zip(totals).collect())
    }

    /// The task holding dedupe key `key` (a task holds its key while it waits, runs or is retried).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a key no task can have; [`Error::Connect`] / [`Error::Redis`].
    pub fn find_key(&self, key: &str) -> Result<Option<u64>, Error> {
        check_name("dedupe key", key)?;
        let k = format!("{}:k:{key}", self.base);
        let holder: Option<u64> = self.conn.lock().run(|con| redis::cmd("GET").arg(&k).query(con))?;
        Ok(holder)
    }

    /// Requeues task `id`, due at `at` (`None`: now). A task that ended (dead, failed, cancelled, succeeded) goes
    /// back to pending and starts over (its failures counted afresh, its dedupe key taken again, its record no
    /// longer expiring); a waiting one is moved to that time.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a time the scripts cannot hold; [`Error::Connect`] / [`Error::Redis`].
    pub fn requeue(&self, id: u64, at: Option<SystemTime>) -> Result<Requeued, Error> {
        let due = at.map(time_micros).transpose()?;
        let signal = duration_micros("the signal horizon", self.options.signal_horizon)?;
        Ok(match protocol::admin::requeue(&mut self.conn.lock(), &self.base, id, due, signal)? {
            RequeueReply::Requeued { due_us } => Requeued::Requeued { due: from_micros(due_us) },
            RequeueReply::Active => Requeued::Active,
            RequeueReply::Unknown => Requeued::Unknown,
            RequeueReply::KeyHeld { holder } => Requeued::KeyHeld { holder },
        })
    }

    /// Requeues every task that ended in `state` (dead, failed, cancelled or succeeded), of `handler` or of every
    /// handler, due at `at` (`None`: now): "requeue all dead of a handler" after a fix. Runs in batches of 500
    /// (one script call each), oldest first, until none is left.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for a state that has not ended; [`Error::InvalidName`]; [`Error::Connect`] /
    /// [`Error::Redis`] (the batches before it stay requeued).
    pub fn requeue_all(
        &self,
        state: ListState,
        handler: Option<&str>,
        at: Option<SystemTime>,
    ) -> Result<RequeuedAll, Error> {
        if !state.is_finished() {
            return Err(Error::InvalidOption(format!("requeue all of {state}: only ended tasks are requeued")));
        }
        if let Some(handler) = handler {
            check_name("handler", handler)?;
        }
        let due_us = at.map(time_micros).transpose()?;
        let signal_us = duration_micros("the signal horizon", self.options.signal_horizon)?;
        let mut done = RequeuedAll::default();
        let mut offset = 0;
        loop {
            let args = RequeueAll {
                state: state.as_str(),
                handler: handler.unwrap_or(""),
                due_us,
                signal_us,
                offset,
                most: REQUEUE_BATCH,
            };
            let batch = protocol::admin::requeue_all(&mut self.conn.lock(), &self.base, &args)?;
            done.requeued += batch.requeued;
            done.key_held += batch.key_held;
            if batch.done {
                return Ok(done);
            }
            offset = batch.next_offset;
        }
    }

    /// Deletes a task that is not active, as if it had never been (its dedupe key is freed).
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] / [`Error::Redis`].
    pub fn delete(&self, id: u64) -> Result<Deleted, Error> {
        Ok(match protocol::admin::delete(&mut self.conn.lock(), &self.base, id)?.as_str() {
            "deleted" => Deleted::Deleted,
            "active" => Deleted::Active,
            "unknown" => Deleted::Unknown,
            other => return Err(Error::Protocol(format!("delete replied {other:?}"))),
        })
    }

    /// Pauses `handler` (`None`: the whole queue) across the fleet: every node stops claiming its tasks from its
    /// next claim, and gives back those it claimed ahead at its next renewal; runs in progress finish. Returns
    /// whether it was running before.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::Connect`] / [`Error::Redis`].
    pub fn pause(&self, handler: Option<&str>) -> Result<bool, Error> {
        let name = pause_name(handler)?;
        protocol::admin::pause(&mut self.conn.lock(), &self.base, true, name)
    }

    /// Resumes `handler` (`None`: the whole queue) and wakes the nodes that run it. A handler stays paused while the
    /// whole queue is. Returns whether it was paused.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::Connect`] / [`Error::Redis`].
    pub fn resume(&self, handler: Option<&str>) -> Result<bool, Error> {
        let name = pause_name(handler)?;
        protocol::admin::pause(&mut self.conn.lock(), &self.base, false, name)
    }

    /// Limits how often `handler`'s tasks start across the fleet (`None`: no limit), from every node's next claim.
    /// Changing or removing a limit starts a new window.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use taskwheel_redis::{Queue, RateLimit};
    ///
    /// let queue = Queue::connect("redis://127.0.0.1:6379/", "orders")?;
    /// // The payment provider takes 10 calls a second from us.
    /// queue.rate_limit("charge", Some(RateLimit { max: 10, per: Duration::from_secs(1) }))?;
    /// # Ok::<(), taskwheel_redis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]; [`Error::InvalidOption`] for a `max` of 0 or a window outside 1 ms – 1 day;
    /// [`Error::Connect`] / [`Error::Redis`].
    pub fn rate_limit(&self, handler: &str, limit: Option<RateLimit>) -> Result<(), Error> {
        check_name("handler", handler)?;
        let (rates, window) = (format!("{}:rates", self.base), format!("{}:rl:{handler}", self.base));
        let mut pipe = redis::pipe();
        match limit {
            Some(RateLimit { max, per }) => {
                if max == 0 {
                    return Err(Error::InvalidOption("a rate limit of 0 starts (pause the handler instead)".into()));
                }
                if per < std::time::Duration::from_millis(1) || per > std::time::Duration::from_secs(86_400) {
                    return Err(Error::InvalidOption(format!("a rate limit window of {per:?} (1 ms to 1 day)")));
                }
                let per_us = duration_micros("the rate limit's window", per)?;
                pipe.cmd("HSET").arg(&rates).arg(handler).arg(format!("{max}|{per_us}"));
            }
            None => {
                pipe.cmd("HDEL").arg(&rates).arg(handler);
            }
        }
        pipe.cmd("DEL").arg(&window);
        self.conn.lock().pipeline::<()>(&pipe)
    }

    /// The handlers' rate limits.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] / [`Error::Redis`].
    pub fn rate_limits(&self) -> Result<BTreeMap<String, RateLimit>, Error> {
        let key = format!("{}:rates", self.base);
        let rates: BTreeMap<String, String> = self.conn.lock().run(|con| redis::cmd("HGETALL").arg(&key).query(con))?;
        Ok(rates
            .into_iter()
            .filter_map(|(handler, value)| {
                let (max, per) = value.split_once('|')?;
                let limit =
                    RateLimit { max: max.parse().ok()?, per: std::time::Duration::from_micros(per.parse().ok()?) };
                Some((handler, limit))
            })
            .collect())
    }

    /// The paused handlers; `*` stands for the whole queue.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] / [`Error::Redis`].
    pub fn paused(&self) -> Result<Vec<String>, Error> {
        let key = format!("{}:paused", self.base);
        let mut paused: Vec<String> = self.conn.lock().run(|con| redis::cmd("SMEMBERS").arg(&key).query(con))?;
        paused.sort();
        Ok(paused)
    }

    /// The live nodes (those whose heartbeat has not lapsed), by id.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] / [`Error::Redis`].
    pub fn nodes(&self) -> Result<Vec<NodeInfo>, Error> {
        let base = &self.base;
        let mut conn = self.conn.lock();
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL").arg(format!("{base}:nodes")).add_command(protocol::time(base));
        let (records, (secs, micros)): (BTreeMap<String, String>, (u64, u64)) = conn.pipeline(&pipe)?;
        let now = secs * 1_000_000 + micros;
        let live: Vec<(String, u64, Vec<String>)> = records
            .into_iter()
            .filter_map(|(id, value)| {
                let (until, handlers) = value.split_once('|').unwrap_or((&value, ""));
                let until = until.parse::<u64>().ok().filter(|&until| until >= now)?;
                Some((id, until, handlers.split(',').filter(|h| !h.is_empty()).map(String::from).collect()))
            })
            .collect();
        if live.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (id, _, _) in &live {
            pipe.cmd("HGETALL").arg(format!("{base}:node:{id}"));
        }
        let facts: Vec<BTreeMap<String, String>> = conn.pipeline(&pipe)?;
        drop(conn);
        Ok(live
            .into_iter()
            .zip(facts)
            .map(|((id, until, handlers), facts)| {
                let field = |name: &str| facts.get(name).and_then(|v| v.parse::<u64>().ok());
                NodeInfo {
                    id,
                    handlers,
                    heartbeat: from_micros(field("hb").unwrap_or(0)),
                    alive_until: from_micros(until),
                    claimed: field("claimed").unwrap_or(0),
                    running: field("running").unwrap_or(0),
                    started: field("started").filter(|&us| us > 0).map(from_micros),
                    version: facts.get("v").cloned().unwrap_or_default(),
                    lateness: field("l50")
                        .zip(field("l99"))
                        .map(|(a, b)| (std::time::Duration::from_micros(a), std::time::Duration::from_micros(b))),
                }
            })
            .collect())
    }

    /// The declared schedules, by name.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] / [`Error::Redis`].
    pub fn schedules(&self) -> Result<Vec<ScheduleInfo>, Error> {
        let base = &self.base;
        let mut conn = self.conn.lock();
        let mut names: Vec<String> =
            conn.run(|con| redis::cmd("SMEMBERS").arg(format!("{base}:schedules")).query(con))?;
        names.sort();
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.cmd("HMGET").arg(format!("{base}:s:{name}")).arg(&["h", "kind", "expr", "zone", "next"]);
        }
        let replies: Vec<Value> = conn.pipeline(&pipe)?;
        drop(conn);
        let mut schedules = Vec::new();
        for (name, reply) in names.into_iter().zip(&replies) {
            let fields = array(reply)?;
            let [h, kind, expr, zone, next] = fields else { return Err(Error::Protocol("a short schedule".into())) };
            if matches!(h, Value::Nil) {
                continue; // removed between the two reads
            }
            let next = text(next)?;
            schedules.push(ScheduleInfo {
                name,
                handler: text(h)?,
                kind: text(kind)?,
                expression: text(expr)?,
                zone: text(zone)?,
                next: next.parse::<i64>().ok().filter(|&us| us >= 0).map(|us| from_micros(us as u64)),
            });
        }
        Ok(schedules)
    }
}

/// The `paused` set's member for `handler` (`*` for the whole queue).
fn pause_name(handler: Option<&str>) -> Result<&str, Error> {
    match handler {
        Some(handler) => {
            check_name("handler", handler)?;
            if handler == "*" {
                return Err(Error::InvalidName("handler \"*\" (it stands for the whole queue: pass None)".into()));
            }
            Ok(handler)
        }
        None => Ok("*"),
    }
}
