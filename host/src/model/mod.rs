//! ADF definitions: loading factory folders and files, and typed linked services, datasets and
//! pipelines. Pure: nothing here connects anywhere.

pub mod copy;
pub mod dataset;
pub mod error;
pub mod fault_tolerance;
pub mod files;
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
pub mod script;
pub mod timespan;
