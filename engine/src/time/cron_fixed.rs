//! Cronie's fixed-time rule for expressions with lists, ranges or steps in their time fields.
//!
//! Around a daylight-saving change cron treats two kinds of job differently: a *fixed-time* job runs once when its
//! wall-clock time occurs twice, and right after a gap that skips it; an *interval* job keeps its real-time
//! interval. Cronie (and Vixie cron before it) calls a job fixed-time when neither its minute nor its hour field
//! starts with `*`; croner calls it fixed-time only when the seconds, minutes and hours are single numbers, so
//! `0,30 2 * * *` or `0 1-3 * * *` ran in both passes of a repeated hour where cron runs them once. Here such an
//! expression is split into one single-time pattern per time of day it names (`0 2` and `30 2`), each of which croner
//! treats as fixed-time; near a zone transition the next occurrence is the earliest of theirs. Away from a
//! transition both readings agree, so the whole expression's own search answers there, at its usual cost.

use croner::parser::CronParser;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// The most times of day an expression may name and still be split (`0,15,30,45 8-19` names 48); one naming more
/// (`*/5`-like lists written out) keeps croner's interval reading, as documented on [`Cron`](crate::Cron).
const MAX_TIMES: usize = 64;

/// The longest gap whose skipped fixed-time runs are run at its end, in seconds: cronie's bound (a longer jump is
/// a change of the clock, not of daylight saving time, and its skipped runs are not made up).
const MAX_GAP: i32 = 3 * 3600;

/// A day, in seconds: how far before a search's start a transition still matters (the start may lie in the later
/// pass of a repeated range, where a fixed-time job must not run again).
const DAY: i64 = 86_400;

/// The single-time patterns of a fixed-time expression croner would read as an interval one.
#[derive(Clone)]
pub(crate) struct FixedTimes {
    patterns: Box<[croner::Cron]>,
}

impl FixedTimes {
    /// The split of `normalized` (5 to 7 fields, after the checks of `cron::normalize`), or `None` when none is
    /// needed: croner reads it as fixed-time already (one value in each time field), or cron reads it as an
    /// interval expression (its minute or hour field, or its seconds field, starts with `*`), or it names more
    /// than [`MAX_TIMES`] times of day.
    pub(crate) fn of(normalized: &str, dom_and_dow: bool) -> Option<FixedTimes> {
        let fields: Vec<&str> = normalized.split_ascii_whitespace().collect();
        // Seconds, minutes, hours, then the date fields (day, month, weekday, and the year if given).
        let (time, date): (Vec<&str>, &[&str]) = match fields.len() {
            5 => (vec!["0", fields[0], fields[1]], &fields[2..]),
            6 | 7 => (fields[..3].to_vec(), &fields[3..]),
            _ => return None, // an alias: `@hourly` is an interval, `@daily` and the others single times
        };
        if time.iter().any(|field| field.starts_with('*')) {
            return None;
        }
        let times = times_of_day(&time)?;
        if times.len() <= 1 {
            return None; // one time of day: croner's own fixed-time reading
        }
        let parser = CronParser::builder().dom_and_dow(dom_and_dow).build();
        let patterns = times
            .iter()
            .map(|(hour, minute, second)| parser.parse(&format!("{second} {minute} {hour} {}", date.join(" "))).ok())
            .collect::<Option<Box<[croner::Cron]>>>()?;
        Some(FixedTimes { patterns })
    }

    /// The first occurrence strictly after `start` under the fixed-time rule: the earliest of the patterns' own.
    pub(crate) fn next_after(&self, start: &Zoned) -> Option<Zoned> {
        self.patterns.iter().filter_map(|pattern| pattern.find_next_occurrence(start, false).ok()).min()
    }

    /// The last occurrence at or before `start` under the fixed-time rule: the latest of the patterns' own.
    pub(crate) fn last_at_or_before(&self, start: &Zoned) -> Option<Zoned> {
        self.patterns.iter().filter_map(|pattern| pattern.find_previous_occurrence(start, true).ok()).max()
    }
}

/// Whether `zone` changes its offset within a day before `from`, or between `from` and `to`: where the fixed-time
/// and interval readings of an expression may differ.
pub(crate) fn transition_near(zone: &TimeZone, from: Timestamp, to: Timestamp) -> bool {
    let day_before = Timestamp::from_second(from.as_second().saturating_sub(DAY)).unwrap_or(from);
    zone.following(day_before).next().is_some_and(|transition| transition.timestamp() <= to)
}

/// The times of day the time fields name, as (hour, minute, second), in order; `None` beyond [`MAX_TIMES`] or for
/// fields croner refuses. Read by croner itself, from its matches over one day in UTC.
fn times_of_day(time: &[&str]) -> Option<Vec<(i8, i8, i8)>> {
    let pattern = CronParser::builder().build().parse(&format!("{} {} {} * * *", time[0], time[1], time[2])).ok()?;
    let midnight: Zoned = "2001-01-01T00:00:00[UTC]".parse().ok()?;
    let mut times = Vec::new();
    let mut cursor = pattern.find_next_occurrence(&midnight, true).ok()?;
    while cursor.date() == midnight.date() {
        times.push((cursor.hour(), cursor.minute(), cursor.second()));
        if times.len() > MAX_TIMES {
            return None;
        }
        cursor = pattern.find_next_occurrence(&cursor, false).ok()?;
    }
    Some(times)
}

/// Whether cron reads the time fields (seconds, minutes, hours of `normalized`) as fixed-time: none starts with `*`
/// (an alias: `@hourly` is not, the others are).
pub(crate) fn is_fixed_time(normalized: &str) -> bool {
    let fields: Vec<&str> = normalized.split_ascii_whitespace().collect();
    match fields.len() {
        5 => !fields[..2].iter().any(|field| field.starts_with('*')),
        6 | 7 => !fields[..3].iter().any(|field| field.starts_with('*')),
        _ => !normalized.trim().eq_ignore_ascii_case("@hourly"),
    }
}

/// The first instant after a gap, strictly after `start` and before `next`, that a fixed-time `pattern` owes a run
/// because one of its wall-clock times fell in the gap. Croner finds these itself when the gap's end lies on the
/// same day as the skipped time, but checks the date again after the gap, so a gap across midnight (America/Nuuk
/// jumps from Saturday 23:00 to Sunday 00:00) lost a Saturday 23:30 run; here the skipped wall-clock range is
/// matched as it reads, in UTC, and the run goes to the gap's end. Gaps longer than [`MAX_GAP`] are passed over.
pub(crate) fn run_after_gap(
    pattern: &croner::Cron,
    zone: &TimeZone,
    start: Timestamp,
    next: Timestamp,
) -> Option<Timestamp> {
    for transition in zone.following(start) {
        let at = transition.timestamp();
        if at >= next {
            break;
        }
        let before = zone.to_offset(at.checked_sub(jiff::SignedDuration::from_nanos(1)).ok()?);
        let after = transition.offset();
        if after <= before || at <= start {
            continue; // a repeated range, not a gap (or the start itself)
        }
        if after.seconds() - before.seconds() > MAX_GAP {
            continue; // a date skipped whole (Pacific/Apia, 2011-12-30) is passed over, as cronie does past 3 hours
        }
        // The skipped wall-clock range, [at + before, at + after), read in UTC where every time of it exists.
        let skipped_from = at.to_zoned(TimeZone::fixed(before)).datetime().to_zoned(TimeZone::UTC).ok()?;
        let skipped_to = at.to_zoned(TimeZone::fixed(after)).datetime();
        if let Ok(first) = pattern.find_next_occurrence(&skipped_from, true) {
            if first.datetime() < skipped_to {
                return Some(at);
            }
        }
    }
    None
}
