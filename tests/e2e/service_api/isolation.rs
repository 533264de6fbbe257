//! A second tenant's token reaches nothing of the first tenant's factories, definitions,
//! secrets, runs or plugins, on any endpoint; a rotated token stops working.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::server::Service;
use super::{factory_path, seed};

#[tokio::test]
async fn another_tenant_reaches_nothing_of_the_first() {
    let s = Service::start(32 << 20).await;
    let a = s.tenant("tenant-a", 10_000).await;
    let b = s.tenant("tenant-b", 10_000).await;
    let fp = seed(&s, &a, "Shared").await;
    let plugin = std::fs::read(plugin_file("identity")).unwrap();
    let (st, _, text) = s
        .send(
            Method::PUT,
            Some(&a.token),
            &format!(
                "{fp}/plugins/identity/versions/{}",
                plugin_version("identity")
            ),
            Some(plugin.clone()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let stored: Value = serde_json::from_str(&text).unwrap();
    let sha = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&plugin));
    let sha: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(stored["properties"]["sha256"], sha.as_str(), "{stored}");
    assert_eq!(stored["properties"]["size"], plugin.len(), "{stored}");
    // A component whose info() names another plugin is refused.
    let (st, _, text) = s
        .send(
            Method::PUT,
            Some(&a.token),
            &format!("{fp}/plugins/other/versions/{}", plugin_version("identity")),
            Some(plugin),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(
        text.contains("InvalidPlugin") && text.contains("identity@"),
        "{text}"
    );
    let (st, created) = s
        .json(
            Method::POST,
            &a,
            &format!("{fp}/pipelines/Copy/createRun"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let run_id = created["runId"].as_str().unwrap().to_string();
    let (_, a_factory) = s.json(Method::GET, &a, &fp, None).await;
    let a_etag = a_factory["eTag"].as_str().unwrap().to_string();

    // Every endpoint, with B's token on A's subscription, and on B's own subscription with
    // A's names: never 2xx, never A's data.
    let version = plugin_version("identity");
    // (B's own subscription may hold a factory of the same name: there, B's PUT and DELETE
    // of the factory itself are B's business and not tried.)
    let below = |root: &str, own: bool| -> Vec<(Method, String, Option<Value>)> {
        let mut v = vec![(Method::GET, root.to_string(), None)];
        if !own {
            v.push((
                Method::PUT,
                root.to_string(),
                Some(json!({"location": "x"})),
            ));
            v.push((Method::DELETE, root.to_string(), None));
        }
        v.extend([
            (Method::GET, format!("{root}/linkedservices"), None),
            (Method::GET, format!("{root}/linkedservices/Pg"), None),
            (
                Method::PUT,
                format!("{root}/datasets/Source"),
                Some(json!({"properties": {}})),
            ),
            (Method::DELETE, format!("{root}/pipelines/Copy"), None),
            (Method::GET, format!("{root}/pipelines"), None),
            (Method::GET, format!("{root}/datasets/Sink"), None),
            (
                Method::POST,
                format!("{root}/pipelines/Copy/createRun"),
                None,
            ),
            (Method::GET, format!("{root}/pipelineruns/{run_id}"), None),
            (
                Method::POST,
                format!("{root}/pipelineruns/{run_id}/cancel"),
                None,
            ),
            (
                Method::POST,
                format!("{root}/queryPipelineRuns"),
                Some(
                    json!({"lastUpdatedAfter": "2000-01-01T00:00:00Z", "lastUpdatedBefore": "2100-01-01T00:00:00Z"}),
                ),
            ),
            (
                Method::POST,
                format!("{root}/pipelineruns/{run_id}/queryActivityruns"),
                Some(
                    json!({"lastUpdatedAfter": "2000-01-01T00:00:00Z", "lastUpdatedBefore": "2100-01-01T00:00:00Z"}),
                ),
            ),
            (Method::GET, format!("{root}/plugins"), None),
            (
                Method::GET,
                format!("{root}/plugins/identity/versions/{version}"),
                None,
            ),
            (
                Method::DELETE,
                format!("{root}/plugins/identity/versions/{version}"),
                None,
            ),
        ]);
        v
    };
    let b_names = factory_path(&b, "rg", "Shared");
    let mut tried = 0;
    for (root, own) in [(fp.clone(), false), (b_names, true)] {
        for (method, path, body) in below(&root, own) {
            let body = body.map(|v| serde_json::to_vec(&v).unwrap());
            let (st, _, text) = s.send(method.clone(), Some(&b.token), &path, body).await;
            assert!(!st.is_success(), "{method} {path} answered {st}: {text}");
            assert_eq!(st, StatusCode::NOT_FOUND, "{method} {path}: {text}");
            for secret in ["Very-Secret", &a_etag, "sluice:sealed"] {
                assert!(
                    !text.contains(secret),
                    "{method} {path} revealed {secret}: {text}"
                );
            }
            tried += 1;
        }
    }
    assert_eq!(tried, 32);
    let (_, listed) = s
        .json(
            Method::GET,
            &b,
            &format!(
                "/subscriptions/{}/providers/Microsoft.DataFactory/factories",
                b.sub
            ),
            None,
        )
        .await;
    assert_eq!(listed["value"], json!([]), "B lists none of A's factories");
    // A's run, factory and plugin are untouched.
    let (_, run) = s
        .json(
            Method::GET,
            &a,
            &format!("{fp}/pipelineruns/{run_id}"),
            None,
        )
        .await;
    assert_eq!(run["status"], "Queued");
    let (st, _) = s
        .json(
            Method::GET,
            &a,
            &format!("{fp}/plugins/identity/versions/{version}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = s.json(Method::GET, &a, &fp, None).await;
    assert_eq!(
        (st, body["eTag"].as_str()),
        (StatusCode::OK, Some(a_etag.as_str()))
    );

    // A rotated token stops working once the token cache forgets it; the new one works.
    let rotated = s.control.rotate_token("tenant-b").await.unwrap();
    tokio::time::sleep(sluice::service::api::auth::TOKEN_CACHE_TTL + Duration::from_millis(200))
        .await;
    let own = format!(
        "/subscriptions/{}/providers/Microsoft.DataFactory/factories",
        b.sub
    );
    let (st, _, text) = s.send(Method::GET, Some(&b.token), &own, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{text}");
    let (st, _, text) = s.send(Method::GET, Some(&rotated.token), &own, None).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    s.stop().await;
}

/// A guest plugin built by the harness.
fn plugin_file(name: &str) -> PathBuf {
    let dir = sluice_e2e::plugins_dir();
    std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(name) && f.ends_with(".wasm"))
        })
        .unwrap_or_else(|| panic!("no {name} plugin in {}", dir.display()))
}

fn plugin_version(name: &str) -> String {
    sluice::plugins::inspect(&plugin_file(name))
        .unwrap()
        .version
}

/// ARM's Subscriptions - List answers each token with its own subscription only (the Monitor
/// page finds its tenant so); it needs a token and one of ARM's api-versions.
#[tokio::test]
async fn the_subscription_list_shows_only_the_tokens_own() {
    let s = Service::start(1 << 20).await;
    let a = s.tenant("subs-a", 10_000).await;
    let b = s.tenant("subs-b", 10_000).await;
    for (t, name) in [(&a, "subs-a"), (&b, "subs-b")] {
        let (st, v) = s
            .json(
                Method::GET,
                t,
                "/subscriptions?api-version=2020-01-01",
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let list = v["value"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{v}");
        assert_eq!(list[0]["subscriptionId"], t.sub.to_string().as_str());
        assert_eq!(list[0]["id"], format!("/subscriptions/{}", t.sub).as_str());
        assert_eq!(list[0]["displayName"], name);
        assert_eq!(list[0]["state"], "Enabled");
    }
    let (st, _, _) = s
        .send(
            Method::GET,
            None,
            "/subscriptions?api-version=2020-01-01",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, v) = s
        .json(
            Method::GET,
            &a,
            "/subscriptions?api-version=1999-01-01",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = s
        .json(
            Method::POST,
            &a,
            "/subscriptions?api-version=2020-01-01",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    s.stop().await;
}
