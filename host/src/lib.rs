//! Sluice: runs Azure Data Factory pipelines into and out of PostgreSQL, with user code as
//! sandboxed WebAssembly plugins.
//!
//! Start with [`engine`], the embeddable facade: load a factory, validate it, start a pipeline
//! run with a tenant's options, observe it, cancel it, and get ADF's run record. The other
//! modules are the layers under it, public so the end-to-end tests and benches can reach
//! their parts; each imports only the layers below it:
//!
//! ```text
//! cli        front end (run, validate, demo, plugin)
//! service    ADF REST API, control database, workers
//! engine     the facade
//! pipeline   executor, activities, run output
//! copy       copy runner, RunContext, progress
//! plugins    wasm runtime, registry, cache, limits
//! stores     PostgreSQL and file stores over the one batch type
//! model      ADF JSON -> typed plan (pure)
//! secrets    per-run redaction and Key Vault secrets
//! expr       the expression language
//! types      value, schema, batch, text forms
//! ```

pub mod cli;
pub mod copy;
pub mod engine;
pub mod expr;
pub mod model;
pub mod pipeline;
pub mod plugins;
pub mod secrets;
pub mod service;
pub mod stores;
pub mod types;

pub use model::error::ModelError;
