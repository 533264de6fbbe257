//! Property tests (issue 13): a generated value of every supported PostgreSQL type comes back
//! unchanged from its binary form, alone (`encode` then `decode`) and as part of a binary COPY
//! stream read in chunks of any size (`write_row` then `CopyOutDecoder`). Pure: no server;
//! `tests/e2e/roundtrip.rs` sends the same kind of values through a real PostgreSQL.

use std::sync::Arc;

use bytes::BytesMut;
use proptest::prelude::*;

use super::codec_types;
use super::{decode, encode};
use crate::stores::postgres::copy_binary::{
    write_header, write_row, write_trailer, CopyOutDecoder,
};
use crate::types::batch::Batch;
use crate::types::schema::{Column, DataType, Schema};
use crate::types::strategies::{same, value_for};
use crate::types::value::Value;
use tokio_postgres::types::Type;

/// Every codec type, and a strategy for one row holding a value (or NULL) of each.
pub(crate) fn row() -> (Vec<Type>, Vec<BoxedStrategy<Value>>) {
    let columns = codec_types();
    let strategies = columns.iter().map(|(t, dt)| value_for(t, dt)).collect();
    (columns.into_iter().map(|(t, _)| t).collect(), strategies)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_type_round_trips_through_its_binary_form(values in row().1) {
        let (types, _) = row();
        for (v, ty) in values.iter().zip(&types) {
            if v.is_null() {
                continue;
            }
            let mut out = BytesMut::new();
            let encoded = encode(v, ty, &mut out);
            prop_assert!(encoded.is_ok(), "{ty}: {v:?} does not encode: {encoded:?}");
            let back = decode(ty, &out);
            prop_assert!(
                back.as_ref().is_ok_and(|b| same(b, v)),
                "{ty}: {v:?} came back as {back:?}"
            );
        }
    }

    #[test]
    fn rows_round_trip_through_a_binary_copy_stream(
        rows in proptest::collection::vec(row().1, 1..4),
        chunk in 1usize..64,
    ) {
        let (types, _) = row();
        let schema = Arc::new(Schema::new(
            types.iter().enumerate().map(|(i, t)| Column::new(format!("c{i}"), DataType::Text, t.name())).collect(),
        ));
        let mut stream = BytesMut::new();
        write_header(&mut stream);
        for r in &rows {
            let written = write_row(r, &types, &mut stream);
            prop_assert!(written.is_ok(), "{written:?}");
        }
        write_trailer(&mut stream);
        let mut decoder = CopyOutDecoder::new(types.clone(), schema.clone());
        let mut batch = Batch::new(schema);
        for part in stream.chunks(chunk) {
            let fed = decoder.feed(part, &mut batch);
            prop_assert!(fed.is_ok(), "{fed:?}");
        }
        prop_assert!(decoder.finish().is_ok());
        prop_assert_eq!(batch.num_rows(), rows.len());
        for (got, want) in batch.rows().zip(&rows) {
            for ((g, w), ty) in got.iter().zip(want).zip(&types) {
                prop_assert!(same(g, w), "{ty}: {w:?} came back as {g:?}");
            }
        }
    }
}
