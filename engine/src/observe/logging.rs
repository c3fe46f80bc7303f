//! What the engine logs, through the `log` facade, when built with the `log` feature (off by default; without it
//! the macro compiles to nothing and its arguments are never evaluated).
//!
//! - `error`: a hook panicked;
//! - `warn`: a task's run panicked (the panic itself is quiet unless `report_panics`);
//! - `info`: an engine started or shut down; the wall clock stepped under pending cron tasks;
//! - `debug`: a run failed; occurrences of a periodic task were missed.
//!
//! The target is `taskwheel`.

macro_rules! log_at {
    ($level:ident, $($arg:tt)+) => {{
        #[cfg(feature = "log")]
        {
            log::$level!(target: "taskwheel", $($arg)+);
        }
        // Without the feature: type-checked, never evaluated, compiled away.
        #[cfg(not(feature = "log"))]
        if false {
            let _ = format_args!($($arg)+);
        }
    }};
}

pub(crate) use log_at;
