//! Cron tasks on the manual clocks: daylight saving time in three zones (one with a 30-minute change), wall-clock
//! steps both ways, the misfire policies after a long pause, jitter, and bad input.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use taskwheel::{Clock, Cron, Engine, Error, ManualClock, Misfire, TaskState};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// A one-worker engine on a manual clock whose wall clock reads `utc` (RFC 3339).
fn engine_at(utc: &str) -> (Engine, ManualClock) {
    let clock = ManualClock::new();
    clock.set_system_time(system_time(utc));
    let engine = Engine::builder().workers(1).seed(7).clock(Clock::Manual(clock.clone())).build().unwrap();
    (engine, clock)
}

fn system_time(utc: &str) -> SystemTime {
    let seconds = utc.parse::<Timestamp>().unwrap().as_second();
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap())
}

/// A cron task that records, for each run, the wall-clock time it was scheduled for, written in `zone`.
fn recording(
    engine: &Engine,
    clock: &ManualClock,
    cron: Cron,
    misfire: Misfire,
) -> (taskwheel::TaskHandle, Arc<Mutex<Vec<String>>>) {
    let zone = TimeZone::get(cron.zone()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (clock, record) = (clock.clone(), seen.clone());
    let handle = engine
        .cron(cron, move |ctx| {
            let wall = clock.system_now() - (clock.now() - ctx.scheduled_for());
            let since = wall.duration_since(UNIX_EPOCH).unwrap();
            let at = Timestamp::from_second(since.as_secs() as i64).unwrap().to_zoned(zone.clone());
            record.lock().unwrap().push(at.strftime("%m-%d %H:%M%:z").to_string());
        })
        .misfire(misfire)
        .submit()
        .unwrap();
    engine.wait_idle().unwrap(); // in the wheel, its deadline converted, before the test moves a clock
    (handle, seen)
}

/// Moves the clock `steps` times by `step`, letting the engine run what comes due after each.
fn walk(engine: &Engine, clock: &ManualClock, step: Duration, steps: usize) {
    for _ in 0..steps {
        common::advance(engine, clock, step);
    }
}

fn cron(expression: &str, zone: &str) -> Cron {
    Cron::parse(expression).unwrap().in_zone(zone).unwrap()
}

#[test]
fn berlin_a_0200_job_runs_once_at_the_autumn_change_and_0230_after_the_spring_gap() {
    // kubernetes/kubernetes#121594: a 02:00 Europe/Berlin job ran twice when the clocks went back.
    let (engine, clock) = engine_at("2026-10-24T12:00:00Z");
    let (task, seen) = recording(&engine, &clock, cron("0 2 * * *", "Europe/Berlin"), Misfire::RunOnce);
    walk(&engine, &clock, 15 * MINUTE, 4 * 24 * 3);
    assert_eq!(*seen.lock().unwrap(), ["10-25 02:00+02:00", "10-26 02:00+01:00", "10-27 02:00+01:00"]);
    task.cancel();

    // kelektiv/node-cron#563: skipped at the spring change.
    let (engine, clock) = engine_at("2026-03-28T12:00:00Z");
    let (_task, seen) = recording(&engine, &clock, cron("30 2 * * *", "Europe/Berlin"), Misfire::RunOnce);
    walk(&engine, &clock, 15 * MINUTE, 4 * 24 * 2);
    assert_eq!(*seen.lock().unwrap(), ["03-29 03:00+02:00", "03-30 02:30+02:00"]);
    assert_eq!(engine.stats().missed_runs, 0);
}

#[test]
fn new_york_an_hourly_job_keeps_its_real_time_interval_through_the_repeated_hour() {
    let (engine, clock) = engine_at("2026-11-01T04:00:00Z"); // 00:00 EDT; at 02:00 EDT the clock goes back to 01:00
    let (_task, seen) = recording(&engine, &clock, cron("0 * * * *", "America/New_York"), Misfire::RunOnce);
    walk(&engine, &clock, 15 * MINUTE, 4 * 4);
    assert_eq!(
        *seen.lock().unwrap(),
        ["11-01 01:00-04:00", "11-01 01:00-05:00", "11-01 02:00-05:00", "11-01 03:00-05:00"]
    );
}

#[test]
fn lord_howe_half_hour_changes_for_interval_and_fixed_time_jobs() {
    // 2026-04-05 02:00 +11:00 goes back to 01:30 +10:30: every 15 minutes runs through both passes.
    let (engine, clock) = engine_at("2026-04-04T14:00:00Z"); // 01:00 +11:00
    let (task, seen) = recording(&engine, &clock, cron("*/15 * * * *", "Australia/Lord_Howe"), Misfire::RunOnce);
    walk(&engine, &clock, 15 * MINUTE, 12);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "04-05 01:15+11:00",
            "04-05 01:30+11:00",
            "04-05 01:45+11:00",
            "04-05 01:30+10:30",
            "04-05 01:45+10:30",
            "04-05 02:00+10:30",
            "04-05 02:15+10:30",
            "04-05 02:30+10:30",
            "04-05 02:45+10:30",
            "04-05 03:00+10:30",
            "04-05 03:15+10:30",
            "04-05 03:30+10:30",
        ]
    );
    task.cancel();
    // 2026-10-04 02:00 +10:30 jumps to 02:30 +11:00: 02:15 runs at the first instant after the gap, once.
    let (engine, clock) = engine_at("2026-10-03T12:00:00Z");
    let (_task, seen) = recording(&engine, &clock, cron("15 2 * * *", "Australia/Lord_Howe"), Misfire::RunOnce);
    walk(&engine, &clock, 30 * MINUTE, 2 * 24 * 2);
    assert_eq!(*seen.lock().unwrap(), ["10-04 02:30+11:00", "10-05 02:15+11:00"]);
}

#[test]
fn a_wall_clock_step_forward_makes_the_skipped_occurrences_one_catch_up_run_not_a_burst() {
    let (engine, clock) = engine_at("2026-06-01T10:30:00Z");
    let (_task, seen) = recording(&engine, &clock, cron("0 * * * *", "UTC"), Misfire::RunOnce);
    clock.set_system_time(system_time("2026-06-01T15:30:00Z")); // an NTP step, a resume from suspend
    engine.wait_idle().unwrap();
    assert_eq!(*seen.lock().unwrap(), ["06-01 15:00+00:00"], "at once, for the latest");
    let stats = engine.stats();
    assert_eq!((stats.missed_runs, stats.wall_clock_jumps), (4, 1), "11:00 to 14:00 counted as missed");
    walk(&engine, &clock, MINUTE, 29);
    assert_eq!(seen.lock().unwrap().len(), 1);
    walk(&engine, &clock, MINUTE, 1); // 16:00 on the new wall clock, 31 minutes of monotonic time later
    assert_eq!(seen.lock().unwrap().last().unwrap(), "06-01 16:00+00:00");
}

#[test]
fn a_wall_clock_step_back_moves_the_next_run_later_and_nothing_runs_twice() {
    let (engine, clock) = engine_at("2026-06-01T10:30:00Z");
    let (_task, seen) = recording(&engine, &clock, cron("0 * * * *", "UTC"), Misfire::RunOnce);
    walk(&engine, &clock, MINUTE, 30); // 11:00
    assert_eq!(*seen.lock().unwrap(), ["06-01 11:00+00:00"]);
    clock.set_system_time(system_time("2026-06-01T08:00:00Z"));
    engine.wait_idle().unwrap();
    // Without the step's conversion the 12:00 run would fire an hour of monotonic time from now, at 09:00 wall.
    walk(&engine, &clock, 10 * MINUTE, 6 * 3 + 5); // to 11:50
    assert_eq!(*seen.lock().unwrap(), ["06-01 11:00+00:00"], "09:00 to 11:00 come before the last run: not again");
    walk(&engine, &clock, 10 * MINUTE, 1); // 12:00
    assert_eq!(*seen.lock().unwrap(), ["06-01 11:00+00:00", "06-01 12:00+00:00"]);
    assert_eq!(engine.stats().wall_clock_jumps, 1);
}

#[test]
fn each_misfire_policy_after_a_ten_hour_pause() {
    for (misfire, runs, missed) in
        [(Misfire::Skip, 0, 10), (Misfire::RunOnce, 1, 9), (Misfire::RunEach { max: 3 }, 3, 7)]
    {
        let (engine, clock) = engine_at("2026-06-01T10:30:00Z");
        let (task, seen) = recording(&engine, &clock, cron("0 * * * *", "UTC"), misfire);
        task.pause().unwrap();
        walk(&engine, &clock, HOUR, 10); // 20:30: 11:00 to 20:00 came and went
        task.resume().unwrap();
        engine.wait_idle().unwrap();
        assert_eq!((seen.lock().unwrap().len(), engine.stats().missed_runs), (runs, missed), "{misfire:?}");
        if let Misfire::RunEach { .. } = misfire {
            assert_eq!(*seen.lock().unwrap(), ["06-01 18:00+00:00", "06-01 19:00+00:00", "06-01 20:00+00:00"]);
        }
        walk(&engine, &clock, 30 * MINUTE, 1); // 21:00: back on the schedule under every policy
        assert_eq!(seen.lock().unwrap().last().map(String::as_str), Some("06-01 21:00+00:00"), "{misfire:?}");
    }
}

#[test]
fn jitter_spreads_each_run_within_its_bound_and_repeats_under_one_seed() {
    let spreads = |seed: u64| {
        let clock = ManualClock::new();
        let engine = Engine::builder().workers(1).seed(seed).clock(Clock::Manual(clock.clone())).build().unwrap();
        let origin = clock.now();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let clock_in_task = clock.clone();
        engine
            .periodic(10 * MINUTE, move |ctx| {
                let late = clock_in_task.now() - ctx.scheduled_for();
                record.lock().unwrap().push(((ctx.scheduled_for() - origin).as_secs(), late));
            })
            .jitter(5 * MINUTE)
            .max_runs(6)
            .submit()
            .unwrap();
        walk(&engine, &clock, 30 * Duration::from_secs(1), 2 * 10 * 7);
        let runs = seen.lock().unwrap().clone();
        runs.iter().map(|&(at, _)| at).collect::<Vec<u64>>()
    };
    let first = spreads(42);
    assert_eq!(first.len(), 6);
    for (k, &at) in first.iter().enumerate() {
        let occurrence = 600 * (k as u64 + 1);
        assert!((occurrence..=occurrence + 300).contains(&at), "run {k} at {at}: outside its spread");
    }
    assert_eq!(first, spreads(42), "the same seed, the same spread");
    assert_ne!(first, spreads(43));
    let offsets: Vec<u64> = first.iter().enumerate().map(|(k, at)| at - 600 * (k as u64 + 1)).collect();
    assert!(offsets.windows(2).any(|pair| pair[0] != pair[1]), "each run draws its own: {offsets:?}");
}

#[test]
fn a_schedule_whose_occurrences_run_out_ends_succeeded_after_the_last() {
    let (engine, clock) = engine_at("2026-12-31T23:00:00Z");
    let (task, seen) = recording(&engine, &clock, cron("0 0 0 1 1 * 2027", "UTC"), Misfire::RunOnce);
    walk(&engine, &clock, 30 * MINUTE, 4);
    assert_eq!(*seen.lock().unwrap(), ["01-01 00:00+00:00"]);
    assert_eq!(task.wait().unwrap(), TaskState::Succeeded);
}

#[test]
fn bad_cron_input_gets_typed_errors() {
    let (engine, _clock) = engine_at("2026-06-01T10:30:00Z");
    assert!(matches!(Cron::parse("*/0 * * * *"), Err(Error::InvalidCron { .. })));
    assert!(matches!(Cron::parse("0 0 * * *").unwrap().in_zone("Europe/Atlantis"), Err(Error::UnknownTimeZone(_))));
    let never = Cron::parse("0 0 30 2 *").unwrap();
    assert!(matches!(engine.cron(never, |_| ()).submit(), Err(Error::InvalidCron { .. })));
    let hourly = Cron::parse("@hourly").unwrap();
    for max in [0, taskwheel::MAX_RUN_EACH + 1] {
        let refused = engine.cron(hourly.clone(), |_| ()).misfire(Misfire::RunEach { max }).submit();
        assert!(matches!(refused, Err(Error::InvalidArgument(_))), "RunEach {{ max: {max} }}");
    }
    assert_eq!(engine.stats().rejected.invalid_argument, 3);
}

#[test]
fn a_rescheduled_cron_run_moves_alone_and_the_schedule_goes_on() {
    let (engine, clock) = engine_at("2026-06-01T10:30:00Z");
    let (task, seen) = recording(&engine, &clock, cron("0 * * * *", "UTC"), Misfire::RunOnce);
    task.reschedule_after(40 * MINUTE).unwrap(); // the 11:00 run moves to 11:10
    walk(&engine, &clock, 10 * MINUTE, 3); // 11:00
    assert!(seen.lock().unwrap().is_empty());
    walk(&engine, &clock, 10 * MINUTE, 1); // 11:10: the moved run, still standing for 11:00
    assert_eq!(*seen.lock().unwrap(), ["06-01 11:10+00:00"]);
    assert_eq!(engine.stats().missed_runs, 0, "a moved run is not a missed one");
    walk(&engine, &clock, 10 * MINUTE, 5); // 12:00, on the schedule again
    assert_eq!(seen.lock().unwrap().last().unwrap(), "06-01 12:00+00:00");
    assert_eq!(seen.lock().unwrap().len(), 2);
}
