//! Connection-string parsing: any text as a PostgreSQL linked service's v1 `connectionString`,
//! as a `postgres://` URL, and as an Azure Storage connection string. Each is a value or an
//! error naming the property, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use sluice::model::files::blob_account::parse_connection_string;
use sluice::model::pg_endpoint::PgEndpoint;
use sluice::model::props::Props;
use sluice::secrets::{Redactor, SecretBook};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let book = SecretBook::default();
    for (ls_type, version) in [("AzurePostgreSql", None), ("PostgreSqlV2", Some("2.0"))] {
        let tp = json!({"connectionString": text});
        if let Value::Object(map) = &tp {
            let props = Props::new("linkedService 'LS' typeProperties", map);
            if let Ok(ep) = PgEndpoint::from_linked_service(&props, ls_type, version, &book) {
                let _ = ep.describe();
            }
        }
    }
    if let Ok(ep) = PgEndpoint::from_url(text) {
        let _ = ep.describe();
    }
    let _ = parse_connection_string(text, &Redactor::new());
});
