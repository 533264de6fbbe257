//! The service's HTTP API (issue 14) against a real control database and a real TLS server
//! (in-process, a test CA made by rcgen): every "bad input" case answers one ARM-shaped error
//! and the server keeps answering; a second tenant's token reaches nothing of the first
//! tenant's factories, definitions, secrets, runs or plugins; definitions are validated on PUT
//! and SecureStrings are sealed at rest and masked on GET; runs are created, read, queried and
//! cancelled (no worker here: they stay Queued); and Microsoft's own Python SDK
//! (`azure-mgmt-datafactory`, in target/sdk-venv) manages factories and definitions.
//!
//! [`server::Service`] and [`sdk::sdk_python`] are for other service tests too.

mod bad_input;
mod isolation;
mod resources;
pub mod sdk;
pub mod server;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use server::{Service, Tenant};

const API: &str = "api-version=2018-06-01";
const SECRET: &str = "Server=127.0.0.1;Port=5432;Database=test;UID=postgres;PWD=Very-Secret-42";

fn factory_path(t: &Tenant, rg: &str, f: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.DataFactory/factories/{f}",
        t.sub
    )
}

/// Asserts one ARM error with `code`, and returns its message.
fn arm_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) -> String {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!message.is_empty(), "{body}");
    message
}

/// A factory with a PostgreSQL linked service (SecureString), two table datasets and a copy
/// pipeline with one String parameter.
async fn seed(s: &Service, t: &Tenant, f: &str) -> String {
    let fp = factory_path(t, "rg", f);
    let (st, _) = s
        .json(Method::PUT, t, &fp, Some(json!({"location": "local"})))
        .await;
    assert_eq!(st, StatusCode::OK);
    let ls = json!({"properties": {"type": "AzurePostgreSql", "typeProperties": {
        "connectionString": {"type": "SecureString", "value": SECRET}}}});
    let (st, body) = s
        .json(Method::PUT, t, &format!("{fp}/linkedservices/Pg"), Some(ls))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    for name in ["Source", "Sink"] {
        let ds = json!({"properties": {"type": "AzurePostgreSqlTable",
            "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
            "typeProperties": {"schema": "s", "table": name.to_lowercase()}}});
        let (st, body) = s
            .json(Method::PUT, t, &format!("{fp}/datasets/{name}"), Some(ds))
            .await;
        assert_eq!(st, StatusCode::OK, "{body}");
    }
    let (st, body) = s
        .json(
            Method::PUT,
            t,
            &format!("{fp}/pipelines/Copy"),
            Some(pipeline("Sink")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    fp
}

fn pipeline(sink: &str) -> Value {
    json!({"properties": {
        "parameters": {"label": {"type": "String", "defaultValue": "x"}, "n": {"type": "Int", "defaultValue": 1}},
        "activities": [{"name": "CopyRows", "type": "Copy",
            "inputs": [{"referenceName": "Source", "type": "DatasetReference"}],
            "outputs": [{"referenceName": sink, "type": "DatasetReference"}],
            "typeProperties": {"source": {"type": "AzurePostgreSqlSource"}, "sink": {"type": "AzurePostgreSqlSink"}}}]}})
}
