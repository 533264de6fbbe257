//! Hostile test plugin `oversized-output`: a valid plugin (info, create, output schema = input) whose
//! `process` returns each input row 100000 times. Used only by the host's sandbox tests; never deploy it.
#![allow(clippy::all)]

use sluice_plugin_sdk::{Column, Emit, Info, Row, RowPlugin};

pub struct OversizedOutput;

impl RowPlugin for OversizedOutput {
    fn info() -> Info {
        Info {
            name: "oversized-output",
            version: env!("CARGO_PKG_VERSION"),
            description: "Hostile test plugin: returns each input row 100000 times",
        }
    }

    fn create(_config: &serde_json::Value, _input: &[Column]) -> Result<Self, String> {
        Ok(OversizedOutput)
    }

    fn process(&mut self, row: Row, out: &mut Emit) -> Result<(), String> {
        for _ in 1..100_000 {
            out.values(row.values().to_vec());
        }
        out.row(row);
        Ok(())
    }
}

sluice_plugin_sdk::export_row_plugin!(OversizedOutput);
