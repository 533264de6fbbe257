//! Every SSL mode of the ADF linked services against real servers: a TLS-only server, a TLS
//! server whose certificate names another host, and a server without TLS; plus scram-sha-256
//! password authentication. Each connection checks `pg_stat_ssl` to prove it really is (or is
//! not) encrypted, and every error is checked to never contain a password.
//!
//! The three clusters are started once and every case runs against them in one test, so the
//! whole file costs three `initdb`s.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use sluice::cli::pgcluster::{ClusterOptions, ServerTls, TempCluster};
use sluice::model::pg_endpoint::PgEndpoint;
use sluice::model::props::Props;
use sluice::secrets::Secret;
use sluice::stores::postgres::connect::connect;
use sluice_e2e::certs;

const USER: &str = "sluice_tls";
const PW: &str = "Tls-Test-Pw-4711";
const WRONG_PW: &str = "Wrong-Pw-0815";
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

/// What a case must produce.
enum Expect {
    /// Connects; `true` = the session is encrypted.
    Ssl(bool),
    /// Fails with a message containing one of these (case-insensitive).
    Fail(&'static [&'static str]),
}

const CERT_ERR: &[&str] = &["certificate", "UnknownIssuer"];
const NAME_ERR: &[&str] = &["not valid for name", "NotValidForName"];
const NO_TLS_ERR: &[&str] = &["server does not support TLS"];
const HBA_ERR: &[&str] = &["no pg_hba.conf entry"];
const PW_ERR: &[&str] = &["password authentication failed"];

struct Case {
    name: String,
    endpoint: Result<PgEndpoint, String>,
    expect: Expect,
}

/// Goes through the ADF shape: typeProperties JSON -> `PgEndpoint::from_linked_service`.
fn linked_service(
    ls_type: &str,
    version: Option<&str>,
    type_properties: Value,
) -> Result<PgEndpoint, String> {
    let map = type_properties
        .as_object()
        .cloned()
        .ok_or_else(|| "typeProperties must be an object".to_string())?;
    let props = Props::new("linkedService 'TlsTest' typeProperties", &map);
    let ep = PgEndpoint::from_linked_service(
        &props,
        ls_type,
        version,
        &sluice::secrets::SecretBook::default(),
    )
    .map_err(|e| e.to_string())?;
    let unused = props.unused();
    if !unused.is_empty() {
        return Err(format!("properties not read: {unused:?}"));
    }
    Ok(ep)
}

/// A version 2.0 AzurePostgreSql linked service.
fn v2(
    port: u16,
    user: &str,
    password: Option<&str>,
    ssl_mode: Value,
    extra: Value,
) -> Result<PgEndpoint, String> {
    let mut tp = json!({
        "server": "127.0.0.1",
        "port": port,
        "database": "sluice",
        "username": user,
        "authenticationType": "Basic",
        "sslMode": ssl_mode,
    });
    if let (Some(obj), Some(pw)) = (tp.as_object_mut(), password) {
        obj.insert(
            "password".into(),
            json!({"type": "SecureString", "value": pw}),
        );
    }
    if let (Some(obj), Some(extra)) = (tp.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    linked_service("AzurePostgreSql", Some("2.0"), tp)
}

/// A v1 AzurePostgreSql linked service with an ODBC connection string in a SecureString.
fn v1(connection_string: String) -> Result<PgEndpoint, String> {
    linked_service(
        "AzurePostgreSql",
        None,
        json!({"connectionString": {"type": "SecureString", "value": connection_string}}),
    )
}

fn odbc(port: u16, user: &str, password: &str, tail: &str) -> String {
    format!("Server=127.0.0.1;Port={port};Database=sluice;UID={user};Password={password};{tail}")
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

async fn start(opts: ClusterOptions, what: &str) -> anyhow::Result<TempCluster> {
    tokio::time::timeout(Duration::from_secs(180), TempCluster::start(opts))
        .await
        .map_err(|_| anyhow::anyhow!("starting the {what} cluster timed out"))?
        .map_err(|e| e.context(format!("starting the {what} cluster")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ssl_mode_against_real_servers() -> anyhow::Result<()> {
    let pki = certs::generate()?;
    let dir = tempfile::tempdir()?;
    let files = pki.write_to(dir.path())?;
    let (ca, wrong_ca) = (path_str(&files.ca), path_str(&files.wrong_ca));

    let password_user = Some((USER.to_string(), Secret::new(PW)));
    let (tls, wrong_host, plain) = tokio::join!(
        start(
            ClusterOptions {
                tls: Some(ServerTls {
                    cert_pem: pki.server_cert_pem.clone(),
                    key_pem: pki.server_key_pem.clone(),
                }),
                tls_only: true,
                password_user: password_user.clone(),
                fast: true,
            },
            "TLS-only"
        ),
        start(
            ClusterOptions {
                tls: Some(ServerTls {
                    cert_pem: pki.wrong_host_cert_pem.clone(),
                    key_pem: pki.wrong_host_key_pem.clone(),
                }),
                tls_only: false,
                password_user: None,
                fast: true,
            },
            "wrong-host-certificate"
        ),
        start(
            ClusterOptions {
                tls: None,
                tls_only: false,
                password_user,
                fast: true,
            },
            "plain"
        ),
    );
    let (mut tls, mut wrong_host, mut plain) = (tls?, wrong_host?, plain?);
    let (t, w, p) = (tls.port(), wrong_host.port(), plain.port());
    let su = wrong_host.superuser().to_string();

    let mut cases: Vec<Case> = Vec::new();
    let mut case = |name: &str, endpoint: Result<PgEndpoint, String>, expect: Expect| {
        cases.push(Case {
            name: name.to_string(),
            endpoint,
            expect,
        })
    };
    let none = json!({});
    let with_ca = json!({ "rootCertificate": ca });
    let with_wrong_ca = json!({ "sslRootCert": wrong_ca });

    // --- TLS-only server, certificate for localhost/127.0.0.1 from the test CA, scram.
    case(
        "tls v2 sslMode 0",
        v2(t, USER, Some(PW), json!(0), none.clone()),
        Expect::Fail(HBA_ERR),
    );
    case(
        "tls v2 sslMode 1 (allow: plain refused, TLS retry)",
        v2(t, USER, Some(PW), json!(1), none.clone()),
        Expect::Ssl(true),
    );
    case(
        "tls v2 sslMode 2",
        v2(t, USER, Some(PW), json!(2), none.clone()),
        Expect::Ssl(true),
    );
    case(
        "tls v2 sslMode 3",
        v2(t, USER, Some(PW), json!(3), none.clone()),
        Expect::Ssl(true),
    );
    case(
        "tls v2 sslMode 3 ignores a wrong CA",
        v2(t, USER, Some(PW), json!(3), with_wrong_ca.clone()),
        Expect::Ssl(true),
    );
    case(
        "tls v2 sslMode 4 good CA",
        v2(t, USER, Some(PW), json!(4), with_ca.clone()),
        Expect::Ssl(true),
    );
    case(
        "tls v2 sslMode 5 good CA",
        v2(t, USER, Some(PW), json!(5), with_ca.clone()),
        Expect::Ssl(true),
    );
    case(
        "tls v2 sslMode 4 wrong CA",
        v2(t, USER, Some(PW), json!(4), with_wrong_ca.clone()),
        Expect::Fail(CERT_ERR),
    );
    case(
        "tls v2 sslMode 5 wrong CA",
        v2(t, USER, Some(PW), json!(5), with_wrong_ca.clone()),
        Expect::Fail(CERT_ERR),
    );
    case(
        "tls v2 sslMode 5 system roots",
        v2(t, USER, Some(PW), json!(5), none.clone()),
        Expect::Fail(CERT_ERR),
    );
    case(
        "tls v2 sslMode 5 wrong CA + trustServerCertificate",
        v2(
            t,
            USER,
            Some(PW),
            json!(5),
            json!({"sslRootCert": wrong_ca, "trustServerCertificate": true}),
        ),
        Expect::Ssl(true),
    );
    case(
        "tls v2 'Verify-Full' server localhost:port",
        linked_service(
            "PostgreSqlV2",
            None,
            json!({"server": format!("localhost:{t}"), "database": "sluice", "username": USER,
                   "password": {"type": "SecureString", "value": PW},
                   "sslmode": "Verify-Full", "rootCertificate": ca}),
        ),
        Expect::Ssl(true),
    );
    case(
        "tls v2 sslMode 3 wrong password",
        v2(t, USER, Some(WRONG_PW), json!(3), none.clone()),
        Expect::Fail(PW_ERR),
    );
    case(
        "tls v2 sslMode 3 no password",
        v2(t, USER, None, json!(3), none.clone()),
        Expect::Fail(&["password"]),
    );
    case(
        "tls v1 EM=0",
        v1(odbc(t, USER, PW, "EncryptionMethod=0")),
        Expect::Fail(HBA_ERR),
    );
    case(
        "tls v1 EM=1 VSC=0",
        v1(odbc(
            t,
            USER,
            PW,
            "EncryptionMethod=1;ValidateServerCertificate=0",
        )),
        Expect::Ssl(true),
    );
    case(
        "tls v1 EM=1 VSC=0 wrong CA",
        v1(odbc(
            t,
            USER,
            PW,
            &format!("EM=1;VSC=0;TrustStore={wrong_ca}"),
        )),
        Expect::Ssl(true),
    );
    case(
        "tls v1 EM=1 VSC=1 good CA",
        v1(odbc(t, USER, PW, &format!("EM=1;VSC=1;TrustStore={ca}"))),
        Expect::Ssl(true),
    );
    case(
        "tls v1 EM=1 VSC=1 wrong CA",
        v1(odbc(
            t,
            USER,
            PW,
            &format!("EM=1;VSC=1;TrustStore={wrong_ca}"),
        )),
        Expect::Fail(CERT_ERR),
    );
    case(
        "tls v1 EM=1 VSC=1 system roots",
        v1(odbc(t, USER, PW, "EM=1;VSC=1")),
        Expect::Fail(CERT_ERR),
    );
    case(
        "tls v1 EM=6 VSC=0",
        v1(odbc(t, USER, PW, "EM=6;VSC=0")),
        Expect::Ssl(true),
    );
    case(
        "tls v1 EM=6 VSC=1",
        v1(odbc(t, USER, PW, "EM=6;VSC=1")),
        Expect::Ssl(true),
    );
    case(
        "tls v1 Npgsql style VerifyCA",
        v1(format!("host=127.0.0.1;port={t};database=sluice;username={USER};password='{PW}';SSL Mode=VerifyCA;Root Certificate={ca}")),
        Expect::Ssl(true),
    );
    case(
        "tls v1 separate password property",
        linked_service(
            "AzurePostgreSql",
            None,
            json!({"connectionString": format!("Server=127.0.0.1;Port={t};Database=sluice;UID={USER};EM=1"),
                   "password": {"type": "SecureString", "value": PW}}),
        ),
        Expect::Ssl(true),
    );
    case(
        "tls v1 EM=1 wrong password",
        v1(odbc(t, USER, WRONG_PW, "EM=1")),
        Expect::Fail(PW_ERR),
    );

    // --- TLS server whose certificate (right CA) names not-this-host.example; trust auth.
    case(
        "wrong-host v2 sslMode 4 good CA",
        v2(w, &su, None, json!(4), with_ca.clone()),
        Expect::Ssl(true),
    );
    case(
        "wrong-host v2 sslMode 5 good CA",
        v2(w, &su, None, json!(5), with_ca.clone()),
        Expect::Fail(NAME_ERR),
    );
    case(
        "wrong-host v2 sslMode 4 wrong CA",
        v2(w, &su, None, json!(4), with_wrong_ca.clone()),
        Expect::Fail(CERT_ERR),
    );
    case(
        "wrong-host v1 EM=1 VSC=1 good CA",
        v1(odbc(
            w,
            &su,
            "unused-pw",
            &format!("EM=1;VSC=1;TrustStore={ca}"),
        )),
        Expect::Fail(NAME_ERR),
    );
    case(
        "wrong-host v2 sslMode 0",
        v2(w, &su, None, json!(0), none.clone()),
        Expect::Ssl(false),
    );
    case(
        "wrong-host v2 sslMode 1 (allow: plain first)",
        v2(w, &su, None, json!(1), none.clone()),
        Expect::Ssl(false),
    );
    case(
        "wrong-host v2 sslMode 2",
        v2(w, &su, None, json!(2), none.clone()),
        Expect::Ssl(true),
    );
    case(
        "wrong-host v2 sslMode 3",
        v2(w, &su, None, json!(3), none.clone()),
        Expect::Ssl(true),
    );
    case(
        "wrong-host url()",
        PgEndpoint::from_url(&wrong_host.url()).map_err(|e| e.to_string()),
        Expect::Ssl(true),
    );
    case(
        "wrong-host url() sslmode=disable",
        PgEndpoint::from_url(&format!("{}?sslmode=disable", wrong_host.url()))
            .map_err(|e| e.to_string()),
        Expect::Ssl(false),
    );

    // --- Server without TLS, scram.
    case(
        "plain v2 sslMode 0",
        v2(p, USER, Some(PW), json!(0), none.clone()),
        Expect::Ssl(false),
    );
    case(
        "plain v2 sslMode 1",
        v2(p, USER, Some(PW), json!(1), none.clone()),
        Expect::Ssl(false),
    );
    case(
        "plain v2 sslMode 2",
        v2(p, USER, Some(PW), json!(2), none.clone()),
        Expect::Ssl(false),
    );
    case(
        "plain v2 sslMode 3",
        v2(p, USER, Some(PW), json!(3), none.clone()),
        Expect::Fail(NO_TLS_ERR),
    );
    case(
        "plain v2 sslMode 4",
        v2(p, USER, Some(PW), json!(4), with_ca.clone()),
        Expect::Fail(NO_TLS_ERR),
    );
    case(
        "plain v2 sslMode 5",
        v2(p, USER, Some(PW), json!(5), with_ca.clone()),
        Expect::Fail(NO_TLS_ERR),
    );
    case(
        "plain v1 EM=0",
        v1(odbc(p, USER, PW, "EM=0")),
        Expect::Ssl(false),
    );
    case(
        "plain v1 EM=6",
        v1(odbc(p, USER, PW, "EM=6")),
        Expect::Ssl(false),
    );
    case(
        "plain v1 EM=1 VSC=0",
        v1(odbc(p, USER, PW, "EM=1;VSC=0")),
        Expect::Fail(NO_TLS_ERR),
    );
    case(
        "plain v1 EM=1 VSC=1",
        v1(odbc(p, USER, PW, &format!("EM=1;VSC=1;TrustStore={ca}"))),
        Expect::Fail(NO_TLS_ERR),
    );
    case(
        "plain v2 sslMode 0 wrong password",
        v2(p, USER, Some(WRONG_PW), json!(0), none.clone()),
        Expect::Fail(PW_ERR),
    );
    case(
        "plain v2 sslMode 1 wrong password (both attempts)",
        v2(p, USER, Some(WRONG_PW), json!(1), none.clone()),
        Expect::Fail(PW_ERR),
    );
    case(
        "plain v1 EM=0 wrong password",
        v1(odbc(p, USER, WRONG_PW, "EM=0")),
        Expect::Fail(PW_ERR),
    );

    let mut failures = Vec::new();
    let total = cases.len();
    for c in cases {
        if let Err(problem) = run_case(&c).await {
            failures.push(format!("{}: {problem}", c.name));
        }
    }
    tls.stop();
    wrong_host.stop();
    plain.stop();
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

/// Runs one case; `Err` describes how it differed from the expectation.
async fn run_case(c: &Case) -> Result<(), String> {
    let ep = c
        .endpoint
        .as_ref()
        .map_err(|e| format!("linked service rejected: {e}"))?;
    let described = ep.describe();
    if described.contains(PW) || described.contains(WRONG_PW) {
        return Err(format!("describe() shows a password: {described}"));
    }
    let result = tokio::time::timeout(CONNECT_LIMIT, connect(ep, "sluice-tls-test"))
        .await
        .map_err(|_| format!("connect did not finish within {CONNECT_LIMIT:?}"))?;
    match (result, &c.expect) {
        (Ok(client), Expect::Ssl(want)) => {
            let row = tokio::time::timeout(
                CONNECT_LIMIT,
                client.query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                ),
            )
            .await
            .map_err(|_| "pg_stat_ssl query timed out".to_string())?
            .map_err(|e| format!("pg_stat_ssl query failed: {e}"))?;
            let ssl: bool = row.try_get(0).map_err(|e| e.to_string())?;
            eprintln!("{}: connected, ssl={ssl}", c.name);
            if ssl != *want {
                return Err(format!("connected with ssl={ssl}, expected ssl={want}"));
            }
            Ok(())
        }
        (Ok(_), Expect::Fail(_)) => Err("connected, but the connection should have failed".into()),
        (Err(e), Expect::Ssl(_)) => Err(format!("failed: {e}")),
        (Err(e), Expect::Fail(needles)) => {
            let msg = e.to_string();
            if msg.contains(PW) || msg.contains(WRONG_PW) {
                return Err(format!("error shows a password: {msg}"));
            }
            if !msg.starts_with("cannot connect to PostgreSQL at ") {
                return Err(format!("error does not say where it connected: {msg}"));
            }
            eprintln!("{}: failed as expected: {msg}", c.name);
            let lower = msg.to_lowercase();
            if needles.iter().any(|n| lower.contains(&n.to_lowercase())) {
                Ok(())
            } else {
                Err(format!("error should mention one of {needles:?}: {msg}"))
            }
        }
    }
}
