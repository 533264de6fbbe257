//! Encoding: an engine [`Value`] into the binary form of a target column type, with only the
//! conversions that cannot lose information, and [`can_encode`], its plan-time twin.
//!
//! Arrays and ranges are written with the target's element type OID; values are written
//! behind a back-filled length prefix that is rolled back on error.

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::Type;

use super::numeric::{encode_numeric_int, encode_numeric_text};
use super::{
    resolve, type_name, value_kind, CodecError, Resolved, Scalar, MAX_DIMS, PGSQL_AF_INET,
    PGSQL_AF_INET6, RANGE_EMPTY, RANGE_LB_INC, RANGE_LB_INF, RANGE_UB_INC, RANGE_UB_INF,
};
use crate::types::schema::DataType;
use crate::types::text_form::TextForm;
use crate::types::value::{ArrayValue, RangeValue, Value};

/// Encodes one non-NULL value as type `ty`, appending its binary form to `out` WITHOUT a length
/// prefix (tokio-postgres' `ToSql` and [`encode_with_len`] write that). On error `out` may hold
/// a partial value; [`encode_with_len`] rolls it back.
///
/// Conversions are only those that cannot lose information: wider integer types, integers into
/// numeric or (when exact) floating point, text into any text-like type or json, a timestamp
/// into timestamptz and back (a `timestamp` is taken as UTC), a date into a timestamp at
/// midnight. Arrays and ranges are written with the *target's* element type OID, so enum arrays
/// work between databases whose enum OIDs differ.
pub fn encode(v: &Value, ty: &Type, out: &mut BytesMut) -> Result<(), CodecError> {
    encode_resolved(v, resolve(ty), ty, out)
}

/// Encodes `v` with its 4-byte big-endian length prefix (reserved, then back-filled), and a
/// NULL as length -1. On error `out` is restored to its previous length.
pub fn encode_with_len(v: &Value, ty: &Type, out: &mut BytesMut) -> Result<(), CodecError> {
    encode_resolved_with_len(v, resolve(ty), ty, out)
}

pub(crate) fn encode_resolved_with_len(
    v: &Value,
    res: Resolved<'_>,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    if v.is_null() {
        out.put_i32(-1);
        return Ok(());
    }
    with_len(ty, out, |out| encode_resolved(v, res, ty, out))
}

/// Text or JSON text into a text-like or json column; false (nothing written) for any other.
pub(super) fn put_text(s: Scalar, t: &str, out: &mut BytesMut) -> bool {
    match s {
        Scalar::Text | Scalar::Xml | Scalar::Json => out.put_slice(t.as_bytes()),
        Scalar::Jsonb => {
            out.put_u8(1);
            out.put_slice(t.as_bytes());
        }
        _ => return false,
    }
    true
}

/// Runs `encode` behind a 4-byte length prefix (reserved, then back-filled); on error `out`
/// is restored to its previous length.
pub(super) fn with_len(
    ty: &Type,
    out: &mut BytesMut,
    encode: impl FnOnce(&mut BytesMut) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    let start = out.len();
    out.put_i32(0);
    let result = encode(out).and_then(|()| {
        let len = out.len() - start - 4;
        let len = i32::try_from(len).map_err(|_| CodecError::InvalidValue {
            type_name: type_name(ty),
            value: format!("{len} bytes"),
            reason: "a single value is limited to 2 GiB".into(),
        })?;
        if let Some(slot) = out.get_mut(start..start + 4) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn cannot_write(v: &Value, ty: &Type) -> CodecError {
    CodecError::CannotWrite {
        value_kind: value_kind(v),
        type_name: type_name(ty),
    }
}

fn out_of_range(value: impl std::fmt::Display, ty: &Type) -> CodecError {
    CodecError::OutOfRange {
        value: value.to_string(),
        type_name: type_name(ty),
    }
}

pub(super) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A date at midnight as a timestamp, keeping the infinities.
fn date_to_timestamp(d: i32, ty: &Type) -> Result<i64, CodecError> {
    match d {
        i32::MAX => Ok(i64::MAX),
        i32::MIN => Ok(i64::MIN),
        _ => i64::from(d)
            .checked_mul(MICROS_PER_DAY)
            .ok_or_else(|| out_of_range(format!("date day {d}"), ty)),
    }
}

/// An i64 as f64 only when the conversion is exact (`i64::MAX as f64` rounds up to 2^63).
fn exact_f64(x: i64) -> Option<f64> {
    let f = x as f64;
    (f < 9_223_372_036_854_775_808.0 && f as i64 == x).then_some(f)
}

pub(crate) fn encode_resolved(
    v: &Value,
    res: Resolved<'_>,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let s = match res {
        Resolved::Scalar(s) => s,
        Resolved::Array(elem) => {
            return match v {
                Value::Array(a) => encode_array(a, ty, elem, out),
                Value::Null => Err(CodecError::UnexpectedNull {
                    type_name: type_name(ty),
                }),
                _ => Err(cannot_write(v, ty)),
            }
        }
        Resolved::Range(sub) => {
            return match v {
                Value::Range(r) => encode_range(r, sub, out),
                Value::Null => Err(CodecError::UnexpectedNull {
                    type_name: type_name(ty),
                }),
                _ => Err(cannot_write(v, ty)),
            }
        }
        Resolved::Unsupported => return Err(cannot_write(v, ty)),
    };
    match (s, v) {
        (_, Value::Null) => {
            return Err(CodecError::UnexpectedNull {
                type_name: type_name(ty),
            })
        }
        (Scalar::Bool, Value::Bool(b)) => out.put_u8(u8::from(*b)),
        (Scalar::Int2, Value::Int16(x)) => out.put_i16(*x),
        (Scalar::Int2, Value::Int32(x)) => {
            out.put_i16(i16::try_from(*x).map_err(|_| out_of_range(x, ty))?)
        }
        (Scalar::Int2, Value::Int64(x)) => {
            out.put_i16(i16::try_from(*x).map_err(|_| out_of_range(x, ty))?)
        }
        (Scalar::Int4, Value::Int16(x)) => out.put_i32(i32::from(*x)),
        (Scalar::Int4, Value::Int32(x)) => out.put_i32(*x),
        (Scalar::Int4, Value::Int64(x)) => {
            out.put_i32(i32::try_from(*x).map_err(|_| out_of_range(x, ty))?)
        }
        (Scalar::Int8, Value::Int16(x)) => out.put_i64(i64::from(*x)),
        (Scalar::Int8, Value::Int32(x)) => out.put_i64(i64::from(*x)),
        (Scalar::Int8, Value::Int64(x)) => out.put_i64(*x),
        (Scalar::Float4, Value::Float32(x)) => out.put_f32(*x),
        (Scalar::Float4, Value::Int16(x)) => out.put_f32(f32::from(*x)),
        (Scalar::Float4, Value::Float64(x)) => {
            let f = *x as f32;
            if f64::from(f) == *x || x.is_nan() {
                out.put_f32(f);
            } else {
                return Err(out_of_range(format!("{x} (not exactly representable)"), ty));
            }
        }
        (Scalar::Float8, Value::Float64(x)) => out.put_f64(*x),
        (Scalar::Float8, Value::Float32(x)) => out.put_f64(f64::from(*x)),
        (Scalar::Float8, Value::Int16(x)) => out.put_f64(f64::from(*x)),
        (Scalar::Float8, Value::Int32(x)) => out.put_f64(f64::from(*x)),
        (Scalar::Float8, Value::Int64(x)) => out.put_f64(
            exact_f64(*x)
                .ok_or_else(|| out_of_range(format!("{x} (not exactly representable)"), ty))?,
        ),
        (Scalar::Numeric, Value::Numeric(text)) => encode_numeric_text(text, ty, out)?,
        (Scalar::Numeric, Value::Int16(x)) => encode_numeric_int(i128::from(*x), out),
        (Scalar::Numeric, Value::Int32(x)) => encode_numeric_int(i128::from(*x), out),
        (Scalar::Numeric, Value::Int64(x)) => encode_numeric_int(i128::from(*x), out),
        (Scalar::Numeric, Value::Money(_)) => {
            let mut text = String::with_capacity(24);
            v.write_text(&mut text);
            encode_numeric_text(&text, ty, out)?
        }
        (Scalar::Money, Value::Money(x)) => out.put_i64(*x),
        (
            Scalar::Text | Scalar::Xml | Scalar::Json | Scalar::Jsonb,
            Value::Text(t) | Value::Json(t),
        ) => {
            put_text(s, t, out);
        }
        (Scalar::Bytea, Value::Bytes(b)) => out.put_slice(b),
        (Scalar::Uuid, Value::Uuid(u)) => out.put_slice(u),
        (Scalar::Date, Value::Date(d)) => out.put_i32(*d),
        (Scalar::Time, Value::Time(t)) => out.put_i64(*t),
        (
            Scalar::TimeTz,
            Value::TimeTz {
                micros,
                offset_secs,
            },
        ) => {
            let west = offset_secs
                .checked_neg()
                .ok_or_else(|| out_of_range(format!("zone offset {offset_secs} s"), ty))?;
            out.put_i64(*micros);
            out.put_i32(west);
        }
        (Scalar::Timestamp | Scalar::TimestampTz, Value::Timestamp(t) | Value::TimestampTz(t)) => {
            out.put_i64(*t)
        }
        (Scalar::Timestamp | Scalar::TimestampTz, Value::Date(d)) => {
            out.put_i64(date_to_timestamp(*d, ty)?)
        }
        (
            Scalar::Interval,
            Value::Interval {
                months,
                days,
                micros,
            },
        ) => {
            out.put_i64(*micros);
            out.put_i32(*days);
            out.put_i32(*months);
        }
        (Scalar::Inet | Scalar::Cidr, Value::Inet { addr, prefix, .. }) => {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if *prefix > max {
                return Err(CodecError::InvalidValue {
                    type_name: type_name(ty),
                    value: format!("{addr}/{prefix}"),
                    reason: format!("prefix length exceeds {max}"),
                });
            }
            let family = if addr.is_ipv4() {
                PGSQL_AF_INET
            } else {
                PGSQL_AF_INET6
            };
            out.put_u8(family);
            out.put_u8(*prefix);
            out.put_u8(u8::from(s == Scalar::Cidr));
            match addr {
                IpAddr::V4(a) => {
                    out.put_u8(4);
                    out.put_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    out.put_u8(16);
                    out.put_slice(&a.octets());
                }
            }
        }
        (Scalar::MacAddr, Value::MacAddr(m)) => out.put_slice(m),
        _ => return Err(cannot_write(v, ty)),
    }
    Ok(())
}

fn encode_array(
    a: &ArrayValue,
    ty: &Type,
    elem: &Type,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let invalid = |reason: String| CodecError::InvalidValue {
        type_name: type_name(ty),
        value: format!("array of {} elements", a.elements.len()),
        reason,
    };
    if a.dims.len() > MAX_DIMS {
        return Err(invalid(format!(
            "{} dimensions (PostgreSQL allows {MAX_DIMS})",
            a.dims.len()
        )));
    }
    let mut total: usize = if a.dims.is_empty() { 0 } else { 1 };
    for &(len, lower) in &a.dims {
        let ulen = usize::try_from(len)
            .map_err(|_| invalid(format!("negative dimension length {len}")))?;
        if len > 0 && lower.checked_add(len - 1).is_none() {
            return Err(invalid("dimension upper bound overflows".into()));
        }
        total = total
            .checked_mul(ulen)
            .ok_or_else(|| invalid("too many elements".into()))?;
    }
    if total != a.elements.len() {
        return Err(invalid(format!(
            "dimensions {:?} hold {total} elements",
            a.dims
        )));
    }
    let ndim = if total == 0 { 0 } else { a.dims.len() };
    out.put_i32(ndim as i32);
    out.put_i32(i32::from(a.elements.iter().any(Value::is_null)));
    out.put_u32(elem.oid());
    if ndim > 0 {
        for &(len, lower) in &a.dims {
            out.put_i32(len);
            out.put_i32(lower);
        }
    }
    let res = resolve(elem);
    for e in &a.elements {
        encode_resolved_with_len(e, res, elem, out)?;
    }
    Ok(())
}

fn encode_range(r: &RangeValue, sub: &Type, out: &mut BytesMut) -> Result<(), CodecError> {
    if r.empty {
        out.put_u8(RANGE_EMPTY);
        return Ok(());
    }
    // A NULL bound means unbounded, as in PostgreSQL's range constructors.
    let lower = r.lower.as_ref().filter(|v| !v.is_null());
    let upper = r.upper.as_ref().filter(|v| !v.is_null());
    let mut flags = 0;
    match lower {
        None => flags |= RANGE_LB_INF,
        Some(_) if r.lower_inclusive => flags |= RANGE_LB_INC,
        Some(_) => {}
    }
    match upper {
        None => flags |= RANGE_UB_INF,
        Some(_) if r.upper_inclusive => flags |= RANGE_UB_INC,
        Some(_) => {}
    }
    out.put_u8(flags);
    let res = resolve(sub);
    for bound in [lower, upper].into_iter().flatten() {
        encode_resolved_with_len(bound, res, sub, out)?;
    }
    Ok(())
}

/// Plan-time twin of [`encode`]: whether values of engine type `src` can be written in binary
/// into a column of type `target`. When false the sink sends PostgreSQL's text form instead.
/// Value-dependent conversions (an Int64 into int4, a Double into real) count as possible;
/// `encode` reports values that do not fit.
pub fn can_encode(src: &DataType, target: &Type) -> bool {
    match resolve(target) {
        Resolved::Scalar(s) => can_encode_scalar(src, s),
        Resolved::Array(elem) => match src {
            DataType::Array(inner) => can_encode(inner, elem),
            _ => false,
        },
        Resolved::Range(sub) => match src {
            DataType::Range(inner) => can_encode(inner, sub),
            _ => false,
        },
        Resolved::Unsupported => false,
    }
}

fn can_encode_scalar(src: &DataType, s: Scalar) -> bool {
    use DataType as D;
    match s {
        Scalar::Bool => matches!(src, D::Bool),
        Scalar::Int2 | Scalar::Int4 | Scalar::Int8 => {
            matches!(src, D::Int16 | D::Int32 | D::Int64)
        }
        Scalar::Float4 => matches!(src, D::Float32 | D::Float64 | D::Int16),
        Scalar::Float8 => matches!(
            src,
            D::Float64 | D::Float32 | D::Int16 | D::Int32 | D::Int64
        ),
        Scalar::Numeric => matches!(src, D::Numeric | D::Int16 | D::Int32 | D::Int64 | D::Money),
        Scalar::Money => matches!(src, D::Money),
        Scalar::Text | Scalar::Xml | Scalar::Json | Scalar::Jsonb => {
            matches!(src, D::Text | D::Json)
        }
        Scalar::Bytea => matches!(src, D::Bytes),
        Scalar::Uuid => matches!(src, D::Uuid),
        Scalar::Date => matches!(src, D::Date),
        Scalar::Time => matches!(src, D::Time),
        Scalar::TimeTz => matches!(src, D::TimeTz),
        Scalar::Timestamp | Scalar::TimestampTz => {
            matches!(src, D::Timestamp | D::TimestampTz | D::Date)
        }
        Scalar::Interval => matches!(src, D::Interval),
        Scalar::Inet | Scalar::Cidr => matches!(src, D::Inet),
        Scalar::MacAddr => matches!(src, D::MacAddr),
    }
}
