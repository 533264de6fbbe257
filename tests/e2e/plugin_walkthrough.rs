//! README's "Write a plugin", run as written. The commands, the SQL and the factory's JSON
//! files are read from README.md itself, so the walk-through and this test cannot drift apart.
//! It runs in a temporary folder outside the checkout (the new crate must need nothing from
//! it), with Cargo offline (the crate's pinned lockfile must resolve from the cache alone),
//! against a fresh schema of the local PostgreSQL server, and checks the copied rows exactly.
//! Then the same crate with a type error: the build fails with the compiler's error and without
//! advice to install the wasm target.

use std::path::Path;

use serde_json::{json, Value};
use sluice_e2e::*;

/// What the README's "Write a plugin" section holds.
struct Walkthrough {
    /// Each `sluice ...` line of its `sh` blocks, split into arguments, with its comment.
    commands: Vec<(Vec<String>, String)>,
    /// Its `sql` block.
    sql: String,
    /// Each `json` block that follows a line naming its file (`` `myfactory/dataset/X.json`: ``).
    files: Vec<(String, String)>,
}

fn walkthrough() -> Walkthrough {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("\n### Write a plugin\n")
        .nth(1)
        .expect("README.md has a \"### Write a plugin\" section");
    let section = section.split("\n## ").next().unwrap();
    let mut w = Walkthrough {
        commands: Vec::new(),
        sql: String::new(),
        files: Vec::new(),
    };
    let mut lines = section.lines();
    let mut previous = "";
    while let Some(line) = lines.next() {
        let Some(lang) = line.strip_prefix("```").filter(|l| !l.is_empty()) else {
            if !line.trim().is_empty() {
                previous = line;
            }
            continue;
        };
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        match lang {
            "sh" => {
                for l in block {
                    let (command, comment) = l.split_once(" #").unwrap_or((l, ""));
                    let args: Vec<String> =
                        command.split_whitespace().map(str::to_string).collect();
                    if args.first().is_some_and(|a| a == "sluice") {
                        w.commands
                            .push((args[1..].to_vec(), comment.trim().to_string()));
                    }
                }
            }
            "sql" => w.sql = block.join("\n"),
            "json" => {
                let file = previous
                    .split('`')
                    .nth(1)
                    .filter(|f| f.ends_with(".json"))
                    .unwrap_or_else(|| {
                        panic!("a json block in the walk-through follows {previous:?}, not a file name")
                    });
                w.files.push((file.to_string(), block.join("\n")));
            }
            other => panic!("unexpected ```{other} block in the walk-through"),
        }
        previous = "";
    }
    w
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_readme_walkthrough_builds_and_runs_a_new_plugin_outside_the_checkout() {
    let w = walkthrough();
    // The README walks through all of it: new, build, inspect, run; a linked service, two
    // datasets and a pipeline.
    let verbs: Vec<&str> = w
        .commands
        .iter()
        .map(|(a, _)| {
            if a[0] == "plugin" {
                a[1].as_str()
            } else {
                a[0].as_str()
            }
        })
        .collect();
    assert_eq!(verbs, ["new", "build", "inspect", "run"], "{verbs:?}");
    for folder in ["linkedService/", "dataset/", "pipeline/"] {
        assert!(
            w.files.iter().any(|(f, _)| f.contains(folder)),
            "no {folder} file in the walk-through"
        );
    }
    assert!(w.sql.contains("CREATE TABLE"), "{}", w.sql);

    let db = TestDb::new("walkthrough").await;
    db.exec(&format!("SET search_path TO {{s}};\n{}", w.sql))
        .await;
    let work = tempfile::tempdir().unwrap();
    let checkout = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .canonicalize()
        .unwrap();
    assert!(!work.path().starts_with(&checkout));
    let mut linked_services = Vec::new();
    for (file, text) in &w.files {
        let doc: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("README's {file} is not JSON: {e}\n{text}"));
        if file.contains("/linkedService/") {
            linked_services.push(doc["name"].as_str().unwrap().to_string());
        }
        let path = work.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    // The linked service names the reader's server; the test points it at its own schema.
    let url = pg_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let connection = format!("{}={url}{sep}search_path={}", linked_services[0], db.schema);
    // A shared target directory keeps re-runs incremental; offline proves the pinned
    // lockfile resolves from Cargo's cache alone.
    let target = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/plugin-template");
    let env = [("CARGO_TARGET_DIR", target), ("CARGO_NET_OFFLINE", "true")];

    let mut krate = None;
    let mut lock_as_written = String::new();
    let mut run_comment = String::new();
    for (args, comment) in &w.commands {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        if args[0] == "run" {
            args.extend(["--output", "json", "--connection", &connection]);
            run_comment = comment.clone();
        }
        let run = sluice_in(work.path(), &args, &env, BUILD_TIMEOUT);
        assert_eq!(run.code, 0, "sluice {}: {}", args.join(" "), run.all());
        match args[..] {
            ["plugin", "new", name, ..] => {
                let dir = work.path().join(name);
                lock_as_written = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
                // Nothing in the crate points back into the checkout.
                for entry in walk(&dir) {
                    let text = std::fs::read_to_string(&entry).unwrap();
                    assert!(
                        !text.contains(checkout.to_str().unwrap()),
                        "{} names the checkout",
                        entry.display()
                    );
                }
                krate = Some(dir);
            }
            ["plugin", "build", ..] => {
                assert!(run.stdout.contains("shout@0.1.0.wasm"), "{}", run.stdout);
                // Cargo found nothing to change in the lockfile it was given.
                let dir = krate.as_ref().expect("plugin new comes first");
                let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
                assert!(
                    lock == lock_as_written,
                    "cargo rewrote the pinned Cargo.lock"
                );
            }
            ["plugin", "inspect", ..] => {
                assert!(
                    run.stdout.contains("plugin:      shout@0.1.0"),
                    "{}",
                    run.stdout
                );
            }
            ["run", ..] => {
                let out = run.json();
                assert_eq!(out["status"], "Succeeded", "{}", run.stdout);
                assert_eq!(activity_output(&out)["rowsCopied"], 3, "{}", run.stdout);
            }
            _ => panic!("unexpected command in the walk-through: {args:?}"),
        }
    }

    // Every row arrived, with its name upper-cased and the rest untouched.
    assert_eq!(db.count("people").await, 3);
    assert_eq!(db.count("people_loud").await, 3);
    let wrong = db
        .query_i64(
            "SELECT count(*) FROM {s}.people p FULL JOIN {s}.people_loud l USING (id)
             WHERE l.name IS DISTINCT FROM upper(p.name) OR l.email IS DISTINCT FROM p.email",
        )
        .await;
    assert_eq!(wrong, 0);
    // What the README says the run leaves behind is what it left behind.
    let names = db
        .client
        .query(
            format!("SELECT name FROM \"{}\".people_loud ORDER BY id", db.schema).as_str(),
            &[],
        )
        .await
        .unwrap();
    for row in names {
        let name: String = row.get(0);
        assert!(run_comment.contains(&name), "{name} in {run_comment:?}");
    }

    // The template refuses a config naming an unknown column, before any row moves.
    let pipeline = w
        .files
        .iter()
        .find(|(f, _)| f.contains("/pipeline/"))
        .map(|(f, _)| work.path().join(f))
        .unwrap();
    let mut doc = read_json(&pipeline);
    doc["properties"]["activities"][0]["typeProperties"]["source"]["transforms"][0]["config"] =
        json!({"columns": ["nope"]});
    std::fs::write(&pipeline, doc.to_string()).unwrap();
    let factory = pipeline.parent().unwrap().parent().unwrap();
    let run = sluice_in(
        work.path(),
        &[
            "run",
            factory.to_str().unwrap(),
            "--output",
            "json",
            "--connection",
            &connection,
        ],
        &[],
        STEP_TIMEOUT,
    );
    assert_eq!(run.json()["status"], "Failed", "{}", run.stdout);
    assert!(first_error(&run).contains("nope"), "{}", run.stdout);
    assert_eq!(db.count("people_loud").await, 3);

    // A type error in the plugin: the compiler's error, not advice to install the target.
    let krate = krate.unwrap();
    let lib = krate.join("src").join("lib.rs");
    let mut code = std::fs::read_to_string(&lib).unwrap();
    code.push_str("\npub fn broken() -> u32 {\n    \"not a number\"\n}\n");
    std::fs::write(&lib, code).unwrap();
    let run = sluice_in(
        work.path(),
        &["plugin", "build", "shout", "--out", "myfactory/plugins"],
        &env,
        BUILD_TIMEOUT,
    );
    assert_ne!(run.code, 0, "{}", run.all());
    // The error sluice ends with quotes the compiler's own first error.
    let last = run
        .stderr
        .split("building plugins in shout failed")
        .nth(1)
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(last.contains("error[E0308]: mismatched types"), "{last}");
    assert!(last.contains("src/lib.rs"), "{last}");
    assert!(!run.stderr.contains("rustup target add"), "{}", run.stderr);
}

/// Every file under `dir`, `target/` aside.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().unwrap() != "target" {
                out.extend(walk(&path));
            }
        } else {
            out.push(path);
        }
    }
    out
}
