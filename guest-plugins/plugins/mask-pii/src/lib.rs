//! `mask-pii`: replaces the values of chosen text columns so personal data never reaches the
//! sink.
//!
//! Config:
//! ```json
//! {"columns": ["email", "phone"], "salt": "s3cret", "mode": "hash"}
//! ```
//! - `columns` (required): text or json columns to mask; an unknown column fails `create`.
//! - `salt` (default `""`): prepended to the value before hashing, so the hashes cannot be
//!   looked up in a table of common values without it.
//! - `mode`: `hash` (default) writes lowercase hex `sha256(salt + value)`, which keeps equal
//!   values equal (joins, counts still work); `redact` writes `***`.
//!
//! NULL stays NULL. A masked json column becomes a text column (a hash is not JSON).

use sha2::{Digest, Sha256};
use sluice_plugin_sdk::wit::ColumnValues;
use sluice_plugin_sdk::{
    config, Batch, BatchOutcome, Column, DataType, Emit, Info, Output, Row, RowPlugin, ScalarType,
    Value, VarColumnBuilder,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Hash,
    Redact,
}

pub struct MaskPii {
    columns: Vec<usize>,
    /// The salt, absorbed into the hash state once, at `create`.
    salted: Salted,
    mode: Mode,
}

/// Lowercase hex of `sha256(salt + value)`.
pub fn hash_hex(salt: &str, value: &str) -> String {
    let mut hex = [0u8; 64];
    salted(salt)
        .hex_into(value.as_bytes(), &mut hex)
        .to_string()
}

/// SHA-256 with the salt already absorbed, cloned for each value rather than hashing the salt
/// again.
struct Salted(Sha256);

fn salted(salt: &str) -> Salted {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    Salted(h)
}

impl Salted {
    /// Lowercase hex of `sha256(salt + value)`, written into `hex`.
    fn hex_into<'a>(&self, value: &[u8], hex: &'a mut [u8; 64]) -> &'a str {
        let mut h = self.0.clone();
        h.update(value);
        for (pair, b) in hex.chunks_exact_mut(2).zip(h.finalize()) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 15)];
        }
        // Only ASCII hex digits were written.
        std::str::from_utf8(hex).unwrap_or_default()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl MaskPii {
    /// The masked form of a value's bytes, in `hex` when hashing.
    fn masked<'a>(&self, value: &[u8], hex: &'a mut [u8; 64]) -> &'a str {
        match self.mode {
            Mode::Hash => self.salted.hex_into(value, hex),
            Mode::Redact => "***",
        }
    }

    /// The masked form of one value; NULL (and any non-text value) is left as it is.
    pub fn mask(&self, v: &mut Value) {
        if let Value::Text(s) | Value::Json(s) = v {
            let mut hex = [0u8; 64];
            let masked = self.masked(s.as_bytes(), &mut hex);
            *v = Value::Text(masked.to_string());
        }
    }
}

impl RowPlugin for MaskPii {
    fn info() -> Info {
        Info {
            name: "mask-pii",
            version: env!("CARGO_PKG_VERSION"),
            description: "Replaces text columns with a salted sha256 or ***",
        }
    }

    fn create(cfg: &serde_json::Value, input: &[Column]) -> Result<Self, String> {
        config::check_keys(cfg, &["columns", "salt", "mode"])?;
        let names = config::str_list(cfg, "columns")?;
        let mut columns = Vec::with_capacity(names.len());
        for name in &names {
            let i = config::column_index(input, name, "columns")?;
            match input[i].data_type {
                DataType::Scalar(ScalarType::Text | ScalarType::Json) => columns.push(i),
                other => {
                    return Err(format!(
                        "config key \"columns\": column \"{name}\" is {other}; only text and json columns can be masked"
                    ))
                }
            }
        }
        let salted = salted(config::optional_str(cfg, "salt")?.unwrap_or(""));
        let mode = match config::optional_str(cfg, "mode")?.unwrap_or("hash") {
            "hash" => Mode::Hash,
            "redact" => Mode::Redact,
            other => {
                return Err(format!(
                    "config key \"mode\" must be \"hash\" or \"redact\", got \"{other}\""
                ))
            }
        };
        Ok(MaskPii {
            columns,
            salted,
            mode,
        })
    }

    fn output_schema(&self, input: &[Column]) -> Vec<Column> {
        let mut out = input.to_vec();
        for &i in &self.columns {
            if out[i].data_type == DataType::Scalar(ScalarType::Json) {
                out[i] = Column::new(out[i].name.clone(), ScalarType::Text);
            }
        }
        out
    }

    /// Masks whole columns of the batch, so the other columns pass through without being
    /// turned into rows and back (a mask-pii copy spent about half its plugin time there).
    fn process_batch(&mut self, mut batch: Batch) -> Result<BatchOutcome, String> {
        let masked_kinds = self.columns.iter().all(|&c| {
            batch.columns.get(c).is_some_and(|col| {
                matches!(col.values, ColumnValues::Text(_) | ColumnValues::Json(_))
            })
        });
        if !masked_kinds {
            return Ok(BatchOutcome::Rows(batch));
        }
        let rows = batch.num_rows as usize;
        let width = match self.mode {
            Mode::Hash => 64,
            Mode::Redact => 3,
        };
        let mut hex = [0u8; 64];
        for &c in &self.columns {
            let col = &batch.columns[c];
            let Some(var) = col.var() else { continue };
            let mut out = VarColumnBuilder::with_capacity(rows, rows * width);
            for row in 0..rows {
                match var.get(row) {
                    Some(value) if !col.is_null(row) => out.push_str(self.masked(value, &mut hex)),
                    _ => out.push_null(),
                }
            }
            batch.columns[c] = out.into_column(ColumnValues::Text)?;
        }
        Ok(BatchOutcome::Done(Output::from_batch(batch)))
    }

    fn process(&mut self, mut row: Row, out: &mut Emit) -> Result<(), String> {
        let values = row.values_mut();
        for &i in &self.columns {
            if let Some(v) = values.get_mut(i) {
                self.mask(v);
            }
        }
        out.row(row);
        Ok(())
    }
}

sluice_plugin_sdk::export_row_plugin!(MaskPii);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_sdk::testing;

    fn cols() -> Vec<Column> {
        vec![
            Column::new("id", ScalarType::Int64),
            Column::new("email", ScalarType::Text),
            Column::new("doc", ScalarType::Json),
        ]
    }

    #[test]
    fn sha256_known_vector() {
        assert_eq!(
            hash_hex("", "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash_hex("a", "bc"), hash_hex("", "abc"));
    }

    #[test]
    fn hashes_with_salt_and_keeps_nulls() {
        let rows = vec![
            vec![Value::Int64(1), Value::from("bc"), Value::Json("{}".into())],
            vec![Value::Int64(2), Value::Null, Value::Null],
        ];
        let out = testing::run::<MaskPii>(
            r#"{"columns": ["email", "doc"], "salt": "a"}"#,
            cols(),
            rows,
        )
        .unwrap();
        assert_eq!(out.rows[0][1], Value::Text(hash_hex("", "abc")));
        assert_eq!(out.rows[0][2], Value::Text(hash_hex("a", "{}")));
        assert_eq!(out.rows[1], vec![Value::Int64(2), Value::Null, Value::Null]);
    }

    /// `process_batch` (what the host calls) and `process` (row by row) give the same output.
    #[test]
    fn the_batch_path_masks_exactly_as_the_row_path() {
        let rows = vec![
            vec![
                Value::Int64(1),
                Value::from("a@b.c"),
                Value::Json(r#"{"k":1}"#.into()),
            ],
            vec![Value::Int64(2), Value::Null, Value::Json("[]".into())],
            vec![Value::Int64(3), Value::from(""), Value::Null],
        ];
        for cfg in [
            r#"{"columns": ["email", "doc"], "salt": "s"}"#,
            r#"{"columns": ["doc"], "mode": "redact"}"#,
        ] {
            let by_batch = testing::run::<MaskPii>(cfg, cols(), rows.clone()).unwrap();
            let mut stream = sluice_plugin_sdk::Stream::<MaskPii>::create(cfg, cols()).unwrap();
            let out = stream.process_rows(rows.clone()).unwrap();
            let by_rows =
                sluice_plugin_sdk::convert::batch_to_rows(out.batch, cols().len()).unwrap();
            assert_eq!(by_batch.rows, by_rows, "{cfg}");
            assert_ne!(by_batch.rows, rows, "{cfg}: nothing was masked");
        }
    }

    #[test]
    fn redacts() {
        let rows = vec![vec![Value::Int64(1), Value::from("x@y.z"), Value::Null]];
        let out =
            testing::run::<MaskPii>(r#"{"columns": ["email"], "mode": "redact"}"#, cols(), rows)
                .unwrap();
        assert_eq!(out.rows[0][1], Value::from("***"));
    }

    #[test]
    fn config_errors_name_the_problem() {
        let e = testing::run::<MaskPii>(r#"{"columns": ["mail"]}"#, cols(), vec![]).unwrap_err();
        assert!(e.contains("\"mail\"") && e.contains("columns"), "{e}");
        let e = testing::run::<MaskPii>(r#"{"columns": ["id"]}"#, cols(), vec![]).unwrap_err();
        assert!(e.contains("int64"), "{e}");
        let e = testing::run::<MaskPii>(r#"{"columns": ["email"], "mode": "x"}"#, cols(), vec![])
            .unwrap_err();
        assert!(e.contains("mode"), "{e}");
        let e = testing::run::<MaskPii>("{}", cols(), vec![]).unwrap_err();
        assert!(e.contains("\"columns\" is required"), "{e}");
    }
}
