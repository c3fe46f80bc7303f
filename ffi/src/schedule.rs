//! `tw_schedule`: a `tw_task_spec` translated into the engine's task builders, one-shot or periodic.

use std::ffi::c_void;
use std::time::Duration;

use taskwheel::{Cron, Misfire, Priority, Retry};

use super::current::c_job;
use super::engine::tw_engine;
use super::enums::{decode, tw_free_fn, tw_misfire, tw_recurrence, tw_task_id};
use super::ptr::{as_ref, has_library_layout, optional_str, write_optional};
use super::spec::{UserData, instant_at, tw_task_fn, tw_task_spec, tw_task_spec_init};
use super::status::tw_status::{self, *};
use super::status::{boundary, guard, status_of};

/// Applies the optional dedupe key, group and name, which the one-shot and periodic builders take the same way.
macro_rules! keyed_and_grouped {
    ($builder:expr, $common:expr) => {{
        let mut builder = $builder;
        if let Some(key) = $common.key {
            builder = builder.key(key);
        }
        if let Some(name) = $common.name {
            builder = builder.name(name);
        }
        if let Some(group) = $common.group {
            builder = builder.group(group);
        }
        builder
    }};
}

/// Schedules a task as `spec` says. On success writes its id to `*id_out` (which may be NULL). Whatever happens,
/// `spec->free_user_data` is called exactly once: after the task ends, or before this returns when it is refused.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `spec` is NULL or points to a `tw_task_spec` whose `key`, `group` and `name`
/// are NULL or NUL-terminated; `id_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_schedule(
    engine: *const tw_engine,
    spec: *const tw_task_spec,
    id_out: *mut tw_task_id,
) -> tw_status {
    guard(|| {
        if spec.is_null() {
            return Err(TW_ERR_NULL);
        }
        // SAFETY: non-NULL, and every version of the struct starts with its 4-byte size.
        if !unsafe { has_library_layout(spec) } {
            return Err(TW_ERR_ABI_MISMATCH);
        }
        // SAFETY: NULL or a valid spec of the library's layout (checked above), by this function's contract.
        let spec = unsafe { as_ref(spec) }?;
        // From here on the user data is ours: every early return below drops (frees) it.
        let data = UserData { data: spec.user_data, free: spec.free_user_data };
        // SAFETY: NULL or a live engine, by this function's contract.
        let engine = unsafe { as_ref(engine) }?;
        let job = c_job(spec.run.ok_or(TW_ERR_NULL)?, data);
        // SAFETY: the spec's strings are NULL or NUL-terminated, by this function's contract.
        let common = unsafe { Common::of(spec) }?;
        let handle = match &common.cron {
            None if spec.period_ns == 0 => one_shot(&engine.engine, spec, common, job)?,
            _ => periodic(&engine.engine, spec, common, job)?,
        };
        // SAFETY: NULL or valid for a write, by this function's contract.
        unsafe { write_optional(id_out, handle.id()) };
        Ok(TW_OK)
    })
}

/// What one-shot and periodic specs share, read and checked: the priority, the dedupe key and group, the cron
/// expression in its zone.
struct Common<'a> {
    priority: Priority,
    key: Option<&'a str>,
    group: Option<&'a str>,
    name: Option<&'a str>,
    cron: Option<Cron>,
}

impl<'a> Common<'a> {
    /// # Safety
    ///
    /// The spec's `key`, `group`, `name`, `cron` and `cron_zone` are NULL or NUL-terminated, and outlive `'a`.
    unsafe fn of(spec: &'a tw_task_spec) -> Result<Common<'a>, tw_status> {
        let priority = Priority::from_code(spec.priority).ok_or(TW_ERR_INVALID_ARGUMENT)?;
        // SAFETY: NULL or NUL-terminated strings, by this function's contract.
        let (key, group, name) =
            unsafe { (optional_str(spec.key)?, optional_str(spec.group)?, optional_str(spec.name)?) };
        // SAFETY: as above.
        let (cron, zone) = unsafe { (optional_str(spec.cron)?, optional_str(spec.cron_zone)?) };
        let cron = match cron {
            Some(expression) => {
                let cron = Cron::parse(expression).map_err(|error| status_of(&error))?;
                Some(cron.in_zone(zone.unwrap_or("UTC")).map_err(|error| status_of(&error))?)
            }
            None if zone.is_some() => return Err(TW_ERR_INVALID_ARGUMENT), // a zone without an expression
            None => None,
        };
        Ok(Common { priority, key, group, name, cron })
    }
}

/// A one-shot spec (no period, no cron), with its retries and timeout.
fn one_shot(
    engine: &taskwheel::Engine,
    spec: &tw_task_spec,
    common: Common<'_>,
    job: impl FnMut(&taskwheel::TaskContext<'_>) -> taskwheel::RunOutcome + Send + 'static,
) -> Result<taskwheel::TaskHandle, tw_status> {
    let builder = if spec.retry_max_attempts == 0 {
        engine.task(job)
    } else {
        let mut retry = Retry::new(spec.retry_max_attempts).backoff(
            Duration::from_nanos(spec.retry_base_ns),
            spec.retry_factor,
            Duration::from_nanos(spec.retry_cap_ns),
        );
        if spec.retry_jitter == 0 {
            retry = retry.no_jitter();
        }
        engine.retrying(retry, job)
    };
    let mut builder = builder.priority(common.priority);
    if spec.timeout_ns != 0 {
        builder = builder.timeout(Duration::from_nanos(spec.timeout_ns));
    }
    builder = if spec.at_ns != 0 {
        builder.at(instant_at(spec.at_ns))
    } else {
        builder.after(Duration::from_nanos(spec.delay_ns))
    };
    if spec.joinable != 0 {
        builder = builder.joinable();
    }
    Ok(keyed_and_grouped!(builder, common).submit()?)
}

/// A periodic spec: a period or a cron expression (not both), its recurrence, misfire policy, jitter, limits.
fn periodic(
    engine: &taskwheel::Engine,
    spec: &tw_task_spec,
    common: Common<'_>,
    job: impl FnMut(&taskwheel::TaskContext<'_>) -> taskwheel::RunOutcome + Send + 'static,
) -> Result<taskwheel::TaskHandle, tw_status> {
    if spec.retry_max_attempts != 0 {
        return Err(TW_ERR_INVALID_ARGUMENT); // retries are for one-shot tasks
    }
    let mut builder = match common.cron {
        Some(_) if spec.period_ns != 0 => return Err(TW_ERR_INVALID_ARGUMENT), // a period or a cron, not both
        Some(cron) => engine.cron(cron, job),
        None => engine.periodic(Duration::from_nanos(spec.period_ns), job),
    }
    .priority(common.priority);
    builder = match decode::<tw_recurrence>(spec.recurrence)? {
        tw_recurrence::TW_FIXED_RATE => builder,
        tw_recurrence::TW_FIXED_DELAY => builder.fixed_delay(),
    };
    builder = builder.misfire(match decode::<tw_misfire>(spec.misfire)? {
        tw_misfire::TW_MISFIRE_RUN_ONCE => Misfire::RunOnce,
        tw_misfire::TW_MISFIRE_SKIP => Misfire::Skip,
        tw_misfire::TW_MISFIRE_RUN_EACH => Misfire::RunEach { max: spec.misfire_max },
    });
    builder =
        builder.misfire_grace(Duration::from_nanos(spec.misfire_grace_ns)).jitter(Duration::from_nanos(spec.jitter_ns));
    builder = if spec.at_ns != 0 {
        builder.starting_at(instant_at(spec.at_ns))
    } else {
        builder.first_delay(Duration::from_nanos(spec.delay_ns))
    };
    if spec.max_runs != 0 {
        builder = builder.max_runs(spec.max_runs);
    }
    if spec.until_ns != 0 {
        builder = builder.until(instant_at(spec.until_ns));
    }
    if spec.stop_on_failure != 0 {
        builder = builder.stop_on_failure();
    }
    if spec.joinable != 0 {
        builder = builder.joinable();
    }
    if spec.timeout_ns != 0 {
        builder = builder.timeout(Duration::from_nanos(spec.timeout_ns));
    }
    Ok(keyed_and_grouped!(builder, common).submit()?)
}

/// The common case: run `run(user_data)` once, `delay_ns` from now, at normal priority. `free_user_data` (may be
/// NULL) is called exactly once, as for `tw_schedule`. `id_out` may be NULL.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `id_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tw_schedule_after(
    engine: *const tw_engine,
    delay_ns: u64,
    run: tw_task_fn,
    user_data: *mut c_void,
    free_user_data: tw_free_fn,
    id_out: *mut tw_task_id,
) -> tw_status {
    boundary(|| {
        let mut spec = std::mem::MaybeUninit::<tw_task_spec>::uninit();
        // SAFETY: `spec` is valid for a write; `tw_task_spec_init` initialises every field.
        let mut spec = unsafe {
            tw_task_spec_init(spec.as_mut_ptr());
            spec.assume_init()
        };
        spec.run = run;
        spec.user_data = user_data;
        spec.free_user_data = free_user_data;
        spec.delay_ns = delay_ns;
        // SAFETY: `spec` is a valid local; the other pointers are passed on under this function's own contract.
        unsafe { tw_schedule(engine, &spec, id_out) }
    })
}
