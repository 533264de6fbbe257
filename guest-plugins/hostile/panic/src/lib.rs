//! Hostile test plugin `panic`: a valid plugin (info, create, output schema = input) whose
//! `process` panics with the message "plugin panicked on purpose: batch had N rows". Used only by the host's sandbox tests; never deploy it.
#![allow(clippy::all, clippy::panic)]

use sluice_plugin_sdk::{Column, Emit, Info, Row, RowPlugin};

pub struct Panic;

impl RowPlugin for Panic {
    fn info() -> Info {
        Info {
            name: "panic",
            version: env!("CARGO_PKG_VERSION"),
            description: "Hostile test plugin: panics with its batch size",
        }
    }

    fn create(_config: &serde_json::Value, _input: &[Column]) -> Result<Self, String> {
        Ok(Panic)
    }

    fn process(&mut self, _row: Row, _out: &mut Emit) -> Result<(), String> {
        Ok(())
    }

    fn process_batch(
        &mut self,
        batch: sluice_plugin_sdk::Batch,
    ) -> Result<sluice_plugin_sdk::BatchOutcome, String> {
        panic!(
            "plugin panicked on purpose: batch had {} rows",
            batch.num_rows
        );
    }
}

sluice_plugin_sdk::export_row_plugin!(Panic);
