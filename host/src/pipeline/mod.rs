//! The pipeline executor: runs a planned pipeline's activities as their `dependsOn`
//! conditions allow, with each activity's policy, and shapes the run's output as ADF does.
//!
//! Layer: above [`crate::copy`] (a Copy activity is one copy run), below the front ends
//! (the CLI).

pub mod activities;
pub mod delete;
pub mod executor;
pub mod get_metadata;
pub mod lookup;
pub mod run;
pub mod script;
pub mod switch;
pub mod web;
