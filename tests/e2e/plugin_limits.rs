//! The plugin runtime's defences against what it cannot trust: a compiled-code cache directory
//! others can write to, cache files planted or swapped in it, guest text built to flood or forge
//! the host's logs and errors, components built to exhaust the compiler, and many instances that
//! together exhaust the host's memory. Real components built from `guest-plugins/` (the hostile
//! ones included), the real `sluice` binary and the local PostgreSQL server; no mocks.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use sluice::plugins::{
    Call, CompileLimits, LoadSource, LoadedPlugin, PluginError, PluginRef, PluginRegistry,
    PluginRuntime, RuntimeConfig, Tenant, TenantLimits,
};
use sluice::types::batch::Batch;
use sluice::types::schema::{Column, DataType, Schema, SchemaRef};
use sluice::types::value::Value;
use sluice_e2e::*;

/// What the hostile `noisy` plugin tries to slip into the host's log as a line of its own.
const FORGED: &str = "2026-01-01T00:00:00.000000Z ERROR FORGED-BY-PLUGIN";

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Column::new("id", DataType::Int64, "int8"),
        Column::new("note", DataType::Text, "text"),
    ]))
}

fn batch(n: usize) -> Batch {
    let schema = schema();
    let mut b = Batch::with_capacity(schema, n);
    for id in 0..n as i64 {
        b.push_row([Value::Int64(id), Value::Text(format!("note {id}"))]);
    }
    b
}

fn registry() -> PluginRegistry {
    PluginRegistry::new([plugins_dir()])
}

fn load(runtime: &PluginRuntime, reference: &str) -> Arc<LoadedPlugin> {
    runtime
        .load(&registry(), &PluginRef::parse(reference).unwrap())
        .unwrap_or_else(|e| panic!("loading {reference}: {e}"))
}

/// The plugin's own name, from its `info()`: which code really runs.
async fn guest_name(runtime: &PluginRuntime, plugin: &Arc<LoadedPlugin>) -> String {
    runtime.describe(plugin).await.unwrap().name
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The compiled-code cache trusts nothing it did not write itself
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_file_renamed_to_another_plugin_is_not_run() {
    let cache = tempfile::tempdir().unwrap();
    let first = PluginRuntime::new(RuntimeConfig::with_cache_dir(cache.path())).unwrap();
    let identity = load(&first, "identity");
    let mask = load(&first, "mask-pii");
    let identity_file = identity
        .load
        .cache_file
        .clone()
        .expect("identity not cached");
    let mask_file = mask.load.cache_file.clone().expect("mask-pii not cached");
    assert_ne!(identity_file, mask_file);

    // Plant mask-pii's compiled code under identity's name (what a renamed cache file did).
    std::fs::copy(&mask_file, &identity_file).unwrap();

    let second = PluginRuntime::new(RuntimeConfig::with_cache_dir(cache.path())).unwrap();
    let again = load(&second, "identity");
    assert_eq!(
        guest_name(&second, &again).await,
        "identity",
        "the planted file's code ran"
    );
    assert_eq!(again.load.source, LoadSource::Compiled);
    // The planted file was replaced by a good one, which the next runtime uses.
    let third = PluginRuntime::new(RuntimeConfig::with_cache_dir(cache.path())).unwrap();
    let good = load(&third, "identity");
    assert_eq!(good.load.source, LoadSource::Disk);
    assert_eq!(guest_name(&third, &good).await, "identity");
    // mask-pii's own file is still good.
    assert_eq!(load(&third, "mask-pii").load.source, LoadSource::Disk);
}

/// Loads identity with a cache in `dir` and asserts the directory was refused: no disk cache
/// in use, nothing read from or written to it, and the plugin still loads (compiled).
async fn assert_cache_refused(dir: &Path) {
    let before = files_in(dir);
    let runtime = PluginRuntime::new(RuntimeConfig::with_cache_dir(dir)).unwrap();
    let identity = load(&runtime, "identity");
    assert_eq!(runtime.cache_dir(), None, "{} was used", dir.display());
    assert_eq!(identity.load.source, LoadSource::Compiled);
    assert_eq!(identity.load.cache_file, None);
    assert_eq!(
        files_in(dir),
        before,
        "files were written to {}",
        dir.display()
    );
    assert_eq!(guest_name(&runtime, &identity).await, "identity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_directory_others_can_write_is_refused() {
    let root = tempfile::tempdir().unwrap();
    for m in [0o777, 0o770, 0o702] {
        let dir = root.path().join(format!("cache-{m:o}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m)).unwrap();
        assert_cache_refused(&dir).await;
    }
    // A planted file in a world-writable directory is never run, even under the right name.
    let open = root.path().join("open");
    std::fs::create_dir(&open).unwrap();
    let private = root.path().join("private");
    let runtime = PluginRuntime::new(RuntimeConfig::with_cache_dir(&private)).unwrap();
    let mask_file = load(&runtime, "mask-pii").load.cache_file.clone().unwrap();
    let identity_file = load(&runtime, "identity").load.cache_file.clone().unwrap();
    std::fs::copy(&mask_file, open.join(identity_file.file_name().unwrap())).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_cache_refused(&open).await;
    // A private directory inside one others can write to could be swapped whole.
    let parent = root.path().join("open-parent");
    let inner = parent.join("cache");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_cache_refused(&inner).await;
    // Unless it is sticky, like /tmp: there only an entry's owner may rename it.
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let runtime = PluginRuntime::new(RuntimeConfig::with_cache_dir(&inner)).unwrap();
    assert!(runtime.cache_dir().is_some());
    assert!(load(&runtime, "identity").load.cache_file.is_some());
}

#[tokio::test]
async fn the_cli_warns_about_an_open_cache_directory_and_runs_without_it() {
    let (f, _db) = identity_copy_factory().await;
    let root = tempfile::tempdir().unwrap();
    let open = root.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = run_identity(&f, &["--plugin-cache", open.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all());
    let warning = format!(
        "plugin cache {}: its mode 777 lets other users write",
        open.display()
    );
    assert!(run.stderr.contains(&warning), "{}", run.stderr);
    assert!(run.stderr.contains("not using it"), "{}", run.stderr);
    assert_eq!(files_in(&open), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_directory_of_another_user_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("theirs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Giving a directory away takes root; as anyone else, a directory we own stands in for
    // the test of the check itself, and the refusal is covered by the mode tests above.
    if std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).is_err() {
        eprintln!("not root: cannot give {} to another user", dir.display());
        return;
    }
    assert_cache_refused(&dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_files_and_the_key_are_private() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a").join("cache");
    let runtime = PluginRuntime::new(RuntimeConfig::with_cache_dir(&dir)).unwrap();
    let identity = load(&runtime, "identity");
    let file = identity.load.cache_file.clone().expect("not cached");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&file), 0o600, "{}", file.display());
    let key = dir.join("cache.key");
    assert!(key.is_file(), "no key file in {}", dir.display());
    assert_eq!(mode(&key), 0o600);
    assert_eq!(std::fs::metadata(&key).unwrap().len(), 32);
    // Another installation (another key) does not trust this installation's files.
    std::fs::write(&key, [7u8; 32]).unwrap();
    let other = PluginRuntime::new(RuntimeConfig::with_cache_dir(&dir)).unwrap();
    assert_eq!(load(&other, "identity").load.source, LoadSource::Compiled);
    // A key others can read is refused like a directory others can write.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let leaky = PluginRuntime::new(RuntimeConfig::with_cache_dir(&dir)).unwrap();
    assert_eq!(leaky.cache_dir(), None);
    assert_eq!(load(&leaky, "identity").load.source, LoadSource::Compiled);
}

// ---------------------------------------------------------------------------------------------
// 2. Guest text cannot flood or forge what the host prints
// ---------------------------------------------------------------------------------------------

/// No character that could end a line or drive a terminal.
fn assert_no_controls(text: &str, what: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect();
    assert!(bad.is_empty(), "{what} holds control characters {bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_guest_error_is_truncated_and_escaped() {
    let runtime = PluginRuntime::new(RuntimeConfig::in_memory()).unwrap();
    let noisy = load(&runtime, "noisy");
    let tenant = Tenant::new("t");
    let mut instance = runtime
        .instantiate(&tenant, &noisy, r#"{"error_bytes": 8388608}"#, &schema())
        .await
        .unwrap();
    let err = instance.process(batch(1), 3).await.unwrap_err();
    let PluginError::Guest {
        call: Call::Process,
        batch: Some(3),
        message,
        ..
    } = &err
    else {
        panic!("expected the guest's own error, got {err:?}");
    };
    assert!(message.len() <= 4200, "{} bytes kept", message.len());
    assert!(
        message.starts_with("ERROR-START\\n2026-01-01"),
        "{message:.200}"
    );
    assert!(
        message.ends_with(" bytes truncated)"),
        "{}",
        &message[message.len() - 80..]
    );
    assert!(
        !message.contains('\n') && !message.contains('\x1b'),
        "{message:.200}"
    );
    let text = err.to_string();
    assert!(!text.lines().any(|l| l.starts_with(FORGED)), "{text:.300}");
    assert_no_controls(&text, "the error");
    // The refusal leaves the instance usable.
    assert!(!err.discards_instance());
}

#[tokio::test]
async fn a_plugin_cannot_forge_log_lines_or_flood_the_run_output() {
    let db = TestDb::new("plug_noisy").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, 'n' || g AS note FROM generate_series(1, 3) g",
    )
    .await;
    db.exec("CREATE TABLE {s}.dst (id int, note text)").await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource",
               "transforms": [{"plugin": "noisy", "config": {"error_bytes": 1048576}}]}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    let dir = plugins_dir();
    let run = run_factory(&f, &["--plugins", dir.to_str().unwrap()]);
    let error = assert_one_clean_error(&run, &["noisy@1.0.0", "bytes truncated)"]);
    assert!(error.len() < 8192, "the error kept {} bytes", error.len());
    assert!(
        run.stdout.len() < 64 * 1024,
        "stdout has {} bytes",
        run.stdout.len()
    );
    assert!(
        run.stderr.len() < 64 * 1024,
        "stderr has {} bytes",
        run.stderr.len()
    );
    // The plugin's log message arrived, escaped onto one line.
    assert!(
        run.stderr.contains("harmless\\n2026-01-01"),
        "the log message is missing: {}",
        run.stderr
    );
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with(FORGED)),
            "{what} has a forged line: {text}"
        );
        // The host colours its own log (ESC [ ... m); none of the plugin's sequences is there.
        for raw in ["\x1b[2J", "\x1b]0;", "\u{9b}", "\r", "\x07"] {
            assert!(!text.contains(raw), "{what} holds the plugin's {raw:?}");
        }
    }
    assert_no_controls(&run.stdout, "stdout");
}

// ---------------------------------------------------------------------------------------------
// 3. Memory budgets over many instances: per tenant and per process
// ---------------------------------------------------------------------------------------------

const MIB: u64 = 1024 * 1024;

/// The linear memory one identity instance takes (measured on a runtime of its own).
async fn identity_instance_bytes() -> u64 {
    let runtime = PluginRuntime::new(RuntimeConfig::in_memory()).unwrap();
    let identity = load(&runtime, "identity");
    let probe = runtime
        .instantiate(&Tenant::new("probe"), &identity, "{}", &schema())
        .await
        .unwrap();
    let one = runtime.tenant_memory_in_use("probe");
    assert!(one > 0, "an instance takes no memory?");
    assert_eq!(runtime.memory_in_use(), one);
    drop(probe);
    assert_eq!(runtime.tenant_memory_in_use("probe"), 0);
    assert_eq!(runtime.memory_in_use(), 0);
    one
}

/// Asserts `err` is a budget refusal of `budget` with limit `limit`, and returns its message.
fn assert_over_budget(err: &PluginError, budget: &str, limit: u64) -> String {
    match err {
        PluginError::MemoryBudget {
            budget: b,
            limit_bytes,
            in_use_bytes,
            requested_bytes,
            ..
        } => {
            assert_eq!(b, budget);
            assert_eq!(*limit_bytes, limit);
            assert!(*in_use_bytes <= limit, "{err}");
            assert!(in_use_bytes + requested_bytes > limit, "{err}");
            assert!(err.discards_instance());
            let text = err.to_string();
            assert!(
                text.contains(&format!("memory budget of {budget}")),
                "{text}"
            );
            text
        }
        other => panic!("expected a refusal by the budget of {budget}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_budget_bounds_all_its_live_instances() {
    let one = identity_instance_bytes().await;
    let runtime = PluginRuntime::new(RuntimeConfig::in_memory()).unwrap();
    let identity = load(&runtime, "identity");
    let budget = 2 * one + one / 2;
    let tight = Tenant::with_limits(
        "tight",
        TenantLimits {
            memory_budget_bytes: budget,
            ..TenantLimits::default()
        },
    );
    // Room for two instances, not three.
    let a = runtime
        .instantiate(&tight, &identity, "{}", &schema())
        .await
        .unwrap();
    let b = runtime
        .instantiate(&tight, &identity, "{}", &schema())
        .await
        .unwrap();
    assert_eq!(runtime.tenant_memory_in_use("tight"), 2 * one);
    let err = runtime
        .instantiate(&tight, &identity, "{}", &schema())
        .await
        .unwrap_err();
    let text = assert_over_budget(&err, "tenant tight", budget);
    assert!(
        matches!(
            err,
            PluginError::MemoryBudget {
                call: Call::Create,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains("identity@1.0.0"), "{text}");
    assert_eq!(runtime.tenant_memory_in_use("tight"), 2 * one);
    // Another tenant on the same runtime is not affected.
    let mut other = runtime
        .instantiate(&Tenant::new("other"), &identity, "{}", &schema())
        .await
        .unwrap();
    let input = batch(10);
    let expected = input.values().to_vec();
    assert_eq!(other.process(input, 1).await.unwrap().0.values(), expected);
    // An instance dropped gives its memory back to the budget.
    drop(a);
    let mut c = runtime
        .instantiate(&tight, &identity, "{}", &schema())
        .await
        .unwrap();
    drop(b);
    let input = batch(10);
    let expected = input.values().to_vec();
    assert_eq!(c.process(input, 1).await.unwrap().0.values(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_budget_bounds_every_tenant_together() {
    let one = identity_instance_bytes().await;
    let budget = 2 * one + one / 2;
    let runtime = PluginRuntime::new(RuntimeConfig {
        memory_budget_bytes: budget,
        ..RuntimeConfig::in_memory()
    })
    .unwrap();
    let identity = load(&runtime, "identity");
    // Each tenant is well within its own budget; together they are not.
    let a = runtime
        .instantiate(&Tenant::new("a"), &identity, "{}", &schema())
        .await
        .unwrap();
    let _b = runtime
        .instantiate(&Tenant::new("b"), &identity, "{}", &schema())
        .await
        .unwrap();
    let err = runtime
        .instantiate(&Tenant::new("c"), &identity, "{}", &schema())
        .await
        .unwrap_err();
    assert_over_budget(&err, "the process", budget);
    assert_eq!(runtime.memory_in_use(), 2 * one);
    assert_eq!(
        runtime.tenant_memory_in_use("c"),
        0,
        "c's refusal was rolled back"
    );
    drop(a);
    runtime
        .instantiate(&Tenant::new("c"), &identity, "{}", &schema())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bombs_running_at_once_stay_within_the_tenant_budget() {
    let runtime = PluginRuntime::new(RuntimeConfig::in_memory()).unwrap();
    let bomb = load(&runtime, "memory-bomb");
    // Each instance alone may grow to 256 MiB (four would take 1 GiB); together they may
    // hold 160 MiB.
    let budget = 160 * MIB;
    let greedy = Tenant::with_limits(
        "greedy",
        TenantLimits {
            memory_bytes: 256 * MIB,
            memory_budget_bytes: budget,
            call_timeout: std::time::Duration::from_secs(60),
            ..TenantLimits::default()
        },
    );
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(
            runtime
                .instantiate(&greedy, &bomb, "{}", &schema())
                .await
                .unwrap(),
        );
    }
    let calls = instances
        .iter_mut()
        .enumerate()
        .map(|(i, inst)| inst.process(batch(1), i as u64));
    let results = futures_util::future::join_all(calls).await;
    for r in &results {
        let err = r.as_ref().unwrap_err();
        assert_over_budget(err, "tenant greedy", budget);
    }
    // Every bomb was discarded, and its memory given back.
    assert!(instances.iter().all(|i| i.poisoned().is_some()));
    assert_eq!(runtime.tenant_memory_in_use("greedy"), 0);
    assert_eq!(runtime.memory_in_use(), 0);
}

#[tokio::test]
async fn memory_budgets_are_set_from_the_command_line() {
    let (f, _db) = identity_copy_factory().await;
    // A budget of 1 MiB cannot hold even one identity instance.
    let run = run_identity(&f, &["--tenant", "small", "--plugin-tenant-memory-mb", "1"]);
    assert_one_clean_error(&run, &["identity@1.0.0", "memory budget of tenant small"]);
    let run = run_identity(&f, &["--plugin-process-memory-mb", "1"]);
    assert_one_clean_error(&run, &["identity@1.0.0", "memory budget of the process"]);
    for flag in ["--plugin-tenant-memory-mb", "--plugin-process-memory-mb"] {
        assert_flag_refused(&f, flag, "0", "must be at least 1");
    }
}

/// Runs the factory with the built plugins and `extra` arguments.
fn run_identity(f: &TestFactory, extra: &[&str]) -> Run {
    let dir = plugins_dir();
    let mut args = vec!["--plugins", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_factory(f, &args)
}

/// Asserts that `flag value` is refused before the run starts, with a message naming the flag.
fn assert_flag_refused(f: &TestFactory, flag: &str, value: &str, why: &str) {
    let run = run_identity(f, &[flag, value]);
    assert_ne!(run.code, 0, "{flag} {value} was accepted");
    assert!(
        run.stderr.contains(&format!("{flag}: {why}")),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("panicked"), "{}", run.all());
}

/// A factory whose copy runs identity over a 3-row table (with the database, to keep it).
async fn identity_copy_factory() -> (TestFactory, TestDb) {
    let db = TestDb::new("plug_limits").await;
    db.exec("CREATE TABLE {s}.src AS SELECT g AS id FROM generate_series(1, 3) g")
        .await;
    db.exec("CREATE TABLE {s}.dst (id int)").await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource", "transforms": [{"plugin": "identity"}]}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    (f, db)
}

// ---------------------------------------------------------------------------------------------
// 4. Compiling is capped: sizes before, a deadline during
// ---------------------------------------------------------------------------------------------

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    leb128(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// A component whose one core module has one function of about `body_bytes` bytes
/// (`i32.const 0; drop`, repeated): valid wasm, and as large a function as asked for.
fn component_with_function(body_bytes: usize) -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend(section(1, &[1, 0x60, 0, 0])); // one type: () -> ()
    module.extend(section(3, &[1, 0])); // one function of that type
    let mut body = vec![0]; // no locals
    while body.len() < body_bytes {
        body.extend_from_slice(&[0x41, 0x00, 0x1a]);
    }
    body.push(0x0b);
    let mut code = vec![1];
    leb128(body.len(), &mut code);
    code.extend(body);
    module.extend(section(10, &code));
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    component.extend(section(1, &module)); // a core module
    component
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_over_the_size_caps_are_refused_before_compiling() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("big@1.0.0.wasm"),
        component_with_function(300_000),
    )
    .unwrap();
    let registry = PluginRegistry::new([dir.path()]);
    let big = PluginRef::parse("big").unwrap();
    let runtime = PluginRuntime::new(RuntimeConfig::in_memory()).unwrap();
    let caps = |wasm: u64, function: u64| CompileLimits {
        max_wasm_bytes: wasm,
        max_function_bytes: function,
        ..CompileLimits::default()
    };

    let err = runtime
        .load_with(&registry, &big, &caps(100_000, 1 << 20))
        .unwrap_err();
    let PluginError::CompileRefused { plugin, reason, .. } = &err else {
        panic!("expected CompileRefused, got {err:?}");
    };
    assert_eq!(plugin, "big@1.0.0");
    assert!(
        reason.contains("over the 97.7 KiB limit on a plugin's size"),
        "{reason}"
    );

    let err = runtime
        .load_with(&registry, &big, &caps(1 << 20, 200_000))
        .unwrap_err();
    let PluginError::CompileRefused { reason, .. } = &err else {
        panic!("expected CompileRefused, got {err:?}");
    };
    assert!(
        reason.contains("function 0 of its core module 1 is 293.0 KiB, over the 195.3 KiB limit"),
        "{reason}"
    );

    // Within the caps it compiles, and is refused only for not being a plugin.
    let err = runtime
        .load_with(&registry, &big, &caps(1 << 20, 1 << 20))
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Compile { message, .. } if message.contains("does not export")),
        "{err:?}"
    );
    // The default caps let the real plugins through.
    load(&runtime, "identity");
    load(&runtime, "mask-pii");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_past_its_deadline_fails_and_is_not_cached() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = PluginRuntime::new(RuntimeConfig::with_cache_dir(cache.path())).unwrap();
    let identity = PluginRef::parse("identity").unwrap();
    // No compile finishes within a microsecond.
    let hurried = CompileLimits {
        timeout: std::time::Duration::from_micros(1),
        ..CompileLimits::default()
    };
    let err = runtime
        .load_with(&registry(), &identity, &hurried)
        .unwrap_err();
    let PluginError::CompileTimeout { plugin, limit, .. } = &err else {
        panic!("expected CompileTimeout, got {err:?}");
    };
    assert_eq!(plugin, "identity@1.0.0");
    assert_eq!(*limit, std::time::Duration::from_micros(1));
    assert!(err.to_string().contains("nothing was cached"), "{err}");
    let cached: Vec<PathBuf> = files_in(cache.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert!(cached.is_empty(), "{cached:?}");
    // Neither in memory nor on disk: the next load compiles, and works.
    let again = runtime
        .load_with(&registry(), &identity, &CompileLimits::default())
        .unwrap();
    assert_eq!(again.load.source, LoadSource::Compiled);
    assert_eq!(guest_name(&runtime, &again).await, "identity");
}

#[tokio::test]
async fn compile_caps_are_set_from_the_command_line() {
    let (f, _db) = identity_copy_factory().await;
    let hurried = ["--no-plugin-cache", "--plugin-compile-timeout", "0.000001"];
    let run = run_identity(&f, &hurried);
    assert_one_clean_error(&run, &["identity@1.0.0", "did not finish within"]);
    let run = run_identity(&f, &["--plugin-max-function-kb", "1"]);
    assert_one_clean_error(&run, &["identity@1.0.0", "limit per function"]);
    assert_flag_refused(&f, "--plugin-max-wasm-mb", "0", "must be at least 1");
    assert_flag_refused(
        &f,
        "--plugin-compile-timeout",
        "0",
        "must be a number of seconds",
    );
    // Within the caps the copy runs.
    let run = run_identity(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
}
