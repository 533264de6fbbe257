//! `flatten-json`: extracts fields of a json/jsonb (or text) column into typed columns.
//!
//! Config:
//! ```json
//! {"column": "payload",
//!  "fields": {"n": "int64", "tags.0": "text", "user.name": {"type": "text", "as": "user"}},
//!  "keep": false}
//! ```
//! - `fields` maps a path to a type (`int64`, `float64`, `text`, `boolean`, `numeric`), or to
//!   `{"type": .., "as": "column_name"}`. Paths are dotted; a segment that is a number indexes
//!   an array. The output column is named by `as`, else the path with `.` turned into `_`.
//! - New columns come after the input columns, in config order; the source column is dropped
//!   unless `"keep": true`.
//! - An absent path or JSON `null` gives NULL; a NULL source gives NULL in every field.
//! - A value of the wrong type (`"n": "x"` for int64) or a source that is not valid JSON
//!   rejects the row, with a message naming the field.
//! - numeric keeps the number's exact text; int64 accepts integral numbers (`3`, `3.0`).

pub mod extract;

use extract::{extract, Field};
use sluice_plugin_sdk::{config, Column, DataType, Emit, Info, Row, RowPlugin, ScalarType, Value};

pub struct FlattenJson {
    source: usize,
    source_name: String,
    keep: bool,
    fields: Vec<Field>,
}

impl RowPlugin for FlattenJson {
    fn info() -> Info {
        Info {
            name: "flatten-json",
            version: env!("CARGO_PKG_VERSION"),
            description: "Extracts typed fields from a JSON column",
        }
    }

    fn create(cfg: &serde_json::Value, input: &[Column]) -> Result<Self, String> {
        config::check_keys(cfg, &["column", "fields", "keep"])?;
        let source_name = config::required_str(cfg, "column")?.to_string();
        let source = config::column_index(input, &source_name, "column")?;
        match input[source].data_type {
            DataType::Scalar(ScalarType::Json | ScalarType::Text) => {}
            other => {
                return Err(format!(
                    "config key \"column\": column \"{source_name}\" is {other}, not json"
                ))
            }
        }
        let keep = config::bool_or(cfg, "keep", false)?;
        let map = match config::get(cfg, "fields") {
            Some(serde_json::Value::Object(m)) if !m.is_empty() => m,
            _ => return Err("config key \"fields\" is required (an object of path: type)".into()),
        };
        let mut fields = Vec::with_capacity(map.len());
        for (path, spec) in map {
            fields.push(
                Field::parse(path, spec)
                    .map_err(|e| format!("config key \"fields\".\"{path}\": {e}"))?,
            );
        }
        let flattened = Self {
            source,
            source_name,
            keep,
            fields,
        };
        let out = flattened.output_schema(input);
        for (i, c) in out.iter().enumerate() {
            if out[..i].iter().any(|o| o.name == c.name) {
                return Err(format!(
                    "output column \"{}\" appears twice (use \"as\" to rename a field)",
                    c.name
                ));
            }
        }
        Ok(flattened)
    }

    fn output_schema(&self, input: &[Column]) -> Vec<Column> {
        let mut out: Vec<Column> = input
            .iter()
            .enumerate()
            .filter(|(i, _)| self.keep || *i != self.source)
            .map(|(_, c)| c.clone())
            .collect();
        out.extend(
            self.fields
                .iter()
                .map(|f| Column::new(f.name.clone(), f.ty)),
        );
        out
    }

    fn process(&mut self, row: Row, out: &mut Emit) -> Result<(), String> {
        let mut values = row.into_values();
        let mut extracted = Vec::with_capacity(self.fields.len());
        match values.get(self.source).and_then(Value::as_str) {
            None => extracted.resize(self.fields.len(), Value::Null),
            Some(text) => {
                let doc: serde_json::Value = match serde_json::from_str(text) {
                    Ok(d) => d,
                    Err(e) => {
                        out.reject(format!(
                            "column \"{}\" is not valid JSON: {e}",
                            self.source_name
                        ));
                        return Ok(());
                    }
                };
                for f in &self.fields {
                    match extract(&doc, f) {
                        Ok(v) => extracted.push(v),
                        Err(e) => {
                            out.reject(e);
                            return Ok(());
                        }
                    }
                }
            }
        }
        if !self.keep {
            values.remove(self.source);
        }
        values.append(&mut extracted);
        out.values(values);
        Ok(())
    }
}

sluice_plugin_sdk::export_row_plugin!(FlattenJson);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_sdk::testing;

    #[test]
    fn flattens_and_rejects() {
        let cols = vec![
            Column::new("id", ScalarType::Int64),
            Column::new("payload", ScalarType::Json),
        ];
        let cfg = r#"{"column": "payload", "fields": {"n": "int64", "tags.0": "text", "u.ok": {"type": "boolean", "as": "ok"}}}"#;
        let rows = vec![
            vec![
                Value::Int64(1),
                Value::Json(r#"{"n": 5, "tags": ["a", "b"], "u": {"ok": true}}"#.into()),
            ],
            vec![Value::Int64(2), Value::Json(r#"{"n": null}"#.into())],
            vec![Value::Int64(3), Value::Null],
            vec![Value::Int64(4), Value::Json(r#"{"n": "five"}"#.into())],
            vec![Value::Int64(5), Value::Json("{not json".into())],
        ];
        let mut stream = sluice_plugin_sdk::Stream::<FlattenJson>::create(cfg, cols).unwrap();
        let names: Vec<&str> = stream
            .output_schema()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["id", "n", "tags_0", "ok"]);
        let out = testing::process(&mut stream, rows).unwrap();
        assert_eq!(
            out.rows[0],
            vec![
                Value::Int64(1),
                Value::Int64(5),
                Value::from("a"),
                Value::Bool(true)
            ]
        );
        assert_eq!(
            out.rows[1],
            vec![Value::Int64(2), Value::Null, Value::Null, Value::Null]
        );
        assert_eq!(
            out.rows[2],
            vec![Value::Int64(3), Value::Null, Value::Null, Value::Null]
        );
        assert_eq!(out.rows.len(), 3);
        assert_eq!(out.rejected.len(), 2);
        assert_eq!(out.rejected[0].0, 3);
        assert!(out.rejected[0].1.contains("\"n\""), "{}", out.rejected[0].1);
        assert!(out.rejected[1].1.contains("payload"));
    }

    #[test]
    fn keep_and_config_errors() {
        let cols = vec![Column::new("p", ScalarType::Json)];
        let s = sluice_plugin_sdk::Stream::<FlattenJson>::create(
            r#"{"column": "p", "fields": {"a": "float64"}, "keep": true}"#,
            cols.clone(),
        )
        .unwrap();
        assert_eq!(s.output_schema().len(), 2);
        for (cfg, needle) in [
            (r#"{"column": "q", "fields": {"a": "text"}}"#, "\"q\""),
            (r#"{"column": "p"}"#, "fields"),
            (r#"{"column": "p", "fields": {"a": "uuid"}}"#, "\"a\""),
        ] {
            let e = testing::run::<FlattenJson>(cfg, cols.clone(), vec![]).unwrap_err();
            assert!(e.contains(needle), "{cfg}: {e}");
        }
    }
}
