//! The engine's value model: one cell of a [`Batch`](crate::types::batch::Batch).
//!
//! Every PostgreSQL built-in type maps onto one variant without loss. Types that the engine does
//! not model (geometric, tsvector, composite, bit strings, ...) are read as their PostgreSQL text
//! form (`Value::Text`) by the source, which PostgreSQL accepts back losslessly; see
//! `connectors::postgres::types` for the mapping.
//!
//! Date/time values keep PostgreSQL's own epoch and resolution (microseconds since
//! 2000-01-01) so they round-trip bit for bit, including `infinity` and `-infinity`.
//!
//! The types are defined once, in the `sluice-value-model` crate (`host/value-model`), which the
//! plugin SDK builds too: a plugin sees the very `Value` the engine holds. Their text form is
//! this crate's [`TextForm`](crate::types::text_form::TextForm).

pub use sluice_value_model::{ArrayValue, PgDate, PgTimestamp, RangeValue, Value};
