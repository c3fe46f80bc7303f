//! The task state machine: the only place that changes a task's state.
//!
//! ```text
//!             ┌──────────── cancel ────────────┐
//!             │                                ▼
//!  Pending ──start──▶ Running ──ok──▶ Succeeded     Cancelled
//!     ▲                 │ │  └─err/panic──▶ Failed       ▲
//!     └──── re-arm ─────┘ └──── cancel (periodic) ───────┘
//! ```
//!
//! A periodic task goes back to `Pending` between runs; cancelling a periodic task while it runs moves it to
//! `Cancelled` at once so that no further run starts. Terminal states never change. Every move is a
//! compare-and-swap from the state the caller believes current (retried only when the schedule epoch beside it
//! moved), so two threads can never both win the same move: whoever moves a task out of `Pending` owns its closure
//! from then on. A run starts only under the epoch its dispatch was made in, so a reschedule invalidates the old
//! dispatches (see [`AtomicState`]).

use crate::sync::atomic::{AtomicU64, Ordering};
use crate::task::priority::Priority;
pub(crate) use crate::task::state::TaskState;

/// A task's state and its *schedule epoch* in one atomic word: the state in the low byte, the pause flag in bit 8,
/// the task's own flags byte in bits 16 to 23 ([`set_flags`](Self::set_flags)), its priority in bits 24 to 31 (fixed
/// at admission), the epoch in the high 32 bits. Every move of the state keeps the rest of the word (a
/// compare-and-swap that finds a flag moved looks again), and the flags are only ever set, by read-modify-writes.
/// Sharing the word keeps the task's header a size class smaller.
///
/// The epoch names one scheduling of a pending task. Rescheduling moves it on ([`AtomicState::reschedule`]), and
/// whoever starts a run must name the epoch it was dispatched under ([`AtomicState::start`]), so a dispatch made
/// before a reschedule (a task already in a run queue, a group's queue or the tick thread's hands) can never start
/// the task: its compare-and-swap fails as a cancelled task's does.
#[derive(Debug)]
pub(crate) struct AtomicState(AtomicU64);

const STATE_MASK: u64 = 0xff;
/// A flag beside the state: a pending task that must not start until resumed.
const PAUSED: u64 = 0x100;
/// Where the task's flags byte sits in the word.
const FLAGS_SHIFT: u32 = 16;
/// Where the task's priority sits in the word.
const PRIORITY_SHIFT: u32 = 24;

fn pack(state: TaskState, epoch: u32) -> u64 {
    (u64::from(epoch) << 32) | state as u64
}

fn state_of(word: u64) -> TaskState {
    TaskState::from_u8((word & STATE_MASK) as u8)
}

fn epoch_of(word: u64) -> u32 {
    (word >> 32) as u32
}

impl AtomicState {
    /// A pending task's word, at `priority` (the task's flags clear).
    pub(crate) fn new(priority: Priority) -> AtomicState {
        AtomicState(AtomicU64::new(pack(TaskState::Pending, 0) | (priority as u64) << PRIORITY_SHIFT))
    }

    /// A state cell already at `state`, with `flags` set (for the record of an ended task).
    pub(crate) fn at(state: TaskState, flags: u8) -> AtomicState {
        AtomicState(AtomicU64::new(pack(state, 0) | u64::from(flags) << FLAGS_SHIFT))
    }

    /// Sets `flags` in the task's flags byte; returns the byte as it was.
    pub(crate) fn set_flags(&self, flags: u8) -> u8 {
        (self.0.fetch_or(u64::from(flags) << FLAGS_SHIFT, Ordering::SeqCst) >> FLAGS_SHIFT) as u8
    }

    /// The task's flags byte.
    pub(crate) fn flags(&self) -> u8 {
        (self.0.load(Ordering::SeqCst) >> FLAGS_SHIFT) as u8
    }

    /// The task's priority.
    pub(crate) fn priority(&self) -> Priority {
        let code = (self.0.load(Ordering::SeqCst) >> PRIORITY_SHIFT) as u8;
        Priority::from_code(u32::from(code)).unwrap_or_default()
    }

    pub(crate) fn load(&self) -> TaskState {
        state_of(self.0.load(Ordering::SeqCst))
    }

    /// The state and the schedule epoch, read together.
    pub(crate) fn load_with_epoch(&self) -> (TaskState, u32) {
        let word = self.0.load(Ordering::SeqCst);
        (state_of(word), epoch_of(word))
    }

    /// Moves from `from` to `to` if the state is still `from` and the lifecycle allows the move, whatever the
    /// epoch (which it keeps). On failure returns the state found (or `from` itself when the move is not allowed).
    pub(crate) fn transition(&self, from: TaskState, to: TaskState) -> Result<(), TaskState> {
        self.transition_setting(from, to, 0).map(drop)
    }

    /// [`transition`](Self::transition), setting `flags` in the task's flags byte by the same compare-and-swap
    /// (one read-modify-write where a move and a flag would be two). Returns the flags byte as it was.
    pub(crate) fn transition_setting(&self, from: TaskState, to: TaskState, flags: u8) -> Result<u8, TaskState> {
        if !from.can_become(to) {
            return Err(from);
        }
        let mut word = self.0.load(Ordering::SeqCst);
        loop {
            if state_of(word) != from {
                return Err(state_of(word));
            }
            // The epoch and the flags stay; `flags` join them.
            let moved = (word & !STATE_MASK) | to as u64 | u64::from(flags) << FLAGS_SHIFT;
            match self.0.compare_exchange(word, moved, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok((word >> FLAGS_SHIFT) as u8),
                Err(found) => word = found, // the epoch or a flag moved (a reschedule, a pause); look again
            }
        }
    }

    /// Starts a run: `Pending` to `Running`, only if the task is still pending under `epoch` (the scheduling the
    /// caller's dispatch belongs to). One compare-and-swap.
    /// A paused task does not start. One compare-and-swap (the flags it keeps make a loop of it when they move).
    pub(crate) fn start(&self, epoch: u32) -> Result<(), TaskState> {
        let mut word = self.0.load(Ordering::SeqCst);
        loop {
            if state_of(word) != TaskState::Pending || epoch_of(word) != epoch || word & PAUSED != 0 {
                return Err(state_of(word));
            }
            let running = (word & !STATE_MASK) | TaskState::Running as u64;
            match self.0.compare_exchange(word, running, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(()),
                Err(found) => word = found,
            }
        }
    }

    /// Marks a pending task paused: no dispatch starts it until [`resume`](Self::resume). A running task is marked
    /// too: the flag stays when its run gives it back to `Pending` (a periodic task's next run, a retry), so the
    /// pause takes effect after the current run. The state found when the task has ended.
    pub(crate) fn pause(&self) -> Result<(), TaskState> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |word| {
                matches!(state_of(word), TaskState::Pending | TaskState::Running).then_some(word | PAUSED)
            })
            .map(drop)
            .map_err(state_of)
    }

    /// Clears a pending task's pause and moves its epoch on (the dispatches made while it was paused were dropped:
    /// the caller schedules it again). `Ok(None)` when it was not paused; the state found when it is not pending.
    pub(crate) fn resume(&self) -> Result<Option<u32>, TaskState> {
        let mut word = self.0.load(Ordering::SeqCst);
        loop {
            if state_of(word) == TaskState::Running {
                // Paused during its run: clearing the flag is all (its run schedules what comes next).
                match self.0.compare_exchange(word, word & !PAUSED, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => return Ok(None),
                    Err(found) => {
                        word = found;
                        continue;
                    }
                }
            }
            if state_of(word) != TaskState::Pending {
                return Err(state_of(word));
            }
            if word & PAUSED == 0 {
                return Ok(None);
            }
            let epoch = epoch_of(word).wrapping_add(1);
            let resumed = (u64::from(epoch) << 32) | (word & 0xffff_ffff & !PAUSED);
            match self.0.compare_exchange(word, resumed, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(Some(epoch)),
                Err(found) => word = found,
            }
        }
    }

    /// Whether the task is paused.
    pub(crate) fn is_paused(&self) -> bool {
        let word = self.0.load(Ordering::SeqCst);
        word & PAUSED != 0 && matches!(state_of(word), TaskState::Pending | TaskState::Running)
    }

    /// Moves a pending task's epoch on (a reschedule), invalidating every dispatch made under the old one. Returns
    /// the new epoch, or the state found when the task is not pending.
    pub(crate) fn reschedule(&self) -> Result<u32, TaskState> {
        let mut word = self.0.load(Ordering::SeqCst);
        loop {
            if state_of(word) != TaskState::Pending {
                return Err(state_of(word));
            }
            let epoch = epoch_of(word).wrapping_add(1);
            let moved = (u64::from(epoch) << 32) | (word & 0xffff_ffff); // the flags stay (a paused task stays paused)
            match self.0.compare_exchange(word, moved, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(epoch),
                Err(found) => word = found,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_drawn_transitions_are_legal() {
        use TaskState::*;
        let legal = [
            (Pending, Running),
            (Pending, Cancelled),
            (Running, Succeeded),
            (Running, Failed),
            (Running, Pending),
            (Running, Cancelled),
        ];
        for from in TaskState::ALL {
            for to in TaskState::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                // And the atomic refuses exactly the illegal ones, from every starting state.
                let state = AtomicState::at(from, 0);
                assert_eq!(state.transition(from, to).is_ok(), expected, "{from} -> {to}");
                assert_eq!(state.load(), if expected { to } else { from });
            }
        }
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for from in TaskState::ALL.into_iter().filter(|s| s.is_terminal()) {
            assert!(TaskState::ALL.iter().all(|&to| !from.can_become(to)), "{from}");
        }
    }

    #[test]
    fn a_run_starts_only_under_the_epoch_it_was_dispatched_with() {
        let state = AtomicState::new(Priority::Normal);
        assert_eq!(state.reschedule(), Ok(1));
        assert_eq!(state.start(0), Err(TaskState::Pending), "a dispatch from before the reschedule");
        assert_eq!(state.start(1), Ok(()));
        assert_eq!(state.load_with_epoch(), (TaskState::Running, 1));
        assert_eq!(state.reschedule(), Err(TaskState::Running), "a running task cannot be rescheduled");
        // Transitions keep the epoch.
        state.transition(TaskState::Running, TaskState::Pending).unwrap();
        assert_eq!(state.load_with_epoch(), (TaskState::Pending, 1));
    }

    #[test]
    fn a_paused_task_does_not_start_and_resuming_it_moves_its_epoch() {
        let state = AtomicState::new(Priority::Normal);
        state.pause().unwrap();
        assert!(state.is_paused());
        assert_eq!(state.start(0), Err(TaskState::Pending), "paused: not started");
        assert_eq!(state.reschedule(), Ok(1), "a paused task can be moved");
        assert!(state.is_paused(), "and stays paused");
        assert_eq!(state.resume(), Ok(Some(2)));
        assert_eq!(state.resume(), Ok(None), "not paused any more");
        assert_eq!(state.start(1), Err(TaskState::Pending), "a dispatch from before the resume");
        assert_eq!(state.start(2), Ok(()));
        // Paused while running: the flag outlives the run's move back to Pending (a periodic task's next run).
        assert_eq!(state.pause(), Ok(()));
        assert!(state.is_paused());
        state.transition(TaskState::Running, TaskState::Pending).unwrap();
        assert_eq!(state.start(2), Err(TaskState::Pending), "paused after its run");
        assert_eq!(state.resume(), Ok(Some(3)));
        assert_eq!(state.start(3), Ok(()));
        // Paused and resumed within one run: nothing left of it.
        state.pause().unwrap();
        assert_eq!(state.resume(), Ok(None));
        assert!(!state.is_paused());
        state.transition(TaskState::Running, TaskState::Succeeded).unwrap();
        assert_eq!(state.resume(), Err(TaskState::Succeeded));
        assert_eq!(state.pause(), Err(TaskState::Succeeded));
    }

    #[test]
    fn the_flags_and_the_priority_outlive_every_move_of_the_state() {
        let state = AtomicState::new(Priority::Low);
        assert_eq!(state.set_flags(0b101), 0);
        state.pause().unwrap();
        assert_eq!(state.reschedule(), Ok(1));
        assert_eq!(state.resume(), Ok(Some(2)));
        state.start(2).unwrap();
        assert_eq!(state.set_flags(0b10), 0b101, "the byte as it was");
        state.transition(TaskState::Running, TaskState::Succeeded).unwrap();
        assert_eq!(
            (state.load_with_epoch(), state.flags(), state.priority()),
            ((TaskState::Succeeded, 2), 0b111, Priority::Low)
        );
        assert_eq!(AtomicState::at(TaskState::Cancelled, 0xff).flags(), 0xff);
        assert_eq!(AtomicState::new(Priority::High).priority(), Priority::High);
    }

    #[test]
    fn a_transition_can_set_flags_in_the_same_move() {
        let state = AtomicState::new(Priority::High);
        assert_eq!(state.set_flags(0b1), 0);
        assert_eq!(state.transition_setting(TaskState::Pending, TaskState::Cancelled, 0b110), Ok(0b1));
        assert_eq!((state.load(), state.flags(), state.priority()), (TaskState::Cancelled, 0b111, Priority::High));
        assert_eq!(
            state.transition_setting(TaskState::Pending, TaskState::Running, 0b1000),
            Err(TaskState::Cancelled),
            "a refused move sets nothing"
        );
        assert_eq!(state.flags(), 0b111);
    }

    #[test]
    fn a_transition_from_a_stale_state_fails_and_reports_the_actual_one() {
        let state = AtomicState::new(Priority::Normal);
        state.transition(TaskState::Pending, TaskState::Cancelled).unwrap();
        assert_eq!(state.transition(TaskState::Pending, TaskState::Running), Err(TaskState::Cancelled));
    }
}
