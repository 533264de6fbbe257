//! Hostile test plugin `open-socket`: a valid plugin (info, create, output schema = input) whose
//! `process` connects to 127.0.0.1:5432 and fails with what happened. Used only by the host's sandbox tests; never deploy it.
#![allow(clippy::all)]

use sluice_plugin_sdk::{Column, Emit, Info, Row, RowPlugin};

pub struct OpenSocket;

impl RowPlugin for OpenSocket {
    fn info() -> Info {
        Info {
            name: "open-socket",
            version: env!("CARGO_PKG_VERSION"),
            description:
                "Hostile test plugin: connects to 127.0.0.1:5432 and fails with what happened",
        }
    }

    fn create(_config: &serde_json::Value, _input: &[Column]) -> Result<Self, String> {
        Ok(OpenSocket)
    }

    fn process(&mut self, _row: Row, _out: &mut Emit) -> Result<(), String> {
        match std::net::TcpStream::connect("127.0.0.1:5432") {
            Ok(_) => Err("connect 127.0.0.1:5432: connected".to_string()),
            Err(e) => Err(format!("connect 127.0.0.1:5432 failed: {e}")),
        }
    }
}

sluice_plugin_sdk::export_row_plugin!(OpenSocket);
