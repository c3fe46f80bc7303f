//! Stage 3, waiting for the deadline: the tick thread owns the timing wheel, takes the submitters' commands,
//! follows the wall clock under cron tasks, and hands each task to the run queues when it is due.

pub(crate) mod link;
pub(crate) mod thread;
