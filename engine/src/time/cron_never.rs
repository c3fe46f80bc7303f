//! Telling at parse that a cron expression matches no time at all (`0 0 30 2 *`, `0 0 31 4 *`): croner learns it
//! only by searching to its limit (about 5.5 ms here), and a search in a zone then has to tell "never" from "the
//! zone's search failed". Without a year field, the days the date fields can match repeat every 28 years (the
//! Gregorian calendar's weekday-and-leap cycle between 1901 and 2099), so checking 2000–2027 day by day (10,227
//! days, stopping at the first match) answers exactly; with a year field, the search from 1970 decides.

use croner::errors::CronError;
use croner::time::Weekday;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Whether `pattern` (parsed from `normalized`) matches no time at all.
pub(crate) fn matches_nothing(pattern: &croner::Cron, normalized: &str) -> bool {
    let fields: Vec<&str> = normalized.split_ascii_whitespace().collect();
    let year_given = fields.len() == 7 && fields[6] != "*";
    if year_given || fields.first().is_some_and(|first| first.starts_with('@')) {
        return matches!(
            pattern.find_next_occurrence(&Timestamp::UNIX_EPOCH.to_zoned(TimeZone::UTC), true),
            Err(CronError::TimeSearchLimitExceeded)
        );
    }
    let mut day: Date = date(2000, 1, 1);
    let end = date(2028, 1, 1);
    while day < end {
        let weekday = match day.weekday().to_sunday_zero_offset() {
            0 => Weekday::Sunday,
            1 => Weekday::Monday,
            2 => Weekday::Tuesday,
            3 => Weekday::Wednesday,
            4 => Weekday::Thursday,
            5 => Weekday::Friday,
            _ => Weekday::Saturday,
        };
        let (year, month, dom) = (i32::from(day.year()), day.month() as u32, day.day() as u32);
        if pattern.pattern.month_match(month).unwrap_or(false)
            && pattern.pattern.day_match(year, month, dom, weekday).unwrap_or(false)
        {
            return false;
        }
        day = match day.checked_add(1.day()) {
            Ok(next) => next,
            Err(_) => return false,
        };
    }
    true
}
