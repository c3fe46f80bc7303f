//! The one door to synchronisation: every atomic, lock, condition variable, thread and queue the engine uses
//! comes from here.
//!
//! In a normal build these are `std`'s atomics and `Arc`, `parking_lot`'s `Mutex` and `Condvar`, `std::thread` and
//! `crossbeam-channel`. Under `--cfg loom` the same names map to loom's model-checked primitives, so the engine's
//! logic is identical in both builds and only the primitives change (tokio's `loom` module does the same).

#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Weak};

#[cfg(not(loom))]
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence};
}

#[cfg(not(loom))]
pub(crate) use parking_lot::{Condvar, Mutex};

#[cfg(not(loom))]
pub(crate) use std::thread;

/// Unbounded multi-producer multi-consumer queues.
#[cfg(not(loom))]
pub(crate) mod channel {
    pub(crate) use crossbeam_channel::{Receiver, Select, Sender, TryRecvError, unbounded};
}
