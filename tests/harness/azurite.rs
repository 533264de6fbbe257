//! Azurite, the official Azure Storage emulator, started per test on a port of its own in a temporary
//! folder and killed when dropped; plus a tiny signed (SharedKey) HTTP client to create
//! containers, upload fixtures and inspect what Sluice wrote, independently of Sluice's own
//! `object_store` client.
//!
//! Azurite is installed into `tests/.azurite` by `tests/run` (or by hand with the command in
//! [`INSTALL`]); when it is missing the tests fail with that command.
//!
//! [`Azurite::start_oauth`] starts it over HTTPS (a certificate from [`crate::certs`]) with
//! `--oauth basic`, the only way Azurite accepts bearer tokens: it then checks each token's
//! issuer, audience and lifetime (not its signature), as its README's "OAuth Configuration"
//! describes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::TestFactory;

/// The emulator's well-known account and key.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// How to install Azurite where the tests look for it.
pub const INSTALL: &str = "npm install --prefix tests/.azurite azurite@3.35.0";
const VERSION: &str = "2021-08-06";

/// A running Azurite blob service.
pub struct Azurite {
    child: Child,
    pub port: u16,
    /// HTTPS (`start_oauth`): the CA file that signed Azurite's certificate (give it to sluice
    /// as `SSL_CERT_FILE`) and a client configuration trusting it.
    tls: Option<(PathBuf, Arc<rustls::ClientConfig>)>,
    _dir: tempfile::TempDir,
}

fn azurite_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".azurite/node_modules/.bin/azurite-blob")
}

/// The port in Azurite's "successfully listens on http(s)://127.0.0.1:<port>" line.
fn listening_port(line: &str) -> Option<u16> {
    line.split_once("listens on http")?
        .1
        .rsplit(':')
        .next()?
        .trim()
        .parse()
        .ok()
}

impl Azurite {
    /// Starts Azurite on a port the system picks (`--blobPort 0`) and waits for the line that
    /// names it. Choosing a free port beforehand raced with other tests starting emulators:
    /// a test could end up talking to another test's Azurite as it shut down.
    pub fn start() -> Azurite {
        Azurite::launch(false)
    }

    /// Starts Azurite over HTTPS with `--oauth basic`: it accepts bearer tokens (and still
    /// shared keys and SAS). Sluice must trust [`Azurite::ca_file`].
    pub fn start_oauth() -> Azurite {
        Azurite::launch(true)
    }

    /// The CA that signed the HTTPS certificate (`start_oauth` only).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|(ca, _)| ca.clone())
    }

    fn launch(oauth: bool) -> Azurite {
        let bin = azurite_bin();
        assert!(
            bin.exists(),
            "Azurite is not installed ({} is missing); install it with:\n  {INSTALL}\n(from the repository root; Node.js 18+ and npm are needed)",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let mut extra: Vec<String> = Vec::new();
        let mut tls = None;
        if oauth {
            let pki = crate::certs::generate().unwrap();
            let pki_dir = dir.path().join("pki");
            std::fs::create_dir_all(&pki_dir).unwrap();
            let files = pki.write_to(&pki_dir).unwrap();
            extra = vec![
                "--cert".into(),
                files.server_cert.display().to_string(),
                "--key".into(),
                files.server_key.display().to_string(),
                "--oauth".into(),
                "basic".into(),
            ];
            tls = Some((files.ca, client_config(&pki.ca_pem)));
        }
        let mut child = Command::new(&bin)
            .args(&extra)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--location",
                dir.path().to_str().unwrap(),
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
                "--disableTelemetry",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} (is node installed?)", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the port, then keeps draining stdout so Azurite never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let _ = tx.send(port);
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => Azurite {
                child,
                port,
                tls,
                _dir: dir,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("Azurite did not report a listening port within 30 s");
            }
        }
    }

    /// `http://127.0.0.1:<port>/devstoreaccount1` (`https://` when started with OAuth).
    pub fn endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}/{ACCOUNT}", self.scheme(), self.port)
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol={};AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={}/;",
            self.scheme(),
            self.endpoint()
        )
    }

    /// An `AzureBlobStorage` linked service `name` on this emulator (key as a SecureString).
    pub fn linked_service(&self, f: &TestFactory, name: &str) {
        f.put(
            "linkedService",
            name,
            json!({"type": "AzureBlobStorage", "typeProperties": {
                "connectionString": {"type": "SecureString", "value": self.connection_string()}}}),
        );
    }

    /// An account SAS token (blob service; read, write, delete, list, add, create) valid until
    /// 2099, signed with the account key, without the leading `?`.
    pub fn account_sas(&self) -> String {
        let (sp, ss, srt, se, spr, sv) = (
            "rwdlac",
            "b",
            "sco",
            "2099-01-01T00:00:00Z",
            "https,http",
            VERSION,
        );
        let to_sign = format!("{ACCOUNT}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n{spr}\n{sv}\n\n");
        let key = base64::engine::general_purpose::STANDARD
            .decode(ACCOUNT_KEY)
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(to_sign.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let sig: String = sig
            .chars()
            .map(|c| match c {
                '+' => "%2B".to_string(),
                '/' => "%2F".to_string(),
                '=' => "%3D".to_string(),
                c => c.to_string(),
            })
            .collect();
        format!("sv={sv}&ss={ss}&srt={srt}&sp={sp}&se={se}&spr={spr}&sig={sig}")
    }

    /// Signs and sends one request; returns the status and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut ms: Vec<(String, String)> = vec![
            ("x-ms-date".into(), date),
            ("x-ms-version".into(), VERSION.into()),
        ];
        for (k, v) in headers {
            if k.starts_with("x-ms-") {
                ms.push((k.to_string(), v.to_string()));
            }
        }
        ms.sort();
        let length = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        let uri_path = format!("/{ACCOUNT}/{path}");
        let mut canon_query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        canon_query.sort();
        let mut to_sign = format!("{method}\n\n\n{length}\n\n\n\n\n\n\n\n\n");
        for (k, v) in &ms {
            to_sign.push_str(&format!("{k}:{v}\n"));
        }
        to_sign.push_str(&format!("/{ACCOUNT}{uri_path}"));
        for (k, v) in &canon_query {
            to_sign.push_str(&format!("\n{k}:{v}"));
        }
        let key = base64::engine::general_purpose::STANDARD
            .decode(ACCOUNT_KEY)
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(to_sign.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());

        let qs = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let target = if qs.is_empty() {
            uri_path.clone()
        } else {
            format!("{uri_path}?{qs}")
        };
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\nAuthorization: SharedKey {ACCOUNT}:{sig}\r\n",
            self.port,
            body.len()
        );
        for (k, v) in &ms {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut resp = Vec::new();
        match &self.tls {
            None => {
                let mut stream = stream;
                stream.write_all(req.as_bytes()).unwrap();
                stream.write_all(body).unwrap();
                stream.read_to_end(&mut resp).unwrap();
            }
            Some((_, config)) => {
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                tls.write_all(req.as_bytes()).unwrap();
                tls.write_all(body).unwrap();
                // Node may close without a TLS close_notify once the response is sent.
                if let Err(e) = tls.read_to_end(&mut resp) {
                    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
                }
            }
        }
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("no HTTP header end");
        let head = String::from_utf8_lossy(&resp[..split]).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("no HTTP status");
        let mut body = resp[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        (status, body)
    }

    pub fn create_container(&self, name: &str) {
        let (status, body) = self.request("PUT", name, &[("restype", "container")], &[], b"");
        assert_eq!(
            status,
            201,
            "create container {name}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    pub fn put_blob(&self, container: &str, name: &str, bytes: &[u8]) {
        let (status, body) = self.request(
            "PUT",
            &format!("{container}/{name}"),
            &[],
            &[("x-ms-blob-type", "BlockBlob")],
            bytes,
        );
        assert_eq!(
            status,
            201,
            "put blob {container}/{name}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// The blob's bytes, or `None` when it does not exist.
    pub fn get_blob(&self, container: &str, name: &str) -> Option<Vec<u8>> {
        let (status, body) = self.request("GET", &format!("{container}/{name}"), &[], &[], b"");
        match status {
            200 => Some(body),
            404 => None,
            other => panic!(
                "get blob {container}/{name}: HTTP {other}: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }

    /// Names of the committed blobs in a container, sorted.
    pub fn list_blobs(&self, container: &str) -> Vec<String> {
        let (status, body) = self.request(
            "GET",
            container,
            &[("comp", "list"), ("restype", "container")],
            &[],
            b"",
        );
        assert_eq!(
            status,
            200,
            "list {container}: {}",
            String::from_utf8_lossy(&body)
        );
        let text = String::from_utf8_lossy(&body);
        let mut names: Vec<String> = text
            .split("<Name>")
            .skip(1)
            .filter_map(|s| s.split("</Name>").next())
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }
}

/// A TLS client configuration trusting only `ca_pem`.
fn client_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..eol])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
