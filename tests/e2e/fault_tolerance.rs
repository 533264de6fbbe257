//! Fault tolerance of the Copy activity against the local PostgreSQL server and the real
//! `sluice` binary: with `enableSkipIncompatibleRow`, rows the sink refuses (a value that is
//! not an int, a NOT NULL, unique or check violation, a too-long varchar) are isolated by
//! bisecting their batch, exactly the good rows land, `rowsSkipped` is exact and the session
//! log lists exactly the bad rows with column and reason; without it the activity fails naming
//! the first bad row and its column, and the failing batch leaves nothing behind. Also: every
//! write method (CopyCommand, BulkInsert, Upsert), PostgreSQL to PostgreSQL, the legacy
//! `redirectIncompatibleRowSettings`, `validateDataConsistency`, plugin rejections in the same
//! log, a log in an Azure Blob Storage container (Azurite), and secrets masked in the log file.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sluice_e2e::*;

/// 40 CSV rows `id,n,name,qty`; rows 6, 11, 17, 25 and 33 are bad in one way each.
fn csv_rows() -> String {
    let mut s = String::from("id,n,name,qty\n");
    for i in 1..=40 {
        let line = match i {
            6 => format!("{i},abc,r{i},1"),     // 'abc' into an int
            11 => format!("{i},{i},,1"),        // NULL into a NOT NULL column
            17 => format!("2,{i},r{i},1"),      // duplicate primary key (row 2's)
            25 => format!("{i},{i},r{i},-1"),   // check violation
            33 => format!("{i},{i},toolong,1"), // longer than varchar(5)
            _ => format!("{i},{i},r{i},{i}"),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

const DST: &str = "CREATE TABLE {s}.dst (id int PRIMARY KEY, n int, name varchar(5) NOT NULL, \
                   qty int CONSTRAINT qty_not_negative CHECK (qty >= 0))";

/// A factory reading `in.csv` from its own folder into `{s}.dst`, with the log folder `logs`
/// on the same FileServer.
struct CsvCopy {
    f: TestFactory,
    files: tempfile::TempDir,
}

impl CsvCopy {
    fn new(db: &TestDb, csv: &str) -> CsvCopy {
        let f = TestFactory::new();
        let files = tempfile::tempdir().unwrap();
        std::fs::write(files.path().join("in.csv"), csv).unwrap();
        f.local_pg("Pg").table("Dst", "Pg", &db.schema, "dst");
        f.put(
            "linkedService",
            "Files",
            json!({"type": "FileServer", "typeProperties": {"host": files.path()}}),
        );
        f.put(
            "dataset",
            "Csv",
            json!({"type": "DelimitedText",
            "linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
            "typeProperties": {"location": {"type": "FileServerLocation", "fileName": "in.csv"},
                               "columnDelimiter": ",", "firstRowAsHeader": true}}),
        );
        CsvCopy { f, files }
    }

    /// Runs the copy with `extra` typeProperties and a sink writing `batch` rows per batch.
    fn run(&self, sink: Value, extra: Value) -> Run {
        let mut tp = json!({"source": {"type": "DelimitedTextSource"}, "sink": sink});
        for (k, v) in extra.as_object().unwrap() {
            tp[k] = v.clone();
        }
        self.f.copy_pipeline_with("P", "Csv", "Dst", tp);
        run_factory(&self.f, &[])
    }
}

fn pg_sink(batch: u32) -> Value {
    json!({"type": "AzurePostgreSqlSink", "writeBatchSize": batch})
}

fn log_settings(level: &str) -> Value {
    json!({"enableCopyActivityLog": true,
           "copyActivityLogSettings": {"logLevel": level, "enableReliableLogging": false},
           "logLocationSettings": {"linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
                                   "path": "logs"}})
}

fn succeeded(run: &Run) -> Value {
    let out = run.json();
    assert_eq!(
        out["status"], "Succeeded",
        "run failed: {}\n{}",
        run.stdout, run.stderr
    );
    out
}

fn failed(run: &Run) -> String {
    assert_eq!(
        run.json()["status"],
        "Failed",
        "expected a failure: {}",
        run.stdout
    );
    assert_ne!(run.code, 0);
    first_error(run)
}

/// The one log file in `folder`, parsed: the header and the records.
fn read_log(folder: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("no log folder {}: {e}", folder.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one log file in {}: {files:?}",
        folder.display()
    );
    assert_eq!(files[0].extension().unwrap(), "txt");
    let mut reader = csv::Reader::from_path(&files[0]).unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let records = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, records)
}

/// A factory copying `{s}.src` into `{s}.dst` on the local server with these source and sink
/// settings; `{s}` in the source's `query` is the test's schema.
fn src_to_dst(db: &TestDb, mut source: Value, sink: Value, skip: bool) -> TestFactory {
    if let Some(q) = source["query"].as_str() {
        source["query"] = json!(q.replace("{s}", &format!("\"{}\"", db.schema)));
    }
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Dst", "Pg", &db.schema, "dst")
        .copy_pipeline_with(
            "P",
            "Src",
            "Dst",
            json!({"source": source, "sink": sink, "enableSkipIncompatibleRow": skip}),
        );
    f
}

async fn ids(db: &TestDb) -> Vec<i32> {
    db.client
        .query(
            &format!("SELECT id FROM \"{}\".dst ORDER BY id", db.schema),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn bad_csv_rows_are_skipped_counted_and_logged_with_column_and_reason() {
    let db = TestDb::new("ft_skip").await;
    db.exec(DST).await;
    let copy = CsvCopy::new(&db, &csv_rows());
    let run = copy.run(
        pg_sink(4),
        json!({"enableSkipIncompatibleRow": true, "logSettings": log_settings("Warning")}),
    );
    let out = succeeded(&run);
    let o = activity_output(&out);
    assert_eq!(o["rowsRead"], 40, "{o}");
    assert_eq!(o["rowsCopied"], 35, "{o}");
    assert_eq!(o["rowsSkipped"], 5, "{o}");
    let expected: Vec<i32> = (1..=40)
        .filter(|i| ![6, 11, 17, 25, 33].contains(i))
        .collect();
    assert_eq!(ids(&db).await, expected);
    // Row 2 is the original, not the duplicate of row 17.
    assert_eq!(
        db.query_i64("SELECT n::bigint FROM {s}.dst WHERE id = 2")
            .await,
        2
    );

    // logFilePath: {path}/copyactivity-logs/{activity}/{runId}/ holding one {guid}.txt.
    let folder = PathBuf::from(o["logFilePath"].as_str().expect("logFilePath"));
    let run_id = out["runId"].as_str().unwrap_or_default().to_string();
    let expected_folder = copy.files.path().join("logs/copyactivity-logs/Copy");
    assert!(folder.starts_with(&expected_folder), "{}", folder.display());
    if !run_id.is_empty() {
        assert!(folder.ends_with(&run_id), "{} / {run_id}", folder.display());
    }
    let (header, rows) = read_log(&folder);
    assert_eq!(
        header,
        [
            "Timestamp",
            "Level",
            "OperationName",
            "OperationItem",
            "Message"
        ]
    );
    assert_eq!(rows.len(), 5, "{rows:?}");
    let expect = [
        (
            "\"6\",\"abc\",\"r6\",\"1\"",
            "row 6: column \"n\": invalid input syntax for type integer",
        ),
        (
            "\"11\",\"11\",,\"1\"",
            "row 11: column \"name\": null value in column \"name\"",
        ),
        (
            "\"2\",\"17\",\"r17\",\"1\"",
            "row 17: duplicate key value violates unique constraint",
        ),
        ("\"25\",\"25\",\"r25\",\"-1\"", "qty_not_negative"),
        (
            "\"33\",\"33\",\"toolong\",\"1\"",
            "row 33: column \"name\": value too long for type character varying(5)",
        ),
    ];
    for (row, (item, reason)) in rows.iter().zip(expect) {
        assert_eq!(row[1], "Warning");
        assert_eq!(row[2], "TabularRowSkip");
        assert_eq!(row[3], item, "{row:?}");
        assert!(row[4].starts_with("sink: "), "{row:?}");
        assert!(row[4].contains(reason), "{row:?} lacks {reason}");
        assert_eq!(row[0].len(), "2020-02-26 06:22:32.2586581".len(), "{row:?}");
    }
    assert!(
        rows[2][4].contains("Key (id)=(2) already exists"),
        "{:?}",
        rows[2]
    );
    assert!(
        rows[3][4].contains("column \"qty\"") || rows[3][4].contains("check constraint"),
        "{:?}",
        rows[3]
    );
    // The first skipped rows are quoted in `errors` too.
    assert_eq!(o["errors"].as_array().unwrap().len(), 5);
    assert_eq!(o["errors"][0]["Code"], "SinkRowSkipped");
}

#[tokio::test]
async fn without_skipping_the_first_bad_row_fails_the_copy_and_its_batch_is_rolled_back() {
    let db = TestDb::new("ft_noskip").await;
    db.exec(DST).await;
    let copy = CsvCopy::new(&db, &csv_rows());
    let msg = failed(&copy.run(pg_sink(4), json!({})));
    assert!(msg.contains("row 6 cannot be written"), "{msg}");
    assert!(msg.contains("column \"n\""), "{msg}");
    assert!(
        msg.contains("invalid input syntax for type integer: \"abc\""),
        "{msg}"
    );
    assert!(msg.contains("batch 2 (rows 5-8)"), "{msg}");
    assert!(msg.contains("enableSkipIncompatibleRow"), "{msg}");
    // ADF semantics: batch 1 (rows 1-4) was committed and stays; batch 2 left nothing.
    assert_eq!(ids(&db).await, vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn pg_to_pg_constraint_violations_are_skipped_with_every_write_method() {
    let db = TestDb::new("ft_pg").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, g AS v, 'x' || g AS t FROM generate_series(1, 1000) g",
    )
    .await;
    for method in ["CopyCommand", "BulkInsert"] {
        db.exec(
            "DROP TABLE IF EXISTS {s}.dst; CREATE TABLE {s}.dst (id int PRIMARY KEY, \
             v int CONSTRAINT no_sevens CHECK (v % 100 <> 7), t text)",
        )
        .await;
        let f = src_to_dst(
            &db,
            json!({"type": "AzurePostgreSqlSource"}),
            json!({"type": "AzurePostgreSqlSink", "writeBatchSize": 100, "writeMethod": method}),
            true,
        );
        let out = succeeded(&run_factory(&f, &[]));
        let o = activity_output(&out);
        assert_eq!(o["rowsRead"], 1000, "{method}: {o}");
        assert_eq!(o["rowsCopied"], 990, "{method}: {o}");
        assert_eq!(o["rowsSkipped"], 10, "{method}: {o}");
        assert_eq!(db.count("dst").await, 990, "{method}");
        assert_eq!(
            db.query_i64("SELECT count(*) FROM {s}.dst WHERE v % 100 = 7")
                .await,
            0
        );
        let first = o["errors"][0]["Message"].as_str().unwrap();
        assert!(
            first.contains("row 7:") && first.contains("no_sevens"),
            "{method}: {first}"
        );
        assert!(o.get("logFilePath").is_none(), "no log without logSettings");
    }

    // Without skipping, BulkInsert (no COPY line numbers) still names the row, by bisecting.
    db.exec("TRUNCATE {s}.dst").await;
    let f = src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource", "query": "SELECT * FROM {s}.src ORDER BY id"}),
        json!({"type": "AzurePostgreSqlSink", "writeBatchSize": 100, "writeMethod": "BulkInsert"}),
        false,
    );
    let msg = failed(&run_factory(&f, &[]));
    assert!(msg.contains("row 7 cannot be written"), "{msg}");
    assert!(msg.contains("no_sevens"), "{msg}");
    assert_eq!(db.count("dst").await, 0);
}

/// Batches bigger than one COPY message are sent while they are gathered (see the sink's
/// `copy_stream`); a row refused in the middle of one still fails or is skipped exactly.
#[tokio::test]
async fn streamed_batches_are_bisected_and_rolled_back_like_whole_ones() {
    let db = TestDb::new("ft_stream").await;
    // 60,000 rows of about 120 bytes: a 20,000-row batch is ten 256 KB messages.
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, g AS v, repeat('x', 100) || g AS t \
         FROM generate_series(1, 60000) g",
    )
    .await;
    let dst = "DROP TABLE IF EXISTS {s}.dst; CREATE TABLE {s}.dst (id int PRIMARY KEY, \
               v int CONSTRAINT no_7777 CHECK (v % 10000 <> 7777), t text)";
    let factory = |skip: bool| {
        src_to_dst(
            &db,
            json!({"type": "AzurePostgreSqlSource", "query": "SELECT * FROM {s}.src ORDER BY id"}),
            json!({"type": "AzurePostgreSqlSink", "writeBatchSize": 20000}),
            skip,
        )
    };

    // Skipping (decoded rows): rows 7777, 17777, ... 57777 are isolated and logged.
    db.exec(dst).await;
    let out = succeeded(&run_factory(&factory(true), &[]));
    let o = activity_output(&out);
    assert_eq!(o["executionDetails"][0]["passThrough"], false, "{o}");
    assert_eq!(o["rowsCopied"], 59994, "{o}");
    assert_eq!(o["rowsSkipped"], 6, "{o}");
    assert_eq!(db.count("dst").await, 59994);
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE v % 10000 = 7777")
            .await,
        0
    );
    let first = o["errors"][0]["Message"].as_str().unwrap();
    assert!(
        first.contains("row 7777:") && first.contains("no_7777"),
        "{first}"
    );

    // Not skipping (pass-through tuples): the second batch fails at its first bad row, the
    // first batch stays, the failing one leaves nothing behind.
    db.exec(dst).await;
    db.exec(
        "ALTER TABLE {s}.dst DROP CONSTRAINT no_7777; \
         ALTER TABLE {s}.dst ADD CONSTRAINT no_27777 CHECK (v <> 27777)",
    )
    .await;
    let msg = failed(&run_factory(&factory(false), &[]));
    assert!(msg.contains("batch 2 (rows 20001-40000)"), "{msg}");
    assert!(msg.contains("row 27777 cannot be written"), "{msg}");
    assert!(msg.contains("no_27777"), "{msg}");
    assert_eq!(db.count("dst").await, 20000);
    assert_eq!(
        db.query_i64("SELECT max(id)::bigint FROM {s}.dst").await,
        20000
    );
    // The same copy without the bad row: it took the pass-through path, all rows land.
    db.exec("TRUNCATE {s}.dst; ALTER TABLE {s}.dst DROP CONSTRAINT no_27777")
        .await;
    let out = succeeded(&run_factory(&factory(false), &[]));
    let o = activity_output(&out);
    assert_eq!(o["executionDetails"][0]["passThrough"], true, "{o}");
    assert_eq!(db.count("dst").await, 60000);
}

#[tokio::test]
async fn upsert_skips_a_bad_row_and_merges_the_rest() {
    let db = TestDb::new("ft_upsert").await;
    db.exec(
        "CREATE TABLE {s}.dst (id int PRIMARY KEY, v int NOT NULL CONSTRAINT small CHECK (v < 5000)); \
         INSERT INTO {s}.dst VALUES (1, 1), (2, 2), (50, 50); \
         CREATE TABLE {s}.src AS SELECT g AS id, g * 10 AS v FROM generate_series(1, 120) g; \
         UPDATE {s}.src SET v = NULL WHERE id = 30; UPDATE {s}.src SET v = 5000 WHERE id IN (2, 77);",
    )
    .await;
    let upsert = json!({"type": "AzurePostgreSqlSink", "writeBatchSize": 25, "writeMethod": "Upsert",
                        "upsertSettings": {"keys": ["id"]}});
    let source = json!({"type": "AzurePostgreSqlSource",
                        "query": format!("SELECT * FROM \"{}\".src ORDER BY id", db.schema)});
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Dst", "Pg", &db.schema, "dst");

    // Without skipping: the merge fails, the row is named, the batch is rolled back.
    f.copy_pipeline("P", "Src", "Dst", source.clone(), upsert.clone());
    let msg = failed(&run_factory(&f, &[]));
    assert!(msg.contains("row 2 cannot be written"), "{msg}");
    assert!(msg.contains("small"), "{msg}");
    assert_eq!(
        db.query_i64("SELECT v::bigint FROM {s}.dst WHERE id = 2")
            .await,
        2
    );
    assert_eq!(db.count("dst").await, 3);

    let logs = tempfile::tempdir().unwrap();
    f.put(
        "linkedService",
        "Logs",
        json!({"type": "FileServer", "typeProperties": {"host": logs.path()}}),
    );
    f.copy_pipeline_with(
        "P",
        "Src",
        "Dst",
        json!({"source": source, "sink": upsert, "enableSkipIncompatibleRow": true,
               "redirectIncompatibleRowSettings": {"linkedServiceName": {"referenceName": "Logs", "type": "LinkedServiceReference"},
                                                   "path": "redirect"}}),
    );
    let out = succeeded(&run_factory(&f, &[]));
    let o = activity_output(&out);
    assert_eq!(o["rowsSkipped"], 3, "{o}");
    assert_eq!(o["rowsCopied"], 117, "{o}");
    // Rows 2 and 50 existed: 2 keeps its old value (its update was refused), 50 is updated.
    assert_eq!(db.count("dst").await, 118);
    assert_eq!(
        db.query_i64("SELECT v::bigint FROM {s}.dst WHERE id = 2")
            .await,
        2
    );
    assert_eq!(
        db.query_i64("SELECT v::bigint FROM {s}.dst WHERE id = 50")
            .await,
        500
    );
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE id IN (30, 77)")
            .await,
        0
    );
    // Legacy setting: the log is in {path}/{runId}/ and named by redirectRowPath too.
    let folder = PathBuf::from(o["redirectRowPath"].as_str().expect("redirectRowPath"));
    assert_eq!(o["logFilePath"], o["redirectRowPath"]);
    assert_eq!(folder.parent().unwrap(), logs.path().join("redirect"));
    let (_, rows) = read_log(&folder);
    let items: Vec<&str> = rows.iter().map(|r| r[3].as_str()).collect();
    assert_eq!(items, ["\"2\",\"5000\"", "\"30\",", "\"77\",\"5000\""]);
    assert!(
        rows[1][4].contains("null value in column \"v\""),
        "{:?}",
        rows[1]
    );
    // The staging table is an internal detail: messages name the target table.
    assert!(!rows[1][4].contains("sluice_stage"), "{:?}", rows[1]);
}

#[tokio::test]
async fn data_consistency_is_verified_and_reported() {
    let db = TestDb::new("ft_verify").await;
    db.exec(DST).await;
    let copy = CsvCopy::new(&db, &csv_rows());
    let out = succeeded(&copy.run(
        pg_sink(10),
        json!({"enableSkipIncompatibleRow": true, "validateDataConsistency": true}),
    ));
    assert_eq!(
        activity_output(&out)["dataConsistencyVerification"],
        json!({"VerificationResult": "Verified", "InconsistentData": "Skipped"})
    );

    db.exec("TRUNCATE {s}.dst").await;
    let clean: String = csv_rows()
        .lines()
        .filter(|l| {
            !["6,", "11,", "2,17", "25,", "33,"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let copy = CsvCopy::new(&db, &clean);
    let out = succeeded(&copy.run(pg_sink(10), json!({"validateDataConsistency": true})));
    let o = activity_output(&out);
    assert_eq!(o["rowsCopied"], 35);
    assert_eq!(
        o["dataConsistencyVerification"],
        json!({"VerificationResult": "Verified", "InconsistentData": "None"})
    );

    db.exec("TRUNCATE {s}.dst").await;
    let out = succeeded(&copy.run(pg_sink(10), json!({"validateDataConsistency": false})));
    assert_eq!(
        activity_output(&out)["dataConsistencyVerification"]["VerificationResult"],
        "NotVerified"
    );
    db.exec("TRUNCATE {s}.dst").await;
    let out = succeeded(&copy.run(pg_sink(10), json!({})));
    assert!(activity_output(&out)
        .get("dataConsistencyVerification")
        .is_none());
}

#[tokio::test]
async fn plugin_rejections_and_sink_refusals_share_one_log() {
    let db = TestDb::new("ft_plugin").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, CASE WHEN g = 4 THEN NULL ELSE 'e' || g END AS email, g AS v \
         FROM generate_series(1, 10) g; \
         CREATE TABLE {s}.dst (id int, email text, v int CHECK (v <> 8))",
    )
    .await;
    let logs = tempfile::tempdir().unwrap();
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Dst", "Pg", &db.schema, "dst")
        .put(
            "linkedService",
            "Files",
            json!({"type": "FileServer", "typeProperties": {"host": logs.path()}}),
        )
        .copy_pipeline_with(
            "P",
            "Src",
            "Dst",
            json!({"source": {"type": "AzurePostgreSqlSource",
                              "query": format!("SELECT * FROM \"{}\".src ORDER BY id", db.schema),
                              "transforms": [{"plugin": "filter",
                                              "config": {"column": "email", "op": "not_null", "reject": true}}]},
                   "sink": {"type": "AzurePostgreSqlSink", "writeBatchSize": 3},
                   "enableSkipIncompatibleRow": true, "logSettings": log_settings("Info")}),
        );
    let dir = plugins_dir();
    let out = succeeded(&run_factory(&f, &["--plugins", dir.to_str().unwrap()]));
    let o = activity_output(&out);
    assert_eq!(o["rowsSkipped"], 2, "{o}");
    assert_eq!(o["rowsCopied"], 8, "{o}");
    let (_, rows) = read_log(Path::new(o["logFilePath"].as_str().unwrap()));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][3], "\"4\",,\"4\"");
    assert!(
        rows[0][4].starts_with("transform: source.transforms[0]"),
        "{:?}",
        rows[0]
    );
    assert_eq!(rows[1][3], "\"8\",\"e8\",\"8\"");
    assert!(rows[1][4].starts_with("sink: row 7:"), "{:?}", rows[1]);
    assert_eq!(o["errors"][0]["Code"], "RowRejectedByPlugin");
}

#[tokio::test]
async fn secrets_never_reach_the_log_file() {
    let db = TestDb::new("ft_secret").await;
    db.exec(DST).await;
    let secret = "Sluice-Secret-4242";
    let copy = CsvCopy::new(&db, &format!("id,n,name,qty\n1,1,a,1\n2,{secret},b,1\n"));
    // Trust authentication ignores the password; it is only there to be masked.
    let url = pg_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let (user, rest) = rest.split_once('@').unwrap_or(("postgres", rest));
    let (hostport, database) = rest.split_once('/').unwrap_or((rest, "test"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    copy.f.put(
        "linkedService",
        "Pg",
        json!({"type": "AzurePostgreSql", "version": "2.0", "typeProperties": {
               "server": host, "port": port, "database": database, "username": user, "sslMode": 0,
               "password": {"type": "SecureString", "value": secret}}}),
    );
    let out = succeeded(&copy.run(
        pg_sink(10),
        json!({"enableSkipIncompatibleRow": true, "logSettings": log_settings("Warning")}),
    ));
    let o = activity_output(&out);
    assert_eq!(o["rowsSkipped"], 1);
    let folder = PathBuf::from(o["logFilePath"].as_str().unwrap());
    let file = std::fs::read_dir(&folder)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(file).unwrap();
    assert!(!text.contains(secret), "{text}");
    assert!(text.contains("**********"), "{text}");
    assert!(!out.to_string().contains(secret));
}

#[tokio::test]
async fn bad_log_settings_are_reported_by_validate() {
    let db = TestDb::new("ft_validate").await;
    db.exec(DST).await;
    let copy = CsvCopy::new(&db, &csv_rows());
    copy.f.copy_pipeline_with(
        "P",
        "Csv",
        "Dst",
        json!({"source": {"type": "DelimitedTextSource"}, "sink": pg_sink(4),
               "logSettings": {"enableCopyActivityLog": true,
                               "copyActivityLogSettings": {"logLevel": "Verbose"},
                               "logLocationSettings": {"linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"}}}}),
    );
    let run = sluice(&["validate", copy.f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(run.all().contains("logLevel"), "{}", run.all());
    assert!(run.all().contains("Warning or Info"), "{}", run.all());

    copy.f.copy_pipeline_with(
        "P",
        "Csv",
        "Dst",
        json!({"source": {"type": "DelimitedTextSource"}, "sink": pg_sink(4),
               "logSettings": {"enableCopyActivityLog": true,
                               "logLocationSettings": {"linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"}}}}),
    );
    let run = sluice(&["validate", copy.f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(
        run.all()
            .contains("neither a FileServer nor an AzureBlobStorage"),
        "{}",
        run.all()
    );
}

#[tokio::test]
async fn the_session_log_can_go_to_a_blob_container() {
    let db = TestDb::new("ft_blob").await;
    db.exec(DST).await;
    let az = sluice_e2e::azurite::Azurite::start();
    az.create_container("logs");
    let copy = CsvCopy::new(&db, &csv_rows());
    az.linked_service(&copy.f, "Blob");
    let settings = json!({"enableCopyActivityLog": true,
        "logLocationSettings": {"linkedServiceName": {"referenceName": "Blob", "type": "LinkedServiceReference"},
                                "path": "logs/sessions"}});
    let out = succeeded(&copy.run(
        pg_sink(8),
        json!({"enableSkipIncompatibleRow": true, "logSettings": settings}),
    ));
    let o = activity_output(&out);
    assert_eq!(o["rowsSkipped"], 5, "{o}");
    let folder = o["logFilePath"].as_str().unwrap();
    assert!(
        folder.starts_with("logs/sessions/copyactivity-logs/Copy/"),
        "{folder}"
    );
    let blobs = az.list_blobs("logs");
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    assert!(blobs[0].ends_with(".txt"), "{blobs:?}");
    assert_eq!(
        format!("logs/{}", blobs[0].rsplit_once('/').unwrap().0),
        folder
    );
    let text = String::from_utf8(az.get_blob("logs", &blobs[0]).unwrap()).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5, "{text}");
    assert_eq!(&rows[0][3], "\"6\",\"abc\",\"r6\",\"1\"");

    // A missing container fails before any row moves.
    db.exec("TRUNCATE {s}.dst").await;
    let settings = json!({"enableCopyActivityLog": true,
        "logLocationSettings": {"linkedServiceName": {"referenceName": "Blob", "type": "LinkedServiceReference"},
                                "path": "nosuchcontainer"}});
    let msg = failed(&copy.run(
        pg_sink(8),
        json!({"enableSkipIncompatibleRow": true, "logSettings": settings}),
    ));
    assert!(msg.contains("nosuchcontainer"), "{msg}");
    assert_eq!(db.count("dst").await, 0);
}
