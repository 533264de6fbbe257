//! One value across the boundary: leaf values (uuid, macaddr and inet in their WIT forms),
//! array elements and range bounds, both ways.
//!
//! A value whose variant does not match the expected WIT type is an error message (the batch
//! converters add the column and row), never a panic.
//!
//! The encodings the WIT leaves to us (uuid, macaddr, inet addresses) are
//! `sluice_value_model::wit_encoding`'s, which the plugin SDK uses too.

use std::net::IpAddr;

use sluice_value_model::wit_encoding::{
    ip_from_octets, ip_to_octets, mac_from_u64, mac_to_u64, uuid_from_pair, uuid_to_pair,
};

use super::schema::scalar_type_name;
use crate::plugins::bindings::sluice::plugin::types as wit;
use crate::types::value::{ArrayValue, RangeValue, Value};

/// A guest's macaddr: the six bytes in the low 48 bits; anything in the high 16 is an error.
pub(super) fn mac_from_wit(v: u64) -> Result<[u8; 6], String> {
    if v >> 48 != 0 {
        return Err(format!("macaddr {v:#x} does not fit in 48 bits"));
    }
    Ok(mac_from_u64(v))
}

pub(super) fn inet_to_wit(addr: IpAddr, prefix: u8, cidr: bool) -> wit::Inet {
    wit::Inet {
        addr: ip_to_octets(addr),
        prefix,
        cidr,
    }
}

pub(super) fn inet_from_wit(i: wit::Inet) -> Result<Value, String> {
    let Some(addr) = ip_from_octets(&i.addr) else {
        let n = i.addr.len();
        return Err(format!("inet address has {n} bytes (expected 4 or 16)"));
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if i.prefix > max {
        return Err(format!("inet prefix /{} exceeds /{max}", i.prefix));
    }
    Ok(Value::Inet {
        addr,
        prefix: i.prefix,
        cidr: i.cidr,
    })
}

/// One array element or range bound. `Null` becomes `None`; nested arrays and ranges have no
/// WIT encoding.
fn scalar_to_wit(v: Value, expected: wit::ScalarType) -> Result<Option<wit::Scalar>, String> {
    use wit::Scalar as S;
    use wit::ScalarType as T;
    let s = match (expected, v) {
        (_, Value::Null) => return Ok(None),
        (T::Boolean, Value::Bool(x)) => S::Boolean(x),
        (T::Int16, Value::Int16(x)) => S::Int16(x),
        (T::Int32, Value::Int32(x)) => S::Int32(x),
        (T::Int64, Value::Int64(x)) => S::Int64(x),
        (T::Float32, Value::Float32(x)) => S::Float32(x),
        (T::Float64, Value::Float64(x)) => S::Float64(x),
        (T::Numeric, Value::Numeric(x)) => S::Numeric(x),
        (T::Money, Value::Money(x)) => S::Money(x),
        (T::Text, Value::Text(x)) => S::Text(x),
        (T::Bytes, Value::Bytes(x)) => S::Bytes(x),
        (T::Uuid, Value::Uuid(x)) => S::Uuid(uuid_to_pair(x)),
        (T::Json, Value::Json(x)) => S::Json(x),
        (T::Date, Value::Date(x)) => S::Date(x),
        (T::Time, Value::Time(x)) => S::Time(x),
        (
            T::Timetz,
            Value::TimeTz {
                micros,
                offset_secs,
            },
        ) => S::Timetz(wit::Timetz {
            micros,
            offset_secs,
        }),
        (T::Timestamp, Value::Timestamp(x)) => S::Timestamp(x),
        (T::Timestamptz, Value::TimestampTz(x)) => S::Timestamptz(x),
        (
            T::Interval,
            Value::Interval {
                months,
                days,
                micros,
            },
        ) => S::Interval(wit::Interval {
            months,
            days,
            micros,
        }),
        (T::Inet, Value::Inet { addr, prefix, cidr }) => S::Inet(inet_to_wit(addr, prefix, cidr)),
        (T::Macaddr, Value::MacAddr(m)) => S::Macaddr(mac_to_u64(m)),
        (expected, other) => {
            return Err(format!(
                "element is {}, expected {}",
                other.kind(),
                scalar_type_name(expected)
            ))
        }
    };
    Ok(Some(s))
}

fn scalar_from_wit(s: Option<wit::Scalar>, expected: wit::ScalarType) -> Result<Value, String> {
    use wit::Scalar as S;
    use wit::ScalarType as T;
    let Some(s) = s else {
        return Ok(Value::Null);
    };
    Ok(match (expected, s) {
        (T::Boolean, S::Boolean(x)) => Value::Bool(x),
        (T::Int16, S::Int16(x)) => Value::Int16(x),
        (T::Int32, S::Int32(x)) => Value::Int32(x),
        (T::Int64, S::Int64(x)) => Value::Int64(x),
        (T::Float32, S::Float32(x)) => Value::Float32(x),
        (T::Float64, S::Float64(x)) => Value::Float64(x),
        (T::Numeric, S::Numeric(x)) => Value::Numeric(x),
        (T::Money, S::Money(x)) => Value::Money(x),
        (T::Text, S::Text(x)) => Value::Text(x),
        (T::Bytes, S::Bytes(x)) => Value::Bytes(x),
        (T::Uuid, S::Uuid(x)) => Value::Uuid(uuid_from_pair(x)),
        (T::Json, S::Json(x)) => Value::Json(x),
        (T::Date, S::Date(x)) => Value::Date(x),
        (T::Time, S::Time(x)) => Value::Time(x),
        (T::Timetz, S::Timetz(x)) => Value::TimeTz {
            micros: x.micros,
            offset_secs: x.offset_secs,
        },
        (T::Timestamp, S::Timestamp(x)) => Value::Timestamp(x),
        (T::Timestamptz, S::Timestamptz(x)) => Value::TimestampTz(x),
        (T::Interval, S::Interval(x)) => Value::Interval {
            months: x.months,
            days: x.days,
            micros: x.micros,
        },
        (T::Inet, S::Inet(x)) => inet_from_wit(x)?,
        (T::Macaddr, S::Macaddr(x)) => Value::MacAddr(mac_from_wit(x)?),
        (expected, other) => {
            return Err(format!(
                "element is {}, expected {}",
                scalar_type_name(wit_scalar_kind(&other)),
                scalar_type_name(expected)
            ))
        }
    })
}

fn wit_scalar_kind(s: &wit::Scalar) -> wit::ScalarType {
    use wit::Scalar as S;
    use wit::ScalarType as T;
    match s {
        S::Boolean(_) => T::Boolean,
        S::Int16(_) => T::Int16,
        S::Int32(_) => T::Int32,
        S::Int64(_) => T::Int64,
        S::Float32(_) => T::Float32,
        S::Float64(_) => T::Float64,
        S::Numeric(_) => T::Numeric,
        S::Money(_) => T::Money,
        S::Text(_) => T::Text,
        S::Bytes(_) => T::Bytes,
        S::Uuid(_) => T::Uuid,
        S::Json(_) => T::Json,
        S::Date(_) => T::Date,
        S::Time(_) => T::Time,
        S::Timetz(_) => T::Timetz,
        S::Timestamp(_) => T::Timestamp,
        S::Timestamptz(_) => T::Timestamptz,
        S::Interval(_) => T::Interval,
        S::Inet(_) => T::Inet,
        S::Macaddr(_) => T::Macaddr,
    }
}

pub(super) fn array_to_wit(
    a: ArrayValue,
    elem: wit::ScalarType,
) -> Result<wit::ArrayValue, String> {
    let mut elements = Vec::with_capacity(a.elements.len());
    for (i, e) in a.elements.into_iter().enumerate() {
        elements.push(scalar_to_wit(e, elem).map_err(|m| format!("array element {i}: {m}"))?);
    }
    Ok(wit::ArrayValue {
        dims: a.dims,
        elements,
    })
}

pub(super) fn array_from_wit(a: wit::ArrayValue, elem: wit::ScalarType) -> Result<Value, String> {
    // The guest's dimensions can multiply past i64 (three of i32::MAX): checked, so a forged
    // shape is an error rather than an overflow panic, or a wrapped count that happens to
    // match (found by the `guest_output` fuzz target).
    let expected: Option<i64> = if a.dims.is_empty() {
        Some(0)
    } else {
        a.dims
            .iter()
            .try_fold(1i64, |n, &(len, _)| n.checked_mul(i64::from(len.max(0))))
    };
    if expected.is_none() || i64::try_from(a.elements.len()).ok() != expected {
        return Err(format!(
            "array has {} elements but its dimensions {:?} call for {}",
            a.elements.len(),
            a.dims,
            expected.map_or_else(|| "more than 2^63".to_string(), |n| n.to_string())
        ));
    }
    let mut elements = Vec::with_capacity(a.elements.len());
    for (i, e) in a.elements.into_iter().enumerate() {
        elements.push(scalar_from_wit(e, elem).map_err(|m| format!("array element {i}: {m}"))?);
    }
    Ok(Value::Array(Box::new(ArrayValue {
        dims: a.dims,
        elements,
    })))
}

pub(super) fn range_to_wit(
    r: RangeValue,
    elem: wit::ScalarType,
) -> Result<wit::RangeValue, String> {
    // A `Some(Value::Null)` bound means "unbounded" exactly as `None` does (PostgreSQL's range
    // constructors treat a NULL bound so); WIT has only the `none` spelling.
    let bound = |b: Option<Value>, which: &str| match b {
        None => Ok(None),
        Some(v) => scalar_to_wit(v, elem).map_err(|m| format!("range {which} bound: {m}")),
    };
    Ok(wit::RangeValue {
        empty: r.empty,
        lower: bound(r.lower, "lower")?,
        upper: bound(r.upper, "upper")?,
        lower_inclusive: r.lower_inclusive,
        upper_inclusive: r.upper_inclusive,
    })
}

pub(super) fn range_from_wit(r: wit::RangeValue, elem: wit::ScalarType) -> Result<Value, String> {
    let bound = |b: Option<wit::Scalar>, which: &str| match b {
        None => Ok(None),
        Some(s) => scalar_from_wit(Some(s), elem)
            .map(Some)
            .map_err(|m| format!("range {which} bound: {m}")),
    };
    Ok(Value::Range(Box::new(RangeValue {
        empty: r.empty,
        lower: bound(r.lower, "lower")?,
        upper: bound(r.upper, "upper")?,
        lower_inclusive: r.lower_inclusive,
        upper_inclusive: r.upper_inclusive,
    })))
}
