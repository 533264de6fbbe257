//! Proves `sluice run` draws honest progress on a terminal (issue 16): run under a
//! pseudo-terminal (util-linux `script`) and read back with a terminal emulator (`vt100`), two
//! parallel copies show exactly one live line each, with their labels and the tables' row
//! totals from the catalog; the lines go when the copies end (no stale lines); log lines stay on
//! lines of their own; parallel ForEach iterations get a line each, named by index and item,
//! and the summary names them the same way. Colour codes appear on a terminal, but not with
//! `NO_COLOR`, and never on a stderr that is not a terminal.
//!
//! The copies are held mid-run, not raced: the test locks both sink tables, so both copies open
//! their sources (their lines then show the totals) and wait on the locks until the test has
//! seen the screen it expects. It lets CopyOne go first and, CopyTwo still held, checks CopyOne's
//! "copy finished" log line lands above CopyTwo's live line; then lets CopyTwo go. Every screen
//! along the way is checked; nothing depends on how long anything takes.

use std::io::Read;
use std::process::{Command, Stdio};

use serde_json::json;
use sluice_e2e::*;

/// The pseudo-terminal's size, set inside it with `stty` and given to the emulator.
const ROWS: u16 = 40;
const COLS: u16 = 200;

/// Rows in each source table.
const SOURCE_ROWS: i64 = 50_000;

/// A Copy activity `name` of whole table dataset `src` into `dst`.
fn copy(name: &str, src: &str, dst: &str) -> serde_json::Value {
    json!({"name": name, "type": "Copy",
           "inputs": [{"referenceName": src, "type": "DatasetReference"}],
           "outputs": [{"referenceName": dst, "type": "DatasetReference"}],
           "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                              "sink": {"type": "AzurePostgreSqlSink"}}})
}

/// A factory with two independent copies (they run in parallel): `src1` -> `dst1` as
/// `CopyOne` and `src2` -> `dst2` as `CopyTwo`, whole tables, in `db`'s schema.
async fn two_copies(db: &TestDb) -> TestFactory {
    let f = tables(db).await;
    f.put(
        "pipeline",
        "P",
        json!({"activities": [copy("CopyOne", "src1", "dst1"), copy("CopyTwo", "src2", "dst2")]}),
    );
    f
}

/// Tables `src1`, `src2` (analyzed, so the catalog knows their rows), empty `dst1`, `dst2`,
/// and a dataset of the same name on each.
async fn tables(db: &TestDb) -> TestFactory {
    for t in ["src1", "src2"] {
        db.exec(&format!(
            "CREATE TABLE {{s}}.{t} AS SELECT g AS id, md5(g::text) AS h \
             FROM generate_series(1, {SOURCE_ROWS}) g; ANALYZE {{s}}.{t}; \
             CREATE TABLE {{s}}.{} (id int, h text);",
            t.replace("src", "dst")
        ))
        .await;
    }
    let f = TestFactory::new();
    f.local_pg("Pg");
    for t in ["src1", "src2", "dst1", "dst2"] {
        f.table(t, "Pg", &db.schema, t);
    }
    f
}

/// Quotes `s` for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `sluice run <factory> <tail>` under a pseudo-terminal of [`ROWS`] x [`COLS`]; its stdout
/// carries everything the terminal received. `tail` is shell text (more arguments, a
/// redirection). `env` is added; `NO_COLOR` is removed unless given.
fn under_terminal(factory: &TestFactory, env: &[(&str, &str)], tail: &str) -> std::process::Child {
    let inner = format!(
        "stty rows {ROWS} cols {COLS} && exec {} run {} {tail}",
        quote(sluice_bin().to_str().unwrap()),
        quote(factory.path().to_str().unwrap())
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", &inner, "/dev/null"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env("SLUICE_PLUGIN_CACHE", plugin_cache_dir())
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn()
        .expect("cannot start `script` (util-linux) for a pseudo-terminal")
}

/// Kills the run when a test fails before it ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Streams what the terminal received, chunk by chunk, until the run ends (`None`).
fn stream(child: &mut std::process::Child) -> tokio::sync::mpsc::UnboundedReceiver<Vec<u8>> {
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Feeds the next chunk the terminal received to `term` (and `bytes`); false when the run has
/// ended. A run silent for [`STEP_TIMEOUT`] fails the test (a hang guard).
async fn feed(
    chunks: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    term: &mut vt100::Parser,
    bytes: &mut Vec<u8>,
) -> bool {
    let chunk = tokio::time::timeout(STEP_TIMEOUT, chunks.recv())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the run made no output for {STEP_TIMEOUT:?}; screen:\n{}",
                dump(term.screen())
            )
        });
    match chunk {
        Some(chunk) => {
            bytes.extend_from_slice(&chunk);
            term.process(&chunk);
            true
        }
        None => false,
    }
}

fn emulator() -> vt100::Parser {
    vt100::Parser::new(
        std::num::NonZeroU16::new(ROWS).unwrap(),
        std::num::NonZeroU16::new(COLS).unwrap(),
        0,
    )
}

/// The screen's rows that are a copy's progress line (`<label>: ...`).
fn live_lines(screen: &vt100::Screen, label: &str) -> Vec<String> {
    let marker = format!("{label}: ");
    screen
        .rows(0, COLS)
        .filter(|row| row.contains(&marker))
        .collect()
}

fn dump(screen: &vt100::Screen) -> String {
    screen.contents()
}

/// Whether `bytes` hold an SGR (colour, bold) escape sequence: ESC [ digits/semicolons m.
fn has_sgr(bytes: &[u8]) -> bool {
    bytes.windows(2).enumerate().any(|(i, w)| {
        w == b"\x1b[" && {
            let rest = &bytes[i + 2..];
            let n = rest
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b';')
                .count();
            rest.get(n) == Some(&b'm')
        }
    })
}

/// Where [`two_parallel_copies_show_one_live_line_each_and_leave_none_behind`] is.
#[derive(Debug, PartialEq)]
enum Stage {
    /// Both copies held: waiting for both lines, with their totals.
    BothLive,
    /// CopyOne let go: waiting for its "copy finished" log while CopyTwo is still held.
    OneFinishing,
    /// Both let go: reading to the end.
    Draining,
}

/// Locks `table` of `db` until the returned client commits (or is dropped).
async fn hold(db: &TestDb, table: &str) -> tokio_postgres::Client {
    let holder = connect_local().await;
    holder
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE \"{}\".{table} IN ACCESS EXCLUSIVE MODE",
            db.schema
        ))
        .await
        .unwrap();
    holder
}

#[tokio::test(flavor = "multi_thread")]
async fn two_parallel_copies_show_one_live_line_each_and_leave_none_behind() {
    let db = TestDb::new("terminal").await;
    let factory = two_copies(&db).await;
    // Hold both sinks: the copies open their sources, then wait until the test commits.
    let hold_one = hold(&db, "dst1").await;
    let hold_two = hold(&db, "dst2").await;

    let mut run = Reaped(under_terminal(&factory, &[], ""));
    let mut chunks = stream(&mut run.0);
    let mut term = emulator();
    let mut bytes = Vec::new();
    let mut stage = Stage::BothLive;
    let mut samples_after_log = 0;
    let total = format!("/{} rows", "50,000");
    while feed(&mut chunks, &mut term, &mut bytes).await {
        let screen = term.screen();
        let rows: Vec<String> = screen.rows(0, COLS).collect();
        let one = live_lines(screen, "CopyOne");
        let two = live_lines(screen, "CopyTwo");
        // Every sample: never more than one line for a copy (no copy drawn over twice, no
        // stale line left above a live one), and log lines on lines of their own.
        assert!(
            one.len() <= 1 && two.len() <= 1,
            "a copy has more than one line on screen:\n{}",
            dump(screen)
        );
        for row in rows.iter().filter(|r| r.contains("INFO")) {
            assert!(
                row.starts_with("20") && !row.contains("rows/s"),
                "a log line is glued to a progress line: {row:?}\n{}",
                dump(screen)
            );
        }
        match stage {
            Stage::BothLive
                if one.len() == 1
                    && two.len() == 1
                    && one[0].contains(&total)
                    && two[0].contains(&total) =>
            {
                // Both copies live at once, each on its own line with its table's estimate.
                hold_one.batch_execute("COMMIT").await.unwrap();
                stage = Stage::OneFinishing;
            }
            Stage::OneFinishing => {
                let logged = rows
                    .iter()
                    .position(|r| r.contains("copy finished activity=CopyOne"));
                if let Some(logged) = logged {
                    // CopyOne's line goes with it; CopyTwo's is drawn again below the log
                    // line. The redraw may come in a later chunk than the log line, so
                    // wait for it, for a bounded number of samples (the bars tick every
                    // 200 ms, so the output never stops while CopyTwo is held).
                    let live = rows.iter().position(|r| r.contains("CopyTwo: "));
                    if one.is_empty() && live.is_some_and(|live| live > logged) {
                        hold_two.batch_execute("COMMIT").await.unwrap();
                        stage = Stage::Draining;
                    } else {
                        samples_after_log += 1;
                        assert!(
                            samples_after_log < 200,
                            "after CopyOne's log line, CopyOne's line should go and \
                             CopyTwo's be live below the log:\n{}",
                            dump(screen)
                        );
                    }
                }
            }
            _ => {}
        }
    }
    let status = run.0.wait().unwrap();
    let screen = term.screen();
    assert_eq!(
        stage,
        Stage::Draining,
        "the run ended before the screens expected:\n{}",
        dump(screen)
    );
    assert!(status.success(), "the run failed:\n{}", dump(screen));
    for label in ["CopyOne", "CopyTwo"] {
        assert!(
            live_lines(screen, label).is_empty(),
            "{label}'s line stayed after the run:\n{}",
            dump(screen)
        );
    }
    let rows: Vec<String> = screen.rows(0, COLS).collect();
    assert!(
        !rows.iter().any(|r| r.contains(" 0 rows")),
        "a stale 0-rows line is left:\n{}",
        dump(screen)
    );
    // Log lines ("copy finished" of each copy) start their own line, with their timestamp.
    let finished: Vec<&String> = rows
        .iter()
        .filter(|r| r.contains("copy finished"))
        .collect();
    assert_eq!(finished.len(), 2, "{}", dump(screen));
    for line in finished {
        assert!(
            line.starts_with("20") && !line.contains("rows/s"),
            "a log line is glued to a progress line: {line:?}"
        );
    }
    // The summary counts bytes in the same (binary) units as the lines.
    assert!(
        rows.iter()
            .any(|r| r.contains("CopyOne (Copy): Succeeded, 50000 rows") && r.contains("MiB read")),
        "{}",
        dump(screen)
    );
    // On a terminal without NO_COLOR, colour codes are there (the checks below could fail).
    assert!(has_sgr(&bytes), "no colour on a terminal");
    assert_eq!(db.count("dst1").await, SOURCE_ROWS);
    assert_eq!(db.count("dst2").await, SOURCE_ROWS);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_colour_with_no_color_or_off_a_terminal() {
    let db = TestDb::new("terminal").await;
    let factory = two_copies(&db).await;

    let mut run = Reaped(under_terminal(&factory, &[("NO_COLOR", "1")], ""));
    let mut out = Vec::new();
    run.0.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(run.0.wait().unwrap().success());
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("pipeline P Succeeded"),
        "the run did not reach the terminal:\n{text}"
    );
    assert!(!has_sgr(&out), "colour codes with NO_COLOR:\n{text:?}");

    // Piped stderr with --output json: no escape sequences at all, and stdout is only JSON.
    let path = factory.path().to_str().unwrap().to_string();
    let piped = sluice_env(&["run", &path, "--output", "json"], &[("TERM", "xterm")]);
    assert_eq!(piped.code, 0, "{}", piped.all());
    assert_eq!(piped.json()["status"], "Succeeded");
    assert!(
        piped.stderr.contains("copy finished"),
        "logs expected on stderr: {}",
        piped.stderr
    );
    assert!(
        !piped.stderr.contains('\x1b'),
        "escape sequences on a stderr that is not a terminal: {:?}",
        piped.stderr
    );
}

#[test]
fn sgr_detection_finds_colour_and_ignores_cursor_moves() {
    assert!(has_sgr(b"x\x1b[32m INFO\x1b[0m"));
    assert!(has_sgr(b"\x1b[1;36mCopy"));
    assert!(!has_sgr(b"\x1b[1A\r\x1b[2K\x1b[1B"));
    assert!(!has_sgr(b"plain"));
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_foreach_iterations_get_a_line_each_named_by_item() {
    let db = TestDb::new("terminal").await;
    let factory = tables(&db).await;
    factory.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "Each", "type": "ForEach", "typeProperties": {
            "items": {"value": "@createArray('a', 'b')", "type": "Expression"},
            "isSequential": false,
            "activities": [copy("CopyOne", "src1", "dst1")]}}]}),
    );
    let hold_dst = hold(&db, "dst1").await;

    let mut run = Reaped(under_terminal(&factory, &[], ""));
    let mut chunks = stream(&mut run.0);
    let mut term = emulator();
    let mut bytes = Vec::new();
    let mut released = false;
    while feed(&mut chunks, &mut term, &mut bytes).await {
        let screen = term.screen();
        let first = live_lines(screen, "Each[0:a] CopyOne");
        let second = live_lines(screen, "Each[1:b] CopyOne");
        assert!(
            first.len() <= 1 && second.len() <= 1,
            "an iteration has more than one line:\n{}",
            dump(screen)
        );
        if !released && first.len() == 1 && second.len() == 1 {
            hold_dst.batch_execute("COMMIT").await.unwrap();
            released = true;
        }
    }
    let status = run.0.wait().unwrap();
    let screen = term.screen();
    assert!(
        released,
        "the screen never showed both iterations' lines:\n{}",
        dump(screen)
    );
    assert!(status.success(), "the run failed:\n{}", dump(screen));
    let rows: Vec<String> = screen.rows(0, COLS).collect();
    for iteration in ["Each[0:a]", "Each[1:b]"] {
        let label = format!("{iteration} CopyOne");
        assert!(live_lines(screen, &label).is_empty(), "{}", dump(screen));
        // The summary tells the iterations apart too.
        assert!(
            rows.iter()
                .any(|r| r.contains(&format!("{label} (Copy): Succeeded, 50000 rows"))),
            "{}",
            dump(screen)
        );
    }
    assert_eq!(db.count("dst1").await, 2 * SOURCE_ROWS);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_keeps_progress_on_a_terminal_stderr() {
    let db = TestDb::new("terminal").await;
    let factory = two_copies(&db).await;
    let hold_one = hold(&db, "dst1").await;
    let hold_two = hold(&db, "dst2").await;
    // stdout to a file (as `| jq` would take it), stderr on the terminal.
    let out = tempfile::tempdir().unwrap();
    let json_path = out.path().join("run.json");
    let tail = format!("--output json > {}", quote(json_path.to_str().unwrap()));

    let mut run = Reaped(under_terminal(&factory, &[], &tail));
    let mut chunks = stream(&mut run.0);
    let mut term = emulator();
    let mut bytes = Vec::new();
    let mut released = false;
    while feed(&mut chunks, &mut term, &mut bytes).await {
        let screen = term.screen();
        let one = live_lines(screen, "CopyOne");
        let two = live_lines(screen, "CopyTwo");
        assert!(one.len() <= 1 && two.len() <= 1, "{}", dump(screen));
        if !released && one.len() == 1 && two.len() == 1 {
            hold_one.batch_execute("COMMIT").await.unwrap();
            hold_two.batch_execute("COMMIT").await.unwrap();
            released = true;
        }
    }
    assert!(run.0.wait().unwrap().success(), "{}", dump(term.screen()));
    assert!(
        released,
        "no progress lines on the terminal with --output json:\n{}",
        dump(term.screen())
    );
    let stdout = std::fs::read_to_string(&json_path).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&stdout).expect("stdout holds only the run's JSON");
    assert!(stdout.contains("\"activities\""), "{stdout}");
    assert!(
        !String::from_utf8_lossy(&bytes).contains("\"activities\""),
        "the JSON reached the terminal"
    );
    assert_eq!(json["status"], "Succeeded");
}
