//! Keeping the panics the engine catches quiet. Rust prints every panic through the process's panic hook, before
//! anything can catch it; a task that panics is caught by its worker and reported (its handle, `tw_outcome`,
//! `Stats::failed_runs`, the hooks), so the print is noise — one run of 100 panicking tasks printed 3.7k lines.
//!
//! The first quiet engine wraps the panic hook the process has then: the wrapper stays silent for a panic raised
//! inside a task's run (or a hook) on a worker of a quiet engine, and passes every other panic to the hook it
//! wrapped, so the rest of the host program keeps its panic reporting. A host that sets its own hook later takes
//! the place of the wrapper, and then task panics print through that hook again.

use std::cell::Cell;

use crate::sync::Once;

thread_local! {
    static IN_QUIET_RUN: Cell<bool> = const { Cell::new(false) };
}

static WRAPPED: Once = Once::new();

/// Wraps the process's panic hook, once per process.
pub(crate) fn install() {
    WRAPPED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_QUIET_RUN.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// While alive, panics on this thread are silent (if [`install`] ran).
pub(crate) struct QuietRun {
    was: bool,
}

impl QuietRun {
    pub(crate) fn enter() -> QuietRun {
        QuietRun { was: IN_QUIET_RUN.with(|quiet| quiet.replace(true)) }
    }
}

impl Drop for QuietRun {
    fn drop(&mut self) {
        IN_QUIET_RUN.with(|quiet| quiet.set(self.was));
    }
}
