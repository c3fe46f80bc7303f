//! One task, whatever stage it is at: its cell (the shared record and its closure), its state machine, the rules
//! of a periodic task and of retries. Every stage holds tasks; this folder imports none of the stages.

pub(crate) mod cell;
pub(crate) mod lifecycle;
pub(crate) mod periodic;
pub(crate) mod priority;
pub(crate) mod retry;
pub(crate) mod state;
