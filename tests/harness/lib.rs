//! Shared harness for the end-to-end tests: the local PostgreSQL server with a fresh schema per
//! test, factories written to temporary folders, and the real `sluice` binary run as a user
//! would run it (exit code, stdout, stderr).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod azurite;
pub mod certs;
pub mod keyvault;
pub mod service;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_postgres::{Client, NoTls};

/// The server tests use unless `SLUICE_TEST_PG_URL` says otherwise.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Every await in the tests is bounded by this.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(120);

pub fn pg_url() -> String {
    std::env::var("SLUICE_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

/// Connects to the local test server, failing loudly with how to start it.
pub async fn connect_local() -> Client {
    let url = pg_url();
    let attempt = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(&url, NoTls),
    )
    .await;
    match attempt {
        Ok(Ok((client, conn))) => {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            client
        }
        Ok(Err(e)) => panic!(
            "cannot connect to the test PostgreSQL server at {url}: {e}\n\
             start it with: pg_ctlcluster --skip-systemctl-redirect 15 main start\n\
             (or point SLUICE_TEST_PG_URL at a server with trust auth)"
        ),
        Err(_) => panic!("timed out connecting to {url}; start it with: pg_ctlcluster --skip-systemctl-redirect 15 main start"),
    }
}

/// A schema of its own for one test, dropped when the value is dropped.
pub struct TestDb {
    pub client: Client,
    pub schema: String,
}

impl TestDb {
    pub async fn new(prefix: &str) -> TestDb {
        let client = connect_local().await;
        let schema = format!(
            "t_{prefix}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        client
            .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
            .await
            .unwrap();
        TestDb { client, schema }
    }

    /// Runs SQL with `{s}` replaced by the quoted schema name.
    pub async fn exec(&self, sql: &str) {
        let sql = sql.replace("{s}", &format!("\"{}\"", self.schema));
        tokio::time::timeout(STEP_TIMEOUT, self.client.batch_execute(&sql))
            .await
            .expect("timed out")
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM \"{}\".\"{table}\"", self.schema);
        self.client
            .query_one(sql.as_str(), &[])
            .await
            .unwrap()
            .get(0)
    }

    pub async fn query_i64(&self, sql: &str) -> i64 {
        let sql = sql.replace("{s}", &format!("\"{}\"", self.schema));
        self.client
            .query_one(sql.as_str(), &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
            .get(0)
    }

    /// Rows in `a` not in `b` plus rows in `b` not in `a` (EXCEPT ALL both ways), comparing
    /// the given column expression list (use `*`, or text casts for types without equality).
    pub async fn difference(&self, a: &str, b: &str, cols: &str) -> i64 {
        let s = &self.schema;
        self.query_i64(&format!(
            "SELECT (SELECT count(*) FROM (SELECT {cols} FROM \"{s}\".\"{a}\" EXCEPT ALL SELECT {cols} FROM \"{s}\".\"{b}\") x) + \
                    (SELECT count(*) FROM (SELECT {cols} FROM \"{s}\".\"{b}\" EXCEPT ALL SELECT {cols} FROM \"{s}\".\"{a}\") y)"
        ))
        .await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = pg_url();
        let _ = Command::new("psql")
            .args([
                &url,
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema),
            ])
            .output();
    }
}

/// A factory folder in a temporary directory.
pub struct TestFactory {
    pub dir: tempfile::TempDir,
}

impl TestFactory {
    pub fn new() -> TestFactory {
        TestFactory {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `{"name": name, "properties": properties}` into `kind/name.json`
    /// (`kind` is linkedService, dataset or pipeline).
    pub fn put(&self, kind: &str, name: &str, properties: Value) -> &Self {
        sluice::model::load::write_definition(self.dir.path(), kind, name, &properties).unwrap();
        self
    }

    /// A file dataset (`DelimitedText`, `Json`, `Parquet`) of type `ty` on linked service `ls`
    /// at `location`, with `fileName` when given and the other `typeProperties` in `extra`.
    pub fn file_dataset(
        &self,
        name: &str,
        ls: &str,
        ty: &str,
        mut location: Value,
        file: Option<&str>,
        extra: Value,
    ) -> &Self {
        if let Some(file) = file {
            location["fileName"] = json!(file);
        }
        let mut tp = extra;
        tp["location"] = location;
        self.put(
            "dataset",
            name,
            json!({"type": ty, "linkedServiceName": {"referenceName": ls, "type": "LinkedServiceReference"},
                   "typeProperties": tp}),
        )
    }

    /// A PostgreSQL linked service in the v1 ODBC form for the local server.
    pub fn local_pg(&self, name: &str) -> &Self {
        self.put(
            "linkedService",
            name,
            json!({"type": "AzurePostgreSql", "typeProperties": {
                "connectionString": {"type": "SecureString", "value": local_connection_string()}}}),
        )
    }

    /// The common shape of a copy test: linked service `Pg` (the local server), datasets `Src`
    /// and `Dst` on `db`'s tables `src` and `dst`, and pipeline `P` copying one to the other.
    pub fn pg_src_to_dst(db: &TestDb, source: Value, sink: Value) -> TestFactory {
        let f = TestFactory::new();
        f.local_pg("Pg")
            .table("Src", "Pg", &db.schema, "src")
            .table("Dst", "Pg", &db.schema, "dst")
            .copy_pipeline("P", "Src", "Dst", source, sink);
        f
    }

    /// A table dataset on `ls`.
    pub fn table(&self, name: &str, ls: &str, schema: &str, table: &str) -> &Self {
        self.put(
            "dataset",
            name,
            json!({"type": "AzurePostgreSqlTable",
                   "linkedServiceName": {"referenceName": ls, "type": "LinkedServiceReference"},
                   "typeProperties": {"schema": schema, "table": table}}),
        )
    }

    /// A pipeline with one Copy activity named `Copy`.
    pub fn copy_pipeline(
        &self,
        name: &str,
        input: &str,
        output: &str,
        source: Value,
        sink: Value,
    ) -> &Self {
        self.copy_pipeline_with(name, input, output, json!({"source": source, "sink": sink}))
    }

    /// A pipeline with one Copy activity named `Copy` and the given `typeProperties`.
    pub fn copy_pipeline_with(
        &self,
        name: &str,
        input: &str,
        output: &str,
        type_properties: Value,
    ) -> &Self {
        self.put(
            "pipeline",
            name,
            json!({"activities": [{
                "name": "Copy", "type": "Copy",
                "inputs": [{"referenceName": input, "type": "DatasetReference"}],
                "outputs": [{"referenceName": output, "type": "DatasetReference"}],
                "typeProperties": type_properties}]}),
        )
    }
}

impl Default for TestFactory {
    fn default() -> Self {
        Self::new()
    }
}

/// The ODBC-style connection string of the local server (from `SLUICE_TEST_PG_URL`'s parts).
pub fn local_connection_string() -> String {
    let url = pg_url();
    let rest = url
        .trim_start_matches("postgres://")
        .trim_start_matches("postgresql://");
    let (user, rest) = rest.split_once('@').unwrap_or(("postgres", rest));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "test"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    format!("Server={host};Database={db};Port={port};UID={user};EncryptionMethod=0")
}

/// The `sluice` binary, built once per test process.
pub fn sluice_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<test-exe> -> target/<profile>/sluice
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        // `--workspace` resolves features as `cargo test --workspace` does; `-p sluice` would
        // pick another feature set for shared dependencies and rebuild them on every switch.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "--workspace", "--bin", "sluice"])
            .args(if profile_dir.ends_with("release") {
                vec!["--release"]
            } else {
                vec![]
            })
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .expect("cannot run cargo to build the sluice binary");
        assert!(status.success(), "building the sluice binary failed");
        // Checkouts that share one target directory (git worktrees) each build
        // `target/<profile>/sluice`; a copy named for this checkout keeps another checkout's
        // build from replacing the binary under this test run.
        let checkout = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            env!("CARGO_MANIFEST_DIR").hash(&mut h);
            h.finish()
        };
        let own = profile_dir.join(format!("sluice-e2e-{checkout:016x}"));
        let partial =
            profile_dir.join(format!("sluice-e2e-{checkout:016x}.{}", std::process::id()));
        std::fs::copy(profile_dir.join("sluice"), &partial).expect("cannot copy the sluice binary");
        std::fs::rename(&partial, &own).expect("cannot rename the sluice binary copy");
        own
    })
    .clone()
}

/// The compiled-plugin cache of the `sluice` runs of the tests: `target/sluice-test-plugin-cache`,
/// beside the built test plugins. (In-process plugin runtimes of the tests use temporary
/// directories or no disk cache.)
pub fn plugin_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("sluice-test-plugin-cache")
}

/// What a `sluice` invocation printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--output json` result.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Everything printed, for searching.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `sluice` with `args` (from the repository root), waiting at most `STEP_TIMEOUT`.
pub fn sluice(args: &[&str]) -> Run {
    sluice_env(args, &[])
}

/// Runs `sluice` with `args` and `env` added to its environment. Every run gets
/// `SLUICE_PLUGIN_CACHE` = [`plugin_cache_dir`] (unless `env` or `args` say otherwise), so
/// the tests never read or fill the user's `~/.cache/sluice`.
pub fn sluice_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    sluice_within(args, env, STEP_TIMEOUT)
}

/// How long a `sluice plugin build` of a new crate may take: a cold cargo build of the guest
/// SDK and its dependencies, on a machine that may be busy with other builds.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// [`sluice_env`], waiting at most `limit` (a hang guard, not a measurement).
pub fn sluice_within(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
    sluice_in(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")),
        args,
        env,
        limit,
    )
}

/// [`sluice_within`] in the working directory `cwd`, as a user typing in that folder.
pub fn sluice_in(cwd: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
    let mut cmd = Command::new(sluice_bin());
    cmd.args(args)
        .current_dir(cwd)
        .env("SLUICE_PLUGIN_CACHE", plugin_cache_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = run_with_timeout(cmd, limit);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    use std::process::Stdio;
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap_or_else(|e| panic!("waiting for {program} failed: {e}")),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("{program} did not finish within {limit:?}");
        }
    }
}

/// Runs the test `name` of module `module` (pass `module_path!()`) again, alone, in a child
/// process of this test binary with `env` added to that process's environment, and asserts
/// that it passed. For a test that needs process-wide state such as an environment variable:
/// all end-to-end tests share one process, so setting it in this one would change it under
/// every other test. The test checks for the variable to know whether it is the child.
pub fn rerun_in_child(module: &str, name: &str, env: &[(&str, &str)]) {
    let test = match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{name}"),
        None => name.to_string(),
    };
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        test.as_str(),
        "--exact",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_with_timeout(cmd, STEP_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} in a child process failed:\n{stdout}\n{stderr}"
    );
}

/// Runs `sluice run <factory> --output json` with extra args and returns the run.
pub fn run_factory(factory: &TestFactory, extra: &[&str]) -> Run {
    let path = factory.path().to_str().unwrap().to_string();
    let mut args = vec!["run", path.as_str(), "--output", "json"];
    args.extend_from_slice(extra);
    sluice(&args)
}

/// The first activity's output of a run JSON.
pub fn activity_output(run: &Value) -> &Value {
    &run["activities"][0]["output"]
}

/// The last record of activity `name` in a `--output json` run (a ForEach's last iteration);
/// panics naming the activity when there is none.
pub fn activity<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["activities"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|a| a["activityName"] == name)
        .unwrap_or_else(|| panic!("no activity {name} in {run:#}"))
}

/// A table with one column of every built-in type family, in schema `{s}`, and rows with
/// extreme values (NaN, infinities, BC dates, 1000-digit numerics, awkward text, NULLs).
pub const ALL_TYPES_SQL: &str = r#"
CREATE TYPE {s}.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN {s}.posint AS integer CHECK (VALUE > 0);
CREATE TABLE {s}.types_src (
  id int PRIMARY KEY,
  i2 smallint, i4 integer, i8 bigint, num numeric, num_s numeric(25,5), r real, d double precision, m money,
  t text, vc varchar(30), c char(5), b bytea, bo boolean,
  dt date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
  u uuid, j json, jb jsonb, x xml, ip inet, cid cidr, mac macaddr,
  ai int[], atx text[], an numeric[], a2 int[][], amood {s}.mood[],
  r4 int4range, rn numrange, rts tstzrange, rd daterange,
  mo {s}.mood, pi {s}.posint, pt point, tsv tsvector, bits bit varying(10)
);
INSERT INTO {s}.types_src VALUES
(1, 32767, 2147483647, 9223372036854775807, 'NaN', 12345678901234567890.12345, 'Infinity', '-Infinity', '-92233720368547758.08',
 E'tab\there\nnew "q" \\ back, comma', 'varchar ünïcödé', 'ab', '\x00ff10', true,
 'infinity', '23:59:59.999999', '12:00:00+05:30', '-infinity', 'infinity', '1 year 2 mons -3 days 04:05:06.789',
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, null]}', '{"b": {"c": "d"}}', '<a x="1">t</a>',
 '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
 '{1,NULL,3}', '{"a b","",NULL,"c,d","x\"y"}', '{1.5,NaN}', '[0:1][1:2]={{1,2},{3,4}}', '{sad,happy}',
 '[1,10)', '(,5.5]', '["2020-01-01 00:00:00+00",)', 'empty',
 'ok', 42, '(1.5,-2)', 'a fat cat', B'101'),
(2, -32768, -2147483648, -9223372036854775808, (repeat('9', 500) || '.' || repeat('1', 500))::numeric, 0.00001, '-0', 1e-300, 0,
 '', '', '', '', false,
 '0044-03-15 BC', '00:00', '00:00:00-12:00', '0001-01-01 00:00:00 BC', '-infinity', '-178000000 years',
 '00000000-0000-0000-0000-000000000000', '[]', '{}', '', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff',
 '{}', '{}', '{}', '{}', '{}',
 'empty', '[-1.5,1.5]', '(,)', '[2000-01-01,2000-01-02)',
 'sad', 1, '(0,0)', '', B''),
(3, 0, 0, 0, '-0.000000000000000000001', -0.5, 3.4028235e38, 2.2250738585072014e-308, 12.34,
 repeat('long text ', 1000), 'x', 'abcde', decode(repeat('ff00', 5000), 'hex'), NULL,
 '2024-02-29', '12:34:56.5', '23:59:59.999999+14', '2024-02-29 12:34:56.123456', '1970-01-01 00:00:00.000001+00', '-1 days +00:00:00.000001',
 'ffffffff-ffff-ffff-ffff-ffffffffffff', '"just a string"', '[1, "two", {"three": 3.0}]', '<?xml version="1.0"?><r/>', '0.0.0.0/0', '0.0.0.0/0', '00:00:00:00:00:00',
 '{{1,2},{3,4}}', '{NULL}', '{-0.0001,1e20}', '{{{1}}}', '{ok}',
 '(1,2]', '(0,1)', '[,"2030-01-01 00:00:00+00")', '(,2000-01-01]',
 'happy', 2147483647, '(-1e300,1e-300)', 'the:1 quick brown', B'1111111111'),
(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"#;

/// Columns of `types_src` compared with EXCEPT ALL: types without an equality operator
/// (json, xml, point) are compared on their text form.
pub const ALL_TYPES_COMPARE: &str = "id, i2, i4, i8, num, num_s, r, d, m, t, vc, c, b, bo, dt, tm, ttz, ts, tstz, iv, u, j::text, jb, x::text, \
     ip, cid, mac, ai, atx, an, a2, amood, r4, rn, rts, rd, mo, pi, pt::text, tsv, bits";

/// The plugins of `guest-plugins/` (examples and hostile test plugins), built for wasm32-wasip2
/// and installed as `name@version.wasm` into `target/sluice-test-plugins`, once per test
/// process (cargo makes later builds no-ops). Fails loudly when the wasm target is missing.
/// The hostile plugins are no default members of that workspace (users never build them), so
/// this asks for every member.
pub fn plugins_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = root.join("target").join("sluice-test-plugins");
        let built = sluice::plugins::build_plugins(
            &root.join("guest-plugins"),
            &out,
            sluice::plugins::Members::All,
        )
        .unwrap_or_else(|e| panic!("building guest-plugins/ failed: {e:#}"));
        assert!(
            built.len() >= 7,
            "expected the example plugins in {}",
            out.display()
        );
        out
    })
    .clone()
}

/// The first activity's error message of a `--output json` run (panics when it has none).
/// Asserts that a run failed without a panic and that its first activity's error holds every
/// needle; returns that error.
pub fn assert_one_clean_error(run: &Run, needles: &[&str]) -> String {
    assert_ne!(run.code, 0, "must fail: {}", run.all());
    assert!(!run.all().contains("panicked"), "no panic: {}", run.all());
    let e = first_error(run);
    for n in needles {
        assert!(e.contains(n), "expected {n:?} in the error: {e}");
    }
    e
}

pub fn first_error(run: &Run) -> String {
    run.json()["activities"][0]["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("the first activity has no error: {}", run.stdout))
        .to_string()
}
