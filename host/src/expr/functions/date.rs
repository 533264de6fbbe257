//! Date and time functions. Timestamps are strings; results are formatted with the optional
//! format argument, `o` (`2018-03-15T13:00:00.0000000Z`) by default.

use chrono::{Datelike, Duration, Months, NaiveDateTime, Timelike};
use serde_json::Value;

use super::{d, Args, Def, FnError};
use crate::expr::datetime::{Kind, Stamp};
use crate::expr::timezone::{resolve_zone_or_offset, Repeated, Zone};
use crate::expr::value::Num;
use crate::expr::Context;

pub(crate) const DEFS: &[Def] = &[
    d("addDays", 2, 3, add_days),
    d("addHours", 2, 3, add_hours),
    d("addMinutes", 2, 3, add_minutes),
    d("addSeconds", 2, 3, add_seconds),
    d("addToTime", 3, 4, add_to_time),
    d("convertFromUtc", 2, 3, convert_from_utc),
    d("convertTimeZone", 3, 4, convert_time_zone),
    d("convertToUtc", 2, 3, convert_to_utc),
    d("dayOfMonth", 1, 1, day_of_month),
    d("dayOfWeek", 1, 1, day_of_week),
    d("dayOfYear", 1, 1, day_of_year),
    d("formatDateTime", 1, 2, format_date_time),
    d("getFutureTime", 2, 3, get_future_time),
    d("getPastTime", 2, 3, get_past_time),
    d("startOfDay", 1, 2, start_of_day),
    d("startOfHour", 1, 2, start_of_hour),
    d("startOfMonth", 1, 2, start_of_month),
    d("subtractFromTime", 3, 4, subtract_from_time),
    d("ticks", 1, 1, ticks),
    d("utcNow", 0, 1, utc_now),
];

type R = Result<Value, FnError>;

fn stamp(a: &Args, i: usize) -> Result<Stamp, FnError> {
    let s = a.str(i)?;
    Stamp::parse(s).ok_or_else(|| {
        a.fail_at(
            i,
            format!("'{s}' is not a valid timestamp (use ISO 8601, such as 2018-03-15T13:00:00Z)"),
        )
    })
}

fn out(a: &Args, st: Stamp, fmt_arg: usize) -> R {
    let fmt = a.opt_str(fmt_arg)?;
    st.format(fmt)
        .map(Value::String)
        .map_err(|e| a.fail_at(fmt_arg, e))
}

#[derive(Clone, Copy)]
enum Unit {
    Ticks(i64),
    Months(i64),
}

const SECOND: i64 = 10_000_000;

fn unit(a: &Args, i: usize) -> Result<Unit, FnError> {
    let u = a.str(i)?;
    let lower = u.to_ascii_lowercase();
    Ok(match lower.trim_end_matches('s') {
        "second" => Unit::Ticks(SECOND),
        "minute" => Unit::Ticks(60 * SECOND),
        "hour" => Unit::Ticks(3600 * SECOND),
        "day" => Unit::Ticks(86_400 * SECOND),
        "week" => Unit::Ticks(7 * 86_400 * SECOND),
        "month" => Unit::Months(1),
        "year" => Unit::Months(12),
        _ => {
            return Err(a.fail_at(
                i,
                format!(
                    "'{u}' is not a time unit: use Second, Minute, Hour, Day, Week, Month or Year"
                ),
            ))
        }
    })
}

/// Adds `amount` units; fractional amounts are allowed for fixed-length units, as in .NET.
fn shift(
    a: &Args,
    st: Stamp,
    amount: Num,
    unit: Unit,
    amount_arg: usize,
) -> Result<Stamp, FnError> {
    let overflow = || a.fail_at(amount_arg, "the result is outside the supported date range");
    let dt: Option<NaiveDateTime> = match unit {
        Unit::Ticks(per) => {
            let ticks = match amount {
                Num::Int(i) => i.checked_mul(per),
                Num::Float(f) => {
                    let t = (f * per as f64).round();
                    (t.abs() < 9.2e18).then_some(t as i64)
                }
            }
            .ok_or_else(overflow)?;
            st.dt.checked_add_signed(Duration::nanoseconds(
                ticks.checked_mul(100).ok_or_else(overflow)?,
            ))
        }
        Unit::Months(per) => {
            let n = match amount {
                Num::Int(i) => i,
                Num::Float(f) if f.fract() == 0.0 => f as i64,
                Num::Float(_) => {
                    return Err(a.fail_at(amount_arg, "months and years must be whole numbers"))
                }
            };
            let months = n.checked_mul(per).ok_or_else(overflow)?;
            let m = Months::new(u32::try_from(months.unsigned_abs()).map_err(|_| overflow())?);
            if months >= 0 {
                st.dt.checked_add_months(m)
            } else {
                st.dt.checked_sub_months(m)
            }
        }
    };
    Ok(Stamp {
        dt: dt.ok_or_else(overflow)?,
        kind: st.kind,
    })
}

fn add_fixed(a: &Args, per: i64) -> R {
    let st = stamp(a, 0)?;
    let st = shift(a, st, a.num(1)?, Unit::Ticks(per), 1)?;
    out(a, st, 2)
}

fn add_days(a: &mut Args, _: &dyn Context) -> R {
    add_fixed(a, 86_400 * SECOND)
}

fn add_hours(a: &mut Args, _: &dyn Context) -> R {
    add_fixed(a, 3600 * SECOND)
}

fn add_minutes(a: &mut Args, _: &dyn Context) -> R {
    add_fixed(a, 60 * SECOND)
}

fn add_seconds(a: &mut Args, _: &dyn Context) -> R {
    add_fixed(a, SECOND)
}

fn negate(n: Num) -> Num {
    match n {
        Num::Int(i) => i.checked_neg().map_or(Num::Float(-(i as f64)), Num::Int),
        Num::Float(f) => Num::Float(-f),
    }
}

fn add_to_time(a: &mut Args, _: &dyn Context) -> R {
    let st = stamp(a, 0)?;
    let st = shift(a, st, a.num(1)?, unit(a, 2)?, 1)?;
    out(a, st, 3)
}

fn subtract_from_time(a: &mut Args, _: &dyn Context) -> R {
    let st = stamp(a, 0)?;
    let st = shift(a, st, negate(a.num(1)?), unit(a, 2)?, 1)?;
    out(a, st, 3)
}

fn now(ctx: &dyn Context) -> Stamp {
    Stamp::utc(ctx.now().naive_utc())
}

fn get_future_time(a: &mut Args, ctx: &dyn Context) -> R {
    let st = shift(a, now(ctx), a.num(0)?, unit(a, 1)?, 0)?;
    out(a, st, 2)
}

fn get_past_time(a: &mut Args, ctx: &dyn Context) -> R {
    let st = shift(a, now(ctx), negate(a.num(0)?), unit(a, 1)?, 0)?;
    out(a, st, 2)
}

fn utc_now(a: &mut Args, ctx: &dyn Context) -> R {
    out(a, now(ctx), 0)
}

fn the_zone(a: &Args, i: usize) -> Result<Zone, FnError> {
    let name = a.str(i)?;
    resolve_zone_or_offset(name).map_err(|_| {
        a.fail_at(
            i,
            format!("'{name}' is not a time zone sluice knows: use a Windows time zone name such as 'Pacific Standard Time', an IANA name such as 'Europe/Berlin', 'UTC', or an offset such as '+05:30'"),
        )
    })
}

/// The time in the destination zone: UTC when that zone is UTC, else a zone-less wall time.
fn in_zone(dest: Zone, dest_name: &str, utc: NaiveDateTime) -> Stamp {
    let name = dest_name.trim();
    let is_utc =
        name.eq_ignore_ascii_case("UTC") || name.eq_ignore_ascii_case("Coordinated Universal Time");
    Stamp {
        dt: dest.utc_to_local(utc),
        kind: if is_utc { Kind::Utc } else { Kind::Unspecified },
    }
}

/// The UTC time of a timestamp: as it is when it is UTC, else a wall-clock time in `src`. A
/// time the fall-back change repeats is read as standard time (the second), as .NET does.
fn to_utc(st: Stamp, src: Zone) -> NaiveDateTime {
    if st.kind == Kind::Utc {
        st.dt
    } else {
        src.local_to_utc(st.dt, Repeated::Second)
    }
}

fn convert_from_utc(a: &mut Args, _: &dyn Context) -> R {
    let st = stamp(a, 0)?;
    let dest = the_zone(a, 1)?;
    out(a, in_zone(dest, a.str(1)?, st.dt), 2)
}

fn convert_to_utc(a: &mut Args, _: &dyn Context) -> R {
    let st = stamp(a, 0)?;
    let src = the_zone(a, 1)?;
    let utc = to_utc(st, src);
    out(a, Stamp::utc(utc), 2)
}

fn convert_time_zone(a: &mut Args, _: &dyn Context) -> R {
    let st = stamp(a, 0)?;
    let src = the_zone(a, 1)?;
    let dest = the_zone(a, 2)?;
    let utc = to_utc(st, src);
    out(a, in_zone(dest, a.str(2)?, utc), 3)
}

fn day_of_month(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::from(stamp(a, 0)?.dt.day()))
}

fn day_of_week(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::from(
        stamp(a, 0)?.dt.weekday().num_days_from_sunday(),
    ))
}

fn day_of_year(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::from(stamp(a, 0)?.dt.ordinal()))
}

fn format_date_time(a: &mut Args, _: &dyn Context) -> R {
    let st = stamp(a, 0)?;
    out(a, st, 1)
}

fn start_of(a: &Args, f: fn(NaiveDateTime) -> Option<NaiveDateTime>) -> R {
    let st = stamp(a, 0)?;
    let dt = f(st.dt).ok_or_else(|| a.fail_at(0, "the timestamp has no start"))?;
    out(a, Stamp { dt, kind: st.kind }, 1)
}

fn start_of_day(a: &mut Args, _: &dyn Context) -> R {
    start_of(a, |d| d.date().and_hms_opt(0, 0, 0))
}

fn start_of_hour(a: &mut Args, _: &dyn Context) -> R {
    start_of(a, |d| d.date().and_hms_opt(d.hour(), 0, 0))
}

fn start_of_month(a: &mut Args, _: &dyn Context) -> R {
    start_of(a, |d| {
        d.date().with_day(1).and_then(|x| x.and_hms_opt(0, 0, 0))
    })
}

fn ticks(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::from(stamp(a, 0)?.ticks()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ev, try_ev};
    use serde_json::json;

    #[test]
    fn date_functions() {
        assert_eq!(
            ev("addDays('2018-03-15T13:00:00Z', 1.5)"),
            json!("2018-03-17T01:00:00.0000000Z")
        );
        assert_eq!(
            ev("addToTime('2018-01-31', 1, 'Month', 'yyyy-MM-dd')"),
            json!("2018-02-28")
        );
        assert_eq!(
            ev("addToTime('2018-01-31', -2, 'years', 'yyyy-MM-dd')"),
            json!("2016-01-31")
        );
        assert_eq!(
            ev("subtractFromTime('2018-03-01T00:00:00Z', 1, 'Week', 's')"),
            json!("2018-02-22T00:00:00")
        );
        assert_eq!(ev("utcNow('yyyy-MM-dd HH:mm')"), json!("2018-04-15 13:00"));
        assert_eq!(ev("getPastTime(1, 'Hour', 'HH')"), json!("12"));
        assert_eq!(
            ev("startOfMonth('2018-03-15T13:30:30', 's')"),
            json!("2018-03-01T00:00:00")
        );
        assert_eq!(ev("convertTimeZone('2018-07-01T12:00:00Z', 'UTC', 'W. Europe Standard Time', 'HH:mm')"), json!("14:00"));
        assert_eq!(
            ev("convertFromUtc('2018-01-01T00:00:00Z', '+05:30')"),
            json!("2018-01-01T05:30:00.0000000")
        );
        assert_eq!(
            ev("convertFromUtc('2018-01-01T00:00:00Z', 'UTC')"),
            json!("2018-01-01T00:00:00.0000000Z")
        );
        assert_eq!(
            ev("convertToUtc('2018-07-01 00:00:00', 'Eastern Standard Time')"),
            json!("2018-07-01T04:00:00.0000000Z")
        );
        assert_eq!(ev("dayOfWeek('2018-04-15')"), json!(0));
        assert!(try_ev("addDays('yesterday', 1)")
            .unwrap_err()
            .contains("'yesterday' is not a valid timestamp"));
        assert!(try_ev("addToTime('2018-01-01', 1, 'Fortnight')")
            .unwrap_err()
            .contains("not a time unit"));
        // Zones the old hand-kept table lacked, from the database: Morocco keeps +01:00 but
        // drops to +00:00 for Ramadan (2024-03-10 to 2024-04-14), and an IANA name.
        assert_eq!(
            ev("convertFromUtc('2024-01-15T12:00:00Z', 'Morocco Standard Time', 'HH:mm')"),
            json!("13:00")
        );
        assert_eq!(
            ev("convertFromUtc('2024-03-20T12:00:00Z', 'Morocco Standard Time', 'HH:mm')"),
            json!("12:00")
        );
        assert_eq!(
            ev("convertFromUtc('2018-07-01T12:00:00Z', 'America/Sao_Paulo', 's')"),
            json!("2018-07-01T09:00:00")
        );
        // Fall back in New York, 2018-11-04: 01:30 happens twice and is read as standard
        // time (EST, 06:30Z) as .NET does; the skipped 02:30 of 2018-03-11 is 03:30 EDT.
        assert_eq!(
            ev("convertToUtc('2018-11-04T01:30:00', 'Eastern Standard Time', 's')"),
            json!("2018-11-04T06:30:00")
        );
        assert_eq!(
            ev("convertToUtc('2018-03-11T02:30:00', 'Eastern Standard Time', 's')"),
            json!("2018-03-11T07:30:00")
        );
        assert_eq!(
            ev("convertTimeZone('2018-11-04T05:59:59Z', 'UTC', 'Eastern Standard Time', 'HH:mm:ss')"),
            json!("01:59:59")
        );
        assert_eq!(
            ev("convertTimeZone('2018-11-04T06:00:00Z', 'UTC', 'Eastern Standard Time', 'HH:mm:ss')"),
            json!("01:00:00")
        );
        assert!(try_ev("convertFromUtc('2018-01-01', 'Mars')")
            .unwrap_err()
            .contains("not a time zone"));
        assert!(try_ev("formatDateTime('2018-01-01', 'q')")
            .unwrap_err()
            .contains("not a standard date"));
    }
}
