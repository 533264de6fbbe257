//! The benchmark suite: the `sluice` binary against `psql` (and `pgloader` when installed) on
//! the same data in one run, each case as a child process, timed from spawn to exit.
//!
//! Run: `cargo bench -p sluice --bench suite`. It runs `cargo build --release -p sluice` for the
//! binary and builds `guest-plugins/` for wasm32-wasip2, uses `SLUICE_PG_URL` or starts a
//! throw-away cluster, fills `sluice_demo.events` with `SLUICE_BENCH_ROWS` rows (default
//! 5,000,000) and runs every case `SLUICE_BENCH_RUNS` times (default 3; Lookup 10 times),
//! reporting medians. The Markdown table is printed and written between the markers in
//! `BENCHMARKS.md` (`SLUICE_BENCH_DOC=0` leaves the file alone). See BENCHMARKS.md for the cases.
//! `SLUICE_BENCH_ONLY=identity,lookup` runs only the cases whose names contain one of the parts
//! (plus the baseline) and leaves BENCHMARKS.md alone.

mod common;

use common::{
    build_bench_plugins, build_sluice, env_usize, private_copy, server_url, source_revision, tail,
    write_demo_tables, write_doc,
};
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use sluice::stores::postgres::connect::connect;
use sluice::stores::postgres::session::PgSession;
use tokio::runtime::Runtime;

const BEGIN: &str = "<!-- bench:begin (written by `cargo bench -p sluice --bench suite`) -->";
const END: &str = "<!-- bench:end -->";
const LOOKUP_RUNS: usize = 10;
/// The baseline case's name.
const BASELINE: &str = "psql \\copy binary | psql \\copy (baseline)";

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied()
}

fn main() -> Result<()> {
    let rows = env_usize("SLUICE_BENCH_ROWS", 5_000_000)?.max(10);
    let runs = env_usize("SLUICE_BENCH_RUNS", 3)?.max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()?;

    eprintln!("building the sluice binary (cargo build --release -p sluice) ...");
    let built = build_sluice(&root)?;
    let (_bin_dir, sluice_bin) = private_copy(&built)?;
    let plugin_dir = build_bench_plugins(&root)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (endpoint, cluster) = rt.block_on(sluice::cli::demo::server())?;
    let url = server_url(&cluster)?;
    let result = (|| -> Result<()> {
        let client = rt.block_on(connect(&endpoint, "sluice bench suite"))?;
        let db = Db { rt: &rt, client };
        let mut bench = Bench::new(&root, sluice_bin, plugin_dir, url, db, rows, runs)?;
        bench.run_all()
    })();
    if let Some(mut c) = cluster {
        c.stop();
    }
    result
}

/// A client to the bench server, driven synchronously.
struct Db<'a> {
    rt: &'a Runtime,
    client: PgSession,
}

impl Db<'_> {
    fn exec(&self, sql: &str) -> Result<()> {
        self.rt
            .block_on(self.client.batch_execute(sql))
            .with_context(|| format!("running {sql}"))
    }

    fn int(&self, sql: &str) -> Result<i64> {
        let row = self
            .rt
            .block_on(self.client.query_one(sql, &[]))
            .with_context(|| format!("running {sql}"))?;
        Ok(row.try_get(0)?)
    }

    fn count(&self, table: &str) -> Result<u64> {
        let n = self.int(&format!("SELECT count(*) FROM sluice_demo.{table}"))?;
        Ok(u64::try_from(n)?)
    }
}

/// One program and its arguments.
#[derive(Clone)]
struct Cmd {
    program: OsString,
    args: Vec<OsString>,
}

fn cmd<P: Into<OsString>>(program: P, args: &[&str]) -> Cmd {
    Cmd {
        program: program.into(),
        args: args.iter().map(OsString::from).collect(),
    }
}

/// One timed run of a case.
#[derive(Clone)]
struct Sample {
    secs: f64,
    /// Peak resident set of the largest process, KiB.
    rss_kb: Option<u64>,
    stdout: String,
}

/// Spawns commands as one pipeline and measures wall time and peak RSS.
struct Runner {
    /// GNU time (`-f %M -o FILE`), else VmHWM is polled from /proc.
    time_bin: Option<PathBuf>,
    scratch: tempfile::TempDir,
}

impl Runner {
    fn new() -> Result<Runner> {
        let time_bin = ["/usr/bin/time", "/bin/time"]
            .iter()
            .map(PathBuf::from)
            .find(|p| {
                Command::new(p)
                    .args(["-f", "%M", "true"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            });
        Ok(Runner {
            time_bin,
            scratch: tempfile::tempdir()?,
        })
    }

    fn rss_method(&self) -> &'static str {
        if self.time_bin.is_some() {
            "GNU time %M (wait4 ru_maxrss)"
        } else {
            "VmHWM polled from /proc every 5 ms"
        }
    }

    /// Runs `cmds` with the stdout of each piped into the next; fails when any exits non-zero.
    fn run(&self, cmds: &[Cmd]) -> Result<Sample> {
        let dir = self.scratch.path();
        let mut children: Vec<(Child, Option<PathBuf>, PathBuf)> = Vec::new();
        let out_path = dir.join("stdout");
        let start = Instant::now();
        let mut stdin: Option<Stdio> = None;
        for (i, c) in cmds.iter().enumerate() {
            let rss_file = self.time_bin.as_ref().map(|_| dir.join(format!("rss{i}")));
            let mut command = match (&self.time_bin, &rss_file) {
                (Some(t), Some(f)) => {
                    let mut command = Command::new(t);
                    command
                        .args(["-f", "%M", "-o"])
                        .arg(f)
                        .arg(&c.program)
                        .args(&c.args);
                    command
                }
                _ => {
                    let mut command = Command::new(&c.program);
                    command.args(&c.args);
                    command
                }
            };
            let err_path = dir.join(format!("stderr{i}"));
            command
                .stdin(stdin.take().unwrap_or_else(Stdio::null))
                .stderr(File::create(&err_path)?);
            let last = i + 1 == cmds.len();
            if last {
                command.stdout(File::create(&out_path)?);
            } else {
                command.stdout(Stdio::piped());
            }
            let mut child = command
                .spawn()
                .with_context(|| format!("cannot start {}", c.program.to_string_lossy()))?;
            if !last {
                let out = child.stdout.take().context("no stdout pipe")?;
                stdin = Some(Stdio::from(out));
            }
            children.push((child, rss_file, err_path));
        }
        let mut statuses = vec![None; children.len()];
        let mut hwm = vec![0u64; children.len()];
        if self.time_bin.is_some() {
            for (i, (child, _, _)) in children.iter_mut().enumerate() {
                statuses[i] = Some(child.wait()?);
            }
        } else {
            while statuses.iter().any(Option::is_none) {
                for (i, (child, _, _)) in children.iter_mut().enumerate() {
                    if statuses[i].is_some() {
                        continue;
                    }
                    hwm[i] = hwm[i].max(vm_hwm_kb(child.id()).unwrap_or(0));
                    statuses[i] = child.try_wait()?;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let mut rss = None;
        for (i, (_, rss_file, err_path)) in children.iter().enumerate() {
            let status = statuses[i].context("child not waited for")?;
            if !status.success() {
                let err = std::fs::read_to_string(err_path).unwrap_or_default();
                let out = std::fs::read_to_string(&out_path).unwrap_or_default();
                bail!(
                    "{} exited with {status}: {}",
                    cmds[i].program.to_string_lossy(),
                    tail(&format!("{}\n{}", err.trim(), out.trim()), 600)
                );
            }
            let kb = match rss_file {
                Some(f) => std::fs::read_to_string(f)?
                    .lines()
                    .filter_map(|l| l.trim().parse::<u64>().ok())
                    .next_back(),
                None => Some(hwm[i]).filter(|k| *k > 0),
            };
            rss = rss.max(kb);
        }
        Ok(Sample {
            secs,
            rss_kb: rss,
            stdout: std::fs::read_to_string(&out_path)?,
        })
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A result row of the table.
struct Row {
    case: String,
    /// Median wall seconds; None when the case failed or did not run.
    secs: Option<f64>,
    rows: u64,
    /// Data volume for MB/s, bytes.
    bytes: Option<u64>,
    rss_kb: Option<u64>,
    /// Median seconds of the psql case this row is compared with.
    base_secs: Option<f64>,
    note: String,
}

impl Row {
    /// A case that did not complete, with the end of its error in the notes.
    fn failed(case: &str, e: &anyhow::Error) -> Row {
        Row::not_measured(case, format!("FAILED: {}", tail(&format!("{e:#}"), 300)))
    }

    /// A case without figures, `note` saying why.
    fn not_measured(case: &str, note: String) -> Row {
        Row {
            case: case.into(),
            secs: None,
            rows: 0,
            bytes: None,
            rss_kb: None,
            base_secs: None,
            note,
        }
    }
}

/// Untimed work before a run (truncate, checkpoint).
type Prep<'c> = Box<dyn Fn() -> Result<()> + 'c>;
/// What must hold after a run (row counts, status).
type Check<'c> = Box<dyn Fn(&Sample) -> Result<()> + 'c>;

/// A timed case: `prep` before each run, `cmds` piped together, `check` after.
struct Case<'c> {
    name: String,
    prep: Prep<'c>,
    cmds: Vec<Cmd>,
    check: Check<'c>,
}

/// The median-time sample and the median peak RSS of a case's samples.
struct Summary {
    secs: f64,
    rss_kb: Option<u64>,
    /// The parsed `--output json` of the median-time run (sluice cases).
    json: Option<Value>,
}

fn summarize(samples: &[Sample]) -> Result<Summary> {
    let secs = median(samples.iter().map(|s| s.secs).collect()).context("no sample")?;
    let rss: Vec<f64> = samples
        .iter()
        .filter_map(|s| s.rss_kb.map(|k| k as f64))
        .collect();
    let at = samples
        .iter()
        .find(|s| s.secs == secs)
        .context("median sample")?;
    Ok(Summary {
        secs,
        rss_kb: median(rss).map(|k| k as u64),
        json: serde_json::from_str(&at.stdout).ok(),
    })
}

struct Bench<'a> {
    sluice: PathBuf,
    plugin_dir: PathBuf,
    plugin_cache: tempfile::TempDir,
    factory: tempfile::TempDir,
    files: tempfile::TempDir,
    url: String,
    db: Db<'a>,
    rows: usize,
    runs: usize,
    runner: Runner,
    root: PathBuf,
    results: Vec<Row>,
    notes: Vec<String>,
}

impl<'a> Bench<'a> {
    fn new(
        root: &Path,
        sluice: PathBuf,
        plugin_dir: PathBuf,
        url: String,
        db: Db<'a>,
        rows: usize,
        runs: usize,
    ) -> Result<Bench<'a>> {
        let factory = tempfile::tempdir()?;
        let files = tempfile::tempdir()?;
        write_factory(factory.path(), files.path(), rows)?;
        Ok(Bench {
            sluice,
            plugin_dir,
            plugin_cache: tempfile::tempdir()?,
            factory,
            files,
            url,
            db,
            rows,
            runs,
            runner: Runner::new()?,
            root: root.to_path_buf(),
            results: Vec::new(),
            notes: Vec::new(),
        })
    }

    fn csv_path(&self) -> PathBuf {
        self.files.path().join("events.csv")
    }

    fn psql_csv_path(&self) -> PathBuf {
        self.files.path().join("events_psql.csv")
    }

    fn psql(&self, command: &str) -> Cmd {
        cmd(
            "psql",
            &[
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url,
                "-c",
                command,
            ],
        )
    }

    fn sluice_cmd(&self, pipeline: &str) -> Cmd {
        let mut c = cmd(&self.sluice, &["run"]);
        c.args.push(self.factory.path().into());
        for a in ["--pipeline", pipeline, "--output", "json", "--connection"] {
            c.args.push(a.into());
        }
        c.args.push(format!("Pg={}", self.url).into());
        c.args.push("--plugins".into());
        c.args.push(self.plugin_dir.clone().into());
        c.args.push("--plugin-cache".into());
        c.args.push(self.plugin_cache.path().into());
        c
    }

    /// Runs a case `n` times, `prep` (untimed) before each run, `check` after each.
    fn repeat(
        &self,
        name: &str,
        n: usize,
        prep: &dyn Fn() -> Result<()>,
        cmds: &[Cmd],
        check: &dyn Fn(&Sample) -> Result<()>,
    ) -> Result<Summary> {
        let case = Case {
            name: name.into(),
            prep: Box::new(prep),
            cmds: cmds.to_vec(),
            check: Box::new(check),
        };
        self.rounds(n, &[case]).remove(0)
    }

    /// Runs every case `n` times in rounds (one run of each case per round, in order), so
    /// cases compared with each other meet the same drift of the machine and server (page
    /// cache, WAL recycling, noisy neighbours). A case that fails stops running; the others
    /// go on.
    fn rounds(&self, n: usize, cases: &[Case]) -> Vec<Result<Summary>> {
        let mut samples: Vec<Result<Vec<Sample>>> = cases.iter().map(|_| Ok(Vec::new())).collect();
        for i in 0..n {
            for (case, acc) in cases.iter().zip(samples.iter_mut()) {
                let Ok(list) = acc else { continue };
                let sample = (case.prep)()
                    .and_then(|()| self.runner.run(&case.cmds))
                    .and_then(|s| (case.check)(&s).map(|()| s));
                match sample {
                    Ok(s) => {
                        eprintln!(
                            "  {} run {}: {:.3}s, peak RSS {} MB",
                            case.name,
                            i + 1,
                            s.secs,
                            s.rss_kb
                                .map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
                        );
                        list.push(s);
                    }
                    Err(e) => *acc = Err(e.context(format!("{} run {}", case.name, i + 1))),
                }
            }
        }
        samples
            .into_iter()
            .map(|r| r.and_then(|v| summarize(&v)))
            .collect()
    }

    /// A `sluice run` case copying into `table`: truncated before each run, counted after.
    fn copy_case(&self, name: &str, pipeline: &str, table: &'static str, rows: usize) -> Case<'_> {
        Case {
            name: name.into(),
            prep: Box::new(move || self.prep(Some(&format!("TRUNCATE sluice_demo.{table}")))),
            cmds: vec![self.sluice_cmd(pipeline)],
            check: Box::new(move |s| {
                check_copy(s, rows)?;
                self.expect_rows(table, rows)
            }),
        }
    }

    /// [`Bench::copy_case`] on its own.
    fn sluice_copy(
        &self,
        name: &str,
        pipeline: &str,
        table: &'static str,
        rows: usize,
    ) -> Result<Summary> {
        let case = self.copy_case(name, pipeline, table, rows);
        self.rounds(self.runs, &[case]).remove(0)
    }

    /// Fails unless `sluice_demo.{table}` holds `rows` rows.
    fn expect_rows(&self, table: &str, rows: usize) -> Result<()> {
        let n = self.db.count(table)?;
        if n != rows as u64 {
            bail!("{table} holds {n} rows after the copy, expected {rows}");
        }
        Ok(())
    }

    /// Truncates (unless `-`) and checkpoints, so every run starts alike.
    fn prep(&self, truncate: Option<&str>) -> Result<()> {
        if let Some(sql) = truncate {
            self.db.exec(sql)?;
        }
        // Needs superuser; a SLUICE_PG_URL role without it just skips the checkpoint.
        let _ = self.db.exec("CHECKPOINT");
        Ok(())
    }

    fn run_all(&mut self) -> Result<()> {
        let rows = self.rows;
        eprintln!("filling sluice_demo.events with {rows} rows ...");
        self.db.exec(sluice::cli::demo::SETUP_SQL)?;
        let n = i64::try_from(rows)?;
        self.db
            .rt
            .block_on(self.db.client.execute(sluice::cli::demo::FILL_SQL, &[&n]))?;
        self.db.exec("VACUUM (ANALYZE) sluice_demo.events")?;
        self.db.exec("CHECKPOINT")?;
        let table_bytes = self.db.int("SELECT pg_table_size('sluice_demo.events')")?;
        let version: String = self
            .db
            .rt
            .block_on(self.db.client.query_one("SHOW server_version", &[]))?
            .try_get(0)?;
        self.notes.push(format!(
            "PostgreSQL {version}; sluice_demo.events is {:.0} MB on disk (pg_table_size) for {rows} rows",
            table_bytes as f64 / 1e6
        ));

        // Warm the plugin compile cache (untimed), so no timed run compiles wasm.
        eprintln!("warming the plugin compile cache ...");
        self.prep(Some("TRUNCATE sluice_demo.events_copy"))?;
        self.runner
            .run(&[self.sluice_cmd("WarmPlugins")])
            .and_then(|s| check_status(&s).map(|_| ()))
            .context("warming the plugin cache")?;

        // PostgreSQL -> PostgreSQL, in rounds with the baseline.
        let binary_bytes = self.pg_cases()?;
        if self.selected("csv") {
            self.csv_cases(binary_bytes)?;
        }
        if self.selected("memory check") {
            self.memory_case()?;
        }
        if self.selected("lookup") {
            self.lookup_case()?;
        }
        self.report(binary_bytes)
    }

    /// The baseline: psql piping binary COPY from one session into another.
    fn psql_pipe_case(&self) -> Case<'_> {
        Case {
            name: BASELINE.into(),
            prep: Box::new(|| self.prep(Some("TRUNCATE sluice_demo.events_copy"))),
            cmds: vec![
                self.psql("\\copy (SELECT * FROM sluice_demo.events) TO PSTDOUT (FORMAT binary)"),
                self.psql("\\copy sluice_demo.events_copy FROM PSTDIN (FORMAT binary)"),
            ],
            check: Box::new(|_| self.expect_rows("events_copy", self.rows)),
        }
    }

    /// The baseline and the sluice PostgreSQL -> PostgreSQL cases, run in rounds (see
    /// [`Bench::rounds`]); returns the binary COPY volume (dataRead).
    fn pg_cases(&mut self) -> Result<Option<u64>> {
        let mut volume = None;
        let mut cases: Vec<(String, String, Option<usize>)> = vec![
            ("sluice CopyCommand".into(), "CopyCommand".into(), None),
            (
                "sluice CopyCommand, rows decoded (translator)".into(),
                "Decoded".into(),
                None,
            ),
            ("sluice BulkInsert".into(), "BulkInsert".into(), None),
            ("sluice Upsert (keys id)".into(), "Upsert".into(), None),
        ];
        for p in [1, 2, 4] {
            cases.push((
                format!("sluice CopyCommand, parallelCopies {p}, DynamicRange on id"),
                format!("Parallel{p}"),
                Some(p),
            ));
        }
        cases.push((
            "sluice CopyCommand + identity plugin".into(),
            "Identity".into(),
            None,
        ));
        cases.push((
            "sluice CopyCommand + mask-pii plugin (note)".into(),
            "MaskPii".into(),
            None,
        ));
        cases.retain(|(name, _, _)| self.selected(name));
        let mut timed = vec![self.psql_pipe_case()];
        timed.extend(
            cases.iter().map(|(name, pipeline, _)| {
                self.copy_case(name, pipeline, "events_copy", self.rows)
            }),
        );
        eprintln!(
            "{} cases in {} rounds: {}",
            timed.len(),
            self.runs,
            timed
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        let mut summaries = self.rounds(self.runs, &timed).into_iter();
        drop(timed);
        let base = match summaries.next() {
            Some(Ok(s)) => Row {
                case: BASELINE.into(),
                secs: Some(s.secs),
                rows: self.rows as u64,
                bytes: None,
                rss_kb: s.rss_kb,
                base_secs: Some(s.secs),
                note: "peak RSS: larger of the two psql".into(),
            },
            Some(Err(e)) => Row::failed(BASELINE, &e),
            None => Row::failed(BASELINE, &anyhow::anyhow!("not run")),
        };
        let base_secs = base.secs;
        self.results.push(base);
        for ((name, pipeline, parallel), summary) in cases.into_iter().zip(summaries) {
            let row = match summary {
                Ok(s) => {
                    let out = activity_output(s.json.as_ref());
                    let read = out.and_then(|o| o["dataRead"].as_u64());
                    if pipeline == "CopyCommand" {
                        volume = read;
                    }
                    let details = out.map(|o| &o["executionDetails"][0]);
                    let flag = |v: Option<&Value>| v.and_then(Value::as_bool).unwrap_or(false);
                    let tuples = details.map(|d| &d["pluginCopyTuples"]);
                    let mut note = if flag(details.map(|d| &d["passThrough"])) {
                        "pass-through".to_string()
                    } else if flag(tuples.map(|t| &t["input"]))
                        && flag(tuples.map(|t| &t["output"]))
                    {
                        "plugin reads and writes COPY tuples".to_string()
                    } else {
                        "decoded".to_string()
                    };
                    if let Some(want) = parallel {
                        let used = out.and_then(|o| o["usedParallelCopies"].as_u64());
                        note.push_str(&match used {
                            Some(u) if u == want as u64 => format!("; usedParallelCopies {u}"),
                            Some(u) => format!("; usedParallelCopies {u} (asked for {want})"),
                            None => "; usedParallelCopies missing from the output".into(),
                        });
                        if let Some(w) = partition_warning(s.json.as_ref()) {
                            note.push_str(&format!("; sluice warns {w}"));
                        }
                    }
                    Row {
                        case: name,
                        secs: Some(s.secs),
                        rows: self.rows as u64,
                        bytes: read,
                        rss_kb: s.rss_kb,
                        base_secs,
                        note,
                    }
                }
                Err(e) => Row::failed(&name, &e),
            };
            self.results.push(row);
        }
        if let Some(b) = self.results.first_mut() {
            b.bytes = volume;
        }
        Ok(volume)
    }

    fn csv_cases(&mut self, binary_bytes: Option<u64>) -> Result<()> {
        let rows = self.rows;
        let mut out = Vec::new();
        // PostgreSQL -> CSV: psql first (the base), then sluice.
        let name = "psql \\copy TO csv";
        eprintln!("{name}");
        let psql_csv = self.psql_csv_path();
        let psql_to = self.psql(&format!(
            "\\copy sluice_demo.events TO '{}' (FORMAT csv, HEADER)",
            psql_csv.display()
        ));
        let rm = || -> Result<()> {
            let _ = std::fs::remove_file(&psql_csv);
            self.prep(None)
        };
        let base = self.repeat(name, self.runs, &rm, &[psql_to], &|_| Ok(()));
        let base_secs = base.as_ref().ok().map(|s| s.secs);
        out.push(match base {
            Ok(s) => Row {
                case: name.into(),
                secs: Some(s.secs),
                rows: rows as u64,
                bytes: binary_bytes,
                rss_kb: s.rss_kb,
                base_secs: Some(s.secs),
                note: format!("CSV {:.0} MB", file_mb(&self.psql_csv_path())),
            },
            Err(e) => Row::failed(name, &e),
        });

        let name = "sluice PostgreSQL -> DelimitedText";
        eprintln!("{name}");
        let csv = self.csv_path();
        let rm = || -> Result<()> {
            let _ = std::fs::remove_file(&csv);
            self.prep(None)
        };
        let check = |s: &Sample| check_copy(s, rows);
        let r = self.repeat(name, self.runs, &rm, &[self.sluice_cmd("ToCsv")], &check);
        out.push(match r {
            Ok(s) => Row {
                case: name.into(),
                secs: Some(s.secs),
                rows: rows as u64,
                bytes: activity_output(s.json.as_ref()).and_then(|o| o["dataRead"].as_u64()),
                rss_kb: s.rss_kb,
                base_secs,
                note: format!("CSV {:.0} MB", file_mb(&self.csv_path())),
            },
            Err(e) => Row::failed(name, &e),
        });

        // CSV -> PostgreSQL, every loader reading the same file: the one sluice wrote (if it
        // could), else psql's.
        let input = if self.csv_path().is_file() {
            self.csv_path()
        } else {
            self.psql_csv_path()
        };
        let csv_bytes = std::fs::metadata(&input).map(|m| m.len()).ok();
        self.notes.push(format!(
            "CSV -> PostgreSQL: every loader reads the same file ({}, {:.0} MB)",
            if input == self.csv_path() {
                "written by sluice"
            } else {
                "written by psql"
            },
            csv_bytes.unwrap_or(0) as f64 / 1e6
        ));
        if input != self.csv_path() {
            // The sluice source reads events.csv; give it psql's file.
            std::fs::copy(&input, self.csv_path())?;
        }
        let input = self.csv_path();
        let count_check = |_: &Sample| self.expect_rows("events_from_csv", rows);
        let truncate = || self.prep(Some("TRUNCATE sluice_demo.events_from_csv"));

        let name = "psql \\copy FROM csv";
        eprintln!("{name}");
        let psql_from = self.psql(&format!(
            "\\copy sluice_demo.events_from_csv FROM '{}' (FORMAT csv, HEADER)",
            input.display()
        ));
        let base = self.repeat(name, self.runs, &truncate, &[psql_from], &count_check);
        let base_secs = base.as_ref().ok().map(|s| s.secs);
        out.push(match base {
            Ok(s) => Row {
                case: name.into(),
                secs: Some(s.secs),
                rows: rows as u64,
                bytes: csv_bytes,
                rss_kb: s.rss_kb,
                base_secs: Some(s.secs),
                note: String::new(),
            },
            Err(e) => Row::failed(name, &e),
        });

        let name = "sluice DelimitedText -> PostgreSQL";
        eprintln!("{name}");
        let r = self
            .sluice_copy(name, "FromCsv", "events_from_csv", rows)
            .map(|s| {
                let read = activity_output(s.json.as_ref()).and_then(|o| o["dataRead"].as_u64());
                (s, read)
            });
        out.push(match r {
            Ok((s, _)) => Row {
                case: name.into(),
                secs: Some(s.secs),
                rows: rows as u64,
                bytes: csv_bytes,
                rss_kb: s.rss_kb,
                base_secs,
                note: String::new(),
            },
            Err(e) => Row::failed(name, &e),
        });

        let name = "pgloader CSV";
        eprintln!("{name}");
        let row = match self.pgloader_cmd(&input)? {
            None => Row::not_measured(name, "pgloader: not installed".into()),
            Some(c) => match self.repeat(name, self.runs, &truncate, &[c], &count_check) {
                Ok(s) => Row {
                    case: name.into(),
                    secs: Some(s.secs),
                    rows: rows as u64,
                    bytes: csv_bytes,
                    rss_kb: s.rss_kb,
                    base_secs,
                    note: pgloader_version(),
                },
                Err(e) => Row::failed(name, &e),
            },
        };
        out.push(row);
        self.results.extend(out);
        Ok(())
    }

    /// The pgloader command loading `csv` into events_from_csv, or None when not installed.
    fn pgloader_cmd(&self, csv: &Path) -> Result<Option<Cmd>> {
        let installed = Command::new("pgloader")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !installed {
            return Ok(None);
        }
        let dir = self.files.path().join("pgloader");
        std::fs::create_dir_all(&dir)?;
        let load = dir.join("events.load");
        std::fs::write(
            &load,
            format!(
                "LOAD CSV\n  FROM '{}'\n    (id, customer, amount, score, note, category, active, day, created, ref, payload)\n  \
                 INTO {}\n  TARGET TABLE sluice_demo.events_from_csv\n  \
                 WITH skip header = 1, fields optionally enclosed by '\"', fields escaped by double-quote,\n       \
                 fields terminated by ','\n;\n",
                csv.display(),
                self.url
            ),
        )?;
        let mut c = cmd("pgloader", &["--quiet", "--on-error-stop", "--root-dir"]);
        c.args.push(dir.into());
        c.args.push(load.into());
        Ok(Some(c))
    }

    /// Peak RSS of the plain CopyCommand copy at a fifth of the rows vs all of them.
    fn memory_case(&mut self) -> Result<()> {
        let small = (self.rows / 5).max(1);
        let name = format!("sluice CopyCommand, {small} rows (memory check)");
        eprintln!("{name}");
        let row = match self.sluice_copy(&name, "CopyCommandFifth", "events_copy", small) {
            Ok(s) => Row {
                case: name,
                secs: Some(s.secs),
                rows: small as u64,
                bytes: activity_output(s.json.as_ref()).and_then(|o| o["dataRead"].as_u64()),
                rss_kb: s.rss_kb,
                base_secs: None,
                note: String::new(),
            },
            Err(e) => Row::failed(&name, &e),
        };
        self.results.push(row);
        Ok(())
    }

    fn lookup_case(&mut self) -> Result<()> {
        let name = format!(
            "sluice Lookup SELECT max(id), process start to exit (median of {LOOKUP_RUNS})"
        );
        eprintln!("{name}");
        let want = self.rows as u64;
        let check = |s: &Sample| -> Result<()> {
            let v = check_status(s)?;
            let got = activity_output(Some(&v)).and_then(|o| o["firstRow"]["max_id"].as_u64());
            if got != Some(want) {
                bail!("Lookup returned {got:?}, expected {want}");
            }
            Ok(())
        };
        let r = self.repeat(
            &name,
            LOOKUP_RUNS,
            &|| Ok(()),
            &[self.sluice_cmd("Lookup")],
            &check,
        );
        self.results.push(match r {
            Ok(s) => Row {
                case: name,
                secs: Some(s.secs),
                rows: 1,
                bytes: None,
                rss_kb: s.rss_kb,
                base_secs: None,
                note: format!("{:.1} ms", s.secs * 1e3),
            },
            Err(e) => Row::failed(&name, &e),
        });
        Ok(())
    }

    /// `SLUICE_BENCH_ONLY` (comma-separated parts of case names) limits the run to matching
    /// cases, for quick comparisons while working; the baseline always runs.
    fn selected(&self, case: &str) -> bool {
        match std::env::var("SLUICE_BENCH_ONLY") {
            Ok(only) if !only.trim().is_empty() => only
                .split(',')
                .any(|part| case.to_lowercase().contains(&part.trim().to_lowercase())),
            _ => true,
        }
    }

    fn find(&self, prefix: &str) -> Option<&Row> {
        self.results.iter().find(|r| r.case.starts_with(prefix))
    }

    fn report(&self, binary_bytes: Option<u64>) -> Result<()> {
        let mut t = String::new();
        t.push_str("| case | median s | rows/s | MB/s | peak RSS MB | vs psql | notes |\n");
        t.push_str("|---|---:|---:|---:|---:|---:|---|\n");
        for r in &self.results {
            let secs = r.secs.filter(|s| *s > 0.0);
            let f = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            let rows_s = secs
                .filter(|_| r.rows > 1)
                .map(|s| group(r.rows as f64 / s));
            let mb_s = secs
                .zip(r.bytes)
                .map(|(s, b)| format!("{:.1}", b as f64 / 1e6 / s));
            let rss = r.rss_kb.map(|k| format!("{:.1}", k as f64 / 1024.0));
            let ratio = secs.zip(r.base_secs).map(|(s, b)| format!("{:.2}x", b / s));
            t.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                r.case.replace('|', "\\|"),
                f(secs.map(|s| format!("{s:.3}"))),
                f(rows_s),
                f(mb_s),
                f(rss),
                f(ratio),
                r.note.replace('|', "\\|"),
            ));
        }
        let checks = self.checks();
        println!("\n{t}\n{checks}");

        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|k| k.parse::<f64>().ok())
            })
            .map_or("?".into(), |k| format!("{:.0} GB", k / 1024.0 / 1024.0));
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mut doc = String::new();
        doc.push_str(&format!(
            "{BEGIN}\n\n**{} rows**, median of {} runs (Lookup: {LOOKUP_RUNS}), {}.\n\n",
            group(self.rows as f64),
            self.runs,
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
        ));
        doc.push_str(&format!(
            "Command: `SLUICE_BENCH_ROWS={} SLUICE_BENCH_RUNS={} cargo bench -p sluice --bench suite`\n\n",
            self.rows, self.runs
        ));
        doc.push_str(&format!(
            "Machine: {cores} cores ({cpu}), {mem} RAM, {} {}; server and client on the same machine.\n",
            std::env::consts::OS,
            std::env::consts::ARCH
        ));
        doc.push_str(&format!(
            "Binary built from {}.\n",
            source_revision(&self.root)
        ));
        for n in &self.notes {
            doc.push_str(&format!("{n}.\n"));
        }
        doc.push_str(&format!(
            "Peak RSS: {}. MB/s: PostgreSQL sources use the binary COPY volume ({:.0} MB, the CopyCommand run's `dataRead`), CSV sources the file size.\n\n",
            self.runner.rss_method(),
            binary_bytes.unwrap_or(0) as f64 / 1e6
        ));
        doc.push_str(&t);
        doc.push('\n');
        doc.push_str(&checks);
        doc.push_str(&format!("\n{END}\n"));
        let partial = std::env::var("SLUICE_BENCH_ONLY").is_ok_and(|o| !o.trim().is_empty());
        if std::env::var("SLUICE_BENCH_DOC").as_deref() != Ok("0") && !partial {
            let path = self.root.join("BENCHMARKS.md");
            write_doc(&path, BEGIN, END, &doc)?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }

    /// The targets, each met or missed, as a Markdown list.
    fn checks(&self) -> String {
        let secs = |p: &str| self.find(p).and_then(|r| r.secs);
        let mut out = String::from("Targets:\n\n");
        let mut line =
            |target: &str, measured: Option<(f64, bool)>, fmt: &dyn Fn(f64) -> String| {
                let verdict = match measured {
                    Some((v, true)) => format!("met ({})", fmt(v)),
                    Some((v, false)) => format!("**MISSED** ({})", fmt(v)),
                    None => "not measured (the case failed or did not run)".into(),
                };
                out.push_str(&format!("- {target}: {verdict}\n"));
            };
        let ratio = |a: &str, b: &str| secs(a).zip(secs(b)).map(|(a, b)| b / a);
        let x = |v: f64| format!("{v:.2}x");
        let r = ratio("sluice CopyCommand", "psql \\copy binary");
        line(
            "CopyCommand >= 0.95x psql baseline",
            r.map(|v| (v, v >= 0.95)),
            &x,
        );
        // "No plugin" is the fastest plugin-free copy (pass-through); the ratio to the
        // decoded copy shows what the wasm boundary itself costs.
        for (case, min) in [
            ("sluice CopyCommand + identity", 0.85),
            ("sluice CopyCommand + mask-pii", 0.75),
        ] {
            let label = case.trim_start_matches("sluice CopyCommand + ");
            let r = ratio(case, "sluice CopyCommand");
            let decoded = ratio(case, "sluice CopyCommand, rows decoded");
            line(
                &format!("{label} plugin >= {min:.2}x of no plugin"),
                r.map(|v| (v, v >= min)),
                &|v| match decoded {
                    Some(d) => format!("{v:.2}x; {d:.2}x of the decoded copy without a plugin"),
                    None => format!("{v:.2}x"),
                },
            );
        }
        let r = ratio("sluice DelimitedText -> PostgreSQL", "pgloader CSV");
        line(
            "CSV -> PostgreSQL >= 2x pgloader",
            r.map(|v| (v, v >= 2.0)),
            &x,
        );
        let max_rss = self
            .results
            .iter()
            .filter(|r| r.case.starts_with("sluice"))
            .filter_map(|r| r.rss_kb)
            .max()
            .map(|k| k as f64 / 1024.0);
        line(
            "peak RSS of every sluice case < 300 MB",
            max_rss.map(|m| (m, m < 300.0)),
            &|m| format!("largest {m:.1} MB"),
        );
        let big = self.find("sluice CopyCommand").and_then(|r| r.rss_kb);
        let small = self
            .results
            .iter()
            .find(|r| r.case.contains("(memory check)"))
            .and_then(|r| r.rss_kb);
        let growth = big.zip(small).map(|(b, s)| b as f64 / s as f64 - 1.0);
        line(
            &format!(
                "CopyCommand peak RSS within 10% between {} and {} rows",
                group((self.rows / 5).max(1) as f64),
                group(self.rows as f64)
            ),
            growth.map(|g| (g, g.abs() <= 0.10)),
            &|g| {
                format!(
                    "{:+.1}%: {:.1} MB vs {:.1} MB",
                    g * 100.0,
                    big.unwrap_or(0) as f64 / 1024.0,
                    small.unwrap_or(0) as f64 / 1024.0
                )
            },
        );
        let lookup = secs("sluice Lookup").map(|s| s * 1e3);
        line(
            "Lookup < 100 ms process start to exit",
            lookup.map(|ms| (ms, ms < 100.0)),
            &|ms| format!("{ms:.1} ms"),
        );
        for (p, want) in [(1u64, "1"), (2, "2"), (4, "4")] {
            let row = self.find(&format!("sluice CopyCommand, parallelCopies {p}"));
            if let Some(r) = row {
                if r.secs.is_none() || !r.note.contains(&format!("usedParallelCopies {want}")) {
                    out.push_str(&format!(
                        "- parallelCopies {p}: not in effect ({})\n",
                        r.note
                    ));
                }
            }
        }
        out
    }
}

fn group(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn file_mb(p: &Path) -> f64 {
    std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1e6)
}

fn pgloader_version() -> String {
    Command::new("pgloader")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
        .unwrap_or_default()
}

/// The parsed `--output json` of a run that succeeded.
fn check_status(s: &Sample) -> Result<Value> {
    let v: Value = serde_json::from_str(&s.stdout)
        .with_context(|| format!("sluice printed no JSON: {}", tail(&s.stdout, 300)))?;
    if v["status"] != "Succeeded" {
        let errors: Vec<String> = v["activities"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["error"]["message"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        bail!("run {}: {}", v["status"], errors.join("; "));
    }
    Ok(v)
}

fn check_copy(s: &Sample, rows: usize) -> Result<()> {
    let v = check_status(s)?;
    let copied = activity_output(Some(&v)).and_then(|o| o["rowsCopied"].as_u64());
    if copied != Some(rows as u64) {
        bail!("copied {copied:?} rows, expected {rows}");
    }
    Ok(())
}

fn activity_output(run: Option<&Value>) -> Option<&Value> {
    run.and_then(|v| v["activities"].as_array())
        .and_then(|a| a.first())
        .map(|a| &a["output"])
}

fn partition_warning(run: Option<&Value>) -> Option<String> {
    let found: Vec<String> = run
        .and_then(|v| v["warnings"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| s.to_ascii_lowercase().contains("partition") || s.contains("parallelCopies"))
        .map(|s| {
            // "pipeline 'P' activity 'Copy' typeProperties.x ..." -> "typeProperties.x ..."
            let s = s.split_once("activity 'Copy' ").map_or(s, |(_, rest)| rest);
            tail(s, 120)
        })
        .collect();
    (!found.is_empty()).then(|| format!("not implemented: {}", found.join(", ")))
}

/// The bench factory: one linked service per store, the datasets, one pipeline per case.
fn write_factory(dir: &Path, files: &Path, rows: usize) -> Result<()> {
    let put = |kind: &str, name: &str, props: Value| -> Result<()> {
        Ok(sluice::model::load::write_definition(
            dir, kind, name, &props,
        )?)
    };
    // Pg, Events and Copy; Pg is pointed at the bench server with --connection Pg=<url>.
    write_demo_tables(dir)?;
    put(
        "linkedService",
        "Files",
        json!({"type": "FileServer", "typeProperties": {"host": files.display().to_string()}}),
    )?;
    put(
        "dataset",
        "FromCsv",
        json!({"type": "AzurePostgreSqlTable",
            "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
            "typeProperties": {"schema": "sluice_demo", "table": "events_from_csv"}}),
    )?;
    // As examples/demo, except that quotes are escaped by doubling them (escapeChar = quoteChar),
    // so psql and pgloader read the same file.
    put(
        "dataset",
        "EventsCsv",
        json!({"type": "DelimitedText",
            "linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
            "typeProperties": {
                "location": {"type": "FileServerLocation", "fileName": "events.csv"},
                "columnDelimiter": ",", "quoteChar": "\"", "escapeChar": "\"",
                "firstRowAsHeader": true, "nullValue": ""}}),
    )?;
    let pg_sink = |method: &str| -> Value {
        let mut s = json!({"type": "AzurePostgreSqlSink", "writeMethod": method});
        if method == "Upsert" {
            s["upsertSettings"] = json!({"keys": ["id"]});
        }
        s
    };
    let copy = |input: &str, output: &str, source: Value, sink: Value, extra: Value| -> Value {
        let mut tp = json!({"source": source, "sink": sink});
        if let (Some(tp), Some(extra)) = (tp.as_object_mut(), extra.as_object()) {
            tp.extend(extra.clone());
        }
        json!({"activities": [{
            "name": "Copy", "type": "Copy",
            "inputs": [{"referenceName": input, "type": "DatasetReference"}],
            "outputs": [{"referenceName": output, "type": "DatasetReference"}],
            "typeProperties": tp}]})
    };
    let pg_source = json!({"type": "AzurePostgreSqlSource"});
    // Every column, mapped to itself in reverse order: the rows must be decoded to reorder
    // them, which shows what pass-through saves.
    let columns = [
        "payload", "ref", "created", "day", "active", "category", "note", "score", "amount",
        "customer", "id",
    ];
    let mappings: Vec<Value> = columns
        .iter()
        .map(|c| json!({"source": {"name": c}, "sink": {"name": c}}))
        .collect();
    put(
        "pipeline",
        "Decoded",
        copy(
            "Events",
            "Copy",
            pg_source.clone(),
            pg_sink("CopyCommand"),
            json!({"translator": {"type": "TabularTranslator", "mappings": mappings}}),
        ),
    )?;
    for method in ["CopyCommand", "BulkInsert", "Upsert"] {
        put(
            "pipeline",
            method,
            copy(
                "Events",
                "Copy",
                pg_source.clone(),
                pg_sink(method),
                json!({}),
            ),
        )?;
    }
    put(
        "pipeline",
        "CopyCommandFifth",
        copy(
            "Events",
            "Copy",
            json!({"type": "AzurePostgreSqlSource",
                   "query": format!("SELECT * FROM sluice_demo.events WHERE id <= {}", (rows / 5).max(1))}),
            pg_sink("CopyCommand"),
            json!({}),
        ),
    )?;
    for p in [1, 2, 4] {
        put(
            "pipeline",
            &format!("Parallel{p}"),
            copy(
                "Events",
                "Copy",
                json!({"type": "AzurePostgreSqlSource", "partitionOption": "DynamicRange",
                       "partitionSettings": {"partitionColumnName": "id"}}),
                pg_sink("CopyCommand"),
                json!({"parallelCopies": p}),
            ),
        )?;
    }
    let identity = json!([{"plugin": "identity"}]);
    let mask = json!([{"plugin": "mask-pii", "config": {"columns": ["note"], "salt": "bench"}}]);
    for (name, transforms) in [("Identity", identity.clone()), ("MaskPii", mask.clone())] {
        put(
            "pipeline",
            name,
            copy(
                "Events",
                "Copy",
                json!({"type": "AzurePostgreSqlSource", "transforms": transforms}),
                pg_sink("CopyCommand"),
                json!({}),
            ),
        )?;
    }
    let mut both = identity;
    if let (Some(b), Some(m)) = (both.as_array_mut(), mask.as_array()) {
        b.extend(m.iter().cloned());
    }
    put(
        "pipeline",
        "WarmPlugins",
        copy(
            "Events",
            "Copy",
            json!({"type": "AzurePostgreSqlSource", "transforms": both,
                   "query": "SELECT * FROM sluice_demo.events WHERE id <= 1000"}),
            pg_sink("CopyCommand"),
            json!({}),
        ),
    )?;
    put(
        "pipeline",
        "ToCsv",
        copy(
            "Events",
            "EventsCsv",
            pg_source.clone(),
            json!({"type": "DelimitedTextSink"}),
            json!({}),
        ),
    )?;
    put(
        "pipeline",
        "FromCsv",
        copy(
            "EventsCsv",
            "FromCsv",
            json!({"type": "DelimitedTextSource"}),
            pg_sink("CopyCommand"),
            json!({}),
        ),
    )?;
    put(
        "pipeline",
        "Lookup",
        json!({"activities": [{
            "name": "MaxId", "type": "Lookup",
            "typeProperties": {
                "source": {"type": "AzurePostgreSqlSource",
                           "query": "SELECT max(id) AS max_id FROM sluice_demo.events"},
                "dataset": {"referenceName": "Events", "type": "DatasetReference"},
                "firstRowOnly": true}}]}),
    )?;
    Ok(())
}
