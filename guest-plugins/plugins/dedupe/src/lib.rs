//! `dedupe` (stateful): keeps one row per key across all the batches of a stream.
//!
//! Config: `{"keys": ["id"], "keep": "first"}`
//! - `keys` (required): the key columns. Keys compare on their value: `1` as int16, int32 or
//!   int64 is the same key, numeric `1.50` equals `1.5`, NULL equals NULL (as in `DISTINCT`).
//! - `keep`: `first` (default) emits a row when its key is first seen, so rows flow through
//!   batch by batch and `flush` emits nothing; `last` holds every row until `flush` and emits
//!   the last row per key, in first-seen order (memory grows with the number of keys).

use std::collections::{HashMap, HashSet};

use sluice_plugin_sdk::decimal::Decimal;
use sluice_plugin_sdk::{config, Column, Emit, Info, Row, RowPlugin, Value};

pub struct Dedupe {
    keys: Vec<usize>,
    keep_last: bool,
    seen: HashSet<String>,
    /// keep=last: the held rows in first-seen order, and each key's slot.
    held: Vec<Vec<Value>>,
    slots: HashMap<String, usize>,
}

/// A canonical text for one key value: equal values give equal text across kinds.
pub fn key_part(out: &mut String, v: &Value) {
    use std::fmt::Write;
    let _ = match v {
        Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => {
            write!(out, "n:{}", v.as_i64().unwrap_or_default())
        }
        Value::Numeric(s) => match Decimal::parse(s) {
            Some(d) => write!(out, "n:{}", normalize(d)),
            None => write!(out, "n:{s}"),
        },
        Value::Float32(_) | Value::Float64(_) => {
            let f = v.as_f64().unwrap_or(f64::NAN);
            if f.is_nan() {
                write!(out, "f:NaN")
            } else {
                // + 0.0 turns -0.0 into 0.0.
                write!(out, "f:{:?}", f + 0.0)
            }
        }
        other => write!(out, "{other:?}"),
    };
    out.push('\u{1}');
}

/// The decimal without trailing fractional zeros.
fn normalize(d: Decimal) -> String {
    let s = d.to_string();
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        if t == "-0" {
            "0".into()
        } else {
            t.to_string()
        }
    } else {
        s
    }
}

impl Dedupe {
    fn key(&self, row: &Row) -> String {
        let mut k = String::new();
        for &i in &self.keys {
            key_part(&mut k, row.at(i).unwrap_or(&Value::Null));
        }
        k
    }
}

impl RowPlugin for Dedupe {
    fn info() -> Info {
        Info {
            name: "dedupe",
            version: env!("CARGO_PKG_VERSION"),
            description: "Keeps the first (or last) row per key",
        }
    }

    fn create(cfg: &serde_json::Value, input: &[Column]) -> Result<Self, String> {
        config::check_keys(cfg, &["keys", "keep"])?;
        let names = config::str_list(cfg, "keys")?;
        if names.is_empty() {
            return Err("config key \"keys\" must name at least one column".into());
        }
        let keys = names
            .iter()
            .map(|n| config::column_index(input, n, "keys"))
            .collect::<Result<_, _>>()?;
        let keep_last = match config::optional_str(cfg, "keep")?.unwrap_or("first") {
            "first" => false,
            "last" => true,
            other => {
                return Err(format!(
                    "config key \"keep\" must be \"first\" or \"last\", got \"{other}\""
                ))
            }
        };
        Ok(Dedupe {
            keys,
            keep_last,
            seen: HashSet::new(),
            held: Vec::new(),
            slots: HashMap::new(),
        })
    }

    fn process(&mut self, row: Row, out: &mut Emit) -> Result<(), String> {
        let key = self.key(&row);
        if self.keep_last {
            match self.slots.get(&key) {
                Some(&slot) => self.held[slot] = row.into_values(),
                None => {
                    self.slots.insert(key, self.held.len());
                    self.held.push(row.into_values());
                }
            }
        } else if self.seen.insert(key) {
            out.row(row);
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Emit) -> Result<(), String> {
        self.slots.clear();
        for values in self.held.drain(..) {
            out.values(values);
        }
        Ok(())
    }
}

sluice_plugin_sdk::export_row_plugin!(Dedupe);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_sdk::{testing, ScalarType, Stream};

    fn cols() -> Vec<Column> {
        vec![
            Column::new("id", ScalarType::Numeric),
            Column::new("v", ScalarType::Text),
        ]
    }

    fn row(id: &str, v: &str) -> Vec<Value> {
        vec![Value::Numeric(id.into()), Value::from(v)]
    }

    #[test]
    fn first_across_batches() {
        let mut s = Stream::<Dedupe>::create(r#"{"keys": ["id"]}"#, cols()).unwrap();
        let a =
            testing::process(&mut s, vec![row("1", "a"), row("2", "b"), row("1.0", "c")]).unwrap();
        assert_eq!(a.rows, vec![row("1", "a"), row("2", "b")]);
        let b = testing::process(&mut s, vec![row("2.00", "d"), row("3", "e")]).unwrap();
        assert_eq!(b.rows, vec![row("3", "e")]);
        assert!(testing::flush(&mut s).unwrap().rows.is_empty());
    }

    #[test]
    fn last_holds_until_flush() {
        let mut s =
            Stream::<Dedupe>::create(r#"{"keys": ["id"], "keep": "last"}"#, cols()).unwrap();
        assert!(testing::process(&mut s, vec![row("1", "a"), row("2", "b")])
            .unwrap()
            .rows
            .is_empty());
        assert!(testing::process(&mut s, vec![row("1", "c")])
            .unwrap()
            .rows
            .is_empty());
        assert_eq!(
            testing::flush(&mut s).unwrap().rows,
            vec![row("1", "c"), row("2", "b")]
        );
    }

    #[test]
    fn keys_compare_on_value() {
        let k = |v: Value| {
            let mut s = String::new();
            key_part(&mut s, &v);
            s
        };
        assert_eq!(k(Value::Int16(1)), k(Value::Int64(1)));
        assert_eq!(k(Value::Int64(1)), k(Value::Numeric("1.000".into())));
        assert_eq!(k(Value::Float64(-0.0)), k(Value::Float32(0.0)));
        assert_ne!(k(Value::from("1")), k(Value::Int64(1)));
        assert_eq!(k(Value::Null), k(Value::Null));
        assert!(Stream::<Dedupe>::create(r#"{"keys": ["nope"]}"#, cols()).is_err());
    }
}
