//! Hostile test plugin `deep-recursion`: a valid plugin (info, create, output schema = input) whose
//! `process` recurses without bound. Used only by the host's sandbox tests; never deploy it.
#![allow(clippy::all, unconditional_recursion)]

use sluice_plugin_sdk::{Column, Emit, Info, Row, RowPlugin};

pub struct DeepRecursion;

/// Recurses until the engine's call stack is exhausted. The recursive call goes through a
/// function pointer the optimiser cannot see through (so it is neither inlined nor turned into
/// a loop), and the addition after it keeps every frame alive. Each frame keeps almost nothing
/// on the shadow stack in linear memory, so it is the host's limit on the native wasm stack
/// that stops it ("call stack exhausted"), not an overflow of the guest's own 1 MiB shadow
/// stack (which would show up as an out-of-bounds memory access instead).
fn dive(depth: u64) -> u64 {
    let next: fn(u64) -> u64 = std::hint::black_box(dive);
    next(depth + 1).wrapping_add(depth)
}

impl RowPlugin for DeepRecursion {
    fn info() -> Info {
        Info {
            name: "deep-recursion",
            version: env!("CARGO_PKG_VERSION"),
            description: "Hostile test plugin: recurses without bound",
        }
    }

    fn create(_config: &serde_json::Value, _input: &[Column]) -> Result<Self, String> {
        Ok(DeepRecursion)
    }

    fn process(&mut self, _row: Row, _out: &mut Emit) -> Result<(), String> {
        Err(format!("recursion returned {}", dive(0)))
    }
}

sluice_plugin_sdk::export_row_plugin!(DeepRecursion);
