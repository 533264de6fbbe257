//! Proves the pure planning layer against fixture folders, without any database or network:
//! each folder of `tests/fixtures/plan/` is a factory as ADF's git integration writes it, and
//! its `expected.txt` holds what `validate` reports (errors, warnings, Key Vault notes) and the
//! outline of every pipeline's plan. Run with `SLUICE_BLESS=1` to rewrite the expected files
//! after an intended change, then review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use sluice::engine;
use sluice::model::plan::plan_run;
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
            let found = engine::validate(&factory);
            for (label, lines) in [
                ("error", &found.errors),
                ("warning", &found.warnings),
                ("note", &found.notes),
            ] {
                for l in lines {
                    out.push_str(&format!("{label}: {l}\n"));
                }
            }
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
    assert!(cases.len() >= 8, "fixture folders missing: {cases:?}");
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
