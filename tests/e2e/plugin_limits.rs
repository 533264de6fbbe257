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
    Call, LoadSource, LoadedPlugin, PluginError, PluginRef, PluginRegistry, PluginRuntime,
    RuntimeConfig, Tenant, TenantLimits,
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
    let identity_file = identity.load.cache_file.clone().expect("identity not cached");
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
    assert_eq!(files_in(dir), before, "files were written to {}", dir.display());
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
    assert!(message.starts_with("ERROR-START\\n2026-01-01"), "{message:.200}");
    assert!(message.ends_with(" bytes truncated)"), "{}", &message[message.len() - 80..]);
    assert!(!message.contains('\n') && !message.contains('\x1b'), "{message:.200}");
    let text = err.to_string();
    assert!(!text.lines().any(|l| l.starts_with(FORGED)), "{text:.300}");
    assert_no_controls(&text, "the error");
    // The refusal leaves the instance usable.
    assert!(!err.discards_instance());
}

#[tokio::test]
async fn a_plugin_cannot_forge_log_lines_or_flood_the_run_output() {
    let db = TestDb::new("plug_noisy").await;
    db.exec("CREATE TABLE {s}.src AS SELECT g AS id, 'n' || g AS note FROM generate_series(1, 3) g")
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
    assert!(run.stdout.len() < 64 * 1024, "stdout has {} bytes", run.stdout.len());
    assert!(run.stderr.len() < 64 * 1024, "stderr has {} bytes", run.stderr.len());
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
        assert_no_controls(text, what);
    }
}
