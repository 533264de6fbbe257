//! Unit tests of connection-string and URL parsing (`pg_endpoint.rs`): kept apart so the
//! parser file stays about the parser.
use super::*;
use serde_json::{json, Value};

fn endpoint(ls_type: &str, version: Option<&str>, tp: Value) -> Result<PgEndpoint, String> {
    let map = tp.as_object().cloned().unwrap_or_default();
    let props = Props::new("linkedService 'LS' typeProperties", &map);
    let r = PgEndpoint::from_linked_service(&props, ls_type, version, &SecretBook::default());
    let unused = props.unused_keys();
    r.map_err(|e| e.to_string()).and_then(|ep| {
        if unused.is_empty() {
            Ok(ep)
        } else {
            Err(format!("unused properties: {unused:?}"))
        }
    })
}

fn v1(cs: &str) -> Result<PgEndpoint, String> {
    endpoint("AzurePostgreSql", None, json!({ "connectionString": cs }))
}

#[test]
fn odbc_connection_string() -> Result<(), String> {
    let ep = v1("Server=db.example.com;Database=sales;Port=5433;UID=alice;Password=s3cret-odbc-1")?;
    assert_eq!(ep.host, "db.example.com");
    assert_eq!(ep.port, 5433);
    assert_eq!(ep.database, "sales");
    assert_eq!(ep.user, "alice");
    assert_eq!(
        ep.password.as_ref().map(Secret::expose),
        Some("s3cret-odbc-1")
    );
    assert_eq!(ep.ssl_mode, SslMode::Disable);
    assert!(!format!("{ep:?}").contains("s3cret-odbc-1"));
    assert_eq!(
        ep.describe(),
        "db.example.com:5433/sales as alice (disable)"
    );
    Ok(())
}

#[test]
fn npgsql_connection_string_and_secure_string() -> Result<(), String> {
    let ep = endpoint(
        "PostgreSql",
        None,
        json!({"connectionString": {"type": "SecureString",
            "value": "host=h1;database=d1;username=bob;password='a;b''c';SSL Mode=VerifyCA;Root Certificate=/etc/ca.pem;Search Path=s1, public;Timezone=Europe/Paris;Command Timeout=30;Timeout=5;Pooling=false;Encoding=UTF8;Application Name=x"}}),
    )?;
    assert_eq!((ep.host.as_str(), ep.port), ("h1", 5432));
    assert_eq!(ep.user, "bob");
    assert_eq!(ep.password.as_ref().map(Secret::expose), Some("a;b'c"));
    assert_eq!(ep.ssl_mode, SslMode::VerifyCa);
    assert_eq!(ep.root_cert, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(ep.search_path.as_deref(), Some("s1, public"));
    assert_eq!(ep.timezone.as_deref(), Some("Europe/Paris"));
    assert_eq!(ep.command_timeout, Some(Duration::from_secs(30)));
    assert_eq!(ep.connect_timeout, Some(Duration::from_secs(5)));
    Ok(())
}

#[test]
fn keys_are_case_insensitive_and_spaces_tolerated() -> Result<(), String> {
    let ep = v1(" SERVER = h ; database=d;  uId =u ; user id=u2; pwd={x;}}y} ;em=1; Vsc = 1")?;
    assert_eq!(ep.host, "h");
    assert_eq!(ep.user, "u2");
    assert_eq!(ep.password.as_ref().map(Secret::expose), Some("x;}y"));
    assert_eq!(ep.ssl_mode, SslMode::VerifyFull);
    Ok(())
}

#[test]
fn encryption_methods() -> Result<(), String> {
    let base = "Server=h;Database=d;UID=u;";
    assert_eq!(v1(&format!("{base}EM=0"))?.ssl_mode, SslMode::Disable);
    assert_eq!(v1(&format!("{base}EM=1"))?.ssl_mode, SslMode::Require);
    assert_eq!(
        v1(&format!(
            "{base}EncryptionMethod=1;ValidateServerCertificate=1"
        ))?
        .ssl_mode,
        SslMode::VerifyFull
    );
    assert_eq!(v1(&format!("{base}EM=6"))?.ssl_mode, SslMode::Prefer);
    assert_eq!(
        v1(&format!("{base}EM=1;VSC=1;Trust Server Certificate=true"))?.ssl_mode,
        SslMode::Require
    );
    assert_eq!(
        v1(&format!("{base}EM=1;VSC=1;TrustStore=/ca.pem"))?.root_cert,
        Some(PathBuf::from("/ca.pem"))
    );
    let e = v1(&format!("{base}EM=2")).err().unwrap_or_default();
    assert!(e.contains("EncryptionMethod"), "{e}");
    assert!(e.contains("connectionString"), "{e}");
    Ok(())
}

#[test]
fn unknown_key_is_named_without_values() {
    let e = v1("Server=h;Database=d;Frobnicate=value-xyz-42;UID=u;Password=pw-unknown-key-9")
        .err()
        .unwrap_or_default();
    assert!(e.contains("Frobnicate"), "{e}");
    assert!(!e.contains("value-xyz-42"), "{e}");
    assert!(!e.contains("pw-unknown-key-9"), "{e}");
    assert!(!e.contains("Server=h"), "{e}");
    // A password with an unquoted ';' becomes a bogus key: it must not be echoed either.
    let e = v1("Server=h;Database=d;UID=u;Password=ab;cdzq7=x")
        .err()
        .unwrap_or_default();
    assert!(e.contains("right after Password"), "{e}");
    assert!(!e.contains("cdzq7"), "{e}");
    let e = v1("Server=h;Database=d;UID=u;Password=ab;c$d!=efzq9")
        .err()
        .unwrap_or_default();
    assert!(!e.contains("c$d!"), "{e}");
    assert!(!e.contains("efzq9"), "{e}");
    let e = v1("Server=h;Database=d;UID=u;Password=ab;cdzq8")
        .err()
        .unwrap_or_default();
    assert!(e.contains("no '='"), "{e}");
    assert!(!e.contains("cdzq8"), "{e}");
}

#[test]
fn values_after_an_unquoted_password_are_never_shown() {
    // `Password=x;Port=S` most likely meant the password `x;Port=S`.
    let base = "Server=h;Database=d;UID=u;Password=head-pw-41;";
    let cases = [
        "Port=Stail-pw-42",
        "Port=5432;SSL Mode=tail-pw-43",
        "EM=tail-pw-44",
        "VSC=tail-pw-45",
        "Trust Server Certificate=tail-pw-46",
        "Timeout=tail-pw-47",
        "Command Timeout=tail-pw-48",
        "Server=h:tail-pw-49",
        "Port=5432;Zzz=tail-pw-50",
    ];
    for tail in cases {
        let e = v1(&format!("{base}{tail}")).err().unwrap_or_default();
        assert!(e.contains("connectionString"), "{tail}: {e}");
        assert!(
            !e.contains("tail-pw") && !e.contains("head-pw"),
            "{tail}: {e}"
        );
        assert!(!e.contains("Zzz"), "{tail}: {e}");
        assert!(e.contains("unquoted Password"), "{tail}: {e}");
    }
    // A quoted password swallowed no ';': what follows is a value of its own, and shown.
    let e = v1("Server=h;Database=d;UID=u;Password='a;b';Port=Sport-51")
        .err()
        .unwrap_or_default();
    assert!(e.contains("Sport-51"), "{e}");
    // Values before the password are shown as usual.
    let e = v1("Server=h;Database=d;Port=Sport-52;UID=u;Password=p")
        .err()
        .unwrap_or_default();
    assert!(e.contains("Sport-52"), "{e}");
}

#[test]
fn password_property_overrides_the_string() -> Result<(), String> {
    let ep = endpoint(
        "AzurePostgreSql",
        None,
        json!({"connectionString": "Server=h;Database=d;UID=u;Password=old-pw-123",
               "password": {"type": "SecureString", "value": "new-pw-456"}}),
    )?;
    assert_eq!(ep.password.as_ref().map(Secret::expose), Some("new-pw-456"));
    Ok(())
}

#[test]
fn missing_parts_are_named() {
    let e = v1("Database=d;UID=u").err().unwrap_or_default();
    assert!(e.contains("Server"), "{e}");
    let e = v1("Server=h;UID=u").err().unwrap_or_default();
    assert!(e.contains("Database"), "{e}");
    let e = v1("Server=h;Database=d").err().unwrap_or_default();
    assert!(e.contains("UID"), "{e}");
    let e = endpoint("AzurePostgreSql", None, json!({}))
        .err()
        .unwrap_or_default();
    assert!(e.contains("connectionString"), "{e}");
}

#[test]
fn v2_properties() -> Result<(), String> {
    let ep = endpoint(
        "AzurePostgreSql",
        Some("2.0"),
        json!({"server": "pg.example.com:6432", "database": "db", "username": "u",
               "password": {"type": "SecureString", "value": "v2-pw-789"},
               "authenticationType": "Basic", "sslMode": 5, "schema": "app",
               "connectionTimeout": 7, "commandTimeout": 0, "timezone": "UTC",
               "encoding": "UTF8", "readBufferSize": 8192, "pooling": true,
               "rootCertificate": "/ca.pem"}),
    )?;
    assert_eq!((ep.host.as_str(), ep.port), ("pg.example.com", 6432));
    assert_eq!(ep.ssl_mode, SslMode::VerifyFull);
    assert_eq!(ep.search_path.as_deref(), Some("app"));
    assert_eq!(ep.connect_timeout, Some(Duration::from_secs(7)));
    assert_eq!(ep.command_timeout, None);
    assert_eq!(ep.root_cert, Some(PathBuf::from("/ca.pem")));
    // Explicit port wins; default sslMode is Prefer; string forms accepted.
    let ep = endpoint(
        "PostgreSqlV2",
        None,
        json!({"server": "h", "port": "5439", "database": "d", "username": "u",
               "sslmode": "Verify-CA", "trustServerCertificate": true}),
    )?;
    assert_eq!(ep.port, 5439);
    assert_eq!(ep.ssl_mode, SslMode::Require);
    let ep = endpoint(
        "AzurePostgreSql",
        None,
        json!({"server": "h", "database": "d", "username": "u", "sslMode": "4"}),
    )?;
    assert_eq!(ep.ssl_mode, SslMode::VerifyCa);
    let ep = endpoint(
        "AzurePostgreSql",
        Some("2.0"),
        json!({"server": "h", "database": "d", "username": "u"}),
    )?;
    assert_eq!((ep.port, ep.ssl_mode), (5432, SslMode::Prefer));
    Ok(())
}

#[test]
fn v2_errors() {
    let e = endpoint(
        "AzurePostgreSql",
        Some("2.0"),
        json!({"server": "h", "database": "d", "username": "u", "sslMode": 7}),
    )
    .err()
    .unwrap_or_default();
    assert!(e.contains("sslMode must be 0-5"), "{e}");
    assert!(e.contains("found 7"), "{e}");
    let e = endpoint(
        "AzurePostgreSql",
        Some("2.0"),
        json!({"database": "d", "username": "u"}),
    )
    .err()
    .unwrap_or_default();
    assert!(e.contains("'server'") && e.contains("required"), "{e}");
    let e = endpoint(
        "PostgreSqlV2",
        None,
        json!({"server": "h", "database": "d"}),
    )
    .err()
    .unwrap_or_default();
    assert!(e.contains("'username'"), "{e}");
    let e = endpoint(
        "PostgreSqlV2",
        None,
        json!({"server": "h", "database": "d", "username": "u",
               "authenticationType": "ServicePrincipal"}),
    )
    .err()
    .unwrap_or_default();
    assert!(e.contains("Basic"), "{e}");
    let e = endpoint(
        "PostgreSqlV2",
        None,
        json!({"server": "h", "port": 70000, "database": "d", "username": "u"}),
    )
    .err()
    .unwrap_or_default();
    assert!(e.contains("'port'"), "{e}");
}

#[test]
fn urls() -> Result<(), String> {
    let ep = PgEndpoint::from_url(
        "postgres://us%40er:p%3Ass-url-1@127.0.0.1:5433/my%20db?sslmode=verify-ca&sslrootcert=/ca.pem",
    )
    .map_err(|e| e.to_string())?;
    assert_eq!(ep.user, "us@er");
    assert_eq!(ep.password.as_ref().map(Secret::expose), Some("p:ss-url-1"));
    assert_eq!((ep.host.as_str(), ep.port), ("127.0.0.1", 5433));
    assert_eq!(ep.database, "my db");
    assert_eq!(ep.ssl_mode, SslMode::VerifyCa);
    assert_eq!(ep.describe(), "127.0.0.1:5433/my db as us@er (verify-ca)");
    let ep = PgEndpoint::from_url("postgresql://postgres@[::1]/test").map_err(|e| e.to_string())?;
    assert_eq!((ep.host.as_str(), ep.port), ("::1", 5432));
    assert_eq!(ep.host_port(), "[::1]:5432");
    let e = PgEndpoint::from_url("postgres://u:url-secret-77@h/d?bogus=1")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("bogus") && !e.contains("url-secret-77"), "{e}");
    assert!(PgEndpoint::from_url("mysql://u@h/d").is_err());
    Ok(())
}
