//! Proves examples/new-files, ADF's "load every new file" pattern (GetMetadata childItems with
//! `modifiedDatetimeStart` -> Filter .csv files -> ForEach: Copy the file into a table, then
//! Delete it), against a local landing folder and real PostgreSQL: the new CSV files' rows are
//! loaded and those files are deleted, while an old CSV (modified before `since`) and a file
//! that is not a CSV stay untouched.

use std::time::{Duration, SystemTime};

use sluice_e2e::*;

fn example(name: &str) -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/").to_string() + name
}

#[tokio::test]
async fn loads_new_csv_files_and_deletes_them() {
    let db = TestDb::new("newfiles").await;
    let setup = std::fs::read_to_string(example("new-files/setup.sql")).unwrap();
    let sql = setup
        .lines()
        .filter(|l| !l.contains("SCHEMA"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("sluice_new_files.", "{s}.");
    db.exec(&sql).await;

    let landing = tempfile::tempdir().unwrap();
    let sample = std::path::PathBuf::from(example("new-files/sample"));
    for entry in std::fs::read_dir(&sample).unwrap().flatten() {
        std::fs::copy(entry.path(), landing.path().join(entry.file_name())).unwrap();
    }
    // An old file: modified before `since`, so not picked up.
    let old = landing.path().join("orders-2020-01-01.csv");
    std::fs::write(&old, "id,customer,amount\n99,old,1.00\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(30 * 86_400))
        .unwrap();
    let since = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();

    let conn = format!("Warehouse={}", pg_url());
    let landing_param = format!("landing={}", landing.path().display());
    let schema = format!("schema={}", db.schema);
    let since_param = format!("since={since}");
    let run = sluice(&[
        "run",
        &example("new-files"),
        "--connection",
        &conn,
        "--param",
        &landing_param,
        "--param",
        &schema,
        "--param",
        &since_param,
        "--output",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    assert_eq!(
        activity(&out, "OnlyCsvFiles")["output"]["FilteredItemsCount"],
        2
    );
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.orders_in WHERE (id, customer, amount) IN ((1, 'ann', 10.50), (2, 'bee', 20.00), (3, 'cy', 7.25))")
            .await,
        3
    );
    assert_eq!(db.count("orders_in").await, 3);
    assert_eq!(
        activity(&out, "DeleteLoadedFile")["output"]["filesDeleted"],
        1
    );
    let mut left: Vec<String> = std::fs::read_dir(landing.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["README.txt", "orders-2020-01-01.csv"]);
}
