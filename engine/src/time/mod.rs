//! Time: the clock an engine reads (monotonic or manual), cron expressions in named zones (and cron's fixed-time rule for lists and ranges), the wall clock beside
//! the monotonic one, and hearing of wall-clock steps.

pub(crate) mod base;
pub(crate) mod clock;
pub(crate) mod cron;
pub(crate) mod cron_fixed;
pub(crate) mod cron_never;
pub(crate) mod wall_steps;
