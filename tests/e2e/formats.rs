//! PostgreSQL -> file -> PostgreSQL round trips through the Parquet and Json codecs, with the
//! library API (no pipeline): the harness's all-types table is read with `PgSource`, written
//! with the format's writer, read back with its reader and written with `PgSink` into a fresh
//! copy of the table, then both tables are compared with EXCEPT ALL both ways.

use std::time::Duration;

use sluice::model::copy::{PgPartitioning, PgSinkSettings, SourceQuery, WriteMethod};
use sluice::model::pg_endpoint::PgEndpoint;
use sluice::stores::files::{json, parquet, RowReader};
use sluice::stores::postgres::sink::PgSink;
use sluice::stores::postgres::source::PgSource;
use sluice::stores::{Sink, Source};
use sluice::types::batch::Batch;
use sluice::types::ident::TableName;
use sluice::types::schema::SchemaRef;
use sluice_e2e::{pg_url, TestDb, ALL_TYPES_COMPARE, ALL_TYPES_SQL, STEP_TIMEOUT};
use tokio::sync::mpsc;

/// Every column of `types_src`, in order.
const COLUMNS: &str =
    "id, i2, i4, i8, num, num_s, r, d, m, t, vc, c, b, bo, dt, tm, ttz, ts, tstz, iv, \
     u, j, jb, x, ip, cid, mac, ai, atx, an, a2, amood, r4, rn, rts, rd, mo, pi, pt, tsv, bits";

fn endpoint() -> PgEndpoint {
    PgEndpoint::from_url(&pg_url()).expect("the test server URL parses")
}

/// Reads a query's rows with the PostgreSQL source.
async fn read_pg(sql: &str) -> (SchemaRef, Vec<Batch>) {
    let source = PgSource::open(
        &endpoint(),
        &SourceQuery::Query(sql.to_string()),
        STEP_TIMEOUT,
        "src",
        &PgPartitioning::None,
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("opening the source failed: {e}"));
    let schema = source.schema();
    let (tx, mut rx) = mpsc::channel(8);
    let reading = tokio::spawn(Box::new(source).read(tx, 2));
    let mut batches = Vec::new();
    while let Some(b) = rx.recv().await {
        batches.push(b);
    }
    reading.await.unwrap().unwrap();
    (schema, batches)
}

/// Writes batches into `table` of the test schema with the PostgreSQL sink.
async fn write_pg(db: &TestDb, table: &str, schema: &SchemaRef, batches: Vec<Batch>) {
    let settings = PgSinkSettings {
        table: TableName {
            schema: Some(db.schema.clone()),
            table: table.to_string(),
        },
        pre_copy_script: None,
        write_batch_size: 10_000,
        write_batch_timeout: Duration::from_secs(120),
        write_method: WriteMethod::CopyCommand,
    };
    let sink = PgSink::open(&endpoint(), &settings, schema, "dst")
        .await
        .unwrap_or_else(|e| panic!("opening the sink failed: {e}"));
    let (tx, rx) = mpsc::channel(8);
    let writing = tokio::spawn(Box::new(sink).write(rx));
    for b in batches {
        tx.send(b).await.unwrap();
    }
    drop(tx);
    writing
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the sink failed: {e}"));
}

fn read_file(mut reader: Box<dyn RowReader>) -> (SchemaRef, Vec<Batch>) {
    let schema = reader.schema();
    let mut batches = Vec::new();
    while let Some(b) = reader.next_batch(3).unwrap() {
        batches.push(b);
    }
    (schema, batches)
}

#[tokio::test]
async fn postgres_parquet_postgres_is_lossless() {
    let db = TestDb::new("fmt_pq").await;
    db.exec(ALL_TYPES_SQL).await;
    db.exec("CREATE TABLE {s}.types_dst (LIKE {s}.types_src)")
        .await;
    let s = &db.schema;
    // Multi-dimensional arrays and arrays with other lower bounds do not fit a Parquet list;
    // reading them as text is the documented way to keep them.
    let select = COLUMNS
        .replace(" ai,", " ai::text AS ai,")
        .replace(" a2,", " a2::text AS a2,");
    let (schema, batches) = read_pg(&format!("SELECT {select} FROM \"{s}\".types_src")).await;

    for codec in [
        parquet::ParquetCodec::Snappy,
        parquet::ParquetCodec::Gzip,
        parquet::ParquetCodec::Zstd,
    ] {
        db.exec("TRUNCATE {s}.types_dst").await;
        let file = tempfile::NamedTempFile::new().unwrap();
        let settings = parquet::ParquetSettings { codec };
        let mut w =
            parquet::open_writer(Box::new(file.reopen().unwrap()), schema.clone(), &settings)
                .unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        let bytes = w.finish().unwrap();
        assert_eq!(bytes, file.as_file().metadata().unwrap().len());

        let reader = parquet::open_reader(file.reopen().unwrap(), "file 'types.parquet'").unwrap();
        let (back_schema, back) = read_file(reader);
        let names: Vec<&str> = back_schema.names().collect();
        assert_eq!(names, schema.names().collect::<Vec<_>>());
        let num_s = &back_schema.columns[5];
        assert_eq!(num_s.type_name, schema.columns[5].type_name);
        assert_eq!(back.iter().map(Batch::num_rows).sum::<usize>(), 4);
        write_pg(&db, "types_dst", &back_schema, back).await;
        assert_eq!(
            db.difference("types_src", "types_dst", ALL_TYPES_COMPARE)
                .await,
            0,
            "{codec:?}: the tables differ after the Parquet round trip"
        );
    }
}

#[tokio::test]
async fn arrays_parquet_cannot_shape_are_one_clear_error() {
    let db = TestDb::new("fmt_pq_arr").await;
    db.exec(ALL_TYPES_SQL).await;
    let (schema, batches) = read_pg(&format!("SELECT a2 FROM \"{}\".types_src", db.schema)).await;
    let mut w = parquet::open_writer(
        Box::new(std::io::sink()),
        schema,
        &parquet::ParquetSettings::default(),
    )
    .unwrap();
    let e = batches
        .iter()
        .find_map(|b| w.write(b).err())
        .expect("a 2-dimensional array cannot be written to a Parquet list")
        .to_string();
    assert!(
        e.contains("column 'a2': a 2-dimensional array") && e.contains("col::text"),
        "{e}"
    );
}

/// Columns that survive a Json round trip into a table of the same types. Not compared:
/// `bytea` (written as base64, read back as text) and arrays (written as JSON arrays, read back
/// as JSON, which PostgreSQL does not cast to its array types); see the type-mapping doc.
const JSON_COMPARE: &str =
    "id, i2, i4, i8, num, num_s, r, d, m, t, vc, c, bo, dt, tm, ttz, ts, tstz, iv, u, \
     j::text, jb, x::text, ip, cid, mac, r4, rn, rts, rd, mo, pi, pt::text, tsv, bits";

#[tokio::test]
async fn postgres_json_postgres_keeps_every_scalar_type() {
    let db = TestDb::new("fmt_json").await;
    db.exec(ALL_TYPES_SQL).await;
    let s = &db.schema;
    let (schema, batches) = read_pg(&format!("SELECT {COLUMNS} FROM \"{s}\".types_src")).await;
    for pattern in [
        json::FilePattern::SetOfObjects,
        json::FilePattern::ArrayOfObjects,
    ] {
        db.exec(
            "DROP TABLE IF EXISTS {s}.types_dst; CREATE TABLE {s}.types_dst (LIKE {s}.types_src)",
        )
        .await;
        let file = tempfile::NamedTempFile::new().unwrap();
        let settings = json::JsonSettings {
            file_pattern: pattern,
        };
        let mut w =
            json::open_writer(Box::new(file.reopen().unwrap()), schema.clone(), &settings).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        let doc: Vec<serde_json::Value> = match pattern {
            json::FilePattern::SetOfObjects => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            json::FilePattern::ArrayOfObjects => serde_json::from_str(&text).unwrap(),
        };
        assert_eq!(doc.len(), 4);
        // json columns are embedded as JSON, not as strings.
        assert_eq!(doc[0]["jb"]["b"]["c"], "d");
        assert_eq!(doc[0]["b"], "AP8Q");
        assert_eq!(doc[0]["i8"], serde_json::json!(9223372036854775807i64));

        let reader = json::open_reader(
            Box::new(file.reopen().unwrap()),
            &settings,
            "file 'types.json'",
        )
        .unwrap();
        let (back_schema, back) = read_file(reader);
        let lossless: Vec<&str> = JSON_COMPARE
            .split(',')
            .map(|c| c.trim().trim_end_matches("::text"))
            .collect();
        // Write only the columns that round-trip; the others stay NULL in the copy.
        let keep: Vec<usize> = back_schema
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| lossless.contains(&c.name.as_str()))
            .map(|(i, _)| i)
            .collect();
        let kept_schema: SchemaRef = std::sync::Arc::new(sluice::types::schema::Schema::new(
            keep.iter()
                .map(|i| back_schema.columns[*i].clone())
                .collect(),
        ));
        let kept: Vec<Batch> = back
            .into_iter()
            .map(|b| {
                let mut nb = Batch::new(kept_schema.clone());
                for row in b.rows() {
                    nb.push_row(keep.iter().map(|i| row[*i].clone()));
                }
                nb
            })
            .collect();
        write_pg(&db, "types_dst", &kept_schema, kept).await;
        assert_eq!(
            db.difference("types_src", "types_dst", JSON_COMPARE).await,
            0,
            "{pattern:?}: the tables differ after the Json round trip"
        );
    }
}
