//! PostgreSQL timeouts bound the wait even when the server never answers: a server that
//! accepts the TCP connection and stays silent ends at the linked service's connection timeout
//! (plain and with TLS required), and a backend that freezes after a statement was sent ends
//! at the statement's timeout (Lookup's `queryTimeout`, Script's block timeout), with a named
//! Timeout error and a cancel request sent. Also: a mis-quoted password's tail never shows.
//!
//! The silent server is a TCP listener in the test; the frozen backend is a proxy in the test
//! in front of the real server that stops passing the server's replies on once it has passed a
//! chosen statement on. Each activity has a long `policy.timeout`: a wait that is not bounded
//! would run into the harness's limit and fail the test, so no assertion is about time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use sluice_e2e::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longer than the harness waits for a run: a hang fails the test instead of being cut short.
const LONG_POLICY: &str = "0.01:00:00";

/// A listener that accepts every connection, reads whatever comes and never answers; with
/// `accept_tls`, it first answers the SSL request with `S` (TLS accepted), then falls silent.
async fn silent_server(accept_tls: bool) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                if accept_tls {
                    let mut request = [0u8; 8];
                    if socket.read_exact(&mut request).await.is_err()
                        || socket.write_all(b"S").await.is_err()
                    {
                        return;
                    }
                }
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    (port, task)
}

/// Runs `sluice run` on a blocking thread, so that servers in this test keep running.
async fn run(f: &TestFactory) -> Run {
    let path = f.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        sluice(&["run", path.to_str().unwrap(), "--output", "json"])
    })
    .await
    .unwrap()
}

/// A pipeline `P` with one activity, its `policy.timeout` long.
fn one_activity(f: &TestFactory, mut activity: Value) {
    activity["policy"] = json!({"timeout": LONG_POLICY});
    f.put("pipeline", "P", json!({"activities": [activity]}));
}

fn lookup(query: &str, query_timeout: &str) -> Value {
    json!({"name": "Look", "type": "Lookup", "typeProperties": {
        "source": {"type": "AzurePostgreSqlSource", "query": query, "queryTimeout": query_timeout},
        "dataset": {"referenceName": "T", "type": "DatasetReference"}}})
}

/// A factory whose linked service `Ls` has `type_properties`, dataset `T` on it, and a Lookup.
fn lookup_factory(type_properties: Value) -> TestFactory {
    let f = TestFactory::new();
    f.put(
        "linkedService",
        "Ls",
        json!({"type": "AzurePostgreSql", "typeProperties": type_properties}),
    );
    f.put(
        "dataset",
        "T",
        json!({"type": "AzurePostgreSqlTable",
               "linkedServiceName": {"referenceName": "Ls", "type": "LinkedServiceReference"},
               "typeProperties": {}}),
    );
    one_activity(&f, lookup("SELECT 1 AS n", "00:00:30"));
    f
}

/// Asserts a failed run whose activity failed with a transient error holding every needle.
fn assert_timed_out(run: &Run, needles: &[&str]) -> String {
    let e = assert_one_clean_error(run, needles);
    let activity = &run.json()["activities"][0];
    assert_eq!(activity["status"], "Failed", "{activity}");
    // A timeout is the store's failure, worth retrying: ADF's SystemError.
    assert_eq!(
        activity["error"]["failureType"], "SystemError",
        "{activity}"
    );
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_ends_at_the_connection_timeout() {
    let (port, server) = silent_server(false).await;
    let f = lookup_factory(json!({"connectionString":
        format!("Server=127.0.0.1;Port={port};Database=d;UID=u;Timeout=2")}));
    let run = run(&f).await;
    let e = assert_timed_out(
        &run,
        &[
            &format!("cannot connect to PostgreSQL at 127.0.0.1:{port}/d as u"),
            "linked service 'Ls'",
            "connection timeout (2 s) exceeded",
            "the server did not answer the startup message",
        ],
    );
    eprintln!("{e}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_the_ssl_request_ends_at_the_connection_timeout() {
    let (port, server) = silent_server(false).await;
    // The version 2.0 shape, TLS required.
    let f = lookup_factory(json!({"server": "127.0.0.1", "port": port, "database": "d",
        "username": "u", "sslMode": 3, "connectionTimeout": 2}));
    let run = run(&f).await;
    assert_timed_out(
        &run,
        &[
            "linked service 'Ls'",
            "connection timeout (2 s) exceeded",
            "the server accepted the TCP connection but did not answer the SSL request",
        ],
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_the_tls_handshake_ends_at_the_connection_timeout() {
    let (port, server) = silent_server(true).await;
    let f = lookup_factory(json!({"connectionString":
        format!("Server=127.0.0.1;Port={port};Database=d;UID=u;SSL Mode=Require;Timeout=2")}));
    let run = run(&f).await;
    assert_timed_out(
        &run,
        &[
            "connection timeout (2 s) exceeded",
            "no answer to the TLS handshake",
        ],
    );
    server.abort();
}

/// A proxy to the local server. On each connection it passes everything on until the client
/// sends bytes containing `freeze_on`; from then on it passes nothing back, like a server that
/// froze after receiving that statement. It counts the cancel requests it sees.
struct FreezingProxy {
    port: u16,
    cancels: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// PostgreSQL's CancelRequest: length 16, then the code 80877102.
const CANCEL_REQUEST: [u8; 8] = [0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e];

impl FreezingProxy {
    /// Waits (at most 10 s) until a cancel request has reached the proxy. The engine has sent
    /// it before the run ends, but the proxy's own task may count it a moment later.
    async fn wait_for_a_cancel(&self) {
        let t0 = std::time::Instant::now();
        while self.cancels.load(Ordering::SeqCst) == 0 {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(10),
                "a cancel request reaches the server"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn start(freeze_on: &'static str) -> FreezingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cancels = Arc::new(AtomicUsize::new(0));
        let counted = cancels.clone();
        let (host, server_port) = local_server();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let counted = counted.clone();
                let upstream = format!("{host}:{server_port}");
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, freeze_on.as_bytes(), &counted).await;
                    }
                });
            }
        });
        FreezingProxy {
            port,
            cancels,
            task,
        }
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The test server's host and port.
fn local_server() -> (String, String) {
    let cs = local_connection_string();
    let part = |key: &str| {
        cs.split(';')
            .find_map(|p| p.strip_prefix(key))
            .unwrap()
            .to_string()
    };
    (part("Server="), part("Port="))
}

/// Passes bytes both ways until the client's bytes contain `freeze_on`; then passes nothing
/// back. Ends when the client closes its side.
async fn relay(client: TcpStream, server: TcpStream, freeze_on: &[u8], cancels: &AtomicUsize) {
    let frozen = std::sync::atomic::AtomicBool::new(false);
    let (mut client_in, mut client_out) = client.into_split();
    let (mut server_in, mut server_out) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut seen: Vec<u8> = Vec::new();
        let mut first = true;
        loop {
            let n = match client_in.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if first && buf[..n].starts_with(&CANCEL_REQUEST) {
                cancels.fetch_add(1, Ordering::SeqCst);
            }
            first = false;
            // Keep enough of what came before to find the marker across reads.
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(freeze_on.len()).any(|w| w == freeze_on) {
                frozen.store(true, Ordering::SeqCst);
            }
            let keep = seen.len().saturating_sub(freeze_on.len());
            seen.drain(..keep);
            if server_out.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_in.read(&mut buf).await {
                Ok(0) | Err(_) => return std::future::pending::<()>().await,
                Ok(n) => n,
            };
            if frozen.load(Ordering::SeqCst) {
                return std::future::pending::<()>().await;
            }
            if client_out.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// The linked service `Ls` through the proxy on `port` (v1 connection string, no TLS).
fn through_proxy(port: u16) -> Value {
    let cs = local_connection_string();
    let (_, server_port) = local_server();
    json!({"connectionString": cs.replace(&format!("Port={server_port}"), &format!("Port={port}"))})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_frozen_during_a_lookup_ends_at_query_timeout() {
    // The Lookup's rows travel as `COPY (query) TO STDOUT`: freeze once that is sent.
    let proxy = FreezingProxy::start("TO STDOUT").await;
    let f = lookup_factory(through_proxy(proxy.port));
    one_activity(&f, lookup("SELECT 1 AS n", "00:00:02"));
    let run = run(&f).await;
    let e = assert_timed_out(
        &run,
        &[
            "dataset 'T'",
            "queryTimeout 00:00:02 exceeded",
            "the server did not answer",
            "asked the server to cancel the statement and closed the connection",
        ],
    );
    eprintln!("{e}");
    proxy.wait_for_a_cancel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_frozen_during_a_script_block_ends_at_the_block_timeout() {
    let proxy = FreezingProxy::start("frozen-script-block").await;
    let f = TestFactory::new();
    f.put(
        "linkedService",
        "Ls",
        json!({"type": "AzurePostgreSql", "typeProperties": through_proxy(proxy.port)}),
    );
    one_activity(
        &f,
        json!({"name": "Run", "type": "Script",
               "linkedServiceName": {"referenceName": "Ls", "type": "LinkedServiceReference"},
               "typeProperties": {"scriptBlockExecutionTimeout": "00:00:02", "scripts": [
                   {"type": "Query", "text": "SELECT 1 AS ok"},
                   {"type": "Query", "text": "SELECT 'frozen-script-block' AS t"}]}}),
    );
    let run = run(&f).await;
    assert_timed_out(
        &run,
        &[
            "scripts[1]",
            "scriptBlockExecutionTimeout 00:00:02 exceeded",
            "the server did not answer",
        ],
    );
    proxy.wait_for_a_cancel().await;
}

#[test]
fn a_password_with_an_unquoted_semicolon_never_shows_its_tail() {
    // Meant: the password `head-7Kq;Port=tail-9Zx`; read: Password=head-7Kq, Port=tail-9Zx.
    let cs = "Server=127.0.0.1;Database=d;UID=u;Password=head-7Kq;Port=tail-9Zx";
    let f = lookup_factory(json!({ "connectionString": cs }));
    let out = sluice(&["run", f.path().to_str().unwrap(), "--output", "json"]);
    assert_ne!(out.code, 0, "{}", out.all());
    let all = out.all();
    assert!(
        all.contains("Port must be a number") && all.contains("unquoted Password"),
        "the error names the setting and why its value is hidden: {all}"
    );
    for secret in ["head-7Kq", "tail-9Zx"] {
        assert!(!all.contains(secret), "{secret} shows: {all}");
    }
}
