//! The C ABI of taskwheel: `libtaskwheel.so` / `libtaskwheel.a` and `include/taskwheel.h`.
//!
//! Conventions (repeated in the header):
//! - Every name is prefixed `tw_` / `TW_`. Types are opaque; ids are `uint64_t` and never 0.
//! - Every fallible function returns a `tw_status` and writes results through out-pointers, only on success.
//!   `tw_status_str` names every status.
//! - No Rust panic unwinds into C: each entry point catches it and returns `TW_ERR_PANIC`.
//! - Enum-valued arguments arrive as integers and are checked: out of range is `TW_ERR_INVALID_ARGUMENT`.
//!
//! This crate uses only the public API of `taskwheel`.
#![allow(non_camel_case_types)]
#![warn(missing_docs, unsafe_op_in_unsafe_fn)]

// The modules in the order of the header's sections (cbindgen writes items in the order it reads them).
mod enums;
mod ptr;
mod status;

// The wheel.
mod wheel;

// The engine, its hooks, statistics and metrics.
mod engine;
mod hooks;

// Tasks: the spec, scheduling, control, the running task's calls.
mod spec;

mod schedule;

mod control;

mod current;

// Cron expressions on their own.
mod cron;

// Durable tasks, then durable schedules and statistics, then an operator's controls.
mod durable;
mod durable_admin;
mod durable_control;

pub use control::{
    tw_cancel, tw_join, tw_outcome, tw_pause, tw_pause_engine, tw_pause_group, tw_release, tw_reschedule,
    tw_reschedule_after, tw_resume, tw_task_outcome, tw_task_state, tw_wait, tw_wait_idle,
};
pub use cron::{TW_CRON_NEXT_MAX, tw_cron_next};
pub use current::{tw_current_task_cancelled, tw_current_task_id};
pub use durable::{
    tw_durable_cancel, tw_durable_handler_fn, tw_durable_node, tw_durable_node_builder,
    tw_durable_node_builder_configure, tw_durable_node_builder_free, tw_durable_node_builder_handler,
    tw_durable_node_builder_new, tw_durable_node_id, tw_durable_node_shutdown, tw_durable_node_start, tw_durable_queue,
    tw_durable_queue_connect, tw_durable_queue_free, tw_durable_state, tw_durable_submit, tw_durable_task_spec,
    tw_durable_task_spec_init, tw_durable_task_spec_init_sized, tw_durable_task_state,
};
pub use durable_admin::{
    tw_durable_queue_stats, tw_durable_schedule, tw_durable_schedule_spec, tw_durable_schedule_spec_init,
    tw_durable_schedule_spec_init_sized, tw_durable_stats, tw_durable_unschedule, tw_durable_waiting,
};
pub use durable_control::{
    tw_durable_delete, tw_durable_list, tw_durable_list_state, tw_durable_nodes_json, tw_durable_pause,
    tw_durable_rate_limit, tw_durable_requeue, tw_durable_requeue_all, tw_durable_resume, tw_durable_task_json,
};
pub use engine::{
    TW_MAX_PRECISE_SPIN_NS, tw_config, tw_config_init, tw_config_init_sized, tw_engine, tw_engine_completion_fd,
    tw_engine_free, tw_engine_metrics, tw_engine_new, tw_engine_shutdown, tw_engine_stats, tw_precision,
    tw_shutdown_mode, tw_shutdown_report, tw_stats,
};
pub use enums::{tw_free_fn, tw_misfire, tw_priority, tw_recurrence, tw_state, tw_task_id};
pub use hooks::{tw_run_end, tw_run_end_fn, tw_run_start, tw_run_start_fn};
pub use schedule::{tw_schedule, tw_schedule_after};
pub use spec::{
    TW_MAX_DELAY_NS, TW_MAX_PRIORITY_WEIGHT, TW_MAX_RUN_EACH, TW_RUN_CANCELLED, tw_monotonic_ns, tw_task_fn,
    tw_task_spec, tw_task_spec_init, tw_task_spec_init_sized,
};
pub use status::{tw_status, tw_status_str, tw_version};
pub use wheel::{
    tw_expire_fn, tw_timer_id, tw_wheel, tw_wheel_advance, tw_wheel_cancel, tw_wheel_expire, tw_wheel_free,
    tw_wheel_insert, tw_wheel_len, tw_wheel_new, tw_wheel_next_expiration, tw_wheel_now, tw_wheel_pop_expired,
    tw_wheel_reschedule, tw_wheel_timeout, tw_wheel_timer,
};

/// The C constants mirror the engine's bounds.
#[cfg(test)]
mod tests {
    #[test]
    fn the_c_bounds_are_the_engines() {
        assert_eq!(u128::from(super::TW_MAX_DELAY_NS), taskwheel::MAX_DELAY.as_nanos());
        assert_eq!(super::TW_MAX_RUN_EACH, taskwheel::MAX_RUN_EACH);
        assert_eq!(super::TW_MAX_PRIORITY_WEIGHT, taskwheel::MAX_PRIORITY_WEIGHT);
        assert_eq!(u128::from(super::TW_MAX_PRECISE_SPIN_NS), taskwheel::MAX_PRECISE_SPIN.as_nanos());
        assert_eq!(super::TW_RUN_CANCELLED, std::ffi::c_int::MAX);
    }
}
