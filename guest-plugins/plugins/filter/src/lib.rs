//! `filter`: keeps the rows whose column matches a predicate; the others are dropped, or
//! rejected with `"reject": true` (so they count in `rowsSkipped`).
//!
//! Config:
//! ```json
//! {"column": "amount", "op": "gt", "value": 100, "reject": false}
//! ```
//! - `op`: `eq`, `ne`, `gt`, `ge`, `lt`, `le`, `is_null`, `not_null`, `contains`,
//!   `starts_with`. `value` is required except for `is_null`/`not_null`.
//! - Numbers compare numerically across int, float, numeric and money (money in currency
//!   units: `12.34`); integers and numeric compare exactly, floats as `f64`.
//! - Text and json compare as strings (byte order); `contains`/`starts_with` need a string.
//! - Booleans compare with `true`/`false`.
//! - date, time, timestamp and timestamptz compare on value: `value` is either a number in the
//!   column's own unit (days or microseconds since 2000-01-01, microseconds since midnight)
//!   or a string `2024-02-29`, `13:45:00`, `2024-02-29T13:45:00.5Z`, `2024-02-29 13:45:00+02:00`.
//! - NULL matches only `is_null` (as in SQL, `NULL <> 1` is not true).

pub mod predicate;

use predicate::Predicate;
use sluice_plugin_sdk::{config, Column, Emit, Info, Row, RowPlugin};

pub struct Filter {
    column: usize,
    name: String,
    predicate: Predicate,
    reject: bool,
}

impl RowPlugin for Filter {
    fn info() -> Info {
        Info {
            name: "filter",
            version: env!("CARGO_PKG_VERSION"),
            description: "Keeps rows matching a predicate on one column",
        }
    }

    fn create(cfg: &serde_json::Value, input: &[Column]) -> Result<Self, String> {
        config::check_keys(cfg, &["column", "op", "value", "reject"])?;
        let name = config::required_str(cfg, "column")?.to_string();
        let column = config::column_index(input, &name, "column")?;
        let op = config::required_str(cfg, "op")?;
        let predicate = Predicate::new(op, config::get(cfg, "value"), &input[column])?;
        let reject = config::bool_or(cfg, "reject", false)?;
        Ok(Filter {
            column,
            name,
            predicate,
            reject,
        })
    }

    fn process(&mut self, row: Row, out: &mut Emit) -> Result<(), String> {
        let keep = row
            .at(self.column)
            .is_some_and(|v| self.predicate.matches(v));
        if keep {
            out.row(row);
        } else if self.reject {
            out.reject(format!(
                "column \"{}\" does not match the filter {}",
                self.name, self.predicate
            ));
        }
        Ok(())
    }
}

sluice_plugin_sdk::export_row_plugin!(Filter);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_sdk::{testing, ScalarType, Value};

    #[test]
    fn drops_or_rejects() {
        let cols = vec![Column::new("amount", ScalarType::Numeric)];
        let rows = vec![
            vec![Value::Numeric("150.5".into())],
            vec![Value::Numeric("99".into())],
            vec![Value::Null],
        ];
        let out = testing::run::<Filter>(
            r#"{"column": "amount", "op": "gt", "value": 100}"#,
            cols.clone(),
            rows.clone(),
        )
        .unwrap();
        assert_eq!(out.rows, vec![vec![Value::Numeric("150.5".into())]]);
        assert!(out.rejected.is_empty());
        let out = testing::run::<Filter>(
            r#"{"column": "amount", "op": "gt", "value": 100, "reject": true}"#,
            cols,
            rows,
        )
        .unwrap();
        assert_eq!(out.rows.len(), 1);
        assert_eq!(
            out.rejected.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(out.rejected[0].1.contains("amount"));
    }

    #[test]
    fn config_errors() {
        let cols = vec![Column::new("s", ScalarType::Text)];
        for (cfg, needle) in [
            (r#"{"column": "x", "op": "eq", "value": 1}"#, "\"x\""),
            (r#"{"column": "s", "op": "like", "value": "a"}"#, "op"),
            (r#"{"column": "s", "op": "eq"}"#, "value"),
            (r#"{"column": "s", "op": "gt", "value": 1}"#, "value"),
        ] {
            let e = testing::run::<Filter>(cfg, cols.clone(), vec![]).unwrap_err();
            assert!(e.contains(needle), "{cfg}: {e}");
        }
    }
}
