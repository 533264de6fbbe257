//! The engine: batch and value types, the copy runner, the pipeline executor and run output.

pub mod batch;
pub mod copy;
pub mod mapping;
pub mod pipeline;
pub mod progress;
pub mod run;
pub mod schema;
pub mod text_form;
pub mod transform;
pub mod value;
