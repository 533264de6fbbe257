//! Unit tests of the binary codec: known bytes, round trips, conversions and malformed input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::Type;

use super::encode::MICROS_PER_DAY;
use super::numeric::{NUMERIC_NAN, NUMERIC_NEG, NUMERIC_NINF, NUMERIC_PINF};
use super::*;
use crate::types::schema::DataType;
use crate::types::value::{ArrayValue, RangeValue, Value};

fn enc(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = BytesMut::new();
    encode(v, ty, &mut out)?;
    Ok(out.to_vec())
}

fn round_trip(v: Value, ty: &Type) -> Value {
    match enc(&v, ty).and_then(|bytes| decode(ty, &bytes)) {
        Ok(back) => back,
        Err(e) => Value::Text(format!("error: {e}")),
    }
}

fn numeric_bytes(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.put_i16(ndigits);
    out.put_i16(weight);
    out.put_u16(sign);
    out.put_u16(dscale);
    for d in digits {
        out.put_u16(*d);
    }
    out.to_vec()
}

fn num_text(raw: &[u8]) -> String {
    match decode(&Type::NUMERIC, raw) {
        Ok(Value::Numeric(s)) => s,
        other => format!("{other:?}"),
    }
}

fn custom(name: &str, oid: u32, kind: Kind) -> Type {
    Type::new(name.into(), oid, kind, "public".into())
}

#[test]
fn numeric_decodes_known_bytes() {
    assert_eq!(num_text(&numeric_bytes(2, 0, 0, 3, &[1, 5000])), "1.500");
    assert_eq!(num_text(&numeric_bytes(0, 0, 0, 0, &[])), "0");
    assert_eq!(num_text(&numeric_bytes(0, 0, 0, 3, &[])), "0.000");
    assert_eq!(
        num_text(&numeric_bytes(1, -1, NUMERIC_NEG, 1, &[5000])),
        "-0.5"
    );
    assert_eq!(num_text(&numeric_bytes(1, 1, 0, 0, &[1])), "10000");
    assert_eq!(
        num_text(&numeric_bytes(1, -5, 0, 20, &[1])),
        "0.00000000000000000001"
    );
    assert_eq!(num_text(&numeric_bytes(0, 0, NUMERIC_NAN, 0, &[])), "NaN");
    assert_eq!(
        num_text(&numeric_bytes(0, 0, NUMERIC_PINF, 0, &[])),
        "Infinity"
    );
    assert_eq!(
        num_text(&numeric_bytes(0, 0, NUMERIC_NINF, 0, &[])),
        "-Infinity"
    );
    // Digits beyond the display scale are dropped, as PostgreSQL's output does.
    assert_eq!(num_text(&numeric_bytes(2, 0, 0, 1, &[3, 1415])), "3.1");
}

#[test]
fn numeric_encodes_like_postgres() {
    let bytes = |t: &str| enc(&Value::Numeric(t.into()), &Type::NUMERIC).unwrap_or_default();
    assert_eq!(bytes("1.500"), numeric_bytes(2, 0, 0, 3, &[1, 5000]));
    assert_eq!(bytes("10000"), numeric_bytes(1, 1, 0, 0, &[1]));
    assert_eq!(bytes("-0.5"), numeric_bytes(1, -1, NUMERIC_NEG, 1, &[5000]));
    assert_eq!(bytes("0.000"), numeric_bytes(0, 0, 0, 3, &[]));
    assert_eq!(bytes("-0"), numeric_bytes(0, 0, 0, 0, &[]));
    assert_eq!(bytes("nan"), numeric_bytes(0, 0, NUMERIC_NAN, 0, &[]));
    assert_eq!(
        bytes("-Infinity"),
        numeric_bytes(0, 0, NUMERIC_NINF, 0, &[])
    );
    assert_eq!(
        bytes("12345678901234567890.123456789"),
        numeric_bytes(
            8,
            4,
            0,
            9,
            &[1234, 5678, 9012, 3456, 7890, 1234, 5678, 9000]
        )
    );
}

#[test]
fn numeric_text_round_trips() {
    let big = format!("{}.{}", "9".repeat(1000), "1234567890".repeat(50));
    let cases = [
        ("0", "0"),
        ("0.000", "0.000"),
        ("-0.5", "-0.5"),
        ("0.00000000000000000001", "0.00000000000000000001"),
        (
            "12345678901234567890.123456789",
            "12345678901234567890.123456789",
        ),
        ("-12.340", "-12.340"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("+inf", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("100000000", "100000000"),
        ("0.0001", "0.0001"),
        ("1e5", "100000"),
        ("1.5e-3", "0.0015"),
        ("1E+2", "100"),
        ("  3.14 ", "3.14"),
        ("+7", "7"),
        (".5", "0.5"),
        ("5.", "5"),
        ("0001.10", "1.10"),
        (big.as_str(), big.as_str()),
    ];
    for (input, expected) in cases {
        assert_eq!(
            round_trip(Value::Numeric(input.into()), &Type::NUMERIC),
            Value::Numeric(expected.into()),
            "{input}"
        );
    }
}

#[test]
fn numeric_rejects_bad_text() {
    for bad in [
        "",
        "-",
        "abc",
        "1.2.3",
        "1e",
        "1e99999999",
        "NaNx",
        "--1",
        "1 2",
        ".",
        "-nan",
    ] {
        let r = enc(&Value::Numeric(bad.into()), &Type::NUMERIC);
        assert!(r.is_err(), "{bad:?} accepted");
    }
}

#[test]
fn integers_into_numeric_match_text_encoding() {
    for x in [
        0i64,
        1,
        -1,
        9999,
        10_000,
        123_456_789,
        i64::MIN,
        i64::MAX,
        -100_000_000,
    ] {
        let from_int = enc(&Value::Int64(x), &Type::NUMERIC).unwrap_or_default();
        let from_text = enc(&Value::Numeric(x.to_string()), &Type::NUMERIC).unwrap_or_default();
        assert_eq!(from_int, from_text, "{x}");
    }
    assert_eq!(
        round_trip(Value::Money(-1234), &Type::NUMERIC),
        Value::Numeric("-12.34".into())
    );
}

#[test]
fn integer_conversions_are_range_checked() {
    assert_eq!(
        round_trip(Value::Int64(-32768), &Type::INT2),
        Value::Int16(-32768)
    );
    assert_eq!(round_trip(Value::Int16(7), &Type::INT8), Value::Int64(7));
    let err = enc(&Value::Int64(1 << 40), &Type::INT4)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("value 1099511627776 is out of range for type int4")
    );
    assert!(enc(&Value::Int32(40_000), &Type::INT2).is_err());
}

#[test]
fn floats_keep_every_bit() {
    for x in [
        0.0f64,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        5e-324,
        0.1,
    ] {
        let bits = match round_trip(Value::Float64(x), &Type::FLOAT8) {
            Value::Float64(y) => Some(y.to_bits()),
            _ => None,
        };
        assert_eq!(bits, Some(x.to_bits()), "{x}");
    }
    assert!(
        matches!(round_trip(Value::Float64(f64::NAN), &Type::FLOAT8), Value::Float64(y) if y.is_nan())
    );
    assert!(
        matches!(round_trip(Value::Float32(f32::NAN), &Type::FLOAT4), Value::Float32(y) if y.is_nan())
    );
    assert_eq!(
        round_trip(Value::Float32(1.5), &Type::FLOAT8),
        Value::Float64(1.5)
    );
    assert_eq!(
        round_trip(Value::Int64(1 << 53), &Type::FLOAT8),
        Value::Float64(9_007_199_254_740_992.0)
    );
    assert!(enc(&Value::Int64((1 << 53) + 1), &Type::FLOAT8).is_err());
    assert!(enc(&Value::Int64(i64::MAX), &Type::FLOAT8).is_err());
    assert_eq!(
        round_trip(Value::Float64(0.5), &Type::FLOAT4),
        Value::Float32(0.5)
    );
    assert!(enc(&Value::Float64(0.1), &Type::FLOAT4).is_err());
}

#[test]
fn dates_times_and_intervals() {
    assert_eq!(
        decode(&Type::DATE, &i32::MAX.to_be_bytes()).ok(),
        Some(Value::Date(i32::MAX))
    );
    assert_eq!(
        decode(&Type::TIMESTAMPTZ, &i64::MIN.to_be_bytes()).ok(),
        Some(Value::TimestampTz(i64::MIN))
    );
    // 12:00+05:30 is sent as 43200 s of micros and -19800 (seconds west of UTC).
    let mut raw = BytesMut::new();
    raw.put_i64(43_200_000_000);
    raw.put_i32(-19_800);
    let tz = Value::TimeTz {
        micros: 43_200_000_000,
        offset_secs: 19_800,
    };
    assert_eq!(decode(&Type::TIMETZ, &raw).ok(), Some(tz.clone()));
    assert_eq!(enc(&tz, &Type::TIMETZ).ok(), Some(raw.to_vec()));
    let iv = Value::Interval {
        months: -14,
        days: 3,
        micros: -1,
    };
    assert_eq!(round_trip(iv.clone(), &Type::INTERVAL), iv);
    assert_eq!(
        round_trip(Value::Timestamp(5), &Type::TIMESTAMPTZ),
        Value::TimestampTz(5)
    );
    assert_eq!(
        round_trip(Value::TimestampTz(5), &Type::TIMESTAMP),
        Value::Timestamp(5)
    );
    assert_eq!(
        round_trip(Value::Date(1), &Type::TIMESTAMP),
        Value::Timestamp(MICROS_PER_DAY)
    );
    assert_eq!(
        round_trip(Value::Date(i32::MIN), &Type::TIMESTAMPTZ),
        Value::TimestampTz(i64::MIN)
    );
}

#[test]
fn strings_bytes_and_misc_scalars() {
    let mood = custom("mood", 90_001, Kind::Enum(vec!["ok".into()]));
    assert_eq!(
        round_trip(Value::Text("ok".into()), &mood),
        Value::Text("ok".into())
    );
    assert_eq!(
        round_trip(Value::Text("é\t\\".into()), &Type::XML),
        Value::Text("é\t\\".into())
    );
    assert_eq!(
        enc(&Value::Json("{}".into()), &Type::JSONB).ok(),
        Some(b"\x01{}".to_vec())
    );
    assert_eq!(
        round_trip(Value::Text("[1]".into()), &Type::JSONB),
        Value::Json("[1]".into())
    );
    assert!(decode(&Type::JSONB, b"\x02{}").is_err());
    assert!(decode(&Type::TEXT, b"\xff").is_err());
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(
        round_trip(Value::Bytes(all.clone()), &Type::BYTEA),
        Value::Bytes(all)
    );
    assert_eq!(
        round_trip(Value::Uuid([7; 16]), &Type::UUID),
        Value::Uuid([7; 16])
    );
    assert_eq!(
        round_trip(Value::Money(i64::MIN), &Type::MONEY),
        Value::Money(i64::MIN)
    );
    assert_eq!(
        round_trip(Value::MacAddr([1, 2, 3, 4, 5, 6]), &Type::MACADDR),
        Value::MacAddr([1, 2, 3, 4, 5, 6])
    );
    assert_eq!(
        round_trip(Value::Bool(true), &Type::BOOL),
        Value::Bool(true)
    );
    let cidr = Value::Inet {
        addr: "10.0.0.0"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        prefix: 8,
        cidr: true,
    };
    assert_eq!(
        enc(&cidr, &Type::CIDR).ok(),
        Some(vec![2, 8, 1, 4, 10, 0, 0, 0])
    );
    assert_eq!(round_trip(cidr.clone(), &Type::CIDR), cidr);
    let v6 = Value::Inet {
        addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
        prefix: 128,
        cidr: false,
    };
    assert_eq!(round_trip(v6.clone(), &Type::INET), v6);
    let bad = Value::Inet {
        addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        prefix: 33,
        cidr: false,
    };
    assert!(enc(&bad, &Type::INET).is_err());
    let dom = custom("posint", 90_003, Kind::Domain(Type::INT4));
    assert_eq!(round_trip(Value::Int32(5), &dom), Value::Int32(5));
}

#[test]
fn wrong_kinds_are_refused_with_names() {
    let e = enc(&Value::Text("1".into()), &Type::INT4)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("cannot write Text into a column of type int4")
    );
    let e = enc(&Value::Int32(1), &Type::INT4_ARRAY)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("cannot write Int32 into a column of type int4[]")
    );
    assert!(enc(&Value::Text("(1,2)".into()), &Type::POINT).is_err());
    assert!(enc(&Value::Null, &Type::INT4).is_err());
    assert!(decode(&Type::POINT, &[0; 16]).is_err());
}

fn arr(dims: Vec<(i32, i32)>, elements: Vec<Value>) -> Value {
    Value::Array(Box::new(ArrayValue { dims, elements }))
}

#[test]
fn arrays_round_trip_with_target_element_oid() {
    let a = arr(
        vec![(2, 0), (2, 1)],
        vec![
            Value::Int32(1),
            Value::Int32(2),
            Value::Int32(3),
            Value::Null,
        ],
    );
    assert_eq!(round_trip(a.clone(), &Type::INT4_ARRAY), a);
    let bytes = enc(&a, &Type::INT4_ARRAY).unwrap_or_default();
    assert_eq!(
        bytes.get(..12),
        Some(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 23][..])
    );
    let empty = arr(vec![], vec![]);
    assert_eq!(round_trip(empty.clone(), &Type::TEXT_ARRAY), empty);
    let mood = custom("mood", 90_001, Kind::Enum(vec!["a".into()]));
    let moods = custom("_mood", 90_002, Kind::Array(mood));
    let m = arr(vec![(1, 1)], vec![Value::Text("a".into())]);
    let bytes = enc(&m, &moods).unwrap_or_default();
    assert_eq!(bytes.get(8..12), Some(&90_001u32.to_be_bytes()[..]));
    assert_eq!(decode(&moods, &bytes).ok(), Some(m));
    // An element OID other than the column's element type is refused.
    assert!(decode(
        &Type::INT4_ARRAY,
        &enc(&a, &Type::INT4_ARRAY)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, b)| if i == 11 { 20 } else { *b })
            .collect::<Vec<_>>()
    )
    .is_err());
    // Elements convert like scalars.
    let wide = arr(
        vec![(2, 1)],
        vec![Value::Int64(1), Value::Numeric("2.50".into())],
    );
    assert_eq!(
        round_trip(wide, &Type::NUMERIC_ARRAY),
        arr(
            vec![(2, 1)],
            vec![Value::Numeric("1".into()), Value::Numeric("2.50".into())]
        )
    );
    let bad = arr(vec![(3, 1)], vec![Value::Int32(1)]);
    assert!(enc(&bad, &Type::INT4_ARRAY).is_err());
    let mut out = BytesMut::from(&b"keep"[..]);
    assert!(encode_with_len(&bad, &Type::INT4_ARRAY, &mut out).is_err());
    assert_eq!(&out[..], b"keep");
}

#[test]
fn ranges_round_trip() {
    let r = |lower: Option<Value>, upper: Option<Value>, li: bool, ui: bool| {
        Value::Range(Box::new(RangeValue {
            empty: false,
            lower,
            upper,
            lower_inclusive: li,
            upper_inclusive: ui,
        }))
    };
    let empty = Value::Range(Box::new(RangeValue {
        empty: true,
        lower: None,
        upper: None,
        lower_inclusive: false,
        upper_inclusive: false,
    }));
    assert_eq!(enc(&empty, &Type::INT4_RANGE).ok(), Some(vec![1]));
    assert_eq!(round_trip(empty.clone(), &Type::INT4_RANGE), empty);
    for v in [
        r(Some(Value::Int32(1)), Some(Value::Int32(10)), true, false),
        r(None, Some(Value::Int32(5)), false, false),
        r(Some(Value::Int32(3)), None, true, false),
        r(None, None, false, false),
    ] {
        assert_eq!(round_trip(v.clone(), &Type::INT4_RANGE), v);
    }
    let n = r(
        Some(Value::Numeric("1.50".into())),
        Some(Value::Numeric("2.500".into())),
        true,
        true,
    );
    assert_eq!(round_trip(n.clone(), &Type::NUM_RANGE), n);
    assert_eq!(
        enc(&r(None, None, true, true), &Type::INT4_RANGE).ok(),
        Some(vec![RANGE_LB_INF | RANGE_UB_INF])
    );
}

#[test]
fn can_encode_mirrors_encode() {
    assert!(can_encode(&DataType::Int64, &Type::INT2));
    assert!(can_encode(&DataType::Text, &Type::JSONB));
    assert!(can_encode(&DataType::Date, &Type::TIMESTAMPTZ));
    assert!(can_encode(
        &DataType::Array(Box::new(DataType::Int16)),
        &Type::NUMERIC_ARRAY
    ));
    assert!(can_encode(
        &DataType::Range(Box::new(DataType::Date)),
        &Type::DATE_RANGE
    ));
    let mood = custom("mood", 90_001, Kind::Enum(vec![]));
    assert!(can_encode(&DataType::Text, &mood));
    assert!(!can_encode(&DataType::Text, &Type::INT4));
    assert!(!can_encode(&DataType::Text, &Type::POINT));
    assert!(!can_encode(&DataType::Text, &Type::UUID));
    assert!(!can_encode(&DataType::Float64, &Type::NUMERIC));
    assert!(!can_encode(&DataType::Int32, &Type::INT4_ARRAY));
    assert!(!can_encode(
        &DataType::Array(Box::new(DataType::Text)),
        &Type::POINT_ARRAY
    ));
}

/// Every prefix and a batch of pseudo-random corruptions of valid encodings must yield
/// `Ok` or `Err`, never a panic.
#[test]
fn malformed_input_never_panics() {
    let samples: Vec<(Type, Value)> = vec![
        (Type::NUMERIC, Value::Numeric("-12345.6789".into())),
        (
            Type::TIMETZ,
            Value::TimeTz {
                micros: 1,
                offset_secs: -3600,
            },
        ),
        (
            Type::INTERVAL,
            Value::Interval {
                months: 1,
                days: 2,
                micros: 3,
            },
        ),
        (
            Type::INET,
            Value::Inet {
                addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                prefix: 64,
                cidr: false,
            },
        ),
        (Type::JSONB, Value::Json("{\"a\":1}".into())),
        (
            Type::INT4_ARRAY,
            arr(vec![(2, 0), (1, 5)], vec![Value::Int32(1), Value::Null]),
        ),
        (
            Type::NUMERIC_ARRAY,
            arr(
                vec![(2, 1)],
                vec![Value::Numeric("1.5".into()), Value::Null],
            ),
        ),
        (
            Type::TSTZ_RANGE,
            Value::Range(Box::new(RangeValue {
                empty: false,
                lower: Some(Value::TimestampTz(1)),
                upper: None,
                lower_inclusive: true,
                upper_inclusive: false,
            })),
        ),
        (Type::TEXT, Value::Text("héllo".into())),
        (Type::UUID, Value::Uuid([1; 16])),
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (ty, v) in &samples {
        let good = enc(v, ty).unwrap_or_default();
        assert_eq!(decode(ty, &good).ok().as_ref(), Some(v), "{ty}");
        for cut in 0..good.len() {
            let _ = decode(ty, good.get(..cut).unwrap_or_default());
        }
        for _ in 0..2000 {
            let mut bad = good.clone();
            let flips = 1 + next() % 4;
            for _ in 0..flips {
                if bad.is_empty() {
                    break;
                }
                let i = (next() % bad.len() as u64) as usize;
                if let Some(b) = bad.get_mut(i) {
                    *b = next() as u8;
                }
            }
            let _ = decode(ty, &bad);
        }
        for len in 0..40 {
            let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = decode(ty, &garbage);
        }
    }
    // Huge declared sizes are refused before allocating.
    let mut huge = BytesMut::new();
    huge.put_i32(2);
    huge.put_i32(0);
    huge.put_u32(Type::INT4.oid());
    huge.put_i32(i32::MAX);
    huge.put_i32(1);
    huge.put_i32(i32::MAX);
    huge.put_i32(1);
    assert!(decode(&Type::INT4_ARRAY, &huge).is_err());
    assert!(decode(&Type::NUMERIC, &numeric_bytes(1, 0, 0, 0, &[10_000])).is_err());
    assert!(decode(&Type::NUMERIC, &numeric_bytes(-1, 0, 0, 0, &[])).is_err());
    assert!(decode(&Type::NUMERIC, &numeric_bytes(0, 0, 0x1234, 0, &[])).is_err());
}

#[test]
fn scalar_oids_match_the_driver_types() {
    let expected = [
        (Type::BOOL, Scalar::Bool),
        (Type::INT2, Scalar::Int2),
        (Type::INT4, Scalar::Int4),
        (Type::INT8, Scalar::Int8),
        (Type::FLOAT4, Scalar::Float4),
        (Type::FLOAT8, Scalar::Float8),
        (Type::NUMERIC, Scalar::Numeric),
        (Type::MONEY, Scalar::Money),
        (Type::TEXT, Scalar::Text),
        (Type::VARCHAR, Scalar::Text),
        (Type::BPCHAR, Scalar::Text),
        (Type::NAME, Scalar::Text),
        (Type::UNKNOWN, Scalar::Text),
        (Type::XML, Scalar::Xml),
        (Type::BYTEA, Scalar::Bytea),
        (Type::UUID, Scalar::Uuid),
        (Type::JSON, Scalar::Json),
        (Type::JSONB, Scalar::Jsonb),
        (Type::DATE, Scalar::Date),
        (Type::TIME, Scalar::Time),
        (Type::TIMETZ, Scalar::TimeTz),
        (Type::TIMESTAMP, Scalar::Timestamp),
        (Type::TIMESTAMPTZ, Scalar::TimestampTz),
        (Type::INTERVAL, Scalar::Interval),
        (Type::INET, Scalar::Inet),
        (Type::CIDR, Scalar::Cidr),
        (Type::MACADDR, Scalar::MacAddr),
    ];
    for (ty, scalar) in expected {
        assert_eq!(scalar_of(&ty), Some(scalar), "{ty}");
    }
    for ty in [Type::POINT, Type::INT4_ARRAY, Type::TS_VECTOR, Type::OID] {
        assert_eq!(scalar_of(&ty), None, "{ty}");
    }
}
