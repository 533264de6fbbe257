//! Conversions between the WIT columnar batch and the SDK's rows of [`Value`]s.
//!
//! Both directions pre-size every vector and are lossless: every WIT case has exactly one `Value`
//! variant and back. Fixed-width values move between lists and rows; the values of a
//! variable-length column (`numeric`, `text`, `json`, `bytes`) are copied out of, or appended
//! to, its one `var-column` buffer (see [`crate::var_column`]), whose UTF-8 is checked once per
//! column. The WIT gives `uuid` and `macaddr` no byte order of their own; their encodings are
//! `sluice_value_model::wit_encoding`'s, the ones the host uses:
//! - `uuid` is `tuple<u64, u64>`: the first 8 bytes big-endian, then the last 8 big-endian;
//! - `macaddr` is a `u64` holding the 6 bytes big-endian in its low 48 bits.
//!
//! Going back to columns, a value must have its column's type, except for these lossless
//! widenings (so a plugin may write `Value::Int64(n)` into an `int32` column when `n` fits):
//! integers into any integer type they fit, integers into `float64` up to 2^53 and into
//! `numeric`, `float32` into `float64`, `float64` into `float32` when exact, floats into
//! `numeric`, `text` into `json` (the text must be a JSON document) and `json` into `text`.

use std::net::IpAddr;

use sluice_value_model::wit_encoding::{
    ip_from_octets, ip_to_octets, mac_from_u64, mac_to_u64, uuid_from_pair, uuid_to_pair,
};

use crate::bindings::sluice::plugin::types as wit;
use crate::value::{ArrayValue, Column, DataType, RangeValue, ScalarType, Value};
use crate::var_column::VarColumnBuilder;

/// WIT scalar-type to the SDK's.
pub fn scalar_type_from_wit(t: wit::ScalarType) -> ScalarType {
    use wit::ScalarType as W;
    match t {
        W::Boolean => ScalarType::Boolean,
        W::Int16 => ScalarType::Int16,
        W::Int32 => ScalarType::Int32,
        W::Int64 => ScalarType::Int64,
        W::Float32 => ScalarType::Float32,
        W::Float64 => ScalarType::Float64,
        W::Numeric => ScalarType::Numeric,
        W::Money => ScalarType::Money,
        W::Text => ScalarType::Text,
        W::Bytes => ScalarType::Bytes,
        W::Uuid => ScalarType::Uuid,
        W::Json => ScalarType::Json,
        W::Date => ScalarType::Date,
        W::Time => ScalarType::Time,
        W::Timetz => ScalarType::TimeTz,
        W::Timestamp => ScalarType::Timestamp,
        W::Timestamptz => ScalarType::TimestampTz,
        W::Interval => ScalarType::Interval,
        W::Inet => ScalarType::Inet,
        W::Macaddr => ScalarType::MacAddr,
    }
}

/// The SDK's scalar type to the WIT's.
pub fn scalar_type_to_wit(t: ScalarType) -> wit::ScalarType {
    use wit::ScalarType as W;
    match t {
        ScalarType::Boolean => W::Boolean,
        ScalarType::Int16 => W::Int16,
        ScalarType::Int32 => W::Int32,
        ScalarType::Int64 => W::Int64,
        ScalarType::Float32 => W::Float32,
        ScalarType::Float64 => W::Float64,
        ScalarType::Numeric => W::Numeric,
        ScalarType::Money => W::Money,
        ScalarType::Text => W::Text,
        ScalarType::Bytes => W::Bytes,
        ScalarType::Uuid => W::Uuid,
        ScalarType::Json => W::Json,
        ScalarType::Date => W::Date,
        ScalarType::Time => W::Time,
        ScalarType::TimeTz => W::Timetz,
        ScalarType::Timestamp => W::Timestamp,
        ScalarType::TimestampTz => W::Timestamptz,
        ScalarType::Interval => W::Interval,
        ScalarType::Inet => W::Inet,
        ScalarType::MacAddr => W::Macaddr,
    }
}

pub fn column_from_wit(c: wit::Column) -> Column {
    let data_type = match c.data_type {
        wit::DataType::Scalar(t) => DataType::Scalar(scalar_type_from_wit(t)),
        wit::DataType::Array(t) => DataType::Array(scalar_type_from_wit(t)),
        wit::DataType::Range(t) => DataType::Range(scalar_type_from_wit(t)),
    };
    Column {
        name: c.name,
        data_type,
        type_name: c.type_name,
    }
}

pub fn column_to_wit(c: &Column) -> wit::Column {
    let data_type = match c.data_type {
        DataType::Scalar(t) => wit::DataType::Scalar(scalar_type_to_wit(t)),
        DataType::Array(t) => wit::DataType::Array(scalar_type_to_wit(t)),
        DataType::Range(t) => wit::DataType::Range(scalar_type_to_wit(t)),
    };
    wit::Column {
        name: c.name.clone(),
        data_type,
        type_name: c.type_name.clone(),
    }
}

/// A WIT inet with an address of neither 4 nor 16 bytes is malformed input from the host.
fn inet_from_wit(i: wit::Inet) -> Result<Value, String> {
    let Some(addr) = ip_from_octets(&i.addr) else {
        let n = i.addr.len();
        return Err(format!("inet address of {n} bytes (expected 4 or 16)"));
    };
    Ok(Value::Inet {
        addr,
        prefix: i.prefix,
        cidr: i.cidr,
    })
}

fn inet_to_wit(addr: IpAddr, prefix: u8, cidr: bool) -> wit::Inet {
    wit::Inet {
        addr: ip_to_octets(addr),
        prefix,
        cidr,
    }
}

/// A WIT scalar (an array element or range bound) to a `Value`.
pub fn scalar_from_wit(s: wit::Scalar) -> Result<Value, String> {
    use wit::Scalar as S;
    Ok(match s {
        S::Boolean(v) => Value::Bool(v),
        S::Int16(v) => Value::Int16(v),
        S::Int32(v) => Value::Int32(v),
        S::Int64(v) => Value::Int64(v),
        S::Float32(v) => Value::Float32(v),
        S::Float64(v) => Value::Float64(v),
        S::Numeric(v) => Value::Numeric(v),
        S::Money(v) => Value::Money(v),
        S::Text(v) => Value::Text(v),
        S::Bytes(v) => Value::Bytes(v),
        S::Uuid(v) => Value::Uuid(uuid_from_pair(v)),
        S::Json(v) => Value::Json(v),
        S::Date(v) => Value::Date(v),
        S::Time(v) => Value::Time(v),
        S::Timetz(v) => Value::TimeTz {
            micros: v.micros,
            offset_secs: v.offset_secs,
        },
        S::Timestamp(v) => Value::Timestamp(v),
        S::Timestamptz(v) => Value::TimestampTz(v),
        S::Interval(v) => Value::Interval {
            months: v.months,
            days: v.days,
            micros: v.micros,
        },
        S::Inet(v) => inet_from_wit(v)?,
        S::Macaddr(v) => Value::MacAddr(mac_from_u64(v)),
    })
}

/// A non-null leaf `Value` to a WIT scalar; arrays and ranges cannot nest.
pub fn scalar_to_wit(v: Value) -> Result<wit::Scalar, Value> {
    use wit::Scalar as S;
    Ok(match v {
        Value::Bool(v) => S::Boolean(v),
        Value::Int16(v) => S::Int16(v),
        Value::Int32(v) => S::Int32(v),
        Value::Int64(v) => S::Int64(v),
        Value::Float32(v) => S::Float32(v),
        Value::Float64(v) => S::Float64(v),
        Value::Numeric(v) => S::Numeric(v),
        Value::Money(v) => S::Money(v),
        Value::Text(v) => S::Text(v),
        Value::Bytes(v) => S::Bytes(v),
        Value::Uuid(v) => S::Uuid(uuid_to_pair(v)),
        Value::Json(v) => S::Json(v),
        Value::Date(v) => S::Date(v),
        Value::Time(v) => S::Time(v),
        Value::TimeTz {
            micros,
            offset_secs,
        } => S::Timetz(wit::Timetz {
            micros,
            offset_secs,
        }),
        Value::Timestamp(v) => S::Timestamp(v),
        Value::TimestampTz(v) => S::Timestamptz(v),
        Value::Interval {
            months,
            days,
            micros,
        } => S::Interval(wit::Interval {
            months,
            days,
            micros,
        }),
        Value::Inet { addr, prefix, cidr } => S::Inet(inet_to_wit(addr, prefix, cidr)),
        Value::MacAddr(m) => S::Macaddr(mac_to_u64(m)),
        other @ (Value::Null | Value::Array(_) | Value::Range(_)) => return Err(other),
    })
}

fn array_from_wit(a: wit::ArrayValue) -> Result<Value, String> {
    let mut elements = Vec::with_capacity(a.elements.len());
    for e in a.elements {
        elements.push(match e {
            None => Value::Null,
            Some(s) => scalar_from_wit(s)?,
        });
    }
    Ok(Value::Array(Box::new(ArrayValue {
        dims: a.dims,
        elements,
    })))
}

fn range_from_wit(r: wit::RangeValue) -> Result<Value, String> {
    Ok(Value::Range(Box::new(RangeValue {
        empty: r.empty,
        lower: r.lower.map(scalar_from_wit).transpose()?,
        upper: r.upper.map(scalar_from_wit).transpose()?,
        lower_inclusive: r.lower_inclusive,
        upper_inclusive: r.upper_inclusive,
    })))
}

/// Turns a WIT batch into rows (one `Vec<Value>` per row, in schema order): fixed-width values
/// are moved, var-column values copied out of their buffer.
///
/// Errors when the batch does not have `num_columns` columns, a column's lists do not have
/// `num_rows` entries or a `var-column` is malformed: that is a host bug, reported rather than
/// trusted.
pub fn batch_to_rows(batch: wit::Batch, num_columns: usize) -> Result<Vec<Vec<Value>>, String> {
    let n = batch.num_rows as usize;
    if batch.columns.len() != num_columns {
        return Err(format!(
            "batch has {} columns, the input schema has {num_columns}",
            batch.columns.len()
        ));
    }
    let mut rows: Vec<Vec<Value>> = (0..n).map(|_| Vec::with_capacity(num_columns)).collect();
    for (c, col) in batch.columns.into_iter().enumerate() {
        let nulls = col.nulls;
        if !nulls.is_empty() && nulls.len() != n {
            return Err(format!(
                "column {c}: {} null flags for {n} rows",
                nulls.len()
            ));
        }
        fill_column(&mut rows, c, &nulls, col.values)?;
    }
    Ok(rows)
}

/// Appends one column's values to each row.
fn fill_column(
    rows: &mut [Vec<Value>],
    c: usize,
    nulls: &[bool],
    values: wit::ColumnValues,
) -> Result<(), String> {
    use wit::ColumnValues as C;
    let n = rows.len();
    let is_null = |i: usize| nulls.get(i).copied().unwrap_or(false);
    macro_rules! fill {
        ($list:expr, |$v:ident| $conv:expr) => {{
            let list = $list;
            if list.len() != n {
                return Err(format!("column {c}: {} values for {n} rows", list.len()));
            }
            for (i, ($v, row)) in list.into_iter().zip(rows.iter_mut()).enumerate() {
                row.push(if is_null(i) { Value::Null } else { $conv });
            }
        }};
    }
    match values {
        C::Boolean(l) => fill!(l, |v| Value::Bool(v)),
        C::Int16(l) => fill!(l, |v| Value::Int16(v)),
        C::Int32(l) => fill!(l, |v| Value::Int32(v)),
        C::Int64(l) => fill!(l, |v| Value::Int64(v)),
        C::Float32(l) => fill!(l, |v| Value::Float32(v)),
        C::Float64(l) => fill!(l, |v| Value::Float64(v)),
        C::Numeric(l) => fill_text(rows, c, nulls, l, Value::Numeric)?,
        C::Money(l) => fill!(l, |v| Value::Money(v)),
        C::Text(l) => fill_text(rows, c, nulls, l, Value::Text)?,
        C::Bytes(l) => fill_bytes(rows, c, nulls, l)?,
        C::Uuid(l) => fill!(l, |v| Value::Uuid(uuid_from_pair(v))),
        C::Json(l) => fill_text(rows, c, nulls, l, Value::Json)?,
        C::Date(l) => fill!(l, |v| Value::Date(v)),
        C::Time(l) => fill!(l, |v| Value::Time(v)),
        C::Timetz(l) => fill!(l, |v| Value::TimeTz {
            micros: v.micros,
            offset_secs: v.offset_secs
        }),
        C::Timestamp(l) => fill!(l, |v| Value::Timestamp(v)),
        C::Timestamptz(l) => fill!(l, |v| Value::TimestampTz(v)),
        C::Interval(l) => fill!(l, |v| Value::Interval {
            months: v.months,
            days: v.days,
            micros: v.micros
        }),
        C::Inet(l) => fill!(l, |v| inet_from_wit(v)
            .map_err(|e| format!("column {c}: {e}"))?),
        C::Macaddr(l) => fill!(l, |v| Value::MacAddr(mac_from_u64(v))),
        C::Array(l) => fill!(l, |v| array_from_wit(v)
            .map_err(|e| format!("column {c}: {e}"))?),
        C::Range(l) => fill!(l, |v| range_from_wit(v)
            .map_err(|e| format!("column {c}: {e}"))?),
    }
    Ok(())
}

/// Appends one text-like `var-column`'s values to each row: the buffer is checked as UTF-8 once
/// and each value is a copied slice of it.
fn fill_text(
    rows: &mut [Vec<Value>],
    c: usize,
    nulls: &[bool],
    col: wit::VarColumn,
    f: fn(String) -> Value,
) -> Result<(), String> {
    col.check(rows.len())
        .map_err(|e| format!("column {c}: {e}"))?;
    let wit::VarColumn { data, offsets } = col;
    let text = String::from_utf8(data).map_err(|e| {
        format!(
            "column {c}: var-column is not UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    for (i, (w, row)) in offsets.windows(2).zip(rows.iter_mut()).enumerate() {
        if nulls.get(i).copied().unwrap_or(false) {
            row.push(Value::Null);
            continue;
        }
        let &[start, end] = w else { continue };
        let s = text.get(start as usize..end as usize).ok_or_else(|| {
            format!("column {c}, row {i}: value starts or ends inside a UTF-8 character")
        })?;
        row.push(f(s.to_owned()));
    }
    Ok(())
}

/// Appends one `bytes` `var-column`'s values to each row, copying each slice.
fn fill_bytes(
    rows: &mut [Vec<Value>],
    c: usize,
    nulls: &[bool],
    col: wit::VarColumn,
) -> Result<(), String> {
    col.check(rows.len())
        .map_err(|e| format!("column {c}: {e}"))?;
    for (i, (w, row)) in col.offsets.windows(2).zip(rows.iter_mut()).enumerate() {
        if nulls.get(i).copied().unwrap_or(false) {
            row.push(Value::Null);
            continue;
        }
        let &[start, end] = w else { continue };
        let b = col
            .data
            .get(start as usize..end as usize)
            .ok_or_else(|| format!("column {c}, row {i}: value outside the var-column"))?;
        row.push(Value::Bytes(b.to_vec()));
    }
    Ok(())
}

/// Turns rows (each with one value per output column) into a WIT batch: fixed-width values are
/// moved, text and bytes appended to their column's var-column buffer.
///
/// Errors name the column, the row and the value's kind when a row has the wrong number of
/// values or a value does not fit its column's type (see the module doc for the widenings).
pub fn rows_to_batch(mut rows: Vec<Vec<Value>>, schema: &[Column]) -> Result<wit::Batch, String> {
    for (r, row) in rows.iter().enumerate() {
        if row.len() != schema.len() {
            return Err(format!(
                "output row {r} has {} values, the output schema has {} columns",
                row.len(),
                schema.len()
            ));
        }
    }
    let num_rows = u32::try_from(rows.len())
        .map_err(|_| format!("output batch of {} rows is too large", rows.len()))?;
    let mut columns = Vec::with_capacity(schema.len());
    for (c, col) in schema.iter().enumerate() {
        columns.push(build_column(&mut rows, c, col)?);
    }
    Ok(wit::Batch { num_rows, columns })
}

fn mismatch(col: &Column, r: usize, v: &Value) -> String {
    format!(
        "output column \"{}\" ({}), row {r}: a {} value does not fit",
        col.name,
        col.data_type,
        v.kind()
    )
}

/// Builds one WIT column from the `c`-th value of every row.
fn build_column(
    rows: &mut [Vec<Value>],
    c: usize,
    col: &Column,
) -> Result<wit::ColumnData, String> {
    use wit::ColumnValues as C;
    let n = rows.len();
    let mut nulls: Vec<bool> = Vec::new();
    macro_rules! build {
        ($variant:ident, $placeholder:expr, $conv:expr) => {{
            let mut out = Vec::with_capacity(n);
            for (r, row) in rows.iter_mut().enumerate() {
                match std::mem::take(&mut row[c]) {
                    Value::Null => {
                        if nulls.is_empty() {
                            nulls.resize(n, false);
                        }
                        nulls[r] = true;
                        out.push($placeholder);
                    }
                    v => match $conv(v) {
                        Ok(x) => out.push(x),
                        Err(v) => return Err(mismatch(col, r, &v)),
                    },
                }
            }
            C::$variant(out)
        }};
    }
    // A variable-length column: each value's bytes are appended to one buffer.
    macro_rules! build_var {
        ($variant:ident, $conv:expr) => {{
            let bytes = rows.iter().map(|row| var_len(&row[c])).sum();
            let mut out = VarColumnBuilder::with_capacity(n, bytes);
            for (r, row) in rows.iter_mut().enumerate() {
                match std::mem::take(&mut row[c]) {
                    Value::Null => out.push_null(),
                    v => match $conv(v) {
                        Ok(x) => out.push(AsRef::<[u8]>::as_ref(&x)),
                        Err(v) => return Err(mismatch(col, r, &v)),
                    },
                }
            }
            let (var, var_nulls) = out
                .finish()
                .map_err(|e| format!("output column \"{}\": {e}", col.name))?;
            nulls = var_nulls;
            C::$variant(var)
        }};
    }
    let values = match col.data_type {
        DataType::Scalar(t) => match t {
            ScalarType::Boolean => build!(Boolean, false, |v| match v {
                Value::Bool(b) => Ok(b),
                v => Err(v),
            }),
            ScalarType::Int16 => build!(Int16, 0, to_int::<i16>),
            ScalarType::Int32 => build!(Int32, 0, to_int::<i32>),
            ScalarType::Int64 => build!(Int64, 0, to_int::<i64>),
            ScalarType::Float32 => build!(Float32, 0.0, to_f32),
            ScalarType::Float64 => build!(Float64, 0.0, to_f64),
            ScalarType::Numeric => build_var!(Numeric, to_numeric),
            ScalarType::Money => build!(Money, 0, |v| match v {
                Value::Money(m) => Ok(m),
                v => Err(v),
            }),
            ScalarType::Text => build_var!(Text, |v| match v {
                Value::Text(s) | Value::Json(s) => Ok(s),
                v => Err(v),
            }),
            ScalarType::Bytes => build_var!(Bytes, |v| match v {
                Value::Bytes(b) => Ok(b),
                v => Err(v),
            }),
            ScalarType::Uuid => build!(Uuid, (0, 0), |v| match v {
                Value::Uuid(u) => Ok(uuid_to_pair(u)),
                v => Err(v),
            }),
            ScalarType::Json => build_var!(Json, |v| match v {
                Value::Json(s) | Value::Text(s) => Ok(s),
                v => Err(v),
            }),
            ScalarType::Date => build!(Date, 0, |v| match v {
                Value::Date(d) => Ok(d),
                v => Err(v),
            }),
            ScalarType::Time => build!(Time, 0, |v| match v {
                Value::Time(t) => Ok(t),
                v => Err(v),
            }),
            ScalarType::TimeTz => build!(
                Timetz,
                wit::Timetz {
                    micros: 0,
                    offset_secs: 0
                },
                |v| match v {
                    Value::TimeTz {
                        micros,
                        offset_secs,
                    } => Ok(wit::Timetz {
                        micros,
                        offset_secs,
                    }),
                    v => Err(v),
                }
            ),
            ScalarType::Timestamp => build!(Timestamp, 0, |v| match v {
                Value::Timestamp(t) => Ok(t),
                v => Err(v),
            }),
            ScalarType::TimestampTz => build!(Timestamptz, 0, |v| match v {
                Value::TimestampTz(t) => Ok(t),
                v => Err(v),
            }),
            ScalarType::Interval => build!(
                Interval,
                wit::Interval {
                    months: 0,
                    days: 0,
                    micros: 0
                },
                |v| match v {
                    Value::Interval {
                        months,
                        days,
                        micros,
                    } => Ok(wit::Interval {
                        months,
                        days,
                        micros,
                    }),
                    v => Err(v),
                }
            ),
            ScalarType::Inet => build!(
                Inet,
                wit::Inet {
                    addr: vec![0; 4],
                    prefix: 0,
                    cidr: false
                },
                |v| match v {
                    Value::Inet { addr, prefix, cidr } => Ok(inet_to_wit(addr, prefix, cidr)),
                    v => Err(v),
                }
            ),
            ScalarType::MacAddr => build!(Macaddr, 0, |v| match v {
                Value::MacAddr(m) => Ok(mac_to_u64(m)),
                v => Err(v),
            }),
        },
        DataType::Array(t) => build!(
            Array,
            wit::ArrayValue {
                dims: Vec::new(),
                elements: Vec::new()
            },
            |v| to_wit_array(v, t)
        ),
        DataType::Range(t) => build!(
            Range,
            wit::RangeValue {
                empty: true,
                lower: None,
                upper: None,
                lower_inclusive: false,
                upper_inclusive: false
            },
            |v| to_wit_range(v, t)
        ),
    };
    Ok(wit::ColumnData { nulls, values })
}

/// The bytes a value adds to a `var-column` when it is already text or bytes (a guess of 0
/// for numbers that become `numeric` text): what the buffer is sized by up front.
fn var_len(v: &Value) -> usize {
    match v {
        Value::Numeric(s) | Value::Text(s) | Value::Json(s) => s.len(),
        Value::Bytes(b) => b.len(),
        _ => 0,
    }
}

/// An integer value into the integer type `T`, when it fits.
fn to_int<T: TryFrom<i64>>(v: Value) -> Result<T, Value> {
    match v.as_i64() {
        Some(i) => T::try_from(i).map_err(|_| v),
        None => Err(v),
    }
}

fn to_f32(v: Value) -> Result<f32, Value> {
    match v {
        Value::Float32(f) => Ok(f),
        Value::Float64(f) if f.is_nan() || f64::from(f as f32) == f => Ok(f as f32),
        v => Err(v),
    }
}

/// 2^53: every integer up to it has an exact `f64`.
const F64_EXACT_INT: i64 = 1 << 53;

fn to_f64(v: Value) -> Result<f64, Value> {
    match v {
        Value::Float64(f) => Ok(f),
        Value::Float32(f) => Ok(f.into()),
        Value::Int16(i) => Ok(i.into()),
        Value::Int32(i) => Ok(i.into()),
        Value::Int64(i) if (-F64_EXACT_INT..=F64_EXACT_INT).contains(&i) => Ok(i as f64),
        v => Err(v),
    }
}

/// Numbers in PostgreSQL's numeric text form (`NaN`, `Infinity`, `-Infinity` for floats).
fn to_numeric(v: Value) -> Result<String, Value> {
    fn float_text(f: f64) -> String {
        if f.is_nan() {
            "NaN".into()
        } else if f.is_infinite() {
            if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
        } else {
            // Display never uses an exponent and prints the shortest round-tripping digits.
            format!("{f}")
        }
    }
    match v {
        Value::Numeric(s) => Ok(s),
        Value::Int16(i) => Ok(i.to_string()),
        Value::Int32(i) => Ok(i.to_string()),
        Value::Int64(i) => Ok(i.to_string()),
        Value::Float64(f) => Ok(float_text(f)),
        // Through the f32's own shortest text, so 0.1f32 is "0.1", not 0.100000001490116.
        Value::Float32(f) if f.is_finite() => Ok(format!("{f}")),
        Value::Float32(f) => Ok(float_text(f.into())),
        v => Err(v),
    }
}

/// Coerces one array element or range bound to the leaf type `t` (same rules as columns).
fn to_wit_scalar(v: Value, t: ScalarType) -> Result<wit::Scalar, Value> {
    use wit::Scalar as S;
    let matches = v.scalar_type() == Some(t);
    if matches {
        return scalar_to_wit(v);
    }
    Ok(match t {
        ScalarType::Int16 => S::Int16(to_int(v)?),
        ScalarType::Int32 => S::Int32(to_int(v)?),
        ScalarType::Int64 => S::Int64(to_int(v)?),
        ScalarType::Float32 => S::Float32(to_f32(v)?),
        ScalarType::Float64 => S::Float64(to_f64(v)?),
        ScalarType::Numeric => S::Numeric(to_numeric(v)?),
        ScalarType::Text => match v {
            Value::Json(s) => S::Text(s),
            v => return Err(v),
        },
        ScalarType::Json => match v {
            Value::Text(s) => S::Json(s),
            v => return Err(v),
        },
        _ => return Err(v),
    })
}

fn to_wit_array(v: Value, t: ScalarType) -> Result<wit::ArrayValue, Value> {
    let a = match v {
        Value::Array(a) => *a,
        v => return Err(v),
    };
    let mut elements = Vec::with_capacity(a.elements.len());
    for e in a.elements {
        elements.push(match e {
            Value::Null => None,
            e => Some(to_wit_scalar(e, t)?),
        });
    }
    Ok(wit::ArrayValue {
        dims: a.dims,
        elements,
    })
}

fn to_wit_range(v: Value, t: ScalarType) -> Result<wit::RangeValue, Value> {
    let r = match v {
        Value::Range(r) => *r,
        v => return Err(v),
    };
    let bound = |b: Option<Value>| -> Result<Option<wit::Scalar>, Value> {
        match b {
            None | Some(Value::Null) => Ok(None),
            Some(b) => to_wit_scalar(b, t).map(Some),
        }
    };
    Ok(wit::RangeValue {
        empty: r.empty,
        lower: bound(r.lower)?,
        upper: bound(r.upper)?,
        lower_inclusive: r.lower_inclusive,
        upper_inclusive: r.upper_inclusive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(elements: Vec<Value>) -> Value {
        Value::Array(Box::new(ArrayValue {
            dims: vec![(elements.len() as i32, 1)],
            elements,
        }))
    }

    /// One column per WIT case, two rows each: a value and NULL, and the schema that fits.
    fn every_kind() -> (Vec<Column>, Vec<Value>) {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let pairs: Vec<(DataType, Value)> = vec![
            (ScalarType::Boolean.into(), Value::Bool(true)),
            (ScalarType::Int16.into(), Value::Int16(i16::MIN)),
            (ScalarType::Int32.into(), Value::Int32(i32::MAX)),
            (ScalarType::Int64.into(), Value::Int64(i64::MIN)),
            (ScalarType::Float32.into(), Value::Float32(-0.0)),
            (ScalarType::Float64.into(), Value::Float64(f64::INFINITY)),
            (
                ScalarType::Numeric.into(),
                Value::Numeric("-12.3400".into()),
            ),
            (ScalarType::Money.into(), Value::Money(-1234)),
            (ScalarType::Text.into(), Value::Text("héllo\0".into())),
            (ScalarType::Bytes.into(), Value::Bytes(vec![0, 255, 16])),
            (ScalarType::Uuid.into(), Value::Uuid(*b"0123456789abcdef")),
            (
                ScalarType::Json.into(),
                Value::Json(r#"{"a":[1,2]}"#.into()),
            ),
            (ScalarType::Date.into(), Value::Date(i32::MIN)),
            (ScalarType::Time.into(), Value::Time(86_399_999_999)),
            (
                ScalarType::TimeTz.into(),
                Value::TimeTz {
                    micros: 3_600_000_000,
                    offset_secs: -19_800,
                },
            ),
            (ScalarType::Timestamp.into(), Value::Timestamp(i64::MAX)),
            (ScalarType::TimestampTz.into(), Value::TimestampTz(-1)),
            (
                ScalarType::Interval.into(),
                Value::Interval {
                    months: 14,
                    days: -3,
                    micros: 14_706_789_000,
                },
            ),
            (
                ScalarType::Inet.into(),
                Value::Inet {
                    addr: "10.1.2.3".parse().unwrap(),
                    prefix: 8,
                    cidr: false,
                },
            ),
            (
                ScalarType::Inet.into(),
                Value::Inet {
                    addr: v6,
                    prefix: 64,
                    cidr: true,
                },
            ),
            (
                ScalarType::MacAddr.into(),
                Value::MacAddr([0x08, 0x00, 0x2b, 0x01, 0x02, 0x03]),
            ),
            (
                DataType::Array(ScalarType::Int32),
                Value::Array(Box::new(ArrayValue {
                    dims: vec![(2, 0), (2, 1)],
                    elements: vec![
                        Value::Int32(1),
                        Value::Null,
                        Value::Int32(3),
                        Value::Int32(4),
                    ],
                })),
            ),
            (
                DataType::Array(ScalarType::Text),
                Value::Array(Box::default()),
            ),
            (
                DataType::Array(ScalarType::Uuid),
                arr(vec![Value::Uuid([7; 16]), Value::Null]),
            ),
            (
                DataType::Range(ScalarType::TimestampTz),
                Value::Range(Box::new(RangeValue {
                    empty: false,
                    lower: Some(Value::TimestampTz(0)),
                    upper: None,
                    lower_inclusive: true,
                    upper_inclusive: false,
                })),
            ),
            (
                DataType::Range(ScalarType::Int64),
                Value::Range(Box::new(RangeValue {
                    empty: true,
                    ..RangeValue::default()
                })),
            ),
        ];
        pairs
            .into_iter()
            .enumerate()
            .map(|(i, (t, v))| (Column::new(format!("c{i}"), t), v))
            .unzip()
    }

    #[test]
    fn every_kind_round_trips_with_nulls() {
        let (schema, values) = every_kind();
        let nulls = vec![Value::Null; values.len()];
        let rows = vec![values.clone(), nulls.clone(), values.clone()];
        let batch = rows_to_batch(rows.clone(), &schema).unwrap();
        assert_eq!(batch.num_rows, 3);
        for col in &batch.columns {
            assert_eq!(col.nulls, vec![false, true, false]);
        }
        let back = batch_to_rows(batch, schema.len()).unwrap();
        // Float -0.0 == 0.0 under PartialEq; check its bits separately.
        assert_eq!(back, rows);
        assert!(matches!(back[0][4], Value::Float32(f) if f.is_sign_negative()));
        // NULL first and last: the flags start at row 0.
        let rows = vec![nulls.clone(), values.clone(), nulls.clone()];
        let batch = rows_to_batch(rows.clone(), &schema).unwrap();
        for col in &batch.columns {
            assert_eq!(col.nulls, vec![true, false, true]);
        }
        assert_eq!(batch_to_rows(batch, schema.len()).unwrap(), rows);
    }

    #[test]
    fn nulls_list_is_empty_without_nulls() {
        let (schema, values) = every_kind();
        let batch = rows_to_batch(vec![values], &schema).unwrap();
        assert!(batch.columns.iter().all(|c| c.nulls.is_empty()));
    }

    #[test]
    fn nan_survives() {
        let schema = vec![Column::new("f", ScalarType::Float64)];
        let batch = rows_to_batch(vec![vec![Value::Float64(f64::NAN)]], &schema).unwrap();
        let back = batch_to_rows(batch, 1).unwrap();
        assert!(matches!(back[0][0], Value::Float64(f) if f.is_nan()));
    }

    #[test]
    fn lossless_widenings_only() {
        let schema = vec![
            Column::new("i32", ScalarType::Int32),
            Column::new("f64", ScalarType::Float64),
            Column::new("num", ScalarType::Numeric),
            Column::new("json", ScalarType::Json),
        ];
        let ok = vec![
            Value::Int64(7),
            Value::Int32(3),
            Value::Float64(0.5),
            Value::Text("{}".into()),
        ];
        let b = rows_to_batch(vec![ok], &schema).unwrap();
        let back = batch_to_rows(b, 4).unwrap();
        assert_eq!(
            back[0],
            vec![
                Value::Int32(7),
                Value::Float64(3.0),
                Value::Numeric("0.5".into()),
                Value::Json("{}".into())
            ]
        );
        let too_big = vec![Value::Int64(1 << 40), Value::Null, Value::Null, Value::Null];
        let err = rows_to_batch(vec![too_big], &schema).unwrap_err();
        assert!(err.contains("\"i32\"") && err.contains("int64"), "{err}");
        let text_in_int = vec![
            Value::Text("1".into()),
            Value::Null,
            Value::Null,
            Value::Null,
        ];
        assert!(rows_to_batch(vec![text_in_int], &schema).is_err());
        let wrong_len = vec![Value::Null];
        let err = rows_to_batch(vec![wrong_len], &schema).unwrap_err();
        assert!(err.contains("has 1 values"), "{err}");
    }

    #[test]
    fn malformed_batches_are_errors() {
        let batch = wit::Batch {
            num_rows: 2,
            columns: vec![wit::ColumnData {
                nulls: vec![],
                values: wit::ColumnValues::Int64(vec![1]),
            }],
        };
        assert!(batch_to_rows(batch, 1)
            .unwrap_err()
            .contains("1 values for 2 rows"));
        let batch = wit::Batch {
            num_rows: 0,
            columns: vec![],
        };
        assert!(batch_to_rows(batch, 1).is_err());
        // Malformed var-columns from a (buggy) host are errors too, never a panic.
        let text = |rows: u32, data: &[u8], offsets: &[u32]| {
            batch_to_rows(
                wit::Batch {
                    num_rows: rows,
                    columns: vec![wit::ColumnData {
                        nulls: vec![],
                        values: wit::ColumnValues::Text(wit::VarColumn {
                            data: data.to_vec(),
                            offsets: offsets.to_vec(),
                        }),
                    }],
                },
                1,
            )
        };
        assert!(text(2, b"ab", &[0, 2]).unwrap_err().contains("2 offsets"));
        assert!(text(2, b"ab", &[0, 2, 1]).unwrap_err().contains("row 1"));
        assert!(text(1, b"ab", &[0, 9]).is_err());
        assert!(text(1, b"\xff", &[0, 1]).unwrap_err().contains("UTF-8"));
        let e = text(2, "é".as_bytes(), &[0, 1, 2]).unwrap_err();
        assert!(e.contains("row 0") && e.contains("UTF-8 character"), "{e}");
        assert_eq!(
            text(2, b"ab", &[0, 1, 2]).unwrap(),
            vec![vec![Value::Text("a".into())], vec![Value::Text("b".into())]]
        );
    }

    #[test]
    fn var_columns_are_one_buffer_with_offsets() {
        let schema = vec![
            Column::new("t", ScalarType::Text),
            Column::new("b", ScalarType::Bytes),
            Column::new("n", ScalarType::Numeric),
        ];
        let rows = vec![
            vec![Value::from("ab"), Value::Bytes(vec![1]), Value::Int32(-5)],
            vec![Value::Null, Value::Null, Value::Null],
            vec![Value::from("é"), Value::Bytes(vec![]), Value::Float64(0.5)],
        ];
        let batch = rows_to_batch(rows, &schema).unwrap();
        let var = |c: usize| batch.columns[c].var().unwrap();
        assert_eq!(var(0).data, "abé".as_bytes());
        assert_eq!(var(0).offsets, vec![0, 2, 2, 4]);
        assert_eq!(var(1).data, vec![1]);
        assert_eq!(var(1).offsets, vec![0, 1, 1, 1]);
        assert_eq!(var(2).data, b"-50.5");
        assert_eq!(var(2).offsets, vec![0, 2, 2, 5]);
        for c in &batch.columns {
            assert_eq!(c.nulls, vec![false, true, false]);
        }
        assert_eq!(batch.columns[0].str(2), Some("é"));
        assert_eq!(batch.columns[2].str(0), Some("-5"));
        assert_eq!(batch.columns[1].bytes(1), None);
    }
}
