//! Hostile test plugin `endless-loop`: a valid plugin (info, create, output schema = input) whose
//! `process` never returns. Used only by the host's sandbox tests; never deploy it.
#![allow(clippy::all)]

use sluice_plugin_sdk::{Column, Emit, Info, Row, RowPlugin};

pub struct EndlessLoop;

impl RowPlugin for EndlessLoop {
    fn info() -> Info {
        Info {
            name: "endless-loop",
            version: env!("CARGO_PKG_VERSION"),
            description: "Hostile test plugin: never returns",
        }
    }

    fn create(_config: &serde_json::Value, _input: &[Column]) -> Result<Self, String> {
        Ok(EndlessLoop)
    }

    fn process(&mut self, _row: Row, _out: &mut Emit) -> Result<(), String> {
        let mut n: u64 = 0;
        loop {
            // black_box keeps the optimiser from proving the loop pointless.
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

sluice_plugin_sdk::export_row_plugin!(EndlessLoop);
