//! Sluice: runs Azure Data Factory copy pipelines into and out of PostgreSQL.
//!
//! Data flow (see README.md and `../shared/DESIGN.md`):
//! ADF JSON --[`model`]--> typed definitions --[`engine`]--> pipeline run, where a Copy activity
//! is `Source --bounded queue--> Sink` over the one [`engine::batch::Batch`] type, and
//! [`connectors`] hold one folder per store.

pub mod cli;
pub mod copy;
pub mod engine;
pub mod expr;
pub mod model;
pub mod pipeline;
pub mod plugins;
pub mod secrets;
pub mod stores;
pub mod types;

pub use model::error::ModelError;
