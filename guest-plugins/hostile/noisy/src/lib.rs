//! Hostile test plugin `noisy`: a valid plugin (info, create, output schema = input) whose
//! `process` logs a message that tries to forge a host log line (a newline, then text shaped
//! like a log record, then terminal escape sequences) and fails with an error string of
//! `error_bytes` bytes (config; default 8 MiB) that plays the same tricks. Used only by the
//! host's sandbox tests; never deploy it.
#![allow(clippy::all)]

use sluice_plugin_sdk::{Column, Emit, Info, Row, RowPlugin};

/// The forged log record: what a reader of the host's log must never see as a line of its own.
pub const FORGED: &str = "2026-01-01T00:00:00.000000Z ERROR FORGED-BY-PLUGIN";

pub struct Noisy {
    error_bytes: usize,
}

impl RowPlugin for Noisy {
    fn info() -> Info {
        Info {
            name: "noisy",
            version: env!("CARGO_PKG_VERSION"),
            description: "Hostile test plugin: forges log lines and fails with a huge error",
        }
    }

    fn create(config: &serde_json::Value, _input: &[Column]) -> Result<Self, String> {
        let error_bytes = config
            .get("error_bytes")
            .and_then(|v| v.as_u64())
            .unwrap_or(8 << 20) as usize;
        Ok(Noisy { error_bytes })
    }

    fn process(&mut self, _row: Row, _out: &mut Emit) -> Result<(), String> {
        sluice_plugin_sdk::log::error(&format!(
            "harmless\n{FORGED}\r\x1b[2J\x1b]0;owned\x07\u{9b}31m"
        ));
        let mut message = format!("ERROR-START\n{FORGED}\x1b[31m ");
        while message.len() < self.error_bytes {
            message.push_str("0123456789abcdef");
        }
        Err(message)
    }
}

sluice_plugin_sdk::export_row_plugin!(Noisy);
