//! Hostile test plugin `read-env`: a valid plugin (info, create, output schema = input) whose
//! `process` reads the environment and fails describing what it saw. Used only by the host's sandbox tests; never deploy it.
#![allow(clippy::all)]

use sluice_plugin_sdk::{Column, Emit, Info, Row, RowPlugin};

pub struct ReadEnv;

impl RowPlugin for ReadEnv {
    fn info() -> Info {
        Info {
            name: "read-env",
            version: env!("CARGO_PKG_VERSION"),
            description:
                "Hostile test plugin: reads the environment and fails describing what it saw",
        }
    }

    fn create(_config: &serde_json::Value, _input: &[Column]) -> Result<Self, String> {
        Ok(ReadEnv)
    }

    fn process(&mut self, _row: Row, _out: &mut Emit) -> Result<(), String> {
        let home = std::env::var("HOME").map_err(|e| e.to_string());
        let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
        let args: Vec<String> = std::env::args().collect();
        let vars = if vars.is_empty() {
            "none".to_string()
        } else {
            vars.join(", ")
        };
        Err(format!("env: {vars}; HOME: {home:?}; args: {args:?}"))
    }
}

sluice_plugin_sdk::export_row_plugin!(ReadEnv);
