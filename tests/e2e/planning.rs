//! Proves the pure planning layer against fixture folders, without any database or network:
//! each folder of `tests/fixtures/plan/` is a factory as ADF's git integration writes it, and
//! its `expected.txt` holds what `validate` reports (errors, warnings, Key Vault notes) and the
//! outline of every pipeline's plan. Plugins are looked for where `run` looks without options,
//! in the factory's `plugins/` folder. Run with `SLUICE_BLESS=1` to rewrite the expected files
//! after an intended change, then review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use sluice::engine;
use sluice::model::plan::plan_run;
use sluice::plugins::PluginRegistry;
use sluice::secrets::SecretBook;

/// A value that appears only inside a SecureString of a fixture: it must never be printed.
const FIXTURE_SECRET: &str = "fixture-pw-1";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("plan")
}

/// What planning says about one factory folder, with the folder's path made relative.
fn report(case: &Path) -> String {
    let mut out = String::new();
    match engine::load(case) {
        Err(e) => out.push_str(&format!("load error: {e}\n")),
        Ok(factory) => {
            let plugins = PluginRegistry::new([case.join("plugins")]);
            let found = engine::validate_with_plugins(&factory, &plugins);
            for (label, lines) in [
                ("error", &found.errors),
                ("warning", &found.warnings),
                ("note", &found.notes),
            ] {
                for l in lines {
                    out.push_str(&format!("{label}: {l}\n"));
                }
            }
            out.push_str(&format!("summary: {}\n", found.summary(&factory)));
            if found.errors.is_empty() {
                for name in factory.pipelines.keys() {
                    match plan_run(&factory, name, &[], &SecretBook::default()) {
                        Ok(plan) => out.push_str(&plan.summary()),
                        Err(e) => out.push_str(&format!("plan error: {e}\n")),
                    }
                }
            }
        }
    }
    let root = format!("{}/", case.display());
    out.replace(&root, "")
}

#[test]
fn planning_fixtures_match_their_expected_reports() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 17, "fixture folders missing: {cases:?}");
    let bless = std::env::var_os("SLUICE_BLESS").is_some();
    let mut mismatches = Vec::new();
    for case in &cases {
        let actual = report(case);
        assert!(
            !actual.contains(FIXTURE_SECRET),
            "{}: a secret reached the report:\n{actual}",
            case.display()
        );
        let expected_file = case.join("expected.txt");
        if bless {
            std::fs::write(&expected_file, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "== {}\n-- expected\n{expected}-- actual\n{actual}",
                case.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "planning reports differ (SLUICE_BLESS=1 rewrites them):\n{}",
        mismatches.join("\n")
    );
}

/// `sluice validate` of a path that does not exist says why once, not once per error layer.
#[test]
fn validate_of_a_missing_path_prints_the_os_error_once() {
    let missing = fixtures().join("no-such-factory");
    let run = sluice_e2e::sluice(&["validate", missing.to_str().unwrap()]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stderr,
        format!(
            "error: {}: cannot read: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

/// `sluice validate` looks for plugins where `run` does: `--plugins DIR` first, then the
/// factory's `plugins/` folder; the summary counts problems and definitions in words.
#[test]
fn validate_searches_the_plugin_folders_run_searches() {
    let case = fixtures().join("plugin_not_found");
    let run = sluice_e2e::sluice(&["validate", case.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.ends_with(": 3 problems found\n"),
        "{}",
        run.stderr
    );
    // With the missing plugins in a `--plugins` folder, only the version no folder has is left.
    let extra = tempfile::tempdir().unwrap();
    for file in ["no-such-transform@1.0.0.wasm", "no-such-mapper@0.1.0.wasm"] {
        std::fs::write(extra.path().join(file), b"").unwrap();
    }
    let run = sluice_e2e::sluice(&[
        "validate",
        case.to_str().unwrap(),
        "--plugins",
        extra.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.all());
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("activity 'Copy2'") && errors[0].contains("present@^2 not found"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.ends_with(": 1 problem found\n"),
        "{}",
        run.stderr
    );
    let valid = fixtures().join("valid_with_plugin");
    let run = sluice_e2e::sluice(&["validate", valid.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .ends_with("valid (1 linked service, 2 datasets, 1 pipeline)\n"),
        "{}",
        run.stdout
    );
}
