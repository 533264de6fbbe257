//! Shared pieces of the fuzz targets: the PostgreSQL types the binary codec knows (so a target
//! can pick column types from input bytes) and a panic hook that lets the engine's own
//! `catch_unwind` guards work under libFuzzer.

use std::sync::Once;

use sluice::stores::postgres::binary::codec_types;
use tokio_postgres::types::Type;

/// Every PostgreSQL type the binary COPY codec handles, plus one it does not (`point`), so the
/// unsupported path is fuzzed too.
pub fn pg_types() -> Vec<Type> {
    let mut types: Vec<Type> = codec_types().into_iter().map(|(t, _)| t).collect();
    types.push(Type::POINT);
    types
}

/// libFuzzer's panic hook aborts at once, before any `catch_unwind` runs. The engine catches
/// panics of the `parquet` crate on malformed files on purpose (a corrupt file fails its copy,
/// not the process), so targets that reach such a guard restore the default hook: a panic the
/// engine catches is then no crash, and one that escapes still is (libfuzzer-sys aborts on it).
pub fn let_engine_catch_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = std::panic::take_hook();
    });
}
