//! Cron schedules on wall-clock time: `croner` parses the expression and searches its occurrences, `jiff` reads
//! the time zone from the system's tz database.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use croner::parser::CronParser;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::Error;
use crate::time::cron_fixed::{FixedTimes, is_fixed_time, run_after_gap, transition_near};
use crate::time::cron_never::matches_nothing;

/// A cron expression in a time zone: when a task from [`Spawner::cron`](crate::Spawner::cron) runs.
///
/// The expression has five fields (minute, hour, day of month, month, day of week), or six with a leading seconds
/// field, or seven with a trailing year; fields take numbers, names (`JAN`, `MON`), ranges, steps, lists, `L` (last
/// day of the month, or `5L` the last Friday), `W` (nearest weekday), `#` (`1#2`, the second Monday) and `?`; the
/// aliases `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly` stand for their expressions. Day of week counts
/// from 0 (Sunday) as in Vixie cron; when both day fields are restricted, either matching is enough, unless one of
/// them starts with `*` (`*/2 * MON`): then both must match (odd days that are Mondays), also as in Vixie cron.
/// Parsing and the search are [croner](https://docs.rs/croner)'s.
///
/// # Time zones
///
/// By default the expression is read in UTC. [`in_zone`](Self::in_zone) takes an IANA name (`"Europe/Berlin"`),
/// `"UTC"`, or `"local"` for the machine's zone as the C library finds it (`TZ` — a name, a file or a POSIX
/// rule — else `/etc/localtime`, else UTC). Named zones are read from the system's tz database
/// (`/usr/share/zoneinfo`, or the directory in `TZDIR`) when `in_zone` is called, so they follow the machine's
/// tzdata; nothing is compiled in, and nothing is cached beyond the `Cron` that holds the zone. On a machine
/// without a tz database, a named zone is refused with [`Error::UnknownTimeZone`] and UTC still works.
///
/// # Daylight saving time
///
/// Cron's rule (cronie's and Vixie cron's; croner's search carries it out): a *fixed-time* expression — one whose
/// minute and hour fields (and seconds field, if any) do not start with `*`, such as `30 2 * * *`, `0,30 2 * * *`
/// or `0 1-3 * * *` — runs **once** at each of its times that the clock shows twice when it goes back (at the first
/// pass), and at the **first valid instant after the gap** for the times a gap skips when the clock goes forward
/// (02:30 in a gap from 02:00 to 03:00 runs at 03:00; `0,30 2` runs once there, at 03:00), also when the gap
/// ends on the next day (America/Nuuk's spring gap runs from Saturday 23:00 to Sunday 00:00: `30 23 * * SAT` runs
/// at Sunday 00:00). Gaps longer than 3 hours are changes of the clock, not of daylight saving time: as in cronie,
/// their skipped times do not run. An *interval*
/// expression (a minute, hour or seconds field starting with `*`, such as `*/15 * * * *` or `0 * * * *`) keeps its
/// real-time interval: in a repeated hour it runs at each matching wall-clock time of both passes; the times a gap
/// skips do not run. A fixed-time expression naming more than 64 times of day (`0-59 0-23 * * *`) is read as an
/// interval one.
///
/// Each next occurrence is searched from the last *scheduled* one (never from when a run happened to end) and must
/// be strictly later: a search that cannot advance, or that fails where the same expression matches in UTC, is an
/// [`Error::InvalidCron`] (a task then ends failed with it), never a spin and never read as the schedule's end. A
/// date the zone skipped whole (Pacific/Apia's 2011-12-30) is passed over: the schedule goes on after it. An expression with no occurrence ahead is refused at submission; one whose occurrences run out
/// (a year field) ends its task as succeeded after the last.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use taskwheel::Cron;
///
/// let nightly = Cron::parse("30 2 * * *")?.in_zone("Europe/Berlin")?;
/// // 2026-03-28 12:00 UTC: the next 02:30 in Berlin falls in the spring gap (02:00 → 03:00 on the 29th).
/// let noon = UNIX_EPOCH + Duration::from_secs(1_774_699_200);
/// let next = nightly.next_after(noon)?;
/// assert_eq!(next, Some(UNIX_EPOCH + Duration::from_secs(1_774_746_000))); // 03:00 CEST = 01:00 UTC
/// assert!(Cron::parse("61 * * * *").is_err());
/// # Ok::<(), taskwheel::Error>(())
/// ```
#[derive(Clone)]
pub struct Cron {
    expression: Box<str>,
    zone_name: Box<str>,
    pattern: croner::Cron,
    /// A fixed-time expression croner would read as an interval one (lists, ranges or steps in its time fields),
    /// split into one pattern per time of day: see `cron_fixed`.
    fixed: Option<FixedTimes>,
    /// Cron reads it as fixed-time (see the type's note on daylight saving time).
    fixed_time: bool,
    /// It matches no time at all (`0 0 30 2 *`): found once, at parse (see `cron_never`), so that no search (in
    /// any zone) spends croner's whole search limit to learn it.
    never: bool,
    zone: TimeZone,
}

impl Cron {
    /// Parses a cron expression, read in UTC.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCron`] with the parser's reason.
    pub fn parse(expression: &str) -> Result<Cron, Error> {
        let refused = |reason: String| Error::InvalidCron { expression: expression.to_string(), reason };
        let normalized = normalize(expression).map_err(refused)?;
        let dom_and_dow = day_fields_combine(&normalized);
        let parser = CronParser::builder().dom_and_dow(dom_and_dow).build();
        let pattern = parser.parse(&normalized).map_err(|error| bad(expression, error))?;
        let fixed = FixedTimes::of(&normalized, dom_and_dow);
        let fixed_time = is_fixed_time(&normalized);
        let never = matches_nothing(&pattern, &normalized);
        Ok(Cron {
            expression: expression.into(),
            zone_name: "UTC".into(),
            pattern,
            fixed,
            fixed_time,
            never,
            zone: TimeZone::UTC,
        })
    }

    /// The same expression read in another time zone: an IANA name, `"UTC"`, or `"local"`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTimeZone`] when the system's tz database has no such zone (or there is none).
    pub fn in_zone(mut self, zone: &str) -> Result<Cron, Error> {
        self.zone = load_zone(zone).ok_or_else(|| Error::UnknownTimeZone(zone.to_string()))?;
        self.zone_name = zone.into();
        Ok(self)
    }

    /// The expression as given.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The zone as given (`"UTC"` unless [`in_zone`](Self::in_zone) said otherwise).
    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    /// The first occurrence strictly after `after`; `None` when there is none within the engine's wall-clock range,
    /// nanoseconds since 1970 in a `u64`, which ends on 2554-07-21 (`0 0 30 2 *` never matches, `0 0 0 1 1 * 2027`
    /// matches once, `0 0 0 1 1 * 2300` matches in 2300, `0 0 0 1 1 * 2600` lies beyond the range).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCron`] when `after` lies before 1970 or the search does not advance (never a spin).
    pub fn next_after(&self, after: SystemTime) -> Result<Option<SystemTime>, Error> {
        let after = after.duration_since(UNIX_EPOCH).ok().and_then(|since| u64::try_from(since.as_nanos()).ok());
        let after = after.ok_or_else(|| self.error("the time lies outside 1970 to 2554"))?;
        Ok(self.next_after_ns(after)?.map(|next| UNIX_EPOCH + Duration::from_nanos(next)))
    }

    /// The first occurrence strictly after `after`, both in nanoseconds since the Unix epoch; `None` when there is
    /// none in range.
    pub(crate) fn next_after_ns(&self, after: u64) -> Result<Option<u64>, Error> {
        if self.never {
            return Ok(None);
        }
        let start = Timestamp::from_nanosecond(i128::from(after))
            .map_err(|_| self.error("the time lies outside the calendar's range"))?
            .to_zoned(self.zone.clone());
        let next = match self.pattern.find_next_occurrence(&start, false) {
            Ok(next) => next,
            Err(croner::errors::CronError::TimeSearchLimitExceeded) => match self.search_again(&start)? {
                Some(next) => next,
                None => return Ok(None),
            },
            Err(error) => return Err(bad(&self.expression, error)),
        };
        // Near a transition, a fixed-time expression with several times of day follows the fixed-time rule.
        let next = match &self.fixed {
            Some(fixed) if transition_near(&self.zone, start.timestamp(), next.timestamp()) => {
                fixed.next_after(&start).unwrap_or(next)
            }
            _ => next,
        };
        // A fixed-time run a gap across midnight skipped, which croner's search passes over (see `run_after_gap`).
        let next = match self.fixed_time {
            true => match run_after_gap(&self.pattern, &self.zone, start.timestamp(), next.timestamp()) {
                Some(after_gap) => after_gap.to_zoned(self.zone.clone()),
                None => next,
            },
            false => next,
        };
        let Ok(next) = u64::try_from(next.timestamp().as_nanosecond()) else { return Ok(None) };
        if next <= after {
            return Err(self.error("the search did not advance past the last occurrence"));
        }
        Ok(Some(next))
    }

    /// After croner gave up searching from `start`: croner also gives up when the next matching date was skipped
    /// whole by a zone's transition (Pacific/Apia skipped 2011-12-30), so the search starts again at a transition
    /// within two days. If that finds nothing either, the expression matches no time at all when the same search
    /// in UTC finds none (`None`: the schedule has ended); otherwise the search failed, which is an error, never
    /// read as an end.
    fn search_again(&self, start: &jiff::Zoned) -> Result<Option<jiff::Zoned>, Error> {
        use croner::errors::CronError::TimeSearchLimitExceeded;
        let at = start.timestamp();
        let near = self
            .zone
            .following(at)
            .next()
            .map(|transition| transition.timestamp())
            .filter(|transition| transition.as_second().saturating_sub(at.as_second()) <= 2 * 86_400);
        if let Some(transition) = near {
            // From the transition itself, that instant included: its wall-clock time is the first after the gap.
            match self.pattern.find_next_occurrence(&transition.to_zoned(self.zone.clone()), true) {
                Ok(next) => return Ok(Some(next)),
                Err(TimeSearchLimitExceeded) => {}
                Err(error) => return Err(bad(&self.expression, error)),
            }
        }
        if self.zone_name.as_ref() == "UTC" {
            return Ok(None); // the search that failed was this one already
        }
        match self.pattern.find_next_occurrence(&at.to_zoned(TimeZone::UTC), false) {
            Err(TimeSearchLimitExceeded) => Ok(None),
            Err(error) => Err(bad(&self.expression, error)),
            Ok(_) => {
                Err(self
                    .error(&format!("the search for the next occurrence in {} failed after {start}", self.zone_name)))
            }
        }
    }

    /// The last occurrence at or before `at` (nanoseconds since the Unix epoch), if there is one after `floor`.
    pub(crate) fn last_at_or_before_ns(&self, at: u64, floor: u64) -> Option<u64> {
        let start = Timestamp::from_nanosecond(i128::from(at)).ok()?.to_zoned(self.zone.clone());
        let last = self.pattern.find_previous_occurrence(&start, true).ok()?;
        let last = match &self.fixed {
            Some(fixed) if transition_near(&self.zone, last.timestamp(), start.timestamp()) => {
                fixed.last_at_or_before(&start).unwrap_or(last)
            }
            _ => last,
        };
        let last = u64::try_from(last.timestamp().as_nanosecond()).ok()?;
        (last > floor && last <= at).then_some(last)
    }

    fn error(&self, reason: &str) -> Error {
        Error::InvalidCron { expression: self.expression.to_string(), reason: reason.to_string() }
    }
}

impl FromStr for Cron {
    type Err = Error;

    fn from_str(expression: &str) -> Result<Cron, Error> {
        Cron::parse(expression)
    }
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cron").field("expression", &self.expression).field("zone", &self.zone_name).finish()
    }
}

impl PartialEq for Cron {
    fn eq(&self, other: &Cron) -> bool {
        (&self.expression, &self.zone_name) == (&other.expression, &other.zone_name)
    }
}

/// A zone by name. Each `Cron` reads its zone's TZif file itself and owns what jiff parses from it: jiff's own
/// `TimeZone::get` and `try_system` keep process-wide caches that live until exit, which valgrind reports as
/// possibly lost in every C program that uses a zone.
fn load_zone(name: &str) -> Option<TimeZone> {
    match name {
        "UTC" => Some(TimeZone::UTC),
        "local" => local_zone(),
        _ => named_zone(name),
    }
}

/// The tz database's directories: `$TZDIR`, else where Linux distributions and the BSDs keep it.
fn tz_dirs() -> Vec<PathBuf> {
    match std::env::var_os("TZDIR") {
        Some(dir) if !dir.is_empty() => vec![PathBuf::from(dir)],
        _ => ["/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo"].map(PathBuf::from).to_vec(),
    }
}

/// An IANA zone (`Europe/Berlin`) from the tz database. Names are checked before any file is opened: relative,
/// without `.` or `..` components, of the characters IANA names use.
fn named_zone(name: &str) -> Option<TimeZone> {
    let plausible = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-.".contains(c))
        && name.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    if !plausible {
        return None;
    }
    tz_dirs().into_iter().find_map(|dir| zone_file(name, &dir.join(name)))
}

fn zone_file(name: &str, path: &Path) -> Option<TimeZone> {
    let data = std::fs::read(path).ok()?;
    TimeZone::tzif(name, &data).ok()
}

/// The machine's zone as the C library finds it: `TZ` (a zone name, a TZif path, or a POSIX rule such as
/// `CET-1CEST,M3.5.0,M10.5.0/3`; empty means UTC), else `/etc/localtime`, else UTC.
fn local_zone() -> Option<TimeZone> {
    match std::env::var("TZ") {
        Ok(tz) => {
            let tz = tz.strip_prefix(':').unwrap_or(&tz);
            if tz.is_empty() {
                Some(TimeZone::UTC)
            } else if tz.starts_with('/') {
                zone_file("local", Path::new(tz))
            } else {
                named_zone(tz).or_else(|| TimeZone::posix(tz).ok())
            }
        }
        Err(_) => match std::fs::read("/etc/localtime") {
            Ok(data) => TimeZone::tzif("local", &data).ok(),
            Err(_) => Some(TimeZone::UTC),
        },
    }
}

/// The expression as croner is given it, after the checks croner does not make: a list with an empty element
/// (`", * * * *"`, `"0 0 1,,2 * *"`) is refused, where croner read it as a field that never matches and searched
/// for seconds before answering that nothing does; a day-of-week range from Sunday to `SUN` (`SUN-SUN`, `0-SUN`)
/// means Sunday, where croner reads its end as 7 and the range as the whole week.
fn normalize(expression: &str) -> Result<String, String> {
    let fields: Vec<&str> = expression.split_ascii_whitespace().collect();
    if fields.first().is_some_and(|first| first.starts_with('@')) || !(5..=7).contains(&fields.len()) {
        return Ok(expression.to_string()); // an alias, or a field count croner refuses with its own reason
    }
    let weekday = if fields.len() == 5 { 4 } else { 5 };
    let mut out = Vec::with_capacity(fields.len());
    for (index, field) in fields.iter().enumerate() {
        let mut elements = Vec::new();
        for element in field.split(',') {
            if element.is_empty() {
                return Err(format!("field {} ({field:?}) has an empty element in its list", index + 1));
            }
            elements.push(if index == weekday { sunday_range(element) } else { element });
        }
        out.push(elements.join(","));
    }
    Ok(out.join(" "))
}

/// Whether both day fields must match (Vixie cron's rule: when either day field starts with `*`, as `*/2` does,
/// it restricts together with the other), rather than either (both restricted, neither starting with `*`).
fn day_fields_combine(normalized: &str) -> bool {
    let fields: Vec<&str> = normalized.split_ascii_whitespace().collect();
    let (day, weekday) = match fields.len() {
        5 => (2, 4),
        6 | 7 => (3, 5),
        _ => return false, // an alias: its day fields are plain `*`
    };
    fields[day].starts_with('*') || fields[weekday].starts_with('*')
}

/// A day-of-week element that runs from Sunday to `SUN` (with any step) is Sunday alone.
fn sunday_range(element: &str) -> &str {
    let range = element.split('/').next().unwrap_or(element);
    match range.split_once('-') {
        Some((from, to))
            if to.eq_ignore_ascii_case("SUN") && (from.eq_ignore_ascii_case("SUN") || from == "0" || from == "7") =>
        {
            "0"
        }
        _ => element,
    }
}

fn bad(expression: &str, error: croner::errors::CronError) -> Error {
    let reason = match error {
        croner::errors::CronError::TimeSearchLimitExceeded => "it matches no time before the year 5000".to_string(),
        other => other.to_string(),
    };
    Error::InvalidCron { expression: expression.to_string(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> u64 {
        u64::try_from(text.parse::<Timestamp>().unwrap().as_nanosecond()).unwrap()
    }

    fn run(expression: &str, zone: &str, from: &str, count: usize) -> Vec<String> {
        let cron = Cron::parse(expression).unwrap().in_zone(zone).unwrap();
        let tz = TimeZone::get(zone).unwrap();
        let mut t = at(from);
        (0..count)
            .map(|_| {
                t = cron.next_after_ns(t).unwrap().unwrap();
                let zoned = Timestamp::from_nanosecond(i128::from(t)).unwrap().to_zoned(tz.clone());
                zoned.strftime("%m-%d %H:%M%:z").to_string()
            })
            .collect()
    }

    #[test]
    fn berlin_a_fixed_time_job_runs_once_in_the_autumn_overlap_and_after_the_spring_gap() {
        // kubernetes/kubernetes#121594: a 02:00 Europe/Berlin job ran twice at the autumn change.
        assert_eq!(
            run("0 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 3),
            ["10-25 02:00+02:00", "10-26 02:00+01:00", "10-27 02:00+01:00"]
        );
        assert_eq!(
            run("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 3),
            ["03-29 03:00+02:00", "03-30 02:30+02:00", "03-31 02:30+02:00"]
        );
    }

    /// Issue 23, item 11: an expression that matches no time is known at parse (the dates of a 28-year cycle, or
    /// the search from 1970 when a year is given), so every search answers `None` at once, in any zone; rare dates
    /// still match.
    #[test]
    fn an_expression_that_matches_nothing_is_known_at_parse_and_rare_dates_still_match() {
        for expression in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 0 31 2 * 2030"] {
            let cron = Cron::parse(expression).unwrap();
            assert!(cron.never, "{expression}");
            for zone in ["UTC", "Europe/Berlin"] {
                let cron = cron.clone().in_zone(zone).unwrap();
                assert_eq!(cron.next_after_ns(at("2026-01-01T00:00:00Z")).ok(), Some(None), "{expression} in {zone}");
            }
        }
        // `30 2 MON`: Vixie's "either day field" makes it every Monday in February, so it does match.
        assert!(!Cron::parse("0 0 30 2 MON").unwrap().never);
        assert_eq!(run("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 1), ["02-29 00:00+00:00"]);
        assert_eq!(run("0 0 L 2 *", "UTC", "2027-01-01T00:00:00Z", 2), ["02-28 00:00+00:00", "02-29 00:00+00:00"]);
        assert!(!Cron::parse("0 0 29 2 *").unwrap().never && !Cron::parse("0 0 0 29 2 * 2400").unwrap().never);
    }

    /// Issue 23, item 10: a gap across midnight (America/Nuuk: Saturday 23:00 -02 to Sunday 00:00 -01 on
    /// 2026-03-28) loses no run: the Saturday 23:30 job runs at the first instant after the gap, on Sunday, as the
    /// documented rule says (cronsim and croniter agree); an interval job skips the gap's times.
    #[test]
    fn a_gap_across_midnight_runs_the_skipped_fixed_time_at_its_end() {
        assert_eq!(
            run("30 23 * * SAT", "America/Nuuk", "2026-03-28T12:00:00Z", 2),
            ["03-29 00:00-01:00", "04-04 23:30-01:00"]
        );
        assert_eq!(
            run("30 23 * * *", "America/Nuuk", "2026-03-27T12:00:00Z", 3),
            ["03-27 23:30-02:00", "03-29 00:00-01:00", "03-29 23:30-01:00"]
        );
        assert_eq!(
            run("*/30 23 * * SAT", "America/Nuuk", "2026-03-28T12:00:00Z", 1),
            ["04-04 23:00-01:00"],
            "an interval job: the gap's times do not run"
        );
    }

    /// Issue 23, item 14: lists and ranges in the hour or minute field get cron's fixed-time treatment (cronie: any
    /// expression whose minute and hour fields do not start with `*`): once in a repeated hour, once right after a
    /// gap; in both zones the reference runs in.
    #[test]
    fn lists_and_ranges_of_times_are_fixed_time_as_in_cronie_in_berlin_and_new_york() {
        assert_eq!(
            run("0,30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 4),
            ["10-25 02:00+02:00", "10-25 02:30+02:00", "10-26 02:00+01:00", "10-26 02:30+01:00"],
            "twice on the day of the change, as cronie, not four times"
        );
        assert_eq!(
            run("0 1-3 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 4),
            ["10-25 01:00+02:00", "10-25 02:00+02:00", "10-25 03:00+01:00", "10-26 01:00+01:00"]
        );
        assert_eq!(
            run("0,30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 3),
            ["03-29 03:00+02:00", "03-30 02:00+02:00", "03-30 02:30+02:00"],
            "the gap's times run once, at its end"
        );
        assert_eq!(
            run("0 1-3 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 4),
            ["03-29 01:00+01:00", "03-29 03:00+02:00", "03-30 01:00+02:00", "03-30 02:00+02:00"]
        );
        assert_eq!(
            run("0,30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 3),
            ["11-01 01:00-04:00", "11-01 01:30-04:00", "11-02 01:00-05:00"]
        );
        assert_eq!(
            run("15,45 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 3),
            ["03-08 03:00-04:00", "03-09 02:15-04:00", "03-09 02:45-04:00"]
        );
        // Starting inside the repeated hour's second pass: what ran in the first pass does not run again.
        assert_eq!(run("0,30 2 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 1), ["10-26 02:00+01:00"]);
        // A minute or hour field starting with `*` stays an interval expression, as in cronie.
        assert_eq!(
            run("0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z", 3),
            ["10-25 02:00+02:00", "10-25 02:00+01:00", "10-25 03:00+01:00"]
        );
        // The last occurrence at or before an instant (the misfire policy's look back) follows the same rule.
        let cron = Cron::parse("0,30 2 * * *").unwrap().in_zone("Europe/Berlin").unwrap();
        let second_pass_end = at("2026-10-25T01:45:00Z"); // 02:45+01:00
        let last = cron.last_at_or_before_ns(second_pass_end, 0).unwrap();
        assert_eq!(last, at("2026-10-25T00:30:00Z"), "02:30+02:00, not the second pass's 02:30+01:00");
    }

    #[test]
    fn berlin_an_interval_job_keeps_its_real_time_interval_across_both_changes() {
        assert_eq!(
            run("*/30 * * * *", "Europe/Berlin", "2026-10-25T00:00:00Z", 5),
            ["10-25 02:30+02:00", "10-25 02:00+01:00", "10-25 02:30+01:00", "10-25 03:00+01:00", "10-25 03:30+01:00"]
        );
        assert_eq!(
            run("*/30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z", 3),
            ["03-29 01:30+01:00", "03-29 03:00+02:00", "03-29 03:30+02:00"]
        );
    }

    #[test]
    fn new_york_fixed_and_interval_jobs_across_both_changes() {
        // Spring: 2026-03-08 02:00 EST → 03:00 EDT. Autumn: 2026-11-01 02:00 EDT → 01:00 EST.
        assert_eq!(
            run("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
            ["03-08 03:00-04:00", "03-09 02:30-04:00"]
        );
        assert_eq!(
            run("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
            ["11-01 01:30-04:00", "11-02 01:30-05:00"]
        );
        assert_eq!(
            run("0 * * * *", "America/New_York", "2026-11-01T04:30:00Z", 3),
            ["11-01 01:00-04:00", "11-01 01:00-05:00", "11-01 02:00-05:00"]
        );
    }

    #[test]
    fn lord_howe_half_hour_changes() {
        // Autumn: 2026-04-05 02:00 +11:00 → 01:30 +10:30. Spring: 2026-10-04 02:00 +10:30 → 02:30 +11:00.
        assert_eq!(
            run("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z", 2),
            ["04-05 01:45+11:00", "04-06 01:45+10:30"]
        );
        assert_eq!(
            run("*/15 * * * *", "Australia/Lord_Howe", "2026-04-04T14:00:00Z", 6),
            [
                "04-05 01:15+11:00",
                "04-05 01:30+11:00",
                "04-05 01:45+11:00",
                "04-05 01:30+10:30",
                "04-05 01:45+10:30",
                "04-05 02:00+10:30"
            ]
        );
        assert_eq!(
            run("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", 2),
            ["10-04 02:30+11:00", "10-05 02:15+11:00"]
        );
    }

    #[test]
    fn seconds_last_day_nth_weekday_and_nearest_weekday() {
        assert_eq!(
            run("*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z", 3),
            ["01-01 00:00+00:00", "01-01 00:00+00:00", "01-01 00:01+00:00"]
        );
        assert_eq!(run("0 0 L 2 *", "UTC", "2027-06-01T00:00:00Z", 1), ["02-29 00:00+00:00"]); // 2028 is a leap year
        assert_eq!(run("0 9 * * 1#2", "UTC", "2026-12-01T00:00:00Z", 1), ["12-14 09:00+00:00"]);
        assert_eq!(run("0 9 15W * *", "UTC", "2026-08-01T00:00:00Z", 1), ["08-14 09:00+00:00"]); // the 15th is a Saturday
    }

    #[test]
    fn bad_expressions_and_zones_are_typed_errors() {
        for bad in ["", "61 * * * *", "* * * * * * * *", "a b c d e", "0 0 32 * *"] {
            assert!(matches!(Cron::parse(bad), Err(Error::InvalidCron { .. })), "{bad:?}");
        }
        assert!(matches!(Cron::parse("* * * * *").unwrap().in_zone("Mars/Olympus"), Err(Error::UnknownTimeZone(_))));
        let never = Cron::parse("0 0 30 2 *").unwrap();
        assert_eq!(never.next_after_ns(at("2026-01-01T00:00:00Z")).ok(), Some(None));
        let once = Cron::parse("0 0 0 1 1 * 2027").unwrap();
        assert_eq!(once.next_after_ns(at("2026-06-01T00:00:00Z")).ok(), Some(Some(at("2027-01-01T00:00:00Z"))));
        assert_eq!(once.next_after_ns(at("2027-01-01T00:00:00Z")).ok(), Some(None));
    }

    #[test]
    fn a_list_with_an_empty_element_is_refused_at_parse() {
        for bad in [", * * * *", "0 0 1,,2 * *", "0 0 1, * *", "0 0 * * MON,", "0 ,0 0 * * *", "0 0 0 * * * 2027,"] {
            match Cron::parse(bad) {
                Err(Error::InvalidCron { reason, .. }) => {
                    assert!(reason.contains("empty element"), "{bad:?}: {reason}")
                }
                other => panic!("{bad:?} parsed: {other:?}"),
            }
        }
        assert!(Cron::parse("0 0 1,2 * *").is_ok());
        assert!(Cron::parse("@daily").is_ok());
    }

    #[test]
    fn a_weekday_range_from_sunday_to_sun_is_sunday_alone() {
        // 2026-06-01 is a Monday: each of these runs next on Sunday the 7th, where the whole week would run on the 2nd.
        for sunday in ["0 0 * * SUN-SUN", "0 0 * * 0-SUN", "0 0 * * 7-SUN", "0 0 * * sun-sun", "0 0 0 * * SUN-SUN/2"] {
            assert_eq!(
                run(sunday, "UTC", "2026-06-01T12:00:00Z", 2),
                ["06-07 00:00+00:00", "06-14 00:00+00:00"],
                "{sunday}"
            );
        }
        // The whole week stays the whole week, and Sunday as a range's start is unchanged.
        assert_eq!(run("0 0 * * MON-SUN", "UTC", "2026-06-01T12:00:00Z", 1), ["06-02 00:00+00:00"]);
        assert_eq!(run("0 0 * * SUN-MON", "UTC", "2026-06-02T12:00:00Z", 1), ["06-07 00:00+00:00"]);
    }

    #[test]
    fn a_day_field_starting_with_a_star_restricts_together_with_the_other_as_in_vixie_cron() {
        // 2026-06-01 is a Monday. `*/2` in the day of month and MON: Mondays that fall on odd days.
        let odd_mondays = run("0 0 */2 * MON", "UTC", "2026-06-01T12:00:00Z", 3);
        assert_eq!(odd_mondays, ["06-15 00:00+00:00", "06-29 00:00+00:00", "07-13 00:00+00:00"]);
        // Both restricted, neither starting with `*`: either is enough (the 1st and 15th, and every Monday).
        assert_eq!(
            run("0 0 1,15 * MON", "UTC", "2026-06-01T12:00:00Z", 3),
            ["06-08 00:00+00:00", "06-15 00:00+00:00", "06-22 00:00+00:00"]
        );
        // A plain `*` in either field leaves the other field alone.
        assert_eq!(run("0 0 * * MON", "UTC", "2026-06-01T12:00:00Z", 1), ["06-08 00:00+00:00"]);
        assert_eq!(run("0 0 10 * *", "UTC", "2026-06-01T12:00:00Z", 1), ["06-10 00:00+00:00"]);
        assert_eq!(run("0 0 */10 * *", "UTC", "2026-06-01T12:00:00Z", 2), ["06-11 00:00+00:00", "06-21 00:00+00:00"]);
    }

    #[test]
    fn a_date_a_zone_skipped_whole_does_not_end_the_schedule() {
        // Samoa skipped 2011-12-30 (UTC-10 to UTC+14): noon runs on the 29th, then on the 31st, not never.
        let noon = run("0 0 12 * * *", "Pacific/Apia", "2011-12-28T23:00:00Z", 3);
        assert_eq!(noon, ["12-29 12:00-10:00", "12-31 12:00+14:00", "01-01 12:00+14:00"]);
        // An expression that never matches still ends at once, in a zone with transitions too.
        let never = Cron::parse("0 0 30 2 *").unwrap().in_zone("Pacific/Apia").unwrap();
        assert_eq!(never.next_after_ns(at("2011-12-29T00:00:00Z")).ok(), Some(None));
    }

    #[test]
    fn occurrences_run_to_the_end_of_the_wall_clock_range_in_2554_and_no_further() {
        let y2300 = Cron::parse("0 0 0 1 1 * 2300").unwrap();
        assert_eq!(
            y2300.next_after_ns(at("2026-06-01T00:00:00Z")).ok(),
            Some(Some(10_413_792_000 * 1_000_000_000)),
            "2300-01-01T00:00:00Z"
        );
        let y2600 = Cron::parse("0 0 0 1 1 * 2600").unwrap();
        assert_eq!(y2600.next_after_ns(at("2026-06-01T00:00:00Z")).ok(), Some(None));
    }

    #[test]
    fn zone_names_that_are_not_plain_iana_names_are_refused_before_any_file_is_read() {
        for name in ["", "/etc/localtime", "../../etc/passwd", "Europe/../UTC", "Europe//Berlin", "Europe/Berlin\0"] {
            assert!(named_zone(name).is_none(), "{name:?}");
        }
        assert!(named_zone("Europe/Berlin").is_some());
        assert!(load_zone("UTC").is_some());
    }

    #[test]
    fn the_last_occurrence_at_or_before_an_instant() {
        let hourly = Cron::parse("0 * * * *").unwrap();
        let t = at("2026-01-01T05:30:00Z");
        assert_eq!(hourly.last_at_or_before_ns(t, 0), Some(at("2026-01-01T05:00:00Z")));
        assert_eq!(hourly.last_at_or_before_ns(at("2026-01-01T05:00:00Z"), 0), Some(at("2026-01-01T05:00:00Z")));
        assert_eq!(hourly.last_at_or_before_ns(t, at("2026-01-01T05:00:00Z")), None);
    }
}
