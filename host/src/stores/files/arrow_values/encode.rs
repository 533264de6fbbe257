//! Engine values into arrow arrays, one column at a time, as the writer-side plan's [`Enc`]
//! says: integers range-checked, numerics into decimals of the declared precision and scale,
//! dates and timestamps moved to arrow's 1970 epoch, one-dimensional arrays into lists. A value
//! of the wrong kind is an error message naming what was expected and found.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, ListArray, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType as ArrowType, Field};

use super::write::{arrow_type_of, Enc};
use super::{EPOCH_DAYS, EPOCH_MICROS, MONEY_PRECISION, MONEY_SCALE};
use crate::types::schema::DataType;
use crate::types::text_form::TextForm;
use crate::types::value::{ArrayValue, Value};

/// Builds one arrow column from its cells.
pub(super) fn build(enc: &Enc, arrow: &ArrowType, cells: &[&Value]) -> Result<ArrayRef, String> {
    Ok(match enc {
        Enc::Bool => Arc::new(typed::<BooleanArray, _>(cells, "a boolean", |v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        })?),
        Enc::Int16 => Arc::new(narrowed::<Int16Array, i16>(cells, "smallint")?),
        Enc::Int32 => Arc::new(narrowed::<Int32Array, i32>(cells, "integer")?),
        Enc::Int64 => Arc::new(
            cells
                .iter()
                .map(|v| int_of(v))
                .collect::<Result<Int64Array, _>>()?,
        ),
        Enc::Float32 => Arc::new(typed::<Float32Array, _>(cells, "a real", |v| match v {
            Value::Float32(f) => Some(*f),
            _ => None,
        })?),
        Enc::Float64 => Arc::new(typed::<Float64Array, _>(cells, "a double", |v| match v {
            Value::Float64(f) => Some(*f),
            Value::Float32(f) => Some(f64::from(*f)),
            _ => None,
        })?),
        Enc::Decimal { precision, scale } => Arc::new(
            cells
                .iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    Value::Numeric(s) => decimal_of(s, *precision, *scale).map(Some),
                    Value::Int16(i) => decimal_of(&i.to_string(), *precision, *scale).map(Some),
                    Value::Int32(i) => decimal_of(&i.to_string(), *precision, *scale).map(Some),
                    Value::Int64(i) => decimal_of(&i.to_string(), *precision, *scale).map(Some),
                    other => Err(mismatch("a numeric", other)),
                })
                .collect::<Result<Decimal128Array, _>>()?
                .with_precision_and_scale(*precision, *scale)
                .map_err(|e| e.to_string())?,
        ),
        Enc::Money => Arc::new(
            typed::<Decimal128Array, _>(cells, "a money amount", |v| match v {
                Value::Money(cents) => Some(i128::from(*cents)),
                _ => None,
            })?
            .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
            .map_err(|e| e.to_string())?,
        ),
        Enc::Text => {
            let mut scratch = String::new();
            let mut out = arrow_array::builder::StringBuilder::with_capacity(
                cells.len(),
                cells.iter().map(|v| v.byte_size()).sum(),
            );
            for v in cells {
                match v {
                    Value::Null => out.append_null(),
                    Value::Text(s) | Value::Json(s) | Value::Numeric(s) => out.append_value(s),
                    other => {
                        scratch.clear();
                        other.write_text(&mut scratch);
                        out.append_value(&scratch);
                    }
                }
            }
            Arc::new(out.finish())
        }
        Enc::Bytes => Arc::new(typed::<BinaryArray, _>(cells, "bytes", |v| match v {
            Value::Bytes(b) => Some(b.as_slice()),
            _ => None,
        })?),
        Enc::Uuid => {
            let mut out =
                arrow_array::builder::FixedSizeBinaryBuilder::with_capacity(cells.len(), 16);
            for v in cells {
                match v {
                    Value::Null => out.append_null(),
                    Value::Uuid(u) => out.append_value(u).map_err(|e| e.to_string())?,
                    other => return Err(mismatch("a uuid", other)),
                }
            }
            Arc::new(out.finish())
        }
        Enc::Date => Arc::new(typed::<Date32Array, _>(cells, "a date", |v| match v {
            Value::Date(d) => Some(date_to_arrow(*d)),
            _ => None,
        })?),
        Enc::Time => Arc::new(typed::<Time64MicrosecondArray, _>(
            cells,
            "a time",
            |v| match v {
                Value::Time(t) => Some(*t),
                _ => None,
            },
        )?),
        Enc::Timestamp | Enc::TimestampTz => {
            let array = cells
                .iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    Value::Timestamp(t) | Value::TimestampTz(t) => {
                        timestamp_to_arrow(*t).map(Some).ok_or_else(|| {
                            format!(
                                "{} is beyond the latest timestamp a Parquet file holds (294247-01-10)",
                                v.to_text().unwrap_or_default()
                            )
                        })
                    }
                    other => Err(mismatch("a timestamp", other)),
                })
                .collect::<Result<TimestampMicrosecondArray, _>>()?;
            Arc::new(if *enc == Enc::TimestampTz {
                array.with_timezone("UTC")
            } else {
                array
            })
        }
        Enc::List(inner) => {
            let mut offsets = Vec::with_capacity(cells.len() + 1);
            let mut valid = Vec::with_capacity(cells.len());
            let mut elements: Vec<&Value> = Vec::new();
            offsets.push(0i32);
            for v in cells {
                match v {
                    Value::Null => valid.push(false),
                    Value::Array(a) => {
                        check_flat(a)?;
                        elements.extend(a.elements.iter());
                        valid.push(true);
                    }
                    other => return Err(mismatch("an array", other)),
                }
                let end = i32::try_from(elements.len())
                    .map_err(|_| "more than 2^31 array elements in one batch".to_string())?;
                offsets.push(end);
            }
            let field = match arrow {
                ArrowType::List(f) => f.clone(),
                _ => Arc::new(Field::new("item", arrow_type_of(inner, ""), true)),
            };
            let values = build(inner, field.data_type(), &elements)?;
            let nulls = NullBuffer::from(valid);
            Arc::new(
                ListArray::try_new(
                    field,
                    OffsetBuffer::new(offsets.into()),
                    values,
                    (nulls.null_count() > 0).then_some(nulls),
                )
                .map_err(|e| e.to_string())?,
            )
        }
    })
}

/// A Parquet list is one-dimensional and starts at index 1; anything else would lose its shape.
fn check_flat(a: &ArrayValue) -> Result<(), String> {
    match a.dims.as_slice() {
        [] | [(_, 1)] => Ok(()),
        [(_, lower)] => Err(format!(
            "an array with lower bound {lower} cannot be stored in a Parquet list without losing its bounds; \
             read the column as text in the source query (for example `col::text AS col`) to keep it"
        )),
        dims => Err(format!(
            "a {}-dimensional array cannot be stored in a Parquet list without losing its shape; \
             read the column as text in the source query (for example `col::text AS col`) to keep it",
            dims.len()
        )),
    }
}

/// One column from cells of a single kind: NULL stays null, `of` converts every other cell
/// and returns `None` for a cell of another kind, which is reported as not being `expected`.
fn typed<'a, A, T>(
    cells: &[&'a Value],
    expected: &str,
    of: impl Fn(&'a Value) -> Option<T>,
) -> Result<A, String>
where
    A: FromIterator<Option<T>>,
{
    cells
        .iter()
        .map(|&v| match v {
            Value::Null => Ok(None),
            v => of(v).map(Some).ok_or_else(|| mismatch(expected, v)),
        })
        .collect()
}

/// An integer column narrower than bigint, refusing values that do not fit `ty`.
fn narrowed<A, T>(cells: &[&Value], ty: &str) -> Result<A, String>
where
    A: FromIterator<Option<T>>,
    T: TryFrom<i64>,
{
    cells
        .iter()
        .map(|&v| {
            int_of(v).and_then(|o| {
                o.map(T::try_from)
                    .transpose()
                    .map_err(|_| out_of_range(v, ty))
            })
        })
        .collect()
}

fn mismatch(expected: &str, found: &Value) -> String {
    format!(
        "expected {expected}, found {}",
        crate::types::schema::DataType::interim_name(&data_type_of_value(found))
    )
}

fn out_of_range(v: &Value, ty: &str) -> String {
    format!(
        "{} is out of range for {ty}",
        v.to_text().unwrap_or_default()
    )
}

fn int_of(v: &Value) -> Result<Option<i64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Int16(i) => Ok(Some(i64::from(*i))),
        Value::Int32(i) => Ok(Some(i64::from(*i))),
        Value::Int64(i) => Ok(Some(*i)),
        other => Err(mismatch("an integer", other)),
    }
}

/// The engine type a value belongs to, for messages.
fn data_type_of_value(v: &Value) -> DataType {
    match v {
        Value::Null | Value::Text(_) => DataType::Text,
        Value::Bool(_) => DataType::Bool,
        Value::Int16(_) => DataType::Int16,
        Value::Int32(_) => DataType::Int32,
        Value::Int64(_) => DataType::Int64,
        Value::Float32(_) => DataType::Float32,
        Value::Float64(_) => DataType::Float64,
        Value::Numeric(_) => DataType::Numeric,
        Value::Money(_) => DataType::Money,
        Value::Bytes(_) => DataType::Bytes,
        Value::Uuid(_) => DataType::Uuid,
        Value::Json(_) => DataType::Json,
        Value::Date(_) => DataType::Date,
        Value::Time(_) => DataType::Time,
        Value::TimeTz { .. } => DataType::TimeTz,
        Value::Timestamp(_) => DataType::Timestamp,
        Value::TimestampTz(_) => DataType::TimestampTz,
        Value::Interval { .. } => DataType::Interval,
        Value::Inet { .. } => DataType::Inet,
        Value::MacAddr(_) => DataType::MacAddr,
        Value::Array(_) => DataType::Array(Box::new(DataType::Text)),
        Value::Range(_) => DataType::Range(Box::new(DataType::Text)),
    }
}

/// Engine days since 2000 to arrow days since 1970; the infinities become `i32::MAX`/`MIN`
/// (no real PostgreSQL date comes near them).
fn date_to_arrow(d: i32) -> i32 {
    match d {
        i32::MAX | i32::MIN => d,
        _ => d.saturating_add(EPOCH_DAYS),
    }
}

/// Engine microseconds since 2000 to arrow microseconds since 1970; the infinities become
/// `i64::MAX`/`MIN`. `None` for the last ~30 years before PostgreSQL's limit of 294276 AD.
fn timestamp_to_arrow(t: i64) -> Option<i64> {
    match t {
        i64::MAX | i64::MIN => Some(t),
        _ => t.checked_add(EPOCH_MICROS).filter(|v| *v != i64::MAX),
    }
}

/// Parses a decimal's text form into an unscaled integer of the given precision and scale.
fn decimal_of(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let bad = || {
        format!("{text} does not fit a Parquet DECIMAL({precision},{scale}) (NaN and infinities cannot be stored in a decimal column)")
    };
    let (negative, digits) = match text.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.trim().trim_start_matches('+')),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let scale_digits = usize::try_from(scale).map_err(|_| bad())?;
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > scale_digits {
        return Err(bad());
    }
    let int_trimmed = int_part.trim_start_matches('0');
    if int_trimmed.len() + scale_digits > usize::from(precision) {
        return Err(bad());
    }
    let mut unscaled: i128 = 0;
    let frac_padded = frac_trimmed
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(scale_digits);
    for b in int_trimmed.bytes().chain(frac_padded) {
        unscaled = unscaled
            .checked_mul(10)
            .and_then(|u| u.checked_add(i128::from(b - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if negative { -unscaled } else { unscaled })
}
