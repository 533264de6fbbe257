//! Hostile test plugin `memory-bomb`: a valid plugin (info, create, output schema = input) whose
//! `process` allocates and touches 64 MiB chunks until the allocator is refused. Used only by the host's sandbox tests; never deploy it.
#![allow(clippy::all)]

use sluice_plugin_sdk::{Column, Emit, Info, Row, RowPlugin};

pub struct MemoryBomb;

impl RowPlugin for MemoryBomb {
    fn info() -> Info {
        Info {
            name: "memory-bomb",
            version: env!("CARGO_PKG_VERSION"),
            description: "Hostile test plugin: allocates and touches 64 MiB chunks until the allocator is refused",
        }
    }

    fn create(_config: &serde_json::Value, _input: &[Column]) -> Result<Self, String> {
        Ok(MemoryBomb)
    }

    fn process(&mut self, _row: Row, _out: &mut Emit) -> Result<(), String> {
        const CHUNK: usize = 64 << 20;
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // vec![1; n] writes every byte, so the pages are really committed.
            let chunk = vec![1u8; CHUNK];
            hoard.push(std::hint::black_box(chunk));
            sluice_plugin_sdk::log::debug(&format!("holding {} MiB", hoard.len() * 64));
        }
    }
}

sluice_plugin_sdk::export_row_plugin!(MemoryBomb);
