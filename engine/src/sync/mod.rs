//! The one door to synchronisation: every atomic, lock, condition variable, thread and queue the engine uses
//! comes from here, and nothing else in the engine names `std::sync`, `parking_lot` or `crossbeam`.
//!
//! In a normal build ([`native`]) these are `std`'s atomics and `Arc`, `parking_lot`'s `Mutex` and `Condvar`,
//! `std::thread` and `crossbeam-channel` queues. Under `--cfg loom` ([`mocked`]) the same names map to loom's
//! model-checked primitives, with loom-built queues behind the same small interface (crossbeam is not loom-aware),
//! so the engine's logic is identical in both builds and only the primitives change — the pattern of tokio's
//! `loom` module.
//!
//! A rule for the engine's atomics: an atomic that any thread changes with a read-modify-write (`swap`,
//! `fetch_*`, `compare_exchange`) is only ever written with read-modify-writes. Loom may order a plain `store`
//! wrongly against racing RMWs and report deadlocks that cannot happen; with RMWs only, its model is exact.
//!
//! One exception, by design: [`StatCounter`] is a plain `std` atomic in both builds. Statistics synchronise
//! nothing, and loom need not explore their interleavings.
//!
//! And a write that races nothing may be a plain store: admission fills in a task it holds the only reference to
//! (its deadline, and its reference count when it makes the task's other references at once, `TaskRef::share`)
//! before any other thread can reach it; whatever hands the task on (a lock, a queue) orders those writes first.

#[cfg(not(loom))]
mod native;
#[cfg(not(loom))]
pub(crate) use native::*;

#[cfg(loom)]
mod mocked;
#[cfg(loom)]
pub(crate) use mocked::*;

pub(crate) mod notifier;
pub(crate) mod striped;

/// Pads and aligns a value to its own cache line, so that threads updating neighbouring atomics do not contend
/// for one line (false sharing). Not a synchronisation primitive: the same type in both builds.
pub(crate) use crossbeam_utils::CachePadded;

/// A plain reference-counted pointer for values that synchronise nothing and are shared outside any model (the
/// I/O error inside [`Error::Spawn`](crate::Error::Spawn)): `std`'s `Arc` in both builds.
pub(crate) type PlainArc<T> = std::sync::Arc<T>;

/// A value that is `Sync` whatever it holds, because it is only ever reached by value or through `&mut`: a shared
/// reference to it gives nothing (the idea of the unstable `std::sync::Exclusive`). What lets an error that carries
/// a `Send`-only panic payload be `Sync`. `std`'s `Mutex` in both builds, never locked: it only lends its
/// `Sync`-for-`Send` rule, no `unsafe` needed.
pub(crate) struct Exclusive<T>(std::sync::Mutex<T>);

impl<T> Exclusive<T> {
    pub(crate) fn new(value: T) -> Exclusive<T> {
        Exclusive(std::sync::Mutex::new(value))
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A statistics counter: never used to synchronise, so a plain atomic even under loom.
pub(crate) type StatCounter = std::sync::atomic::AtomicU64;

/// A pointer published at most once after its owner is shared and never replaced (a task's rarer parts, made by
/// the first report of a task that had none): `std`'s `AtomicPtr` even under loom. What it synchronises is the
/// publication of a box made just before, one release and acquire pair; loom runs a model's threads one at a time on
/// real memory, so the pair holds there too, and exploring its interleavings would only multiply every model's
/// branches (a task reads the pointer on each look at its options).
pub(crate) type OncePtr<T> = std::sync::atomic::AtomicPtr<T>;

/// The completion eventfd's number (-1: none): set once, read by every task end; it synchronises nothing (the
/// kernel's eventfd does), so a plain atomic even under loom.
pub(crate) type FdCell = std::sync::atomic::AtomicI32;

/// Runs `first` on the calling thread and `second` on a helper thread at once, and returns both results: for a
/// long walk that splits in two (a shutdown cancelling millions of tasks). When no thread can be started, and under
/// loom (whose models have no scoped threads), `second` runs after `first` on the calling thread.
pub(crate) fn in_parallel<A: Send, B: Send>(
    first: impl FnOnce() -> A + Send,
    second: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(not(loom))]
    {
        // Where the helper finds `second`, and where the caller finds it again if no helper starts.
        let second = std::sync::Mutex::new(Some(second));
        let run_second = || second.lock().unwrap_or_else(|poison| poison.into_inner()).take().map(|second| second());
        std::thread::scope(|scope| {
            let helper = std::thread::Builder::new().name("taskwheel-helper".into()).spawn_scoped(scope, run_second);
            let a = first();
            let b = match helper {
                Ok(helper) => helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => run_second(),
            };
            (a, b.expect("the second half runs exactly once"))
        })
    }
    #[cfg(loom)]
    {
        (first(), second())
    }
}

/// Runs a concurrency test: every interleaving under loom, once on real threads otherwise.
#[cfg(test)]
pub(crate) fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    #[cfg(loom)]
    loom::model(f);
    #[cfg(not(loom))]
    f();
}
