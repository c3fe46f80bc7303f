//! The panics a run raises: their message ([`panic_message`]), and keeping them quiet. Rust prints every panic through the process's panic hook, before
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

/// The text a caught panic leaves as a task's failure: `"panicked: "` and its message when its payload is a string
/// (`panic!("…")` with or without arguments), `"panicked with a non-string payload"` otherwise. The engine, its
/// typed results and the durable tasks' nodes all describe panics with it.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("disk {} on fire", 3)).unwrap_err();
/// assert_eq!(taskwheel::panic_message(&*payload), "panicked: disk 3 on fire");
/// let opaque = std::panic::catch_unwind(|| std::panic::panic_any(42)).unwrap_err();
/// assert_eq!(taskwheel::panic_message(&*opaque), "panicked with a non-string payload");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match panic_text(payload) {
        Some(message) => format!("panicked: {message}"),
        None => "panicked with a non-string payload".to_string(),
    }
}

/// The message itself of a panic whose payload is a string (`panic!("kaboom")` gives `"kaboom"`), else `None`.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}
