//! Stage 5, waiting for the end: the calls blocked on one task each, and the descriptor that becomes readable
//! when tasks end, for hosts with an event loop.

pub(crate) mod completion_fd;
pub(crate) mod ends;
pub(crate) mod task_waiters;
