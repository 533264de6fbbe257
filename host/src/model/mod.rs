//! ADF definitions: loading factory folders and files, and typed linked services, datasets and
//! pipelines. Pure: nothing here connects anywhere.

pub mod error;
pub mod props;
