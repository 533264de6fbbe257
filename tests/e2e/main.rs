//! The end-to-end tests: one test binary (linking wasmtime, arrow and object_store once), one
//! module per area, each opening with what it proves. The shared harness is the `sluice_e2e`
//! library (`tests/harness/`). All tests run in this one process: a test that needs
//! process-wide state (an environment variable) runs itself in a child process
//! ([`sluice_e2e::rerun_in_child`]) instead of changing this one.

mod adls;
mod blob;
mod bounds;
mod cancel;
mod codec;
mod confinement;
mod control;
mod control_flow;
mod copy;
mod copy_mapping;
mod delete;
mod demo;
mod errors;
mod expressions;
mod fault_tolerance;
mod file_sinks;
mod files;
mod formats;
mod get_metadata;
mod git_layout;
mod hardening;
mod lookup;
mod matrix;
mod messages;
mod monitor_page;
mod new_files_example;
mod partition;
mod pipeline;
mod planning;
mod plugin_limits;
mod plugin_walkthrough;
mod plugins;
mod roundtrip;
mod sandbox;
mod script;
mod secrets;
mod service_api;
mod service_control;
mod service_runs;
mod service_scale;
mod service_sdk_runs;
mod service_trigger_windows;
mod service_triggers;
mod service_triggers_api;
mod tenants;
mod terminal;
mod timeouts;
mod tls;
mod trigger_expressions;
mod triggers;
mod web;
