//! Stage 4, running: the run queues between the tick thread and the workers, the concurrency groups, the worker's
//! loop and what becomes of a run (success, failure, retry, re-arm), the hooks around it, and the panics it
//! catches (their message, kept quiet).

pub(crate) mod dispatch;
pub(crate) mod groups;
pub(crate) mod hooks;
pub(crate) mod panics;
pub(crate) mod queues;
pub(crate) mod scope;
pub(crate) mod worker;
