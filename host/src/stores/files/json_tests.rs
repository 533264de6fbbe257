use std::sync::{Arc, Mutex};

use super::*;
use crate::model::props::Props;
use crate::types::schema::{Column, DataType, Schema};

fn read(text: &str, max_rows: usize) -> Result<(SchemaRef, Vec<Vec<Value>>), StoreError> {
    let input: Box<dyn Read + Send> = Box::new(io::Cursor::new(text.as_bytes().to_vec()));
    let mut r = open_reader(input, &JsonSettings::default(), "file 'in/rows.json'")?;
    let schema = r.schema();
    let mut rows = Vec::new();
    while let Some(b) = r.next_batch(max_rows)? {
        assert!(b.num_rows() <= max_rows);
        rows.extend(b.into_rows());
    }
    Ok((schema, rows))
}

fn types(schema: &Schema) -> Vec<(&str, DataType)> {
    schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.data_type.clone()))
        .collect()
}

/// A `Write` whose bytes the test can read after the writer is gone.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn write(schema: SchemaRef, rows: Vec<Vec<Value>>, pattern: FilePattern) -> String {
    let out = Shared::default();
    let settings = JsonSettings {
        file_pattern: pattern,
    };
    let mut w = open_writer(Box::new(out.clone()), schema.clone(), &settings).unwrap();
    let mut batch = Batch::new(schema);
    for r in rows {
        batch.push_row(r);
    }
    w.write(&batch).unwrap();
    let n = w.finish().unwrap();
    let bytes = out.0.lock().unwrap().clone();
    assert_eq!(n, bytes.len() as u64);
    String::from_utf8(bytes).unwrap()
}

#[test]
fn json_lines_infer_columns_in_first_seen_order() {
    let text = "\u{feff}{\"id\": 1, \"name\": \"a\", \"price\": 1.50}\n\
                {\"id\": 2, \"extra\": {\"k\": [1, 2.50]}, \"flag\": true}\n\
                \n\
                {\"id\": 3, \"name\": null, \"price\": 12345678901234567890.123456789, \"mixed\": 1}\n\
                {\"id\": 4, \"mixed\": \"x\", \"extra\": \"plain\"}\n";
    let (schema, rows) = read(text, 2).unwrap();
    assert_eq!(
        types(&schema),
        vec![
            ("id", DataType::Int64),
            ("name", DataType::Text),
            ("price", DataType::Numeric),
            ("extra", DataType::Json),
            ("flag", DataType::Bool),
            ("mixed", DataType::Text),
        ]
    );
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[0],
        vec![
            Value::Int64(1),
            Value::Text("a".into()),
            Value::Numeric("1.50".into()),
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    // Nested values keep their exact text; numbers keep every digit.
    assert_eq!(rows[1][3], Value::Json("{\"k\": [1, 2.50]}".into()));
    assert_eq!(
        rows[2][2],
        Value::Numeric("12345678901234567890.123456789".into())
    );
    assert_eq!(rows[2][5], Value::Text("1".into()));
    assert_eq!(rows[3][5], Value::Text("x".into()));
    // In a JSON column a string stays a JSON string.
    assert_eq!(rows[3][3], Value::Json("\"plain\"".into()));
}

#[test]
fn a_json_array_reads_like_json_lines() {
    let text = " [\n {\"a\": 1, \"s\": \"x,]y\"},\n {\"a\": 2, \"s\": \"[{\\\"\"} ] \n";
    let (schema, rows) = read(text, 10).unwrap();
    assert_eq!(
        types(&schema),
        vec![("a", DataType::Int64), ("s", DataType::Text)]
    );
    assert_eq!(
        rows,
        vec![
            vec![Value::Int64(1), Value::Text("x,]y".into())],
            vec![Value::Int64(2), Value::Text("[{\"".into())],
        ]
    );
    let (schema, rows) = read("[]", 10).unwrap();
    assert!(schema.is_empty() && rows.is_empty());
    let (schema, rows) = read("", 10).unwrap();
    assert!(schema.is_empty() && rows.is_empty());
}

#[test]
fn broken_json_is_one_clear_error() {
    let e = read("{\"a\": 1}\n{\"a\": 2,}\n", 10)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("file 'in/rows.json': invalid JSON in row 2") && e.contains("line 2"),
        "{e}"
    );
    let e = read("[{\"a\": 1}, {\"a\": 2}", 10).unwrap_err().to_string();
    assert!(
        e.starts_with("file 'in/rows.json': invalid JSON in row 3")
            && e.contains("the JSON array is not closed"),
        "{e}"
    );
    let e = read("[{\"a\": 1} {\"a\": 2}]", 10).unwrap_err().to_string();
    assert!(e.contains("expected ',' between array elements"), "{e}");
    let e = read("[{\"a\": 1},]", 10).unwrap_err().to_string();
    assert!(e.contains("a ',' before the array's closing ']'"), "{e}");
    let e = read("[{\"a\": 1}] x", 10).unwrap_err().to_string();
    assert!(e.contains("after the array's closing ']'"), "{e}");
    let e = read("[1, 2]", 10).unwrap_err().to_string();
    assert!(e.contains("each row must be an object"), "{e}");
    let e = read("{\"a\": 1} 7", 10).unwrap_err().to_string();
    assert!(e.contains("each row must be an object"), "{e}");
}

#[test]
fn values_past_the_inference_rows_must_fit() {
    let mut text = String::new();
    for i in 0..INFER_ROWS {
        text.push_str(&format!("{{\"n\": {i}}}\n"));
    }
    text.push_str("{\"n\": \"late\"}\n");
    let e = read(&text, 500).unwrap_err().to_string();
    assert!(
        e.contains(&format!("row {}, field 'n'", INFER_ROWS + 1)) && e.contains("Int64"),
        "{e}"
    );
    let mut text = String::new();
    for i in 0..INFER_ROWS {
        text.push_str(&format!("{{\"n\": {i}}}\n"));
    }
    text.push_str("{\"n\": 1, \"new\": 2}\n");
    let e = read(&text, 500).unwrap_err().to_string();
    assert!(e.contains("a field 'new'"), "{e}");
}

fn sample() -> (SchemaRef, Vec<Vec<Value>>) {
    let schema = Arc::new(Schema::new(vec![
        Column::new("id", DataType::Int32, "int4"),
        Column::new("num", DataType::Numeric, "numeric"),
        Column::new("r", DataType::Float64, "float8"),
        Column::new("t", DataType::Text, "text"),
        Column::new("b", DataType::Bytes, "bytea"),
        Column::new("j", DataType::Json, "json"),
        Column::new("dt", DataType::Date, "date"),
        Column::new("ts", DataType::Timestamp, "timestamp"),
        Column::new("tstz", DataType::TimestampTz, "timestamptz"),
        Column::new("ai", DataType::Array(Box::new(DataType::Int32)), "_int4"),
        Column::new("m", DataType::Money, "money"),
    ]));
    let rows = vec![
        vec![
            Value::Int32(1),
            Value::Numeric("-12.340".into()),
            Value::Float64(1e300),
            Value::Text("tab\t\"q\" \u{1}".into()),
            Value::Bytes(vec![0, 255, 16]),
            Value::Json("{\"a\": [1, 2.50,\n null]}".into()),
            Value::Date(8_825),
            Value::Timestamp(762_438_896_123_456),
            Value::TimestampTz(1),
            Value::Array(Box::new(ArrayValue {
                dims: vec![(2, 1), (2, 1)],
                elements: vec![
                    Value::Int32(1),
                    Value::Int32(2),
                    Value::Int32(3),
                    Value::Null,
                ],
            })),
            Value::Money(-1234),
        ],
        vec![
            Value::Int32(2),
            Value::Numeric("NaN".into()),
            Value::Float64(f64::NEG_INFINITY),
            Value::Null,
            Value::Bytes(vec![]),
            Value::Json("\"just a string\"".into()),
            Value::Date(i32::MAX),
            Value::Timestamp(-63_145_526_400_000_000),
            Value::TimestampTz(i64::MIN),
            Value::Array(Box::new(ArrayValue {
                dims: vec![],
                elements: vec![],
            })),
            Value::Null,
        ],
    ];
    (schema, rows)
}

#[test]
fn output_shape_follows_adf() {
    let (schema, rows) = sample();
    let lines = write(schema.clone(), rows.clone(), FilePattern::SetOfObjects);
    let expected_first = "{\"id\":1,\"num\":-12.340,\"r\":1e+300,\"t\":\"tab\\t\\\"q\\\" \\u0001\",\"b\":\"AP8Q\",\
        \"j\":{\"a\": [1, 2.50,  null]},\"dt\":\"2024-02-29\",\"ts\":\"2024-02-28T12:34:56.123456\",\
        \"tstz\":\"2000-01-01T00:00:00.000001Z\",\"ai\":[[1,2],[3,null]],\"m\":-12.34}";
    let expected_second = "{\"id\":2,\"num\":\"NaN\",\"r\":\"-Infinity\",\"t\":null,\"b\":\"\",\
        \"j\":\"just a string\",\"dt\":\"infinity\",\"ts\":\"0003-12-31 00:00:00 BC\",\
        \"tstz\":\"-infinity\",\"ai\":[],\"m\":null}";
    assert_eq!(lines, format!("{expected_first}\n{expected_second}\n"));
    for line in lines.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    let array = write(schema.clone(), rows, FilePattern::ArrayOfObjects);
    let parsed: serde_json::Value = serde_json::from_str(&array).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 2);
    assert_eq!(write(schema, vec![], FilePattern::ArrayOfObjects), "[]\n");
}

#[test]
fn written_rows_read_back() {
    let (schema, rows) = sample();
    for pattern in [FilePattern::SetOfObjects, FilePattern::ArrayOfObjects] {
        let text = write(schema.clone(), rows.clone(), pattern);
        let (back_schema, back) = read(&text, 1).unwrap();
        assert_eq!(back_schema.len(), schema.len());
        assert_eq!(back[0][0], Value::Int64(1));
        assert_eq!(back[0][1], Value::Text("-12.340".into()));
        assert_eq!(back[1][1], Value::Text("NaN".into()));
        let doc = if pattern == FilePattern::SetOfObjects {
            "{\"a\": [1, 2.50,  null]}"
        } else {
            "{\"a\": [1, 2.50,\n null]}"
        };
        assert_eq!(back[0][5], Value::Json(doc.into()));
        assert_eq!(back[1][5], Value::Json("\"just a string\"".into()));
        assert_eq!(back[0][10], Value::Numeric("-12.34".into()));
    }
}

#[test]
fn settings_from_dataset_and_format_settings() {
    let tp = serde_json::json!({ "encodingName": "UTF-8" });
    let props = Props::of("dataset 'J'", &tp).unwrap();
    let mut s = JsonSettings::from_dataset(&props).unwrap();
    let tp = serde_json::json!({ "encodingName": "UTF-16" });
    let e = JsonSettings::from_dataset(&Props::of("dataset 'J'", &tp).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("encodingName") && e.contains("UTF-16"), "{e}");

    let fs = serde_json::json!({ "type": "JsonWriteSettings", "filePattern": "arrayOfObjects" });
    s.apply_format_settings(&Props::of("sink.formatSettings", &fs).unwrap(), true)
        .unwrap();
    assert_eq!(s.file_pattern, FilePattern::ArrayOfObjects);
    let fs = serde_json::json!({ "type": "JsonWriteSettings", "filePattern": "objects" });
    let e = s
        .apply_format_settings(&Props::of("sink.formatSettings", &fs).unwrap(), true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("filePattern"), "{e}");
    let fs = serde_json::json!({ "type": "JsonReadSettings" });
    s.apply_format_settings(&Props::of("source.formatSettings", &fs).unwrap(), false)
        .unwrap();
    let e = s
        .apply_format_settings(&Props::of("source.formatSettings", &fs).unwrap(), true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("JsonWriteSettings"), "{e}");
}
