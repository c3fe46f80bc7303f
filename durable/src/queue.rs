//! The client side of a durable queue: submit, look up, cancel, schedule, count. Any process may hold one; it runs
//! nothing (that is a [`Node`](crate::Node)'s job).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use redis::Value;

use crate::conn::Conn;
use crate::error::Error;
use crate::protocol;
use crate::protocol::queue::{Declare, Enqueue};
use crate::protocol::reply::{array, number, text};
use crate::spec::{
    DurableTask, Schedule, When, check_name, duration_micros, encode_retry, from_micros, micros, time_micros,
};
use crate::state::{DurableCancel, DurableState, TaskInfo};

/// Options shared by a queue's clients and nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueOptions {
    /// The largest payload accepted, in bytes (default 512 KiB; at most 64 MiB). Redis holds every payload in
    /// memory until its task's record expires.
    pub max_payload: usize,
    /// How long the record of a task that ended failed, dead or cancelled stays readable (default 24 h).
    pub retention: Duration,
    /// How long the record of a task that succeeded stays readable (default 1 h): succeeded tasks are most of the
    /// traffic, and each record holds its payload (asynq's `Retention`, BullMQ's `removeOnComplete: { age }`).
    pub retention_succeeded: Duration,
    /// The most finished records kept, whatever their retention (0, the default: no limit); beyond it the ones
    /// closest to their retention's end are forgotten at once (BullMQ's `removeOnComplete: { count }`).
    pub max_finished: u64,
    /// A task due within this long of its submission wakes a node at once (default 2 s, the nodes' default
    /// horizon); later ones are found by the nodes' claim polls, well before they are due.
    pub signal_horizon: Duration,
}

impl Default for QueueOptions {
    fn default() -> QueueOptions {
        QueueOptions {
            max_payload: 512 * 1024,
            retention: Duration::from_secs(24 * 3600),
            retention_succeeded: Duration::from_secs(3600),
            max_finished: 0,
            signal_horizon: Duration::from_secs(2),
        }
    }
}

/// The largest [`QueueOptions::max_payload`] (Redis's own limit for one string is 512 MiB).
pub const MAX_PAYLOAD_LIMIT: usize = 64 * 1024 * 1024;

impl QueueOptions {
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.max_payload > MAX_PAYLOAD_LIMIT {
            return Err(Error::InvalidOption(format!("max_payload above {MAX_PAYLOAD_LIMIT} bytes")));
        }
        if self.retention < Duration::from_millis(1) || self.retention_succeeded < Duration::from_millis(1) {
            return Err(Error::InvalidOption("a retention shorter than 1 ms".into()));
        }
        duration_micros("retention", self.retention)?;
        duration_micros("retention of succeeded tasks", self.retention_succeeded)?;
        duration_micros("signal horizon", self.signal_horizon)?;
        Ok(())
    }
}

/// What a submission did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The new task's id, or with `duplicate` the id of the task holding the dedupe key.
    pub id: u64,
    /// The dedupe key was held: nothing was created.
    pub duplicate: bool,
    /// When the task is due (the server's clock).
    pub due: SystemTime,
}

/// A queue's counts, read by [`Queue::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Tasks waiting (pending or retrying), per handler.
    pub waiting: BTreeMap<String, u64>,
    /// Tasks claimed by a node.
    pub active: u64,
    /// Finished tasks whose records are still retained.
    pub finished: u64,
    /// Cumulative counters: `submitted`, `duplicates`, `succeeded`, `failed`, `dead`, `cancelled`, `retried`,
    /// `recovered` (attempts lost with their node), `stale` (completions refused for a stale fencing token),
    /// `orphans` (records the sweep put back).
    pub counters: BTreeMap<String, u64>,
    /// Live nodes and the handlers each runs.
    pub nodes: BTreeMap<String, Vec<String>>,
    /// Handlers with waiting tasks that no live node runs: those tasks wait until one does.
    pub unknown_handlers: Vec<String>,
    /// Paused handlers (`*`: the whole queue), set by `Queue::pause`.
    pub paused: Vec<String>,
}

impl QueueStats {
    /// A cumulative counter, 0 when it never counted.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

/// A durable queue's client: tasks submitted through it are in Redis when the call returns, and run on whichever
/// node runs their handler.
///
/// The connection is one, behind a lock: share a `Queue` between threads, or open one per thread for more
/// throughput. A call on a lost connection returns [`Error::Connect`] (the submission may or may not have reached
/// Redis: resubmit with a dedupe key to be sure of one task); the next call reconnects.
pub struct Queue {
    name: String,
    pub(crate) base: String,
    pub(crate) options: QueueOptions,
    pub(crate) conn: Mutex<Conn>,
}

impl Queue {
    /// Connects to the queue `name` on the Redis at `url` (`redis://127.0.0.1:6379/0`) with default options.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when Redis cannot be reached; [`Error::InvalidName`] for a bad name.
    pub fn connect(url: &str, name: &str) -> Result<Queue, Error> {
        Queue::connect_with(url, name, QueueOptions::default())
    }

    /// Connects with `options` (they must match the nodes' where they matter: retention, signal horizon).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect); [`Error::InvalidOption`] for options that cannot be honoured.
    pub fn connect_with(url: &str, name: &str, options: QueueOptions) -> Result<Queue, Error> {
        check_name("queue", name)?;
        options.check()?;
        let mut conn = Conn::open(url)?;
        // Known to `queues` (and so to the CLI and the dashboard) from its first client or node on.
        conn.run(|con| redis::cmd("SADD").arg(QUEUES_KEY).arg(name).query::<u64>(con))?;
        Ok(Queue { name: name.to_string(), base: base_key(name), options, conn: Mutex::new(conn) })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Submits one task.
    ///
    /// # Errors
    ///
    /// [`Error::PayloadTooLarge`], [`Error::InvalidName`], [`Error::InvalidOption`] before anything is sent;
    /// [`Error::Connect`] or [`Error::Redis`] when Redis did not take it.
    pub fn submit(&self, task: &DurableTask) -> Result<Submitted, Error> {
        let mut submitted = self.submit_all(std::slice::from_ref(task))?;
        submitted.pop().ok_or_else(|| Error::Protocol("no reply to a submission".into()))
    }

    /// Submits many tasks in one round trip (one script call each, pipelined). Each is checked before any is sent.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit); on a connection error some of them may have been taken.
    pub fn submit_all(&self, tasks: &[DurableTask]) -> Result<Vec<Submitted>, Error> {
        let encoded = tasks.iter().map(|task| self.encode(task)).collect::<Result<Vec<_>, _>>()?;
        let replies = protocol::queue::enqueue(&mut self.conn.lock(), &self.base, &encoded)?;
        Ok(replies
            .into_iter()
            .map(|r| Submitted { id: r.id, duplicate: r.duplicate, due: from_micros(r.due_us) })
            .collect())
    }

    /// Checks a task against every limit a node enforces, and encodes it for the script.
    fn encode<'a>(&self, task: &'a DurableTask) -> Result<Enqueue<'a>, Error> {
        task.check()?;
        if task.payload.len() > self.options.max_payload {
            return Err(Error::PayloadTooLarge { len: task.payload.len(), max: self.options.max_payload });
        }
        let (at, time_us) = match task.when {
            When::Now => (false, 0),
            When::After(delay) => (false, duration_micros("a delay", delay)?),
            When::At(time) => (true, time_micros(time)?),
        };
        Ok(Enqueue {
            handler: &task.handler,
            payload: &task.payload,
            at,
            time_us,
            priority: task.priority.code(),
            key: task.key.as_deref().unwrap_or(""),
            timeout_us: task.timeout.map(|t| duration_micros("a timeout", t)).transpose()?.unwrap_or(0),
            retry: encode_retry(task.retry.as_ref())?,
            signal_us: duration_micros("the signal horizon", self.options.signal_horizon)?,
        })
    }

    /// The task with this id, or `None` when there is none (never submitted, or its retention ended).
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] / [`Error::Redis`]; [`Error::Protocol`] for a record this version cannot read.
    pub fn get(&self, id: u64) -> Result<Option<TaskInfo>, Error> {
        let key = format!("{}:t:{id}", self.base);
        let fields: Vec<(String, Vec<u8>)> = self.conn.lock().run(|con| redis::cmd("HGETALL").arg(&key).query(con))?;
        if fields.is_empty() {
            return Ok(None);
        }
        task_info(id, fields).map(Some)
    }

    /// Cancels a task from any process (see [`DurableCancel`]).
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] / [`Error::Redis`].
    pub fn cancel(&self, id: u64) -> Result<DurableCancel, Error> {
        let retain_us = duration_micros("retention", self.options.retention)?;
        protocol::queue::cancel(&mut self.conn.lock(), &self.base, id, retain_us)
    }

    /// Declares a schedule (or replaces one of that name; an unchanged one keeps its next occurrence, so every node
    /// may declare the schedules it knows at start). Returns whether it was new or changed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] / [`Error::InvalidOption`] / [`Error::PayloadTooLarge`]; [`Error::Engine`] when the
    /// expression has no occurrence ahead; [`Error::Connect`] / [`Error::Redis`].
    pub fn schedule(&self, schedule: &Schedule) -> Result<bool, Error> {
        schedule.check()?;
        if schedule.payload.len() > self.options.max_payload {
            return Err(Error::PayloadTooLarge { len: schedule.payload.len(), max: self.options.max_payload });
        }
        let now = micros(self.server_time()?)?;
        let Some(first) = crate::spec::following(&schedule.recurrence, now, now)? else {
            return Err(Error::InvalidOption(format!("schedule {:?} has no occurrence ahead", schedule.name)));
        };
        let (kind, expression, zone) = schedule.recurrence.encode()?;
        let (misfire, grace) = schedule.encode_misfire()?;
        let declare = Declare {
            name: &schedule.name,
            handler: &schedule.handler,
            payload: &schedule.payload,
            kind: kind.to_string(),
            expression,
            zone,
            priority: schedule.priority.code(),
            timeout_us: schedule.timeout.map(|t| duration_micros("a timeout", t)).transpose()?.unwrap_or(0),
            retry: encode_retry(schedule.retry.as_ref())?,
            first_us: first,
            misfire,
            grace_us: grace,
        };
        protocol::queue::schedule(&mut self.conn.lock(), &self.base, &declare)
    }

    /// Removes a schedule; occurrences already created stay. Returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name no schedule can have; [`Error::Connect`] / [`Error::Redis`].
    pub fn unschedule(&self, name: &str) -> Result<bool, Error> {
        check_name("schedule", name)?;
        protocol::queue::unschedule(&mut self.conn.lock(), &self.base, name)
    }

    /// The Redis server's clock, which every due time and lease is measured on.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] / [`Error::Redis`].
    pub fn server_time(&self) -> Result<SystemTime, Error> {
        let time = protocol::time(&self.base);
        let (secs, micros): (u64, u64) = self.conn.lock().run(|con| time.query(con))?;
        Ok(from_micros(secs * 1_000_000 + micros))
    }

    /// The queue's counts.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] / [`Error::Redis`].
    pub fn stats(&self) -> Result<QueueStats, Error> {
        let base = &self.base;
        let mut conn = self.conn.lock();
        let handlers: Vec<String> =
            conn.run(|con| redis::cmd("SMEMBERS").arg(format!("{base}:handlers")).query(con))?;
        let mut pipe = redis::pipe();
        // One due set per priority (the scripts' `dkey`: normal keeps the plain name).
        for handler in &handlers {
            for set in
                [format!("{base}:due:{handler}:0"), format!("{base}:due:{handler}"), format!("{base}:due:{handler}:2")]
            {
                pipe.cmd("ZCARD").arg(set);
            }
        }
        pipe.cmd("ZCARD").arg(format!("{base}:active"));
        for state in ["succeeded", "failed", "dead", "cancelled"] {
            pipe.cmd("ZCARD").arg(format!("{base}:ix:{state}"));
        }
        pipe.cmd("HGETALL").arg(format!("{base}:counters"));
        pipe.cmd("HGETALL").arg(format!("{base}:nodes"));
        pipe.add_command(protocol::time(base));
        pipe.cmd("SMEMBERS").arg(format!("{base}:paused"));
        let replies: Vec<Value> = conn.pipeline(&pipe)?;
        drop(conn);
        let mut stats = QueueStats::default();
        for (handler, counts) in handlers.iter().zip(replies.chunks(3)) {
            let waiting = counts.iter().map(number).sum::<Result<u64, Error>>()?;
            stats.waiting.insert(handler.clone(), waiting);
        }
        let rest = &replies[3 * handlers.len()..];
        let [active, succeeded, failed, dead, cancelled, counters, nodes, time, paused] = rest else {
            return Err(Error::Protocol("a short stats reply".into()));
        };
        stats.active = number(active)?;
        stats.finished = number(succeeded)? + number(failed)? + number(dead)? + number(cancelled)?;
        for pair in array(counters)?.chunks(2) {
            if let [name, value] = pair {
                stats.counters.insert(text(name)?, number(value)?);
            }
        }
        let time = array(time)?;
        let now = number(&time[0])? * 1_000_000 + number(&time[1])?;
        let mut served = HashSet::new();
        for pair in array(nodes)?.chunks(2) {
            if let [name, value] = pair {
                let value = text(value)?;
                let (expires, handlers) = value.split_once('|').unwrap_or((&value, ""));
                if expires.parse::<u64>().unwrap_or(0) < now {
                    continue; // its heartbeat stopped; the next recovery forgets it
                }
                let handlers: Vec<String> = handlers.split(',').filter(|h| !h.is_empty()).map(String::from).collect();
                served.extend(handlers.iter().cloned());
                stats.nodes.insert(text(name)?, handlers);
            }
        }
        stats.paused = array(paused)?.iter().map(text).collect::<Result<_, _>>()?;
        stats.paused.sort();
        stats.unknown_handlers =
            stats.waiting.iter().filter(|&(h, &n)| n > 0 && !served.contains(h)).map(|(h, _)| h.clone()).collect();
        Ok(stats)
    }
}

/// The set of the queues' names on a server, written by each client and node as it connects (a key of its own,
/// outside every queue's hash tag: no script touches it).
pub(crate) const QUEUES_KEY: &str = "tw:queues";

/// The queues on the Redis at `url`: every queue a client or node of this version has connected to, by name.
///
/// # Errors
///
/// [`Error::Connect`] when Redis cannot be reached.
pub fn queues(url: &str) -> Result<Vec<String>, Error> {
    let mut conn = Conn::open(url)?;
    let mut names: Vec<String> = conn.run(|con| redis::cmd("SMEMBERS").arg(QUEUES_KEY).query(con))?;
    names.sort();
    Ok(names)
}

/// The base key of queue `name`: every key of the queue starts with it, and its `{name}` hash tag puts them all in
/// one Redis Cluster slot.
pub(crate) fn base_key(name: &str) -> String {
    format!("tw:{{{name}}}")
}

fn task_info(id: u64, fields: Vec<(String, Vec<u8>)>) -> Result<TaskInfo, Error> {
    let mut fields: BTreeMap<String, Vec<u8>> = fields.into_iter().collect();
    let mut take = |name: &str| fields.remove(name).unwrap_or_default();
    let string = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let num = |bytes: Vec<u8>| number(&Value::BulkString(bytes));
    let optional = |text: String| if text.is_empty() { None } else { Some(text) };
    let state_name = string(take("st"));
    let state = DurableState::parse(&state_name).ok_or_else(|| Error::Protocol(format!("state {state_name:?}")))?;
    let schedule = optional(string(take("sch")));
    let occurrence = num(take("occ"))?;
    let priority = num(take("pr"))?;
    let priority = u32::try_from(priority)
        .ok()
        .and_then(taskwheel::Priority::from_code)
        .ok_or_else(|| Error::Protocol(format!("priority {priority}")))?;
    let timeout_us = num(take("to"))?;
    let time = |bytes: Vec<u8>| -> Result<Option<SystemTime>, Error> {
        Ok(if bytes.is_empty() { None } else { Some(from_micros(num(bytes)?)) })
    };
    let finished = time(take("fin"))?;
    let lease_until = if state == DurableState::Active { time(take("lu"))? } else { None };
    Ok(TaskInfo {
        id,
        handler: string(take("h")),
        payload: take("p"),
        state,
        due: from_micros(num(take("due"))?),
        token: num(take("a"))?,
        runs: num(take("runs"))?,
        failures: num(take("f"))?,
        recoveries: num(take("c"))?,
        node: optional(string(take("n"))),
        error: optional(string(take("e"))),
        key: optional(string(take("k"))),
        schedule: schedule.map(|name| (name, from_micros(occurrence))),
        cancel_requested: take("cx") == b"1",
        priority,
        timeout: (timeout_us > 0).then(|| Duration::from_micros(timeout_us)),
        created: from_micros(num(take("ct"))?),
        finished,
        lease_until,
    })
}
