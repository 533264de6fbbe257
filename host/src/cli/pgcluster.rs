//! Throw-away PostgreSQL clusters: `sluice demo` uses one when no server is configured, and
//! tests use them for what the shared server cannot offer (TLS, password authentication).
//!
//! A cluster lives in a temporary directory (data, socket, log, certificates), listens on
//! 127.0.0.1 only on a free port, and is stopped and deleted on [`TempCluster::stop`] or drop.
//! Setup (roles, the `sluice` database) runs over the unix socket, which always uses trust
//! authentication, so it works whatever TCP authentication the cluster enforces.
//!
//! PostgreSQL refuses to run as root, so when Sluice runs as root the cluster runs as the
//! `postgres` OS user and the temporary directory is handed over to that user.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};

use crate::secrets::Secret;

/// What kind of cluster to start.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Turn on TLS with this certificate and key.
    pub tls: Option<ServerTls>,
    /// Accept TCP connections only over TLS (`hostssl` lines only). Needs `tls`.
    pub tls_only: bool,
    /// Create this role (superuser, owner of database `sluice`) and require scram-sha-256
    /// passwords for every TCP connection.
    pub password_user: Option<(String, Secret)>,
    /// Trade durability for speed (`fsync=off` etc.): right for data thrown away afterwards.
    pub fast: bool,
}

/// The server's certificate and private key, PEM.
#[derive(Clone)]
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

/// A running throw-away cluster.
pub struct TempCluster {
    dir: Option<tempfile::TempDir>,
    data: PathBuf,
    port: u16,
    superuser: String,
    run_as: Option<(u32, u32)>,
    tls_only: bool,
}

impl std::fmt::Debug for TempCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempCluster")
            .field("data", &self.data)
            .field("port", &self.port)
            .field("running", &self.dir.is_some())
            .finish()
    }
}

const DATABASE: &str = "sluice";
const HOST: &str = "127.0.0.1";

impl TempCluster {
    /// initdb, configure, start (`pg_ctl -w`), create database `sluice` and the password role.
    pub async fn start(opts: ClusterOptions) -> anyhow::Result<TempCluster> {
        if opts.tls_only && opts.tls.is_none() {
            bail!("a TLS-only cluster needs a certificate (ClusterOptions.tls)");
        }
        let initdb = find_pg_bin("initdb")?;
        let pg_ctl = find_pg_bin("pg_ctl")?;
        let run_as = if is_root() {
            Some(os_user_ids("postgres").context(
                "running as root: PostgreSQL must run as another user, and the 'postgres' OS user was not found",
            )?)
        } else {
            None
        };
        let superuser = match run_as {
            Some(_) => "postgres".to_string(),
            None => current_user_name(),
        };
        let dir = tempfile::Builder::new()
            .prefix("sluice-pg-")
            .tempdir()
            .context("cannot create a temporary directory for the cluster")?;
        let base = dir.path().to_path_buf();
        let data = base.join("data");
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&base, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to the postgres user", base.display()))?;
        }
        let mut cluster = TempCluster {
            dir: Some(dir),
            data: data.clone(),
            port: 0,
            superuser,
            run_as,
            tls_only: opts.tls_only,
        };

        // initdb
        let out = cluster
            .command(&initdb)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                &cluster.superuser,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .arg("--no-sync")
            .output()
            .await
            .with_context(|| format!("cannot run {}", initdb.display()))?;
        if !out.status.success() {
            bail!(
                "initdb failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }

        // Configuration.
        let mut conf = String::from("\n# sluice temporary cluster\n");
        conf.push_str(&format!(
            "listen_addresses = '{HOST}'\nunix_socket_directories = {}\n",
            conf_quote(&base.to_string_lossy())
        ));
        conf.push_str("password_encryption = 'scram-sha-256'\nmax_connections = 40\n");
        conf.push_str("shared_buffers = 32MB\ndynamic_shared_memory_type = posix\n");
        if opts.fast {
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        if let Some(tls) = &opts.tls {
            let cert = base.join("server.crt");
            let key = base.join("server.key");
            cluster.write_private(&cert, &tls.cert_pem)?;
            cluster.write_private(&key, &tls.key_pem)?;
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = {}\nssl_key_file = {}\n",
                conf_quote(&cert.to_string_lossy()),
                conf_quote(&key.to_string_lossy())
            ));
        }
        append(&data.join("postgresql.conf"), &conf)?;
        let host_kind = if opts.tls_only { "hostssl" } else { "host" };
        let method = if opts.password_user.is_some() {
            "scram-sha-256"
        } else {
            "trust"
        };
        let hba = format!(
            "# sluice temporary cluster\nlocal all all trust\n{host_kind} all all 127.0.0.1/32 {method}\n"
        );
        std::fs::write(data.join("pg_hba.conf"), hba).context("cannot write pg_hba.conf")?;

        // Start, retrying with another port if the chosen one was taken in the meantime.
        let log = base.join("server.log");
        let mut attempt = 0;
        loop {
            attempt += 1;
            cluster.port = free_port()?;
            let out = cluster
                .command(&pg_ctl)
                .arg("-D")
                .arg(&data)
                .args(["-w", "-t", "60", "-l"])
                .arg(&log)
                .arg("-o")
                .arg(format!("-p {}", cluster.port))
                .arg("start")
                .output()
                .await
                .with_context(|| format!("cannot run {}", pg_ctl.display()))?;
            if out.status.success() {
                break;
            }
            let tail = log_tail(&log);
            if attempt < 3 && tail.contains("could not bind") {
                continue;
            }
            bail!(
                "PostgreSQL did not start ({}): {}\n--- server log (last lines) ---\n{tail}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }

        if let Err(e) = cluster.setup(&opts).await {
            let tail = log_tail(&log);
            return Err(e.context(format!(
                "setting up the temporary cluster failed\n--- server log (last lines) ---\n{tail}"
            )));
        }
        Ok(cluster)
    }

    /// Creates the password role and the `sluice` database over the unix socket.
    async fn setup(&self, opts: &ClusterOptions) -> anyhow::Result<()> {
        let base = self
            .base()
            .ok_or_else(|| anyhow!("the cluster is stopped"))?;
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(base)
            .port(self.port)
            .user(&self.superuser)
            .dbname("postgres")
            .application_name("sluice-pgcluster")
            .connect_timeout(Duration::from_secs(30));
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .context("cannot connect over the unix socket")?;
        let driver = tokio::spawn(connection);
        let mut owner = self.superuser.clone();
        if let Some((name, password)) = &opts.password_user {
            if name != &self.superuser {
                client
                    .batch_execute(&format!(
                        "CREATE ROLE {} LOGIN SUPERUSER",
                        quote_ident(name)
                    ))
                    .await
                    .with_context(|| format!("cannot create role {name}"))?;
            }
            // ALTER ROLE takes no bind parameters; let the server quote the password literal.
            let row = client
                .query_one(
                    "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)",
                    &[name, &password.expose()],
                )
                .await
                .context("cannot prepare the password statement")?;
            let statement: String = row.get(0);
            client
                .batch_execute(&statement)
                .await
                .map_err(|e| anyhow!("cannot set the password of role {name}: {}", e))?;
            owner = name.clone();
        }
        client
            .batch_execute(&format!(
                "CREATE DATABASE {} OWNER {}",
                quote_ident(DATABASE),
                quote_ident(&owner)
            ))
            .await
            .context("cannot create database sluice")?;
        drop(client);
        let _ = driver.await;
        Ok(())
    }

    pub fn host(&self) -> &str {
        HOST
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn database(&self) -> &str {
        DATABASE
    }

    /// The OS user the cluster runs as, also its bootstrap superuser ("postgres" when root).
    pub fn superuser(&self) -> &str {
        &self.superuser
    }

    /// The unix socket directory (always trust authentication), while running.
    pub fn socket_dir(&self) -> Option<&Path> {
        self.base()
    }

    /// The server log file, while running.
    pub fn log_file(&self) -> Option<PathBuf> {
        self.base().map(|b| b.join("server.log"))
    }

    /// `postgres://<superuser>@127.0.0.1:<port>/sluice`: works for trust clusters; a TLS-only
    /// cluster gets `?sslmode=require`. Password clusters need the password role instead.
    pub fn url(&self) -> String {
        let mut url = format!(
            "postgres://{}@{HOST}:{}/{DATABASE}",
            self.superuser, self.port
        );
        if self.tls_only {
            url.push_str("?sslmode=require");
        }
        url
    }

    /// `pg_ctl stop -m fast` and delete the directory. Idempotent; also run on drop.
    pub fn stop(&mut self) {
        let Some(dir) = self.dir.take() else {
            return;
        };
        if self.data.join("postmaster.pid").exists() {
            match find_pg_bin("pg_ctl") {
                Ok(pg_ctl) => {
                    let mut cmd = std::process::Command::new(pg_ctl);
                    cmd.arg("-D")
                        .arg(&self.data)
                        .args(["-m", "fast", "-w", "-t", "30", "stop"])
                        .current_dir(dir.path())
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped());
                    if let Some((uid, gid)) = self.run_as {
                        use std::os::unix::process::CommandExt as _;
                        cmd.uid(uid).gid(gid);
                    }
                    match cmd.output() {
                        Ok(out) if out.status.success() => {}
                        Ok(out) => tracing::warn!(
                            "stopping the temporary PostgreSQL cluster failed: {}",
                            String::from_utf8_lossy(&out.stderr).trim()
                        ),
                        Err(e) => tracing::warn!("cannot run pg_ctl stop: {e}"),
                    }
                }
                Err(e) => tracing::warn!("cannot stop the temporary cluster: {e:#}"),
            }
        }
        if let Err(e) = dir.close() {
            tracing::warn!("cannot remove the temporary cluster directory: {e}");
        }
    }

    fn base(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// A command run as the cluster's OS user, in the cluster directory (the caller's working
    /// directory may not be readable by that user).
    fn command(&self, program: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        if let Some(base) = self.base() {
            cmd.current_dir(base);
        }
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        // Messages in English (errors are matched on and shown to users); no stray PGDATA.
        cmd.env_remove("PGDATA").env("LC_ALL", "C");
        cmd
    }

    /// Writes a file readable only by the cluster's user (the server refuses a key file others
    /// can read).
    fn write_private(&self, path: &Path, content: &str) -> anyhow::Result<()> {
        std::fs::write(path, content)
            .with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to the postgres user", path.display()))?;
        }
        Ok(())
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Finds a PostgreSQL program: `$SLUICE_PG_BIN`, then `pg_config --bindir`, then the highest
/// `/usr/lib/postgresql/*/bin`, then `PATH`.
pub fn find_pg_bin(name: &str) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SLUICE_PG_BIN").filter(|d| !d.is_empty()) {
        let p = Path::new(&dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
        bail!(
            "SLUICE_PG_BIN is set to {} but it has no {name}",
            Path::new(&dir).display()
        );
    }
    if let Ok(out) = std::process::Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
    {
        if out.status.success() {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let p = Path::new(&dir).join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let p = e.path().join("bin").join(name);
            p.is_file().then_some((v, p))
        })
        .collect();
    versions.sort();
    if let Some((_, p)) = versions.pop() {
        return Ok(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!(
        "cannot find the PostgreSQL program {name}: install the PostgreSQL server \
         (e.g. `apt-get install postgresql`) or set SLUICE_PG_BIN to the directory holding {name}"
    )
}

/// Whether the effective user is root (read from /proc: std has no geteuid).
fn is_root() -> bool {
    proc_status_uid().is_some_and(|euid| euid == 0)
}

fn proc_status_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    // Uid: real effective saved fs
    line.split_whitespace().nth(2)?.parse().ok()
}

/// uid and gid of an OS user, from /etc/passwd.
fn os_user_ids(name: &str) -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("cannot read /etc/passwd")?;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == name {
            let uid = f[2].parse().context("bad uid in /etc/passwd")?;
            let gid = f[3].parse().context("bad gid in /etc/passwd")?;
            return Ok((uid, gid));
        }
    }
    bail!("no user {name} in /etc/passwd")
}

/// The current user's name: /etc/passwd by uid, else `$USER`.
fn current_user_name() -> String {
    let by_uid = proc_status_uid().and_then(|uid| {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
        })
    });
    by_uid
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "postgres".into())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((HOST, 0)).context("cannot find a free TCP port")?;
    Ok(listener.local_addr()?.port())
}

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The last lines of the server log, for error messages.
fn log_tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(30);
            lines[start..].join("\n")
        }
        Err(e) => format!("(no server log at {}: {e})", path.display()),
    }
}

/// A postgresql.conf string literal.
fn conf_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// A SQL identifier, always quoted.
fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
