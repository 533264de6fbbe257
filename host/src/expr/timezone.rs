//! Time zones by name, from a real time zone database: ADF names zones the Windows way
//! ("Pacific Standard Time") in expressions (`convertTimeZone`, `convertFromUtc`, ...) and in
//! trigger recurrences, and also accepts IANA names ("Europe/Berlin"). Daylight saving, present
//! and historic, is IANA's tzdata as chrono-tz ships it, never a hand-kept table; Windows names
//! are mapped onto it by CLDR's `windowsZones` table as the `windows-timezones` crate ships it
//! (the world-wide default, territory `001`, of each Windows name).
//!
//! It lives in `expr`, the lowest layer that needs it, so the trigger model (a higher layer)
//! uses the same zones as the expression functions.

use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{Tz, TZ_VARIANTS};
use windows_timezones::WindowsTimezone;

/// A time zone name that is none of the forms accepted. The message lists the forms, so a
/// caller can put it after the file/object and property it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name:?} is not a known time zone; expected a Windows name such as \
     \"Pacific Standard Time\" or \"W. Europe Standard Time\", or an IANA name such as \
     \"America/Los_Angeles\" or \"UTC\""
)]
pub struct UnknownZone {
    pub name: String,
}

/// A zone as expressions accept it: a named zone of the database, or a fixed offset (`+05:30`,
/// `UTC-0330`), which has no daylight saving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

/// Which of the two instants a wall-clock time that repeats (clocks fall back, 01:30 twice)
/// stands for. The callers differ on purpose: a trigger fires at the first, while .NET's
/// `TimeZoneInfo.ConvertTimeToUtc`, which ADF's expression functions follow, reads a repeated
/// time as standard time, the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeated {
    First,
    Second,
}

/// The named zone `name`: a Windows name (case, spaces and punctuation other than signs
/// ignored, as Windows looks them up), an IANA name (case ignored), or `Coordinated Universal
/// Time` (the display name of Windows' `UTC`).
pub fn resolve_zone(name: &str) -> Result<Tz, UnknownZone> {
    let t = name.trim();
    if let Some(windows) = windows_zone(t) {
        return Ok(windows.into());
    }
    if let Ok(tz) = t.parse::<Tz>() {
        return Ok(tz);
    }
    if let Some(tz) = TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(t))
    {
        return Ok(*tz);
    }
    if squash(t) == "coordinateduniversaltime" {
        return Ok(Tz::UTC);
    }
    Err(UnknownZone {
        name: name.to_string(),
    })
}

/// A zone as expressions name it: any name [`resolve_zone`] knows, or a fixed offset such as
/// `+05:30`, `-0800`, `UTC-08` or `GMT+1` (hours up to 14).
pub fn resolve_zone_or_offset(name: &str) -> Result<Zone, UnknownZone> {
    resolve_zone(name)
        .map(Zone::Named)
        .or_else(|unknown| fixed_offset(name.trim()).map(Zone::Fixed).ok_or(unknown))
}

impl Zone {
    /// The wall-clock time in this zone at a UTC time.
    pub fn utc_to_local(self, utc: NaiveDateTime) -> NaiveDateTime {
        match self {
            Zone::Named(tz) => tz.from_utc_datetime(&utc).naive_local(),
            Zone::Fixed(offset) => offset.from_utc_datetime(&utc).naive_local(),
        }
    }

    /// The UTC time of a wall-clock time in this zone (see [`local_to_utc`]).
    pub fn local_to_utc(self, local: NaiveDateTime, repeated: Repeated) -> NaiveDateTime {
        match self {
            Zone::Named(tz) => local_to_utc(&tz, local, repeated).naive_utc(),
            Zone::Fixed(offset) => local_to_utc(&offset, local, repeated).naive_utc(),
        }
    }
}

/// The instant a wall-clock time in `zone` stands for, total over daylight saving changes:
/// - a time that repeats (fall back) is the occurrence `repeated` picks;
/// - a time that does not exist (spring forward, 02:30 on the day clocks jump from 02:00 to
///   03:00) is moved forward by the jump (03:30), so a trigger's run is late, never lost, and
///   an expression gets the instant the clock shows next (cron and Windows' task scheduler
///   behave so; .NET would refuse the time, which no pipeline wants).
pub fn local_to_utc<Z: TimeZone>(
    zone: &Z,
    naive: NaiveDateTime,
    repeated: Repeated,
) -> DateTime<Utc> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(first, second) => match repeated {
            Repeated::First => first.with_timezone(&Utc),
            Repeated::Second => second.with_timezone(&Utc),
        },
        LocalResult::None => {
            // In a gap: read the time with the offset in force before the jump, which places
            // it the jump's length later on the wall clock. A day back is before any gap
            // (gaps are hours long) and after any earlier one.
            let before = naive - TimeDelta::days(1);
            let offset = zone.offset_from_utc_datetime(&before).fix();
            (naive - TimeDelta::seconds(i64::from(offset.local_minus_utc()))).and_utc()
        }
    }
}

/// The Windows zone named `name`: exactly, else ignoring case, spaces and punctuation (signs
/// kept, so `UTC+08` never matches Windows' `UTC-08`).
fn windows_zone(name: &str) -> Option<WindowsTimezone> {
    if let Ok(windows) = name.parse::<WindowsTimezone>() {
        return Some(windows);
    }
    // The crate lists no names, but each Windows zone is CLDR's mapping of some IANA zone.
    static NAMES: OnceLock<Vec<(String, WindowsTimezone)>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        TZ_VARIANTS
            .iter()
            .filter_map(|tz| WindowsTimezone::try_from(*tz).ok())
            .map(|windows| (squash(windows.name()), windows))
            .collect()
    });
    let key = squash(name);
    names
        .iter()
        .find(|(squashed, _)| *squashed == key)
        .map(|(_, windows)| *windows)
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `+05:30`, `-0800`, `+5`, optionally after `UTC` or `GMT`.
fn fixed_offset(t: &str) -> Option<FixedOffset> {
    let t = t
        .strip_prefix("UTC")
        .or_else(|| t.strip_prefix("GMT"))
        .unwrap_or(t)
        .trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() > 2 => rest.split_at(rest.len() - 2),
        None => (rest, "0"),
    };
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn offset_minutes(zone: Zone) -> i32 {
        match zone {
            Zone::Fixed(o) => o.local_minus_utc() / 60,
            Zone::Named(tz) => panic!("{tz} is not a fixed offset"),
        }
    }

    #[test]
    fn names_windows_iana_and_offsets() {
        let named = |n: &str| resolve_zone(n).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(named("Pacific Standard Time"), Tz::America__Los_Angeles);
        assert_eq!(named("india standard time"), Tz::Asia__Calcutta);
        assert_eq!(
            named("Central Standard Time (Mexico)"),
            Tz::America__Mexico_City
        );
        assert_eq!(
            named("central standard time mexico"),
            Tz::America__Mexico_City
        );
        assert_eq!(named("Morocco Standard Time"), Tz::Africa__Casablanca);
        assert_eq!(named("europe/berlin"), Tz::Europe__Berlin);
        assert_eq!(named("UTC"), Tz::Etc__UTC);
        assert_eq!(named("Coordinated Universal Time"), Tz::UTC);
        assert_eq!(named("GMT"), Tz::GMT);
        // Windows' UTC-08 is the IANA zone of that offset; UTC+08 is no Windows name.
        assert_eq!(named("UTC-08"), Tz::Etc__GMTPlus8);
        assert!(resolve_zone("UTC+08").is_err());
        let offset =
            |n: &str| offset_minutes(resolve_zone_or_offset(n).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(offset("+05:45"), 345);
        assert_eq!(offset("-0330"), -210);
        assert_eq!(offset("UTC+08"), 480);
        assert_eq!(offset("GMT-1"), -60);
        for bad in ["Mars Standard Time", "", "+15:00", "+05:60", "05:30", "+5h"] {
            let err = resolve_zone_or_offset(bad).expect_err(bad);
            assert_eq!(err.name, bad);
            assert!(
                err.to_string().contains("is not a known time zone"),
                "{err}"
            );
        }
    }

    /// The cases the hand-kept table was tested with hold with the database.
    #[test]
    fn former_table_cases() {
        let zone = |n: &str| resolve_zone_or_offset(n).unwrap_or_else(|e| panic!("{e}"));
        let pst = zone("Pacific Standard Time");
        assert_eq!(
            pst.local_to_utc(t("2018-07-01T01:00:00"), Repeated::Second),
            t("2018-07-01T08:00:00")
        );
        assert_eq!(
            pst.local_to_utc(t("2018-01-01T00:00:00"), Repeated::Second),
            t("2018-01-01T08:00:00")
        );
        // US change: 2018-03-11 02:00 PST -> 03:00 PDT (10:00 UTC).
        assert_eq!(
            pst.utc_to_local(t("2018-03-11T09:59:00")),
            t("2018-03-11T01:59:00")
        );
        assert_eq!(
            pst.utc_to_local(t("2018-03-11T10:00:00")),
            t("2018-03-11T03:00:00")
        );
        let cet = zone("W. Europe Standard Time");
        assert_eq!(
            cet.utc_to_local(t("2018-03-25T00:59:00")),
            t("2018-03-25T01:59:00")
        );
        assert_eq!(
            cet.utc_to_local(t("2018-03-25T01:00:00")),
            t("2018-03-25T03:00:00")
        );
        assert_eq!(
            cet.utc_to_local(t("2018-10-28T01:00:00")),
            t("2018-10-28T02:00:00")
        );
        let syd = zone("AUS Eastern Standard Time");
        assert_eq!(
            syd.utc_to_local(t("2018-01-01T00:00:00")),
            t("2018-01-01T11:00:00")
        );
        assert_eq!(
            syd.utc_to_local(t("2018-07-01T00:00:00")),
            t("2018-07-01T10:00:00")
        );
        assert_eq!(
            zone("india standard time").utc_to_local(t("2018-01-01T00:00:00")),
            t("2018-01-01T05:30:00")
        );
        assert_eq!(
            zone("UTC-08").utc_to_local(t("2018-07-01T08:00:00")),
            t("2018-07-01T00:00:00")
        );
        assert_eq!(
            zone("UTC").utc_to_local(t("2018-07-01T08:00:00")),
            t("2018-07-01T08:00:00")
        );
    }

    #[test]
    fn daylight_saving_from_the_database() {
        let pst = Zone::Named(Tz::America__Los_Angeles);
        assert_eq!(
            pst.utc_to_local(t("2018-01-01T08:00:00")),
            t("2018-01-01T00:00:00")
        );
        assert_eq!(
            pst.utc_to_local(t("2018-07-01T08:00:00")),
            t("2018-07-01T01:00:00")
        );
        // The US moved its change in 2007: in 2006 April 2 was the first day of PDT, so
        // March 20 was still standard time (the rules as they stand today would say PDT).
        assert_eq!(
            pst.utc_to_local(t("2006-03-20T12:00:00")),
            t("2006-03-20T04:00:00")
        );
        // Fall back, 2018-11-04 01:30 happens twice: first PDT (08:30Z), then PST (09:30Z).
        let repeated = t("2018-11-04T01:30:00");
        assert_eq!(
            pst.local_to_utc(repeated, Repeated::First),
            t("2018-11-04T08:30:00")
        );
        assert_eq!(
            pst.local_to_utc(repeated, Repeated::Second),
            t("2018-11-04T09:30:00")
        );
        // Spring forward, 2018-03-11 02:30 does not exist: read as 03:30 PDT.
        let skipped = t("2018-03-11T02:30:00");
        for r in [Repeated::First, Repeated::Second] {
            assert_eq!(pst.local_to_utc(skipped, r), t("2018-03-11T10:30:00"));
        }
        let fixed = resolve_zone_or_offset("+05:30").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fixed.utc_to_local(t("2018-07-01T00:00:00")),
            t("2018-07-01T05:30:00")
        );
        assert_eq!(
            fixed.local_to_utc(t("2018-07-01T05:30:00"), Repeated::Second),
            t("2018-07-01T00:00:00")
        );
    }
}
