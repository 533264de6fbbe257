//! The multi-tenant service: ADF's management REST API over a PostgreSQL control database,
//! and the workers that run the queued pipeline runs. It sits above the [`crate::engine`]
//! facade and below the command line (`sluice serve`, `sluice worker`, `sluice tenant`).
//!
//! - [`control`]: the control database (tenants, factories and their definitions, plugins,
//!   runs, activity runs, tenant run slots), its migrations, and secrets sealed at rest;
//! - [`api`]: the HTTP API (api-version 2018-06-01), its authentication and ARM errors;
//! - [`monitor`]: the Monitor page's static files, served at `/` by the API;
//! - [`worker`]: claims queued runs, runs them through the engine, keeps their leases;
//! - [`scheduler`]: fires the Started triggers (schedule instants, tumbling windows) exactly
//!   once across every `sluice serve` sharing the control database.

pub mod api;
pub mod control;
pub mod monitor;
pub mod scheduler;
pub mod worker;
