//! Stage 4, running: the run queues between the tick thread and the workers, the concurrency groups, the worker's
//! loop and what becomes of a run (success, failure, retry, re-arm), the hooks around it, and the quieting of
//! the panics it catches.

pub(crate) mod dispatch;
pub(crate) mod groups;
pub(crate) mod hooks;
pub(crate) mod queues;
pub(crate) mod quiet_panics;
pub(crate) mod scope;
pub(crate) mod worker;
