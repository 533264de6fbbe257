use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use arrow_array::builder::{Int32Builder, ListBuilder, StringDictionaryBuilder};
use arrow_array::types::Int8Type;
use arrow_array::{
    ArrayRef, Date64Array, Decimal128Array, Float16Array, Int8Array, LargeStringArray, RecordBatch,
    StringViewArray, StructArray, TimestampMillisecondArray, TimestampNanosecondArray, UInt32Array,
    UInt64Array, UInt8Array,
};
use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema};

use super::*;
use crate::model::props::Props;
use crate::types::schema::{Column, DataType, Schema};
use crate::types::text_form::TextForm;
use crate::types::value::{ArrayValue, RangeValue, Value};

fn col(name: &str, dt: DataType, ty: &str) -> Column {
    Column::new(name, dt, ty)
}

/// Every engine type, with the PostgreSQL type names the PostgreSQL source reports.
fn all_types() -> (SchemaRef, Vec<Vec<Value>>) {
    let schema = Arc::new(Schema::new(vec![
        col("bo", DataType::Bool, "bool"),
        col("i2", DataType::Int16, "int2"),
        col("i4", DataType::Int32, "int4"),
        col("i8", DataType::Int64, "int8"),
        col("r", DataType::Float32, "float4"),
        col("d", DataType::Float64, "float8"),
        col("num", DataType::Numeric, "numeric"),
        col("num_s", DataType::Numeric, "numeric(25,5)"),
        col("m", DataType::Money, "money"),
        col("t", DataType::Text, "text"),
        col("b", DataType::Bytes, "bytea"),
        col("u", DataType::Uuid, "uuid"),
        col("j", DataType::Json, "jsonb"),
        col("dt", DataType::Date, "date"),
        col("tm", DataType::Time, "time"),
        col("ttz", DataType::TimeTz, "timetz"),
        col("ts", DataType::Timestamp, "timestamp"),
        col("tstz", DataType::TimestampTz, "timestamptz"),
        col("iv", DataType::Interval, "interval"),
        col("ip", DataType::Inet, "inet"),
        col("mac", DataType::MacAddr, "macaddr"),
        col("ai", DataType::Array(Box::new(DataType::Int32)), "_int4"),
        col(
            "an",
            DataType::Array(Box::new(DataType::Numeric)),
            "_numeric",
        ),
        col(
            "r4",
            DataType::Range(Box::new(DataType::Int32)),
            "int4range",
        ),
        col("pt", DataType::Text, "point"),
    ]));
    let arr = |elements: Vec<Value>| {
        let n = elements.len() as i32;
        Value::Array(Box::new(ArrayValue {
            dims: if n == 0 { vec![] } else { vec![(n, 1)] },
            elements,
        }))
    };
    let rows = vec![
        vec![
            Value::Bool(true),
            Value::Int16(i16::MIN),
            Value::Int32(i32::MAX),
            Value::Int64(i64::MIN),
            Value::Float32(f32::INFINITY),
            Value::Float64(-0.0),
            Value::Numeric("NaN".into()),
            Value::Numeric("12345678901234567890.12345".into()),
            Value::Money(i64::MIN),
            Value::Text("tab\there \"q\" ünï".into()),
            Value::Bytes(vec![0, 255, 16]),
            Value::Uuid([0xa0; 16]),
            Value::Json(r#"{"a": [1, 2.50, null]}"#.into()),
            Value::Date(i32::MAX),
            Value::Time(86_399_999_999),
            Value::TimeTz {
                micros: 43_200_000_000,
                offset_secs: 19_800,
            },
            Value::Timestamp(i64::MIN),
            Value::TimestampTz(i64::MAX),
            Value::Interval {
                months: 14,
                days: -3,
                micros: 14_706_789_000,
            },
            Value::Inet {
                addr: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
                prefix: 24,
                cidr: false,
            },
            Value::MacAddr([8, 0, 0x2b, 1, 2, 3]),
            arr(vec![Value::Int32(1), Value::Null, Value::Int32(3)]),
            arr(vec![
                Value::Numeric("1.5".into()),
                Value::Numeric("NaN".into()),
            ]),
            Value::Range(Box::new(RangeValue {
                empty: false,
                lower: Some(Value::Int32(1)),
                upper: Some(Value::Int32(10)),
                lower_inclusive: true,
                upper_inclusive: false,
            })),
            Value::Text("(1.5,-2)".into()),
        ],
        vec![
            Value::Bool(false),
            Value::Int16(0),
            Value::Int32(-1),
            Value::Int64(i64::MAX),
            Value::Float32(-0.5),
            Value::Float64(1e-300),
            Value::Numeric(format!("{}.{}", "9".repeat(500), "1".repeat(500))),
            Value::Numeric("-0.00001".into()),
            Value::Money(1234),
            Value::Text(String::new()),
            Value::Bytes(vec![]),
            Value::Uuid([0; 16]),
            Value::Json("[]".into()),
            // A date BC.
            Value::Date(-746_024),
            Value::Time(0),
            Value::TimeTz {
                micros: 0,
                offset_secs: -43_200,
            },
            // 0001-01-01 BC.
            Value::Timestamp(-63_145_526_400_000_000),
            Value::TimestampTz(i64::MIN),
            Value::Interval {
                months: -2_136_000_000,
                days: 0,
                micros: 0,
            },
            Value::Inet {
                addr: "::1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                prefix: 128,
                cidr: false,
            },
            Value::MacAddr([255; 6]),
            arr(vec![]),
            arr(vec![]),
            Value::Range(Box::new(RangeValue {
                empty: true,
                lower: None,
                upper: None,
                lower_inclusive: false,
                upper_inclusive: false,
            })),
            Value::Text(String::new()),
        ],
        vec![
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Float32(f32::NAN),
            Value::Null,
            Value::Numeric("-0.000000000000000000001".into()),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Date(8_825),
            Value::Null,
            Value::Null,
            Value::Timestamp(762_438_896_123_456),
            Value::TimestampTz(-946_684_799_999_999),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
    ];
    (schema, rows)
}

fn write_file(
    schema: &SchemaRef,
    rows: &[Vec<Value>],
    settings: &ParquetSettings,
) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = Box::new(file.reopen().unwrap());
    let mut w = open_writer(out, schema.clone(), settings).unwrap();
    let mut batch = Batch::new(schema.clone());
    for r in rows {
        batch.push_row(r.iter().cloned());
    }
    w.write(&batch).unwrap();
    let bytes = w.finish().unwrap();
    assert_eq!(bytes, file.as_file().metadata().unwrap().len());
    file
}

fn read_all(path: &std::path::Path, max_rows: usize) -> (SchemaRef, Vec<Vec<Value>>) {
    let mut r = open_reader(std::fs::File::open(path).unwrap(), "file 'x.parquet'").unwrap();
    let schema = r.schema();
    let mut rows = Vec::new();
    while let Some(b) = r.next_batch(max_rows).unwrap() {
        assert!(b.num_rows() <= max_rows);
        rows.extend(b.into_rows());
    }
    (schema, rows)
}

/// Values compare equal, NaN included.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float32(x), Value::Float32(y)) => x.to_bits() == y.to_bits(),
        (Value::Float64(x), Value::Float64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

#[test]
fn every_type_round_trips_with_every_codec() {
    let (schema, rows) = all_types();
    for codec in [
        ParquetCodec::None,
        ParquetCodec::Snappy,
        ParquetCodec::Gzip,
        ParquetCodec::Zstd,
        ParquetCodec::Lz4,
    ] {
        let file = write_file(&schema, &rows, &ParquetSettings { codec });
        let (back_schema, back) = read_all(file.path(), 2);
        assert_eq!(back.len(), rows.len(), "{codec:?}");
        for (c, (orig, got)) in schema.columns.iter().zip(&back_schema.columns).enumerate() {
            assert_eq!(orig.name, got.name);
            assert_eq!(orig.type_name, got.type_name, "{}", orig.name);
            for (r, (a, b)) in rows.iter().zip(&back).enumerate() {
                let want = match &a[c] {
                    // Types without an arrow equivalent come back as their text form, which
                    // PostgreSQL parses back into the same value.
                    v @ (Value::TimeTz { .. }
                    | Value::Interval { .. }
                    | Value::Inet { .. }
                    | Value::MacAddr(_)
                    | Value::Range(_)) => Value::Text(v.to_text().unwrap()),
                    v => v.clone(),
                };
                assert!(
                    same(&want, &b[c]),
                    "{codec:?} row {r} column {}: {want:?} != {:?}",
                    orig.name,
                    b[c]
                );
            }
        }
    }
}

#[test]
fn parquet_metadata_uses_natural_types_and_codec() {
    let (schema, rows) = all_types();
    let file = write_file(
        &schema,
        &rows,
        &ParquetSettings {
            codec: ParquetCodec::Zstd,
        },
    );
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file.path()).unwrap())
            .unwrap();
    let s = builder.schema();
    let ty = |n: &str| s.field_with_name(n).unwrap().data_type().clone();
    assert_eq!(ty("num_s"), ArrowType::Decimal128(25, 5));
    assert_eq!(ty("num"), ArrowType::Utf8);
    assert_eq!(ty("dt"), ArrowType::Date32);
    assert_eq!(
        ty("tstz"),
        ArrowType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(ty("u"), ArrowType::FixedSizeBinary(16));
    assert!(matches!(ty("ai"), ArrowType::List(_)));
    // UUID and JSON logical types, so other tools know what the bytes and strings hold.
    let pq = builder.parquet_schema();
    let logical = |i: usize| pq.column(i).logical_type_ref().cloned();
    assert_eq!(logical(11), Some(parquet::basic::LogicalType::Uuid));
    assert_eq!(logical(12), Some(parquet::basic::LogicalType::Json));
    let rg = builder.metadata().row_group(0);
    assert_eq!(
        rg.column(0).compression(),
        Compression::ZSTD(ZstdLevel::default())
    );
    // Dates are days since 1970 in the file: 2024-02-29 is 19782.
    let mut reader = builder.build().unwrap();
    let rb = reader.next().unwrap().unwrap();
    let dates = rb.column_by_name("dt").unwrap();
    let dates = dates
        .as_any()
        .downcast_ref::<arrow_array::Date32Array>()
        .unwrap();
    assert_eq!(dates.value(2), 19_782);
}

#[test]
fn large_files_are_cut_into_row_groups_and_read_in_small_batches() {
    let schema = Arc::new(Schema::new(vec![
        col("id", DataType::Int64, "int8"),
        col("t", DataType::Text, "text"),
    ]));
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut w = open_writer(
        Box::new(file.reopen().unwrap()),
        schema.clone(),
        &ParquetSettings::default(),
    )
    .unwrap();
    let total = ROW_GROUP_ROWS * 2 + 10;
    let mut written = 0;
    while written < total {
        let mut b = Batch::new(schema.clone());
        for i in written..(written + 10_000).min(total) {
            b.push_row([Value::Int64(i as i64), Value::Text(format!("row {i}"))]);
        }
        written += b.num_rows();
        w.write(&b).unwrap();
    }
    w.finish().unwrap();
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file.path()).unwrap())
            .unwrap();
    assert_eq!(builder.metadata().num_row_groups(), 3);
    let (_, rows) = read_all(file.path(), 10_000);
    assert_eq!(rows.len(), total);
    assert_eq!(rows[total - 1][0], Value::Int64(total as i64 - 1));
}

#[test]
fn files_from_other_writers_map_to_engine_types() {
    let mut list = ListBuilder::new(Int32Builder::new());
    list.values().append_value(1);
    list.values().append_null();
    list.append(true);
    list.append(false);
    let mut dict = StringDictionaryBuilder::<Int8Type>::new();
    dict.append_value("cat");
    dict.append_null();
    let strukt = StructArray::from(vec![
        (
            Arc::new(Field::new("a", ArrowType::Int32, true)),
            Arc::new(arrow_array::Int32Array::from(vec![Some(1), None])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("b", ArrowType::Utf8, true)),
            Arc::new(arrow_array::StringArray::from(vec![
                Some("x\"y"),
                Some("z"),
            ])) as ArrayRef,
        ),
    ]);
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("i8", Arc::new(Int8Array::from(vec![Some(-5), None]))),
        ("u8", Arc::new(UInt8Array::from(vec![Some(255), Some(0)]))),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![Some(u32::MAX), None])),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![Some(u64::MAX), None])),
        ),
        (
            "f16",
            Arc::new(Float16Array::from(vec![Some(half_one()), None])),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(vec![Some(-12345), Some(5)])
                    .with_precision_and_scale(10, 3)
                    .unwrap(),
            ),
        ),
        (
            "ls",
            Arc::new(LargeStringArray::from(vec![Some("large"), None])),
        ),
        (
            "sv",
            Arc::new(StringViewArray::from(vec![Some("view"), Some("")])),
        ),
        (
            "d64",
            Arc::new(Date64Array::from(vec![
                Some(86_400_000 * 10_957),
                Some(-86_400_000),
            ])),
        ),
        (
            "ts_ns",
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(946_684_800_123_456_789),
                None,
            ])),
        ),
        (
            "ts_ms_tz",
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(0), Some(-1)]).with_timezone("+02:00"),
            ),
        ),
        ("list", Arc::new(list.finish())),
        ("cat", Arc::new(dict.finish())),
        ("st", Arc::new(strukt)),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let rb = RecordBatch::try_new(
        Arc::new(ArrowSchema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut w = ArrowWriter::try_new(file.reopen().unwrap(), rb.schema(), None).unwrap();
    w.write(&rb).unwrap();
    w.close().unwrap();

    let (schema, rows) = read_all(file.path(), 100);
    let types: Vec<(&str, &DataType, &str)> = schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), &c.data_type, c.type_name.as_str()))
        .collect();
    assert_eq!(types[0], ("i8", &DataType::Int16, "int2"));
    assert_eq!(types[3], ("u64", &DataType::Numeric, "numeric"));
    assert_eq!(
        types[10],
        ("ts_ms_tz", &DataType::TimestampTz, "timestamptz")
    );
    assert_eq!(types[11].1, &DataType::Array(Box::new(DataType::Int32)));
    assert_eq!(types[12].1, &DataType::Text);
    assert_eq!(types[13], ("st", &DataType::Json, "json"));
    let r0 = &rows[0];
    assert_eq!(r0[0], Value::Int16(-5));
    assert_eq!(r0[1], Value::Int16(255));
    assert_eq!(r0[2], Value::Int64(i64::from(u32::MAX)));
    assert_eq!(r0[3], Value::Numeric(u64::MAX.to_string()));
    assert_eq!(r0[4], Value::Float32(1.0));
    assert_eq!(r0[5], Value::Numeric("-12.345".into()));
    assert_eq!(rows[1][5], Value::Numeric("0.005".into()));
    assert_eq!(r0[6], Value::Text("large".into()));
    assert_eq!(r0[7], Value::Text("view".into()));
    assert_eq!(r0[8], Value::Date(0));
    assert_eq!(rows[1][8], Value::Date(-10_958));
    // Nanoseconds are cut to PostgreSQL's microseconds.
    assert_eq!(r0[9], Value::Timestamp(123_456));
    assert_eq!(r0[10], Value::TimestampTz(-946_684_800_000_000));
    assert_eq!(rows[1][10], Value::TimestampTz(-946_684_800_001_000));
    assert_eq!(
        r0[11],
        Value::Array(Box::new(ArrayValue {
            dims: vec![(2, 1)],
            elements: vec![Value::Int32(1), Value::Null],
        }))
    );
    assert_eq!(rows[1][11], Value::Null);
    assert_eq!(r0[12], Value::Text("cat".into()));
    assert_eq!(rows[1][12], Value::Null);
    assert_eq!(r0[13], Value::Json(r#"{"a":1,"b":"x\"y"}"#.into()));
    assert_eq!(rows[1][13], Value::Json(r#"{"a":null,"b":"z"}"#.into()));
}

fn half_one() -> <arrow_array::types::Float16Type as arrow_array::ArrowPrimitiveType>::Native {
    <arrow_array::types::Float16Type as arrow_array::ArrowPrimitiveType>::Native::from_f32(1.0)
}

#[test]
fn corrupt_and_foreign_files_give_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = |bytes: &[u8]| {
        let p = dir.path().join("bad.parquet");
        std::fs::write(&p, bytes).unwrap();
        match open_reader(std::fs::File::open(&p).unwrap(), "file 'in/bad.parquet'") {
            Err(e) => e.to_string(),
            Ok(mut r) => loop {
                match r.next_batch(100) {
                    Err(e) => break e.to_string(),
                    Ok(None) => panic!("a corrupt file read without error"),
                    Ok(Some(_)) => {}
                }
            },
        }
    };
    assert_eq!(
        err(b"id,name\n1,a\n"),
        "file 'in/bad.parquet': not a Parquet file (bad magic bytes)"
    );
    assert!(err(b"").contains("too short"));

    let (schema, rows) = all_types();
    let good =
        std::fs::read(write_file(&schema, &rows, &ParquetSettings::default()).path()).unwrap();
    let truncated = err(&good[..good.len() / 2]);
    assert!(
        truncated.starts_with("file 'in/bad.parquet': corrupt Parquet file"),
        "{truncated}"
    );
    // Damage the footer length and the data pages: never a panic, always the file's name.
    let mut bad_len = good.clone();
    let n = bad_len.len();
    bad_len[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(err(&bad_len).starts_with("file 'in/bad.parquet': corrupt Parquet file"));
    for step in [7usize, 13, 31] {
        let mut garbled = good.clone();
        for i in (4..n / 2).step_by(step) {
            garbled[i] ^= 0x5a;
        }
        let e = err(&garbled);
        assert!(e.starts_with("file 'in/bad.parquet': "), "{e}");
    }
}

#[test]
fn values_parquet_cannot_hold_are_clear_errors() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let schema = Arc::new(Schema::new(vec![col(
        "a2",
        DataType::Array(Box::new(DataType::Int32)),
        "_int4",
    )]));
    let mut w = open_writer(
        Box::new(file.reopen().unwrap()),
        schema.clone(),
        &ParquetSettings::default(),
    )
    .unwrap();
    let mut b = Batch::new(schema.clone());
    b.push_row([Value::Array(Box::new(ArrayValue {
        dims: vec![(2, 0), (1, 1)],
        elements: vec![Value::Int32(1), Value::Int32(2)],
    }))]);
    let e = w.write(&b).unwrap_err().to_string();
    assert!(e.contains("column 'a2': a 2-dimensional array"), "{e}");

    let schema = Arc::new(Schema::new(vec![col(
        "n",
        DataType::Numeric,
        "numeric(5,2)",
    )]));
    let mut w = open_writer(
        Box::new(file.reopen().unwrap()),
        schema.clone(),
        &ParquetSettings::default(),
    )
    .unwrap();
    let mut b = Batch::new(schema.clone());
    b.push_row([Value::Numeric("NaN".into())]);
    let e = w.write(&b).unwrap_err().to_string();
    assert!(
        e.contains("column 'n': NaN does not fit a Parquet DECIMAL(5,2)"),
        "{e}"
    );
}

#[test]
fn compression_codec_property() {
    let parse = |v: serde_json::Value| {
        let map = serde_json::json!({ "compressionCodec": v });
        let props = Props::of("dataset 'P'", &map).unwrap();
        ParquetSettings::from_dataset(&props).map(|s| s.codec)
    };
    assert_eq!(
        parse(serde_json::json!("gzip")).unwrap(),
        ParquetCodec::Gzip
    );
    assert_eq!(
        parse(serde_json::json!("ZSTD")).unwrap(),
        ParquetCodec::Zstd
    );
    assert_eq!(
        parse(serde_json::json!("none")).unwrap(),
        ParquetCodec::None
    );
    assert_eq!(
        parse(serde_json::Value::Null).unwrap(),
        ParquetCodec::Snappy
    );
    let e = parse(serde_json::json!("brotli")).unwrap_err().to_string();
    assert!(
        e.contains("compressionCodec") && e.contains("brotli"),
        "{e}"
    );
}

/// The input the `parquet` fuzz target found (`host/fuzz/README.md`, Findings): the dictionary
/// page of a gzip-compressed DOUBLE column claims 811,647,367 values in 16 bytes, and the
/// `parquet` crate filled a dictionary of that many values (6.5 GB) before decoding any. Byte 0
/// of a fuzz input is the batch size, the rest is the file.
#[test]
fn a_dictionary_claiming_more_values_than_its_bytes_hold_is_refused() {
    let input = include_bytes!("../../../fuzz/corpus/parquet/regression-oom-19597fb0");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &input[1..]).unwrap();
    let e = read_error(file.path());
    assert_eq!(e.kind(), StoreErrorKind::Data, "{e}");
    let msg = e.to_string();
    assert_eq!(
        msg,
        "file 'in/forged.parquet': corrupt Parquet file: column 5 of row group 0: the dictionary \
         page at offset 435 claims 811647367 DOUBLE values in 16 bytes (at most 2 fit)"
    );
}

/// Opens and reads a file to the end; the error it gives (a file that reads is a failure).
fn read_error(path: &std::path::Path) -> StoreError {
    let label = "file 'in/forged.parquet'";
    match open_reader(std::fs::File::open(path).unwrap(), label) {
        Err(e) => e,
        Ok(mut r) => loop {
            match r.next_batch(100) {
                Err(e) => break e,
                Ok(None) => panic!("a forged file read without error"),
                Ok(Some(_)) => {}
            }
        },
    }
}

/// A file the crate writes with one INT64 column of `distinct` values, dictionary-encoded: its
/// bytes, and where the first page's header (the dictionary page, at offset 4) has its
/// `uncompressed_page_size` and its `num_values` varints (offset, length).
fn dictionary_file(
    codec: ParquetCodec,
    distinct: i64,
) -> (Vec<u8>, (usize, usize), (usize, usize)) {
    let schema = Arc::new(Schema::new(vec![col("n", DataType::Int64, "int8")]));
    let rows: Vec<Vec<Value>> = (0..distinct)
        .map(|i| vec![Value::Int64(i * 7919)])
        .collect();
    let bytes =
        std::fs::read(write_file(&schema, &rows, &ParquetSettings { codec }).path()).unwrap();
    // The header: type (1), uncompressed (2), compressed (3) as i32 fields (0x15), then the
    // dictionary page header (field 7, a struct: 0x4c) whose first field is num_values.
    let varint = |at: usize| {
        (
            at,
            bytes[at..].iter().position(|b| b & 0x80 == 0).unwrap() + 1,
        )
    };
    assert_eq!(bytes[4], 0x15);
    let (t, t_len) = varint(5);
    assert_eq!(bytes[t], 4, "a dictionary page (type 2, zigzag 4) first");
    assert_eq!(bytes[t + t_len], 0x15);
    let uncompressed = varint(t + t_len + 1);
    assert_eq!(bytes[uncompressed.0 + uncompressed.1], 0x15);
    let compressed = varint(uncompressed.0 + uncompressed.1 + 1);
    let at = compressed.0 + compressed.1;
    assert_eq!(&bytes[at..at + 2], &[0x4c, 0x15]);
    let num_values = varint(at + 2);
    (bytes, uncompressed, num_values)
}

/// Writes `value` (zigzag-encoded, as Thrift's i32) over the varint at `at`, keeping its length
/// (continuation bytes pad a varint).
fn patch_varint(bytes: &mut [u8], (at, len): (usize, usize), value: i32) {
    let mut v = u64::from(((value << 1) ^ (value >> 31)) as u32);
    for i in 0..len {
        let last = i + 1 == len;
        bytes[at + i] = (v & 0x7f) as u8 | if last { 0 } else { 0x80 };
        v >>= 7;
    }
    assert_eq!(v, 0, "{value} does not fit {len} varint bytes");
}

#[test]
fn forged_page_sizes_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forged.parquet");
    // Unpatched, the files read: the checks refuse nothing the crate writes.
    for codec in [
        ParquetCodec::None,
        ParquetCodec::Snappy,
        ParquetCodec::Gzip,
        ParquetCodec::Lz4,
    ] {
        let (bytes, _, (at, len)) = dictionary_file(codec, 2000);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_all(&path, 500).1.len(), 2000, "{codec:?}");

        // 2000 INT64 values take 16,000 bytes: a dictionary cannot hold 2001 of them.
        let mut forged = bytes.clone();
        patch_varint(&mut forged, (at, len), 2001);
        std::fs::write(&path, &forged).unwrap();
        let e = read_error(&path);
        assert_eq!(e.kind(), StoreErrorKind::Data, "{codec:?}: {e}");
        assert!(
            e.to_string().starts_with(
                "file 'in/forged.parquet': corrupt Parquet file: column 0 of row group 0: \
                 the dictionary page at offset "
            ) && e
                .to_string()
                .ends_with("claims 2001 INT64 values in 16000 bytes (at most 2000 fit)"),
            "{codec:?}: {e}"
        );
    }

    // Snappy zero-fills the uncompressed size the header gives before it decompresses: a page
    // of at most 16 kB of Snappy cannot hold a megabyte.
    let (mut bytes, uncompressed, _) = dictionary_file(ParquetCodec::Snappy, 2000);
    assert_eq!(uncompressed.1, 3, "a 3-byte varint holds up to 1 MiB - 1");
    patch_varint(&mut bytes, uncompressed, (1 << 20) - 1);
    std::fs::write(&path, &bytes).unwrap();
    let e = read_error(&path).to_string();
    assert!(
        e.starts_with(
            "file 'in/forged.parquet': corrupt Parquet file: column 0 of row group 0: the page \
             at offset "
        ),
        "{e}"
    );
    assert!(e.ends_with("more than SNAPPY can expand to"), "{e}");
}
