//! The Lookup activity: reads at most 5,000 rows of a source into ADF's output shape,
//! `{"firstRow": {...}}` or `{"count": N, "value": [...]}`, with JSON-typed values.

use serde_json::{Map, Number, Value as Json};
use tokio::sync::mpsc;

use crate::copy::runner::open_source;
use crate::model::lookup::{LookupPlan, MAX_OUTPUT_BYTES, MAX_ROWS};
use crate::stores::StoreError;
use crate::types::batch::Batch;
use crate::types::text_form::TextForm;
use crate::types::value::Value;

/// Runs a Lookup to its output. Stops reading once it has the rows it returns.
pub async fn run_lookup(plan: &LookupPlan) -> Result<Json, StoreError> {
    let source = open_source(&plan.source).await?;
    let schema = source.schema();
    let wanted = if plan.first_row_only { 1 } else { MAX_ROWS };
    let (tx, mut rx) = mpsc::channel::<Batch>(1);
    let reader = tokio::spawn(async move { source.read(tx, wanted.min(4096)).await });
    let mut rows: Vec<Json> = Vec::new();
    let mut budget = OutputBudget::default();
    'read: while let Some(batch) = rx.recv().await {
        for r in 0..batch.num_rows() {
            if rows.len() == wanted {
                break 'read;
            }
            let names = schema.columns.iter().map(|c| c.name.as_str());
            let row = json_row(names.zip(batch.row(r))).map_err(StoreError::new)?;
            if !budget.admit(&row) {
                return Err(StoreError::new(format!(
                    "the Lookup output exceeds the {} MB limit after {} rows; select fewer rows or columns",
                    MAX_OUTPUT_BYTES / (1024 * 1024),
                    rows.len()
                )));
            }
            rows.push(row);
        }
    }
    // Closing the queue stops a reader that still has rows: the rest are not needed.
    drop(rx);
    match reader.await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e),
        Err(e) => return Err(StoreError::new(format!("the Lookup reader stopped: {e}"))),
    }
    Ok(if plan.first_row_only {
        match rows.pop() {
            Some(first) => serde_json::json!({ "firstRow": first }),
            None => serde_json::json!({}),
        }
    } else {
        serde_json::json!({ "count": rows.len(), "value": rows })
    })
}

/// One result row as a JSON object of ADF-typed values; a value that cannot be one is refused
/// naming its column.
pub(crate) fn json_row<'a>(
    columns: impl Iterator<Item = (&'a str, &'a Value)>,
) -> Result<Json, String> {
    let mut obj = Map::new();
    for (name, v) in columns {
        let j = to_json(v).map_err(|reason| format!("column '{name}': {reason}"))?;
        obj.insert(name.to_string(), j);
    }
    Ok(Json::Object(obj))
}

/// The 4 MB ADF allows an activity output, spent row by row.
#[derive(Default)]
pub(crate) struct OutputBudget {
    used: usize,
}

impl OutputBudget {
    /// Counts `row`'s serialized size; false once the total is over the limit.
    pub(crate) fn admit(&mut self, row: &Json) -> bool {
        self.used += row.to_string().len();
        self.used <= MAX_OUTPUT_BYTES
    }
}

/// A value as ADF's Lookup gives it: numbers stay numbers, date and time values are ISO 8601
/// text, everything else is its text form. Binary values are refused, as in ADF.
pub fn to_json(v: &Value) -> Result<Json, String> {
    Ok(match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int16(i) => Json::from(*i),
        Value::Int32(i) => Json::from(*i),
        Value::Int64(i) => Json::from(*i),
        Value::Float32(f) => float(f64::from(*f), v),
        Value::Float64(f) => float(*f, v),
        Value::Numeric(s) => match s.parse::<i64>() {
            Ok(i) => Json::from(i),
            Err(_) => match s.parse::<f64>() {
                Ok(f) => float(f, v),
                Err(_) => Json::String(s.clone()),
            },
        },
        Value::Money(cents) => float(*cents as f64 / 100.0, v),
        Value::Bytes(_) => {
            return Err(
                "the value of type 'Byte[]' (bytea) is not supported by the Lookup activity; cast it in the query, e.g. encode(col, 'hex')"
                    .into(),
            )
        }
        Value::Date(_) | Value::Timestamp(_) => iso(v, false),
        Value::TimestampTz(_) => iso(v, true),
        other => Json::String(other.to_text().unwrap_or_default()),
    })
}

fn float(f: f64, v: &Value) -> Json {
    match Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None => Json::String(v.to_text().unwrap_or_default()),
    }
}

/// `2024-02-29 13:45:00.5` -> `2024-02-29T13:45:00.5`, timestamptz `...+00` -> `...Z`, a date
/// as its midnight (ADF reads dates as DateTime). BC and infinite values keep PostgreSQL's text.
fn iso(v: &Value, utc: bool) -> Json {
    let text = v.to_text().unwrap_or_default();
    if text.ends_with(" BC") || text.contains("infinity") {
        return Json::String(text);
    }
    let mut s = if let Value::Date(_) = v {
        format!("{text}T00:00:00")
    } else {
        text.replacen(' ', "T", 1)
    };
    if utc {
        if let Some(stripped) = s.strip_suffix("+00") {
            s = format!("{stripped}Z");
        }
    }
    Json::String(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_adf_json_types() {
        assert_eq!(to_json(&Value::Int64(7)).unwrap(), Json::from(7));
        assert_eq!(
            to_json(&Value::Numeric("12.50".into())).unwrap(),
            serde_json::json!(12.5)
        );
        assert_eq!(
            to_json(&Value::Float64(f64::NAN)).unwrap(),
            Json::String("NaN".into())
        );
        assert_eq!(
            to_json(&Value::Date(0)).unwrap(),
            Json::String("2000-01-01T00:00:00".into())
        );
        assert_eq!(
            to_json(&Value::TimestampTz(1_500_000)).unwrap(),
            Json::String("2000-01-01T00:00:01.5Z".into())
        );
        assert!(to_json(&Value::Bytes(vec![1]))
            .unwrap_err()
            .contains("Byte[]"));
    }
}
