//! `project`: drops, renames and derives columns.
//!
//! Config (every key optional):
//! ```json
//! {"drop": ["internal_id"],
//!  "rename": {"cust": "customer"},
//!  "derive": [
//!    {"name": "full", "concat": ["first", " ", "last"]},
//!    {"name": "email_lc", "lower": "email"},
//!    {"name": "amount_x2", "expr": {"mul": ["amount", 2]}},
//!    {"name": "amount_plus", "add": ["amount", 0.5]}]}
//! ```
//! Output: the input columns in order without `drop`ped ones, renamed by `rename`, then the
//! derived columns in config order. Derivations read input columns by their *input* names
//! (dropped columns can still feed them). The derive language, kept small on purpose:
//! - `concat: [..]`: each item that names an input column is that column's value as text
//!   (NULL as empty, like SQL `concat`); any other string is a literal; `{"lit": "x"}` forces
//!   a literal. Result: text.
//! - `upper: "col"`, `lower: "col"`: the text column in upper/lower case; NULL stays NULL.
//! - `mul: ["col", n]`, `add: ["col", n]`: a numeric column with a number. Integer and
//!   numeric columns give exact `numeric`; float columns give `float64`. NULL stays NULL.
//! - Any of these may be wrapped as `"expr": {"mul": [...]}`.

pub mod derive;

use derive::Derive;
use sluice_plugin_sdk::{config, Column, Emit, Info, Row, RowPlugin, Value};

pub struct Project {
    /// Input positions kept, in order.
    keep: Vec<usize>,
    derives: Vec<Derive>,
    output: Vec<Column>,
}

impl RowPlugin for Project {
    fn info() -> Info {
        Info {
            name: "project",
            version: env!("CARGO_PKG_VERSION"),
            description: "Drops, renames and derives columns",
        }
    }

    fn create(cfg: &serde_json::Value, input: &[Column]) -> Result<Self, String> {
        config::check_keys(cfg, &["drop", "rename", "derive"])?;
        let drop = config::optional_str_list(cfg, "drop")?;
        for name in &drop {
            config::column_index(input, name, "drop")?;
        }
        let rename = config::str_map(cfg, "rename")?;
        for (old, _) in &rename {
            config::column_index(input, old, "rename")?;
        }
        let mut keep = Vec::new();
        let mut output = Vec::new();
        for (i, c) in input.iter().enumerate() {
            if drop.contains(&c.name) {
                continue;
            }
            let mut c = c.clone();
            if let Some((_, new)) = rename.iter().find(|(old, _)| *old == c.name) {
                c.name = new.clone();
            }
            keep.push(i);
            output.push(c);
        }
        let mut derives = Vec::new();
        if let Some(items) = config::get(cfg, "derive") {
            let items = items
                .as_array()
                .ok_or("config key \"derive\" must be a list")?;
            for (i, item) in items.iter().enumerate() {
                let d = Derive::parse(item, input)
                    .map_err(|e| format!("config key \"derive\"[{i}]: {e}"))?;
                output.push(Column::new(d.name.clone(), d.output_type()));
                derives.push(d);
            }
        }
        for (i, c) in output.iter().enumerate() {
            if output[..i].iter().any(|o| o.name == c.name) {
                return Err(format!(
                    "output column \"{}\" appears twice (check rename and derive)",
                    c.name
                ));
            }
        }
        Ok(Project {
            keep,
            derives,
            output,
        })
    }

    fn output_schema(&self, _input: &[Column]) -> Vec<Column> {
        self.output.clone()
    }

    fn process(&mut self, row: Row, out: &mut Emit) -> Result<(), String> {
        let mut values = Vec::with_capacity(self.output.len());
        for d in &self.derives {
            match d.eval(row.values()) {
                Ok(v) => values.push(v),
                Err(e) => {
                    out.reject(format!("derive \"{}\": {e}", d.name));
                    return Ok(());
                }
            }
        }
        let mut input = row.into_values();
        let mut result: Vec<Value> = self
            .keep
            .iter()
            .map(|&i| std::mem::take(&mut input[i]))
            .collect();
        result.append(&mut values);
        out.values(result);
        Ok(())
    }
}

sluice_plugin_sdk::export_row_plugin!(Project);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_sdk::{testing, ScalarType};

    #[test]
    fn drop_rename_derive() {
        let cols = vec![
            Column::new("first", ScalarType::Text),
            Column::new("last", ScalarType::Text),
            Column::new("amount", ScalarType::Numeric),
            Column::new("secret", ScalarType::Text),
        ];
        let cfg = r#"{"drop": ["secret"], "rename": {"last": "surname"},
            "derive": [{"name": "full", "concat": ["first", " ", "last"]},
                       {"name": "amount_x2", "expr": {"mul": ["amount", 2]}},
                       {"name": "up", "upper": "first"}]}"#;
        let rows = vec![
            vec![
                Value::from("Ada"),
                Value::from("Lovelace"),
                Value::Numeric("1.25".into()),
                Value::from("x"),
            ],
            vec![Value::from("Bob"), Value::Null, Value::Null, Value::Null],
        ];
        let mut stream = sluice_plugin_sdk::Stream::<Project>::create(cfg, cols).unwrap();
        let names: Vec<&str> = stream
            .output_schema()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["first", "surname", "amount", "full", "amount_x2", "up"]
        );
        assert_eq!(
            stream.output_schema()[4].data_type,
            ScalarType::Numeric.into()
        );
        let out = testing::process(&mut stream, rows).unwrap();
        assert_eq!(
            out.rows[0],
            vec![
                Value::from("Ada"),
                Value::from("Lovelace"),
                Value::Numeric("1.25".into()),
                Value::from("Ada Lovelace"),
                Value::Numeric("2.50".into()),
                Value::from("ADA"),
            ]
        );
        assert_eq!(out.rows[1][3], Value::from("Bob "));
        assert_eq!(out.rows[1][4], Value::Null);
    }

    #[test]
    fn errors_name_the_key() {
        let cols = vec![Column::new("a", ScalarType::Text)];
        let e = testing::run::<Project>(r#"{"drop": ["b"]}"#, cols.clone(), vec![]).unwrap_err();
        assert!(e.contains("drop") && e.contains("\"b\""), "{e}");
        let e = testing::run::<Project>(
            r#"{"derive": [{"name": "x", "mul": ["a", 2]}]}"#,
            cols.clone(),
            vec![],
        )
        .unwrap_err();
        assert!(e.contains("derive") && e.contains("\"a\""), "{e}");
        let e = testing::run::<Project>(
            r#"{"rename": {"a": "b"}, "derive": [{"name": "b", "lower": "a"}]}"#,
            cols,
            vec![],
        )
        .unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }
}
