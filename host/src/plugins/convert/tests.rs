//! Unit tests of the boundary conversion: round trips of every type, and every way a guest
//! batch can be malformed.

use std::sync::Arc;

use sluice_value_model::wit_encoding::{mac_to_u64, uuid_to_pair};

use super::values::mac_from_wit;
use super::*;
use crate::plugins::bindings::sluice::plugin::types as wit;
use crate::types::batch::Batch;
use crate::types::schema::{Column, DataType, Schema, SchemaRef};
use crate::types::value::{ArrayValue, RangeValue, Value};

fn every_type_schema() -> SchemaRef {
    use DataType as D;
    let cols = vec![
        ("b", D::Bool),
        ("i16", D::Int16),
        ("i32", D::Int32),
        ("i64", D::Int64),
        ("f32", D::Float32),
        ("f64", D::Float64),
        ("num", D::Numeric),
        ("money", D::Money),
        ("txt", D::Text),
        ("bytes", D::Bytes),
        ("uuid", D::Uuid),
        ("json", D::Json),
        ("date", D::Date),
        ("time", D::Time),
        ("timetz", D::TimeTz),
        ("ts", D::Timestamp),
        ("tstz", D::TimestampTz),
        ("iv", D::Interval),
        ("inet", D::Inet),
        ("mac", D::MacAddr),
        ("arr", D::Array(Box::new(D::Int32))),
        ("tarr", D::Array(Box::new(D::Text))),
        ("rng", D::Range(Box::new(D::Int64))),
        ("tsrng", D::Range(Box::new(D::TimestampTz))),
    ];
    Arc::new(Schema::new(
        cols.into_iter()
            .map(|(n, t)| Column::new(n, t, format!("pg_{n}")))
            .collect(),
    ))
}

/// Three rows: ordinary values, extremes, and all NULLs.
pub(crate) fn every_type_rows() -> Vec<Vec<Value>> {
    let row1 = vec![
        Value::Bool(true),
        Value::Int16(-7),
        Value::Int32(42),
        Value::Int64(-9_000_000_000),
        Value::Float32(1.5),
        Value::Float64(-2.25e300),
        Value::Numeric("-12345678901234567890.000000000000000001".into()),
        Value::Money(12_345),
        Value::Text("héllo, wörld ✓".into()),
        Value::Bytes(vec![0, 1, 2, 255]),
        Value::Uuid([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
            0x32, 0x10,
        ]),
        Value::Json(r#"{"a":[1,2,{"b":null}]}"#.into()),
        Value::Date(-10_957),
        Value::Time(86_399_999_999),
        Value::TimeTz {
            micros: 3_600_000_000,
            offset_secs: -19_800,
        },
        Value::Timestamp(1),
        Value::TimestampTz(-1),
        Value::Interval {
            months: -14,
            days: 3,
            micros: 4_000_001,
        },
        Value::Inet {
            addr: "192.168.1.7".parse().unwrap(),
            prefix: 24,
            cidr: false,
        },
        Value::MacAddr([0x08, 0x00, 0x2b, 0x01, 0x02, 0x03]),
        Value::Array(Box::new(ArrayValue {
            dims: vec![(2, 1), (2, 0)],
            elements: vec![
                Value::Int32(1),
                Value::Null,
                Value::Int32(3),
                Value::Int32(-4),
            ],
        })),
        Value::Array(Box::new(ArrayValue {
            dims: vec![],
            elements: vec![],
        })),
        Value::Range(Box::new(RangeValue {
            empty: false,
            lower: Some(Value::Int64(1)),
            upper: None,
            lower_inclusive: true,
            upper_inclusive: false,
        })),
        Value::Range(Box::new(RangeValue {
            empty: true,
            lower: None,
            upper: None,
            lower_inclusive: false,
            upper_inclusive: false,
        })),
    ];
    let row2 = vec![
        Value::Bool(false),
        Value::Int16(i16::MIN),
        Value::Int32(i32::MAX),
        Value::Int64(i64::MIN),
        Value::Float32(f32::NAN),
        Value::Float64(f64::NEG_INFINITY),
        Value::Numeric("NaN".into()),
        Value::Money(i64::MIN),
        Value::Text(String::new()),
        Value::Bytes(vec![]),
        Value::Uuid([0xff; 16]),
        Value::Json("null".into()),
        Value::Date(i32::MAX),
        Value::Time(0),
        Value::TimeTz {
            micros: 0,
            offset_secs: 50_400,
        },
        Value::Timestamp(i64::MAX),
        Value::TimestampTz(i64::MIN),
        Value::Interval {
            months: i32::MAX,
            days: i32::MIN,
            micros: i64::MAX,
        },
        Value::Inet {
            addr: "2001:db8::ff00:42:8329".parse().unwrap(),
            prefix: 64,
            cidr: true,
        },
        Value::MacAddr([0xff; 6]),
        Value::Array(Box::new(ArrayValue {
            dims: vec![(1, -3)],
            elements: vec![Value::Null],
        })),
        Value::Array(Box::new(ArrayValue {
            dims: vec![(3, 1)],
            elements: vec![Value::Text("a".into()), Value::Null, Value::Text("".into())],
        })),
        Value::Range(Box::new(RangeValue {
            empty: false,
            lower: None,
            upper: Some(Value::Int64(-5)),
            lower_inclusive: false,
            upper_inclusive: true,
        })),
        Value::Range(Box::new(RangeValue {
            empty: false,
            lower: Some(Value::TimestampTz(i64::MIN)),
            upper: Some(Value::TimestampTz(i64::MAX)),
            lower_inclusive: true,
            upper_inclusive: true,
        })),
    ];
    let row3 = vec![Value::Null; row1.len()];
    vec![row1, row2, row3]
}

pub(crate) fn every_type_batch() -> Batch {
    let mut b = Batch::new(every_type_schema());
    for r in every_type_rows() {
        b.push_row(r);
    }
    b
}

/// `Value` is `PartialEq` but NaN != NaN; compare the debug form instead, which is exact for
/// every variant here.
fn same(a: &Batch, b: &Batch) -> bool {
    format!("{:?}", a.values()) == format!("{:?}", b.values()) && a.schema() == b.schema()
}

#[test]
fn every_variant_round_trips() {
    let batch = every_type_batch();
    let expected = batch.clone();
    let schema = batch.schema().clone();
    let wit_schema = schema_to_wit(&schema).unwrap();
    assert_eq!(Arc::new(schema_from_wit(wit_schema)), schema);
    let w = batch_to_wit(batch).unwrap();
    assert_eq!(w.num_rows, 3);
    // Every column has a NULL in row 3, so every nulls list is present.
    assert!(w
        .columns
        .iter()
        .all(|c| c.nulls == vec![false, false, true]));
    let back = batch_from_wit(&schema, w).unwrap();
    assert!(
        same(&back, &expected),
        "{:?}\n!=\n{:?}",
        back.values(),
        expected.values()
    );
}

#[test]
fn nulls_list_is_empty_without_nulls() {
    let schema = Arc::new(Schema::new(vec![
        Column::new("a", DataType::Int32, "int4"),
        Column::new("b", DataType::Text, "text"),
    ]));
    let mut b = Batch::new(schema.clone());
    b.push_row([Value::Int32(1), Value::Text("x".into())]);
    b.push_row([Value::Int32(2), Value::Null]);
    let w = batch_to_wit(b).unwrap();
    assert!(w.columns[0].nulls.is_empty());
    assert_eq!(w.columns[1].nulls, vec![false, true]);
    // A NULL row is an empty range in the var-column.
    match &w.columns[1].values {
        wit::ColumnValues::Text(v) => {
            assert_eq!(v.data, b"x");
            assert_eq!(v.offsets, vec![0, 1, 1]);
        }
        other => panic!("{other:?}"),
    }
    let back = batch_from_wit(&schema, w).unwrap();
    assert_eq!(back.row(1), &[Value::Int32(2), Value::Null]);
}

#[test]
fn uuid_and_mac_encodings_are_big_endian() {
    let u = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    assert_eq!(
        uuid_to_pair(u),
        (0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10)
    );
    assert_eq!(
        mac_to_u64([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]),
        0xaabb_ccdd_eeff
    );
    assert!(mac_from_wit(1 << 48).is_err());
}

#[test]
fn mismatched_value_names_column_and_row() {
    let schema = Arc::new(Schema::new(vec![
        Column::new("id", DataType::Int32, "int4"),
        Column::new("tags", DataType::Array(Box::new(DataType::Text)), "_text"),
    ]));
    let mut b = Batch::new(schema.clone());
    b.push_row([Value::Int32(1), Value::Null]);
    b.push_row([Value::Int64(2), Value::Null]);
    let e = batch_to_wit(b).unwrap_err();
    assert_eq!((e.column.as_str(), e.row), ("id", Some(1)));
    assert!(e.to_string().contains("int64"), "{e}");

    let mut b = Batch::new(schema);
    b.push_row([
        Value::Int32(1),
        Value::Array(Box::new(ArrayValue {
            dims: vec![(1, 1)],
            elements: vec![Value::Int32(5)],
        })),
    ]);
    let e = batch_to_wit(b).unwrap_err();
    assert_eq!((e.column.as_str(), e.row), ("tags", Some(0)));
    assert!(e.to_string().contains("array element 0"), "{e}");
}

#[test]
fn nested_arrays_are_refused_by_name() {
    let schema = Schema::new(vec![Column::new(
        "grid",
        DataType::Array(Box::new(DataType::Array(Box::new(DataType::Int32)))),
        "_int4",
    )]);
    let e = schema_to_wit(&schema).unwrap_err();
    assert_eq!(e.column, "grid");
}

#[test]
fn malformed_guest_batches_are_errors() {
    let schema = Arc::new(Schema::new(vec![
        Column::new("a", DataType::Int32, "int4"),
        Column::new("n", DataType::Inet, "inet"),
    ]));
    let ok_col = |v| wit::ColumnData {
        nulls: vec![],
        values: v,
    };
    // Wrong column count.
    let e = batch_from_wit(
        &schema,
        wit::Batch {
            num_rows: 1,
            columns: vec![ok_col(wit::ColumnValues::Int32(vec![1]))],
        },
    )
    .unwrap_err();
    assert!(e.message.contains("1 columns"), "{e}");
    // Wrong type.
    let e = batch_from_wit(
        &schema,
        wit::Batch {
            num_rows: 1,
            columns: vec![
                ok_col(wit::ColumnValues::Int64(vec![1])),
                ok_col(wit::ColumnValues::Inet(vec![wit::Inet {
                    addr: vec![127, 0, 0, 1],
                    prefix: 32,
                    cidr: false,
                }])),
            ],
        },
    )
    .unwrap_err();
    assert_eq!(e.column, "a");
    assert!(e.message.contains("int64"), "{e}");
    // Wrong length.
    let e = batch_from_wit(
        &schema,
        wit::Batch {
            num_rows: 1,
            columns: vec![
                ok_col(wit::ColumnValues::Int32(vec![1])),
                ok_col(wit::ColumnValues::Inet(vec![])),
            ],
        },
    )
    .unwrap_err();
    assert_eq!(e.column, "n");
    // Bad inet address length names the row.
    let e = batch_from_wit(
        &schema,
        wit::Batch {
            num_rows: 2,
            columns: vec![
                ok_col(wit::ColumnValues::Int32(vec![1, 2])),
                wit::ColumnData {
                    nulls: vec![true, false],
                    values: wit::ColumnValues::Inet(vec![
                        wit::Inet {
                            addr: vec![],
                            prefix: 0,
                            cidr: false,
                        },
                        wit::Inet {
                            addr: vec![1, 2, 3],
                            prefix: 0,
                            cidr: false,
                        },
                    ]),
                },
            ],
        },
    )
    .unwrap_err();
    assert_eq!((e.column.as_str(), e.row), ("n", Some(1)));
}

/// `num_rows` is the guest's word: a huge one with no values behind it must be refused
/// before the host sizes anything by it (it used to allocate rows × width values first).
#[test]
fn forged_row_count_is_refused_before_allocating() {
    let schema = Arc::new(Schema::new(vec![
        Column::new("a", DataType::Int32, "int4"),
        Column::new("b", DataType::Text, "text"),
    ]));
    let e = batch_from_wit(
        &schema,
        wit::Batch {
            num_rows: u32::MAX,
            columns: vec![
                wit::ColumnData {
                    nulls: vec![],
                    values: wit::ColumnValues::Int32(vec![1]),
                },
                wit::ColumnData {
                    nulls: vec![],
                    values: wit::ColumnValues::Text(var(b"", &[0])),
                },
            ],
        },
    )
    .unwrap_err();
    assert_eq!(e.column, "a");
    assert!(e.message.contains(&u32::MAX.to_string()), "{e}");
    // The same with the var-column checked first: its offsets must back the row count.
    let schema = Arc::new(Schema::new(vec![Column::new("b", DataType::Text, "text")]));
    let e = batch_from_wit(
        &schema,
        wit::Batch {
            num_rows: u32::MAX,
            columns: vec![wit::ColumnData {
                nulls: vec![],
                values: wit::ColumnValues::Text(var(b"ab", &[0, 1, 2])),
            }],
        },
    )
    .unwrap_err();
    assert_eq!((e.column.as_str(), e.row), ("b", None));
    assert!(e.message.contains("3 offsets"), "{e}");
}

fn var(data: &[u8], offsets: &[u32]) -> wit::VarColumn {
    wit::VarColumn {
        data: data.to_vec(),
        offsets: offsets.to_vec(),
    }
}

/// What a guest sends back in one text, bytes or json column of `rows` rows.
fn one_var_column(
    dt: DataType,
    rows: u32,
    nulls: Vec<bool>,
    values: wit::ColumnValues,
) -> Result<Batch, ConvertError> {
    let schema = Arc::new(Schema::new(vec![Column::new("v", dt, "x")]));
    batch_from_wit(
        &schema,
        wit::Batch {
            num_rows: rows,
            columns: vec![wit::ColumnData { nulls, values }],
        },
    )
}

#[test]
fn var_columns_decode_with_nulls_and_empty_values() {
    use wit::ColumnValues as C;
    let b = one_var_column(
        DataType::Text,
        4,
        vec![false, true, false, false],
        C::Text(var("héé✓".as_bytes(), &[0, 3, 3, 3, 8])),
    )
    .unwrap();
    let got: Vec<&Value> = (0..4).map(|r| &b.row(r)[0]).collect();
    assert_eq!(
        got,
        vec![
            &Value::Text("hé".into()),
            &Value::Null,
            &Value::Text(String::new()),
            &Value::Text("é✓".into())
        ]
    );
    // Bytes need not be UTF-8; a NULL row's bytes are ignored.
    let b = one_var_column(
        DataType::Bytes,
        2,
        vec![true, false],
        C::Bytes(var(&[0xff, 0xfe, 0x00], &[0, 2, 3])),
    )
    .unwrap();
    assert_eq!(b.row(0), &[Value::Null]);
    assert_eq!(b.row(1), &[Value::Bytes(vec![0])]);
    // Zero rows: one offset.
    let b = one_var_column(DataType::Json, 0, vec![], C::Json(var(b"", &[0]))).unwrap();
    assert_eq!(b.num_rows(), 0);
}

/// Every way a guest can get a var-column wrong is a `ConvertError` naming the column (and
/// the row, when one row is at fault), never a panic or an allocation sized by its claims.
#[test]
fn malformed_var_columns_are_errors() {
    use wit::ColumnValues as C;
    let text = |rows, data: &[u8], offsets: &[u32]| {
        one_var_column(DataType::Text, rows, vec![], C::Text(var(data, offsets))).unwrap_err()
    };
    let check = |e: ConvertError, row: Option<usize>, needle: &str| {
        assert_eq!((e.column.as_str(), e.row), ("v", row), "{e}");
        assert!(e.message.contains(needle), "{e:?} lacks {needle:?}");
    };
    // Wrong number of offsets: none, one per row (the classic off-by-one), one too many.
    check(text(0, b"", &[]), None, "0 offsets");
    check(
        text(2, b"ab", &[0, 2]),
        None,
        "2 offsets but the batch has 2 rows",
    );
    check(text(1, b"ab", &[0, 1, 2]), None, "3 offsets");
    // Not starting at 0 (leading garbage).
    check(text(1, b"ab", &[1, 2]), None, "start at 1");
    // Going backwards.
    check(text(3, b"abc", &[0, 2, 1, 3]), Some(1), "backwards");
    // Past the end of the data, also by a huge amount.
    check(text(2, b"abc", &[0, 1, 4]), Some(1), "past the end");
    check(text(1, b"abc", &[0, u32::MAX]), Some(0), "past the end");
    // Ending before the end of the data (trailing garbage).
    check(text(1, b"abc", &[0, 2]), None, "buffer has 3 bytes");
    // Invalid UTF-8 names the row holding the bad byte.
    check(
        text(3, b"okok\xffok", &[0, 2, 4, 7]),
        Some(2),
        "not valid UTF-8",
    );
    check(text(2, b"\xc3", &[0, 0, 1]), Some(1), "not valid UTF-8");
    // Valid UTF-8 overall, but an offset cuts "é" (2 bytes) in two.
    check(
        text(2, "é".as_bytes(), &[0, 1, 2]),
        Some(0),
        "inside a UTF-8 character",
    );
    // ... also when the cut is between two NULL rows (the contract covers every offset).
    let e = one_var_column(
        DataType::Text,
        2,
        vec![true, true],
        C::Text(var("é".as_bytes(), &[0, 1, 2])),
    )
    .unwrap_err();
    check(e, Some(0), "inside a UTF-8 character");
    // numeric and json are text too.
    let e = one_var_column(
        DataType::Numeric,
        1,
        vec![],
        C::Numeric(var(b"1\xff", &[0, 2])),
    )
    .unwrap_err();
    check(e, Some(0), "not valid UTF-8");
    let e = one_var_column(DataType::Json, 1, vec![], C::Json(var(b"\xff", &[0, 1]))).unwrap_err();
    check(e, Some(0), "not valid UTF-8");
    // Bytes are checked for offsets, not UTF-8.
    let e = one_var_column(
        DataType::Bytes,
        2,
        vec![],
        C::Bytes(var(b"\xff", &[0, 2, 1])),
    )
    .unwrap_err();
    check(e, Some(0), "past the end");
    // A var-column of the wrong type (bytes for a text column) is a type error.
    let e = one_var_column(DataType::Text, 1, vec![], C::Bytes(var(b"a", &[0, 1]))).unwrap_err();
    check(e, None, "values are bytes");
    // Null flags of the wrong length.
    let e = one_var_column(
        DataType::Text,
        1,
        vec![true, false],
        C::Text(var(b"a", &[0, 1])),
    )
    .unwrap_err();
    check(e, None, "2 null flags");
}

#[test]
fn var_column_size_counts_data_and_offsets() {
    let c = wit::ColumnData {
        nulls: vec![],
        values: wit::ColumnValues::Bytes(var(&[0; 100], &[0, 50, 100])),
    };
    assert_eq!(column_size(&c), 100 + 3 * 4);
}

#[test]
fn size_estimate_counts_payload() {
    let w = batch_to_wit(every_type_batch()).unwrap();
    let s = batch_size(&w);
    assert!(s > 200 && s < 10_000, "{s}");
}

/// Informational: conversion throughput for a typical 10k-row, 6-column batch.
#[test]
fn conversion_speed() {
    let schema = Arc::new(Schema::new(vec![
        Column::new("id", DataType::Int64, "int8"),
        Column::new("name", DataType::Text, "text"),
        Column::new("amount", DataType::Numeric, "numeric"),
        Column::new("at", DataType::TimestampTz, "timestamptz"),
        Column::new("ok", DataType::Bool, "bool"),
        Column::new("note", DataType::Text, "text"),
    ]));
    let rows = 10_000;
    let mut b = Batch::with_capacity(schema.clone(), rows);
    for i in 0..rows as i64 {
        b.push_row([
            Value::Int64(i),
            Value::Text(format!("customer {i}")),
            Value::Numeric(format!("{i}.25")),
            Value::TimestampTz(i * 1_000_000),
            Value::Bool(i % 2 == 0),
            if i % 7 == 0 {
                Value::Null
            } else {
                Value::Text("some note".into())
            },
        ]);
    }
    let t = std::time::Instant::now();
    let w = batch_to_wit(b).unwrap();
    let out = t.elapsed();
    let t = std::time::Instant::now();
    let back = batch_from_wit(&schema, w).unwrap();
    let inn = t.elapsed();
    assert_eq!(back.num_rows(), rows);
    eprintln!("convert 10k x 6: to wit {out:?}, from wit {inn:?}");
}

/// Fuzz regression (`guest_output` target): a guest array whose dimensions multiply past i64
/// (three of i32::MAX) overflowed while being checked (a panic in debug builds, a wrapped count
/// in release). It is refused by name.
#[test]
fn array_dimensions_that_overflow_are_refused() {
    let schema: SchemaRef = Arc::new(Schema::new(vec![Column::new(
        "a",
        DataType::Array(Box::new(DataType::Int32)),
        "_int4",
    )]));
    let batch = wit::Batch {
        num_rows: 1,
        columns: vec![wit::ColumnData {
            nulls: vec![false],
            values: wit::ColumnValues::Array(vec![wit::ArrayValue {
                dims: vec![(i32::MAX, 1); 3],
                elements: vec![Some(wit::Scalar::Int32(1))],
            }]),
        }],
    };
    let err = batch_from_wit(&schema, batch).unwrap_err().to_string();
    assert!(err.contains("column \"a\", row 0"), "{err}");
    assert!(err.contains("call for more than 2^63"), "{err}");
}
