//! proptest strategies for engine values of every supported PostgreSQL type, shared by the
//! round-trip property tests of the binary COPY codec, the plugin boundary and Parquet (issue
//! 13). Generated values are ones PostgreSQL itself can hold (dates, times and timestamps within
//! its ranges plus the infinities, numerics in its canonical text form, text without NUL), so a
//! failing case is a real value that would not survive a copy.
//!
//! Built for this crate's tests, and for other crates' with the `test-strategies` feature
//! (the end-to-end tests send such values through a real PostgreSQL).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use tokio_postgres::types::Type;

use super::schema::DataType;
use super::value::{ArrayValue, RangeValue, Value};

/// First day PostgreSQL's `date` holds (4713-11-24 BC), in days since 2000-01-01.
const DATE_MIN: i32 = -2_451_545;
/// Last day PostgreSQL's `date` holds (5874897-12-31 AD).
const DATE_MAX: i32 = 2_145_031_948;
/// First instant PostgreSQL's `timestamp` holds (4713-11-24 BC), in microseconds since 2000.
pub const TIMESTAMP_MIN: i64 = -211_813_488_000_000_000;
/// Last instant PostgreSQL's `timestamp` holds (294276-12-31 23:59:59.999999 AD).
pub const TIMESTAMP_MAX: i64 = 9_223_371_331_199_999_999;
/// `24:00:00`, the largest `time`.
const TIME_MAX: i64 = 86_400_000_000;
/// `timetz` offsets are at most 15:59:59 either way.
const OFFSET_MAX: i32 = 15 * 3600 + 59 * 60 + 59;

/// The subtypes of PostgreSQL's built-in ranges (int4range, int8range, numrange, daterange,
/// tsrange, tstzrange).
pub const RANGE_SUBTYPES: [DataType; 6] = [
    DataType::Int32,
    DataType::Int64,
    DataType::Numeric,
    DataType::Date,
    DataType::Timestamp,
    DataType::TimestampTz,
];

/// A `numeric` in PostgreSQL's output form: no leading zeros, any scale (trailing zeros kept,
/// they are its display scale), no negative zero; or `NaN`, `Infinity`, `-Infinity`.
fn numeric() -> impl Strategy<Value = String> {
    let finite = (
        any::<bool>(),
        "(0|[1-9][0-9]{0,30})",
        proptest::option::of("[0-9]{1,20}"),
    )
        .prop_map(|(neg, int, frac)| {
            let zero = int == "0" && frac.as_deref().is_none_or(|f| f.bytes().all(|b| b == b'0'));
            let sign = if neg && !zero { "-" } else { "" };
            match frac {
                Some(f) => format!("{sign}{int}.{f}"),
                None => format!("{sign}{int}"),
            }
        });
    prop_oneof![
        8 => finite,
        1 => prop_oneof![Just("NaN".to_string()), Just("Infinity".to_string()), Just("-Infinity".to_string())],
    ]
}

/// A JSON document's text, as PostgreSQL's `json` keeps it.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[^\u{0}]{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
    .prop_map(|v| v.to_string())
}

fn date() -> impl Strategy<Value = i32> {
    prop_oneof![
        8 => DATE_MIN..=DATE_MAX,
        1 => Just(i32::MAX),
        1 => Just(i32::MIN),
    ]
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => TIMESTAMP_MIN..=TIMESTAMP_MAX,
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
    ]
}

/// An `inet` or `cidr` value; a `cidr` has no bits set right of its prefix, as PostgreSQL
/// requires.
fn inet() -> impl Strategy<Value = Value> {
    let v4 = (any::<u32>(), 0u8..=32, any::<bool>()).prop_map(|(a, prefix, cidr)| {
        let a = if cidr {
            mask(u128::from(a), 32, prefix) as u32
        } else {
            a
        };
        Value::Inet {
            addr: IpAddr::V4(Ipv4Addr::from(a)),
            prefix,
            cidr,
        }
    });
    let v6 = (any::<u128>(), 0u8..=128, any::<bool>()).prop_map(|(a, prefix, cidr)| {
        let a = if cidr { mask(a, 128, prefix) } else { a };
        Value::Inet {
            addr: IpAddr::V6(Ipv6Addr::from(a)),
            prefix,
            cidr,
        }
    });
    prop_oneof![v4, v6]
}

/// `addr` with the bits right of `prefix` (of `width`) cleared.
fn mask(addr: u128, width: u32, prefix: u8) -> u128 {
    let host_bits = width - u32::from(prefix);
    if host_bits >= 128 {
        0
    } else {
        addr >> host_bits << host_bits
    }
}

/// A non-NULL value of leaf type `dt`.
pub fn leaf(dt: &DataType) -> BoxedStrategy<Value> {
    match dt {
        DataType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        DataType::Int16 => any::<i16>().prop_map(Value::Int16).boxed(),
        DataType::Int32 => any::<i32>().prop_map(Value::Int32).boxed(),
        DataType::Int64 => any::<i64>().prop_map(Value::Int64).boxed(),
        // Every bit pattern: NaNs with payloads, infinities, -0 and subnormals included.
        DataType::Float32 => any::<u32>()
            .prop_map(|b| Value::Float32(f32::from_bits(b)))
            .boxed(),
        DataType::Float64 => any::<u64>()
            .prop_map(|b| Value::Float64(f64::from_bits(b)))
            .boxed(),
        DataType::Numeric => numeric().prop_map(Value::Numeric).boxed(),
        DataType::Money => any::<i64>().prop_map(Value::Money).boxed(),
        DataType::Text => "[^\u{0}]{0,24}".prop_map(Value::Text).boxed(),
        DataType::Bytes => vec(any::<u8>(), 0..24).prop_map(Value::Bytes).boxed(),
        DataType::Uuid => any::<[u8; 16]>().prop_map(Value::Uuid).boxed(),
        DataType::Json => json_text().prop_map(Value::Json).boxed(),
        DataType::Date => date().prop_map(Value::Date).boxed(),
        DataType::Time => (0..=TIME_MAX).prop_map(Value::Time).boxed(),
        DataType::TimeTz => (0..=TIME_MAX, -OFFSET_MAX..=OFFSET_MAX)
            .prop_map(|(micros, offset_secs)| Value::TimeTz {
                micros,
                offset_secs,
            })
            .boxed(),
        DataType::Timestamp => timestamp().prop_map(Value::Timestamp).boxed(),
        DataType::TimestampTz => timestamp().prop_map(Value::TimestampTz).boxed(),
        DataType::Interval => (any::<i32>(), any::<i32>(), any::<i64>())
            .prop_map(|(months, days, micros)| Value::Interval {
                months,
                days,
                micros,
            })
            .boxed(),
        DataType::Inet => inet().boxed(),
        DataType::MacAddr => any::<[u8; 6]>().prop_map(Value::MacAddr).boxed(),
        DataType::Array(e) => array(e, true).boxed(),
        DataType::Range(s) => range(s).boxed(),
    }
}

/// A value of `dt` or NULL.
pub fn nullable(dt: &DataType) -> BoxedStrategy<Value> {
    prop_oneof![1 => Just(Value::Null), 6 => leaf(dt)].boxed()
}

/// An array of `elem` (a leaf or range type): empty, or up to three dimensions of one to three
/// elements each with lower bounds around 1, elements NULL now and then. With `any_shape`
/// false, only what every store holds: empty, or one dimension starting at 1.
pub fn array(elem: &DataType, any_shape: bool) -> impl Strategy<Value = Value> {
    let elem = elem.clone();
    let dims = if any_shape {
        vec((1i32..=3, -2i32..=2), 0..=3).boxed()
    } else {
        proptest::option::of(1i32..=4)
            .prop_map(|n| n.map(|n| vec![(n, 1)]).unwrap_or_default())
            .boxed()
    };
    dims.prop_flat_map(move |dims| {
        let count = if dims.is_empty() {
            0
        } else {
            dims.iter().map(|&(n, _)| n as usize).product()
        };
        vec(nullable(&elem), count).prop_map(move |elements| {
            Value::Array(Box::new(ArrayValue {
                dims: dims.clone(),
                elements,
            }))
        })
    })
}

/// A range of `sub`: empty, or with each bound present (inclusive or not) or unbounded
/// (never inclusive, as PostgreSQL normalises it).
pub fn range(sub: &DataType) -> impl Strategy<Value = Value> {
    let bound = (proptest::option::of(leaf(sub)), any::<bool>());
    let full = (bound.clone(), bound).prop_map(|((lower, li), (upper, ui))| {
        Value::Range(Box::new(RangeValue {
            empty: false,
            lower_inclusive: li && lower.is_some(),
            upper_inclusive: ui && upper.is_some(),
            lower,
            upper,
        }))
    });
    prop_oneof![
        1 => Just(Value::Range(Box::new(RangeValue {
            empty: true,
            ..RangeValue::default()
        }))),
        6 => full,
    ]
}

/// A value of `dt` (or NULL) as a column of `ty` holds it: `inet` values are never `cidr` and
/// `cidr` values always are.
pub fn value_for(ty: &Type, dt: &DataType) -> BoxedStrategy<Value> {
    let base = nullable(dt);
    let cidr = *ty == Type::CIDR || *ty == Type::CIDR_ARRAY;
    base.prop_map(move |v| set_cidr(v, cidr)).boxed()
}

fn set_cidr(v: Value, want: bool) -> Value {
    match v {
        Value::Inet { addr, prefix, cidr } if cidr != want => {
            // An inet keeps its host bits; only a value generated as cidr has them cleared,
            // so turning an inet into a cidr takes the full-length prefix.
            let prefix = if want {
                if addr.is_ipv4() {
                    32
                } else {
                    128
                }
            } else {
                prefix
            };
            Value::Inet {
                addr,
                prefix,
                cidr: want,
            }
        }
        Value::Array(mut a) => {
            a.elements = std::mem::take(&mut a.elements)
                .into_iter()
                .map(|e| set_cidr(e, want))
                .collect();
            Value::Array(a)
        }
        other => other,
    }
}

/// Every leaf type, an array of each and a range of each range subtype: the columns of the
/// round-trip properties that are not tied to PostgreSQL's own type list.
pub fn all_data_types() -> Vec<DataType> {
    let mut types: Vec<DataType> = DataType::LEAVES.to_vec();
    types.extend(
        DataType::LEAVES
            .iter()
            .map(|l| DataType::Array(Box::new(l.clone()))),
    );
    types.extend(
        RANGE_SUBTYPES
            .iter()
            .map(|s| DataType::Range(Box::new(s.clone()))),
    );
    types
}

/// Values compare equal, NaN included (bit for bit, inside arrays and ranges too).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float32(x), Value::Float32(y)) => x.to_bits() == y.to_bits(),
        (Value::Float64(x), Value::Float64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => {
            x.dims == y.dims
                && x.elements.len() == y.elements.len()
                && x.elements.iter().zip(&y.elements).all(|(a, b)| same(a, b))
        }
        (Value::Range(x), Value::Range(y)) => {
            let bound = |a: &Option<Value>, b: &Option<Value>| match (a, b) {
                (Some(a), Some(b)) => same(a, b),
                (None, None) => true,
                _ => false,
            };
            x.empty == y.empty
                && x.lower_inclusive == y.lower_inclusive
                && x.upper_inclusive == y.upper_inclusive
                && bound(&x.lower, &y.lower)
                && bound(&x.upper, &y.upper)
        }
        _ => a == b,
    }
}
