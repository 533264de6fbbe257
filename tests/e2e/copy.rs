//! Proves Copy activities between PostgreSQL tables and CSV files move every row exactly:
//! lossless for every built-in type with all three write methods, honouring preCopyScript,
//! writeBatchSize, writeBatchTimeout, queryTimeout, translator mappings and Upsert keys, and
//! reporting ADF's output fields.

use serde_json::json;
use sluice_e2e::*;

async fn all_types_db(prefix: &str) -> TestDb {
    let db = TestDb::new(prefix).await;
    db.exec(ALL_TYPES_SQL).await;
    db
}

fn pg_factory(db: &TestDb) -> TestFactory {
    let f = TestFactory::new();
    f.local_pg("Pg").table("Src", "Pg", &db.schema, "types_src");
    f
}

#[tokio::test]
async fn every_type_round_trips_losslessly_with_each_write_method() {
    let db = all_types_db("types").await;
    for (method, table) in [
        ("CopyCommand", "dst_copy"),
        ("BulkInsert", "dst_bulk"),
        ("Upsert", "dst_upsert"),
    ] {
        db.exec(&format!(
            "CREATE TABLE {{s}}.{table} (LIKE {{s}}.types_src INCLUDING ALL)"
        ))
        .await;
        let f = pg_factory(&db);
        f.table("Dst", "Pg", &db.schema, table).copy_pipeline(
            "P",
            "Src",
            "Dst",
            json!({"type": "AzurePostgreSqlSource"}),
            json!({"type": "AzurePostgreSqlSink", "writeMethod": method, "writeBatchSize": 3}),
        );
        let run = run_factory(&f, &[]);
        assert_eq!(run.code, 0, "{method}: {}", run.all());
        let out = run.json();
        let o = activity_output(&out);
        assert_eq!(o["rowsRead"], 4, "{method}: {o}");
        assert_eq!(o["rowsCopied"], 4, "{method}: {o}");
        assert_eq!(o["rowsSkipped"], 0);
        // User-defined types (an enum, a domain) and types the engine reads as text (point,
        // tsvector, bit varying) keep this table on the decoded path.
        assert_eq!(
            o["executionDetails"][0]["passThrough"], false,
            "{method}: {o}"
        );
        assert!(
            o["dataRead"].as_u64().unwrap() > 10_000,
            "{method}: dataRead {o}"
        );
        assert!(o["dataWritten"].as_u64().unwrap() > 0);
        for field in [
            "copyDuration",
            "throughput",
            "sourcePeakConnections",
            "sinkPeakConnections",
            "usedParallelCopies",
            "errors",
            "executionDetails",
        ] {
            assert!(
                o.get(field).is_some(),
                "{method}: output lacks {field}: {o}"
            );
        }
        assert_eq!(
            db.difference("types_src", table, ALL_TYPES_COMPARE).await,
            0,
            "{method}: copied rows differ"
        );
    }
}

#[tokio::test]
async fn every_type_survives_a_trip_through_csv() {
    let db = all_types_db("csvtypes").await;
    db.exec("CREATE TABLE {s}.back (LIKE {s}.types_src INCLUDING ALL)")
        .await;
    let f = pg_factory(&db);
    let files = tempfile::tempdir().unwrap();
    f.put(
        "linkedService",
        "Files",
        json!({"type": "FileServer", "typeProperties": {"host": files.path()}}),
    );
    f.put(
        "dataset",
        "Csv",
        json!({"type": "DelimitedText", "linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
               "typeProperties": {"location": {"type": "FileServerLocation", "folderPath": "out", "fileName": "types.csv"},
                                  "columnDelimiter": ",", "firstRowAsHeader": true, "nullValue": "\\N", "quoteChar": "\"", "escapeChar": "\""}}),
    );
    f.table("Back", "Pg", &db.schema, "back");
    f.put(
        "pipeline",
        "P",
        json!({"activities": [
            {"name": "ToCsv", "type": "Copy",
             "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Csv", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "AzurePostgreSqlSource", "query": format!("SELECT * FROM \"{}\".types_src ORDER BY id", db.schema)},
                                "sink": {"type": "DelimitedTextSink"}}},
            {"name": "FromCsv", "type": "Copy", "dependsOn": [{"activity": "ToCsv", "dependencyConditions": ["Succeeded"]}],
             "inputs": [{"referenceName": "Csv", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Back", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "DelimitedTextSource"}, "sink": {"type": "AzurePostgreSqlSink"}}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let csv = std::fs::read_to_string(files.path().join("out/types.csv")).unwrap();
    assert!(
        csv.starts_with("id,i2,i4,"),
        "header: {}",
        &csv[..80.min(csv.len())]
    );
    assert!(
        csv.contains("NaN") && csv.contains("-infinity") && csv.contains("0044-03-15 BC"),
        "text forms"
    );
    assert_eq!(
        db.difference("types_src", "back", ALL_TYPES_COMPARE).await,
        0,
        "rows changed through CSV:\n{csv}"
    );
}

#[tokio::test]
async fn pre_copy_script_runs_once_so_reruns_are_clean() {
    let db = TestDb::new("precopy").await;
    db.exec("CREATE TABLE {s}.src AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 2500) g; CREATE TABLE {s}.dst (id int, label text); CREATE TABLE {s}.log (n int)").await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "PostgreSqlV2Source"}),
        json!({"type": "AzurePostgreSQLSink", "writeBatchSize": 1000,
               "preCopyScript": format!("DELETE FROM \"{0}\".dst; INSERT INTO \"{0}\".log VALUES (1)", db.schema)}),
    );
    for _ in 0..2 {
        let run = run_factory(&f, &[]);
        assert_eq!(run.code, 0, "{}", run.all());
        assert_eq!(activity_output(&run.json())["rowsCopied"], 2500);
    }
    assert_eq!(db.count("dst").await, 2500, "re-run duplicated rows");
    assert_eq!(
        db.count("log").await,
        2,
        "preCopyScript must run exactly once per run"
    );
}

#[tokio::test]
async fn committed_batches_stay_when_a_later_batch_fails() {
    let db = TestDb::new("batches").await;
    db.exec("CREATE TABLE {s}.src AS SELECT g AS id FROM generate_series(1, 1000) g; CREATE TABLE {s}.dst (id int CHECK (id <> 250))").await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource", "query": format!("SELECT id FROM \"{}\".src ORDER BY id", db.schema)}),
        json!({"type": "AzurePostgreSqlSink", "writeBatchSize": 100}),
    );
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0, "a check violation must fail the run");
    let out = run.json();
    assert_eq!(out["status"], "Failed");
    let msg = out["activities"][0]["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("batch 3 (rows 201-300)") && msg.contains("check constraint"),
        "{msg}"
    );
    assert_eq!(
        db.count("dst").await,
        200,
        "the two batches before the failure stay committed, the failed one is rolled back"
    );
}

/// ADF's default `writeBatchSize` is 1,000,000 rows; a batch also ends at 16 MiB of data, so a
/// sink never holds more than that for a possible rewrite, with any write method.
#[tokio::test]
async fn a_write_batch_also_ends_at_16_mib_whatever_the_row_count() {
    let db = TestDb::new("batchbytes").await;
    // 300 rows of 100 kB: 30 MB, so about 167 rows fill 16 MiB.
    db.exec("CREATE TABLE {s}.src AS SELECT g AS id, repeat(md5(g::text), 3125) AS t FROM generate_series(1, 300) g")
        .await;
    for method in ["CopyCommand", "BulkInsert", "Upsert"] {
        db.exec("DROP TABLE IF EXISTS {s}.dst; CREATE TABLE {s}.dst (id int PRIMARY KEY CHECK (id <> 300), t text)")
            .await;
        let mut sink = json!({"type": "AzurePostgreSqlSink", "writeMethod": method});
        if method == "Upsert" {
            sink["upsertSettings"] = json!({"keys": ["id"]});
        }
        let f = TestFactory::pg_src_to_dst(
            &db,
            json!({"type": "AzurePostgreSqlSource", "query": format!("SELECT id, t FROM \"{}\".src ORDER BY id", db.schema)}),
            sink,
        );
        let run = run_factory(&f, &[]);
        let out = run.json();
        assert_eq!(out["status"], "Failed", "{method}: {}", run.stdout);
        let msg = out["activities"][0]["error"]["message"].as_str().unwrap();
        let kept = db.count("dst").await;
        assert!(
            (150..=180).contains(&kept),
            "{method}: the first batch should end near 16 MiB (about 167 rows) and stay committed; {kept} rows are there"
        );
        assert!(
            msg.contains(&format!("batch 2 (rows {}-300)", kept + 1))
                && msg.contains("check constraint"),
            "{method}: {msg}"
        );
    }
}

#[tokio::test]
async fn pass_through_splits_commit_units_exactly_and_falls_back_when_types_differ() {
    let db = TestDb::new("raw").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, repeat('x', g % 50) AS t FROM generate_series(1, 20000) g; \
         CREATE TABLE {s}.same (id int, t text); \
         CREATE TABLE {s}.checked (id int CHECK (id <> 14001), t text); \
         CREATE TABLE {s}.wider (id bigint, t varchar(60))",
    )
    .await;
    let f = TestFactory::new();
    let query = format!("SELECT id, t FROM \"{}\".src ORDER BY id", db.schema);
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Same", "Pg", &db.schema, "same")
        .table("Checked", "Pg", &db.schema, "checked")
        .table("Wider", "Pg", &db.schema, "wider")
        .copy_pipeline(
            "Raw",
            "Src",
            "Same",
            json!({"type": "AzurePostgreSqlSource", "query": query}),
            json!({"type": "AzurePostgreSqlSink", "writeBatchSize": 7000}),
        )
        .copy_pipeline(
            "RawFails",
            "Src",
            "Checked",
            json!({"type": "AzurePostgreSqlSource", "query": query}),
            json!({"type": "AzurePostgreSqlSink", "writeBatchSize": 7000}),
        )
        .copy_pipeline(
            "Decoded",
            "Src",
            "Wider",
            json!({"type": "AzurePostgreSqlSource", "query": query}),
            json!({"type": "AzurePostgreSqlSink", "writeBatchSize": 7000}),
        );
    // 20,000 rows arrive in source batches of a few thousand rows; the commit units must still
    // be exactly 7,000 rows: rows 1-14,000 commit, the unit holding row 14,001 fails.
    let run = run_factory(&f, &["--pipeline", "Raw"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    let o = activity_output(&out);
    assert_eq!(o["rowsRead"], 20_000, "{o}");
    assert_eq!(o["rowsCopied"], 20_000, "{o}");
    assert_eq!(o["executionDetails"][0]["passThrough"], true, "{o}");
    assert_eq!(db.difference("src", "same", "id, t").await, 0);

    let run = run_factory(&f, &["--pipeline", "RawFails"]);
    assert_ne!(run.code, 0, "the check violation must fail the run");
    let out = run.json();
    let msg = out["activities"][0]["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("batch 3 (rows 14001-20000)") && msg.contains("check constraint"),
        "{msg}"
    );
    assert_eq!(db.count("checked").await, 14_000);

    let run = run_factory(&f, &["--pipeline", "Decoded"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    let o = activity_output(&out);
    assert_eq!(o["rowsCopied"], 20_000, "{o}");
    assert_eq!(
        o["executionDetails"][0]["passThrough"], false,
        "int -> bigint needs decoding: {o}"
    );
    assert_eq!(db.difference("src", "wider", "id, t").await, 0);
}

#[tokio::test]
async fn write_batch_timeout_fails_a_slow_batch_with_that_message() {
    let db = TestDb::new("wbt").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT 1 AS id; CREATE TABLE {s}.dst (id int);
         CREATE FUNCTION {s}.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(5); RETURN NULL; END $$;
         CREATE TRIGGER slow BEFORE INSERT ON {s}.dst FOR EACH STATEMENT EXECUTE FUNCTION {s}.slow();",
    )
    .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink", "writeBatchTimeout": "00:00:01"}),
    );
    sluice_bin(); // build it (if needed) outside the timing
    let t = std::time::Instant::now();
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    let msg = run.json()["activities"][0]["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("writeBatchTimeout 00:00:01 exceeded"), "{msg}");
    assert!(
        t.elapsed().as_secs() < 5,
        "the timeout must cut the 5 s batch short"
    );
    assert_eq!(db.count("dst").await, 0);
}

#[tokio::test]
async fn query_timeout_is_enforced_by_the_server() {
    let db = TestDb::new("qt").await;
    db.exec("CREATE TABLE {s}.dst (x int)").await;
    let f = TestFactory::new();
    f.local_pg("Pg").table("Src", "Pg", &db.schema, "dst").table("Dst", "Pg", &db.schema, "dst").copy_pipeline(
        "P",
        "Src",
        "Dst",
        json!({"type": "AzurePostgreSqlSource", "query": "SELECT 1 AS x FROM pg_sleep(10)", "queryTimeout": "00:00:01"}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    let msg = run.json()["activities"][0]["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("queryTimeout 00:00:01 exceeded"), "{msg}");
}

#[tokio::test]
async fn bulk_insert_stays_under_the_bind_parameter_limit_for_wide_tables() {
    let db = TestDb::new("wide").await;
    let cols: Vec<String> = (0..300).map(|i| format!("c{i} int")).collect();
    let vals: Vec<String> = (0..300).map(|i| format!("g + {i}")).collect();
    db.exec(&format!(
        "CREATE TABLE {{s}}.src ({}); INSERT INTO {{s}}.src SELECT {} FROM generate_series(1, 1500) g; CREATE TABLE {{s}}.dst (LIKE {{s}}.src)",
        cols.join(", "),
        vals.join(", ")
    ))
    .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink", "writeMethod": "BulkInsert", "writeBatchSize": 1500}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(db.difference("src", "dst", "*").await, 0);
    assert_eq!(db.count("dst").await, 1500);
}

#[tokio::test]
async fn upsert_updates_and_inserts_by_primary_key_or_given_keys() {
    let db = TestDb::new("upsert").await;
    db.exec(
        "CREATE TABLE {s}.dst (id int PRIMARY KEY, code text UNIQUE, v text);
         INSERT INTO {s}.dst VALUES (1, 'a', 'old'), (2, 'b', 'old');
         CREATE TABLE {s}.src (id int, code text, v text, seq int);
         INSERT INTO {s}.src VALUES (2, 'b', 'first', 1), (2, 'b', 'second', 2), (3, 'c', 'new', 3);",
    )
    .await;
    let query = format!("SELECT id, code, v FROM \"{}\".src ORDER BY seq", db.schema);
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource", "query": query}),
        json!({"type": "AzurePostgreSqlSink", "writeMethod": "Upsert"}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let rows = db
        .client
        .query(
            format!("SELECT id, v FROM \"{}\".dst ORDER BY id", db.schema).as_str(),
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![(1, "old".into()), (2, "second".into()), (3, "new".into())],
        "last duplicate wins, new key inserted"
    );

    // Explicit keys on a unique column other than the primary key.
    db.exec("INSERT INTO {s}.src VALUES (9, 'c', 'by code', 4)")
        .await;
    f.copy_pipeline(
        "P",
        "Src",
        "Dst",
        json!({"type": "AzurePostgreSqlSource", "query": format!("SELECT id, code, v FROM \"{}\".src WHERE seq = 4", db.schema)}),
        json!({"type": "AzurePostgreSqlSink", "writeMethod": "Upsert", "upsertSettings": {"keys": ["code"]}}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        db.query_i64("SELECT id::bigint FROM {s}.dst WHERE code = 'c'")
            .await,
        9
    );
    assert_eq!(db.count("dst").await, 3);
}

#[tokio::test]
async fn translator_maps_renamed_columns_and_by_name_mapping_ignores_order() {
    let db = TestDb::new("map").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, 'n' || g AS name FROM generate_series(1, 10) g;
         CREATE TABLE {s}.dst (full_name text, key int, extra text DEFAULT 'dflt');
         CREATE TABLE {s}.dst2 (name text, id int);",
    )
    .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    // The pipeline gets a translator.
    let p = f.path().join("pipeline/P.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["properties"]["activities"][0]["typeProperties"]["translator"] = json!({"type": "TabularTranslator", "mappings": [
        {"source": {"name": "id"}, "sink": {"name": "key"}}, {"source": {"name": "name"}, "sink": {"name": "full_name"}}]});
    std::fs::write(&p, v.to_string()).unwrap();
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        db.query_i64(
            "SELECT count(*) FROM {s}.dst WHERE full_name = 'n' || key AND extra = 'dflt'"
        )
        .await,
        10
    );

    let f2 = TestFactory::new();
    f2.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Dst2", "Pg", &db.schema, "dst2")
        .copy_pipeline(
            "P",
            "Src",
            "Dst2",
            json!({"type": "AzurePostgreSqlSource"}),
            json!({"type": "AzurePostgreSqlSink"}),
        );
    let run = run_factory(&f2, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst2 WHERE name = 'n' || id")
            .await,
        10
    );
}

#[tokio::test]
async fn v2_linked_service_and_quoted_table_names_work() {
    let db = TestDb::new("v2").await;
    db.exec("CREATE TABLE {s}.\"Mixed Case\" AS SELECT g AS id FROM generate_series(1, 42) g; CREATE TABLE {s}.dst (id int)").await;
    let (host, port) = {
        let cs = local_connection_string();
        let get = |k: &str| {
            cs.split(';')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .unwrap()
                .to_string()
        };
        (get("Server"), get("Port"))
    };
    let f = TestFactory::new();
    f.put(
        "linkedService",
        "V2",
        json!({"type": "PostgreSqlV2", "version": "2.0", "typeProperties": {
            "server": host, "port": port, "database": "test", "username": "postgres",
            "password": {"type": "SecureString", "value": "unused-with-trust"}, "sslMode": 2,
            "commandTimeout": 60, "timezone": "UTC"}}),
    );
    f.put(
        "dataset",
        "Src",
        json!({"type": "PostgreSqlV2Table", "linkedServiceName": {"referenceName": "V2", "type": "LinkedServiceReference"},
               "typeProperties": {"tableName": format!("\"{}\".\"Mixed Case\"", db.schema)}}),
    );
    f.put(
        "dataset",
        "Dst",
        json!({"type": "PostgreSqlTable", "linkedServiceName": {"referenceName": "V2", "type": "LinkedServiceReference"},
               "typeProperties": {"tableName": format!("{}.dst", db.schema)}}),
    );
    f.copy_pipeline(
        "P",
        "Src",
        "Dst",
        json!({"type": "PostgreSqlV2Source"}),
        json!({"type": "PostgreSqlV2Sink"}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity_output(&run.json())["rowsCopied"], 42);
    assert_eq!(db.difference("Mixed Case", "dst", "*").await, 0);
}
