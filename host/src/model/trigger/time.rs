//! Time zones and instants of trigger definitions: ADF names a schedule's `timeZone` the
//! Windows way ("Pacific Standard Time") or the IANA way ("Europe/Berlin"), and writes
//! `startTime`/`endTime` either as UTC (`...Z`) or as wall-clock time in that zone.
//!
//! Zones come from a real time zone database (chrono-tz, IANA's tzdata) so daylight saving is
//! that database's, never a hand-kept table; Windows names are mapped onto it by CLDR's
//! `windowsZones` table as the `windows-timezones` crate ships it (the world-wide default,
//! territory `001`, of each Windows name).

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use windows_timezones::WindowsTimezone;

/// The zone named `name`: a Windows name (as ADF's portal writes) or an IANA one. The error
/// says which forms are accepted.
pub fn resolve_zone(name: &str) -> Result<Tz, String> {
    let name = name.trim();
    if let Ok(windows) = name.parse::<WindowsTimezone>() {
        return Ok(windows.into());
    }
    name.parse::<Tz>().map_err(|_| {
        format!(
            "{name:?} is not a known time zone; expected a Windows name such as \
             \"Pacific Standard Time\" or \"W. Europe Standard Time\", or an IANA name such as \
             \"America/Los_Angeles\" or \"UTC\""
        )
    })
}

/// Parses a trigger's `startTime`/`endTime`: with `Z` or an offset it is that instant; without,
/// it is wall-clock time in `zone` (ADF's form for zones other than UTC), placed by
/// [`local_to_utc`].
pub fn parse_instant(text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    for form in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, form) {
            return Ok(local_to_utc(zone, naive));
        }
    }
    Err(format!(
        "{text:?} is not a date-time; expected yyyy-MM-ddTHH:mm:ssZ (UTC) or yyyy-MM-ddTHH:mm:ss \
         (wall-clock time in the trigger's timeZone)"
    ))
}

/// The instant a wall-clock time in `zone` stands for, total over daylight saving changes.
///
/// ADF documents only that schedules in a zone that observes daylight saving "auto-adjust"
/// (the wall-clock time is kept across the change); it does not say what happens to a time the
/// change skips or repeats. Sluice's rule, the one cron and Windows' task scheduler follow:
/// - a time that repeats (fall back, 01:30 twice) is its first occurrence, so the trigger
///   fires once;
/// - a time that does not exist (spring forward, 02:30 on the day clocks jump from 02:00 to
///   03:00) is moved forward by the jump (03:30), so the run is late, never lost.
pub fn local_to_utc(zone: Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
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

/// Formats an instant as ADF prints them (`2027-05-03T08:00:00Z`; fractions only when set).
pub fn format_utc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
