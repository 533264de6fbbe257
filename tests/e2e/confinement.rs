//! Proves every file-store path stays under the root it belongs to (issue 13, bug 5): a
//! FileServer dataset's `folderPath` (with `/` or `\`), a sink's `fileNamePrefix`, a copy's log
//! `path` (relative or absolute), the legacy `redirectIncompatibleRowSettings` `path`, an
//! activity name with `../`, a source's `folderPath` and `wildcardFolderPath` reaching for
//! `/etc`, symbolic links inside the root that lead out of it, and blob prefixes with `..`:
//! each is refused with a named error (dataset or activity, property, value, reason), nothing
//! is written outside the root and nothing is read into PostgreSQL. Normal relative paths keep
//! working (the files, formats, blob and fault_tolerance modules).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sluice_e2e::azurite::Azurite;
use sluice_e2e::*;

/// `outer/root`: the FileServer's `host` is `root`; anything escaping lands in `outer`.
struct Jail {
    outer: tempfile::TempDir,
    root: PathBuf,
}

impl Jail {
    fn new() -> Jail {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir(&root).unwrap();
        Jail { outer, root }
    }

    fn outer(&self) -> &Path {
        self.outer.path()
    }

    /// Everything in `outer` but the root itself (and what a test put there on purpose).
    fn escaped(&self, planted: &[&str]) -> Vec<String> {
        let mut found: Vec<String> = std::fs::read_dir(self.outer())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "root" && !planted.contains(&n.as_str()))
            .collect();
        found.sort();
        found
    }

    /// A factory with `Pg`, `Files` (this root), `Src` (`{s}.src`, 3 rows) and `Dst`
    /// (`{s}.dst`, the columns a headerless CSV of two fields reads as).
    async fn factory(&self, db: &TestDb) -> TestFactory {
        db.exec(
            "CREATE TABLE {s}.src AS SELECT g AS id, 'n' || g AS name FROM generate_series(1, 3) g;
             CREATE TABLE {s}.dst (\"Prop_0\" text, \"Prop_1\" text)",
        )
        .await;
        let f = TestFactory::new();
        f.local_pg("Pg")
            .table("Src", "Pg", &db.schema, "src")
            .table("Dst", "Pg", &db.schema, "dst");
        f.put(
            "linkedService",
            "Files",
            json!({"type": "FileServer", "typeProperties": {"host": self.root.to_str().unwrap()}}),
        );
        f
    }
}

/// A DelimitedText dataset `name` on `Files` at `location` (merged over a FileServerLocation).
fn csv_ds(f: &TestFactory, name: &str, location: Value) {
    let mut loc = json!({"type": "FileServerLocation"});
    for (k, v) in location.as_object().unwrap() {
        loc[k] = v.clone();
    }
    f.file_dataset(
        name,
        "Files",
        "DelimitedText",
        loc,
        None,
        json!({"firstRowAsHeader": false}),
    );
}

fn pg_to_csv(f: &TestFactory, sink_extra: Value) {
    let mut sink =
        json!({"type": "DelimitedTextSink", "storeSettings": {"type": "FileServerWriteSettings"}});
    for (k, v) in sink_extra.as_object().unwrap() {
        sink[k] = v.clone();
    }
    f.copy_pipeline(
        "P",
        "Src",
        "Out",
        json!({"type": "AzurePostgreSqlSource"}),
        sink,
    );
}

/// A failed run (or validate) without a panic whose output holds every needle (JSON output is
/// searched with its strings unescaped, so needles may hold `\`).
fn refused(run: &Run, needles: &[&str]) -> String {
    assert_ne!(run.code, 0, "must fail: {}", run.all());
    assert!(!run.all().contains("panicked"), "no panic: {}", run.all());
    let mut all = run.all();
    if let Ok(json) = serde_json::from_str::<Value>(&run.stdout) {
        strings(&json, &mut all);
    }
    for n in needles {
        assert!(all.contains(n), "expected {n:?} in:\n{all}");
    }
    all
}

fn strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push('\n');
            out.push_str(s);
        }
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| strings(i, out)),
        _ => {}
    }
}

fn validate(f: &TestFactory) -> Run {
    sluice(&["validate", f.path().to_str().unwrap()])
}

#[tokio::test]
async fn sink_folder_path_with_dot_dots_is_refused() {
    let db = TestDb::new("confine_sink_dir").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    csv_ds(
        &f,
        "Out",
        json!({"folderPath": "../escape", "fileName": "out.csv"}),
    );
    pg_to_csv(&f, json!({}));
    let needles = ["dataset 'Out'", "folderPath", "'../escape'", "outside"];
    refused(&run_factory(&f, &[]), &needles);
    refused(&validate(&f), &needles);
    assert_eq!(jail.escaped(&[]), Vec::<String>::new());
}

#[tokio::test]
async fn sink_folder_path_with_backslashes_is_refused() {
    let db = TestDb::new("confine_sink_bs").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    pg_to_csv(&f, json!({}));
    for folder in ["..\\escape", "sub\\..\\..\\escape", "sub/..\\../escape"] {
        csv_ds(
            &f,
            "Out",
            json!({"folderPath": folder, "fileName": "out.csv"}),
        );
        refused(
            &run_factory(&f, &[]),
            &["dataset 'Out'", "folderPath", "outside"],
        );
        assert_eq!(jail.escaped(&[]), Vec::<String>::new(), "{folder}");
    }
    // Staying inside the root through `..` is fine: sub/../inside is inside.
    csv_ds(
        &f,
        "Out",
        json!({"folderPath": "sub\\..\\inside", "fileName": "out.csv"}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(jail.root.join("inside/out.csv").is_file());
}

#[tokio::test]
async fn absolute_and_drive_folder_paths_are_refused() {
    let db = TestDb::new("confine_abs").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    pg_to_csv(&f, json!({}));
    let abs = jail.outer().join("abs");
    for folder in [abs.to_str().unwrap(), "C:\\temp", "\\\\server\\share"] {
        csv_ds(
            &f,
            "Out",
            json!({"folderPath": folder, "fileName": "out.csv"}),
        );
        refused(&validate(&f), &["dataset 'Out'", "folderPath"]);
        refused(&run_factory(&f, &[]), &["dataset 'Out'", "folderPath"]);
    }
    assert_eq!(jail.escaped(&[]), Vec::<String>::new());
}

#[tokio::test]
async fn file_name_prefix_and_extension_cannot_leave_the_folder() {
    let db = TestDb::new("confine_prefix").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    csv_ds(&f, "Out", json!({"folderPath": "out"}));
    for (key, value) in [
        ("fileNamePrefix", "../../p"),
        ("fileNamePrefix", "..\\..\\p"),
        ("fileExtension", "/../../../x"),
    ] {
        let mut settings = json!({"type": "DelimitedTextWriteSettings", "maxRowsPerFile": 2, "fileExtension": ".csv"});
        settings[key] = json!(value);
        pg_to_csv(&f, json!({"formatSettings": settings}));
        refused(&run_factory(&f, &[]), &[key, value]);
        refused(&validate(&f), &[key, value]);
        assert_eq!(jail.escaped(&[]), Vec::<String>::new(), "{key} {value}");
    }
    assert!(!jail.root.join("p_00000.csv").exists());
}

/// A CSV in the root (3 rows, one with a wrong field count) read into `{s}.dst`, skipping
/// incompatible rows, with `extra` typeProperties and the activity named `activity`.
fn csv_to_pg(jail: &Jail, f: &TestFactory, activity: &str, extra: Value) {
    std::fs::write(jail.root.join("in.csv"), "1,a\n2,b,extra\n3,c\n").unwrap();
    csv_ds(f, "In", json!({"fileName": "in.csv"}));
    let mut tp = json!({"source": {"type": "DelimitedTextSource"},
                        "sink": {"type": "AzurePostgreSqlSink"},
                        "enableSkipIncompatibleRow": true});
    for (k, v) in extra.as_object().unwrap() {
        tp[k] = v.clone();
    }
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{
            "name": activity, "type": "Copy",
            "inputs": [{"referenceName": "In", "type": "DatasetReference"}],
            "outputs": [{"referenceName": "Dst", "type": "DatasetReference"}],
            "typeProperties": tp}]}),
    );
}

fn log_settings(path: &str) -> Value {
    json!({"logSettings": {"enableCopyActivityLog": true,
        "logLocationSettings": {"linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
                                "path": path}}})
}

#[tokio::test]
async fn log_paths_relative_or_absolute_stay_under_the_root() {
    let db = TestDb::new("confine_log").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    let abs = jail.outer().join("abslogs");
    for path in ["../logs", "logs/..\\..\\logs", abs.to_str().unwrap()] {
        csv_to_pg(&jail, &f, "Copy", log_settings(path));
        let needles = ["logSettings.logLocationSettings", "path"];
        refused(&run_factory(&f, &[]), &needles);
        refused(&validate(&f), &needles);
        assert_eq!(jail.escaped(&[]), Vec::<String>::new(), "{path}");
        assert_eq!(db.count("dst").await, 0, "{path}");
    }
    // The legacy setting.
    let redirect = json!({"redirectIncompatibleRowSettings": {
        "linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
        "path": "../redirect"}});
    csv_to_pg(&jail, &f, "Copy", redirect);
    let needles = ["redirectIncompatibleRowSettings", "path", "'../redirect'"];
    refused(&run_factory(&f, &[]), &needles);
    refused(&validate(&f), &needles);
    assert_eq!(jail.escaped(&[]), Vec::<String>::new());
    assert_eq!(db.count("dst").await, 0);
}

#[tokio::test]
async fn an_activity_name_does_not_move_its_log_folder() {
    let db = TestDb::new("confine_act").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    for (i, name) in ["../../../esc", "..\\..\\..\\esc2", ".."]
        .iter()
        .enumerate()
    {
        csv_to_pg(&jail, &f, name, log_settings("logs"));
        let run = run_factory(&f, &[]);
        assert_eq!(run.code, 0, "{name}: {}", run.all());
        assert_eq!(jail.escaped(&[]), Vec::<String>::new(), "{name}");
        // One folder per activity under copyactivity-logs, each with one run folder and log.
        let logs = jail.root.join("logs/copyactivity-logs");
        let folders: Vec<_> = std::fs::read_dir(&logs).unwrap().collect();
        assert_eq!(folders.len(), i + 1, "{name}: {folders:?}");
        let folder = activity_output(&run.json())["logFilePath"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            Path::new(&folder).starts_with(&logs),
            "{name}: {folder} is not under {}",
            logs.display()
        );
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1, "{folder}");
        db.exec("TRUNCATE {s}.dst").await;
    }
    assert!(!jail.root.join("esc").exists() && !jail.root.join("logs/esc").exists());
}

/// A dataset `In` reading `/etc/hostname` (or the root's folder `in` with wildcards), copied
/// into `{s}.dst` one line per row.
fn etc_reader(f: &TestFactory, location: Value, store_settings: Value) {
    csv_ds(f, "In", location);
    f.copy_pipeline(
        "P",
        "In",
        "Dst",
        json!({"type": "DelimitedTextSource", "storeSettings": store_settings}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
}

const DEEP_ETC: &str = "../../../../../../../../../../../../etc";

#[tokio::test]
async fn folder_path_cannot_read_etc_into_postgres() {
    let db = TestDb::new("confine_etc").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    for folder in [
        DEEP_ETC,
        "..\\..\\..\\..\\..\\..\\..\\..\\..\\..\\etc",
        "/etc",
    ] {
        etc_reader(
            &f,
            json!({"folderPath": folder, "fileName": "hostname"}),
            json!({"type": "FileServerReadSettings"}),
        );
        refused(
            &run_factory(&f, &[]),
            &["dataset 'In'", "folderPath", folder],
        );
        assert_eq!(db.count("dst").await, 0, "{folder}");
    }
}

#[tokio::test]
async fn wildcard_folder_path_cannot_read_etc_into_postgres() {
    let db = TestDb::new("confine_wild").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    std::fs::create_dir(jail.root.join("in")).unwrap();
    for wildcard in [DEEP_ETC, "in/../../../../../../../../../../../../../et?"] {
        etc_reader(
            &f,
            json!({"folderPath": "in"}),
            json!({"type": "FileServerReadSettings", "recursive": false,
                   "wildcardFolderPath": wildcard, "wildcardFileName": "hostname"}),
        );
        refused(
            &run_factory(&f, &[]),
            &["wildcardFolderPath", wildcard, "outside"],
        );
        refused(&validate(&f), &["wildcardFolderPath", wildcard]);
        assert_eq!(db.count("dst").await, 0, "{wildcard}");
    }
}

#[tokio::test]
async fn values_known_only_at_run_time_are_checked_too() {
    let db = TestDb::new("confine_runtime").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    f.put(
        "dataset",
        "Out",
        json!({"type": "DelimitedText",
               "linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
               "parameters": {"folder": {"type": "String"}},
               "typeProperties": {"location": {"type": "FileServerLocation", "fileName": "out.csv",
                   "folderPath": {"value": "@dataset().folder", "type": "Expression"}}}}),
    );
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "Each", "type": "ForEach", "typeProperties": {
            "isSequential": true,
            "items": {"value": "@createArray('ok', '../escape')", "type": "Expression"},
            "activities": [{
                "name": "Copy", "type": "Copy",
                "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
                "outputs": [{"referenceName": "Out", "type": "DatasetReference",
                             "parameters": {"folder": {"value": "@item()", "type": "Expression"}}}],
                "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                                   "sink": {"type": "DelimitedTextSink"}}}]}}]}),
    );
    let all = refused(
        &run_factory(&f, &[]),
        &["folderPath", "'../escape'", "outside"],
    );
    assert!(jail.root.join("ok/out.csv").is_file(), "{all}");
    assert_eq!(jail.escaped(&[]), Vec::<String>::new());
}

#[cfg(unix)]
#[tokio::test]
async fn symbolic_links_out_of_the_root_are_not_followed() {
    let db = TestDb::new("confine_link").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    let secret = jail.outer().join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("a.csv"), "99,secret\n").unwrap();
    std::os::unix::fs::symlink(&secret, jail.root.join("link")).unwrap();
    std::os::unix::fs::symlink(secret.join("a.csv"), jail.root.join("file.csv")).unwrap();
    std::fs::create_dir(jail.root.join("in")).unwrap();
    std::fs::write(jail.root.join("in/b.csv"), "1,inside\n").unwrap();
    std::os::unix::fs::symlink(&secret, jail.root.join("in/link")).unwrap();

    // Reads through a link to a folder or a file outside: refused.
    for (folder, file) in [("link", "a.csv"), ("", "file.csv")] {
        etc_reader(
            &f,
            json!({"folderPath": folder, "fileName": file}),
            json!({"type": "FileServerReadSettings"}),
        );
        refused(
            &run_factory(&f, &[]),
            &["dataset 'In'", "symbolic link", "outside"],
        );
        assert_eq!(db.count("dst").await, 0, "{folder}/{file}");
    }
    // A recursive read of a folder holding such a link reads only what is inside the root.
    etc_reader(
        &f,
        json!({"folderPath": "in"}),
        json!({"type": "FileServerReadSettings", "recursive": true}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(db.count("dst").await, 1);
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE \"Prop_1\" = 'secret'")
            .await,
        0
    );

    // Writes through a link: refused, the folder outside is untouched.
    csv_ds(
        &f,
        "Out",
        json!({"folderPath": "link", "fileName": "out.csv"}),
    );
    pg_to_csv(&f, json!({}));
    refused(
        &run_factory(&f, &[]),
        &["dataset 'Out'", "symbolic link", "outside"],
    );
    let names: Vec<_> = std::fs::read_dir(&secret).unwrap().collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // The session log through a link: refused too.
    csv_to_pg(&jail, &f, "Copy", log_settings("link"));
    refused(&run_factory(&f, &[]), &["symbolic link", "outside"]);
    let names: Vec<_> = std::fs::read_dir(&secret).unwrap().collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(jail.escaped(&["secret"]), Vec::<String>::new());
}

#[tokio::test]
async fn blob_prefixes_cannot_leave_their_folder() {
    let db = TestDb::new("confine_blob").await;
    let jail = Jail::new();
    let f = jail.factory(&db).await;
    let az = Azurite::start();
    az.create_container("data");
    az.put_blob("data", "in/a.json", b"{\"id\": 1, \"name\": \"x\"}\n");
    az.linked_service(&f, "Blob");
    for folder in ["../escape", "out\\..\\..\\escape", "out/../.."] {
        f.file_dataset(
            "Out",
            "Blob",
            "Json",
            json!({"type": "AzureBlobStorageLocation", "container": "data", "folderPath": folder}),
            Some("out.json"),
            json!({}),
        );
        f.copy_pipeline(
            "P",
            "Src",
            "Out",
            json!({"type": "AzurePostgreSqlSource"}),
            json!({"type": "JsonSink"}),
        );
        refused(
            &run_factory(&f, &[]),
            &["dataset 'Out'", "folderPath", "outside"],
        );
        assert_eq!(
            az.list_blobs("data"),
            vec!["in/a.json".to_string()],
            "{folder}"
        );
    }
    // A container name is one name.
    f.file_dataset(
        "Out",
        "Blob",
        "Json",
        json!({"type": "AzureBlobStorageLocation", "container": "../data", "folderPath": "x"}),
        Some("out.json"),
        json!({}),
    );
    refused(&validate(&f), &["dataset 'Out'", "container", "'../data'"]);
    // A log path in a blob container: `..` may not climb out of the container.
    csv_to_pg(&jail, &f, "Copy", json!({}));
    let logs = json!({"logSettings": {"enableCopyActivityLog": true,
        "logLocationSettings": {"linkedServiceName": {"referenceName": "Blob", "type": "LinkedServiceReference"},
                                "path": "data/logs/../../other"}}});
    csv_to_pg(&jail, &f, "Copy", logs);
    refused(
        &run_factory(&f, &[]),
        &["logSettings.logLocationSettings", "path", "outside"],
    );
    assert_eq!(az.list_blobs("data"), vec!["in/a.json".to_string()]);
    assert_eq!(db.count("dst").await, 0);
}
