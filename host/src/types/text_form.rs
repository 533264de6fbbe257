//! The text form of every [`Value`]: what CSV files hold and what text-mode COPY sends.
//!
//! It is PostgreSQL's own input syntax (with `DateStyle=ISO`, `IntervalStyle=postgres`), so any
//! value written here is read back by PostgreSQL without loss:
//!
//! | value | text form |
//! |---|---|
//! | bool | `true` / `false` |
//! | integers, numeric | decimal digits; numeric keeps its scale, `NaN`, `Infinity`, `-Infinity` |
//! | real, double | shortest string that reads back to the same bits (`1.5`, `1e+300`), `NaN`, `Infinity`, `-Infinity` |
//! | money | decimal with two fractional digits (`-12.34`) |
//! | bytea | `\x` followed by lower-case hex |
//! | date | `2024-02-29`, `0044-03-15 BC`, `infinity`, `-infinity` |
//! | time, timetz | `13:45:00.25`, `13:45:00+05:30` |
//! | timestamp, timestamptz | `2024-02-29 13:45:00.123456`, timestamptz in UTC with `+00` |
//! | interval | `1 year 2 mons -3 days +04:05:06.5` |
//! | uuid, json, inet, macaddr | their canonical PostgreSQL form |
//! | arrays, ranges | PostgreSQL literals: `{1,NULL,"a b"}`, `[0:1]={1,2}`, `[1,5)`, `empty` |

use std::fmt::Write;

use crate::types::value::{ArrayValue, RangeValue, Value};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The text form of a [`Value`]. A trait because `Value` is defined in the shared
/// `sluice-value-model` crate, which the plugin SDK builds too; the text form is the engine's.
pub trait TextForm {
    /// Writes the value's text form; `Null` writes nothing (callers choose their null marker).
    fn write_text(&self, out: &mut String);

    /// The text form as a new string; `None` for `Null`.
    fn to_text(&self) -> Option<String>;
}

impl TextForm for Value {
    fn write_text(&self, out: &mut String) {
        match self {
            Value::Null => {}
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int16(v) => push_display(out, v),
            Value::Int32(v) => push_display(out, v),
            Value::Int64(v) => push_display(out, v),
            Value::Float32(v) => write_float(
                out,
                f64::from(*v),
                v.is_nan(),
                || format!("{v}"),
                || format!("{v:e}"),
            ),
            Value::Float64(v) => {
                write_float(out, *v, v.is_nan(), || format!("{v}"), || format!("{v:e}"))
            }
            Value::Numeric(s) | Value::Text(s) | Value::Json(s) => out.push_str(s),
            Value::Money(cents) => {
                let sign = if *cents < 0 { "-" } else { "" };
                let abs = cents.unsigned_abs();
                let _ = write!(out, "{sign}{}.{:02}", abs / 100, abs % 100);
            }
            Value::Bytes(b) => {
                out.push_str("\\x");
                for byte in b {
                    let _ = write!(out, "{byte:02x}");
                }
            }
            Value::Uuid(u) => push_display(out, &uuid::Uuid::from_bytes(*u).hyphenated()),
            Value::Date(d) => write_date(out, *d),
            Value::Time(us) => write_time_of_day(out, *us),
            Value::TimeTz {
                micros,
                offset_secs,
            } => {
                write_time_of_day(out, *micros);
                write_offset(out, *offset_secs);
            }
            Value::Timestamp(ts) => write_timestamp(out, *ts, false),
            Value::TimestampTz(ts) => write_timestamp(out, *ts, true),
            Value::Interval {
                months,
                days,
                micros,
            } => write_interval(out, *months, *days, *micros),
            Value::Inet { addr, prefix, cidr } => {
                push_display(out, addr);
                let full = if addr.is_ipv4() { 32 } else { 128 };
                if *cidr || *prefix != full {
                    let _ = write!(out, "/{prefix}");
                }
            }
            Value::MacAddr(m) => {
                let _ = write!(
                    out,
                    "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    m[0], m[1], m[2], m[3], m[4], m[5]
                );
            }
            Value::Array(a) => write_array(out, a),
            Value::Range(r) => write_range(out, r),
        }
    }

    fn to_text(&self) -> Option<String> {
        if self.is_null() {
            return None;
        }
        let mut s = String::new();
        self.write_text(&mut s);
        Some(s)
    }
}

fn push_display(out: &mut String, v: &impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// Rust's `{}` and `{:e}` both print the shortest digits that read back to the same bits;
/// exponent form keeps very large and very small magnitudes short.
fn write_float(
    out: &mut String,
    v: f64,
    nan: bool,
    plain: impl FnOnce() -> String,
    exp: impl FnOnce() -> String,
) {
    if nan {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else if v != 0.0 && !(1e-5..1e16).contains(&v.abs()) {
        let e = exp();
        // PostgreSQL writes `1e+300`; both forms parse, keep its style.
        match e.split_once('e') {
            Some((m, x)) if !x.starts_with('-') => {
                let _ = write!(out, "{m}e+{x}");
            }
            _ => out.push_str(&e),
        }
    } else {
        out.push_str(&plain());
    }
}

fn write_date(out: &mut String, days: i32) {
    match days {
        i32::MAX => out.push_str("infinity"),
        i32::MIN => out.push_str("-infinity"),
        _ => write_ymd(out, days).unwrap_or_else(|| push_display(out, &days)),
    }
}

/// Writes `YYYY-MM-DD` (with ` BC` for years before 1). Exact over PostgreSQL's whole range
/// (4713 BC to 5874897 AD), which is wider than chrono's.
fn write_ymd(out: &mut String, days: i32) -> Option<()> {
    let (year, month, day) = civil_from_pg_days(i64::from(days));
    let (y, bc) = if year <= 0 {
        (1 - year, true)
    } else {
        (year, false)
    };
    let _ = write!(out, "{y:04}-{month:02}-{day:02}");
    if bc {
        out.push_str(" BC");
    }
    Some(())
}

/// Proleptic Gregorian (year, month, day) of a PostgreSQL day number; year 0 is 1 BC.
/// Howard Hinnant's `civil_from_days`, shifted from the Unix epoch to 2000-01-01.
fn civil_from_pg_days(pg_days: i64) -> (i64, u32, u32) {
    let z = pg_days + 10_957 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn write_time_of_day(out: &mut String, micros: i64) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    write_fraction(out, frac);
}

fn write_fraction(out: &mut String, frac: i64) {
    if frac != 0 {
        let digits = format!("{frac:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

fn write_offset(out: &mut String, offset_secs: i32) {
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let abs = offset_secs.unsigned_abs();
    let _ = write!(out, "{sign}{:02}", abs / 3600);
    if abs % 3600 != 0 {
        let _ = write!(out, ":{:02}", (abs / 60) % 60);
        if abs % 60 != 0 {
            let _ = write!(out, ":{:02}", abs % 60);
        }
    }
}

fn write_timestamp(out: &mut String, ts: i64, tz: bool) {
    match ts {
        i64::MAX => return out.push_str("infinity"),
        i64::MIN => return out.push_str("-infinity"),
        _ => {}
    }
    let days = ts.div_euclid(MICROS_PER_DAY);
    let time = ts.rem_euclid(MICROS_PER_DAY);
    let mut date = String::new();
    let bc = match i32::try_from(days)
        .ok()
        .and_then(|d| write_ymd(&mut date, d))
    {
        Some(()) => date.ends_with(" BC"),
        None => return push_display(out, &ts),
    };
    out.push_str(date.trim_end_matches(" BC"));
    out.push(' ');
    write_time_of_day(out, time);
    if tz {
        out.push_str("+00");
    }
    if bc {
        out.push_str(" BC");
    }
}

fn write_interval(out: &mut String, months: i32, days: i32, micros: i64) {
    let mut parts: Vec<String> = Vec::new();
    let years = months / 12;
    let mons = months % 12;
    if years != 0 {
        parts.push(format!(
            "{years} year{}",
            if years.abs() == 1 { "" } else { "s" }
        ));
    }
    if mons != 0 {
        parts.push(format!(
            "{mons} mon{}",
            if mons.abs() == 1 { "" } else { "s" }
        ));
    }
    if days != 0 {
        parts.push(format!(
            "{days} day{}",
            if days.abs() == 1 { "" } else { "s" }
        ));
    }
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 {
            "-"
        } else if parts.is_empty() {
            ""
        } else {
            "+"
        };
        let abs = micros.unsigned_abs();
        let secs = abs / 1_000_000;
        let mut t = format!(
            "{sign}{:02}:{:02}:{:02}",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        );
        write_fraction(&mut t, (abs % 1_000_000) as i64);
        parts.push(t);
    }
    out.push_str(&parts.join(" "));
}

/// Quotes an array element or range bound when PostgreSQL's literal parser needs it.
fn write_quoted_element(out: &mut String, text: &str, extra_special: &[char]) {
    let needs_quotes = text.is_empty()
        || text.eq_ignore_ascii_case("NULL")
        || text.chars().any(|c| {
            matches!(c, '{' | '}' | ',' | '"' | '\\' | '(' | ')' | '[' | ']')
                || c.is_ascii_whitespace()
                || extra_special.contains(&c)
        });
    if !needs_quotes {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn write_array(out: &mut String, a: &ArrayValue) {
    if a.dims.is_empty() {
        out.push_str("{}");
        return;
    }
    if a.dims.iter().any(|&(_, lower)| lower != 1) {
        for (len, lower) in &a.dims {
            let _ = write!(out, "[{}:{}]", lower, lower + len - 1);
        }
        out.push('=');
    }
    let mut index = 0;
    write_array_dim(out, a, 0, &mut index);
}

fn write_array_dim(out: &mut String, a: &ArrayValue, dim: usize, index: &mut usize) {
    out.push('{');
    let len = a.dims.get(dim).map_or(0, |d| d.0);
    for i in 0..len {
        if i > 0 {
            out.push(',');
        }
        if dim + 1 < a.dims.len() {
            write_array_dim(out, a, dim + 1, index);
        } else {
            match a.elements.get(*index) {
                None | Some(Value::Null) => out.push_str("NULL"),
                Some(v) => {
                    let mut s = String::new();
                    v.write_text(&mut s);
                    write_quoted_element(out, &s, &[]);
                }
            }
            *index += 1;
        }
    }
    out.push('}');
}

fn write_range(out: &mut String, r: &RangeValue) {
    if r.empty {
        out.push_str("empty");
        return;
    }
    out.push(if r.lower_inclusive && r.lower.is_some() {
        '['
    } else {
        '('
    });
    if let Some(v) = &r.lower {
        let mut s = String::new();
        v.write_text(&mut s);
        write_quoted_element(out, &s, &[]);
    }
    out.push(',');
    if let Some(v) = &r.upper {
        let mut s = String::new();
        v.write_text(&mut s);
        write_quoted_element(out, &s, &[]);
    }
    out.push(if r.upper_inclusive && r.upper.is_some() {
        ']'
    } else {
        ')'
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: Value) -> String {
        v.to_text().unwrap_or_default()
    }

    #[test]
    fn dates_and_timestamps_use_postgres_epoch() {
        assert_eq!(t(Value::Date(0)), "2000-01-01");
        assert_eq!(t(Value::Date(-730_119)), "0001-01-01");
        assert_eq!(t(Value::Date(-730_120)), "0001-12-31 BC");
        assert_eq!(t(Value::Date(i32::MAX)), "infinity");
        assert_eq!(t(Value::Timestamp(1_500_000)), "2000-01-01 00:00:01.5");
        assert_eq!(t(Value::TimestampTz(-1)), "1999-12-31 23:59:59.999999+00");
        assert_eq!(t(Value::TimestampTz(i64::MIN)), "-infinity");
        // PostgreSQL's extremes, beyond chrono's range.
        assert_eq!(t(Value::Date(2_145_031_948)), "5874897-12-31");
        assert_eq!(t(Value::Date(-2_451_545)), "4714-11-24 BC");
        assert_eq!(
            t(Value::Timestamp(9_223_371_331_199_999_000)),
            "294276-12-31 23:59:59.999"
        );
    }

    #[test]
    fn floats_round_trip() {
        for v in [0.1f64, 1e300, -2.5e-10, 123456.789, f64::MIN_POSITIVE] {
            let s = t(Value::Float64(v));
            assert_eq!(s.parse::<f64>().ok(), Some(v), "{s}");
        }
        assert_eq!(t(Value::Float64(f64::NEG_INFINITY)), "-Infinity");
        assert_eq!(t(Value::Float32(f32::NAN)), "NaN");
    }

    #[test]
    fn intervals_and_times() {
        assert_eq!(
            t(Value::Interval {
                months: 14,
                days: -3,
                micros: 14_706_500_000
            }),
            "1 year 2 mons -3 days +04:05:06.5"
        );
        assert_eq!(
            t(Value::Interval {
                months: 0,
                days: 0,
                micros: 0
            }),
            "00:00:00"
        );
        assert_eq!(
            t(Value::TimeTz {
                micros: 0,
                offset_secs: 19_800
            }),
            "00:00:00+05:30"
        );
        assert_eq!(t(Value::Money(-1234)), "-12.34");
    }

    #[test]
    fn arrays_and_ranges_quote_what_needs_it() {
        let a = ArrayValue {
            dims: vec![(3, 1)],
            elements: vec![
                Value::Text("a b".into()),
                Value::Null,
                Value::Text("x\"y".into()),
            ],
        };
        assert_eq!(t(Value::Array(Box::new(a))), r#"{"a b",NULL,"x\"y"}"#);
        let m = ArrayValue {
            dims: vec![(2, 0), (1, 1)],
            elements: vec![Value::Int32(1), Value::Int32(2)],
        };
        assert_eq!(t(Value::Array(Box::new(m))), "[0:1][1:1]={{1},{2}}");
        let r = RangeValue {
            empty: false,
            lower: Some(Value::Int32(1)),
            upper: None,
            lower_inclusive: true,
            upper_inclusive: false,
        };
        assert_eq!(t(Value::Range(Box::new(r))), "[1,)");
    }
}
