//! Predicate evaluation, pure and testable on the host: the config's literal is turned into an
//! [`Operand`] of the column's kind once, in `create`, so matching a row does no parsing.

use std::cmp::Ordering;
use std::fmt;

use sluice_plugin_sdk::config::json_kind;
use sluice_plugin_sdk::decimal::Decimal;
use sluice_plugin_sdk::{Column, DataType, ScalarType, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    IsNull,
    NotNull,
    Contains,
    StartsWith,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "is_null" => Op::IsNull,
            "not_null" => Op::NotNull,
            "contains" => Op::Contains,
            "starts_with" => Op::StartsWith,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::IsNull => "is_null",
            Op::NotNull => "not_null",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
        }
    }

    fn accepts(self, ord: Ordering) -> bool {
        match self {
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            _ => false,
        }
    }
}

/// The literal, in the form the column's values compare with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    None,
    /// A number: exact when it is a decimal, and its `f64` for float columns.
    Number(Option<Decimal>, f64),
    Text(String),
    Bool(bool),
    /// Days (date) or microseconds (time, timestamp, timestamptz).
    Instant(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    op: Op,
    operand: Operand,
    /// The literal as configured, for messages.
    shown: String,
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.name(), self.shown)
    }
}

impl Predicate {
    /// Builds the predicate for `column`; errors name the config key at fault.
    pub fn new(
        op: &str,
        value: Option<&serde_json::Value>,
        column: &Column,
    ) -> Result<Predicate, String> {
        let op = Op::parse(op).ok_or_else(|| {
            format!("config key \"op\": unknown operator \"{op}\" (expected eq, ne, gt, ge, lt, le, is_null, not_null, contains, starts_with)")
        })?;
        let shown = value.map(|v| v.to_string()).unwrap_or_default();
        if matches!(op, Op::IsNull | Op::NotNull) {
            return Ok(Predicate {
                op,
                operand: Operand::None,
                shown,
            });
        }
        let value = value
            .ok_or_else(|| format!("config key \"value\" is required for op \"{}\"", op.name()))?;
        let bad = || {
            format!(
                "config key \"value\": {} cannot be compared with column \"{}\" ({})",
                json_kind(value),
                column.name,
                column.data_type
            )
        };
        let DataType::Scalar(t) = column.data_type else {
            return Err(format!(
                "column \"{}\" is {}; filter compares scalar columns only",
                column.name, column.data_type
            ));
        };
        if matches!(op, Op::Contains | Op::StartsWith) {
            return match (t, value) {
                (ScalarType::Text | ScalarType::Json, serde_json::Value::String(s)) => {
                    Ok(Predicate { op, operand: Operand::Text(s.clone()), shown })
                }
                _ => Err(format!(
                    "op \"{}\" needs a text column and a string value (column \"{}\" is {}, value is {})",
                    op.name(), column.name, column.data_type, json_kind(value)
                )),
            };
        }
        let operand = match t {
            ScalarType::Int16
            | ScalarType::Int32
            | ScalarType::Int64
            | ScalarType::Float32
            | ScalarType::Float64
            | ScalarType::Numeric
            | ScalarType::Money => {
                let text = match value {
                    serde_json::Value::Number(n) => n.to_string(),
                    // Numeric literals too long for a JSON number may come as strings.
                    serde_json::Value::String(s) => s.clone(),
                    _ => return Err(bad()),
                };
                let f: f64 = text.trim().parse().map_err(|_| bad())?;
                Operand::Number(Decimal::parse(&text), f)
            }
            ScalarType::Text | ScalarType::Json => match value {
                serde_json::Value::String(s) => Operand::Text(s.clone()),
                _ => return Err(bad()),
            },
            ScalarType::Boolean => match value {
                serde_json::Value::Bool(b) => Operand::Bool(*b),
                _ => return Err(bad()),
            },
            ScalarType::Date | ScalarType::Time | ScalarType::Timestamp | ScalarType::TimestampTz => {
                match value {
                    serde_json::Value::Number(n) => Operand::Instant(n.as_i64().ok_or_else(bad)?),
                    serde_json::Value::String(s) => Operand::Instant(parse_instant(s, t).ok_or_else(|| {
                        format!("config key \"value\": \"{s}\" is not a valid {t} (e.g. 2024-02-29, 13:45:00, 2024-02-29T13:45:00Z)")
                    })?),
                    _ => return Err(bad()),
                }
            }
            other => {
                return Err(format!(
                    "column \"{}\" is {other}; filter compares numbers, text, booleans, dates and times",
                    column.name
                ))
            }
        };
        Ok(Predicate { op, operand, shown })
    }

    /// Whether `v` satisfies the predicate.
    pub fn matches(&self, v: &Value) -> bool {
        match self.op {
            Op::IsNull => return v.is_null(),
            Op::NotNull => return !v.is_null(),
            _ if v.is_null() => return false,
            Op::Contains | Op::StartsWith => {
                let (Some(s), Operand::Text(needle)) = (v.as_str(), &self.operand) else {
                    return false;
                };
                return if self.op == Op::Contains {
                    s.contains(needle.as_str())
                } else {
                    s.starts_with(needle.as_str())
                };
            }
            _ => {}
        }
        compare(v, &self.operand).is_some_and(|ord| self.op.accepts(ord))
    }
}

/// Orders `v` against the operand; `None` when they are of unrelated kinds.
pub fn compare(v: &Value, operand: &Operand) -> Option<Ordering> {
    match (v, operand) {
        (Value::Text(s) | Value::Json(s), Operand::Text(t)) => Some(s.as_str().cmp(t.as_str())),
        (Value::Bool(b), Operand::Bool(o)) => Some(b.cmp(o)),
        (Value::Date(d), Operand::Instant(i)) => Some(i64::from(*d).cmp(i)),
        (Value::Time(t) | Value::Timestamp(t) | Value::TimestampTz(t), Operand::Instant(i)) => {
            Some(t.cmp(i))
        }
        (_, Operand::Number(dec, f)) => {
            let exact = match v {
                Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => {
                    v.as_i64().map(Decimal::from)
                }
                Value::Numeric(s) => Decimal::parse(s),
                Value::Money(cents) => Some(Decimal::new(i128::from(*cents), 2)),
                _ => None,
            };
            if let (Some(a), Some(b)) = (exact, dec) {
                if let Some(ord) = a.compare(*b) {
                    return Some(ord);
                }
            }
            let a = match v {
                Value::Money(cents) => *cents as f64 / 100.0,
                other => other.as_f64()?,
            };
            Some(total_cmp_pg(a, *f))
        }
        _ => None,
    }
}

/// PostgreSQL's float order: NaN equals NaN and sorts above everything.
fn total_cmp_pg(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Days from 2000-01-01 to the civil date (proleptic Gregorian).
fn days_since_2000(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || d == 0 || d > 31 {
        return None;
    }
    // Howard Hinnant's days_from_civil, shifted to the 2000-01-01 epoch.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468 - 10_957)
}

/// `HH:MM[:SS[.ffffff]]` to microseconds since midnight.
fn parse_time(s: &str) -> Option<i64> {
    let mut parts = s.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let (sec, frac) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let frac_micros = if frac.is_empty() {
                0
            } else {
                format!("{frac:0<6}").parse().ok()?
            };
            (whole.parse::<i64>().ok()?, frac_micros)
        }
    };
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || !(0..=60).contains(&sec) {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1_000_000 + frac)
}

/// Parses a config literal for a date or time column into the column's unit.
pub fn parse_instant(s: &str, t: ScalarType) -> Option<i64> {
    let s = s.trim();
    match s {
        "infinity" => {
            return Some(if t == ScalarType::Date {
                i32::MAX.into()
            } else {
                i64::MAX
            })
        }
        "-infinity" => {
            return Some(if t == ScalarType::Date {
                i32::MIN.into()
            } else {
                i64::MIN
            })
        }
        _ => {}
    }
    if t == ScalarType::Time {
        return parse_time(s);
    }
    let (date, rest) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let mut dp = date.splitn(3, '-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    let days = days_since_2000(y, m, d)?;
    if t == ScalarType::Date {
        return if rest.is_empty() { Some(days) } else { None };
    }
    // Split a zone suffix: Z, +hh[:mm], -hh[:mm].
    let (time, offset_secs) = if let Some(time) = rest.strip_suffix('Z') {
        (time, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (time, zone) = rest.split_at(i);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = &zone[1..];
        let (zh, zm) = zone.split_once(':').unwrap_or((zone, "0"));
        let secs = zh.parse::<i64>().ok()? * 3600 + zm.parse::<i64>().ok()? * 60;
        (time, sign * secs)
    } else {
        (rest, 0)
    };
    let micros = if time.trim().is_empty() {
        0
    } else {
        parse_time(time.trim())?
    };
    Some(days * 86_400_000_000 + micros - offset_secs * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pred(op: &str, value: serde_json::Value, t: ScalarType) -> Predicate {
        Predicate::new(op, Some(&value), &Column::new("c", t)).unwrap()
    }

    #[test]
    fn numbers_compare_across_kinds() {
        let p = pred("gt", json!(100), ScalarType::Numeric);
        assert!(p.matches(&Value::Numeric("100.0001".into())));
        assert!(!p.matches(&Value::Numeric("100.000".into())));
        let p = pred("eq", json!(1.5), ScalarType::Float64);
        assert!(p.matches(&Value::Float64(1.5)));
        assert!(p.matches(&Value::Numeric("1.50".into())));
        let p = pred("le", json!(3), ScalarType::Int32);
        assert!(p.matches(&Value::Int32(3)) && !p.matches(&Value::Int64(4)));
        // Past f64's precision, exact comparison still tells these apart.
        let p = pred("lt", json!("12345678901234567.89"), ScalarType::Numeric);
        assert!(p.matches(&Value::Numeric("12345678901234567.88".into())));
        assert!(!p.matches(&Value::Numeric("12345678901234567.89".into())));
        let p = pred("gt", json!(1e300), ScalarType::Float64);
        assert!(p.matches(&Value::Float64(f64::INFINITY)));
        assert!(p.matches(&Value::Numeric("NaN".into())));
        let p = pred("ge", json!(12.34), ScalarType::Money);
        assert!(p.matches(&Value::Money(1234)) && !p.matches(&Value::Money(1233)));
        let p = pred("ne", json!(0), ScalarType::Float32);
        assert!(p.matches(&Value::Float32(0.5)));
    }

    #[test]
    fn text_bool_and_nulls() {
        let p = pred("eq", json!("b"), ScalarType::Text);
        assert!(p.matches(&Value::from("b")) && !p.matches(&Value::from("c")));
        assert!(!p.matches(&Value::Null));
        assert!(!pred("ne", json!("b"), ScalarType::Text).matches(&Value::Null));
        assert!(pred("contains", json!("@ex"), ScalarType::Text).matches(&Value::from("a@ex.com")));
        assert!(
            pred("starts_with", json!("a@"), ScalarType::Text).matches(&Value::from("a@ex.com"))
        );
        assert!(!pred("starts_with", json!("x"), ScalarType::Text).matches(&Value::from("a")));
        assert!(pred("eq", json!(true), ScalarType::Boolean).matches(&Value::Bool(true)));
        let c = Column::new("c", ScalarType::Int64);
        assert!(Predicate::new("is_null", None, &c)
            .unwrap()
            .matches(&Value::Null));
        assert!(Predicate::new("not_null", None, &c)
            .unwrap()
            .matches(&Value::Int64(0)));
        assert!(!Predicate::new("not_null", None, &c)
            .unwrap()
            .matches(&Value::Null));
    }

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(parse_instant("2000-01-01", ScalarType::Date), Some(0));
        assert_eq!(parse_instant("2000-03-01", ScalarType::Date), Some(60));
        assert_eq!(parse_instant("1999-12-31", ScalarType::Date), Some(-1));
        assert_eq!(parse_instant("2024-02-29", ScalarType::Date), Some(8825));
        assert_eq!(
            parse_instant("2000-01-02T00:00:01.5Z", ScalarType::TimestampTz),
            Some(86_401_500_000)
        );
        assert_eq!(
            parse_instant("2000-01-01 02:00:00+02:00", ScalarType::TimestampTz),
            Some(0)
        );
        assert_eq!(
            parse_instant("13:45:00.25", ScalarType::Time),
            Some(49_500_250_000)
        );
        assert_eq!(parse_instant("2024-13-01", ScalarType::Date), None);
        let p = pred("ge", json!("2024-01-01T00:00:00Z"), ScalarType::TimestampTz);
        let ts = parse_instant("2024-06-01T12:00:00Z", ScalarType::TimestampTz).unwrap();
        assert!(p.matches(&Value::TimestampTz(ts)));
        assert!(!p.matches(&Value::TimestampTz(0)));
        let p = pred("lt", json!(10), ScalarType::Date);
        assert!(p.matches(&Value::Date(9)));
    }

    #[test]
    fn bad_literals() {
        let c = Column::new("c", ScalarType::Int64);
        assert!(Predicate::new("gt", Some(&json!("abc")), &c).is_err());
        assert!(Predicate::new("contains", Some(&json!("a")), &c).is_err());
        let d = Column::new("d", ScalarType::Date);
        let e = Predicate::new("gt", Some(&json!("yesterday")), &d).unwrap_err();
        assert!(e.contains("yesterday"), "{e}");
    }
}
