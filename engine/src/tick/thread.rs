//! The tick thread: owns the wheel, turns due deadlines into queued work, and sleeps exactly until the next one.

use crate::config::Precision;
use crate::observe::logging::log_at;
use crate::shared::Shared;
use crate::sync::Arc;
use crate::sync::atomic::Ordering;
use crate::sync::channel::{Receiver, TryRecvError};
use crate::task::cell::TaskRef;
use crate::task::state::TaskState;
use crate::tick::link::{Command, PLACE_BATCH, Watch};
use crate::time::clock::Clock;
use crate::time::wall_steps::WallWatch;
use crate::wheel::{TimerKey, Wheel};
use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap, VecDeque};

/// How many tasks ahead [`TickThread::release_wheel`] hints the one it will release.
const RELEASE_AHEAD: usize = 8;

/// How far the wall clock may move against the monotonic one (steps, or a slew adding up) before the cron tasks'
/// deadlines are converted again.
const WALL_STEP_NS: i128 = 1_000_000;

/// Where no watcher can hear wall-clock steps, how long the tick thread sleeps at most while cron tasks are
/// pending.
const WALL_POLL_NS: u64 = 1_000_000_000;

/// A task of the tick at hand, waiting for its exact deadline.
struct Imminent {
    deadline: u64,
    seq: u64,
    /// The schedule epoch of the wheel entry it came from: stale once the task is rescheduled.
    epoch: u32,
    task: TaskRef,
}

impl PartialEq for Imminent {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}

impl Eq for Imminent {}

impl PartialOrd for Imminent {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Imminent {
    // Reversed: `BinaryHeap` is a max-heap and the earliest deadline must come out first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

/// The state the tick thread owns alone.
pub(crate) struct TickThread {
    shared: Arc<Shared>,
    commands: Receiver<Command>,
    wheel: Wheel<TaskRef>,
    /// Tasks whose tick has been reached, ordered by exact deadline, then by arrival (`seq`).
    imminent: BinaryHeap<Imminent>,
    seq: u64,
    /// Runs with a timeout, earliest deadline first.
    watches: BinaryHeap<Watch>,
    tick_ns: u64,
    /// How long before its deadline a task is handed to a worker (fixed for the engine's life).
    handoff_ns: u64,
    /// The cron tasks that have reached the wheel, by id (pruned of ended ones as it grows).
    cron: HashMap<u64, TaskRef>,
    /// Where `cron` is pruned next.
    cron_prune_at: usize,
    /// The wall clock minus the monotonic one when the cron deadlines were last converted (nanoseconds).
    skew: Option<i128>,
    /// Hears wall-clock steps while cron tasks are pending (monotonic clock only).
    wall_watch: Option<WallWatch>,
    /// Whether `wall_watch` was tried and could not start: then the sleeps are capped instead.
    wall_polling: bool,
}

impl TickThread {
    pub(crate) fn new(shared: Arc<Shared>, commands: Receiver<Command>) -> TickThread {
        let tick_ns = u64::try_from(shared.config.tick.as_nanos()).unwrap_or(u64::MAX).max(1);
        let handoff_ns = shared.time.handoff_ns();
        TickThread {
            shared,
            commands,
            wheel: Wheel::new(),
            imminent: BinaryHeap::new(),
            seq: 0,
            watches: BinaryHeap::new(),
            tick_ns,
            handoff_ns,
            cron: HashMap::new(),
            cron_prune_at: 64,
            skew: None,
            wall_watch: None,
            wall_polling: false,
        }
    }

    pub(crate) fn run(mut self) {
        if self.shared.config.precision != Precision::Relaxed {
            lower_timer_slack();
        }
        let mut synced = 0;
        loop {
            // While it works, the tick thread publishes a target of 0: a submitter of a task due at once then sends
            // it through here rather than straight to a run queue, behind the due tasks this thread holds (see
            // `Shared::schedule`). A read-modify-write, as every write of this atomic is.
            self.shared.tick.begin_pass();
            // The clock is read before the commands are taken: every task whose submission returned before this
            // reading is in the wheel before anything due by it is dispatched, so a task submitted just before
            // the clock passed its deadline is never overtaken by one due later.
            let now = self.shared.time.now_ns();
            // A `wait_idle` ticket is acknowledged only by a pass whose clock reading came after the ticket was
            // taken out of the queue (so after the caller moved the clock): the tickets of earlier passes.
            let acknowledgeable = synced;
            let mut stop = false;
            // Scheduling commands placed and not yet settled (see `TickLink::settle`), and commands taken since
            // the target was last published.
            let (mut placed, mut taken) = (0, 0);
            loop {
                if taken == PLACE_BATCH {
                    // A long queue (millions of submissions an hour out): publish the real target now, when nothing
                    // placed so far is due, so that a task due at once need not wait for the whole queue.
                    // Whatever is taken after this stays counted until the pass settles it, so the target need
                    // not go back to 0.
                    taken = 0;
                    let target = self.sleep_target().unwrap_or(u64::MAX);
                    if target > now {
                        self.shared.tick.publish_target(target);
                        self.shared.tick.settle(std::mem::take(&mut placed));
                    }
                }
                taken += 1;
                match self.commands.try_recv() {
                    Ok(Command::Schedule(task)) | Ok(Command::Reschedule(task)) => {
                        self.insert(task);
                        placed += 1;
                    }
                    Ok(Command::Unschedule(task)) => self.remove(&task),
                    Ok(Command::Watch(watch)) => self.watches.push(*watch),
                    Ok(Command::Sync(ticket)) => synced = synced.max(ticket),
                    Ok(Command::Stop) | Err(TryRecvError::Disconnected) => stop = true,
                    Err(TryRecvError::Empty) => break,
                }
            }
            if stop {
                break;
            }
            if !self.cron.is_empty() {
                self.follow_wall_clock(now);
            }
            self.fire_due(now);
            self.time_out_due(now);
            let target = self.sleep_target();
            self.shared.tick.publish_target(target.unwrap_or(u64::MAX));
            self.shared.tick.settle(placed);
            // For whoever waits to see the tick thread's plan: always, since a waiter may have read the 0 of this
            // pass even when the plan itself did not change (loom found the lost wake-up when this was skipped).
            self.shared.ends.notify();
            // Acknowledged after the target is published, so a caller of `wait_idle` sees the real target.
            if self.shared.tick.acknowledge(acknowledgeable) {
                self.shared.ends.notify();
            }
            // The target published above pairs with the read-modify-write in `TickLink::send`: a sender that read
            // the old target sent its command before, and it is visible here; no command slips into the sleep.
            if !self.commands.is_empty() || synced > acknowledgeable {
                continue; // more commands, or a ticket to acknowledge after a fresh clock reading
            }
            self.sleep(target);
        }
        self.wall_watch = None; // stops and joins the watcher
        self.release_wheel();
        self.shared.tick.mark_stopped();
        self.shared.ends.notify();
    }

    /// Lets go of every task the wheel still holds, when the thread stops. After a shutdown's cancel these are the
    /// tasks' last references, so each release frees a task: millions of scattered blocks. The wheel is read in
    /// its arena's order (backwards) and each task hinted [`RELEASE_AHEAD`] tasks before it is released, so that the
    /// reads of their headers overlap instead of following one another.
    fn release_wheel(&mut self) {
        let wheel = std::mem::take(&mut self.wheel);
        let mut window: VecDeque<TaskRef> = VecDeque::with_capacity(RELEASE_AHEAD);
        for task in wheel.into_values() {
            // The whole block: dropping the task reads its header and its closure, freeing it the allocator's header.
            crate::hint::prefetch_block(&*task, task.cell_size());
            if window.len() == RELEASE_AHEAD {
                window.pop_front();
            }
            window.push_back(task);
        }
    }

    /// Puts a pending task in the wheel at its deadline, replacing the entry it has there (a task has one entry at
    /// most).
    fn insert(&mut self, task: TaskRef) {
        self.remove(&task);
        let (state, epoch) = task.lifecycle().load_with_epoch();
        if state != TaskState::Pending {
            return; // cancelled before it reached the wheel
        }
        // The deadline is read after the epoch: a reschedule stores its deadline after moving the epoch, and sends
        // its command after that, so this entry's deadline is at least as new as its epoch.
        let cron = task.periodic().is_some_and(|periodic| periodic.is_cron());
        if cron {
            self.track_cron(&task);
            self.convert_cron(&task);
        }
        let tick = task.deadline() / self.tick_ns;
        let key = self.wheel.insert(tick, task.clone());
        task.set_wheel_entry(key.as_u64(), epoch);
        // Pairs with the canceller, which moves the state and then reads `wheel_key`: one of us sees the other.
        if task.state() != TaskState::Pending {
            self.remove(&task);
        }
    }

    /// Sets a cron task's deadline from its occurrence with the wall-clock skew every cron deadline in the wheel
    /// was converted with (a reschedule's move is in its offset). A reschedule racing this stores its own
    /// deadline and sends a command that brings the task back here.
    fn convert_cron(&self, task: &TaskRef) {
        let (Some(periodic), Some(skew)) = (task.periodic(), self.skew) else { return };
        let deadline = i128::from(periodic.occurrence()) - skew + i128::from(periodic.offset());
        let deadline = u64::try_from(deadline.max(0)).unwrap_or(u64::MAX);
        let old = task.deadline();
        task.replace_deadline(old, deadline);
    }

    /// Keeps a cron task for the conversions a wall-clock step calls for, and starts listening for steps.
    fn track_cron(&mut self, task: &TaskRef) {
        if self.cron.is_empty() {
            self.skew = Some(self.skew_now(self.shared.time.now_ns()));
            if self.wall_watch.is_none() && !self.wall_polling {
                self.start_wall_watch();
            }
        }
        self.cron.insert(task.id, task.clone());
        if self.cron.len() >= self.cron_prune_at {
            self.cron.retain(|_, task| !task.state().is_terminal());
            self.cron_prune_at = (self.cron.len() * 2).max(64);
        }
    }

    #[cfg(not(loom))]
    fn start_wall_watch(&mut self) {
        if !matches!(self.shared.time.clock(), Clock::Monotonic) {
            return; // a manual clock wakes the tick thread itself when its wall clock is set
        }
        let shared = Arc::downgrade(&self.shared);
        self.wall_watch = WallWatch::start(&self.shared.config.thread_name, move || {
            if let Some(shared) = shared.upgrade() {
                shared.tick.wake();
            }
        });
        self.wall_polling = self.wall_watch.is_none();
    }

    #[cfg(loom)]
    fn start_wall_watch(&mut self) {
        self.wall_polling = matches!(self.shared.time.clock(), Clock::Monotonic);
    }

    /// The wall clock minus the clock reading `now`, in nanoseconds.
    fn skew_now(&self, now: u64) -> i128 {
        i128::from(self.shared.time.wall_ns()) - i128::from(now)
    }

    /// When the wall clock has moved against the monotonic one since the cron deadlines were converted, converts
    /// them again: each pending cron task moves to where its occurrence now falls. A step forward makes the
    /// occurrences it passed due at once (the misfire policy then decides which run); a step back moves them
    /// later, so nothing runs twice and nothing early.
    fn follow_wall_clock(&mut self, now: u64) {
        let skew = self.skew_now(now);
        let Some(converted) = self.skew else {
            self.skew = Some(skew);
            return;
        };
        if (skew - converted).abs() <= WALL_STEP_NS {
            return;
        }
        self.skew = Some(skew);
        self.shared.stats.wall_clock_jumps.add(1, Ordering::Relaxed);
        log_at!(
            info,
            "the wall clock stepped by {} ms: converting cron deadlines again",
            (skew - converted) / 1_000_000
        );
        self.cron.retain(|_, task| !task.state().is_terminal());
        // Those in the wheel, and those already taken out of it into the imminent heap (under their current epoch).
        // The others are queued, running or paused: their worker checks the wall clock when it takes them.
        let mut waiting: Vec<TaskRef> = self.cron.values().filter(|task| task.wheel_key() != 0).cloned().collect();
        for entry in std::mem::take(&mut self.imminent).into_vec() {
            if !entry.task.periodic().is_some_and(|periodic| periodic.is_cron()) {
                self.imminent.push(entry);
            } else if entry.task.lifecycle().load_with_epoch() == (TaskState::Pending, entry.epoch) {
                waiting.push(entry.task);
            }
        }
        for task in waiting {
            if task.state() != TaskState::Pending {
                continue;
            }
            self.insert(task); // converted again with the new skew
        }
    }

    fn remove(&mut self, task: &TaskRef) {
        if let Some(key) = TimerKey::from_u64(task.take_wheel_entry().0) {
            self.wheel.cancel(key);
        }
    }

    /// Moves due ticks out of the wheel and dispatches every task whose exact deadline has passed, in deadline
    /// order, ties in the order the tasks reached the wheel.
    ///
    /// Everything the wheel gives up goes through the `imminent` heap first, ordered by (exact deadline, arrival):
    /// the wheel only knows ticks, and gives the tasks of one tick in insertion order, so a task due earlier within
    /// a tick, or one still waiting in the heap from an earlier pull, is never overtaken.
    ///
    /// `now` is the clock reading taken before the command queue was drained (see `run`); one reading serves the
    /// whole pass, and time that passes meanwhile is handled by the next pass (the sleep target is then already
    /// behind the clock).
    fn fire_due(&mut self, now: u64) {
        // Precise mode hands a task over `handoff` before its deadline; the worker waits the rest actively.
        let horizon = now.saturating_add(self.handoff_ns);
        let horizon_tick = horizon / self.tick_ns;
        self.pull(horizon_tick.max(self.wheel.elapsed()));
        // Look one tick ahead, so that the next sleep ends at an exact deadline rather than at a tick boundary.
        if self.imminent.is_empty() {
            if let Some(next_tick) = self.wheel.next_expiration_bound() {
                if next_tick <= horizon_tick.saturating_add(1) {
                    self.pull(next_tick);
                }
            }
        }
        while self.imminent.peek().is_some_and(|first| first.deadline <= horizon) {
            if let Some(Imminent { task, epoch, .. }) = self.imminent.pop() {
                if task.lifecycle().load_with_epoch() == (TaskState::Pending, epoch) {
                    self.shared.run.dispatch(task, false, epoch);
                }
            }
        }
    }

    /// Advances the wheel to `tick` and moves what expired into the `imminent` heap.
    fn pull(&mut self, tick: u64) {
        if self.wheel.advance(tick).is_err() {
            return; // `tick` is never behind the wheel: both callers pass at least its elapsed time
        }
        while let Some(expired) = self.wheel.pop_expired() {
            let task = expired.value;
            let (_, epoch) = task.take_wheel_entry();
            if task.lifecycle().load_with_epoch() != (TaskState::Pending, epoch) {
                continue; // cancelled, or rescheduled: its new entry comes with the reschedule's command
            }
            self.seq += 1;
            self.imminent.push(Imminent { deadline: task.deadline(), seq: self.seq, epoch, task });
        }
    }

    /// Marks the runs whose timeout has passed by `now` as timed out (those still in progress), and counts them.
    fn time_out_due(&mut self, now: u64) {
        while self.watches.peek().is_some_and(|first| first.deadline <= now) {
            if let Some(Watch { task, run, .. }) = self.watches.pop() {
                if task.time_out(run) {
                    self.shared.stats.timed_out_runs.add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The instant to wake at, in nanoseconds after the origin: the exact deadline of the first imminent task,
    /// or the start of the tick at which the wheel next has work, or the first run timeout, whichever comes first;
    /// `None` when nothing is pending or watched. The wheel's tick is [`Wheel::next_expiration_bound`]: the next
    /// expiration, except while the earliest slot is a crowded one on a higher level, whose start it gives instead
    /// (a pass over its records after each cancel of its earliest task made a mass cancel in submission order
    /// quadratic: 10,000,000 cancels had not finished after 20 minutes). The thread then wakes at that start, the
    /// advance moves the slot down a level, and the target tightens: a wake per level at most.
    fn sleep_target(&self) -> Option<u64> {
        let task = match self.imminent.peek() {
            Some(first) => Some(first.deadline),
            None => self.wheel.next_expiration_bound().map(|tick| tick.saturating_mul(self.tick_ns)),
        };
        let watch = self.watches.peek().map(|first| first.deadline);
        match (task, watch) {
            (Some(task), Some(watch)) => Some(task.min(watch)),
            (task, watch) => task.or(watch),
        }
    }

    fn sleep(&self, target: Option<u64>) {
        let shared = &self.shared;
        // With cron tasks pending and no watcher for wall-clock steps, look at the wall clock every second.
        let target = match (self.wall_polling && !self.cron.is_empty(), target) {
            (true, target) => Some(target.unwrap_or(u64::MAX).min(shared.time.now_ns().saturating_add(WALL_POLL_NS))),
            (false, target) => target,
        };
        // A manual clock's wall clock set by hand wakes this wait without a flag: the skew itself is looked at.
        let converted = self.skew.filter(|_| !self.cron.is_empty());
        let woken = || {
            shared.tick.take_wake()
                || converted
                    .is_some_and(|converted| (self.skew_now(shared.time.now_ns()) - converted).abs() > WALL_STEP_NS)
        };
        // In precise mode the tick thread wakes `handoff` early and hands the task over then.
        let wake_at = target.map(|ns| shared.time.instant_of(ns.saturating_sub(self.handoff_ns)));
        shared.time.clock().wait(shared.tick.notifier(), wake_at, woken);
        shared.stats.tick_wakeups.add(1, Ordering::Relaxed);
    }
}

/// Asks Linux to wake the calling thread within 1 ns of its timers instead of the default 50 µs slack.
#[cfg(target_os = "linux")]
fn lower_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes only the calling thread's timer slack; it
    // reads and writes no memory of ours, and a failure (reported by the return value) leaves the thread as it was.
    let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
}

#[cfg(not(target_os = "linux"))]
fn lower_timer_slack() {}
