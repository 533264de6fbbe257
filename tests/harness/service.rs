//! Parts for the service's end-to-end tests: a control database of its own per test (a fresh
//! PostgreSQL database, dropped afterwards), a master key, tenants made with the real
//! `sluice tenant create`, and `sluice worker` / `sluice serve` processes that are killed when
//! the test ends, however it ends.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::{connect_local, pg_url, sluice_bin, sluice_env};

/// A control database for one test: `ctl_<random>` on the test server.
pub struct ControlDb {
    pub name: String,
    pub url: String,
}

impl ControlDb {
    pub async fn new() -> ControlDb {
        let name = format!("ctl_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let client = connect_local().await;
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let base = pg_url();
        let server = base.rsplit_once('/').map_or(base.as_str(), |(s, _)| s);
        ControlDb {
            url: format!("{server}/{name}"),
            name,
        }
    }

    /// The control database opened (migrations applied) as the service opens it.
    pub async fn control(&self) -> sluice::service::control::Control {
        tokio::time::timeout(
            crate::STEP_TIMEOUT,
            sluice::service::control::Control::connect(&self.url),
        )
        .await
        .expect("timed out")
        .unwrap()
    }

    /// A client on the control database, for assertions on what the service recorded.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }
}

impl Drop for ControlDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &pg_url(),
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// A port that was free a moment ago (for a process that takes its address as a flag).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh master key (base64 of 32 random bytes), as `SLUICE_MASTER_KEY` takes it.
pub fn master_key() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A tenant made with `sluice tenant create NAME --output json` plus `extra` flags:
/// `{"tenant":..,"subscriptionId":..,"token":..}`.
pub fn create_tenant(control_url: &str, name: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "tenant",
        "create",
        name,
        "--control-db",
        control_url,
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let run = sluice_env(&args, &[]);
    assert_eq!(run.code, 0, "tenant create failed:\n{}", run.all());
    run.json()
}

/// A `sluice` service process (`worker` or `serve`), killed when dropped.
pub struct Process {
    pub child: Child,
    pub log: std::path::PathBuf,
}

impl Process {
    /// Starts `sluice <args>` with `env`, its output going to a log file (read it with
    /// [`Process::output`] when a test fails).
    pub fn start(args: &[&str], env: &[(&str, &str)], log_dir: &std::path::Path) -> Process {
        let log = log_dir.join(format!("{}-{}.log", args[0], uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(sluice_bin());
        cmd.args(args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .env("SLUICE_PLUGIN_CACHE", crate::plugin_cache_dir())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Process {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`-9`, `-TERM`).
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status();
    }

    /// Waits at most `limit` for the process to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A control database with one tenant and its factory `rg/f`, set up in process through
/// [`sluice::service::control::Control`] as the API would (linked services sealed).
pub struct Fixture {
    pub ctl: ControlDb,
    pub control: sluice::service::control::Control,
    pub key_text: String,
    pub key: sluice::service::control::MasterKey,
    pub tenant: sluice::service::control::TenantInfo,
}

impl Fixture {
    /// A tenant `name` made with `sluice tenant create` (plus `extra` flags) and its empty
    /// factory `rg/f`.
    pub async fn new(name: &str, extra: &[&str]) -> Fixture {
        let ctl = ControlDb::new().await;
        let key_text = master_key();
        let key = sluice::service::control::MasterKey::from_base64(&key_text).unwrap();
        let control = sluice::service::control::Control::connect(&ctl.url)
            .await
            .unwrap();
        create_tenant(&ctl.url, name, extra);
        let tenant = control.get_tenant(name).await.unwrap().unwrap();
        control
            .put_factory(
                tenant.id,
                "rg",
                "f",
                &serde_json::json!({"location": "local"}),
                None,
            )
            .await
            .unwrap();
        Fixture {
            ctl,
            control,
            key_text,
            key,
            tenant,
        }
    }

    /// Stores a definition of factory `f` (`{"properties": ...}` is added around `properties`);
    /// a linked service's SecureStrings are sealed first, as the API stores them.
    pub async fn put(&self, kind: sluice::service::control::Kind, name: &str, properties: Value) {
        let mut body = serde_json::json!({ "properties": properties });
        if kind == sluice::service::control::Kind::LinkedServices {
            let aad =
                sluice::service::control::crypto::linked_service_aad(self.tenant.id, "f", name);
            self.key.seal_secure_strings(&mut body, &aad).unwrap();
        }
        self.control
            .put_definition(self.tenant.id, "rg", "f", kind, name, &body, None)
            .await
            .unwrap();
    }

    /// Linked service `Pg` on the local test server (its connection string sealed as the API
    /// stores it).
    pub async fn put_local_pg(&self) {
        self.put(
            sluice::service::control::Kind::LinkedServices,
            "Pg",
            serde_json::json!({"type": "AzurePostgreSql", "typeProperties": {
                "connectionString": {"type": "SecureString", "value": crate::local_connection_string()}}}),
        )
        .await;
    }

    /// [`Fixture::put_local_pg`] and, for each `(dataset, table)`, a table dataset on it in
    /// `schema`.
    pub async fn put_local_tables(&self, schema: &str, tables: &[(&str, &str)]) {
        self.put_local_pg().await;
        for (name, table) in tables {
            self.put(
                sluice::service::control::Kind::Datasets,
                name,
                serde_json::json!({"type": "AzurePostgreSqlTable",
                    "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
                    "typeProperties": {"schema": schema, "table": table}}),
            )
            .await;
        }
    }

    /// Queues a run of pipeline `pipeline` with `parameters`.
    pub async fn create_run(&self, pipeline: &str, parameters: Value) -> uuid::Uuid {
        self.create(sluice::service::control::NewRun {
            pipeline_name: pipeline.into(),
            parameters,
            ..self.new_run()
        })
        .await
    }

    /// A run request of this tenant's factory, to fill in.
    pub fn new_run(&self) -> sluice::service::control::NewRun {
        sluice::service::control::NewRun {
            tenant_id: self.tenant.id,
            resource_group: "rg".into(),
            factory: "f".into(),
            ..Default::default()
        }
    }

    pub async fn create(&self, run: sluice::service::control::NewRun) -> uuid::Uuid {
        self.control.create_run(run).await.unwrap().run_id
    }

    /// Starts `sluice worker` on this control database with `extra` flags.
    pub fn worker(
        &self,
        extra: &[&str],
        logs: &std::path::Path,
        cache: &std::path::Path,
    ) -> Process {
        let cache = cache.display().to_string();
        let mut args = vec![
            "worker",
            "--control-db",
            self.ctl.url.as_str(),
            "--cache-dir",
            cache.as_str(),
        ];
        args.extend_from_slice(extra);
        Process::start(
            &args,
            &[("SLUICE_MASTER_KEY", self.key_text.as_str())],
            logs,
        )
    }

    /// The run's status and message.
    pub async fn status(&self, run: uuid::Uuid) -> (String, String) {
        let r = self
            .control
            .get_run(self.tenant.id, run)
            .await
            .unwrap()
            .unwrap();
        (r.status.as_str().to_string(), r.message)
    }

    /// Waits at most `limit` for the run's status to be one of `wanted`; the status and
    /// message then (fails with both otherwise).
    pub async fn wait_status(
        &self,
        run: uuid::Uuid,
        wanted: &[&str],
        limit: Duration,
    ) -> (String, String) {
        let t0 = std::time::Instant::now();
        loop {
            let (status, message) = self.status(run).await;
            if wanted.contains(&status.as_str()) {
                return (status, message);
            }
            assert!(
                t0.elapsed() < limit,
                "run {run} is {status} after {limit:?}, not one of {wanted:?}: {message}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The run's activity runs as ADF shows them (in the order they started).
    pub async fn activity_runs(&self, run: uuid::Uuid) -> Vec<Value> {
        self.control
            .activity_runs(run)
            .await
            .unwrap()
            .iter()
            .map(|a| a.to_adf_json())
            .collect()
    }
}

/// A real `sluice serve` process over TLS (a fresh test CA) on a free port, ready to answer:
/// `sluice serve --listen ... --control-db URL --tls-cert ... --tls-key ... --cache-dir ...`
/// plus `extra` flags, with a fresh master key.
pub struct TlsServe {
    pub process: Process,
    pub port: u16,
    /// The test CA's certificate (PEM), for clients that must trust the server.
    pub ca: std::path::PathBuf,
    /// A client that trusts the CA.
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

impl TlsServe {
    /// Starts the server and waits (at most 60 s) until `/readyz` answers.
    pub async fn start(control_url: &str, extra: &[&str]) -> TlsServe {
        let dir = tempfile::tempdir().unwrap();
        let files = crate::certs::generate()
            .unwrap()
            .write_to(dir.path())
            .unwrap();
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let cache = dir.path().join("cache");
        let key = master_key();
        let mut args = vec![
            "serve",
            "--listen",
            &listen,
            "--control-db",
            control_url,
            "--tls-cert",
            files.server_cert.to_str().unwrap(),
            "--tls-key",
            files.server_key.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let process = Process::start(&args, &[("SLUICE_MASTER_KEY", key.as_str())], dir.path());
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&files.ca).unwrap()).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap();
        let t0 = std::time::Instant::now();
        while !http
            .get(format!("https://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "sluice serve did not become ready:\n{}",
                process.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        TlsServe {
            process,
            port,
            ca: files.ca,
            http,
            dir,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}
