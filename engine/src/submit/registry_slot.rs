//! One slot of the registry's slab, in one word: a live task's pointer, or a tagged word for the other states.
//!
//! A slot per live task is a table the size of the engine's load: at 10,000,000 pending tasks every byte of it is
//! 10 MB. An enum of the states would be 16 bytes (a pointer beside a generation, with a tag); one word is 8. It
//! holds:
//!
//! - a task (detached or joinable): the task's pointer, whose low bits are free (a task is aligned to 8), with the
//!   joinable flag in bit 0. Its generation is its id's, read from the task;
//! - free, reserved, ended or spent: a tag in the low 3 bits (2 to 5, never a task's), the generation in the high
//!   32 bits, and for an ended task the low 29 bits of its position in the shard's ring of summaries (bits 3 to 31).
//!   The registry keeps fewer than 2^29 summaries a shard, so those bits, with the slot index each summary
//!   records, find the summary or tell that it was forgotten.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;

use crate::task::cell::{Task, TaskRef};

/// The low bits of a word that say what it holds.
const TAG_MASK: u64 = 0b111;
const JOINABLE: u64 = 1;
const FREE: u64 = 2;
const RESERVED: u64 = 3;
const ENDED: u64 = 4;
const SPENT: u64 = 5;
/// How many low bits of an ended task's ring position its slot keeps.
pub(super) const POSITION_BITS: u32 = 29;
const POSITION_MASK: u64 = (1 << POSITION_BITS) - 1;

// A task's pointer leaves the tag bits clear.
const _: () = assert!(std::mem::align_of::<Task>() > TAG_MASK as usize);

/// One slot: what it holds, and its generation (which starts at 1, so that no id is 0).
pub(super) struct Slot(u64);

/// What a slot holds, borrowed.
pub(super) enum View<'a> {
    /// Free, and on the shard's free stack (a slot forgotten with its summary keeps its stale `Ended` state
    /// instead, which lookups see is older than the ring).
    Free,
    /// A task not yet ended, or a joinable one ended and not yet released.
    Task { task: Borrowed<'a>, joinable: bool },
    /// An ended task's summary, at a ring position whose low [`POSITION_BITS`] bits are these.
    Ended { position_bits: u64 },
    /// Taken for a task being admitted; not yet visible.
    Reserved,
    /// Never used again: its generation is spent (`u32::MAX`).
    Spent,
}

/// The task a slot holds, borrowed from the slot: a reference that is not counted, valid while the slot is.
pub(super) struct Borrowed<'a> {
    task: ManuallyDrop<TaskRef>,
    slot: PhantomData<&'a Slot>,
}

impl Deref for Borrowed<'_> {
    type Target = TaskRef;

    fn deref(&self) -> &TaskRef {
        &self.task
    }
}

impl Slot {
    pub(super) fn free(generation: u32) -> Slot {
        Slot(tagged(generation, FREE))
    }

    pub(super) fn reserved(generation: u32) -> Slot {
        Slot(tagged(generation, RESERVED))
    }

    pub(super) fn spent() -> Slot {
        Slot(tagged(u32::MAX, SPENT))
    }

    /// An ended task's slot: its generation, and the task's summary at `position` of the shard's ring.
    pub(super) fn ended(generation: u32, position: u64) -> Slot {
        Slot(tagged(generation, ENDED) | (position & POSITION_MASK) << 3)
    }

    /// A slot holding `task` (whose id names this slot).
    pub(super) fn task(task: TaskRef, joinable: bool) -> Slot {
        let address = task.into_raw().as_ptr().expose_provenance() as u64;
        Slot(address | if joinable { JOINABLE } else { 0 })
    }

    pub(super) fn view(&self) -> View<'_> {
        match self.0 & TAG_MASK {
            0 | JOINABLE => {
                let address = (self.0 & !TAG_MASK) as usize;
                let pointer = std::ptr::with_exposed_provenance_mut::<Task>(address);
                let pointer = NonNull::new(pointer).expect("a task slot holds a pointer");
                // SAFETY: the word holds the pointer of a reference this slot owns (`Slot::task`, with its
                // provenance exposed there), which lives until the slot changes or drops; the view borrows the slot,
                // so neither happens while it lives, and `ManuallyDrop` keeps the view from giving the reference up.
                let task = ManuallyDrop::new(unsafe { TaskRef::from_raw(pointer) });
                View::Task { task: Borrowed { task, slot: PhantomData }, joinable: self.0 & JOINABLE != 0 }
            }
            FREE => View::Free,
            RESERVED => View::Reserved,
            ENDED => View::Ended { position_bits: (self.0 >> 3) & POSITION_MASK },
            _ => View::Spent,
        }
    }

    /// The slot's generation: a task's is its id's.
    pub(super) fn generation(&self) -> u32 {
        match self.view() {
            View::Task { task, .. } => (task.id >> 32) as u32,
            _ => (self.0 >> 32) as u32,
        }
    }

    /// The task this slot held, its reference given up by the slot (`None` for the other states).
    pub(super) fn into_task(self) -> Option<TaskRef> {
        let slot = ManuallyDrop::new(self); // the reference, if any, leaves with the result
        match slot.view() {
            View::Task { task, .. } => Some(ManuallyDrop::into_inner(task.task)),
            _ => None,
        }
    }

    /// A joinable task's slot made detached.
    pub(super) fn detach(&mut self) {
        if let View::Task { .. } = self.view() {
            self.0 &= !JOINABLE;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let View::Task { task, .. } = self.view() {
            // The slot owned this reference: take it back from the view, uncounted, and let it go.
            drop(ManuallyDrop::into_inner(task.task));
        }
    }
}

fn tagged(generation: u32, tag: u64) -> u64 {
    u64::from(generation) << 32 | tag
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_slot_is_one_word_and_each_state_reads_back() {
        assert_eq!(std::mem::size_of::<Slot>(), 8);
        assert!(matches!(Slot::free(7).view(), View::Free));
        assert_eq!(Slot::free(7).generation(), 7);
        assert!(matches!(Slot::reserved(u32::MAX - 1).view(), View::Reserved));
        assert_eq!(Slot::reserved(u32::MAX - 1).generation(), u32::MAX - 1);
        assert!(matches!(Slot::spent().view(), View::Spent));
        assert_eq!(Slot::spent().generation(), u32::MAX);
        let ended = Slot::ended(9, (5 << POSITION_BITS) + 12);
        assert!(matches!(ended.view(), View::Ended { position_bits: 12 }));
        assert_eq!(ended.generation(), 9);
    }

    #[test]
    fn a_task_slot_holds_one_reference_and_gives_it_up_once() {
        let task = Task::for_test(3 << 32 | 17, None);
        let mut slot = Slot::task(task.clone(), true);
        assert_eq!(slot.generation(), 3);
        match slot.view() {
            View::Task { task: held, joinable } => {
                assert!(joinable);
                assert_eq!(held.as_ptr(), task.as_ptr());
                let _counted = (*held).clone();
            }
            _ => panic!("not a task"),
        }
        slot.detach();
        assert!(matches!(slot.view(), View::Task { joinable: false, .. }));
        drop(slot);
        let given_up = Slot::task(task.clone(), false).into_task().expect("a task slot gives its task up");
        assert_eq!(given_up.as_ptr(), task.as_ptr());
        drop(given_up);
        assert!(Slot::ended(3, 5).into_task().is_none());
        let mut task = task;
        assert!(task.get_mut().is_some(), "the slot's reference and the clone's are both given up");
    }
}
