//! `identity`: output = input. It answers each batch in `process_batch` without converting it
//! to rows, so it measures the bare cost of a plugin call (and is what the benchmarks use).
//! Config: none (`{}`).

use sluice_plugin_sdk::{config, Batch, BatchOutcome, Column, Emit, Info, Output, Row, RowPlugin};

pub struct Identity;

impl RowPlugin for Identity {
    fn info() -> Info {
        Info {
            name: "identity",
            version: env!("CARGO_PKG_VERSION"),
            description: "Passes every batch through unchanged",
        }
    }

    fn create(cfg: &serde_json::Value, _input: &[Column]) -> Result<Self, String> {
        config::check_keys(cfg, &[])?;
        Ok(Identity)
    }

    fn process_batch(&mut self, batch: Batch) -> Result<BatchOutcome, String> {
        Ok(BatchOutcome::Done(Output::from_batch(batch)))
    }

    /// Not reached (every batch is answered whole); kept correct all the same.
    fn process(&mut self, row: Row, out: &mut Emit) -> Result<(), String> {
        out.row(row);
        Ok(())
    }
}

sluice_plugin_sdk::export_row_plugin!(Identity);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_sdk::{testing, ScalarType, Value};

    #[test]
    fn passes_rows_through() {
        let cols = vec![
            Column::new("id", ScalarType::Int64),
            Column::new("s", ScalarType::Text),
        ];
        let rows = vec![
            vec![Value::Int64(1), Value::from("a")],
            vec![Value::Null, Value::Null],
        ];
        let out = testing::run::<Identity>("{}", cols, rows.clone()).unwrap();
        assert_eq!(out.rows, rows);
        assert!(out.rejected.is_empty());
        assert!(testing::run::<Identity>(r#"{"x":1}"#, vec![], vec![]).is_err());
    }
}
