//! File datasets as ADF writes them (`DelimitedText`, `Json`, `Parquet` on a `FileServer` or
//! `AzureBlobStorage` linked service) and the Copy source's and sink's file settings, read
//! without touching any store: the plan's side of the file stores.

pub mod adls;
pub mod azure_auth;
pub mod blob_account;
pub mod confine;
pub mod csv_format;
pub mod dataset;
pub mod formats;
pub mod location;

pub use dataset::{FileDataset, FileFormat, FileRead, FileWrite, FILE_DATASET_TYPES};
