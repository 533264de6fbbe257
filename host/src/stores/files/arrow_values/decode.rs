//! Arrow arrays into engine values of the planned type: every arrow type Sluice reads (all
//! widths of integers, decimals, times and timestamps, intervals and durations, lists,
//! dictionaries), moved to PostgreSQL's 2000 epoch; structs, maps and nested lists written as
//! JSON text. Every downcast goes through the `*_opt` accessors, so a mismatch is an error, not
//! a panic.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type,
    DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType, DurationSecondType,
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    IntervalDayTimeType, IntervalMonthDayNanoType, IntervalYearMonthType, Time32MillisecondType,
    Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as ArrowType, Field, TimeUnit};
use base64::Engine as _;

use super::read::engine_type;
use super::{EPOCH_DAYS, EPOCH_MICROS};
use crate::types::schema::DataType;
use crate::types::text_form::TextForm;
use crate::types::value::{ArrayValue, Value};

/// Decodes a whole arrow array into engine values of type `dt`.
pub(super) fn decode(array: &dyn Array, dt: &DataType) -> Result<Vec<Value>, String> {
    let n = array.len();
    let wrong = || {
        format!(
            "arrow type {} does not match its declared type",
            array.data_type()
        )
    };
    macro_rules! prim {
        ($t:ty, $f:expr) => {{
            let a = array.as_primitive_opt::<$t>().ok_or_else(wrong)?;
            let f = $f;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(if a.is_null(i) {
                    Value::Null
                } else {
                    f(a.value(i))?
                });
            }
            out
        }};
    }
    fn ok(v: Value) -> Result<Value, String> {
        Ok(v)
    }
    if *dt == DataType::Json
        && !matches!(
            array.data_type(),
            ArrowType::Utf8
                | ArrowType::LargeUtf8
                | ArrowType::Utf8View
                | ArrowType::Dictionary(..)
        )
    {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            if array.is_null(i) {
                out.push(Value::Null);
            } else {
                let mut s = String::new();
                write_json(array, i, &mut s)?;
                out.push(Value::Json(s));
            }
        }
        return Ok(out);
    }
    Ok(match array.data_type() {
        ArrowType::Null => vec![Value::Null; n],
        ArrowType::Boolean => {
            let a = array.as_boolean_opt().ok_or_else(wrong)?;
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        Value::Bool(a.value(i))
                    }
                })
                .collect()
        }
        ArrowType::Int8 => prim!(Int8Type, |v: i8| ok(Value::Int16(i16::from(v)))),
        ArrowType::Int16 => prim!(Int16Type, |v: i16| ok(Value::Int16(v))),
        ArrowType::Int32 => prim!(Int32Type, |v: i32| ok(Value::Int32(v))),
        ArrowType::Int64 => prim!(Int64Type, |v: i64| ok(Value::Int64(v))),
        ArrowType::UInt8 => prim!(UInt8Type, |v: u8| ok(Value::Int16(i16::from(v)))),
        ArrowType::UInt16 => prim!(UInt16Type, |v: u16| ok(Value::Int32(i32::from(v)))),
        ArrowType::UInt32 => prim!(UInt32Type, |v: u32| ok(Value::Int64(i64::from(v)))),
        ArrowType::UInt64 => prim!(UInt64Type, |v: u64| ok(Value::Numeric(v.to_string()))),
        ArrowType::Float16 => prim!(
            Float16Type,
            |v: <Float16Type as arrow_array::ArrowPrimitiveType>::Native| ok(Value::Float32(
                v.to_f32()
            ))
        ),
        ArrowType::Float32 => prim!(Float32Type, |v: f32| ok(Value::Float32(v))),
        ArrowType::Float64 => prim!(Float64Type, |v: f64| ok(Value::Float64(v))),
        ArrowType::Decimal32(_, s) => {
            let s = *s;
            prim!(Decimal32Type, |v: i32| ok(Value::Numeric(decimal_text(
                &v.to_string(),
                s
            ))))
        }
        ArrowType::Decimal64(_, s) => {
            let s = *s;
            prim!(Decimal64Type, |v: i64| ok(Value::Numeric(decimal_text(
                &v.to_string(),
                s
            ))))
        }
        ArrowType::Decimal128(_, s) => {
            let s = *s;
            if *dt == DataType::Money {
                prim!(Decimal128Type, |v: i128| i64::try_from(v)
                    .map(Value::Money)
                    .map_err(|_| format!(
                        "{} is out of range for money",
                        decimal_text(&v.to_string(), s)
                    )))
            } else {
                prim!(Decimal128Type, |v: i128| ok(Value::Numeric(decimal_text(
                    &v.to_string(),
                    s
                ))))
            }
        }
        ArrowType::Decimal256(_, s) => {
            let s = *s;
            prim!(Decimal256Type, |v: arrow_buffer::i256| ok(Value::Numeric(
                decimal_text(&v.to_string(), s)
            )))
        }
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => {
            let make: fn(String) -> Value = match dt {
                DataType::Json => Value::Json,
                DataType::Numeric => Value::Numeric,
                _ => Value::Text,
            };
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(match str_at(array, i) {
                    Some(s) => make(s.to_string()),
                    None => Value::Null,
                });
            }
            out
        }
        ArrowType::Binary | ArrowType::LargeBinary | ArrowType::BinaryView => (0..n)
            .map(|i| bytes_at(array, i).map_or(Value::Null, |b| Value::Bytes(b.to_vec())))
            .collect(),
        ArrowType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary_opt().ok_or_else(wrong)?;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(if a.is_null(i) {
                    Value::Null
                } else if *dt == DataType::Uuid {
                    let u: [u8; 16] = a
                        .value(i)
                        .try_into()
                        .map_err(|_| "a uuid is not 16 bytes".to_string())?;
                    Value::Uuid(u)
                } else {
                    Value::Bytes(a.value(i).to_vec())
                });
            }
            out
        }
        ArrowType::Date32 => prim!(Date32Type, |d: i32| date_from_arrow(i64::from(d))
            .map(Value::Date)),
        ArrowType::Date64 => prim!(Date64Type, |ms: i64| date_from_arrow(
            ms.div_euclid(86_400_000)
        )
        .map(Value::Date)),
        ArrowType::Time32(TimeUnit::Second) => prim!(Time32SecondType, |s: i32| ok(Value::Time(
            i64::from(s) * 1_000_000
        ))),
        ArrowType::Time32(_) => prim!(Time32MillisecondType, |ms: i32| ok(Value::Time(
            i64::from(ms) * 1_000
        ))),
        ArrowType::Time64(TimeUnit::Nanosecond) => prim!(Time64NanosecondType, |ns: i64| ok(
            Value::Time(ns.div_euclid(1_000))
        )),
        ArrowType::Time64(_) => prim!(Time64MicrosecondType, |us: i64| ok(Value::Time(us))),
        ArrowType::Timestamp(unit, tz) => {
            let make: fn(i64) -> Value = if tz.is_some() {
                Value::TimestampTz
            } else {
                Value::Timestamp
            };
            let conv = |v: i64, per: i64| -> Result<Value, String> {
                timestamp_from_arrow(v, per).map(make)
            };
            match unit {
                TimeUnit::Second => prim!(TimestampSecondType, |v: i64| conv(v, -1_000_000)),
                TimeUnit::Millisecond => prim!(TimestampMillisecondType, |v: i64| conv(v, -1_000)),
                TimeUnit::Microsecond => prim!(TimestampMicrosecondType, |v: i64| conv(v, 1)),
                TimeUnit::Nanosecond => prim!(TimestampNanosecondType, |v: i64| conv(v, 1_000)),
            }
        }
        ArrowType::Duration(unit) => {
            let iv = |micros: Option<i64>| -> Result<Value, String> {
                micros
                    .map(|micros| Value::Interval {
                        months: 0,
                        days: 0,
                        micros,
                    })
                    .ok_or_else(|| "a duration is out of range for interval".to_string())
            };
            match unit {
                TimeUnit::Second => {
                    prim!(DurationSecondType, |v: i64| iv(v.checked_mul(1_000_000)))
                }
                TimeUnit::Millisecond => {
                    prim!(DurationMillisecondType, |v: i64| iv(v.checked_mul(1_000)))
                }
                TimeUnit::Microsecond => prim!(DurationMicrosecondType, |v: i64| iv(Some(v))),
                TimeUnit::Nanosecond => prim!(DurationNanosecondType, |v: i64| iv(Some(v / 1_000))),
            }
        }
        ArrowType::Interval(arrow_schema::IntervalUnit::YearMonth) => {
            prim!(IntervalYearMonthType, |m: i32| ok(Value::Interval {
                months: m,
                days: 0,
                micros: 0
            }))
        }
        ArrowType::Interval(arrow_schema::IntervalUnit::DayTime) => {
            prim!(IntervalDayTimeType, |v: arrow_buffer::IntervalDayTime| ok(
                Value::Interval {
                    months: 0,
                    days: v.days,
                    micros: i64::from(v.milliseconds) * 1_000,
                }
            ))
        }
        ArrowType::Interval(arrow_schema::IntervalUnit::MonthDayNano) => {
            prim!(
                IntervalMonthDayNanoType,
                |v: arrow_buffer::IntervalMonthDayNano| ok(Value::Interval {
                    months: v.months,
                    days: v.days,
                    micros: v.nanoseconds / 1_000,
                })
            )
        }
        ArrowType::List(_) | ArrowType::LargeList(_) | ArrowType::FixedSizeList(..) => {
            let elem_dt = match dt {
                DataType::Array(inner) => inner.as_ref(),
                _ => return Err(wrong()),
            };
            let (child, ranges) = list_parts(array).ok_or_else(wrong)?;
            let mut elements = decode(child.as_ref(), elem_dt)?;
            let mut out = Vec::with_capacity(n);
            for (i, (start, end)) in ranges.into_iter().enumerate() {
                if array.is_null(i) {
                    out.push(Value::Null);
                    continue;
                }
                let slice = elements
                    .get_mut(start..end)
                    .ok_or_else(|| "a list's offsets are out of bounds".to_string())?;
                let items: Vec<Value> = slice
                    .iter_mut()
                    .map(|v| std::mem::replace(v, Value::Null))
                    .collect();
                let len =
                    i32::try_from(items.len()).map_err(|_| "a list is too long".to_string())?;
                out.push(Value::Array(Box::new(ArrayValue {
                    dims: if len == 0 { Vec::new() } else { vec![(len, 1)] },
                    elements: items,
                })));
            }
            out
        }
        ArrowType::Dictionary(..) => {
            let a = array.as_any_dictionary_opt().ok_or_else(wrong)?;
            let values = decode(a.values().as_ref(), dt)?;
            if values.is_empty() {
                vec![Value::Null; n]
            } else {
                let keys = a.normalized_keys();
                (0..n)
                    .map(|i| {
                        if a.is_null(i) {
                            Value::Null
                        } else {
                            keys.get(i)
                                .and_then(|k| values.get(*k))
                                .cloned()
                                .unwrap_or(Value::Null)
                        }
                    })
                    .collect()
            }
        }
        other => return Err(format!("Sluice cannot read arrow type {other}")),
    })
}

fn str_at(array: &dyn Array, i: usize) -> Option<&str> {
    if array.is_null(i) {
        return None;
    }
    if let Some(a) = array.as_string_opt::<i32>() {
        return Some(a.value(i));
    }
    if let Some(a) = array.as_string_opt::<i64>() {
        return Some(a.value(i));
    }
    array.as_string_view_opt().map(|a| a.value(i))
}

fn bytes_at(array: &dyn Array, i: usize) -> Option<&[u8]> {
    if array.is_null(i) {
        return None;
    }
    if let Some(a) = array.as_binary_opt::<i32>() {
        return Some(a.value(i));
    }
    if let Some(a) = array.as_binary_opt::<i64>() {
        return Some(a.value(i));
    }
    if let Some(a) = array.as_binary_view_opt() {
        return Some(a.value(i));
    }
    array.as_fixed_size_binary_opt().map(|a| a.value(i))
}

/// The child values of a list array and each row's `start..end` in them.
fn list_parts(array: &dyn Array) -> Option<(ArrayRef, Vec<(usize, usize)>)> {
    if let Some(a) = array.as_list_opt::<i32>() {
        let ranges = a
            .offsets()
            .windows(2)
            .map(|w| {
                (
                    usize::try_from(w[0]).unwrap_or(0),
                    usize::try_from(w[1]).unwrap_or(0),
                )
            })
            .collect();
        return Some((a.values().clone(), ranges));
    }
    if let Some(a) = array.as_list_opt::<i64>() {
        let ranges = a
            .offsets()
            .windows(2)
            .map(|w| {
                (
                    usize::try_from(w[0]).unwrap_or(0),
                    usize::try_from(w[1]).unwrap_or(0),
                )
            })
            .collect();
        return Some((a.values().clone(), ranges));
    }
    if let Some(a) = array.as_fixed_size_list_opt() {
        let size = usize::try_from(a.value_length()).ok()?;
        let ranges = (0..a.len()).map(|i| (i * size, (i + 1) * size)).collect();
        return Some((a.values().clone(), ranges));
    }
    None
}

/// Arrow days since 1970 to engine days since 2000, keeping the infinities Sluice writes.
fn date_from_arrow(days: i64) -> Result<i32, String> {
    if days == i64::from(i32::MAX) || days == i64::from(i32::MIN) {
        return Ok(days as i32);
    }
    i32::try_from(days - i64::from(EPOCH_DAYS))
        .ok()
        .filter(|d| *d != i32::MAX && *d != i32::MIN)
        .ok_or_else(|| format!("a date {days} days from 1970 is out of range"))
}

/// An arrow timestamp in units where `per` is the number of units per microsecond (negative:
/// microseconds per unit) to engine microseconds since 2000. `i64::MAX`/`MIN` are the
/// infinities Sluice writes.
fn timestamp_from_arrow(v: i64, per: i64) -> Result<i64, String> {
    if v == i64::MAX || v == i64::MIN {
        return Ok(v);
    }
    let micros = if per > 0 {
        Some(v.div_euclid(per))
    } else {
        v.checked_mul(-per)
    };
    micros
        .and_then(|m| m.checked_sub(EPOCH_MICROS))
        .filter(|m| *m != i64::MAX && *m != i64::MIN)
        .ok_or_else(|| "a timestamp is out of range".to_string())
}

/// The text form of an unscaled decimal given as decimal digits (with an optional `-`).
fn decimal_text(unscaled: &str, scale: i8) -> String {
    let (negative, digits) = match unscaled.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, unscaled),
    };
    let sign = if negative { "-" } else { "" };
    if scale <= 0 {
        let zeros = "0".repeat(usize::from(scale.unsigned_abs()));
        if digits.chars().all(|c| c == '0') {
            return "0".to_string();
        }
        return format!("{sign}{digits}{zeros}");
    }
    let scale = usize::from(scale.unsigned_abs());
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits.to_string()
    };
    let (int_part, frac_part) = padded.split_at(padded.len() - scale);
    let is_zero = padded.chars().all(|c| c == '0');
    format!("{}{int_part}.{frac_part}", if is_zero { "" } else { sign })
}

/// Writes the value at `i` of an arrow array as JSON (for structs, maps and nested lists).
fn write_json(array: &dyn Array, i: usize, out: &mut String) -> Result<(), String> {
    use std::fmt::Write;
    if array.is_null(i) {
        out.push_str("null");
        return Ok(());
    }
    let quoted = |s: &str, out: &mut String| {
        out.push_str(&serde_json::Value::String(s.to_string()).to_string());
    };
    match array.data_type() {
        ArrowType::Struct(_) => {
            let a = array.as_struct_opt().ok_or("not a struct")?;
            out.push('{');
            for (k, (name, col)) in a.column_names().iter().zip(a.columns()).enumerate() {
                if k > 0 {
                    out.push(',');
                }
                quoted(name, out);
                out.push(':');
                write_json(col.as_ref(), i, out)?;
            }
            out.push('}');
        }
        ArrowType::Map(..) => {
            let a = array.as_map_opt().ok_or("not a map")?;
            let offsets = a.value_offsets();
            let start = usize::try_from(offsets[i]).map_err(|e| e.to_string())?;
            let end = usize::try_from(offsets[i + 1]).map_err(|e| e.to_string())?;
            out.push('{');
            for (k, j) in (start..end).enumerate() {
                if k > 0 {
                    out.push(',');
                }
                let mut key = String::new();
                match str_at(a.keys().as_ref(), j) {
                    Some(s) => key.push_str(s),
                    None => write_json(a.keys().as_ref(), j, &mut key)?,
                }
                quoted(&key, out);
                out.push(':');
                write_json(a.values().as_ref(), j, out)?;
            }
            out.push('}');
        }
        ArrowType::List(_) | ArrowType::LargeList(_) | ArrowType::FixedSizeList(..) => {
            let (child, ranges) = list_parts(array).ok_or("not a list")?;
            let (start, end) = ranges.get(i).copied().ok_or("list offsets out of bounds")?;
            out.push('[');
            for (k, j) in (start..end).enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write_json(child.as_ref(), j, out)?;
            }
            out.push(']');
        }
        ArrowType::Dictionary(..) => {
            let a = array.as_any_dictionary_opt().ok_or("not a dictionary")?;
            let keys = a.normalized_keys();
            let k = keys.get(i).copied().ok_or("dictionary key out of bounds")?;
            write_json(a.values().as_ref(), k, out)?;
        }
        _ => {
            let dt = engine_type(&Field::new("", array.data_type().clone(), true), None)?;
            let sliced = array.slice(i, 1);
            let v = decode(sliced.as_ref(), &dt)?
                .into_iter()
                .next()
                .unwrap_or(Value::Null);
            match v {
                Value::Null => out.push_str("null"),
                Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                Value::Int16(x) => {
                    let _ = write!(out, "{x}");
                }
                Value::Int32(x) => {
                    let _ = write!(out, "{x}");
                }
                Value::Int64(x) => {
                    let _ = write!(out, "{x}");
                }
                Value::Float32(x) if x.is_finite() => {
                    let _ = write!(out, "{x}");
                }
                Value::Float64(x) if x.is_finite() => {
                    let _ = write!(out, "{x}");
                }
                Value::Numeric(s)
                    if s.bytes()
                        .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.') =>
                {
                    out.push_str(&s)
                }
                Value::Bytes(b) => {
                    quoted(&base64::engine::general_purpose::STANDARD.encode(b), out)
                }
                Value::Json(s) => out.push_str(&s),
                other => quoted(&other.to_text().unwrap_or_default(), out),
            }
        }
    }
    Ok(())
}
