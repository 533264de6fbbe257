//! Proves the Delete activity through the real `sluice` binary on the folder tree of ADF's
//! "Delete Activity" page (Root/Folder_A_1, Root/Folder_A_2 with Folder_B_1 and Folder_B_2):
//! each documented combination of folderPath, fileName and recursive deletes exactly the files
//! the page strikes out; the output has ADF's keys; the log file is ADF's CSV
//! (Name, Category, Status, Error); a path leaving the store, a dataset naming the whole store
//! and a missing named file are refused, a link out of the store is not followed; and the same
//! works on Blob Storage (Azurite) with a Binary dataset, as in ADF's samples.

use std::path::Path;

use serde_json::{json, Value};
use sluice_e2e::azurite::Azurite;
use sluice_e2e::*;

const TREE: [&str; 8] = [
    "Root/Folder_A_1/1.txt",
    "Root/Folder_A_1/2.txt",
    "Root/Folder_A_1/3.csv",
    "Root/Folder_A_2/4.txt",
    "Root/Folder_A_2/5.csv",
    "Root/Folder_A_2/Folder_B_1/6.txt",
    "Root/Folder_A_2/Folder_B_1/7.csv",
    "Root/Folder_A_2/Folder_B_2/8.txt",
];

fn files_ls(f: &TestFactory, name: &str, root: &Path) {
    f.put(
        "linkedService",
        name,
        json!({"type": "FileServer", "typeProperties": {"host": root.to_str().unwrap()}}),
    );
}

/// A fresh copy of the documented tree, and a factory with linked service `Files` on it.
fn tree() -> (TestFactory, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    for rel in TREE {
        let p = root.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, rel).unwrap();
    }
    let f = TestFactory::new();
    files_ls(&f, "Files", root.path());
    (f, root)
}

/// The files of `TREE` still there.
fn left(root: &Path) -> Vec<&'static str> {
    TREE.into_iter().filter(|r| root.join(r).exists()).collect()
}

/// Dataset `D` (DelimitedText) on `folder` / `file`, pipeline `P` deleting it.
fn delete_pipeline(f: &TestFactory, folder: &str, file: Option<&str>, extra: Value) {
    let location = json!({"type": "FileServerLocation", "folderPath": folder});
    f.file_dataset("D", "Files", "DelimitedText", location, file, json!({}));
    let mut tp = json!({"dataset": {"referenceName": "D", "type": "DatasetReference"}});
    for (k, v) in extra.as_object().unwrap() {
        tp[k] = v.clone();
    }
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "Delete", "type": "Delete", "typeProperties": tp}]}),
    );
}

fn settings(recursive: bool) -> Value {
    json!({"storeSettings": {"type": "FileServerReadSettings", "recursive": recursive}})
}

#[tokio::test]
async fn documented_combinations_on_a_local_folder() {
    // folderPath Root/Folder_A_2, no fileName, recursive false: only the folder's own files.
    let (f, root) = tree();
    delete_pipeline(&f, "Root/Folder_A_2", None, settings(false));
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = activity_output(&run.json()).clone();
    assert_eq!(out["filesDeleted"], 2, "{out}");
    assert_eq!(out["datasetName"], "D");
    assert_eq!(out["recursive"], false);
    assert_eq!(out["isWildcardUsed"], false);
    assert_eq!(out["maxConcurrentConnections"], 1);
    assert!(out.get("logPath").is_none(), "{out}");
    assert_eq!(
        left(root.path()),
        [
            "Root/Folder_A_1/1.txt",
            "Root/Folder_A_1/2.txt",
            "Root/Folder_A_1/3.csv",
            "Root/Folder_A_2/Folder_B_1/6.txt",
            "Root/Folder_A_2/Folder_B_1/7.csv",
            "Root/Folder_A_2/Folder_B_2/8.txt",
        ]
    );

    // recursive true: the folder goes with everything in it.
    let (f, root) = tree();
    delete_pipeline(&f, "Root/Folder_A_2", None, settings(true));
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity_output(&run.json())["filesDeleted"], 5);
    assert_eq!(left(root.path()), &TREE[..3]);
    assert!(!root.path().join("Root/Folder_A_2").exists());
    assert!(root.path().join("Root").is_dir());

    // fileName *.txt, recursive false / true: only .txt files, in the folder or below it.
    let (f, root) = tree();
    delete_pipeline(&f, "Root/Folder_A_2", Some("*.txt"), settings(false));
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity_output(&run.json())["isWildcardUsed"], true);
    assert!(!root.path().join("Root/Folder_A_2/4.txt").exists());
    assert_eq!(left(root.path()).len(), 7);

    let (f, root) = tree();
    delete_pipeline(
        &f,
        "Root/Folder_A_2",
        Some("*.txt"),
        json!({"storeSettings": {"type": "FileServerReadSettings", "recursive": true},
               "maxConcurrentConnections": 3}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity_output(&run.json())["filesDeleted"], 3);
    assert_eq!(activity_output(&run.json())["maxConcurrentConnections"], 3);
    assert_eq!(
        left(root.path()),
        [
            "Root/Folder_A_1/1.txt",
            "Root/Folder_A_1/2.txt",
            "Root/Folder_A_1/3.csv",
            "Root/Folder_A_2/5.csv",
            "Root/Folder_A_2/Folder_B_1/7.csv",
        ]
    );
    // The wildcard keeps the folders.
    assert!(root.path().join("Root/Folder_A_2/Folder_B_2").is_dir());
}

#[tokio::test]
async fn log_file_is_adfs_csv() {
    let (f, root) = tree();
    let logs = tempfile::tempdir().unwrap();
    files_ls(&f, "Logs", logs.path());
    delete_pipeline(
        &f,
        "Root/Folder_A_2",
        Some("*.txt"),
        json!({"storeSettings": {"type": "FileServerReadSettings", "recursive": true},
               "enableLogging": true,
               "logStorageSettings": {"linkedServiceName": {"referenceName": "Logs", "type": "LinkedServiceReference"},
                                      "path": "deletelogs"}}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let log_path = activity_output(&run.json())["logPath"]
        .as_str()
        .unwrap()
        .to_string();
    let folder = Path::new(&log_path);
    assert!(
        folder.starts_with(logs.path().join("deletelogs")),
        "{log_path}"
    );
    let files: Vec<_> = std::fs::read_dir(folder).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one log file in {log_path}");
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert_eq!(
        text,
        "Name,Category,Status,Error\n\
         Root/Folder_A_2/4.txt,File,Deleted,\n\
         Root/Folder_A_2/Folder_B_1/6.txt,File,Deleted,\n\
         Root/Folder_A_2/Folder_B_2/8.txt,File,Deleted,\n"
    );
    assert_eq!(left(root.path()).len(), 5);
}

#[tokio::test]
async fn refuses_paths_outside_the_store_and_the_whole_store() {
    let outer = tempfile::tempdir().unwrap();
    let store = outer.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(outer.path().join("precious.txt"), "keep").unwrap();
    std::fs::write(store.join("a.txt"), "a").unwrap();
    let f = TestFactory::new();
    files_ls(&f, "Files", &store);

    delete_pipeline(&f, "..", Some("precious.txt"), json!({}));
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(run.all().contains("outside"), "{}", run.all());
    assert!(outer.path().join("precious.txt").exists());

    // The root itself, with nothing naming the files: refused, nothing deleted.
    delete_pipeline(&f, "", None, settings(true));
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(run.all().contains("root of its store"), "{}", run.all());
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(store.join("a.txt").exists());

    // Asked clearly (fileName '*'), the root's files go, the root stays; a symbolic link that
    // leads out of the store is not followed.
    let secret = outer.path().join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("s.txt"), "keep").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, store.join("link")).unwrap();
    delete_pipeline(&f, "", Some("*"), settings(true));
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!store.join("a.txt").exists());
    assert!(store.is_dir());
    assert!(outer.path().join("precious.txt").exists());
    assert!(secret.join("s.txt").exists());

    // A named file that is not there fails naming it.
    delete_pipeline(&f, "", Some("missing.txt"), json!({}));
    let run = run_factory(&f, &[]);
    assert_one_clean_error(&run, &["dataset 'D'", "missing.txt"]);
}

#[tokio::test]
async fn blob_wildcards_and_a_log_in_a_container() {
    let az = Azurite::start();
    az.create_container("data");
    az.create_container("logs");
    for name in ["in/a.csv", "in/b.csv", "in/keep.txt", "in/sub/c.csv"] {
        az.put_blob("data", name, b"id\n1\n");
    }
    let f = TestFactory::new();
    az.linked_service(&f, "Blob");
    let location =
        json!({"type": "AzureBlobStorageLocation", "container": "data", "folderPath": "in"});
    // A Binary dataset, as in ADF's Delete samples.
    f.file_dataset("D", "Blob", "Binary", location, Some("*.csv"), json!({}));
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "Delete", "type": "Delete", "typeProperties": {
            "dataset": {"referenceName": "D", "type": "DatasetReference"},
            "storeSettings": {"type": "AzureBlobStorageReadSettings", "recursive": false},
            "enableLogging": true,
            "logStorageSettings": {"linkedServiceName": {"referenceName": "Blob", "type": "LinkedServiceReference"},
                                   "path": "logs/delete"}}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = activity_output(&run.json()).clone();
    assert_eq!(out["filesDeleted"], 2, "{out}");
    let mut blobs = az.list_blobs("data");
    blobs.sort();
    assert_eq!(blobs, ["in/keep.txt", "in/sub/c.csv"]);
    let log_path = out["logPath"].as_str().unwrap();
    assert!(log_path.starts_with("logs/delete/"), "{log_path}");
    let logs = az.list_blobs("logs");
    assert_eq!(logs.len(), 1, "{logs:?}");
    let text = String::from_utf8(az.get_blob("logs", &logs[0]).unwrap()).unwrap();
    assert_eq!(
        text,
        "Name,Category,Status,Error\nin/a.csv,File,Deleted,\nin/b.csv,File,Deleted,\n"
    );
}
