//! Shared pieces of the fuzz targets: the PostgreSQL types the binary codec knows (so a target
//! can pick column types from input bytes) and a panic hook that lets the engine's own
//! `catch_unwind` guards work under libFuzzer.

use std::sync::Once;

use tokio_postgres::types::Type;

/// Every PostgreSQL type the binary COPY codec handles (scalars, their arrays, ranges and
/// arrays of ranges), plus one it does not (`point`), so the unsupported path is fuzzed too.
pub fn pg_types() -> Vec<Type> {
    vec![
        Type::BOOL,
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::NUMERIC,
        Type::MONEY,
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::XML,
        Type::BYTEA,
        Type::UUID,
        Type::JSON,
        Type::JSONB,
        Type::DATE,
        Type::TIME,
        Type::TIMETZ,
        Type::TIMESTAMP,
        Type::TIMESTAMPTZ,
        Type::INTERVAL,
        Type::INET,
        Type::CIDR,
        Type::MACADDR,
        Type::BOOL_ARRAY,
        Type::INT2_ARRAY,
        Type::INT4_ARRAY,
        Type::INT8_ARRAY,
        Type::FLOAT4_ARRAY,
        Type::FLOAT8_ARRAY,
        Type::NUMERIC_ARRAY,
        Type::MONEY_ARRAY,
        Type::TEXT_ARRAY,
        Type::BYTEA_ARRAY,
        Type::UUID_ARRAY,
        Type::JSON_ARRAY,
        Type::JSONB_ARRAY,
        Type::DATE_ARRAY,
        Type::TIME_ARRAY,
        Type::TIMETZ_ARRAY,
        Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ_ARRAY,
        Type::INTERVAL_ARRAY,
        Type::INET_ARRAY,
        Type::CIDR_ARRAY,
        Type::MACADDR_ARRAY,
        Type::INT4_RANGE,
        Type::INT8_RANGE,
        Type::NUM_RANGE,
        Type::TS_RANGE,
        Type::TSTZ_RANGE,
        Type::DATE_RANGE,
        Type::INT4_RANGE_ARRAY,
        Type::TSTZ_RANGE_ARRAY,
        Type::POINT,
    ]
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
