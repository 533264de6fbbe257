//! The plugin sandbox against real components built from `guest-plugins/`: every hostile plugin
//! is contained (the right error kind, a message naming plugin, call and batch, a discarded
//! instance) while a second tenant keeps transforming batches correctly on the same runtime;
//! the registry's version and pin rules; the compiled-code caches; and per-tenant limits.
//! No PostgreSQL needed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::plugins::{
    Call, LoadSource, LoadedPlugin, PluginError, PluginInstance, PluginRef, PluginRegistry,
    PluginRuntime, RuntimeConfig, Tenant, TenantLimits,
};
use sluice::types::batch::Batch;
use sluice::types::schema::{Column, DataType, Schema, SchemaRef};
use sluice::types::value::Value;
use sluice_e2e::{plugins_dir, rerun_in_child};

/// Every test is bounded by this, so a sandbox that fails to stop a guest fails the test
/// instead of hanging it.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);

/// The batch number the hostile call is labelled with (distinctive, to find in messages).
const HOSTILE_BATCH: u64 = 7;

/// A value that must never reach a guest (see `read_env_sees_no_environment`).
const CANARY_VAR: &str = "SLUICE_SANDBOX_CANARY";
const CANARY_VALUE: &str = "canary-7f3a9c1e-do-not-leak";

/// `sha256("abc")` and `sha256("a")`: what mask-pii with salt `"a"` makes of `"bc"` and `""`.
const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const SHA256_A: &str = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";

const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("test did not finish in time: a guest was not stopped?")
}

/// A runtime with a private disk cache, and the registry of the built test plugins.
struct Env {
    runtime: PluginRuntime,
    registry: PluginRegistry,
    _cache: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let cache = tempfile::tempdir().unwrap();
        Env {
            runtime: PluginRuntime::new(RuntimeConfig::with_cache_dir(cache.path())).unwrap(),
            registry: PluginRegistry::new([plugins_dir()]),
            _cache: cache,
        }
    }

    fn load(&self, reference: &str) -> Arc<LoadedPlugin> {
        self.runtime
            .load(&self.registry, &PluginRef::parse(reference).unwrap())
            .unwrap_or_else(|e| panic!("loading {reference}: {e}"))
    }
}

/// The tight limits hostile plugins run under.
fn hostile_limits() -> TenantLimits {
    TenantLimits {
        memory_bytes: 32 * MIB,
        call_timeout: Duration::from_secs(1),
        max_boundary_bytes: 256 * 1024,
        ..TenantLimits::default()
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Column::new("id", DataType::Int64, "int8"),
        Column::new("email", DataType::Text, "text"),
        Column::new("note", DataType::Text, "text"),
    ]))
}

/// Rows `start..start + n`; emails cycle through `"bc"`, `""` and NULL (hashes known above).
fn batch(schema: &SchemaRef, start: i64, n: usize) -> Batch {
    let mut b = Batch::with_capacity(schema.clone(), n);
    for id in start..start + n as i64 {
        let email = match id.rem_euclid(3) {
            0 => Value::Text("bc".into()),
            1 => Value::Text(String::new()),
            _ => Value::Null,
        };
        b.push_row([Value::Int64(id), email, Value::Text(format!("note {id}"))]);
    }
    b
}

/// What mask-pii (`{"columns": ["email"], "salt": "a"}`) must make of `input`.
fn masked(input: &Batch) -> Vec<Vec<Value>> {
    input
        .rows()
        .map(|r| {
            let email = match &r[1] {
                Value::Text(s) if s == "bc" => Value::Text(SHA256_ABC.into()),
                Value::Text(s) if s.is_empty() => Value::Text(SHA256_A.into()),
                Value::Null => Value::Null,
                other => panic!("unexpected input email {other:?}"),
            };
            vec![r[0].clone(), email, r[2].clone()]
        })
        .collect()
}

const MASK_CONFIG: &str = r#"{"columns": ["email"], "salt": "a"}"#;

/// What the well-behaved tenant did while a hostile plugin ran.
#[derive(Debug)]
struct GoodReport {
    /// Batches sent through both identity and mask-pii, every output checked.
    batches: u64,
    /// Batches completed after the hostile call started and before it returned.
    during_hostile: u64,
}

/// Tenant "good": identity and mask-pii over many batches, comparing every output value, until
/// at least `min_batches` are done and the hostile call has returned. `ready` fires after the
/// first batch, so the hostile call starts while this tenant is in full swing.
async fn good_tenant(
    runtime: PluginRuntime,
    identity: Arc<LoadedPlugin>,
    mask: Arc<LoadedPlugin>,
    hostile_started: Arc<AtomicBool>,
    hostile_done: Arc<AtomicBool>,
    ready: tokio::sync::oneshot::Sender<()>,
    min_batches: u64,
) -> GoodReport {
    let tenant = Tenant::new("good");
    let schema = schema();
    let mut ident = runtime
        .instantiate(&tenant, &identity, "{}", &schema)
        .await
        .unwrap();
    let mut mask = runtime
        .instantiate(&tenant, &mask, MASK_CONFIG, &schema)
        .await
        .unwrap();
    assert_eq!(*ident.output_schema(), *schema);
    assert_eq!(
        mask.output_schema().names().collect::<Vec<_>>(),
        ["id", "email", "note"]
    );
    let mut ready = Some(ready);
    let mut report = GoodReport {
        batches: 0,
        during_hostile: 0,
    };
    let mut n: u64 = 0;
    while n < min_batches || !hostile_done.load(Ordering::SeqCst) {
        assert!(n < 100_000, "the hostile call never returned");
        let input = batch(&schema, (n * 100) as i64, 100);
        let expected_masked = masked(&input);
        let expected_ident: Vec<Value> = input.values().to_vec();

        let (out, rejected) = ident.process(input.clone(), n).await.unwrap();
        assert!(rejected.is_empty());
        assert_eq!(
            out.values(),
            expected_ident.as_slice(),
            "identity, batch {n}"
        );

        let (out, rejected) = mask.process(input, n).await.unwrap();
        assert!(rejected.is_empty());
        let got: Vec<Vec<Value>> = out.into_rows().collect();
        assert_eq!(got, expected_masked, "mask-pii, batch {n}");

        n += 1;
        report.batches = n;
        if hostile_started.load(Ordering::SeqCst) && !hostile_done.load(Ordering::SeqCst) {
            report.during_hostile += 1;
        }
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        // Stay cooperative even should a call complete without suspending.
        tokio::task::yield_now().await;
    }
    let (rest, rejected) = ident.flush().await.unwrap();
    assert!(rest.is_empty() && rejected.is_empty());
    let (rest, rejected) = mask.flush().await.unwrap();
    assert!(rest.is_empty() && rejected.is_empty());
    report
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// How a hostile plugin's first `process` call went.
struct Contained {
    plugin: Arc<LoadedPlugin>,
    err: PluginError,
    message: String,
    elapsed: Duration,
    instance: PluginInstance,
    good: GoodReport,
}

/// Runs `name` for tenant "hostile" under `limits` on one batch of `rows` rows (labelled batch
/// [`HOSTILE_BATCH`]) while tenant "good" processes batches on the same runtime; both run as
/// tasks and are joined. Asserts what holds for every hostile plugin: the call failed, and the
/// message names the plugin (`name@version`), the call and the batch.
async fn contain(name: &str, limits: TenantLimits, rows: usize) -> Contained {
    let env = Env::new();
    let hostile = env.load(name);
    let identity = env.load("identity");
    let mask = env.load("mask-pii");
    assert_eq!(hostile.name, name);

    let started = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let good = tokio::spawn(good_tenant(
        env.runtime.clone(),
        identity,
        mask,
        started.clone(),
        done.clone(),
        ready_tx,
        50,
    ));

    let runtime = env.runtime.clone();
    let plugin = hostile.clone();
    let bad = tokio::spawn(async move {
        // Marks the hostile call done however this task ends, so a failure here cannot leave
        // the good tenant waiting for it.
        let _done = SetOnDrop(done.clone());
        ready_rx
            .await
            .expect("the good tenant failed before its first batch");
        let tenant = Tenant::with_limits("hostile", limits);
        let schema = schema();
        let mut instance = runtime
            .instantiate(&tenant, &plugin, "{}", &schema)
            .await
            .unwrap_or_else(|e| panic!("instantiating {}: {e}", plugin.id()));
        started.store(true, Ordering::SeqCst);
        let t0 = Instant::now();
        let res = instance
            .process(batch(&schema, 0, rows), HOSTILE_BATCH)
            .await;
        let elapsed = t0.elapsed();
        done.store(true, Ordering::SeqCst);
        (res.map(|(b, _)| b.num_rows()), elapsed, instance)
    });
    let (good, bad) = bounded(async { tokio::join!(good, bad) }).await;
    let good = good.expect("the good tenant failed");
    let (res, elapsed, instance) = bad.expect("the hostile task panicked");

    let err = match res {
        Ok(rows) => panic!("{name} succeeded ({rows} rows) but must fail"),
        Err(e) => e,
    };
    let message = err.to_string();
    println!("{name} after {elapsed:?}: {message}\nalongside: {good:?}");
    let id = format!("{}@{}", hostile.name, hostile.version);
    assert_eq!(id, hostile.id());
    assert!(message.contains(&id), "message must name {id}: {message}");
    assert!(
        message.contains(&format!("process of batch {HOSTILE_BATCH}")),
        "message must name the call and batch: {message}"
    );
    assert!(good.batches >= 50, "{good:?}");
    Contained {
        plugin: hostile,
        err,
        message,
        elapsed,
        instance,
        good,
    }
}

/// After a discarding failure the instance refuses further calls with `Poisoned`, naming the
/// plugin and the original failure.
async fn assert_poisoned(c: &mut Contained) {
    assert!(c.err.discards_instance(), "{}", c.message);
    let first_line = c.message.lines().next().unwrap().to_string();
    assert_eq!(c.instance.poisoned(), Some(first_line.as_str()));
    let schema = schema();
    let again = c
        .instance
        .process(batch(&schema, 0, 1), HOSTILE_BATCH + 1)
        .await;
    match again {
        Err(PluginError::Poisoned { plugin, reason }) => {
            assert_eq!(plugin, c.plugin.id());
            assert_eq!(reason, first_line);
        }
        other => panic!("expected Poisoned, got {other:?}"),
    }
    let flushed = c.instance.flush().await;
    assert!(
        matches!(flushed, Err(PluginError::Poisoned { .. })),
        "{flushed:?}"
    );
}

/// A guest's own refusal (`Err` from `process`) leaves the instance usable: the same call
/// fails the same way again instead of being poisoned.
async fn assert_still_usable(c: &mut Contained) {
    assert!(!c.err.discards_instance(), "{}", c.message);
    assert!(c.instance.poisoned().is_none());
    let schema = schema();
    let again = c
        .instance
        .process(batch(&schema, 0, 1), HOSTILE_BATCH + 1)
        .await;
    match again {
        Err(PluginError::Guest {
            call: Call::Process,
            batch: Some(b),
            ..
        }) => assert_eq!(b, HOSTILE_BATCH + 1),
        other => panic!("expected the guest's error again, got {other:?}"),
    }
}

/// The guest's own failure message, for the plugins that report what they tried.
fn guest_message(c: &Contained) -> &str {
    match &c.err {
        PluginError::Guest {
            plugin,
            call: Call::Process,
            batch: Some(HOSTILE_BATCH),
            message,
        } => {
            assert_eq!(*plugin, c.plugin.id());
            message
        }
        other => panic!("expected a guest error from process, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 1 + 2. Hostile plugins are contained while another tenant keeps working
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_loop_times_out_while_another_tenant_works() {
    let limits = hostile_limits();
    let limit = limits.call_timeout;
    let mut c = contain("endless-loop", limits, 3).await;
    match &c.err {
        PluginError::Timeout {
            call: Call::Process,
            batch: Some(HOSTILE_BATCH),
            limit: l,
            ..
        } => assert_eq!(*l, limit),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(c.message.contains("timed out"), "{}", c.message);
    // The deadline is set when the call starts, so the loop really ran that long; the bound
    // just proves the guest was stopped (not a performance assertion).
    assert!(c.elapsed >= limit, "{:?}", c.elapsed);
    assert!(
        c.elapsed < limit + Duration::from_secs(10),
        "endless-loop was stopped only after {:?}",
        c.elapsed
    );
    // The spinning guest did not starve the other tenant on the same runtime.
    assert!(
        c.good.during_hostile > 0,
        "no good batch completed while endless-loop spun: {:?}",
        c.good
    );
    assert_poisoned(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_hits_the_memory_limit_while_another_tenant_works() {
    let limits = hostile_limits();
    let mut c = contain("memory-bomb", limits, 3).await;
    match &c.err {
        PluginError::MemoryLimit {
            call: Call::Process,
            batch: Some(HOSTILE_BATCH),
            limit_bytes,
            message,
            ..
        } => {
            assert_eq!(*limit_bytes, 32 * MIB);
            assert!(message.contains("refused"), "{message}");
            assert!(message.contains("32.0 MiB"), "{message}");
        }
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
    assert!(c.message.contains("memory limit"), "{}", c.message);
    assert_poisoned(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_traps_on_stack_exhaustion() {
    let mut c = contain("deep-recursion", hostile_limits(), 3).await;
    match &c.err {
        PluginError::Trap {
            call: Call::Process,
            batch: Some(HOSTILE_BATCH),
            message,
            ..
        } => assert!(message.contains("call stack exhausted"), "{message}"),
        other => panic!("expected Trap, got {other:?}"),
    }
    assert!(c.message.contains("trapped"), "{}", c.message);
    assert_poisoned(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_output_is_refused_at_the_boundary() {
    // 100 000 copies of a row must fit the guest's memory for the boundary check (and not the
    // memory limit) to be what stops it.
    let limits = TenantLimits {
        memory_bytes: 256 * MIB,
        ..hostile_limits()
    };
    let cap = limits.max_boundary_bytes;
    let mut c = contain("oversized-output", limits, 1).await;
    match &c.err {
        PluginError::OutputTooLarge {
            call: Call::Process,
            batch: Some(HOSTILE_BATCH),
            bytes,
            limit,
            ..
        } => {
            assert_eq!(*limit, cap);
            assert!(*bytes > cap, "{bytes}");
        }
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
    assert!(c.message.contains("over the"), "{}", c.message);
    assert_poisoned(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_traps_with_the_guest_panic_message() {
    let mut c = contain("panic", hostile_limits(), 3).await;
    let said = "plugin panicked on purpose: batch had 3 rows";
    match &c.err {
        PluginError::Trap {
            call: Call::Process,
            batch: Some(HOSTILE_BATCH),
            stderr,
            ..
        } => assert!(stderr.contains(said), "captured stderr: {stderr:?}"),
        other => panic!("expected Trap, got {other:?}"),
    }
    assert!(c.message.contains(said), "{}", c.message);
    assert!(c.message.contains("guest stderr"), "{}", c.message);
    assert_poisoned(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_file_finds_no_filesystem() {
    let mut c = contain("read-file", hostile_limits(), 1).await;
    let said = guest_message(&c).to_string();
    assert!(said.contains("read /etc/passwd failed"), "{said}");
    assert!(!c.message.contains("root:"), "{}", c.message);
    // When the host has the file, its contents must not have been readable either.
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        let first = passwd.lines().next().unwrap_or_default();
        assert!(
            first.is_empty() || !c.message.contains(first),
            "{}",
            c.message
        );
    }
    assert!(!c.instance.stderr().contains("root:"));
    assert_still_usable(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_env_sees_no_environment() {
    // The canary must be in the host process's environment. All end-to-end tests share one
    // process, so rather than `set_var` under them, this test runs itself again in a child
    // process whose environment holds the canary, and checks there.
    if std::env::var_os(CANARY_VAR).is_none() {
        return rerun_in_child(
            module_path!(),
            "read_env_sees_no_environment",
            &[(CANARY_VAR, CANARY_VALUE)],
        );
    }
    assert_eq!(std::env::var(CANARY_VAR).unwrap(), CANARY_VALUE);
    let mut c = contain("read-env", hostile_limits(), 1).await;
    let said = guest_message(&c).to_string();
    assert!(said.starts_with("env: none;"), "{said}");
    assert!(said.contains("args: []"), "{said}");
    assert!(
        !said.contains(CANARY_VALUE) && !said.contains(CANARY_VAR),
        "{said}"
    );
    assert!(!c.message.contains(CANARY_VALUE), "{}", c.message);
    if let Ok(home) = std::env::var("HOME") {
        assert!(!said.contains(&format!("Ok(\"{home}\")")), "{said}");
    }
    assert!(!c.instance.stderr().contains(CANARY_VALUE));
    assert!(!c.instance.stdout().contains(CANARY_VALUE));
    assert_still_usable(&mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_socket_has_no_network() {
    // The guest dials 127.0.0.1:5432. Make sure something answers there (PostgreSQL usually
    // does; otherwise a listener of our own), so a sandbox that let the guest out would show
    // as a successful connection rather than as a refused one.
    let ours = match std::net::TcpStream::connect("127.0.0.1:5432") {
        Ok(_) => None,
        Err(_) => Some(
            std::net::TcpListener::bind("127.0.0.1:5432")
                .expect("nothing listens on 127.0.0.1:5432 and it cannot be bound"),
        ),
    };
    let mut c = contain("open-socket", hostile_limits(), 1).await;
    let said = guest_message(&c).to_string();
    assert!(said.contains("connect 127.0.0.1:5432 failed"), "{said}");
    assert!(!said.contains("connected"), "{said}");
    if let Some(listener) = ours {
        listener.set_nonblocking(true).unwrap();
        assert!(listener.accept().is_err(), "the guest reached the listener");
    }
    assert_still_usable(&mut c).await;
}

// ---------------------------------------------------------------------------------------------
// 3. Registry
// ---------------------------------------------------------------------------------------------

fn built(file: &str) -> PathBuf {
    let p = plugins_dir().join(file);
    assert!(p.is_file(), "{} was not built", p.display());
    p
}

fn in_memory_runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig::in_memory()).unwrap()
}

/// Instantiates `plugin` for a default tenant and checks it transforms a batch like identity.
async fn assert_works_as_identity(runtime: &PluginRuntime, plugin: &Arc<LoadedPlugin>) {
    let schema = schema();
    let mut inst = runtime
        .instantiate(&Tenant::new("t"), plugin, "{}", &schema)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", plugin.id()));
    let input = batch(&schema, 10, 5);
    let expected = input.values().to_vec();
    let (out, rejected) = inst.process(input, 1).await.unwrap();
    assert!(rejected.is_empty());
    assert_eq!(out.values(), expected.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_picks_the_highest_version_without_one() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            built("identity@1.0.0.wasm"),
            dir.path().join("identity@1.0.0.wasm"),
        )
        .unwrap();
        std::fs::copy(
            built("identity@1.0.0.wasm"),
            dir.path().join("identity@1.1.0.wasm"),
        )
        .unwrap();
        let registry = PluginRegistry::new([dir.path()]);
        let runtime = in_memory_runtime();

        let latest = runtime
            .load(&registry, &PluginRef::parse("identity").unwrap())
            .unwrap();
        assert_eq!(latest.version.to_string(), "1.1.0");
        assert_eq!(latest.id(), "identity@1.1.0");
        assert_eq!(latest.path, dir.path().join("identity@1.1.0.wasm"));

        let exact = runtime
            .load(&registry, &PluginRef::parse("identity@1.0.0").unwrap())
            .unwrap();
        assert_eq!(exact.version.to_string(), "1.0.0");
        assert_eq!(exact.path, dir.path().join("identity@1.0.0.wasm"));
        // Same bytes: compiled once, whatever the version says.
        assert_eq!(exact.sha256, latest.sha256);
        assert_eq!(exact.load.source, LoadSource::Memory);

        let req = runtime
            .load(&registry, &PluginRef::parse("identity@~1.0").unwrap())
            .unwrap();
        assert_eq!(req.version.to_string(), "1.0.0");
        assert_works_as_identity(&runtime, &latest).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_checks_sha256_pins() {
    bounded(async {
        let registry = PluginRegistry::new([plugins_dir()]);
        let runtime = in_memory_runtime();
        let real = runtime
            .load(&registry, &PluginRef::parse("identity@1.0.0").unwrap())
            .unwrap();
        assert_eq!(real.sha256.len(), 64);

        let wrong = "0".repeat(64);
        let err = runtime
            .load(
                &registry,
                &PluginRef::parse(&format!("identity@1.0.0#sha256={wrong}")).unwrap(),
            )
            .unwrap_err();
        let msg = err.to_string();
        match err {
            PluginError::HashMismatch {
                plugin,
                expected,
                actual,
                source_of_pin,
                ..
            } => {
                assert_eq!(plugin, "identity@1.0.0");
                assert_eq!(expected, wrong);
                assert_eq!(actual, real.sha256);
                assert_eq!(source_of_pin, "the reference");
            }
            other => panic!("expected HashMismatch, got {other:?}"),
        }
        assert!(msg.contains(&wrong) && msg.contains(&real.sha256), "{msg}");

        // The right pin (in any case) loads.
        let pinned = runtime
            .load(
                &registry,
                &PluginRef::parse(&format!(
                    "identity@1.0.0#sha256={}",
                    real.sha256.to_ascii_uppercase()
                ))
                .unwrap(),
            )
            .unwrap();
        assert_eq!(pinned.sha256, real.sha256);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_reads_manifests() {
    bounded(async {
        let runtime = in_memory_runtime();
        let sha = runtime
            .load_file(&built("identity@1.0.0.wasm"))
            .unwrap()
            .sha256
            .clone();
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(built("identity@1.0.0.wasm"), dir.path().join("impl.wasm")).unwrap();
        let manifest = dir.path().join("x.plugin.json");
        std::fs::write(
            &manifest,
            serde_json::json!({"name": "x", "version": "3.1.4", "file": "impl.wasm", "sha256": sha})
                .to_string(),
        )
        .unwrap();
        let registry = PluginRegistry::new([dir.path()]);

        let x = runtime
            .load(&registry, &PluginRef::parse("x").unwrap())
            .unwrap();
        assert_eq!(x.id(), "x@3.1.4");
        assert_eq!(x.path, dir.path().join("impl.wasm"));
        assert_eq!(x.sha256, sha);
        assert_works_as_identity(&runtime, &x).await;

        // A manifest's own pin is checked too.
        let wrong = "ab".repeat(32);
        std::fs::write(
            &manifest,
            serde_json::json!({"name": "x", "version": "3.1.4", "file": "impl.wasm", "sha256": wrong})
                .to_string(),
        )
        .unwrap();
        match runtime.load(&registry, &PluginRef::parse("x@3.1.4").unwrap()) {
            Err(PluginError::HashMismatch {
                plugin,
                expected,
                actual,
                source_of_pin,
                ..
            }) => {
                assert_eq!(plugin, "x@3.1.4");
                assert_eq!(expected, wrong);
                assert_eq!(actual, sha);
                assert!(source_of_pin.contains("x.plugin.json"), "{source_of_pin}");
            }
            other => panic!("expected HashMismatch, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_names_what_is_available_when_not_found() {
    let registry = PluginRegistry::new([plugins_dir()]);
    let runtime = in_memory_runtime();
    let err = runtime
        .load(&registry, &PluginRef::parse("no-such-plugin").unwrap())
        .unwrap_err();
    let msg = err.to_string();
    match &err {
        PluginError::NotFound {
            reference,
            searched,
            available,
        } => {
            assert_eq!(reference, "no-such-plugin");
            assert_eq!(searched, &[plugins_dir()]);
            for id in ["identity@1.0.0", "mask-pii@1.0.0", "orders-to-v2@1.2.0"] {
                assert!(available.iter().any(|a| a == id), "{available:?}");
            }
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(msg.contains("no-such-plugin not found"), "{msg}");
    assert!(
        msg.contains("identity@1.0.0") && msg.contains("mask-pii@1.0.0"),
        "{msg}"
    );
    // A known name at a missing version is not found either.
    let err = runtime
        .load(&registry, &PluginRef::parse("identity@9.0.0").unwrap())
        .unwrap_err();
    assert!(matches!(err, PluginError::NotFound { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// 4. Caches
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_code_is_cached_in_memory_and_on_disk() {
    bounded(async {
        let cache = tempfile::tempdir().unwrap();
        let cache_dir = cache.path().join("nested").join("cache");
        let registry = PluginRegistry::new([plugins_dir()]);
        let identity = PluginRef::parse("identity@1.0.0").unwrap();

        let first = PluginRuntime::new(RuntimeConfig::with_cache_dir(&cache_dir)).unwrap();
        assert_eq!(first.cache_dir(), Some(cache_dir.as_path()));
        let a = first.load(&registry, &identity).unwrap();
        assert_eq!(a.load.source, LoadSource::Compiled);
        assert!(a.load.compile.is_some());
        let file = a.load.cache_file.clone().expect("no cache file written");
        assert!(file.is_file(), "{}", file.display());
        assert!(file.starts_with(&cache_dir), "{}", file.display());
        assert!(
            file.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&a.sha256),
            "{}",
            file.display()
        );
        let again = first.load(&registry, &identity).unwrap();
        assert_eq!(again.load.source, LoadSource::Memory);

        let second = PluginRuntime::new(RuntimeConfig::with_cache_dir(&cache_dir)).unwrap();
        let b = second.load(&registry, &identity).unwrap();
        assert_eq!(b.load.source, LoadSource::Disk);
        assert!(b.load.compile.is_none());
        assert_eq!(b.sha256, a.sha256);
        assert_eq!(b.load.cache_file.as_deref(), Some(file.as_path()));
        // Code read back from disk runs.
        assert_works_as_identity(&second, &b).await;

        // A corrupt cache file is ignored and replaced, not trusted.
        std::fs::write(&file, b"not a compiled component").unwrap();
        let third = PluginRuntime::new(RuntimeConfig::with_cache_dir(&cache_dir)).unwrap();
        let c = third.load(&registry, &identity).unwrap();
        assert_eq!(c.load.source, LoadSource::Compiled);
        assert_works_as_identity(&third, &c).await;
        let fourth = PluginRuntime::new(RuntimeConfig::with_cache_dir(&cache_dir)).unwrap();
        assert_eq!(
            fourth.load(&registry, &identity).unwrap().load.source,
            LoadSource::Disk
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_file_is_picked_up_on_the_next_load() {
    bounded(async {
        let cache = tempfile::tempdir().unwrap();
        let runtime = PluginRuntime::new(RuntimeConfig::with_cache_dir(cache.path())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("swap@1.0.0.wasm");
        let registry = PluginRegistry::new([dir.path()]);
        let swap = PluginRef::parse("swap").unwrap();

        std::fs::copy(built("identity@1.0.0.wasm"), &target).unwrap();
        let before = runtime.load(&registry, &swap).unwrap();
        assert_eq!(before.load.source, LoadSource::Compiled);
        assert_eq!(runtime.describe(&before).await.unwrap().name, "identity");

        std::fs::copy(built("mask-pii@1.0.0.wasm"), &target).unwrap();
        let after = runtime.load(&registry, &swap).unwrap();
        assert_ne!(after.sha256, before.sha256);
        assert_eq!(after.load.source, LoadSource::Compiled);
        assert_eq!(after.path, target);
        assert_eq!(runtime.describe(&after).await.unwrap().name, "mask-pii");
        // The new code is what runs: mask-pii refuses identity's empty config.
        let err = runtime
            .instantiate(&Tenant::new("t"), &after, "{}", &schema())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                PluginError::Guest {
                    call: Call::Create,
                    ..
                }
            ),
            "{err:?}"
        );
        // The instance made before the swap keeps its own code.
        assert_works_as_identity(&runtime, &before).await;

        // Back to the first bytes: still compiled in memory, keyed by content.
        std::fs::copy(built("identity@1.0.0.wasm"), &target).unwrap();
        let back = runtime.load(&registry, &swap).unwrap();
        assert_eq!(back.sha256, before.sha256);
        assert_eq!(back.load.source, LoadSource::Memory);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 5. Limits are per tenant
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_do_not_share_limits() {
    bounded(async {
        let env = Env::new();
        let identity = env.load("identity");
        let schema = schema();

        // Too little memory to even instantiate the guest.
        let tiny = Tenant::with_limits(
            "tiny",
            TenantLimits {
                memory_bytes: 64 * 1024,
                ..TenantLimits::default()
            },
        );
        let roomy = Tenant::new("roomy");
        let (small, big) = tokio::join!(
            env.runtime.instantiate(&tiny, &identity, "{}", &schema),
            env.runtime.instantiate(&roomy, &identity, "{}", &schema),
        );
        match small {
            Err(PluginError::MemoryLimit {
                plugin,
                call: Call::Create,
                limit_bytes,
                ..
            }) => {
                assert_eq!(plugin, "identity@1.0.0");
                assert_eq!(limit_bytes, 64 * 1024);
            }
            other => panic!("expected MemoryLimit for tenant tiny, got {other:?}"),
        }
        let mut big = big.unwrap();
        let input = batch(&schema, 0, 10);
        let expected = input.values().to_vec();
        assert_eq!(big.process(input, 1).await.unwrap().0.values(), expected);

        // The same plugin is over one tenant's boundary cap and within another's.
        let oversized = env.load("oversized-output");
        let capped = Tenant::with_limits(
            "capped",
            TenantLimits {
                max_boundary_bytes: 64 * 1024,
                ..TenantLimits::default()
            },
        );
        let mut a = env
            .runtime
            .instantiate(&capped, &oversized, "{}", &schema)
            .await
            .unwrap();
        let mut b = env
            .runtime
            .instantiate(&roomy, &oversized, "{}", &schema)
            .await
            .unwrap();
        let (ra, rb) = tokio::join!(
            a.process(batch(&schema, 0, 1), 1),
            b.process(batch(&schema, 0, 1), 1)
        );
        assert!(
            matches!(ra, Err(PluginError::OutputTooLarge { limit: 65536, .. })),
            "{ra:?}"
        );
        let (out, _) = rb.unwrap();
        assert_eq!(out.num_rows(), 100_000);
        assert!(out.rows().all(|r| r == batch(&schema, 0, 1).row(0)));

        // Going in, too: a batch over one tenant's cap is refused before the call (the
        // instance stays usable), while another tenant takes it.
        let mut small = env
            .runtime
            .instantiate(&capped, &identity, "{}", &schema)
            .await
            .unwrap();
        let large = batch(&schema, 0, 5_000);
        match small.process(large.clone(), 3).await {
            Err(e @ PluginError::InputTooLarge { .. }) => {
                assert!(!e.discards_instance());
                let msg = e.to_string();
                assert!(
                    msg.contains("identity@1.0.0") && msg.contains("batch 3"),
                    "{msg}"
                );
            }
            other => panic!("expected InputTooLarge, got {other:?}"),
        }
        let fits = batch(&schema, 0, 10);
        let expected = fits.values().to_vec();
        assert_eq!(small.process(fits, 4).await.unwrap().0.values(), expected);
        let expected = large.values().to_vec();
        assert_eq!(big.process(large, 2).await.unwrap().0.values(), expected);
    })
    .await;
}
