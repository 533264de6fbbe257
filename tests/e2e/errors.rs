//! Proves bad input gets one clear error naming the file or object, the property and the
//! reason, with a non-zero exit and no panic; that unimplemented properties are listed in
//! warnings; and that secrets never appear in anything Sluice prints.

use serde_json::json;
use sluice::cli::pgcluster::{ClusterOptions, TempCluster};
use sluice::secrets::Secret;
use sluice_e2e::*;

fn validate(f: &TestFactory) -> Run {
    sluice(&["validate", f.path().to_str().unwrap()])
}

fn assert_clean_failure(run: &Run, needles: &[&str]) {
    assert_ne!(run.code, 0, "must fail: {}", run.all());
    assert!(!run.all().contains("panicked"), "no panics: {}", run.all());
    for n in needles {
        assert!(run.all().contains(n), "expected {n:?} in:\n{}", run.all());
    }
}

fn simple_factory() -> TestFactory {
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", "public", "a")
        .table("Dst", "Pg", "public", "b")
        .copy_pipeline(
            "P",
            "Src",
            "Dst",
            json!({"type": "AzurePostgreSqlSource"}),
            json!({"type": "AzurePostgreSqlSink"}),
        );
    f
}

#[test]
fn malformed_json_names_file_line_and_column() {
    let f = simple_factory();
    std::fs::write(
        f.path().join("dataset/Src.json"),
        "{\n  \"name\": \"Src\",\n  \"properties\": {,\n}",
    )
    .unwrap();
    let run = validate(&f);
    assert_clean_failure(&run, &["Src.json:3:18", "malformed JSON"]);
}

#[test]
fn dangling_references_name_both_objects() {
    let f = simple_factory();
    f.table("Dst", "Missing", "public", "b");
    let run = validate(&f);
    assert_clean_failure(
        &run,
        &[
            "dataset 'Dst'",
            "references linked service 'Missing', which is not defined",
        ],
    );

    let f = simple_factory();
    f.copy_pipeline(
        "P",
        "Src",
        "Nope",
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    let run = sluice(&["run", f.path().to_str().unwrap()]);
    assert_clean_failure(
        &run,
        &["pipeline 'P' activity 'Copy' outputs references dataset 'Nope', which is not defined"],
    );
}

#[test]
fn bad_connection_settings_name_the_linked_service_and_property() {
    let f = simple_factory();
    f.put("linkedService", "Pg", json!({"type": "AzurePostgreSql", "typeProperties": {
        "connectionString": {"type": "SecureString", "value": "Server=h;Colour=blue;Database=d;UID=u;Password=s3cret-value-xyz"}}}));
    let run = validate(&f);
    assert_clean_failure(&run, &["linked service 'Pg'", "Colour"]);
    assert!(
        !run.all().contains("s3cret-value-xyz"),
        "password leaked: {}",
        run.all()
    );

    f.put(
        "linkedService",
        "Pg",
        json!({"type": "PostgreSqlV2", "typeProperties": {
        "server": "h", "database": "d", "username": "u", "sslMode": 7}}),
    );
    let run = validate(&f);
    assert_clean_failure(&run, &["linked service 'Pg'", "sslMode"]);

    f.put("linkedService", "Pg", json!({"type": "AzurePostgreSql", "typeProperties": {
        "connectionString": "Server=h;Database=d;UID=u",
        "password": {"type": "AzureKeyVaultSecret", "store": {"referenceName": "kv", "type": "LinkedServiceReference"}, "secretName": "pw"}}}));
    let run = validate(&f);
    assert_clean_failure(
        &run,
        &[
            "linked service 'Pg'",
            "password",
            "linked service 'kv', which is not defined",
        ],
    );
}

#[test]
fn bad_timespans_and_write_methods_name_the_property() {
    let f = simple_factory();
    f.copy_pipeline(
        "P",
        "Src",
        "Dst",
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink", "writeBatchTimeout": "30s"}),
    );
    assert_clean_failure(
        &validate(&f),
        &[
            "activity 'Copy'",
            "writeBatchTimeout",
            "\"30s\" is not a timespan",
        ],
    );
    f.copy_pipeline(
        "P",
        "Src",
        "Dst",
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink", "writeMethod": "Merge"}),
    );
    assert_clean_failure(
        &validate(&f),
        &["writeMethod", "\"Merge\" is not a write method"],
    );
    f.copy_pipeline(
        "P",
        "Src",
        "Dst",
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink", "writeBatchSize": 0}),
    );
    assert_clean_failure(&validate(&f), &["writeBatchSize", "must be between 1"]);
}

#[test]
fn unimplemented_properties_are_listed_in_warnings() {
    let f = simple_factory();
    let p = f.path().join("pipeline/P.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["properties"]["activities"][0]["typeProperties"]["enableStaging"] = json!(true);
    v["properties"]["activities"][0]["typeProperties"]["sink"]["disableMetricsCollection"] =
        json!(true);
    std::fs::write(&p, v.to_string()).unwrap();
    let run = validate(&f);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(
            "typeProperties: property 'enableStaging' is not implemented by Sluice; ignored"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "sink: property 'disableMetricsCollection' is not implemented by Sluice; ignored"
        ),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn missing_tables_and_unconvertible_values_fail_with_the_object_named() {
    let db = TestDb::new("bad").await;
    db.exec("CREATE TABLE {s}.src AS SELECT 1 AS id").await;
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Dst", "Pg", &db.schema, "no_such_table")
        .copy_pipeline(
            "P",
            "Src",
            "Dst",
            json!({"type": "AzurePostgreSqlSource"}),
            json!({"type": "AzurePostgreSqlSink"}),
        );
    let run = run_factory(&f, &[]);
    assert_clean_failure(&run, &["dataset 'Dst'", "no_such_table", "does not exist"]);

    // CSV text that is not an integer.
    db.exec("CREATE TABLE {s}.dst (id int, name text)").await;
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("in.csv"), "id,name\n1,a\nabc,b\n").unwrap();
    f.put(
        "linkedService",
        "Files",
        json!({"type": "FileServer", "typeProperties": {"host": files.path()}}),
    );
    f.put("dataset", "Csv", json!({"type": "DelimitedText", "linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
        "typeProperties": {"location": {"type": "FileServerLocation", "fileName": "in.csv"}, "firstRowAsHeader": true}}));
    f.table("Dst", "Pg", &db.schema, "dst");
    f.copy_pipeline(
        "P",
        "Csv",
        "Dst",
        json!({"type": "DelimitedTextSource"}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    let run = run_factory(&f, &[]);
    assert_clean_failure(
        &run,
        &[
            "dataset 'Dst'",
            "invalid input syntax for type integer: \"abc\"",
            "column id",
        ],
    );
    assert_eq!(db.count("dst").await, 0, "the failed batch is rolled back");
}

#[tokio::test]
async fn secrets_never_appear_in_output_logs_or_errors() {
    let password = "Pw-that-must-never-show-7781";
    let cluster = TempCluster::start(ClusterOptions {
        password_user: Some(("sluice_user".into(), Secret::new(password))),
        fast: true,
        ..ClusterOptions::default()
    })
    .await
    .unwrap();
    let conn = |pw: &str| {
        format!("host=127.0.0.1;port={};database=sluice;username=sluice_user;password={pw};EncryptionMethod=0", cluster.port())
    };
    let f = TestFactory::new();
    let ls = |pw: &str| json!({"type": "AzurePostgreSql", "typeProperties": {"connectionString": {"type": "SecureString", "value": conn(pw)}}});
    f.put("linkedService", "Pg", ls(password))
        .table("Src", "Pg", "public", "src")
        .table("Dst", "Pg", "public", "dst");
    // The preCopyScript makes the server echo the password back in its error message.
    f.copy_pipeline(
        "P",
        "Src",
        "Dst",
        json!({"type": "AzurePostgreSqlSource", "query": "SELECT 1 AS x"}),
        json!({"type": "AzurePostgreSqlSink", "preCopyScript": format!("CREATE TABLE IF NOT EXISTS dst (x int); SELECT '{password}'::int")}),
    );
    let failing = sluice(&["run", f.path().to_str().unwrap(), "--output", "json", "-v"]);
    assert_ne!(failing.code, 0);
    assert!(
        failing
            .all()
            .contains("invalid input syntax for type integer: \"**********\""),
        "{}",
        failing.all()
    );

    f.copy_pipeline(
        "P",
        "Src",
        "Dst",
        json!({"type": "AzurePostgreSqlSource", "query": "SELECT 1 AS x"}),
        json!({"type": "AzurePostgreSqlSink", "preCopyScript": "CREATE TABLE IF NOT EXISTS dst (x int)"}),
    );
    let ok = sluice(&["run", f.path().to_str().unwrap(), "--output", "json", "-vv"]);
    assert_eq!(ok.code, 0, "{}", ok.all());

    f.put("linkedService", "Pg", ls("wrong-pass-also-secret-991"));
    let wrong = sluice(&["run", f.path().to_str().unwrap(), "--output", "json"]);
    assert_ne!(wrong.code, 0);
    assert!(
        wrong.all().contains("password authentication failed"),
        "{}",
        wrong.all()
    );

    for run in [&failing, &ok, &wrong] {
        assert!(
            !run.all().contains(password),
            "password leaked:\n{}",
            run.all()
        );
        assert!(
            !run.all().contains("wrong-pass-also-secret-991"),
            "password leaked:\n{}",
            run.all()
        );
    }
}
