//! Property tests (issue 13): generated values of every engine type, in columns named as the
//! PostgreSQL source names them, are written to a Parquet file and read back. Where the
//! Parquet mapping (`docs/parquet-type-mapping.md`) is native, the value comes back unchanged;
//! `timetz`, `interval`, `inet`/`cidr`, `macaddr` and ranges have no Parquet type and are
//! stored as PostgreSQL's text form, so they come back as exactly that text (which the
//! PostgreSQL sink casts back to the same value).
//!
//! Not generated, because they are not representable (each is an error naming the column, as
//! the mapping documents and `parquet_tests.rs` checks): arrays with more than one dimension
//! or a lower bound other than 1, and timestamps after 294247-01-10 (microseconds since 1970
//! overflow 64 bits). `numeric(p,s)` columns stored as DECIMAL are covered by the fixed cases
//! of `parquet_tests.rs`; the PostgreSQL source reports plain `numeric`, stored as text.

use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;

use super::super::arrow_values::default_type_name;
use super::{open_reader, open_writer, ParquetCodec, ParquetSettings};
use crate::types::batch::Batch;
use crate::types::schema::{Column, DataType, Schema, SchemaRef};
use crate::types::strategies::{all_data_types, array, nullable, range, same};
use crate::types::text_form::TextForm;
use crate::types::value::Value;

/// The largest timestamp Parquet's microseconds since 1970 hold (`infinity` aside).
const LAST_TIMESTAMP: i64 = i64::MAX - 946_684_800_000_000;

/// The PostgreSQL source's type name for an engine type.
fn pg_name(dt: &DataType) -> String {
    match dt {
        DataType::Range(s) => match **s {
            DataType::Int32 => "int4range".into(),
            DataType::Int64 => "int8range".into(),
            DataType::Numeric => "numrange".into(),
            DataType::Date => "daterange".into(),
            DataType::Timestamp => "tsrange".into(),
            _ => "tstzrange".into(),
        },
        other => default_type_name(other),
    }
}

/// Every leaf type, a one-dimensional array of each, and every range type.
fn columns() -> SchemaRef {
    Arc::new(Schema::new(
        all_data_types()
            .into_iter()
            .enumerate()
            .map(|(i, dt)| {
                let name = pg_name(&dt);
                Column::new(format!("c{i}_{name}"), dt, name)
            })
            .collect(),
    ))
}

/// Timestamps past Parquet's last one become that last one.
fn representable(v: Value) -> Value {
    match v {
        Value::Timestamp(t) if t != i64::MAX && t > LAST_TIMESTAMP => {
            Value::Timestamp(LAST_TIMESTAMP)
        }
        Value::TimestampTz(t) if t != i64::MAX && t > LAST_TIMESTAMP => {
            Value::TimestampTz(LAST_TIMESTAMP)
        }
        Value::Array(mut a) => {
            a.elements = std::mem::take(&mut a.elements)
                .into_iter()
                .map(representable)
                .collect();
            Value::Array(a)
        }
        other => other,
    }
}

fn value_of(dt: &DataType) -> BoxedStrategy<Value> {
    let v = match dt {
        DataType::Array(e) => prop_oneof![1 => Just(Value::Null), 6 => array(e, false)].boxed(),
        DataType::Range(s) => prop_oneof![1 => Just(Value::Null), 6 => range(s)].boxed(),
        _ => nullable(dt),
    };
    v.prop_map(representable).boxed()
}

/// What reading `v` (of type `dt`) back gives: the value itself, or its text form for the
/// types Parquet has no type for.
fn read_back(v: &Value, dt: &DataType) -> Value {
    match (v, dt) {
        (Value::Null, _) => Value::Null,
        (Value::Array(a), DataType::Array(e)) => {
            let mut a = a.clone();
            a.elements = a.elements.iter().map(|x| read_back(x, e)).collect();
            Value::Array(a)
        }
        (
            _,
            DataType::TimeTz
            | DataType::Interval
            | DataType::Inet
            | DataType::MacAddr
            | DataType::Range(_),
        ) => Value::Text(v.to_text().unwrap_or_default()),
        _ => v.clone(),
    }
}

fn rows() -> impl Strategy<Value = Vec<Vec<Value>>> {
    let strategies: Vec<BoxedStrategy<Value>> = columns()
        .columns
        .iter()
        .map(|c| value_of(&c.data_type))
        .collect();
    vec(strategies, 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_type_round_trips_through_parquet(rows in rows(), max_rows in 1usize..6) {
        let schema = columns();
        let file = tempfile::NamedTempFile::new().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let out = file.reopen().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let settings = ParquetSettings { codec: ParquetCodec::Snappy };
        let mut w = open_writer(Box::new(out), schema.clone(), &settings)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut batch = Batch::new(schema.clone());
        for r in &rows {
            batch.push_row(r.iter().cloned());
        }
        let written = w.write(&batch).and_then(|()| w.finish());
        if let Err(e) = &written {
            // PostgreSQL's timestamps reach past what Parquet's int64 microseconds since 1970
            // hold; the writer refuses those by name (a case for another test), not this one's.
            prop_assume!(!e.to_string().contains("a Parquet file holds"));
        }
        prop_assert!(written.is_ok(), "{written:?}");
        let input = file.reopen().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut r = open_reader(input, "x.parquet").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut back = Vec::new();
        loop {
            match r.next_batch(max_rows) {
                Ok(Some(b)) => back.extend(b.into_rows()),
                Ok(None) => break,
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
        prop_assert_eq!(back.len(), rows.len());
        for (got, want) in back.iter().zip(&rows) {
            for ((g, w), c) in got.iter().zip(want).zip(&schema.columns) {
                let expected = read_back(w, &c.data_type);
                prop_assert!(same(g, &expected), "{}: {w:?} came back as {g:?}", c.type_name);
            }
        }
    }
}
