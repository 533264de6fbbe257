//! The binary COPY decoder: a stream of `COPY ... TO STDOUT (FORMAT binary)` bytes for up to
//! four columns of any codec type, fed in chunks of a fuzzed size, plus one value decoded on
//! its own. Whatever decodes must encode back, and encoding what that decodes to must give the
//! same bytes again (decode and encode agree).
//!
//! Input layout: byte 0 picks the column count (1-4), the next bytes one type each (an index
//! into `pg_types`), the next the chunk size (1-256); the rest is the stream.
#![no_main]

use std::sync::Arc;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sluice::stores::postgres::binary::{decode, encode};
use sluice::stores::postgres::copy_binary::{
    write_header, write_row, write_trailer, CopyOutDecoder,
};
use sluice::stores::postgres::types::data_type_of;
use sluice::types::batch::Batch;
use sluice::types::schema::{Column, DataType, Schema, SchemaRef};
use sluice::types::value::Value;
use sluice_fuzz::pg_types;
use tokio_postgres::types::Type;

fn decode_stream(types: &[Type], schema: &SchemaRef, data: &[u8], chunk: usize) -> Option<Batch> {
    let mut dec = CopyOutDecoder::new(types.to_vec(), schema.clone());
    let mut batch = Batch::new(schema.clone());
    for part in data.chunks(chunk) {
        dec.feed(part, &mut batch).ok()?;
    }
    dec.finish().ok()?;
    Some(batch)
}

fn encode_stream(types: &[Type], batch: &Batch) -> Option<Vec<u8>> {
    let mut out = BytesMut::new();
    write_header(&mut out);
    for row in batch.rows() {
        write_row(row, types, &mut out).ok()?;
    }
    write_trailer(&mut out);
    Some(out.to_vec())
}

fuzz_target!(|data: &[u8]| {
    let all = pg_types();
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 4) + 1;
    if rest.len() < n + 1 {
        return;
    }
    let (picks, rest) = rest.split_at(n);
    let types: Vec<Type> = picks
        .iter()
        .map(|&b| all[usize::from(b) % all.len()].clone())
        .collect();
    let chunk = usize::from(rest[0]) + 1;
    let stream = &rest[1..];

    // One value on its own, as the first column's type.
    if let Ok(v) = decode(&types[0], stream) {
        let mut once = BytesMut::new();
        if encode(&v, &types[0], &mut once).is_ok() {
            let again = decode(&types[0], &once);
            assert!(
                again.is_ok(),
                "{v:?} encoded as {once:?} does not decode: {again:?}"
            );
            let mut twice = BytesMut::new();
            if let Ok(v2) = again {
                assert!(
                    encode(&v2, &types[0], &mut twice).is_ok(),
                    "{v2:?} does not encode"
                );
                assert_eq!(once, twice, "encode/decode disagree on {v:?}");
            }
        }
    }

    let schema: SchemaRef = Arc::new(Schema::new(
        types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Column::new(
                    format!("c{i}"),
                    data_type_of(t).unwrap_or(DataType::Text),
                    t.name(),
                )
            })
            .collect(),
    ));
    let Some(batch) = decode_stream(&types, &schema, stream, chunk) else {
        return;
    };
    let Some(once) = encode_stream(&types, &batch) else {
        return;
    };
    let again = decode_stream(&types, &schema, &once, chunk);
    assert!(again.is_some(), "a re-encoded stream does not decode");
    if let Some(again) = again {
        let rows: Vec<Vec<Value>> = again.rows().map(<[Value]>::to_vec).collect();
        let twice = encode_stream(&types, &again);
        assert_eq!(
            Some(&once),
            twice.as_ref(),
            "stream round trip differs: {rows:?}"
        );
    }
});
