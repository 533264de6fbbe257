//! The wording and grouping of warnings, so that a factory exported from ADF validates quietly
//! and what is reported is worth reading: properties that change nothing for Sluice are not
//! reported, a property ADF has but Sluice does not implement says so (it is not a typo), a
//! name ADF does not have says "unknown property" with the nearest name, and the same warning
//! for many objects (every dataset, every ForEach iteration) is printed once with the objects.
//!
//! Property names follow ADF's REST model (the `CopyActivity`, `Activity`, `Dataset` and
//! `LinkedService` interfaces of the Azure SDK reference, learn.microsoft.com
//! `javascript/api/@azure/arm-datafactory/copyactivity`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Properties whose value never changes what Sluice does: ADF's bookkeeping (`annotations`,
/// `lastPublishTime`, `folder`, `description`, `userProperties`), where ADF runs the work
/// (`connectVia`: Sluice runs where it runs; `dataIntegrationUnits`) and pipeline-level
/// `concurrency` (Sluice runs one pipeline run per command).
const NO_EFFECT: [&str; 8] = [
    "annotations",
    "lastPublishTime",
    "folder",
    "description",
    "userProperties",
    "connectVia",
    "dataIntegrationUnits",
    "concurrency",
];

/// Properties ADF writes out with their default value; only a non-default value matters.
/// (`policy` values and the fault-tolerance flags are read where they are implemented; these
/// are the ones Sluice does not implement at all.)
fn is_default(key: &str, value: &Value) -> bool {
    let off = |v: &Value| matches!(v, Value::Bool(false)) || v.as_str() == Some("false");
    match key {
        "enableStaging"
        | "validateDataConsistency"
        | "enableSkipIncompatibleRow"
        | "disableMetricsCollection"
        | "enablePartitionDiscovery"
        | "secureInput"
        | "secureOutput"
        | "sqlWriterUseTableLock"
        | "deleteFilesAfterCompletion" => off(value),
        "retry" => value.as_i64() == Some(0),
        "retryIntervalInSeconds" => value.as_i64() == Some(30),
        "timeout" => matches!(value.as_str(), Some("0.12:00:00" | "7.00:00:00")),
        // The copy activity log is off unless `enableCopyActivityLog` is true.
        "logSettings" => !value
            .get("enableCopyActivityLog")
            .is_some_and(|v| v == &Value::Bool(true) || v.as_str() == Some("true")),
        _ => false,
    }
}

/// True when a property that Sluice did not read may be passed over without a word.
pub fn changes_nothing(key: &str, value: &Value) -> bool {
    value.is_null()
        || NO_EFFECT.iter().any(|k| k.eq_ignore_ascii_case(key))
        || is_default(key, value)
}

/// Property names ADF has that Sluice may not implement (activities, copy sources and sinks,
/// store and format settings, datasets, linked services). A name here is never a typo.
const ADF_NAMES: &[&str] = &[
    // Activity and Copy activity.
    "dataIntegrationUnits",
    "enableSkipIncompatibleRow",
    "enableStaging",
    "logSettings",
    "logStorageSettings",
    "parallelCopies",
    "preserve",
    "preserveRules",
    "redirectIncompatibleRowSettings",
    "skipErrorFile",
    "stagingSettings",
    "translator",
    "validateDataConsistency",
    "onInactiveMarkAs",
    "state",
    "linkedServiceName",
    "policy",
    "secureInput",
    "secureOutput",
    "retry",
    "retryIntervalInSeconds",
    "timeout",
    // Sources and sinks.
    "sourceRetryCount",
    "sourceRetryWait",
    "sinkRetryCount",
    "sinkRetryWait",
    "maxConcurrentConnections",
    "disableMetricsCollection",
    "writeBatchSize",
    "writeBatchTimeout",
    "writeMethod",
    "writeBehavior",
    "upsertSettings",
    "preCopyScript",
    "queryTimeout",
    "query",
    "additionalColumns",
    "partitionOption",
    "partitionSettings",
    "isolationLevel",
    "sqlWriterUseTableLock",
    "sqlWriterStoredProcedureName",
    "sqlWriterTableType",
    "storedProcedureParameters",
    "tableOption",
    "storeSettings",
    "formatSettings",
    "recursive",
    "wildcardFolderPath",
    "wildcardFileName",
    "modifiedDatetimeStart",
    "modifiedDatetimeEnd",
    "enablePartitionDiscovery",
    "partitionRootPath",
    "deleteFilesAfterCompletion",
    "fileListPath",
    "prefix",
    "copyBehavior",
    "blockSizeInMB",
    "metadata",
    "maxRowsPerFile",
    "fileNamePrefix",
    "fileExtension",
    "skipLineCount",
    "compressionProperties",
    // Datasets.
    "schema",
    "structure",
    "compressionCodec",
    "compressionLevel",
    "encodingName",
    "nullValue",
    "quoteChar",
    "escapeChar",
    "rowDelimiter",
    "columnDelimiter",
    "firstRowAsHeader",
    "location",
    "container",
    "folderPath",
    "fileName",
    // Linked services.
    "encryptedCredential",
    "credential",
    "servicePrincipalId",
    "servicePrincipalKey",
    "servicePrincipalCredentialType",
    "servicePrincipalCredential",
    "tenant",
    "azureCloudType",
    "serviceEndpoint",
    "accountKind",
    "authenticationType",
];

/// How a property Sluice did not read is reported: `object: message`, where the message starts
/// with `property '` or `unknown property '` ([`summarize`] groups on it). `understood` holds
/// the names the object's reader asked for, the candidates for "did you mean".
pub fn unused_property(object: &str, key: &str, understood: &BTreeSet<String>) -> String {
    let known = ADF_NAMES.iter().any(|n| n.eq_ignore_ascii_case(key));
    let nearest = (!known).then(|| nearest(key, understood)).flatten();
    match nearest {
        Some(name) => {
            format!("{object}: unknown property '{key}' (did you mean '{name}'?); ignored")
        }
        None => format!("{object}: property '{key}' is not implemented by Sluice; ignored"),
    }
}

/// The name closest to `key` (ignoring case) among `understood` and ADF's names, when it is
/// close enough to be a typo: at most one edit for short names, two for longer ones.
fn nearest(key: &str, understood: &BTreeSet<String>) -> Option<String> {
    let limit = if key.chars().count() <= 5 { 1 } else { 2 };
    let lower = key.to_ascii_lowercase();
    understood
        .iter()
        .map(String::as_str)
        .chain(ADF_NAMES.iter().copied())
        .filter(|n| !n.eq_ignore_ascii_case(key))
        .map(|n| (distance(&lower, &n.to_ascii_lowercase()), n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.to_string())
}

/// True when `written` is close enough to `meant` (but not the same name, ignoring case) to be
/// a typo of it.
pub fn is_typo(written: &str, meant: &str) -> bool {
    let limit = if written.chars().count() <= 5 { 1 } else { 2 };
    !written.eq_ignore_ascii_case(meant)
        && distance(&written.to_ascii_lowercase(), &meant.to_ascii_lowercase()) <= limit
}

/// Levenshtein distance, with a transposition of neighbours counting as one edit.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Where the message of a property warning starts (after `object: `).
fn split(warning: &str) -> Option<(&str, &str)> {
    [": property '", ": unknown property '"]
        .iter()
        .filter_map(|m| warning.find(m))
        .min()
        .map(|i| (&warning[..i], &warning[i + 2..]))
}

/// At most this many objects are listed in a grouped warning.
const LISTED: usize = 10;

/// Warnings as they are printed: each text once, and a property warning that many objects
/// share once, with the objects listed (`... ; ignored (in 3 objects: dataset 'A' (...);
/// dataset 'B' (...); dataset 'C' (...))`). Sorted, so output is stable.
pub fn summarize(warnings: &[String]) -> Vec<String> {
    let mut whole = BTreeSet::new();
    let mut by_message: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for w in warnings {
        match split(w) {
            Some((object, message)) => {
                by_message.entry(message).or_default().insert(object);
            }
            None => {
                whole.insert(w.clone());
            }
        }
    }
    for (message, objects) in by_message {
        if objects.len() == 1 {
            whole.extend(objects.iter().map(|o| format!("{o}: {message}")));
            continue;
        }
        let mut list: Vec<&str> = objects.iter().copied().take(LISTED).collect();
        let more = objects.len().saturating_sub(LISTED);
        let more = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        list.dedup();
        whole.insert(format!(
            "{message} (in {} objects: {}{more})",
            objects.len(),
            list.join("; ")
        ));
    }
    whole.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn asked(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bookkeeping_and_defaults_change_nothing() {
        for (k, v) in [
            ("lastPublishTime", json!("2024-01-01T00:00:00Z")),
            ("annotations", json!([])),
            (
                "connectVia",
                json!({"referenceName": "AutoResolveIntegrationRuntime", "type": "IntegrationRuntimeReference"}),
            ),
            (
                "connectVia",
                json!({"referenceName": "SelfHostedIR", "type": "IntegrationRuntimeReference"}),
            ),
            ("dataIntegrationUnits", json!(4)),
            ("enableStaging", json!(false)),
            ("validateDataConsistency", json!(false)),
            ("logSettings", json!({"enableCopyActivityLog": false})),
            ("timeout", json!("0.12:00:00")),
            ("retry", json!(0)),
            ("retryIntervalInSeconds", json!(30)),
            ("secureOutput", json!(false)),
        ] {
            assert!(changes_nothing(k, &v), "{k}: {v}");
        }
        for (k, v) in [
            ("enableStaging", json!(true)),
            ("logSettings", json!({"enableCopyActivityLog": true})),
            ("timeout", json!("0.01:00:00")),
            ("retry", json!(2)),
            ("stagingSettings", json!({})),
        ] {
            assert!(!changes_nothing(k, &v), "{k}: {v}");
        }
    }

    #[test]
    fn adf_properties_are_not_implemented_and_typos_are_unknown() {
        let understood = asked(&["source", "sink", "translator", "parallelCopies"]);
        assert_eq!(
            unused_property("activity 'C' typeProperties", "enableStaging", &understood),
            "activity 'C' typeProperties: property 'enableStaging' is not implemented by Sluice; ignored"
        );
        assert_eq!(
            unused_property("activity 'C' typeProperties", "parallelCopie", &understood),
            "activity 'C' typeProperties: unknown property 'parallelCopie' (did you mean 'parallelCopies'?); ignored"
        );
        assert_eq!(
            unused_property("activity 'C' typeProperties", "enableStagign", &understood),
            "activity 'C' typeProperties: unknown property 'enableStagign' (did you mean 'enableStaging'?); ignored"
        );
        // Nothing close: not called a typo.
        assert_eq!(
            unused_property("o", "somethingElseEntirely", &understood),
            "o: property 'somethingElseEntirely' is not implemented by Sluice; ignored"
        );
    }

    #[test]
    fn the_same_warning_for_many_objects_is_printed_once() {
        let w = |o: &str| format!("{o}: property 'x' is not implemented by Sluice; ignored");
        let out = summarize(&[
            w("dataset 'B'"),
            w("dataset 'A'"),
            w("dataset 'B'"),
            "file.json: 'T' is not a linked service, dataset or pipeline; passed over".into(),
            w("dataset 'C'"),
            "pipeline 'P': property 'y' is not implemented by Sluice; ignored".into(),
        ]);
        assert_eq!(
            out,
            vec![
                "file.json: 'T' is not a linked service, dataset or pipeline; passed over",
                "pipeline 'P': property 'y' is not implemented by Sluice; ignored",
                "property 'x' is not implemented by Sluice; ignored (in 3 objects: dataset 'A'; dataset 'B'; dataset 'C')",
            ]
        );
    }

    #[test]
    fn long_groups_are_cut() {
        let many: Vec<String> = (0..12)
            .map(|i| {
                format!("dataset 'D{i:02}': property 'x' is not implemented by Sluice; ignored")
            })
            .collect();
        let out = summarize(&many);
        assert_eq!(out.len(), 1);
        assert!(out[0].starts_with("property 'x' is not implemented by Sluice; ignored (in 12 objects: dataset 'D00'; "), "{}", out[0]);
        assert!(out[0].ends_with("dataset 'D09'; and 2 more)"), "{}", out[0]);
    }
}
