//! ADF definitions: loading factory folders and files, and typed linked services, datasets and
//! pipelines. Pure: nothing here connects anywhere.
//!
//! [`plan`] is the one planning step `run` and `validate` take: a factory becomes a typed plan
//! (one [`pipeline::ActivityKind`] per activity, each definition resolved once). The store
//! settings a plan carries (PostgreSQL endpoints, file datasets and locations, blob accounts,
//! plugin references) are read here too, so planning never needs the stores.
//!
//! Layer: above `types`, `expr` and `secrets`; below the stores, which add I/O to these
//! settings.

pub mod control;
pub mod copy;
pub mod dataset;
pub mod delete;
pub mod error;
pub mod fault_tolerance;
pub mod files;
pub mod get_metadata;
pub mod globals;
pub mod key_vault;
pub mod linked_service;
pub mod load;
pub mod lookup;
pub mod params;
pub mod pg_endpoint;
pub mod pipeline;
pub mod plan;
pub mod plugin_ref;
pub mod props;
pub mod references;
pub mod script;
pub mod timespan;
pub mod translator;
pub mod trigger;
pub mod trigger_check;
pub mod warnings;
pub mod web;
