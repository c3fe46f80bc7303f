//! The link between the engine and its tick thread: the command queue into it, the deadline it sleeps toward, and
//! its wake-up. The handshake that keeps a command from slipping into the tick thread's sleep lives here, both
//! sides of it:
//!
//! - the tick thread publishes a target of 0 while it works ([`begin_pass`](TickLink::begin_pass)), then the
//!   deadline it will sleep toward ([`publish_target`](TickLink::publish_target)), and looks at its queue once
//!   more before it sleeps;
//! - a sender queues its command, then reads the target with a read-modify-write
//!   ([`send`](TickLink::send)): either that read comes after the tick thread's swap of a new target (and
//!   compares against it), or before it, and then that swap reads from it, so the command is visible when the
//!   tick thread next looks at its queue, before it sleeps. No wakeup is lost, by acquire/release alone (which
//!   loom checks).
//!
//! Every write of the target and of the wake flag is a read-modify-write (see `sync`).
//!
//! A task due at once goes straight to a run queue only when the tick thread holds nothing due by then (the order
//! promise, invariant 10). What it holds is in its wheel (its published target says when the earliest is due) or
//! still in its queue: for those, every `Schedule` and `Reschedule` command is counted from before it is queued
//! until after the tick thread has placed it and published a target that covers it, with a lower bound of their
//! deadlines, in one word ([`TickLink::scheduling`]). Millions of tasks queued an hour out then keep no task due at
//! once waiting: the bound says none of them is due, and the tick thread, working through them, publishes its real
//! target every [`PLACE_BATCH`] commands instead of only at the end of its pass.

use std::cmp::Ordering as CmpOrdering;

use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::channel::{self, Receiver, Sender};
use crate::sync::notifier::Notifier;
use crate::sync::{Arc, CachePadded, StatCounter, thread};
use crate::task::cell::TaskRef;

/// What submitters, cancellers and workers ask of the tick thread.
pub(crate) enum Command {
    /// Put this pending task in the wheel at its deadline.
    Schedule(TaskRef),
    /// This task was cancelled: take it out of the wheel now rather than at its deadline.
    Unschedule(TaskRef),
    /// This task was rescheduled (its epoch and deadline moved): take its old entry out and put it in again.
    Reschedule(TaskRef),
    /// This run must end by its deadline: past it, mark it timed out. Boxed, so that a command is two words (a
    /// backlog of millions of `Schedule`s holds 16 bytes each, not 32): one allocation per run with a timeout.
    Watch(Box<Watch>),
    /// Acknowledge this ticket ([`TickLink::acknowledge`]) once everything due now has been dispatched.
    Sync(u64),
    /// Exit.
    Stop,
}

/// A run with a timeout: run `run` of `task` must end by `deadline` (nanoseconds after the origin). The tick
/// thread keeps these in a heap ordered by deadline, the first on top.
pub(crate) struct Watch {
    pub(crate) deadline: u64,
    pub(crate) run: u64,
    pub(crate) task: TaskRef,
}

impl PartialEq for Watch {
    fn eq(&self, other: &Watch) -> bool {
        self.deadline == other.deadline
    }
}

impl Eq for Watch {}

impl PartialOrd for Watch {
    fn partial_cmp(&self, other: &Watch) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Watch {
    fn cmp(&self, other: &Watch) -> CmpOrdering {
        other.deadline.cmp(&self.deadline) // a max-heap of reversed deadlines: the earliest on top
    }
}

/// How many commands the tick thread takes between two publications of its target within one pass (and between
/// two settlements of the scheduling count). One under loom, so that the models meet the publication mid-pass.
#[cfg(not(loom))]
pub(crate) const PLACE_BATCH: usize = 1024;
#[cfg(loom)]
pub(crate) const PLACE_BATCH: usize = 1;

/// Every this many counted scheduling commands not yet settled, a sender wakes the tick thread even when none of
/// them is due before its target: it places them while submitters go on, so a burst of millions of far-off
/// submissions leaves a backlog of thousands in the queue (24 bytes each, counted against the process's memory
/// long after the queue drains) instead of millions, and the wheel holds them sooner. One wake per 4,096
/// submissions while they come, none while nothing is submitted.
pub(crate) const WAKE_BACKLOG: u64 = 4096;

/// Past this many counted scheduling commands not yet settled, a sender yields its core after each one it queues:
/// submitters together faster than the tick thread (several of them on few cores) then go at its pace instead of
/// building a queue of millions, whose memory stays resident once drained. 64 Ki commands hold 1.5 MiB.
pub(crate) const YIELD_BACKLOG: u64 = 16 * WAKE_BACKLOG;

/// The scheduling word's deadline bound is kept in units of `2^UNIT_BITS` nanoseconds (about 4.3 s), rounded down.
const UNIT_BITS: u32 = 32;
/// No scheduling command is counted: count 0, bound "none".
const NOTHING_SCHEDULED: u64 = u32::MAX as u64;

/// The engine's end of the link to its tick thread.
pub(crate) struct TickLink {
    commands: Sender<Command>,
    /// `Schedule` and `Reschedule` commands counted and not yet settled by the tick thread (high 32 bits), and the
    /// earliest of their deadlines in units of `2^32` ns, rounded down (low 32 bits; `u32::MAX` when the count is
    /// 0). One word: the tick thread resets the bound in the same read-modify-write that brings the count to 0, so
    /// a bound a sender just lowered is never lost.
    scheduling: CachePadded<AtomicU64>,
    /// The deadline the tick thread sleeps toward (nanoseconds after the origin; `u64::MAX` for none, 0 while it
    /// works).
    sleep_target: AtomicU64,
    /// Set to wake the tick thread.
    woken: AtomicBool,
    wake: Arc<Notifier>,
    /// Set by the tick thread as it exits.
    stopped: AtomicBool,
    /// Wake-ups sent because a command's deadline came before the tick thread's target.
    signalled: CachePadded<StatCounter>,
    /// The last sync ticket handed out, and the last the tick thread acknowledged.
    sync_requested: AtomicU64,
    sync_reached: AtomicU64,
}

impl TickLink {
    /// A new link, and the receiving end of its command queue (for the tick thread).
    pub(crate) fn new() -> (TickLink, Receiver<Command>) {
        let (commands, receiver) = channel::unbounded();
        let link = TickLink {
            commands,
            scheduling: CachePadded::new(AtomicU64::new(NOTHING_SCHEDULED)),
            sleep_target: AtomicU64::new(u64::MAX),
            woken: AtomicBool::new(false),
            wake: Arc::new(Notifier::default()),
            stopped: AtomicBool::new(false),
            signalled: CachePadded::new(StatCounter::new(0)),
            sync_requested: AtomicU64::new(0),
            sync_reached: AtomicU64::new(0),
        };
        (link, receiver)
    }

    /// What the tick thread sleeps on (for a manual clock to notify when it moves).
    pub(crate) fn notifier(&self) -> &Arc<Notifier> {
        &self.wake
    }

    /// `true` when the tick thread holds nothing due by `now`, so a task due by `now` may go straight to a run
    /// queue without overtaking one: no scheduling command it has not settled can be due by `now`, and its
    /// published target lies ahead of `now`. (The count is read first: a command stays counted until the tick thread
    /// has placed it and then published a target that covers it, so a task it holds is seen either through the
    /// count's bound or through the target.)
    pub(crate) fn holds_nothing_due_by(&self, now: u64) -> bool {
        let scheduling = self.scheduling.load(Ordering::SeqCst);
        let none_due = scheduling == NOTHING_SCHEDULED || (scheduling & u64::from(u32::MAX)) > now >> UNIT_BITS;
        none_due && self.sleep_target.load(Ordering::SeqCst) > now
    }

    /// Counts a scheduling command about to be queued, due at `deadline`; returns how many are counted now.
    fn count_scheduling(&self, deadline: u64) -> u64 {
        let unit = (deadline >> UNIT_BITS).min(u64::from(u32::MAX) - 1);
        let counted = self.scheduling.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |word| {
            let (count, bound) = (word >> 32, word & u64::from(u32::MAX));
            Some(((count + 1) << 32) | bound.min(unit))
        });
        (counted.unwrap_or_else(|word| word) >> 32) + 1
    }

    /// The tick thread has placed `settled` counted commands and published a target that covers them.
    pub(crate) fn settle(&self, settled: u64) {
        if settled == 0 {
            return;
        }
        let _ = self.scheduling.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |word| {
            let (count, bound) = (word >> 32, word & u64::from(u32::MAX));
            let count = count.saturating_sub(settled);
            Some(if count == 0 { NOTHING_SCHEDULED } else { (count << 32) | bound })
        });
    }

    /// Commands sent and not yet taken by the tick thread: submissions of delayed tasks, reschedules, removals
    /// of cancelled tasks, timeouts to watch. What a task due at once may wait behind (see `holds_nothing_due_by`).
    pub(crate) fn commands_queued(&self) -> usize {
        self.commands.len()
    }

    /// Queues `command`, about something due at `deadline` (nanoseconds after the origin), and wakes the tick
    /// thread when that comes before the deadline it sleeps toward (counted in
    /// [`signalled_wakeups`](Self::signalled_wakeups)), or when it makes a backlog of [`WAKE_BACKLOG`] scheduling
    /// commands; past [`YIELD_BACKLOG`] of them, yields the sender's core to let the tick thread catch up.
    pub(crate) fn send(&self, command: Command, deadline: u64) {
        let counted = match command {
            Command::Schedule(_) | Command::Reschedule(_) => self.count_scheduling(deadline),
            _ => 0,
        };
        let _ = self.commands.send(command);
        if counted != 0 && counted % WAKE_BACKLOG == 0 {
            self.wake();
            return;
        }
        if counted > YIELD_BACKLOG {
            // A backlog the tick thread has not caught up with: let it have the core (it was woken at the last
            // multiple of `WAKE_BACKLOG`).
            thread::yield_now();
        }
        // A read-modify-write, not a load: the handshake of the module's documentation.
        if deadline < self.sleep_target.fetch_add(0, Ordering::SeqCst) {
            self.signalled.fetch_add(1, Ordering::Relaxed);
            self.wake();
        }
    }

    /// Queues `command` without waking the tick thread: for what can wait until it next wakes anyway (taking a
    /// cancelled task out of the wheel).
    pub(crate) fn send_lazily(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Queues `command` and wakes the tick thread whatever its target (a sync ticket, the stop).
    pub(crate) fn send_now(&self, command: Command) {
        let _ = self.commands.send(command);
        self.wake();
    }

    /// Asks the tick thread to exit.
    pub(crate) fn stop(&self) {
        self.send_now(Command::Stop);
    }

    /// Wakes the tick thread (to look at its queue and the clocks again).
    pub(crate) fn wake(&self) {
        // A swap, not a store: the flag is consumed by read-modify-writes, and keeping every write to it an RMW
        // keeps loom's model of it exact (loom can order a plain store wrongly against racing RMWs).
        self.woken.swap(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    /// Asks the tick thread for a sync: it acknowledges the ticket returned once a pass whose clock reading came
    /// after it took the ticket has dispatched everything due. (No command is sent once the tick thread has
    /// stopped; [`synced`](Self::synced) is then true at once.)
    pub(crate) fn request_sync(&self) -> u64 {
        let stopped = self.is_stopped();
        let ticket = self.sync_requested.fetch_add(1, Ordering::SeqCst) + 1;
        if !stopped {
            self.send_now(Command::Sync(ticket));
        }
        ticket
    }

    /// `true` once the tick thread acknowledged `ticket`, or has stopped.
    pub(crate) fn synced(&self, ticket: u64) -> bool {
        self.sync_reached.load(Ordering::SeqCst) >= ticket || self.is_stopped()
    }

    /// Wake-ups sent because a command's deadline came before the tick thread's target.
    pub(crate) fn signalled_wakeups(&self) -> u64 {
        self.signalled.load(Ordering::Relaxed)
    }

    /// The target the tick thread published last (for models).
    #[cfg(test)]
    pub(crate) fn sleep_target(&self) -> u64 {
        self.sleep_target.load(Ordering::SeqCst)
    }

    /// `true` once the tick thread has exited.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    // ---- The tick thread's side ----

    /// A pass begins: publishes a target of 0 while the tick thread works, so that a submitter of a task due at
    /// once sends it through the tick thread, behind the due tasks it holds.
    pub(crate) fn begin_pass(&self) {
        self.sleep_target.swap(0, Ordering::SeqCst);
    }

    /// Publishes the deadline the tick thread will sleep toward (`u64::MAX`: none). The tick thread looks at its
    /// queue after this and before it sleeps.
    pub(crate) fn publish_target(&self, target: u64) {
        self.sleep_target.swap(target, Ordering::SeqCst);
    }

    /// Acknowledges the sync tickets up to `ticket`; `true` when that is news (then the waiters are to be told).
    pub(crate) fn acknowledge(&self, ticket: u64) -> bool {
        if ticket > self.sync_reached.load(Ordering::SeqCst) {
            self.sync_reached.store(ticket, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// Consumes a wake-up: `true` when one was sent since the last call.
    pub(crate) fn take_wake(&self) -> bool {
        self.woken.swap(false, Ordering::SeqCst)
    }

    /// The tick thread has exited: no target, and waits for it end.
    pub(crate) fn mark_stopped(&self) {
        self.sleep_target.swap(u64::MAX, Ordering::SeqCst);
        self.stopped.store(true, Ordering::SeqCst);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::cell::Task;

    /// Scheduling commands due after the tick thread's target leave it asleep, but for every [`WAKE_BACKLOG`]th one
    /// queued and not yet settled; once the tick thread has settled them, the count starts again.
    #[test]
    fn every_backlog_th_queued_scheduling_command_wakes_the_tick_thread() {
        let (link, _receiver) = TickLink::new();
        link.publish_target(1_000);
        let schedule = |id| link.send(Command::Schedule(Task::for_test(id, None)), 2_000);
        for id in 1..WAKE_BACKLOG {
            schedule(id);
        }
        assert!(!link.take_wake(), "{} commands, none due before the target", WAKE_BACKLOG - 1);
        schedule(WAKE_BACKLOG);
        assert!(link.take_wake(), "the backlog's wake");
        assert_eq!(link.signalled_wakeups(), 0, "not a deadline's wake");
        link.settle(WAKE_BACKLOG);
        for id in 1..WAKE_BACKLOG {
            schedule(WAKE_BACKLOG + id);
        }
        assert!(!link.take_wake(), "counted again from the settlement");
        schedule(2 * WAKE_BACKLOG);
        assert!(link.take_wake());
        assert_eq!(link.commands_queued(), 2 * WAKE_BACKLOG as usize);
    }
    /// A queued command is two words, whatever it carries: a backlog of millions of `Schedule`s holds 16 bytes a
    /// task (and the queue's 8-byte slot state beside each).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_command_is_16_bytes() {
        assert_eq!(std::mem::size_of::<super::Command>(), 16);
    }
}
