//! The Copy activity's runner: `source -> transforms -> mapping -> rowMapper -> sink` over
//! bounded channels of the one batch type, with fault tolerance and progress.
//!
//! Layer: above [`crate::stores`] (sources and sinks) and [`crate::plugins`] (wasm stages);
//! below the pipeline executor, which runs a Copy as one activity among others.

pub mod context;
pub mod conversion;
pub mod mapping;
pub mod progress;
pub mod runner;
pub mod transform;
