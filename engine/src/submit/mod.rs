//! Stage 2, admission: a submission is checked, takes a unit of capacity and its dedupe key, is registered under
//! its id, and is sent on its way — to a run queue when due at once, to the tick thread otherwise.

pub(crate) mod admission;
pub(crate) mod capacity;
pub(crate) mod options;
pub(crate) mod registry;
mod registry_slot;
