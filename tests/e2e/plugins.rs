//! Plugins inside Copy activities, end to end: real components built from `guest-plugins/`, the
//! real `sluice` binary, the local PostgreSQL server. Each example plugin's behaviour is checked
//! against the same computation done in SQL; chains, the row mapper, rejections with and without
//! skipping, hostile plugins failing the activity with a clear error, and two tenants sharing
//! one host while one of them runs a hostile plugin. And the `plugin` commands: `list` saying
//! where it looked, `inspect` naming what is not a component, `build guest-plugins` leaving the
//! hostile plugins out.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use sluice_e2e::*;

fn pg_source(transforms: Value) -> Value {
    json!({"type": "AzurePostgreSqlSource", "transforms": transforms})
}

fn pg_sink() -> Value {
    json!({"type": "AzurePostgreSqlSink"})
}

fn run_with_plugins(f: &TestFactory, extra: &[&str]) -> Run {
    let dir = plugins_dir();
    let mut args = vec!["--plugins", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_factory(f, &args)
}

fn succeeded(run: &Run) -> Value {
    let out = run.json();
    assert_eq!(
        out["status"], "Succeeded",
        "run failed: {}\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.code, 0);
    out
}

fn failed_message(run: &Run) -> String {
    let out = run.json();
    assert_eq!(
        out["status"], "Failed",
        "expected a failure: {}",
        run.stdout
    );
    assert_ne!(run.code, 0);
    first_error(run)
}

const PEOPLE: &str = "CREATE TABLE {s}.src AS
    SELECT g AS id, CASE WHEN g % 10 = 0 THEN NULL ELSE 'user' || g || '@example.com' END AS email,
           'name ' || g AS name, (g % 250)::numeric(12,2) AS amount
    FROM generate_series(1, 10000) g;";

#[tokio::test]
async fn mask_pii_hashes_chosen_columns_with_the_salt() {
    let db = TestDb::new("plug_mask").await;
    db.exec(PEOPLE).await;
    db.exec("CREATE TABLE {s}.dst (id int, email text, name text, amount numeric(12,2))")
        .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        pg_source(
            json!([{"plugin": "mask-pii", "config": {"columns": ["email"], "salt": "pepper"}}]),
        ),
        pg_sink(),
    );
    let out = succeeded(&run_with_plugins(&f, &[]));
    let o = activity_output(&out);
    assert_eq!(o["rowsRead"], 10000);
    assert_eq!(o["rowsCopied"], 10000);
    assert_eq!(o["rowsSkipped"], 0);
    // Every email equals sha256(salt || email) as PostgreSQL computes it; NULL stays NULL;
    // the other columns are untouched.
    let wrong = db
        .query_i64(
            "SELECT count(*) FROM {s}.src s JOIN {s}.dst d USING (id)
             WHERE d.email IS DISTINCT FROM encode(sha256(convert_to('pepper' || s.email, 'UTF8')), 'hex')
                OR d.name <> s.name OR d.amount <> s.amount",
        )
        .await;
    assert_eq!(wrong, 0);
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE email IS NULL")
            .await,
        1000
    );
}

#[tokio::test]
async fn a_chain_of_transforms_runs_in_order() {
    let db = TestDb::new("plug_chain").await;
    db.exec(PEOPLE).await;
    db.exec("CREATE TABLE {s}.dst (id int, mail text, amount numeric(12,2), label text)")
        .await;
    // filter keeps amount > 200; project drops name, renames email, derives an upper-case
    // label; dedupe keeps the first row per amount. Order matters: the label is derived from
    // the name that project then drops.
    let f = TestFactory::pg_src_to_dst(
        &db,
        pg_source(json!([
            {"plugin": "filter", "config": {"column": "amount", "op": "gt", "value": 200}},
            {"plugin": "project", "config": {"drop": ["name"], "rename": {"email": "mail"},
                                             "derive": [{"name": "label", "upper": "name"}]}},
            {"plugin": "dedupe@1.0.0", "config": {"keys": ["amount"]}}
        ])),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    let out = succeeded(&run_with_plugins(&f, &[]));
    let o = activity_output(&out);
    assert_eq!(o["rowsRead"], 10000);
    let expected = db
        .query_i64("SELECT count(DISTINCT amount) FROM {s}.src WHERE amount > 200")
        .await;
    assert_eq!(expected, 49);
    assert_eq!(o["rowsCopied"], expected);
    assert_eq!(db.count("dst").await, expected);
    // The first row per amount in source order (ids ascend) is the lowest id.
    let wrong = db
        .query_i64(
            "SELECT count(*) FROM {s}.dst d JOIN
               (SELECT DISTINCT ON (amount) * FROM {s}.src WHERE amount > 200 ORDER BY amount, id) s
               ON s.amount = d.amount
             WHERE d.id <> s.id OR d.mail IS DISTINCT FROM s.email OR d.label <> upper(s.name)",
        )
        .await;
    assert_eq!(wrong, 0);
}

#[tokio::test]
async fn stateful_dedupe_keeps_the_last_row_per_key_across_batches() {
    let db = TestDb::new("plug_dedupe").await;
    // 30,000 rows over 7 batches; key k repeats in every batch.
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, g % 1000 AS k FROM generate_series(1, 30000) g;
         CREATE TABLE {s}.dst (id int, k int)",
    )
    .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        pg_source(json!([{"plugin": "dedupe", "config": {"keys": ["k"], "keep": "last"}}])),
        pg_sink(),
    );
    let out = succeeded(&run_with_plugins(&f, &[]));
    assert_eq!(activity_output(&out)["rowsCopied"], 1000);
    let wrong = db
        .query_i64(
            "SELECT count(*) FROM {s}.dst d JOIN (SELECT k, max(id) AS id FROM {s}.src GROUP BY k) s
             USING (k) WHERE d.id <> s.id",
        )
        .await;
    assert_eq!(wrong, 0);
    assert_eq!(db.count("dst").await, 1000);
}

#[tokio::test]
async fn flatten_json_extracts_typed_columns() {
    let db = TestDb::new("plug_flatten").await;
    db.exec(
        r#"CREATE TABLE {s}.src AS SELECT g AS id,
             jsonb_build_object('n', g, 'user', jsonb_build_object('name', 'u' || g),
                                'tags', jsonb_build_array('t' || g), 'price', (g / 4.0)::numeric) AS payload
           FROM generate_series(1, 5000) g;
           CREATE TABLE {s}.dst (id int, n bigint, user_name text, first_tag text, price numeric)"#,
    )
    .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        pg_source(
            json!([{"plugin": "flatten-json", "config": {"column": "payload", "fields": {
            "n": "int64", "user.name": "text", "tags.0": {"type": "text", "as": "first_tag"},
            "price": "numeric"}}}]),
        ),
        pg_sink(),
    );
    let out = succeeded(&run_with_plugins(&f, &[]));
    assert_eq!(activity_output(&out)["rowsCopied"], 5000);
    let wrong = db
        .query_i64(
            "SELECT count(*) FROM {s}.src s JOIN {s}.dst d USING (id)
             WHERE d.n <> (s.payload->>'n')::bigint OR d.user_name <> s.payload->'user'->>'name'
                OR d.first_tag <> s.payload->'tags'->>0 OR d.price <> (s.payload->>'price')::numeric",
        )
        .await;
    assert_eq!(wrong, 0);
}

const ORDERS: &str = "CREATE TABLE {s}.src AS
    SELECT g AS id, g % 97 AS customer, (g * 1.255)::numeric(12,3) AS amount, 'note ' || g AS note,
           timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' AS created
    FROM generate_series(1, 8000) g;
    CREATE TABLE {s}.dst (order_id bigint, customer_id int, amount_cents bigint, note text,
                          created_at timestamptz, source text);";

#[tokio::test]
async fn a_row_mapper_produces_the_sink_table_shape() {
    let db = TestDb::new("plug_mapper").await;
    db.exec(ORDERS).await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink", "writeMethod": "BulkInsert",
               "rowMapper": {"plugin": "orders-to-v2@1.2.0", "config": {}}}),
    );
    let out = succeeded(&run_with_plugins(&f, &[]));
    assert_eq!(activity_output(&out)["rowsCopied"], 8000);
    // amount_cents rounds half away from zero, exactly, as round() does on numeric.
    let wrong = db
        .query_i64(
            "SELECT count(*) FROM {s}.src s FULL JOIN {s}.dst d ON d.order_id = s.id
             WHERE d.customer_id IS DISTINCT FROM s.customer
                OR d.amount_cents IS DISTINCT FROM round(s.amount * 100)::bigint
                OR d.note IS DISTINCT FROM s.note OR d.created_at IS DISTINCT FROM s.created
                OR d.source IS DISTINCT FROM 'sluice'",
        )
        .await;
    assert_eq!(wrong, 0);
}

#[tokio::test]
async fn a_row_mapper_whose_columns_do_not_fit_the_sink_fails_clearly() {
    let db = TestDb::new("plug_mapper_bad").await;
    db.exec(ORDERS).await;
    db.exec("DROP TABLE {s}.dst; CREATE TABLE {s}.dst (order_id bigint, total int)")
        .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink", "rowMapper": {"plugin": "orders-to-v2"}}),
    );
    let msg = failed_message(&run_with_plugins(&f, &[]));
    assert!(msg.contains("orders-to-v2"), "{msg}");
    assert!(msg.contains("amount_cents"), "{msg}");
    assert_eq!(db.count("dst").await, 0);
}

#[tokio::test]
async fn rejected_rows_fail_the_copy_unless_skipping_is_enabled() {
    let db = TestDb::new("plug_reject").await;
    db.exec(PEOPLE).await;
    db.exec("CREATE TABLE {s}.dst (id int, email text, name text, amount numeric(12,2))")
        .await;
    let transforms = json!([{"plugin": "filter",
        "config": {"column": "email", "op": "not_null", "reject": true}}]);

    let f = TestFactory::pg_src_to_dst(&db, pg_source(transforms.clone()), pg_sink());
    let msg = failed_message(&run_with_plugins(&f, &[]));
    assert!(msg.contains("source.transforms[0]"), "{msg}");
    assert!(msg.contains("rejected row 9"), "{msg}");
    assert!(msg.contains("enableSkipIncompatibleRow"), "{msg}");

    db.exec("TRUNCATE {s}.dst").await;
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Dst", "Pg", &db.schema, "dst");
    f.copy_pipeline_with(
        "P",
        "Src",
        "Dst",
        json!({"source": pg_source(transforms), "sink": pg_sink(),
               "enableSkipIncompatibleRow": true}),
    );
    let out = succeeded(&run_with_plugins(&f, &[]));
    let o = activity_output(&out);
    assert_eq!(o["rowsRead"], 10000);
    assert_eq!(o["rowsSkipped"], 1000);
    assert_eq!(o["rowsCopied"], 9000);
    assert!(o["errors"][0]["Message"]
        .as_str()
        .unwrap()
        .contains("row 9"));
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE email IS NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn plugins_in_the_factory_folder_are_found_and_versions_resolve() {
    let db = TestDb::new("plug_folder").await;
    db.exec("CREATE TABLE {s}.src AS SELECT 1 AS id; CREATE TABLE {s}.dst (id int)")
        .await;
    let f = TestFactory::pg_src_to_dst(&db, pg_source(json!([{"plugin": "identity"}])), pg_sink());
    // Without --plugins, the factory's plugins/ folder is searched.
    let folder = f.path().join("plugins");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        plugins_dir().join("identity@1.0.0.wasm"),
        folder.join("identity@1.0.0.wasm"),
    )
    .unwrap();
    let out = succeeded(&run_factory(&f, &[]));
    assert_eq!(activity_output(&out)["rowsCopied"], 1);

    // An unknown plugin names what is available; a wrong pin names both hashes.
    let f2 = TestFactory::pg_src_to_dst(&db, pg_source(json!([{"plugin": "nope"}])), pg_sink());
    let msg = failed_message(&run_with_plugins(&f2, &[]));
    assert!(msg.contains("plugin nope not found"), "{msg}");
    assert!(msg.contains("mask-pii@1.0.0"), "{msg}");
    let pin = format!("identity@1.0.0#sha256={}", "0".repeat(64));
    let f3 = TestFactory::pg_src_to_dst(&db, pg_source(json!([{"plugin": pin}])), pg_sink());
    let msg = failed_message(&run_with_plugins(&f3, &[]));
    assert!(msg.contains("sha256"), "{msg}");
    assert!(msg.contains(&"0".repeat(64)), "{msg}");
}

#[tokio::test]
async fn a_panicking_plugin_fails_the_activity_with_its_own_message() {
    let db = TestDb::new("plug_panic").await;
    db.exec(PEOPLE).await;
    db.exec("CREATE TABLE {s}.dst (id int, email text, name text, amount numeric(12,2))")
        .await;
    let f = TestFactory::pg_src_to_dst(&db, pg_source(json!([{"plugin": "panic"}])), pg_sink());
    let run = run_with_plugins(&f, &[]);
    let msg = failed_message(&run);
    assert!(msg.contains("panic@1.0.0"), "{msg}");
    assert!(msg.contains("batch 1"), "{msg}");
    assert!(msg.contains("panicked"), "the guest's panic message: {msg}");
    assert_eq!(db.count("dst").await, 0);
}

#[tokio::test]
async fn an_endless_plugin_is_stopped_at_the_tenant_time_limit() {
    let db = TestDb::new("plug_loop").await;
    db.exec("CREATE TABLE {s}.src AS SELECT 1 AS id; CREATE TABLE {s}.dst (id int)")
        .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        pg_source(json!([{"plugin": "endless-loop"}])),
        pg_sink(),
    );
    sluice_bin(); // build it (if needed) outside the timing
    let t = std::time::Instant::now();
    let msg = failed_message(&run_with_plugins(&f, &["--plugin-timeout", "0.5"]));
    assert!(msg.contains("endless-loop@1.0.0 timed out"), "{msg}");
    assert!(msg.contains("500ms"), "{msg}");
    // Bounded, not a performance figure: a minute means the limit did not apply.
    assert!(t.elapsed().as_secs() < 60);
}

#[tokio::test]
async fn plugin_inspect_shows_world_version_and_exports() {
    let file = plugins_dir().join("orders-to-v2@1.2.0.wasm");
    let run = sluice(&[
        "plugin",
        "inspect",
        file.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(d["name"], "orders-to-v2");
    assert_eq!(d["version"], "1.2.0");
    assert_eq!(d["world"], "sluice:plugin/plugin@0.1.0");
    assert!(d["exports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "sluice:plugin/transform@0.1.0"));
    assert_eq!(d["sha256"].as_str().unwrap().len(), 64);
    // camelCase, as in the run output.
    assert_eq!(d["packageVersion"], "0.1.0", "{d}");
    assert!(d.get("package_version").is_none(), "{d}");

    let run = sluice(&["plugin", "inspect", "Cargo.toml"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("Cargo.toml"), "{}", run.stderr);
    assert!(
        run.stderr.contains("it is not a WebAssembly component"),
        "{}",
        run.stderr
    );
    // A core module (what a wasm32-unknown-unknown build makes) is named as one.
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("core@1.0.0.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let run = sluice(&["plugin", "inspect", module.to_str().unwrap()]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("it is a core WebAssembly module, not a component"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("panicked"), "{}", run.all());
}

#[test]
fn plugin_list_says_where_it_looked() {
    // (SLUICE_PLUGINS, were it set here, would give it folders.)
    let run = sluice(&["plugin", "list"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("no plugin folders to look in: pass --plugins DIR"),
        "{}",
        run.stderr
    );
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("missing");
    let run = sluice(&[
        "plugin",
        "list",
        "--plugins",
        empty.path().to_str().unwrap(),
        "--plugins",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "no plugins found; looked in: {}, {} (no such folder)",
            empty.path().display(),
            missing.display()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    let dir = plugins_dir();
    let run = sluice(&[
        "plugin",
        "list",
        "--plugins",
        dir.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    let list = run.json();
    let v2 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "orders-to-v2@1.2.0")
        .unwrap_or_else(|| panic!("{list:#}"));
    assert_eq!(v2["name"], "orders-to-v2");
    assert_eq!(v2["version"], "1.2.0");
    assert!(v2["path"]
        .as_str()
        .unwrap()
        .ends_with("orders-to-v2@1.2.0.wasm"));
}

/// `sluice plugin build guest-plugins` installs the SDK's example plugins only: the hostile
/// plugins of the sandbox tests are no default members of that workspace.
#[test]
fn building_guest_plugins_leaves_the_hostile_test_plugins_out() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().unwrap();
    let run = sluice_within(
        &[
            "plugin",
            "build",
            "guest-plugins",
            "--out",
            out.path().to_str().unwrap(),
        ],
        &[],
        BUILD_TIMEOUT,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let installed: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        installed.contains(&"identity@1.0.0.wasm".to_string()),
        "{installed:?}"
    );
    assert!(
        installed.contains(&"mask-pii@1.0.0.wasm".to_string()),
        "{installed:?}"
    );
    let mut hostile = 0;
    for entry in std::fs::read_dir(root.join("guest-plugins/hostile")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        hostile += 1;
        assert!(
            !installed.iter().any(|f| f.starts_with(&format!("{name}@"))),
            "{name} was installed: {installed:?}"
        );
    }
    assert!(hostile >= 5);
}

/// Two tenants on one host: tenant `bad` runs a memory bomb and an endless loop while tenant
/// `good` masks 10,000 rows; both copies run at once on the same plugin runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_tenant_completes_while_hostile_plugins_are_contained() {
    use sluice::copy::context::RunContext;
    use sluice::copy::transform::PluginHost;
    use sluice::model::load::Factory;
    use sluice::pipeline::executor::run_pipeline;
    use sluice::pipeline::run::Status;
    use sluice::plugins::{PluginRuntime, RuntimeConfig, Tenant, TenantLimits};

    let db = TestDb::new("plug_tenants").await;
    db.exec(PEOPLE).await;
    db.exec("CREATE TABLE {s}.dst (id int, email text, name text, amount numeric(12,2))")
        .await;
    let cache = tempfile::tempdir().unwrap();
    let runtime = PluginRuntime::new(RuntimeConfig::with_cache_dir(cache.path())).unwrap();
    let dirs = vec![plugins_dir()];
    let good = Arc::new(PluginHost::with_runtime(
        dirs.clone(),
        Tenant::new("good"),
        runtime.clone(),
    ));
    let bad_limits = TenantLimits {
        memory_bytes: 32 << 20,
        call_timeout: std::time::Duration::from_secs(1),
        ..TenantLimits::default()
    };
    let bad = Arc::new(PluginHost::with_runtime(
        dirs,
        Tenant::with_limits("bad", bad_limits),
        runtime,
    ));

    let run = |host: Arc<PluginHost>, plugin: &'static str| {
        let f = TestFactory::pg_src_to_dst(
            &db,
            pg_source(
                json!([{"plugin": plugin, "config": if plugin == "mask-pii" {
                json!({"columns": ["email"], "salt": "s"}) } else { json!({}) }}]),
            ),
            pg_sink(),
        );
        async move {
            let factory = Factory::load(f.path()).unwrap();
            let mut warnings = Vec::new();
            let p = sluice::model::pipeline::load(&factory, "P", &mut warnings).unwrap();
            let ctx = RunContext::new("tenant").with_plugins(host);
            let run = run_pipeline(Arc::new(factory), &p, Default::default(), &ctx, warnings).await;
            drop(f);
            run
        }
    };
    let (good_run, bomb, endless) = tokio::join!(
        tokio::spawn(run(good.clone(), "mask-pii")),
        tokio::spawn(run(bad.clone(), "memory-bomb")),
        tokio::spawn(run(bad.clone(), "endless-loop")),
    );
    let (good_run, bomb, endless) = (good_run.unwrap(), bomb.unwrap(), endless.unwrap());
    assert_eq!(
        good_run.status,
        Status::Succeeded,
        "{:?}",
        good_run.to_json()
    );
    let msg = |r: &sluice::pipeline::run::PipelineRun| {
        r.activities[0].error.as_ref().unwrap().message.clone()
    };
    assert_eq!(bomb.status, Status::Failed);
    assert!(
        msg(&bomb).contains("memory-bomb@1.0.0 exceeded its memory limit"),
        "{}",
        msg(&bomb)
    );
    assert_eq!(endless.status, Status::Failed);
    assert!(
        msg(&endless).contains("endless-loop@1.0.0 timed out"),
        "{}",
        msg(&endless)
    );
    // The good tenant's rows are all there and masked.
    let wrong = db
        .query_i64(
            "SELECT count(*) FROM {s}.src s LEFT JOIN {s}.dst d USING (id)
             WHERE d.id IS NULL OR d.email IS DISTINCT FROM encode(sha256(convert_to('s' || s.email, 'UTF8')), 'hex')",
        )
        .await;
    assert_eq!(wrong, 0);
}

/// The built-in-typed columns of `types_src` (enum, domain, xml, point, tsvector and bit
/// varying are read through casts or are user types, which keep a copy on engine values).
const BUILT_IN_COLUMNS: &str =
    "id, i2, i4, i8, num, num_s, r, d, m, t, vc, c, b, bo, dt, tm, ttz, \
     ts, tstz, iv, u, j, jb, ip, cid, mac, ai, atx, an, a2, r4, rn, rts, rd";
const BUILT_IN_COMPARE: &str =
    "id, i2, i4, i8, num, num_s, r, d, m, t, vc, c, b, bo, dt, tm, ttz, \
     ts, tstz, iv, u, j::text, jb, ip, cid, mac, ai, atx, an, a2, r4, rn, rts, rd";

/// Copies `src` to `table` through `stages` (`source.transforms` or `sink.rowMapper`), with
/// `writeBatchSize` 3 so the four rows make two commits; returns the activity output.
fn copy_through(db: &TestDb, table: &str, stages: (Value, Value), skip: bool) -> Value {
    let (transforms, row_mapper) = stages;
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Dst", "Pg", &db.schema, table);
    let mut sink = json!({"type": "AzurePostgreSqlSink", "writeBatchSize": 3});
    if !row_mapper.is_null() {
        sink["rowMapper"] = row_mapper;
        sink["writeMethod"] = json!("Upsert");
    }
    f.copy_pipeline_with(
        "P",
        "Src",
        "Dst",
        json!({"source": pg_source(transforms), "sink": sink, "enableSkipIncompatibleRow": skip}),
    );
    activity_output(&succeeded(&run_with_plugins(&f, &[]))).clone()
}

#[tokio::test]
async fn every_built_in_type_crosses_a_plugin_exactly_as_copy_tuples_and_as_values() {
    let db = TestDb::new("plug_tuples").await;
    db.exec(ALL_TYPES_SQL).await;
    db.exec(&format!(
        "CREATE TABLE {{s}}.src AS SELECT {BUILT_IN_COLUMNS} FROM {{s}}.types_src;
         CREATE TABLE {{s}}.dst_tuples (LIKE {{s}}.src);
         CREATE TABLE {{s}}.dst_mapped (LIKE {{s}}.src, PRIMARY KEY (id));
         CREATE TABLE {{s}}.dst_values (LIKE {{s}}.src);"
    ))
    .await;
    let identity = json!([{"plugin": "identity"}]);
    let mapper = json!({"plugin": "identity"});
    let cases = [
        ("dst_tuples", (identity.clone(), Value::Null), false, true),
        ("dst_mapped", (json!([]), mapper), false, true),
        // Skipping needs the rows' values, so the same copy runs on the value path.
        ("dst_values", (identity, Value::Null), true, false),
    ];
    for (table, stages, skip, tuples) in cases {
        let o = copy_through(&db, table, stages, skip);
        assert_eq!(o["rowsCopied"], 4, "{table}: {o}");
        let path = &o["executionDetails"][0]["pluginCopyTuples"];
        assert_eq!(path["input"], tuples, "{table}: {o}");
        assert_eq!(path["output"], tuples, "{table}: {o}");
        assert_eq!(
            db.difference("src", table, BUILT_IN_COMPARE).await,
            0,
            "{table}: copied rows differ"
        );
    }
}

#[tokio::test]
async fn a_plugin_value_the_sink_column_cannot_hold_fails_or_is_skipped() {
    let db = TestDb::new("plug_unwritable").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, CASE WHEN g = 7 THEN 3000000000 ELSE g END::bigint AS n
           FROM generate_series(1, 10) g;
         CREATE TABLE {s}.dst (id int, n int);",
    )
    .await;
    let f = TestFactory::pg_src_to_dst(&db, pg_source(json!([{"plugin": "identity"}])), pg_sink());
    let msg = failed_message(&run_with_plugins(&f, &[]));
    assert!(msg.contains("cannot be written to the sink"), "{msg}");
    assert!(msg.contains("column \"n\", row 6"), "{msg}");
    assert!(msg.contains("3000000000"), "{msg}");
    assert!(msg.contains("enableSkipIncompatibleRow"), "{msg}");
    assert_eq!(db.count("dst").await, 0);

    let o = copy_through(
        &db,
        "dst",
        (json!([{"plugin": "identity"}]), Value::Null),
        true,
    );
    assert_eq!(o["rowsSkipped"], 1, "{o}");
    assert_eq!(o["rowsCopied"], 9, "{o}");
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE id <> 7 AND n = id")
            .await,
        9
    );
}
