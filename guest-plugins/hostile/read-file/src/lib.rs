//! Hostile test plugin `read-file`: a valid plugin (info, create, output schema = input) whose
//! `process` reads /etc/passwd and fails with what happened. Used only by the host's sandbox tests; never deploy it.
#![allow(clippy::all)]

use sluice_plugin_sdk::{Column, Emit, Info, Row, RowPlugin};

pub struct ReadFile;

impl RowPlugin for ReadFile {
    fn info() -> Info {
        Info {
            name: "read-file",
            version: env!("CARGO_PKG_VERSION"),
            description: "Hostile test plugin: reads /etc/passwd and fails with what happened",
        }
    }

    fn create(_config: &serde_json::Value, _input: &[Column]) -> Result<Self, String> {
        Ok(ReadFile)
    }

    fn process(&mut self, _row: Row, _out: &mut Emit) -> Result<(), String> {
        match std::fs::read_to_string("/etc/passwd") {
            Ok(text) => Err(format!("read /etc/passwd: {} bytes", text.len())),
            Err(e) => Err(format!("read /etc/passwd failed: {e}")),
        }
    }
}

sluice_plugin_sdk::export_row_plugin!(ReadFile);
