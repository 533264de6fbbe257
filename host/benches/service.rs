//! What the multi-tenant service costs (issue 14): `sluice serve` (API only, HTTPS) and
//! `sluice worker` processes on a control database of their own, driven over the REST API the
//! way ADF tooling drives it.
//!
//! Run: `cargo bench -p sluice --bench service`. It runs `cargo build --release -p sluice` for
//! the binary (and runs a private copy of it), builds `guest-plugins/` for wasm32-wasip2, uses
//! `SLUICE_PG_URL` or starts a throw-away cluster, and measures:
//!
//! 1. **createRun**: `SLUICE_BENCH_CREATE_RUNS` (default 2,000) createRun calls from
//!    `SLUICE_BENCH_CLIENTS` (default 32) concurrent HTTPS clients for one tenant whose
//!    max-concurrent-runs is 100,000, with two `sluice worker` processes running the runs (a
//!    pipeline of one `Wait` of 0 s); then `SLUICE_BENCH_PACED_RUNS` (default 300) runs created
//!    at `SLUICE_BENCH_RATE` (default 20) a second. Queued -> InProgress latency is
//!    `run_start - queued_at` of the control database's `sluice.runs`.
//! 2. **PostgreSQL -> PostgreSQL through the service** against the same copy through
//!    `sluice run`: `SLUICE_BENCH_ROWS` (default 1,000,000) rows of `sluice_demo.events`, in
//!    `SLUICE_BENCH_RUNS` (default 5) rounds, the order alternating, medians.
//! 3. **`SLUICE_BENCH_TENANTS` (default 1,000) tenants** each uploading its own `identity`
//!    plugin (a custom section with the tenant's name appended, so each has its own sha256)
//!    and running it once on a 10-row table with one fresh `sluice worker`: the worker's VmRSS
//!    with every plugin compiled and loaded; then instantiate latency of a cached plugin, in
//!    process.
//!
//! The Markdown section is printed and written between its markers in `BENCHMARKS.md`
//! (`SLUICE_BENCH_DOC=0` leaves the file alone). `SLUICE_BENCH_ONLY=create,copy,tenants`
//! runs only those parts (and leaves BENCHMARKS.md alone).

mod common;

use common::{
    build_bench_plugins, build_sluice, env_usize, private_copy, server_url, source_revision, tail,
    write_demo_tables, write_doc,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const BEGIN: &str =
    "<!-- bench-service:begin (written by `cargo bench -p sluice --bench service`) -->";
const END: &str = "<!-- bench-service:end -->";
const API: &str = "api-version=2018-06-01";
const CONTROL_DB: &str = "sluice_bench_control";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Nearest-rank percentile `p` (0-100).
fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()?;
    // SLUICE_BENCH_BIN: a release binary built already (skips the build).
    let built = match std::env::var_os("SLUICE_BENCH_BIN") {
        Some(b) => PathBuf::from(b),
        None => {
            eprintln!("building the sluice binary (cargo build --release -p sluice) ...");
            build_sluice(&root)?
        }
    };
    let (_bin_dir, sluice_bin) = private_copy(&built)?;
    let plugin_dir = build_bench_plugins(&root)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (_endpoint, cluster) = rt.block_on(sluice::cli::demo::server())?;
    let url = server_url(&cluster)?;
    let result = rt.block_on(async {
        let mut bench = Bench::start(&root, sluice_bin, plugin_dir, url).await?;
        let r = bench.run_all().await;
        bench.stop().await;
        r
    });
    if let Some(mut c) = cluster {
        c.stop();
    }
    result
}

/// A connection to `url` (no TLS: the throw-away cluster), its driver on a task.
async fn pg(url: &str) -> Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// `url` with its database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
    if query.is_empty() {
        format!("{server}/{db}")
    } else {
        format!("{server}/{db}?{query}")
    }
}

/// ADF's connection string form of a `postgres://user@host:port/db` URL.
fn adf_connection_string(url: &str) -> String {
    let rest = url
        .split('?')
        .next()
        .unwrap_or(url)
        .trim_start_matches("postgres://")
        .trim_start_matches("postgresql://");
    let (user, rest) = rest.split_once('@').unwrap_or(("postgres", rest));
    let user = user.split(':').next().unwrap_or(user);
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    format!("Server={host};Database={db};Port={port};UID={user};EncryptionMethod=0")
}

/// A `sluice serve` or `sluice worker` process, killed when dropped.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn start(bin: &Path, args: &[String], key: &str, log: PathBuf) -> Result<Proc> {
        let file = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .args(args)
            .env("SLUICE_MASTER_KEY", key)
            .env("RUST_LOG", "sluice=warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting sluice {}", args.join(" ")))?;
        Ok(Proc { child, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 800)
    }

    /// SIGTERM, then waits at most `limit` (SIGKILL after it).
    fn terminate(&mut self, limit: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` and `VmHWM` of `pid`, KiB.
fn vm_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A tenant's subscription and token.
#[derive(Clone)]
struct Tenant {
    name: String,
    sub: String,
    token: String,
}

impl Tenant {
    fn factory(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.DataFactory/factories/bench",
            self.sub
        )
    }
}

/// The HTTPS API client.
#[derive(Clone)]
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(
        &self,
        method: Method,
        t: &Tenant,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, String)> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut req = self
            .http
            .request(method, format!("{}{path}{sep}{API}", self.base))
            .bearer_auth(&t.token);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        Ok((status, resp.text().await?))
    }

    /// A JSON request that must answer 200.
    async fn ok(&self, method: Method, t: &Tenant, path: &str, body: Value) -> Result<Value> {
        let (status, text) = self
            .send(method, t, path, Some(serde_json::to_vec(&body)?))
            .await?;
        if status != StatusCode::OK {
            bail!("{path}: {status} {}", tail(&text, 400));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `createRun` of pipeline `pipeline`; the run id, or the status and body when refused.
    async fn create_run(
        &self,
        t: &Tenant,
        pipeline: &str,
    ) -> Result<std::result::Result<Uuid, (StatusCode, String)>> {
        let path = format!("{}/pipelines/{pipeline}/createRun", t.factory());
        let (status, text) = self
            .send(Method::POST, t, &path, Some(b"{}".to_vec()))
            .await?;
        if status != StatusCode::OK {
            return Ok(Err((status, text)));
        }
        let v: Value = serde_json::from_str(&text)?;
        let id = v["runId"].as_str().context("no runId")?.parse()?;
        Ok(Ok(id))
    }
}

/// A test CA and a server certificate for 127.0.0.1 (PEM files in `dir`).
fn certificates(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    use std::os::unix::fs::PermissionsExt as _;
    let ca_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Sluice bench CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = params.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    let ca_path = dir.join("ca.pem");
    let cert_path = dir.join("server.crt");
    let key_path = dir.join("server.key");
    std::fs::write(&ca_path, ca.pem())?;
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))?;
    Ok((ca_path, cert_path, key_path))
}

/// `bytes` (a component) with a custom section `name` appended: id 0, LEB128 size, then the
/// name (LEB128 length and UTF-8) as the section's name and no payload.
fn with_custom_section(bytes: &[u8], name: &str) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    leb128(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

struct Bench {
    root: PathBuf,
    sluice: PathBuf,
    plugin_dir: PathBuf,
    url: String,
    control_url: String,
    key: String,
    dir: tempfile::TempDir,
    data: tokio_postgres::Client,
    control: tokio_postgres::Client,
    api: Api,
    server: Option<Proc>,
    workers: Vec<Proc>,
    rows: usize,
    rounds: usize,
    only: Option<Vec<String>>,
    sections: Vec<String>,
    notes: Vec<String>,
}

impl Bench {
    async fn start(
        root: &Path,
        sluice: PathBuf,
        plugin_dir: PathBuf,
        url: String,
    ) -> Result<Bench> {
        let data = pg(&url).await?;
        // Two statements: CREATE DATABASE cannot run in the implicit transaction of a batch.
        data.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {CONTROL_DB} WITH (FORCE)"
        ))
        .await?;
        data.batch_execute(&format!("CREATE DATABASE {CONTROL_DB}"))
            .await?;
        let control_url = with_database(&url, CONTROL_DB);
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let dir = tempfile::tempdir()?;
        let (ca, cert, tls_key) = certificates(dir.path())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let args: Vec<String> = [
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--control-db",
            &control_url,
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &tls_key.display().to_string(),
            "--workers",
            "0",
            "--cache-dir",
            &dir.path().join("serve-cache").display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let server = Proc::start(&sluice, &args, &key, dir.path().join("serve.log"))?;
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca)?)?)
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(120))
            .build()?;
        let api = Api {
            base: format!("https://127.0.0.1:{port}"),
            http,
        };
        let t0 = Instant::now();
        loop {
            if let Ok(r) = api.http.get(format!("{}/readyz", api.base)).send().await {
                if r.status() == StatusCode::OK {
                    break;
                }
            }
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("sluice serve not ready after 60 s: {}", server.tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let control = pg(&control_url).await?;
        let only = std::env::var("SLUICE_BENCH_ONLY")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.split(',').map(|p| p.trim().to_lowercase()).collect());
        let version: String = data.query_one("SHOW server_version", &[]).await?.get(0);
        Ok(Bench {
            root: root.to_path_buf(),
            sluice,
            plugin_dir,
            url,
            control_url,
            key,
            dir,
            data,
            control,
            api,
            server: Some(server),
            workers: Vec::new(),
            rows: env_usize("SLUICE_BENCH_ROWS", 1_000_000)?.max(10),
            rounds: env_usize("SLUICE_BENCH_RUNS", 5)?.max(1),
            only,
            sections: Vec::new(),
            notes: vec![format!(
                "PostgreSQL {version} (data and control database on the same server); \
                 {} cores; `sluice serve --workers 0` over HTTPS (rustls, a test CA)",
                std::thread::available_parallelism().map_or(0, |n| n.get())
            )],
        })
    }

    fn selected(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| part.contains(p.as_str())))
    }

    async fn stop(&mut self) {
        for w in &mut self.workers {
            w.terminate(Duration::from_secs(10));
        }
        self.workers.clear();
        if let Some(mut s) = self.server.take() {
            s.terminate(Duration::from_secs(10));
        }
        let _ = self
            .data
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {CONTROL_DB} WITH (FORCE)"
            ))
            .await;
    }

    /// Starts `sluice worker --concurrency n` with a cache folder of its own.
    fn worker(&self, n: usize, label: &str) -> Result<Proc> {
        let cache = self.dir.path().join(format!("cache-{label}"));
        let args: Vec<String> = [
            "worker",
            "--control-db",
            &self.control_url,
            "--concurrency",
            &n.to_string(),
            "--cache-dir",
            &cache.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Proc::start(
            &self.sluice,
            &args,
            &self.key,
            self.dir.path().join(format!("worker-{label}.log")),
        )
    }

    /// A tenant made with `sluice tenant create` (plus `extra`), with its empty factory `rg/f`.
    async fn cli_tenant(&self, name: &str, extra: &[&str]) -> Result<Tenant> {
        let out = Command::new(&self.sluice)
            .args(["tenant", "create", name, "--control-db", &self.control_url])
            .args(["--output", "json"])
            .args(extra)
            .output()?;
        if !out.status.success() {
            bail!(
                "sluice tenant create {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let v: Value = serde_json::from_slice(&out.stdout)?;
        let t = Tenant {
            name: name.into(),
            sub: v["subscriptionId"]
                .as_str()
                .context("subscriptionId")?
                .into(),
            token: v["token"].as_str().context("token")?.into(),
        };
        self.api
            .ok(Method::PUT, &t, &t.factory(), json!({"location": "local"}))
            .await?;
        Ok(t)
    }

    /// Puts a PostgreSQL linked service `Pg` (SecureString) and table datasets `(name, table)`.
    async fn put_pg(&self, t: &Tenant, datasets: &[(&str, &str)]) -> Result<()> {
        let fp = t.factory();
        self.api
            .ok(
                Method::PUT,
                t,
                &format!("{fp}/linkedservices/Pg"),
                json!({"properties": {"type": "AzurePostgreSql", "typeProperties": {
                    "connectionString": {"type": "SecureString",
                                         "value": adf_connection_string(&self.url)}}}}),
            )
            .await?;
        for (name, table) in datasets {
            self.api
                .ok(
                    Method::PUT,
                    t,
                    &format!("{fp}/datasets/{name}"),
                    json!({"properties": {"type": "AzurePostgreSqlTable",
                        "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
                        "typeProperties": {"schema": "sluice_demo", "table": table}}}),
                )
                .await?;
        }
        Ok(())
    }

    /// Waits until none of `runs` is open; the count of each final status.
    async fn wait_runs(&self, runs: &[Uuid], limit: Duration) -> Result<Vec<(String, i64)>> {
        let t0 = Instant::now();
        loop {
            let open: i64 = self
                .control
                .query_one(
                    "SELECT count(*) FROM sluice.runs WHERE run_id = ANY($1)
                       AND status NOT IN ('Succeeded', 'Failed', 'Cancelled')",
                    &[&runs],
                )
                .await?
                .get(0);
            if open == 0 {
                break;
            }
            if t0.elapsed() > limit {
                bail!(
                    "{open} runs still open after {limit:?}; worker log: {}",
                    self.workers.first().map(Proc::tail).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let rows = self
            .control
            .query(
                "SELECT status, count(*) FROM sluice.runs WHERE run_id = ANY($1) GROUP BY 1 ORDER BY 1",
                &[&runs],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The first failure message among `runs`, if any.
    async fn first_failure(&self, runs: &[Uuid]) -> Result<Option<String>> {
        Ok(self
            .control
            .query_opt(
                "SELECT message FROM sluice.runs WHERE run_id = ANY($1) AND status <> 'Succeeded' LIMIT 1",
                &[&runs],
            )
            .await?
            .map(|r| r.get(0)))
    }

    /// Queued -> InProgress seconds of `runs`.
    async fn start_latencies(&self, runs: &[Uuid]) -> Result<Vec<f64>> {
        let rows = self
            .control
            .query(
                "SELECT extract(epoch FROM run_start - queued_at)::float8 FROM sluice.runs
                 WHERE run_id = ANY($1) AND run_start IS NOT NULL",
                &[&runs],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get::<_, f64>(0)).collect())
    }

    async fn run_all(&mut self) -> Result<()> {
        let workers = env_usize("SLUICE_BENCH_WORKER_CONCURRENCY", 4)?.max(1);
        self.workers = vec![self.worker(workers, "a")?, self.worker(workers, "b")?];
        if self.selected("create") {
            let s = self.create_runs(workers).await;
            self.push("createRun and Queued -> InProgress", s);
        }
        if self.selected("copy") {
            let s = self.copy().await;
            self.push("PostgreSQL -> PostgreSQL: service against `sluice run`", s);
        }
        for w in &mut self.workers {
            w.terminate(Duration::from_secs(30));
        }
        self.workers.clear();
        if self.selected("tenants") {
            let s = self.tenants().await;
            self.push("Many tenants' plugins in one worker", s);
            let s = instantiate_latency(&self.plugin_dir).await;
            self.push("Instantiating a cached plugin (in process)", s);
        }
        self.report()
    }

    fn push(&mut self, title: &str, section: Result<String>) {
        let body = match section {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{title}: FAILED: {e:#}");
                format!("FAILED: {}\n", tail(&format!("{e:#}"), 600))
            }
        };
        self.sections.push(format!("### {title}\n\n{body}"));
    }

    /// createRun per second, and Queued -> InProgress latency (burst and paced).
    async fn create_runs(&self, concurrency: usize) -> Result<String> {
        let n = env_usize("SLUICE_BENCH_CREATE_RUNS", 2000)?.max(1);
        let clients = env_usize("SLUICE_BENCH_CLIENTS", 32)?.max(1);
        let paced = env_usize("SLUICE_BENCH_PACED_RUNS", 300)?;
        let rate = env_usize("SLUICE_BENCH_RATE", 20)?.max(1);
        let t = self
            .cli_tenant(
                "rate",
                &[
                    "--max-concurrent-runs",
                    "100000",
                    "--requests-per-second",
                    "1000000",
                ],
            )
            .await?;
        self.api
            .ok(
                Method::PUT,
                &t,
                &format!("{}/pipelines/Noop", t.factory()),
                json!({"properties": {"activities": [{"name": "W", "type": "Wait",
                    "typeProperties": {"waitTimeInSeconds": 0}}]}}),
            )
            .await?;
        // A few runs first, untimed: connections, TLS sessions, the workers' first claims.
        let mut warm = Vec::new();
        for _ in 0..10 {
            warm.push(
                self.api
                    .create_run(&t, "Noop")
                    .await?
                    .map_err(|(s, b)| anyhow::anyhow!("{s} {b}"))?,
            );
        }
        self.wait_runs(&warm, Duration::from_secs(60)).await?;

        eprintln!("createRun: {n} calls from {clients} clients ...");
        let t0 = Instant::now();
        let results: Vec<Result<std::result::Result<Uuid, (StatusCode, String)>>> =
            futures_util::stream::iter(0..n)
                .map(|_| {
                    let (api, t) = (self.api.clone(), t.clone());
                    async move { api.create_run(&t, "Noop").await }
                })
                .buffer_unordered(clients)
                .collect()
                .await;
        let secs = t0.elapsed().as_secs_f64();
        let mut burst = Vec::new();
        let mut refused = std::collections::BTreeMap::<String, usize>::new();
        for r in results {
            match r? {
                Ok(id) => burst.push(id),
                Err((s, _)) => *refused.entry(s.to_string()).or_default() += 1,
            }
        }
        let accepted = burst.len() as f64 / secs;
        eprintln!(
            "  {} accepted in {secs:.2} s: {accepted:.0}/s; refused {refused:?}",
            burst.len()
        );
        let statuses = self.wait_runs(&burst, Duration::from_secs(600)).await?;
        let drained = t0.elapsed().as_secs_f64();
        let burst_lat = self.start_latencies(&burst).await?;

        eprintln!("paced: {paced} runs at {rate}/s ...");
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        let mut tasks = Vec::new();
        for _ in 0..paced {
            ticker.tick().await;
            let (api, t) = (self.api.clone(), t.clone());
            tasks.push(tokio::spawn(
                async move { api.create_run(&t, "Noop").await },
            ));
        }
        let mut paced_ids = Vec::new();
        for task in tasks {
            if let Ok(id) = task.await?? {
                paced_ids.push(id);
            }
        }
        let paced_statuses = self.wait_runs(&paced_ids, Duration::from_secs(600)).await?;
        let paced_lat = self.start_latencies(&paced_ids).await?;
        let ms = |v: &[f64], p: f64| percentile(v, p) * 1e3;
        let fmt_status = |s: &[(String, i64)]| {
            s.iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = format!(
            "Tenant `rate` (`--max-concurrent-runs 100000 --requests-per-second 1000000`), pipeline \
             `Noop` (one `Wait` of 0 s), two `sluice worker --concurrency {concurrency}` processes.\n\n\
             | measure | figure |\n|---|---:|\n\
             | createRun accepted per second ({n} calls, {clients} concurrent HTTPS clients) | **{accepted:.0}/s** ({} accepted in {secs:.2} s{}) |\n\
             | the same runs all ended (first call to last run end) | {drained:.2} s ({}) |\n\
             | Queued -> InProgress in that burst, p50 / p99 | {:.0} / {:.0} ms |\n\
             | Queued -> InProgress, {} runs created at {rate}/s, p50 / p99 | **{:.1} / {:.1} ms** ({}) |\n",
            burst.len(),
            if refused.is_empty() {
                String::new()
            } else {
                format!("; refused: {refused:?}")
            },
            fmt_status(&statuses),
            ms(&burst_lat, 50.0),
            ms(&burst_lat, 99.0),
            paced_ids.len(),
            ms(&paced_lat, 50.0),
            ms(&paced_lat, 99.0),
            fmt_status(&paced_statuses),
        );
        out.push_str(
            "\nQueued -> InProgress is `run_start - queued_at` in `sluice.runs`. In the burst \
             the runs are created faster than the workers start them, so its latency is mostly \
             time in the queue; the paced figure is the latency of a run that finds a free \
             worker.\n",
        );
        Ok(out)
    }

    /// The PostgreSQL -> PostgreSQL copy through the service and through `sluice run`.
    async fn copy(&self) -> Result<String> {
        let rows = self.rows;
        eprintln!("filling sluice_demo.events with {rows} rows ...");
        self.data
            .batch_execute(sluice::cli::demo::SETUP_SQL)
            .await?;
        let n = i64::try_from(rows)?;
        self.data
            .execute(sluice::cli::demo::FILL_SQL, &[&n])
            .await?;
        self.data
            .batch_execute("VACUUM (ANALYZE) sluice_demo.events")
            .await?;
        self.data.batch_execute("CHECKPOINT").await?;
        let pipeline = json!({"activities": [{
            "name": "Copy", "type": "Copy",
            "inputs": [{"referenceName": "Events", "type": "DatasetReference"}],
            "outputs": [{"referenceName": "Copy", "type": "DatasetReference"}],
            "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                               "sink": {"type": "AzurePostgreSqlSink", "writeMethod": "CopyCommand"}}}]});
        // The service's factory.
        let t = self.cli_tenant("copy", &[]).await?;
        self.put_pg(&t, &[("Events", "events"), ("Copy", "events_copy")])
            .await?;
        self.api
            .ok(
                Method::PUT,
                &t,
                &format!("{}/pipelines/CopyCommand", t.factory()),
                json!({ "properties": pipeline }),
            )
            .await?;
        // The same factory on disk for `sluice run`.
        let factory = self.dir.path().join("factory");
        let put = |kind: &str, name: &str, props: Value| -> Result<()> {
            Ok(sluice::model::load::write_definition(
                &factory, kind, name, &props,
            )?)
        };
        write_demo_tables(&factory)?;
        put("pipeline", "CopyCommand", pipeline)?;

        let mut service_total = Vec::new();
        let mut service_run = Vec::new();
        let mut cli_total = Vec::new();
        let mut cli_run = Vec::new();
        for round in 0..self.rounds {
            let service_first = round % 2 == 0;
            for case in 0..2 {
                self.prep().await?;
                if (case == 0) == service_first {
                    let (total, run) = self.service_copy(&t).await?;
                    eprintln!(
                        "  round {}: service createRun -> runEnd {total:.3} s, runStart -> runEnd {run:.3} s",
                        round + 1
                    );
                    service_total.push(total);
                    service_run.push(run);
                } else {
                    let (total, run) = self.cli_copy(&factory).await?;
                    eprintln!(
                        "  round {}: sluice run spawn -> exit {total:.3} s, runStart -> runEnd {run:.3} s",
                        round + 1
                    );
                    cli_total.push(total);
                    cli_run.push(run);
                }
                self.expect_rows(rows).await?;
            }
        }
        let (st, sr, ct, cr) = (
            median(service_total.clone()),
            median(service_run.clone()),
            median(cli_total.clone()),
            median(cli_run.clone()),
        );
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let verdict = |ratio: f64| {
            if ratio <= 1.03 {
                "within the issue's 3%"
            } else {
                "**over the issue's 3%**"
            }
        };
        Ok(format!(
            "{rows} rows of `sluice_demo.events` into `events_copy` (CopyCommand, pass-through), \
             {} rounds alternating which goes first, medians; `events_copy` truncated and a \
             `CHECKPOINT` taken before each run, untimed. Service: createRun over HTTPS, then \
             `pipelineruns/{{runId}}` polled every 50 ms; the run picked up by one of two idle \
             `sluice worker` processes; times from the control database. `sluice run`: the \
             same definitions from a folder, `--connection Pg=<url>`, a child process.\n\n\
             | measure | service | `sluice run` | service / `sluice run` |\n|---|---:|---:|---:|\n\
             | end to end: createRun sent -> runEnd; spawn -> exit | {st:.3} s | {ct:.3} s | **{:.3}x** ({}) |\n\
             | the run itself: runStart -> runEnd | {sr:.3} s | {cr:.3} s | {:.3}x |\n\n\
             All samples (s): service end to end {}; runStart -> runEnd {}; `sluice run` spawn -> \
             exit {}; runStart -> runEnd {}.\n",
            self.rounds,
            st / ct,
            verdict(st / ct),
            sr / cr,
            list(&service_total),
            list(&service_run),
            list(&cli_total),
            list(&cli_run),
        ))
    }

    async fn prep(&self) -> Result<()> {
        self.data
            .batch_execute("TRUNCATE sluice_demo.events_copy")
            .await?;
        let _ = self.data.batch_execute("CHECKPOINT").await;
        Ok(())
    }

    async fn expect_rows(&self, rows: usize) -> Result<()> {
        let n: i64 = self
            .data
            .query_one("SELECT count(*) FROM sluice_demo.events_copy", &[])
            .await?
            .get(0);
        if n != rows as i64 {
            bail!("events_copy holds {n} rows after the copy, expected {rows}");
        }
        Ok(())
    }

    /// One copy through the service: (createRun sent -> runEnd, runStart -> runEnd) seconds.
    async fn service_copy(&self, t: &Tenant) -> Result<(f64, f64)> {
        let sent: DateTime<Utc> = Utc::now();
        let id = self
            .api
            .create_run(t, "CopyCommand")
            .await?
            .map_err(|(s, b)| anyhow::anyhow!("createRun: {s} {b}"))?;
        let path = format!("{}/pipelineruns/{id}", t.factory());
        let t0 = Instant::now();
        loop {
            let (status, text) = self.api.send(Method::GET, t, &path, None).await?;
            if status != StatusCode::OK {
                bail!("GET {path}: {status} {text}");
            }
            let v: Value = serde_json::from_str(&text)?;
            match v["status"].as_str() {
                Some("Succeeded") => break,
                Some("Failed" | "Cancelled") => bail!("service run {id}: {}", v["message"]),
                _ => {}
            }
            if t0.elapsed() > Duration::from_secs(1800) {
                bail!("service run {id} still {} after 30 min", v["status"]);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let row = self
            .control
            .query_one(
                "SELECT run_start, run_end FROM sluice.runs WHERE run_id = $1",
                &[&id],
            )
            .await?;
        let (start, end): (DateTime<Utc>, DateTime<Utc>) = (row.get(0), row.get(1));
        let secs = |d: chrono::TimeDelta| d.num_microseconds().unwrap_or(0) as f64 / 1e6;
        Ok((secs(end - sent), secs(end - start)))
    }

    /// One `sluice run` of the same copy: (spawn -> exit, runStart -> runEnd) seconds.
    async fn cli_copy(&self, factory: &Path) -> Result<(f64, f64)> {
        let t0 = Instant::now();
        let out = tokio::process::Command::new(&self.sluice)
            .arg("run")
            .arg(factory)
            .args([
                "--pipeline",
                "CopyCommand",
                "--output",
                "json",
                "--connection",
            ])
            .arg(format!("Pg={}", self.url))
            .stdin(Stdio::null())
            .output()
            .await?;
        let total = t0.elapsed().as_secs_f64();
        let v: Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "sluice run printed no JSON: {}",
                tail(&String::from_utf8_lossy(&out.stderr), 400)
            )
        })?;
        if v["status"] != "Succeeded" {
            bail!("sluice run: {}", tail(&v.to_string(), 600));
        }
        let time = |k: &str| -> Result<DateTime<chrono::FixedOffset>> {
            let s = v[k].as_str().with_context(|| format!("no {k}"))?;
            DateTime::parse_from_rfc3339(s).with_context(|| format!("{k} {s:?}"))
        };
        let run = (time("runEnd")? - time("runStart")?)
            .num_microseconds()
            .unwrap_or(0) as f64
            / 1e6;
        Ok((total, run))
    }

    /// Many tenants, each with its own identity plugin, all run once by one fresh worker.
    async fn tenants(&mut self) -> Result<String> {
        let n = env_usize("SLUICE_BENCH_TENANTS", 1000)?.max(1);
        let clients = env_usize("SLUICE_BENCH_UPLOAD_CLIENTS", 4)?.max(1);
        let concurrency = env_usize("SLUICE_BENCH_WORKER_CONCURRENCY", 4)?.max(1);
        let identity = self.plugin_dir.join("identity@1.0.0.wasm");
        let component =
            std::fs::read(&identity).with_context(|| format!("reading {}", identity.display()))?;
        let version = sluice::plugins::inspect(&identity)?.version;
        self.data
            .batch_execute(
                "DROP TABLE IF EXISTS sluice_demo.tiny, sluice_demo.tiny_sink;
                 CREATE TABLE sluice_demo.tiny (id bigint, note text);
                 INSERT INTO sluice_demo.tiny SELECT g, 'row ' || g FROM generate_series(1, 10) g;
                 CREATE TABLE sluice_demo.tiny_sink (LIKE sluice_demo.tiny)",
            )
            .await?;
        let control = sluice::service::control::Control::connect(&self.control_url).await?;
        eprintln!("creating {n} tenants and uploading their plugins ({clients} clients) ...");
        let t0 = Instant::now();
        let mut tenants = Vec::new();
        for i in 0..n {
            let created = control
                .create_tenant(sluice::service::control::NewTenant {
                    name: format!("t{i:05}"),
                    requests_per_second: Some(100_000),
                    ..Default::default()
                })
                .await?;
            tenants.push(Tenant {
                name: created.tenant.name.clone(),
                sub: created.tenant.subscription_id.to_string(),
                token: created.token,
            });
        }
        let created_secs = t0.elapsed().as_secs_f64();
        let component = Arc::new(component);
        let pipeline = json!({"properties": {"activities": [{
            "name": "Copy", "type": "Copy",
            "inputs": [{"referenceName": "Tiny", "type": "DatasetReference"}],
            "outputs": [{"referenceName": "Sink", "type": "DatasetReference"}],
            "typeProperties": {
                "source": {"type": "AzurePostgreSqlSource", "transforms": [{"plugin": "identity"}]},
                "sink": {"type": "AzurePostgreSqlSink", "writeMethod": "CopyCommand"}}}]}});
        let t1 = Instant::now();
        let this = &*self;
        let uploads: Vec<Result<f64>> = futures_util::stream::iter(tenants.iter().cloned())
            .map(|t| {
                let component = component.clone();
                let pipeline = pipeline.clone();
                let version = version.to_string();
                async move {
                    let fp = t.factory();
                    this.api
                        .ok(Method::PUT, &t, &fp, json!({"location": "local"}))
                        .await?;
                    this.put_pg(&t, &[("Tiny", "tiny"), ("Sink", "tiny_sink")])
                        .await?;
                    this.api
                        .ok(Method::PUT, &t, &format!("{fp}/pipelines/P"), pipeline)
                        .await?;
                    let bytes = with_custom_section(&component, &t.name);
                    let u0 = Instant::now();
                    let (status, text) = this
                        .api
                        .send(
                            Method::PUT,
                            &t,
                            &format!("{fp}/plugins/identity/versions/{version}"),
                            Some(bytes),
                        )
                        .await?;
                    if status != StatusCode::OK {
                        bail!("plugin upload of {}: {status} {}", t.name, tail(&text, 300));
                    }
                    Ok(u0.elapsed().as_secs_f64())
                }
            })
            .buffer_unordered(clients)
            .collect()
            .await;
        let upload_secs = t1.elapsed().as_secs_f64();
        let upload_lat = uploads.into_iter().collect::<Result<Vec<f64>>>()?;
        let distinct: i64 = self
            .control
            .query_one("SELECT count(DISTINCT sha256) FROM sluice.plugins", &[])
            .await
            .map(|r| r.get(0))
            .unwrap_or(-1);
        eprintln!(
            "  tenants created in {created_secs:.1} s; {} plugins uploaded in {upload_secs:.1} s ({distinct} distinct sha256)",
            upload_lat.len()
        );

        let worker = self.worker(concurrency, "tenants")?;
        let pid = worker.pid();
        self.workers.push(worker);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (idle_rss, _) = vm_kb(pid).context("reading the worker's /proc status")?;
        eprintln!("running one copy per tenant on one worker (concurrency {concurrency}) ...");
        let t2 = Instant::now();
        let ids: Vec<Result<std::result::Result<Uuid, (StatusCode, String)>>> =
            futures_util::stream::iter(tenants.iter().cloned())
                .map(|t| {
                    let api = self.api.clone();
                    async move { api.create_run(&t, "P").await }
                })
                .buffer_unordered(8)
                .collect()
                .await;
        let mut runs = Vec::new();
        for r in ids {
            runs.push(r?.map_err(|(s, b)| anyhow::anyhow!("createRun: {s} {b}"))?);
        }
        let statuses = self.wait_runs(&runs, Duration::from_secs(3600)).await?;
        let run_secs = t2.elapsed().as_secs_f64();
        let failure = self.first_failure(&runs).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss, hwm) = vm_kb(pid).context("reading the worker's /proc status")?;
        let sink: i64 = self
            .data
            .query_one("SELECT count(*) FROM sluice_demo.tiny_sink", &[])
            .await?
            .get(0);
        let compiled_files =
            std::fs::read_dir(self.dir.path().join("cache-tenants").join("compiled"))
                .map(|d| d.count())
                .unwrap_or(0);
        let succeeded = statuses
            .iter()
            .find(|(s, _)| s == "Succeeded")
            .map_or(0, |(_, c)| *c);
        eprintln!(
            "  {statuses:?} in {run_secs:.1} s; worker VmRSS {idle_rss} -> {rss} KiB (VmHWM {hwm})"
        );
        let mb = |kb: u64| kb as f64 / 1024.0;
        let mut out = format!(
            "{n} tenants (made in process with `Control::create_tenant`, {created_secs:.1} s), \
             each with factory `rg/bench`, a PostgreSQL linked service, two datasets, a pipeline \
             copying a 10-row table with `source.transforms: [identity]`, and its own `identity` \
             component: the guest plugin with a custom section named after the tenant appended \
             ({distinct} distinct sha256 in `sluice.plugins`). Uploaded through the API by \
             {clients} concurrent clients; the API compiles each upload to check it. Then one \
             fresh `sluice worker --concurrency {concurrency}` (empty cache) ran one copy per \
             tenant, compiling each tenant's plugin and keeping it loaded.\n\n\
             | measure | figure |\n|---|---:|\n\
             | uploads (factory, linked service, datasets, pipeline, plugin), all tenants | {upload_secs:.1} s |\n\
             | one plugin upload (PUT, inspected and compiled by the API), p50 / p99 | {:.0} / {:.0} ms |\n\
             | one copy per tenant on the worker, createRun of the first to end of the last | {run_secs:.1} s ({}) |\n\
             | **worker VmRSS with all {n} plugins loaded** | **{:.1} MB** (idle before: {:.1} MB; VmHWM {:.1} MB) |\n\
             | per tenant's plugin | {:.2} MB |\n\
             | compiled-code files in the worker's disk cache | {compiled_files} |\n\
             | rows in the sink (10 per tenant) | {sink} |\n",
            percentile(&upload_lat, 50.0) * 1e3,
            percentile(&upload_lat, 99.0) * 1e3,
            statuses
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", "),
            mb(rss),
            mb(idle_rss),
            mb(hwm),
            (mb(rss) - mb(idle_rss)) / n as f64,
        );
        if succeeded != n as i64 {
            out.push_str(&format!(
                "\nNot every run succeeded; the first failure: {}\n",
                failure.as_deref().map_or("?".into(), |m| tail(m, 400))
            ));
        }
        if let Some(mut w) = self.workers.pop() {
            w.terminate(Duration::from_secs(30));
        }
        Ok(out)
    }

    fn report(&self) -> Result<()> {
        let mut doc = format!(
            "{BEGIN}\n\n## Service (issue 14)\n\n```sh\ncargo bench -p sluice --bench service\n```\n\n\
             Measured {} on `{}`; {}.\n\n",
            Utc::now().format("%Y-%m-%d %H:%M UTC"),
            source_revision(&self.root),
            self.notes.join("; ")
        );
        for s in &self.sections {
            doc.push_str(s);
            doc.push('\n');
        }
        doc.push_str(&format!("{END}\n"));
        println!("\n{doc}");
        let write = std::env::var("SLUICE_BENCH_DOC").map_or(true, |v| v != "0");
        if write && self.only.is_none() {
            let path = self.root.join("BENCHMARKS.md");
            write_doc(&path, BEGIN, END, &doc)?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }
}

/// Instantiation of a cached plugin: one load, then many instances, in process.
async fn instantiate_latency(plugins: &Path) -> Result<String> {
    use sluice::plugins::{PluginRef, PluginRegistry, PluginRuntime, RuntimeConfig, Tenant};
    let n = env_usize("SLUICE_BENCH_INSTANCES", 2000)?.max(1);
    let registry = PluginRegistry::new([plugins.to_path_buf()]);
    let runtime = PluginRuntime::new(RuntimeConfig::in_memory())?;
    let loaded = runtime.load(&registry, &PluginRef::parse("identity")?)?;
    let tenant = Tenant::new("bench");
    let schema = sluice::types::schema::Schema::default();
    let mut instantiate = Vec::new();
    let mut create = Vec::new();
    for _ in 0..n {
        let i = runtime.instantiate(&tenant, &loaded, "{}", &schema).await?;
        instantiate.push(i.instantiate_time().as_secs_f64() * 1e6);
        create.push(i.create_time().as_secs_f64() * 1e6);
    }
    Ok(format!(
        "`identity`, loaded once into a `PluginRuntime` (`RuntimeConfig::in_memory()`, as \
         the worker builds it but without the disk cache), then {n} instances, each dropped \
         before the next.\n\n\
         | measure | p50 | p99 |\n|---|---:|---:|\n\
         | instantiate (`instantiate_async` of the pre-linked component) | **{:.0} µs** | {:.0} µs |\n\
         | instantiate + `create` + `output-schema` | {:.0} µs | {:.0} µs |\n\n\
         The runtime does not configure wasmtime's pooling allocator (`PluginRuntime::new` \
         builds `Config::new()`, whose default is on-demand allocation), so these are \
         on-demand figures.\n",
        percentile(&instantiate, 50.0),
        percentile(&instantiate, 99.0),
        percentile(&create, 50.0),
        percentile(&create, 99.0),
    ))
}
