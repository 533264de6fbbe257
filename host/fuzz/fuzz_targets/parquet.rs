//! The Parquet reader: any bytes as a Parquet file, opened (schema mapped to engine types) and
//! read to the end in batches of a fuzzed size. A corrupt file must be an error naming the
//! file; panics of the `parquet` crate that the engine catches on purpose (see
//! `stores::files::parquet::guarded`) are allowed, any other panic is a crash.
//!
//! Input layout: byte 0 picks the batch size (1-256); the rest is the file.
#![no_main]

use std::io::{Seek, SeekFrom, Write};

use libfuzzer_sys::fuzz_target;
use sluice::stores::files::parquet::open_reader;
use sluice_fuzz::let_engine_catch_panics;

fuzz_target!(|data: &[u8]| {
    let_engine_catch_panics();
    let Some((&b, file_bytes)) = data.split_first() else {
        return;
    };
    let max_rows = usize::from(b) + 1;
    let Ok(mut file) = tempfile::tempfile() else {
        return;
    };
    if file.write_all(file_bytes).is_err() || file.seek(SeekFrom::Start(0)).is_err() {
        return;
    }
    let Ok(mut reader) = open_reader(file, "fuzz.parquet") else {
        return;
    };
    let _ = reader.schema();
    // A forged row count must not keep the reader going forever: stop after a bounded number
    // of batches (every batch holds at least one row).
    for _ in 0..10_000 {
        match reader.next_batch(max_rows) {
            Ok(Some(batch)) => assert!(batch.num_rows() <= max_rows, "a batch over max_rows"),
            Ok(None) | Err(_) => break,
        }
    }
});
