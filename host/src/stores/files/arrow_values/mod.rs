//! Engine [`Batch`]es to and from arrow `RecordBatch`es, the in-memory form the `parquet`
//! crate reads and writes.
//!
//! Writing maps each engine column to the natural arrow type (see `docs/parquet-type-mapping.md`)
//! and records the column's PostgreSQL type name in the field metadata under [`PG_TYPE_KEY`], so
//! reading a file Sluice wrote gives back the same engine types (`numeric(12,2)`, `money`,
//! `timestamptz`, `interval`, ...). Reading a file from another writer (pandas, Spark, DuckDB)
//! maps every arrow type onto the closest engine type; nested structs and maps become JSON text.
//!
//! Arrow's typed accessors panic on a type mismatch, so every downcast here goes through the
//! `*_opt` accessors and reports a clear error instead.
//!
//! Each direction has a plan and a value converter:
//! - `write`: [`ArrowPlan`], the arrow schema Sluice writes for an engine schema;
//! - `encode`: engine values into arrow arrays for that plan;
//! - `read`: [`EnginePlan`], the engine schema for a file's arrow schema;
//! - `decode`: arrow arrays into engine values (nested data as JSON text).
//!
//! [`Batch`]: crate::types::batch::Batch

mod decode;
mod encode;
mod read;
mod write;

#[cfg(test)]
pub(crate) use read::default_type_name;
pub use read::EnginePlan;
pub use write::ArrowPlan;

/// Field metadata key holding the column's PostgreSQL type name (`numeric(12,2)`, `_int4`).
pub const PG_TYPE_KEY: &str = "sluice.pg_type";

/// Days from 1970-01-01 (arrow's epoch) to 2000-01-01 (PostgreSQL's).
const EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Bytes of values converted into one record batch at most: well inside the 2 GiB a
/// 32-bit-offset string or binary column can address.
const MAX_RECORD_BATCH_BYTES: usize = 512 * 1024 * 1024;
/// Largest precision an arrow Decimal128 holds.
const MAX_DECIMAL128_PRECISION: u8 = 38;
/// Precision and scale of `money` written as a decimal: an i64 count of cents.
const MONEY_PRECISION: u8 = 19;
const MONEY_SCALE: i8 = 2;
