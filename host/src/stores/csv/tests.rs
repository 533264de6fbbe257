//! Source and sink tests against real files in temporary folders.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;

use crate::model::files::location::Selection;
use crate::model::linked_service::LinkedService;
use crate::model::props::Props;
use crate::stores::files::{FileDataset, FileRead, FileSink, FileSource, FileWrite};
use crate::stores::{Sink, Source, SourceStats, StoreError};
use crate::types::batch::Batch;
use crate::types::schema::{Column, DataType, Schema, SchemaRef};
use crate::types::text_form::TextForm;
use crate::types::value::{ArrayValue, Value};

/// A DelimitedText dataset on a local folder `dir`, folder `data`, with `extra` properties
/// (`fileName` goes into the location).
fn dataset(dir: &Path, extra: serde_json::Value) -> FileDataset {
    let mut v = json!({"location": {"type": "FileServerLocation", "folderPath": "data"}});
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        for (k, val) in more {
            if k == "fileName" {
                if let Some(loc) = obj.get_mut("location").and_then(|l| l.as_object_mut()) {
                    loc.insert(k, val);
                }
            } else {
                obj.insert(k, val);
            }
        }
    }
    let props = Props::of("dataset 'D' typeProperties", &v).unwrap();
    let linked = LinkedService::Files {
        root: dir.to_path_buf(),
    };
    FileDataset::from_props("DelimitedText", &props, &linked, "Files").unwrap()
}

fn reading(ds: &FileDataset) -> FileRead {
    FileRead {
        dataset: ds.clone(),
        selection: Selection {
            recursive: true,
            ..Selection::default()
        },
        additional_columns: Vec::new(),
    }
}

fn writing(ds: &FileDataset) -> FileWrite {
    FileWrite {
        dataset: ds.clone(),
        max_rows_per_file: None,
        file_name_prefix: None,
        file_extension: None,
        quote_all_text: false,
        table_stem: None,
    }
}

async fn open_source(ds: &FileDataset) -> Result<FileSource, StoreError> {
    FileSource::open("D", &reading(ds), None).await
}

async fn open_sink(ds: &FileDataset, schema: SchemaRef) -> Result<FileSink, StoreError> {
    FileSink::open("D", &writing(ds), schema).await
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) {
    let folder = dir.join("data");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(name), bytes).unwrap();
}

async fn read_all(
    ds: &FileDataset,
    batch_rows: usize,
) -> Result<(SchemaRef, Vec<Vec<Value>>, usize, SourceStats), StoreError> {
    let source = open_source(ds).await?;
    let schema = source.schema();
    let (tx, mut rx) = mpsc::channel::<Batch>(4);
    let reading = tokio::spawn(Box::new(source).read(tx, batch_rows));
    let mut rows = Vec::new();
    let mut batches = 0;
    while let Some(b) = rx.recv().await {
        assert!(b.num_rows() <= batch_rows);
        batches += 1;
        rows.extend(b.into_rows());
    }
    let stats = reading.await.unwrap()?;
    Ok((schema, rows, batches, stats))
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn text_schema(names: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Column::new(*n, DataType::Text, "text"))
            .collect(),
    ))
}

async fn write_rows(
    ds: &FileDataset,
    schema: SchemaRef,
    rows: Vec<Vec<Value>>,
) -> Result<crate::stores::SinkStats, StoreError> {
    let sink = open_sink(ds, schema.clone()).await?;
    let (tx, rx) = mpsc::channel::<Batch>(2);
    let writing = tokio::spawn(Box::new(sink).write(rx));
    for chunk in rows.chunks(2) {
        let mut b = Batch::new(schema.clone());
        for r in chunk {
            b.push_row(r.clone());
        }
        if tx.send(b).await.is_err() {
            break;
        }
    }
    drop(tx);
    writing.await.unwrap()
}

#[tokio::test]
async fn header_row_names_columns() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", b"id,name\r\n1,ann\r\n2,\r\n");
    let ds = dataset(
        dir.path(),
        json!({"firstRowAsHeader": true, "fileName": "a.csv"}),
    );
    let (schema, rows, _, stats) = read_all(&ds, 10).await.unwrap();
    assert_eq!(schema.names().collect::<Vec<_>>(), ["id", "name"]);
    assert_eq!(schema.columns[0].data_type, DataType::Text);
    assert_eq!(schema.columns[0].type_name, "String");
    assert_eq!(
        rows,
        vec![vec![text("1"), text("ann")], vec![text("2"), Value::Null]]
    );
    assert_eq!(stats.rows_read, 2);
    assert_eq!(stats.bytes_read, 20);
    assert_eq!(stats.peak_connections, 1);
}

#[tokio::test]
async fn without_header_columns_are_prop_n_and_batches_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", b"1,a\n2,b\n3,c\n4,d\n5,e");
    let ds = dataset(dir.path(), json!({"fileName": "a.csv"}));
    let (schema, rows, batches, stats) = read_all(&ds, 2).await.unwrap();
    assert_eq!(schema.names().collect::<Vec<_>>(), ["Prop_0", "Prop_1"]);
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[4], vec![text("5"), text("e")]);
    assert_eq!(batches, 3);
    assert_eq!(stats.rows_read, 5);
}

#[tokio::test]
async fn null_value_marker_and_quoted_values() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "a.csv",
        b"NULL,\"NULL\",,\"\"\n\"a,b\",\"line1\nline2\",\"say \\\"hi\\\"\",\"x\"\"y\"\n",
    );
    let ds = dataset(
        dir.path(),
        json!({"fileName": "a.csv", "nullValue": "NULL"}),
    );
    let (_, rows, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(rows[0], vec![Value::Null, text("NULL"), text(""), text("")]);
    assert_eq!(
        rows[1],
        vec![
            text("a,b"),
            text("line1\nline2"),
            text("say \"hi\""),
            text("x\"y")
        ]
    );

    let ds = dataset(dir.path(), json!({"fileName": "a.csv"}));
    let (_, rows, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(
        rows[0],
        vec![text("NULL"), text("NULL"), Value::Null, text("")]
    );
}

#[tokio::test]
async fn escape_char_equal_to_quote_doubles_quotes() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", b"\"C:\\dir\\\",\"a\"\"b\"\n");
    let ds = dataset(dir.path(), json!({"fileName": "a.csv", "escapeChar": "\""}));
    let (_, rows, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(rows, vec![vec![text("C:\\dir\\"), text("a\"b")]]);
}

#[tokio::test]
async fn wrong_field_count_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", b"a,b\n1,2\n\"x\ny\",2\n1,2,3\n");
    let ds = dataset(
        dir.path(),
        json!({"fileName": "a.csv", "firstRowAsHeader": true}),
    );
    let e = read_all(&ds, 10).await.unwrap_err().to_string();
    assert!(e.contains("a.csv: line 5 (row 3)"), "{e}");
    assert!(e.contains("found 3 fields, expected 2"), "{e}");
}

#[tokio::test]
async fn invalid_utf8_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", b"a,b\nok,\xff\xfe\n");
    let ds = dataset(dir.path(), json!({"fileName": "a.csv"}));
    let e = read_all(&ds, 10).await.unwrap_err().to_string();
    assert!(
        e.contains("a.csv: line 2") && e.contains("not valid UTF-8"),
        "{e}"
    );
}

#[tokio::test]
async fn bom_is_stripped() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", b"\xEF\xBB\xBFid\n7\n");
    let ds = dataset(
        dir.path(),
        json!({"fileName": "a.csv", "firstRowAsHeader": true}),
    );
    let (schema, rows, _, stats) = read_all(&ds, 10).await.unwrap();
    assert_eq!(schema.columns[0].name, "id");
    assert_eq!(rows, vec![vec![text("7")]]);
    assert_eq!(stats.bytes_read, 8);
}

#[tokio::test]
async fn tab_delimiter_and_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.tsv", b"a\tb,c\n\n1\t2\n\n");
    let ds = dataset(
        dir.path(),
        json!({"fileName": "a.tsv", "columnDelimiter": "\\t"}),
    );
    let (_, rows, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(
        rows,
        vec![vec![text("a"), text("b,c")], vec![text("1"), text("2")]]
    );
}

#[tokio::test]
async fn folder_files_in_name_order_with_matching_headers() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "b.csv", b"id\n2\n");
    write_file(dir.path(), "a.csv", b"id\n1\n");
    std::fs::create_dir_all(dir.path().join("data/sub")).unwrap();
    let ds = dataset(dir.path(), json!({"firstRowAsHeader": true}));
    let (_, rows, _, stats) = read_all(&ds, 10).await.unwrap();
    assert_eq!(rows, vec![vec![text("1")], vec![text("2")]]);
    assert_eq!(stats.bytes_read, 10);

    write_file(dir.path(), "c.csv", b"key\n3\n");
    let e = read_all(&ds, 10).await.unwrap_err().to_string();
    assert!(
        e.contains("c.csv has columns (key) but the first file")
            && e.contains("a.csv has (id): it lacks id and it has key in addition"),
        "{e}"
    );
}

#[tokio::test]
async fn missing_folder_or_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), json!({}));
    let e = open_source(&ds)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("data") && e.contains("cannot list the folder"),
        "{e}"
    );
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let e = open_source(&ds)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("no files"), "{e}");
    let ds = dataset(dir.path(), json!({"fileName": "nope.csv"}));
    let e = open_source(&ds)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("nope.csv: cannot open"), "{e}");
}

#[tokio::test]
async fn consumer_gone_stops_quietly() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", b"1\n2\n3\n4\n");
    let ds = dataset(dir.path(), json!({"fileName": "a.csv"}));
    let source = open_source(&ds).await.unwrap();
    let (tx, rx) = mpsc::channel::<Batch>(1);
    drop(rx);
    let stats = Box::new(source).read(tx, 1).await.unwrap();
    assert!(stats.rows_read <= 1);
}

fn awkward_rows() -> Vec<Vec<Value>> {
    vec![
        vec![text("plain"), text(""), Value::Null],
        vec![text("a,b"), text("quote \" inside"), text("back\\slash")],
        vec![text("line\nbreak"), text("cr\r\nlf"), text("NULL")],
        vec![text("\ttab"), text("\\"), text("\"")],
        vec![
            Value::Int32(-5),
            Value::Bool(true),
            Value::Array(Box::new(ArrayValue {
                dims: vec![(2, 1)],
                elements: vec![text("x y"), Value::Null],
            })),
        ],
    ]
}

/// What the reader gives back for `awkward_rows`: everything as text.
fn as_text(rows: &[Vec<Value>]) -> Vec<Vec<Value>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|v| v.to_text().map_or(Value::Null, Value::Text))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn round_trip_awkward_values_in_every_quoting_mode() {
    let settings = [
        json!({}),
        json!({"escapeChar": "\""}),
        json!({"nullValue": "NULL"}),
        json!({"columnDelimiter": "\t", "rowDelimiter": "\n"}),
        json!({"quoteChar": "", "nullValue": "\\N"}),
        json!({"rowDelimiter": "|", "quoteChar": "'", "escapeChar": "'"}),
    ];
    for extra in settings {
        let dir = tempfile::tempdir().unwrap();
        let mut props = extra.clone();
        if let Some(o) = props.as_object_mut() {
            o.insert("fileName".into(), json!("out.csv"));
            o.insert("firstRowAsHeader".into(), json!(true));
        }
        let ds = dataset(dir.path(), props);
        let schema = text_schema(&["a,1", "b", "c"]);
        let rows = awkward_rows();
        let stats = write_rows(&ds, schema, rows.clone()).await.unwrap();
        let path = dir.path().join("data/out.csv");
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!(stats.bytes_written, size, "{extra}");
        assert_eq!(stats.rows_written, 5);
        assert_eq!(stats.files, vec![path.display().to_string()]);

        let (schema, back, _, _) = read_all(&ds, 3).await.unwrap();
        assert_eq!(
            schema.names().collect::<Vec<_>>(),
            ["a,1", "b", "c"],
            "{extra}"
        );
        // `nullValue` is never empty here, so even without quoting the empty string stays
        // text; with quoting, a text equal to the marker is quoted and stays text too.
        let expected = as_text(&rows);
        assert_eq!(
            back,
            expected,
            "{extra}: {}",
            std::fs::read_to_string(&path).unwrap()
        );
    }
}

/// Fuzz regression (`csv` target): a one-column file whose only row is the empty string, with a
/// `nullValue` other than empty, was written as a blank line and read back as a file without
/// columns or rows. The writer quotes the empty value so the row survives.
#[tokio::test]
async fn one_column_empty_string_rows_are_not_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(
        dir.path(),
        json!({"fileName": "o.csv", "quoteChar": "'", "rowDelimiter": "|", "nullValue": "\\N"}),
    );
    let rows = vec![vec![text("")], vec![text("")]];
    write_rows(&ds, text_schema(&["a"]), rows.clone())
        .await
        .unwrap();
    let got = std::fs::read_to_string(dir.path().join("data/o.csv")).unwrap();
    assert_eq!(got, "''|''|");
    let (schema, back, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(schema.names().collect::<Vec<_>>(), ["Prop_0"]);
    assert_eq!(back, rows);
}

/// Fuzz regression (`csv` target): a file whose first value starts with U+FEFF was written
/// starting with the bytes of a byte-order mark, which the reader drops. The writer quotes it.
#[tokio::test]
async fn a_first_value_starting_with_a_byte_order_mark_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), json!({"fileName": "o.csv"}));
    let rows = vec![
        vec![text("\u{feff}one"), text("x")],
        vec![text("\u{feff}two"), text("y")],
    ];
    write_rows(&ds, text_schema(&["a", "b"]), rows.clone())
        .await
        .unwrap();
    let got = std::fs::read_to_string(dir.path().join("data/o.csv")).unwrap();
    assert_eq!(got, "\"\u{feff}one\",x\r\n\u{feff}two,y\r\n");
    let (_, back, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(back, rows);

    // Without quoting, the escape character protects it; with neither, it is refused.
    let ds = dataset(
        dir.path(),
        json!({"fileName": "e.csv", "quoteChar": "", "escapeChar": "\\", "firstRowAsHeader": true}),
    );
    write_rows(&ds, text_schema(&["\u{feff}h"]), vec![vec![text("v")]])
        .await
        .unwrap();
    let (schema, _, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(schema.names().collect::<Vec<_>>(), ["\u{feff}h"]);
    let ds = dataset(
        dir.path(),
        json!({"fileName": "n.csv", "quoteChar": "", "escapeChar": ""}),
    );
    let e = write_rows(&ds, text_schema(&["a"]), vec![vec![text("\u{feff}x")]])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("byte-order mark"), "{e}");
}

/// Fuzz regression (`csv` target): without a quote character, a text equal to `nullValue` was
/// written bare and read back as NULL. It is escaped (or, with no escape character either,
/// refused by name).
#[tokio::test]
async fn text_equal_to_the_null_marker_stays_text_without_quoting() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(
        dir.path(),
        json!({"fileName": "o.csv", "quoteChar": "", "escapeChar": "\"", "nullValue": "NULL"}),
    );
    let rows = vec![vec![text("NULL"), Value::Null]];
    write_rows(&ds, text_schema(&["a", "b"]), rows.clone())
        .await
        .unwrap();
    let got = std::fs::read_to_string(dir.path().join("data/o.csv")).unwrap();
    assert_eq!(got, "\"NULL,NULL\r\n");
    let (_, back, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(back, rows);

    let ds = dataset(
        dir.path(),
        json!({"fileName": "p.csv", "quoteChar": "", "escapeChar": "", "nullValue": "NULL"}),
    );
    let e = write_rows(&ds, text_schema(&["a"]), vec![vec![text("NULL")]])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("equals nullValue"), "{e}");
}

#[tokio::test]
async fn default_output_uses_crlf_and_quotes_only_when_needed() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(
        dir.path(),
        json!({"fileName": "o.csv", "firstRowAsHeader": true}),
    );
    let rows = vec![
        vec![text("x"), text("")],
        vec![Value::Null, text("a\"b")],
        vec![text("c:\\t"), Value::Int64(1)],
    ];
    write_rows(&ds, text_schema(&["a", "b"]), rows)
        .await
        .unwrap();
    let got = std::fs::read_to_string(dir.path().join("data/o.csv")).unwrap();
    assert_eq!(got, "a,b\r\nx,\"\"\r\n,\"a\\\"b\"\r\n\"c:\\\\t\",1\r\n");
}

#[tokio::test]
async fn no_quote_no_escape_rejects_values_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(
        dir.path(),
        json!({"fileName": "o.csv", "quoteChar": "", "escapeChar": ""}),
    );
    let e = write_rows(
        &ds,
        text_schema(&["a"]),
        vec![vec![text("ok")], vec![text("x,y")]],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("o.csv: row 2, column a"), "{e}");
    assert!(!dir.path().join("data/o.csv").exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join("data")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn failed_write_leaves_no_file_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), json!({"fileName": "o.csv"}));
    write_file(dir.path(), "o.csv", b"old\n");
    let schema = text_schema(&["a", "b"]);
    let sink = open_sink(&ds, schema.clone()).await.unwrap();
    let (tx, rx) = mpsc::channel::<Batch>(2);
    let writing = tokio::spawn(Box::new(sink).write(rx));
    let mut good = Batch::new(schema.clone());
    good.push_row([text("1"), text("2")]);
    tx.send(good).await.unwrap();
    let mut bad = Batch::new(text_schema(&["only"]));
    bad.push_row([text("x")]);
    let _ = tx.send(bad).await;
    let e = writing.await.unwrap().unwrap_err().to_string();
    assert!(e.contains("received rows with 1 columns"), "{e}");
    let folder = dir.path().join("data");
    assert_eq!(std::fs::read(folder.join("o.csv")).unwrap(), b"old\n");
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1);
}

#[tokio::test]
async fn cancelled_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), json!({"fileName": "o.csv"}));
    let schema = text_schema(&["a"]);
    let sink = open_sink(&ds, schema.clone()).await.unwrap();
    let (tx, rx) = mpsc::channel::<Batch>(2);
    let writing = tokio::spawn(Box::new(sink).write(rx));
    let mut b = Batch::new(schema.clone());
    b.push_row([text("1")]);
    tx.send(b).await.unwrap();
    // The runner gives up (its source failed): it drops the write future, then the sender.
    writing.abort();
    let _ = writing.await;
    drop(tx);
    let folder = dir.path().join("data");
    let mut left = usize::MAX;
    for _ in 0..200 {
        left = std::fs::read_dir(&folder).unwrap().count();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(left, 0, "temporary file left behind");
}

#[tokio::test]
async fn sink_without_a_file_name_generates_one_and_creates_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path(), json!({}));
    let sink = json!({"type": "DelimitedTextSink"});
    let w = FileWrite::from_props(ds, &Props::of("sink", &sink).unwrap(), "D").unwrap();
    assert_eq!(w.file_name(0, "Data.x"), "Data.x.txt");
    let ds = dataset(dir.path(), json!({"fileName": "*.csv"}));
    let e = FileWrite::from_props(ds, &Props::of("sink", &sink).unwrap(), "D")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("location") && e.contains("fileName") && e.contains("wildcards"),
        "{e}"
    );
    let ds = dataset(dir.path(), json!({"fileName": "new.csv"}));
    let stats = write_rows(
        &ds,
        text_schema(&["a"]),
        vec![vec![Value::Null], vec![text("")]],
    )
    .await
    .unwrap();
    assert_eq!(stats.rows_written, 2);
    let got = std::fs::read(dir.path().join("data/new.csv")).unwrap();
    assert_eq!(got, b"\r\n\"\"\r\n");
    let (_, back, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(back, vec![vec![Value::Null], vec![text("")]]);
}

#[tokio::test]
async fn no_quote_mode_null_marker_is_matched_before_unescaping() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(
        dir.path(),
        json!({"fileName": "o.txt", "quoteChar": "", "nullValue": "\\N", "columnDelimiter": "\t"}),
    );
    let rows = vec![vec![Value::Null, text("\\N"), text("N"), text("a\tb")]];
    write_rows(&ds, text_schema(&["a", "b", "c", "d"]), rows.clone())
        .await
        .unwrap();
    let got = std::fs::read_to_string(dir.path().join("data/o.txt")).unwrap();
    assert_eq!(got, "\\N\t\\\\N\tN\ta\\\tb\r\n");
    let (_, back, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(back, rows);

    // The documented ambiguity: with no quoting and an empty nullValue, "" reads back as NULL.
    let ds = dataset(dir.path(), json!({"fileName": "e.csv", "quoteChar": ""}));
    write_rows(
        &ds,
        text_schema(&["a", "b"]),
        vec![vec![text(""), text("x")]],
    )
    .await
    .unwrap();
    let (_, back, _, _) = read_all(&ds, 10).await.unwrap();
    assert_eq!(back, vec![vec![Value::Null, text("x")]]);
}

/// The size a file source announces for progress is what reading it takes from the store: the
/// bar in bytes ends at its total.
#[tokio::test]
async fn the_size_hint_is_the_bytes_the_read_reports() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", b"id,name\n1,x\n2,y\n");
    write_file(dir.path(), "b.csv", b"id,name\n3,zzzz\n");
    let ds = dataset(dir.path(), json!({"firstRowAsHeader": true}));
    let hint = open_source(&ds).await.unwrap().size_hint();
    assert_eq!(hint, Some(crate::stores::SizeHint::Bytes(16 + 15)));
    let (_, rows, _, stats) = read_all(&ds, 10).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(Some(crate::stores::SizeHint::Bytes(stats.bytes_read)), hint);
}
