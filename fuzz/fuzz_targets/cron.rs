//! Arbitrary cron strings and zone names through the public API — `Cron::parse`, `in_zone`, `next_after`, and
//! cron tasks on an engine with a manual clock whose both clocks the input moves (steps of the wall clock back
//! and forth included): never a panic, never a hang; every refusal is a typed error of the kind its input calls
//! for, and every occurrence found is strictly later than where its search began.
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use taskwheel::{Clock, Cron, Engine, Error, ManualClock, Misfire};

/// Zone names worth reaching often (DST in both hemispheres, a 30-minute change, none), besides arbitrary ones.
const ZONES: [&str; 7] =
    ["UTC", "local", "Europe/Berlin", "Australia/Lord_Howe", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"];

#[derive(Arbitrary, Debug)]
enum Zone {
    Known(u8),
    Any(String),
}

/// One field of an expression built from cron's own pieces, so that most inputs parse and reach the search.
#[derive(Arbitrary, Debug)]
enum Field {
    Any,
    Question,
    Number(u8),
    Range(u8, u8),
    Step(Option<(u8, u8)>, u8),
    List(Vec<u8>),
    Last(Option<u8>),
    Weekday(u8),
    Nth(u8, u8),
    Name(u8),
    Raw(String),
}

impl Field {
    fn text(&self) -> String {
        const NAMES: [&str; 8] = ["JAN", "dec", "MON", "fri", "SUN", "L", "W", "?"];
        match self {
            Field::Any => "*".into(),
            Field::Question => "?".into(),
            Field::Number(n) => n.to_string(),
            Field::Range(a, b) => format!("{a}-{b}"),
            Field::Step(None, s) => format!("*/{s}"),
            Field::Step(Some((a, b)), s) => format!("{a}-{b}/{s}"),
            Field::List(items) => items.iter().take(6).map(u8::to_string).collect::<Vec<_>>().join(","),
            Field::Last(None) => "L".into(),
            Field::Last(Some(n)) => format!("{n}L"),
            Field::Weekday(n) => format!("{n}W"),
            Field::Nth(d, n) => format!("{d}#{n}"),
            Field::Name(i) => NAMES[usize::from(*i) % NAMES.len()].into(),
            Field::Raw(text) => text.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Expression {
    Raw(String),
    Fields(Vec<Field>),
    Alias(u8),
}

impl Expression {
    fn text(&self) -> String {
        const ALIASES: [&str; 6] = ["@yearly", "@monthly", "@weekly", "@daily", "@hourly", "@annually"];
        match self {
            Expression::Raw(text) => text.clone(),
            Expression::Fields(fields) => fields.iter().take(8).map(Field::text).collect::<Vec<_>>().join(" "),
            Expression::Alias(i) => ALIASES[usize::from(*i) % ALIASES.len()].into(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Moves the monotonic clock (and the wall clock with it) by this many seconds.
    Advance(u32),
    /// Sets the wall clock to this many seconds after 2000-01-01, leaving the monotonic clock.
    SetWall(u32),
    WaitIdle,
}

#[derive(Arbitrary, Debug)]
struct Input {
    expression: Expression,
    zone: Zone,
    /// Where `next_after` searches from: seconds after 2000-01-01.
    starts: Vec<u32>,
    misfire: u8,
    ops: Vec<Op>,
}

const Y2000: u64 = 946_684_800;

fn at(seconds: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(Y2000 + u64::from(seconds))
}

fuzz_target!(|input: Input| {
    let zone = match &input.zone {
        Zone::Known(i) => ZONES[usize::from(*i) % ZONES.len()].to_string(),
        Zone::Any(name) => name.clone(),
    };
    let text = input.expression.text();
    let cron = match Cron::parse(&text) {
        Ok(cron) => cron,
        Err(Error::InvalidCron { expression, .. }) => {
            assert_eq!(expression, text);
            return;
        }
        Err(other) => panic!("parse refused with {other:?}"),
    };
    let cron = match cron.in_zone(&zone) {
        Ok(cron) => cron,
        Err(Error::UnknownTimeZone(name)) => {
            assert_eq!(name, zone);
            return;
        }
        Err(other) => panic!("in_zone refused with {other:?}"),
    };
    for &start in input.starts.iter().take(8) {
        match cron.next_after(at(start)) {
            Ok(Some(next)) => assert!(next > at(start), "{next:?} is not after {:?}", at(start)),
            Ok(None) => {}
            Err(Error::InvalidCron { .. }) => {}
            Err(other) => panic!("next_after failed with {other:?}"),
        }
    }

    let clock = ManualClock::new();
    clock.set_system_time(at(input.starts.first().copied().unwrap_or(0)));
    let engine = Engine::builder().workers(1).seed(1).clock(Clock::Manual(clock.clone())).build().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let misfire = match input.misfire % 3 {
        0 => Misfire::RunOnce,
        1 => Misfire::Skip,
        _ => Misfire::RunEach { max: u32::from(input.misfire % 7) },
    };
    let submitted = engine
        .cron(cron, move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .misfire(misfire)
        .jitter(Duration::from_millis(u64::from(input.misfire)))
        .submit();
    let task = match submitted {
        Ok(task) => task,
        Err(Error::InvalidCron { .. } | Error::InvalidArgument(_)) => return,
        Err(other) => panic!("submit refused with {other:?}"),
    };
    for op in input.ops.into_iter().take(16) {
        match op {
            Op::Advance(seconds) => clock.advance(Duration::from_secs(u64::from(seconds % 100_000))),
            Op::SetWall(seconds) => clock.set_system_time(at(seconds)),
            Op::WaitIdle => engine.wait_idle().unwrap(),
        }
    }
    engine.wait_idle().unwrap();
    // Runs of one task never overlap and each stands for at least one occurrence: no more runs than moves.
    let stats = engine.stats();
    assert_eq!(stats.runs as usize, runs.load(Ordering::SeqCst));
    assert_eq!(task.runs(), stats.runs);
    drop(task);
    engine.shutdown(taskwheel::Shutdown::CancelPending).unwrap();
});
