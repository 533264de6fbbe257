//! Proves `sluice demo` works on a fresh machine: it starts its own throw-away cluster with
//! initdb/pg_ctl, fills the source table, copies it to a table and through CSV, and checks all
//! three tables hold the same rows; and that it uses `SLUICE_PG_URL` when that is set.

use sluice_e2e::*;

#[test]
fn demo_runs_on_a_throw_away_cluster() {
    let out = tempfile::tempdir().unwrap();
    let run = sluice_env(
        &["demo", "--rows", "20000"],
        &[
            ("SLUICE_PG_URL", ""),
            ("SLUICE_DEMO_OUT", out.path().to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr
            .contains("starting a throw-away PostgreSQL cluster"),
        "{}",
        run.stderr
    );
    for t in ["events_copy", "events_from_csv"] {
        assert!(
            run.stderr
                .contains(&format!("sluice_demo.{t} holds exactly the 20000 rows")),
            "{}",
            run.all()
        );
    }
    assert!(
        run.stdout.contains("pipeline DemoCopy Succeeded"),
        "{}",
        run.stdout
    );
}

#[test]
fn demo_uses_sluice_pg_url_when_set() {
    let out = tempfile::tempdir().unwrap();
    let run = sluice_env(
        &["demo", "--rows", "5000"],
        &[
            ("SLUICE_PG_URL", &pg_url()),
            ("SLUICE_DEMO_OUT", out.path().to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains("using the server in SLUICE_PG_URL"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("sluice_demo.events_from_csv holds exactly the 5000 rows"),
        "{}",
        run.all()
    );
    let csv = std::fs::read_to_string(out.path().join("events.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5001, "header plus one line per row");
}
