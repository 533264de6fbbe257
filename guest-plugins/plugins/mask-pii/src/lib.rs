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
use sluice_plugin_sdk::{config, Column, DataType, Emit, Info, Row, RowPlugin, ScalarType, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Hash,
    Redact,
}

pub struct MaskPii {
    columns: Vec<usize>,
    salt: String,
    mode: Mode,
}

/// Lowercase hex of `sha256(salt + value)`.
pub fn hash_hex(salt: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(value.as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl MaskPii {
    /// The masked form of one value; NULL (and any non-text value) is left as it is.
    pub fn mask(&self, v: &mut Value) {
        if let Value::Text(s) | Value::Json(s) = v {
            let masked = match self.mode {
                Mode::Hash => hash_hex(&self.salt, s),
                Mode::Redact => "***".to_string(),
            };
            *v = Value::Text(masked);
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
        let salt = config::optional_str(cfg, "salt")?.unwrap_or("").to_string();
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
            salt,
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
