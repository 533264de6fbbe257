//! Property tests (issue 13): generated values of every type a plugin can see cross the plugin
//! boundary and come back unchanged, both ways a batch crosses it: as engine values
//! (`batch_to_wit`, then the guest-output validation of `batch_from_wit`) and as binary COPY
//! tuples (`tuples_to_wit`, then `wit_to_tuples` for the same column types). Arrays of ranges
//! are left out: the WIT carries arrays of leaves only (see `ArrayValue`), so the engine
//! refuses them at the boundary with a named error.

use std::sync::Arc;

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use tokio_postgres::types::Type;

use super::{batch_from_wit, batch_to_wit};
use crate::plugins::copy_tuples::{tuples_to_wit, wit_to_tuples};
use crate::stores::postgres::binary::codec_types;
use crate::stores::postgres::copy_binary::{
    write_header, write_row, write_trailer, CopyOutDecoder,
};
use crate::types::batch::{Batch, RawTuples};
use crate::types::schema::{Column, DataType, Schema, SchemaRef};
use crate::types::strategies::{all_data_types, nullable, same, value_for};
use crate::types::value::Value;

fn schema_of(types: impl IntoIterator<Item = (DataType, String)>) -> SchemaRef {
    Arc::new(Schema::new(
        types
            .into_iter()
            .enumerate()
            .map(|(i, (dt, name))| Column::new(format!("c{i}"), dt, name))
            .collect(),
    ))
}

/// The PostgreSQL columns whose values can cross the boundary, with the engine type of each.
fn tuple_columns() -> Vec<(Type, DataType)> {
    codec_types()
        .into_iter()
        .filter(|(_, dt)| !matches!(dt, DataType::Array(e) if matches!(**e, DataType::Range(_))))
        .collect()
}

fn rows_of(strategies: Vec<BoxedStrategy<Value>>) -> impl Strategy<Value = Vec<Vec<Value>>> {
    vec(strategies, 0..4)
}

fn value_rows() -> impl Strategy<Value = Vec<Vec<Value>>> {
    rows_of(all_data_types().iter().map(nullable).collect())
}

fn tuple_rows() -> impl Strategy<Value = Vec<Vec<Value>>> {
    rows_of(
        tuple_columns()
            .iter()
            .map(|(t, dt)| value_for(t, dt))
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn values_cross_the_boundary_both_ways_unchanged(rows in value_rows()) {
        let schema = schema_of(all_data_types().into_iter().map(|dt| (dt, String::new())));
        let mut batch = Batch::new(schema.clone());
        for r in &rows {
            batch.push_row(r.iter().cloned());
        }
        let out = batch_to_wit(batch);
        prop_assert!(out.is_ok(), "{out:?}");
        let back = out.map_err(|e| e.to_string()).and_then(|w| batch_from_wit(&schema, w).map_err(|e| e.to_string()));
        prop_assert!(back.is_ok(), "{back:?}");
        let back = back.map_err(TestCaseError::fail)?;
        prop_assert_eq!(back.num_rows(), rows.len());
        for (got, want) in back.rows().zip(&rows) {
            for ((g, w), c) in got.iter().zip(want).zip(&schema.columns) {
                prop_assert!(same(g, w), "{:?}: {w:?} came back as {g:?}", c.data_type);
            }
        }
    }

    #[test]
    fn copy_tuples_cross_the_boundary_both_ways_unchanged(rows in tuple_rows()) {
        let columns = tuple_columns();
        let types: Arc<[Type]> = columns.iter().map(|(t, _)| t.clone()).collect();
        let schema = schema_of(columns.iter().map(|(t, dt)| (dt.clone(), t.name().to_string())));
        let mut data = BytesMut::new();
        for r in &rows {
            let written = write_row(r, &types, &mut data);
            prop_assert!(written.is_ok(), "{written:?}");
        }
        let raw = RawTuples { data: data.freeze(), rows: rows.len(), types: types.clone() };
        let wit = tuples_to_wit(&schema, &raw);
        prop_assert!(wit.is_ok(), "{wit:?}");
        let wit = wit.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = wit_to_tuples(&schema, wit, &types);
        prop_assert!(back.is_ok(), "{back:?}");
        let back = back.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(back.rows, rows.len());
        // Read the tuples as the PostgreSQL sink's server would: a binary COPY stream.
        let mut stream = BytesMut::new();
        write_header(&mut stream);
        stream.extend_from_slice(&back.data);
        write_trailer(&mut stream);
        let mut decoder = CopyOutDecoder::new(types.to_vec(), schema.clone());
        let mut decoded = Batch::new(schema.clone());
        let fed = decoder.feed(&stream, &mut decoded);
        prop_assert!(fed.is_ok(), "{fed:?}");
        prop_assert!(decoder.finish().is_ok());
        for (got, want) in decoded.rows().zip(&rows) {
            for ((g, w), ty) in got.iter().zip(want).zip(types.iter()) {
                prop_assert!(same(g, w), "{ty}: {w:?} came back as {g:?}");
            }
        }
    }
}
