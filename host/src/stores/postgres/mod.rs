//! PostgreSQL (`AzurePostgreSql`, `PostgreSql`, `PostgreSqlV2`): connection settings and TLS,
//! the binary COPY codec, and the source and sink.

pub mod binary;
pub mod bisect;
pub mod connect;
pub mod copy_binary;
pub mod copy_raw;
mod copy_stream;
pub mod copy_text;
pub mod errors;
pub mod partition;
pub mod session;
pub mod sink;
pub mod source;
pub mod tls;
pub mod types;
mod upsert;
mod watch;
