//! The data types every layer shares: one cell ([`value::Value`]), a table's columns
//! ([`schema::Schema`]), a batch of rows ([`batch::Batch`]) and PostgreSQL's text forms of
//! values ([`text_form`]).
//!
//! Bottom layer: it imports no other module of the crate, so stores, plugins and the copy
//! runner can all speak the one batch type without depending on each other.

pub mod batch;
pub mod ident;
pub mod schema;
#[cfg(any(test, feature = "test-strategies"))]
pub mod strategies;
pub mod text_form;
pub mod value;
