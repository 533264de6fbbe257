//! Time zones and instants of trigger definitions: ADF names a schedule's `timeZone` the
//! Windows way ("Pacific Standard Time") or the IANA way ("Europe/Berlin"), and writes
//! `startTime`/`endTime` either as UTC (`...Z`) or as wall-clock time in that zone.
//!
//! Zones are [`crate::expr::timezone`]'s, the ones expressions use: a real time zone database
//! (chrono-tz, IANA's tzdata), Windows names mapped onto it by CLDR's `windowsZones` table.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::expr::timezone::{self, Repeated};

/// The zone named `name`: a Windows name (as ADF's portal writes) or an IANA one. Fixed
/// offsets, which expressions accept, are no trigger `timeZone`. The error says which forms
/// are accepted.
pub fn resolve_zone(name: &str) -> Result<Tz, String> {
    timezone::resolve_zone(name).map_err(|e| e.to_string())
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
    timezone::local_to_utc(&zone, naive, Repeated::First)
}

/// Formats an instant as ADF prints them (`2027-05-03T08:00:00Z`; fractions only when set).
pub fn format_utc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
