//! What the calling thread is doing for an engine (known by the address of its shared state, behind its `Arc`): whether it is inside a piece of the engine's work (a task's
//! run, or the bookkeeping and closure drops around it), and for which task.
//!
//! Calls that block until the engine makes progress use this to refuse, with
//! [`Error::WouldDeadlock`](crate::Error::WouldDeadlock), what could never return: a task waiting for itself,
//! waiting for its engine to be idle or shut down, or (with one worker) waiting for any other task of its engine.

use std::cell::Cell;

use crate::sync::{Arc, thread_local};
use crate::task::cell::Task;

/// The engine and the task a thread is working for, by address (0 for none).
#[derive(Copy, Clone, PartialEq, Eq)]
struct Working {
    engine: usize,
    task: usize,
}

const IDLE: Working = Working { engine: 0, task: 0 };

thread_local! {
    // Not a `const { }` initialiser: loom's `thread_local!` does not take one. The cost is a lazy-init check per
    // access, twice per piece of work.
    #[allow(clippy::missing_const_for_thread_local)]
    static WORKING: Cell<Working> = Cell::new(IDLE);
}

fn address<T: ?Sized>(value: &T) -> usize {
    (value as *const T).cast::<()>() as usize
}

/// Marks the calling thread as working on `task` for `engine` until the guard drops.
pub(crate) struct WorkScope {
    previous: Working,
}

impl WorkScope {
    pub(crate) fn enter<E>(engine: &Arc<E>, task: &Task) -> WorkScope {
        let previous =
            WORKING.with(|working| working.replace(Working { engine: address(&**engine), task: address(task) }));
        WorkScope { previous }
    }
}

impl Drop for WorkScope {
    fn drop(&mut self) {
        WORKING.with(|working| working.set(self.previous));
    }
}

/// `true` when the calling thread is inside a piece of `engine`'s work.
pub(crate) fn inside<E>(engine: &Arc<E>) -> bool {
    WORKING.with(|working| working.get().engine == address(&**engine))
}

/// `true` when the calling thread is inside the work of `task` itself.
pub(crate) fn inside_task(task: &Task) -> bool {
    WORKING.with(|working| working.get().task == address(task))
}
