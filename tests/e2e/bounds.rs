//! Proves that what a run costs is bounded by what it does (regressions of the hardening
//! issue): the memory a run allocates grows linearly with its activities and ForEach items
//! (each activity's expression scope used to be a deep copy of every output, variable and
//! parameter), a self-recursive ForEach/ExecutePipeline fan-out ends at the run's activity
//! limits with named errors instead of exhausting memory, and expressions cannot grow a string
//! until an allocation aborts the process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;
use sluice::engine::{self, RunOptions, Status};
use sluice_e2e::*;

/// The system allocator, counting the bytes it hands out, so a test can measure what a run
/// allocates without timing it. Counted in every test of this binary; read only by the test
/// that runs alone in a child process.
struct Counting;

static ALLOCATED: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size as u64, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// A factory whose pipeline `P` has `n` independent SetVariable activities and a ForEach over
/// an `n`-item array parameter, each iteration setting a variable from `item()`.
fn wide_factory(n: usize) -> TestFactory {
    let f = TestFactory::new();
    let mut activities: Vec<_> = (0..n)
        .map(|i| {
            json!({"name": format!("Set{i}"), "type": "SetVariable",
                   "typeProperties": {"variableName": "v", "value": format!("@concat('x', string({i}))")}})
        })
        .collect();
    activities.push(
        json!({"name": "Loop", "type": "ForEach", "typeProperties": {
        "items": "@pipeline().parameters.items", "batchCount": 4,
        "activities": [{"name": "Item", "type": "SetVariable",
            "typeProperties": {"variableName": "w", "value": "@string(item())"}}]}}),
    );
    f.put(
        "pipeline",
        "P",
        json!({"parameters": {"items": {"type": "array", "defaultValue": (0..n).collect::<Vec<_>>()}},
               "variables": {"v": {"type": "String"}, "w": {"type": "String"}},
               "activities": activities}),
    );
    f
}

/// Bytes allocated by one in-process run of [`wide_factory`]`(n)`.
async fn bytes_allocated_by_run(n: usize) -> u64 {
    let f = wide_factory(n);
    let factory = Arc::new(engine::load(f.path()).unwrap());
    let before = ALLOCATED.load(Ordering::Relaxed);
    let run = engine::start(factory, Some("P"), RunOptions::new("bounds"))
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    let after = ALLOCATED.load(Ordering::Relaxed);
    assert_eq!(run.status, Status::Succeeded, "{}", run.to_json());
    assert_eq!(run.activities.len(), 2 * n + 1);
    after - before
}

#[tokio::test]
async fn memory_a_run_allocates_grows_linearly_with_its_activities() {
    if std::env::var_os("SLUICE_TEST_ALONE").is_none() {
        // Alone in a child process: other tests allocating at the same time would be counted.
        return rerun_in_child(
            module_path!(),
            "memory_a_run_allocates_grows_linearly_with_its_activities",
            &[("SLUICE_TEST_ALONE", "1")],
        );
    }
    let small = bytes_allocated_by_run(1_000).await;
    let large = bytes_allocated_by_run(4_000).await;
    let ratio = large as f64 / small as f64;
    println!("allocated: {small} bytes for 1,000, {large} bytes for 4,000: {ratio:.2}x");
    // Four times the work: about four times the bytes when linear, sixteen when each activity
    // copies everything before it (as it did: 6.9x at these sizes, 281 s for 20,000).
    assert!(
        ratio < 5.5,
        "4x the activities allocated {ratio:.2}x the bytes ({small} -> {large})"
    );
}

/// A pipeline `P` whose ForEach over 10 items runs `P` again: 10^16 runs within the nesting
/// limit if nothing else stops it.
fn fan_out_factory() -> TestFactory {
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "Fan", "type": "ForEach", "typeProperties": {
            "items": "@range(0, 10)",
            "activities": [{"name": "Again", "type": "ExecutePipeline", "typeProperties": {
                "pipeline": {"referenceName": "P", "type": "PipelineReference"},
                "waitOnCompletion": true}}]}}]}),
    );
    f
}

#[tokio::test]
async fn a_self_recursive_fan_out_ends_at_the_run_limits() {
    let f = fan_out_factory();
    let path = f.path().to_str().unwrap().to_string();
    for (flag, value, says) in [
        (
            "--max-activity-runs",
            "300",
            "has started 300 activity runs",
        ),
        (
            "--max-concurrent-activity-runs",
            "40",
            "has 40 activity runs going at once",
        ),
    ] {
        let run = sluice(&["run", &path, flag, value, "--output", "json"]);
        assert_eq!(run.code, 1, "{}", run.all());
        let out = run.json();
        assert_eq!(out["status"], "Failed", "{}", run.stdout);
        // The limit's error travels up through each parent's error to the top run.
        let message = activity(&out, "Fan")["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{flag}: {message}");
        assert!(run.stderr.contains("ActivityRunLimitExceeded") || run.stderr.contains(says));
    }
    let bad = sluice(&["run", &path, "--max-activity-runs", "0"]);
    assert_eq!(bad.code, 2, "{}", bad.all());
}

#[tokio::test]
async fn a_string_doubled_in_a_loop_stops_at_the_size_limit() {
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"variables": {"s": {"type": "String", "defaultValue": "xxxxxxxx"}, "t": {"type": "String"}},
               "activities": [{"name": "Grow", "type": "Until", "typeProperties": {
                   "expression": "@equals(1, 2)",
                   "activities": [
                       {"name": "Double", "type": "SetVariable", "typeProperties": {
                           "variableName": "t", "value": "@concat(variables('s'), variables('s'))"}},
                       {"name": "Copy", "type": "SetVariable",
                        "dependsOn": [{"activity": "Double", "dependencyConditions": ["Succeeded"]}],
                        "typeProperties": {"variableName": "s", "value": "@variables('t')"}}]}},
                   {"name": "Multiply", "type": "SetVariable", "typeProperties": {
                       "variableName": "t",
                       "value": format!("@{}'{}'{}", "replace(".repeat(4), "a".repeat(16), format!(", 'a', '{}')", "a".repeat(64)).repeat(4))}},
                   {"name": "Join", "type": "SetVariable", "typeProperties": {
                       "variableName": "t",
                       "value": "@join(range(0, 100000), replace('aaaaaaaaaaaaaaaa', 'a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'))"}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let out = run.json();
    for name in ["Grow", "Multiply", "Join"] {
        let a = activity(&out, name);
        assert_eq!(a["status"], "Failed", "{name}: {a}");
        let message = a["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("more than an expression may make (16777216 bytes)"),
            "{name}: {message}"
        );
    }
}
