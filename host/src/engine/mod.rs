//! The engine: batch and value types, the copy runner, the pipeline executor and run output.

pub mod activities;
pub mod batch;
pub mod copy;
pub mod lookup;
pub mod mapping;
pub mod pipeline;
pub mod progress;
pub mod run;
pub mod schema;
pub mod script;
pub mod session_log;
pub mod skip_log;
pub mod text_form;
pub mod transform;
pub mod value;
