//! Partitioned parallel reads of a PostgreSQL source (`partitionOption` `DynamicRange` and
//! `PhysicalPartitionsOfTable`, `parallelCopies`): every row is copied exactly once whatever
//! the bounds (they set the stride, not a filter), NULLs included, query hooks work, all
//! readers share one snapshot, and the output reports the parallelism.

use serde_json::{json, Value};
use sluice_e2e::*;

/// A factory copying `src` to `dst` in the test schema with this source and parallelCopies.
fn factory(db: &TestDb, src: &str, dst: &str, source: Value, parallel: Option<u32>) -> TestFactory {
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, src)
        .table("Dst", "Pg", &db.schema, dst);
    let mut tp = json!({"source": source, "sink": {"type": "AzurePostgreSqlSink"}});
    if let Some(n) = parallel {
        tp["parallelCopies"] = json!(n);
    }
    f.copy_pipeline_with("P", "Src", "Dst", tp);
    f
}

/// Runs the factory, expecting success; returns the Copy activity's output.
fn run_ok(f: &TestFactory) -> Value {
    let run = run_factory(f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    activity_output(&run.json()).clone()
}

fn reading(o: &Value) -> &Value {
    &o["executionDetails"][0]["profile"]["transfer"]["details"]["readingFromSource"]
}

fn dynamic(column: &str, lower: Value, upper: Value) -> Value {
    json!({"type": "AzurePostgreSqlSource", "partitionOption": "DynamicRange",
           "partitionSettings": {"partitionColumnName": column,
                                 "partitionLowerBound": lower, "partitionUpperBound": upper}})
}

#[tokio::test]
async fn dynamic_range_copies_every_row_with_bounds_narrower_than_the_data() {
    let db = TestDb::new("pdyn").await;
    // Each table: a column of the partition type covering much more than the bounds, plus NULLs.
    let cases = [
        ("int", "g", json!(2000), json!(3000)),
        (
            "bigint",
            "(g::bigint - 5000) * 1000000000",
            json!("-3000000000000"),
            json!(3_000_000_000_000i64),
        ),
        (
            "date",
            "DATE '2020-01-01' + g",
            json!("2020-06-01"),
            json!("2020-09-30"),
        ),
        (
            "timestamptz",
            "TIMESTAMPTZ '2024-03-01 00:00:00+00' + g * INTERVAL '17 minutes 3.25 seconds'",
            json!("2024-03-05T00:00:00Z"),
            json!("2024-03-06 12:00:00+02"),
        ),
        (
            "timestamp",
            "TIMESTAMP '1999-12-31 23:00' + g * INTERVAL '1 hour 1 microsecond'",
            json!("2000-01-10"),
            json!("2000-02-01 00:00:00.5"),
        ),
        (
            "time",
            "TIME '00:00' + g * INTERVAL '7 seconds'",
            json!("01:00"),
            json!("02:00"),
        ),
        ("smallint", "(g % 30000)::smallint", json!(100), json!(200)),
    ];
    for (i, (ty, expr, lower, upper)) in cases.iter().enumerate() {
        let (src, dst) = (format!("src{i}"), format!("dst{i}"));
        db.exec(&format!(
            "CREATE TABLE {{s}}.{src} AS SELECT g AS id, CASE WHEN g % 97 = 0 THEN NULL ELSE ({expr})::{ty} END AS k, md5(g::text) AS label \
             FROM generate_series(1, 10000) g;
             CREATE TABLE {{s}}.{dst} (LIKE {{s}}.{src})"
        ))
        .await;
        let f = factory(
            &db,
            &src,
            &dst,
            dynamic("k", lower.clone(), upper.clone()),
            Some(4),
        );
        let o = run_ok(&f);
        assert_eq!(o["rowsRead"], 10000, "{ty}: {o}");
        assert_eq!(o["rowsCopied"], 10000, "{ty}: {o}");
        assert_eq!(o["usedParallelCopies"], 4, "{ty}: {o}");
        assert_eq!(
            o["sourcePeakConnections"], 5,
            "{ty}: coordinator + 4 readers: {o}"
        );
        let r = reading(&o);
        assert_eq!(r["partitionOption"], "DynamicRange", "{ty}: {o}");
        assert_eq!(r["partitionCount"], 4, "{ty}: {o}");
        let parts = r["partitions"].as_array().unwrap();
        assert_eq!(parts.len(), 4, "{ty}: {o}");
        assert!(
            parts.iter().all(|p| p["rowsRead"].as_u64().unwrap() > 0),
            "{ty}: every range has rows (below, inside and above the bounds): {o}"
        );
        assert_eq!(
            db.difference(&src, &dst, "*").await,
            0,
            "{ty}: copied rows differ"
        );
        assert_eq!(
            db.query_i64(&format!("SELECT count(*) FROM {{s}}.{dst} WHERE k IS NULL"))
                .await,
            103,
            "{ty}: NULLs in the partition column are copied"
        );
    }
}

#[tokio::test]
async fn dynamic_range_defaults_to_the_primary_key_and_its_minimum_and_maximum() {
    let db = TestDb::new("pdef").await;
    db.exec(
        "CREATE TABLE {s}.src (id bigint PRIMARY KEY, v text);
         INSERT INTO {s}.src SELECT g * 3, 'v' || g FROM generate_series(-500, 4000) g;
         CREATE TABLE {s}.dst (LIKE {s}.src)",
    )
    .await;
    // `partitionOptions` (ADF's other spelling), no settings, no parallelCopies: 4 ranges.
    let f = factory(
        &db,
        "src",
        "dst",
        json!({"type": "AzurePostgreSqlSource", "partitionOptions": "DynamicRange"}),
        None,
    );
    let o = run_ok(&f);
    assert_eq!(o["rowsCopied"], 4501, "{o}");
    assert_eq!(o["usedParallelCopies"], 4, "{o}");
    let parts = reading(&o)["partitions"].as_array().unwrap().clone();
    assert_eq!(parts.len(), 4, "{o}");
    for p in &parts {
        let rows = p["rowsRead"].as_u64().unwrap();
        assert!((1100..=1150).contains(&rows), "ranges of equal width: {o}");
    }
    assert_eq!(db.difference("src", "dst", "*").await, 0);

    // parallelCopies 2 on a tiny range makes 2 ranges; 1 makes one.
    for (n, used) in [(2u32, 2), (1, 1)] {
        db.exec("TRUNCATE {s}.dst").await;
        let f = factory(
            &db,
            "src",
            "dst",
            dynamic("id", json!(0), json!(10)),
            Some(n),
        );
        let o = run_ok(&f);
        assert_eq!(o["rowsCopied"], 4501, "{o}");
        assert_eq!(o["usedParallelCopies"], used, "{o}");
        assert_eq!(db.difference("src", "dst", "*").await, 0);
    }
}

#[tokio::test]
async fn dynamic_range_fills_the_query_hook_or_wraps_the_query() {
    let db = TestDb::new("phook").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, g % 10 AS grp, NULLIF(g % 13, 0) AS n FROM generate_series(1, 5000) g;
         CREATE TABLE {s}.dst (id int, grp int, n int);
         CREATE TABLE {s}.want AS SELECT * FROM {s}.src WHERE grp <> 3",
    )
    .await;
    let s = &db.schema;
    for query in [
        // the hook, replaced by each range's condition
        format!("SELECT id, grp, n FROM \"{s}\".src WHERE ?AdfDynamicRangePartitionCondition AND grp <> 3"),
        // no hook: the query is wrapped and filtered
        format!("SELECT * FROM \"{s}\".src WHERE grp <> 3;"),
    ] {
        db.exec("TRUNCATE {s}.dst").await;
        let source = json!({"type": "AzurePostgreSqlSource", "query": query,
            "partitionOption": "DynamicRange",
            "partitionSettings": {"partitionColumnName": "id", "partitionLowerBound": "1000", "partitionUpperBound": "2000"}});
        let f = factory(&db, "src", "dst", source, Some(3));
        let o = run_ok(&f);
        assert_eq!(o["rowsCopied"], 4500, "{query}: {o}");
        assert_eq!(o["usedParallelCopies"], 3, "{query}: {o}");
        assert_eq!(db.difference("want", "dst", "*").await, 0, "{query}");
    }
    // Partitioning on a column with NULLs through the hook, bounds detected.
    db.exec("TRUNCATE {s}.dst").await;
    let source = json!({"type": "AzurePostgreSqlSource",
        "query": format!("SELECT * FROM \"{s}\".src WHERE ?AdfDynamicRangePartitionCondition"),
        "partitionOption": "DynamicRange", "partitionSettings": {"partitionColumnName": "n"}});
    let f = factory(&db, "src", "dst", source, Some(5));
    let o = run_ok(&f);
    assert_eq!(o["rowsCopied"], 5000, "{o}");
    assert_eq!(db.difference("src", "dst", "*").await, 0);
}

#[tokio::test]
async fn physical_partitions_of_table_reads_all_or_the_chosen_partitions() {
    let db = TestDb::new("pphys").await;
    // Partitions created with their columns in another order than the parent's.
    db.exec(
        "CREATE TABLE {s}.src (id int, day date, note text) PARTITION BY RANGE (day);
         CREATE TABLE {s}.p_2024_01 PARTITION OF {s}.src FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
         CREATE TABLE {s}.p_2024_02 PARTITION OF {s}.src FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
         CREATE TABLE {s}.p_2024_03 (note text, day date, id int);
         ALTER TABLE {s}.src ATTACH PARTITION {s}.p_2024_03 FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
         CREATE TABLE {s}.p_other PARTITION OF {s}.src DEFAULT;
         INSERT INTO {s}.src SELECT g, DATE '2023-12-15' + (g % 120), 'n' || g FROM generate_series(1, 6000) g;
         CREATE TABLE {s}.dst (id int, day date, note text)",
    )
    .await;
    let f = factory(
        &db,
        "src",
        "dst",
        json!({"type": "AzurePostgreSqlSource", "partitionOption": "PhysicalPartitionsOfTable"}),
        Some(3),
    );
    let o = run_ok(&f);
    assert_eq!(o["rowsCopied"], 6000, "{o}");
    assert_eq!(o["usedParallelCopies"], 3, "{o}");
    assert_eq!(o["sourcePeakConnections"], 4, "{o}");
    assert_eq!(reading(&o)["partitionCount"], 4, "{o}");
    assert_eq!(db.difference("src", "dst", "*").await, 0);

    // A chosen subset, default parallelism (one reader per partition, at most 4).
    db.exec("TRUNCATE {s}.dst").await;
    let f = factory(
        &db,
        "src",
        "dst",
        json!({"type": "AzurePostgreSqlSource", "partitionOption": "PhysicalPartitionsOfTable",
               "partitionSettings": {"partitionNames": ["p_2024_01", "p_2024_03"]}}),
        None,
    );
    let o = run_ok(&f);
    assert_eq!(o["usedParallelCopies"], 2, "{o}");
    let want = db
        .query_i64("SELECT count(*) FROM {s}.src WHERE day >= '2024-01-01' AND day < '2024-02-01' OR day >= '2024-03-01' AND day < '2024-04-01'")
        .await;
    assert_eq!(o["rowsCopied"], want, "{o}");
    assert_eq!(
        db.query_i64("SELECT count(*) FROM (SELECT * FROM {s}.p_2024_01 UNION ALL SELECT id, day, note FROM {s}.p_2024_03 EXCEPT ALL SELECT * FROM {s}.dst) x")
            .await,
        0
    );

    // The hook in a query.
    db.exec("TRUNCATE {s}.dst").await;
    let f = factory(
        &db,
        "src",
        "dst",
        json!({"type": "AzurePostgreSqlSource", "partitionOption": "PhysicalPartitionsOfTable",
               "query": "SELECT id, day, note FROM ?AdfTabularPartitionName WHERE id % 2 = 0",
               "partitionSettings": {"partitionNames": ["p_2024_02", "p_other"]}}),
        Some(2),
    );
    let o = run_ok(&f);
    let want = db
        .query_i64("SELECT count(*) FROM {s}.src WHERE id % 2 = 0 AND NOT (day >= '2024-01-01' AND day < '2024-02-01' OR day >= '2024-03-01' AND day < '2024-04-01')")
        .await;
    assert_eq!(o["rowsCopied"], want, "{o}");

    // A name that is not a partition.
    let f = factory(
        &db,
        "src",
        "dst",
        json!({"type": "AzurePostgreSqlSource", "partitionOption": "PhysicalPartitionsOfTable",
               "partitionSettings": {"partitionNames": ["p_1999"]}}),
        None,
    );
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    let msg = first_error(&run);
    assert!(
        msg.contains("'p_1999' is not a partition of table"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_unsupported_partition_column_type_fails_with_adfs_message() {
    let db = TestDb::new("ptype").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, g::text AS name, g::numeric AS amount FROM generate_series(1, 10) g;
         CREATE TABLE {s}.dst (LIKE {s}.src);
         CREATE TABLE {s}.nokey AS SELECT 1 AS id",
    )
    .await;
    for (column, ty) in [("name", "text"), ("amount", "numeric")] {
        let f = factory(
            &db,
            "src",
            "dst",
            dynamic(column, json!(1), json!(5)),
            Some(2),
        );
        let run = run_factory(&f, &[]);
        assert_ne!(run.code, 0, "{}", run.all());
        let msg = first_error(&run);
        assert!(
            msg.contains(&format!(
                "The data type of the chosen Partition Column, '{column}', is '{ty}' and this data type is not supported for partitioning."
            )),
            "{msg}"
        );
    }
    assert_eq!(db.count("dst").await, 0);

    // No column and no primary key.
    let f = factory(
        &db,
        "nokey",
        "dst",
        json!({"type": "AzurePostgreSqlSource", "partitionOption": "DynamicRange"}),
        None,
    );
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    assert!(
        first_error(&run).contains("Partition column name must be specified."),
        "{}",
        run.all()
    );

    // A bound that is not a value of the column's type.
    let f = factory(
        &db,
        "src",
        "dst",
        dynamic("id", json!("soon"), json!(5)),
        None,
    );
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    assert!(
        first_error(&run).contains("partitionLowerBound \"soon\" is not a valid int8"),
        "{}",
        run.all()
    );
}

#[tokio::test]
async fn all_readers_share_one_snapshot() {
    let db = TestDb::new("psnap").await;
    // A large middle keeps the readers busy while another session commits pairs of rows, one
    // row at each end of the key range: a consistent copy has both rows of a pair or neither.
    db.exec(
        "CREATE TABLE {s}.src (id bigint PRIMARY KEY, pad text);
         INSERT INTO {s}.src SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g;
         CREATE TABLE {s}.dst (LIKE {s}.src)",
    )
    .await;
    let schema = db.schema.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let c = connect_local().await;
            let mut k: i64 = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                k += 1;
                c.batch_execute(&format!(
                    "BEGIN; INSERT INTO \"{schema}\".src VALUES (-{k}, 'low'), ({}, 'high'); COMMIT",
                    10_000_000 + k
                ))
                .await
                .unwrap();
            }
            k
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let f = factory(
        &db,
        "src",
        "dst",
        dynamic("id", json!(1), json!(200000)),
        Some(4),
    );
    let o = tokio::task::spawn_blocking(move || run_ok(&f))
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let pairs_written = writer.await.unwrap();
    assert!(pairs_written > 0);
    assert_eq!(o["usedParallelCopies"], 4, "{o}");
    let copied = db.count("dst").await;
    assert_eq!(o["rowsCopied"], copied, "{o}");
    let half_pairs = db
        .query_i64(
            "SELECT count(*) FROM (SELECT -id AS k FROM {s}.dst WHERE id < 0) l \
             FULL JOIN (SELECT id - 10000000 AS k FROM {s}.dst WHERE id > 10000000) h USING (k) \
             WHERE l.k IS NULL OR h.k IS NULL",
        )
        .await;
    assert_eq!(
        half_pairs, 0,
        "a pair committed together was copied by halves"
    );
    let pairs_copied = db
        .query_i64("SELECT count(*) FROM {s}.dst WHERE id < 0")
        .await;
    // The copy is the table as of one moment: the whole middle and a prefix of the pairs.
    assert_eq!(copied, 200000 + 2 * pairs_copied);
    assert_eq!(
        db.query_i64(&format!(
            "SELECT count(*) FROM {{s}}.dst WHERE id < 0 AND id < -{pairs_copied}"
        ))
        .await,
        0,
        "the copied pairs are the first ones committed"
    );
}
