//! Proves what `sluice validate` and `sluice run` say about factories published from ADF:
//! an export as ADF's git integration writes it validates without a word; a property Sluice does
//! not implement says so, and a typo says "unknown property" with the name meant; one warning
//! shared by many objects is printed once; `encryptedCredential` is explained once per linked
//! service with the fix; every unsupported activity is reported; and a Key Vault reference in a
//! property that cannot hold one names the properties that can.

use serde_json::{json, Value};
use sluice_e2e::azurite::ACCOUNT_KEY;
use sluice_e2e::*;

fn validate(f: &TestFactory) -> Run {
    sluice(&["validate", f.path().to_str().unwrap()])
}

/// The lines of stderr that start with `prefix` (`warning: `, `error: `).
fn lines<'a>(run: &'a Run, prefix: &str) -> Vec<&'a str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with(prefix))
        .collect()
}

/// Writes one definition as ADF's git integration does: the ARM resource `type` beside
/// `name` and `properties` (kind: linkedService, dataset, pipeline).
fn git(f: &TestFactory, kind: &str, name: &str, properties: Value) {
    let arm = match kind {
        "linkedService" => "linkedservices",
        "dataset" => "datasets",
        _ => "pipelines",
    };
    let dir = f.path().join(kind);
    std::fs::create_dir_all(&dir).unwrap();
    let body = json!({"name": name, "type": format!("Microsoft.DataFactory/factories/{arm}"),
                      "properties": properties});
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(&body).unwrap(),
    )
    .unwrap();
}

/// A factory shaped like the "Copy data from Azure Blob storage" tutorial's, as ADF's git
/// integration writes it (annotations, integration runtime, policy and copy defaults written
/// out), with an Azure Database for PostgreSQL sink instead of Azure SQL.
fn adf_export() -> TestFactory {
    let f = TestFactory::new();
    let ir = json!({"referenceName": "AutoResolveIntegrationRuntime", "type": "IntegrationRuntimeReference"});
    git(
        &f,
        "linkedService",
        "AzureStorageLinkedService",
        json!({
            "annotations": [],
            "type": "AzureBlobStorage",
            "typeProperties": {"connectionString": format!(
                "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net")},
            "connectVia": ir,
            "description": "tutorial storage"
        }),
    );
    git(
        &f,
        "linkedService",
        "AzurePostgreSqlLinkedService",
        json!({
            "annotations": [],
            "type": "AzurePostgreSql",
            "typeProperties": {"connectionString": {"type": "SecureString", "value": local_connection_string()}},
            "connectVia": {"referenceName": "SelfHostedRuntime", "type": "IntegrationRuntimeReference"}
        }),
    );
    git(
        &f,
        "dataset",
        "SourceBlobDataset",
        json!({
            "linkedServiceName": {"referenceName": "AzureStorageLinkedService", "type": "LinkedServiceReference"},
            "annotations": [],
            "folder": {"name": "tutorial"},
            "type": "DelimitedText",
            "typeProperties": {
                "location": {"type": "AzureBlobStorageLocation", "fileName": "emp.txt",
                             "folderPath": "input", "container": "adftutorial"},
                "columnDelimiter": ",", "escapeChar": "\\", "firstRowAsHeader": true, "quoteChar": "\""
            },
            "schema": [{"name": "FirstName", "type": "String"}, {"name": "LastName", "type": "String"}]
        }),
    );
    git(
        &f,
        "dataset",
        "OutputPgDataset",
        json!({
            "linkedServiceName": {"referenceName": "AzurePostgreSqlLinkedService", "type": "LinkedServiceReference"},
            "annotations": [],
            "type": "AzurePostgreSqlTable",
            "schema": [],
            "typeProperties": {"schema": "public", "table": "emp"}
        }),
    );
    git(
        &f,
        "pipeline",
        "CopyPipeline",
        json!({
            "activities": [{
                "name": "CopyFromBlobToPg",
                "type": "Copy",
                "dependsOn": [],
                "policy": {"timeout": "0.12:00:00", "retry": 0, "retryIntervalInSeconds": 30,
                           "secureOutput": false, "secureInput": false},
                "userProperties": [],
                "typeProperties": {
                    "source": {"type": "DelimitedTextSource",
                               "storeSettings": {"type": "AzureBlobStorageReadSettings", "recursive": true,
                                                 "enablePartitionDiscovery": false},
                               "formatSettings": {"type": "DelimitedTextReadSettings"}},
                    "sink": {"type": "AzurePostgreSqlSink", "writeBatchSize": 1000000},
                    "enableStaging": false,
                    "dataIntegrationUnits": 4,
                    "validateDataConsistency": false,
                    "logSettings": {"enableCopyActivityLog": false}
                },
                "inputs": [{"referenceName": "SourceBlobDataset", "type": "DatasetReference"}],
                "outputs": [{"referenceName": "OutputPgDataset", "type": "DatasetReference"}]
            }],
            "annotations": [],
            "folder": {"name": "tutorial"},
            "concurrency": 1,
            "lastPublishTime": "2024-03-01T10:00:00Z"
        }),
    );
    f
}

#[test]
fn an_adf_git_export_validates_without_warnings() {
    let f = adf_export();
    // The settings files ADF's git integration keeps at the root hold no definitions.
    std::fs::write(
        f.path().join("publish_config.json"),
        r#"{"publishBranch": "factory/adf_publish"}"#,
    )
    .unwrap();
    std::fs::write(
        f.path().join("arm-template-parameters-definition.json"),
        r#"{"Microsoft.DataFactory/factories/pipelines": {}}"#,
    )
    .unwrap();
    let run = validate(&f);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.stderr, "", "no warnings for what changes nothing");
    assert!(
        run.stdout
            .ends_with("valid (2 linked services, 2 datasets, 1 pipeline)\n"),
        "{}",
        run.stdout
    );
}

/// The export's pipeline with `edit` applied to the Copy activity's `typeProperties`.
fn with_copy_properties(f: &TestFactory, edit: impl FnOnce(&mut Value)) {
    let p = f.path().join("pipeline/CopyPipeline.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    edit(&mut v["properties"]["activities"][0]["typeProperties"]);
    std::fs::write(&p, v.to_string()).unwrap();
}

#[test]
fn unimplemented_properties_and_typos_are_told_apart() {
    let f = adf_export();
    with_copy_properties(&f, |tp| {
        tp["enableStaging"] = json!(true);
        tp["stagingSettings"] =
            json!({"linkedServiceName": {"referenceName": "AzureStorageLinkedService"}});
        tp["parallelCopie"] = json!(4);
    });
    let run = validate(&f);
    assert_eq!(run.code, 0, "{}", run.all());
    let at = "pipeline 'CopyPipeline' activity 'CopyFromBlobToPg' typeProperties";
    assert_eq!(
        lines(&run, "warning: "),
        vec![
            format!("warning: {at}: property 'enableStaging' is not implemented by Sluice; ignored"),
            format!("warning: {at}: property 'stagingSettings' is not implemented by Sluice; ignored"),
            format!("warning: {at}: unknown property 'parallelCopie' (did you mean 'parallelCopies'?); ignored"),
        ],
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn one_warning_shared_by_many_activities_is_printed_once() {
    let db = TestDb::new("msg_once").await;
    db.exec("CREATE TABLE {s}.src AS SELECT g AS id FROM generate_series(1, 3) g")
        .await;
    db.exec("CREATE TABLE {s}.dst (id int)").await;
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Dst", "Pg", &db.schema, "dst");
    // Every copy sets `sourceRetryCount`, a source property Sluice does not implement.
    let copy = |name: &str| {
        json!({"name": name, "type": "Copy",
               "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
               "outputs": [{"referenceName": "Dst", "type": "DatasetReference"}],
               "typeProperties": {"source": {"type": "AzurePostgreSqlSource", "sourceRetryCount": 2},
                                  "sink": {"type": "AzurePostgreSqlSink"}}})
    };
    // A ForEach running CopyA three times, beside CopyB and CopyC.
    f.put(
        "pipeline",
        "P",
        json!({"activities": [
            copy("CopyB"),
            copy("CopyC"),
            {"name": "Each", "type": "ForEach",
             "typeProperties": {"items": {"value": "@createArray(1,2,3)", "type": "Expression"},
                                "isSequential": true,
                                "activities": [copy("CopyA")]}}
        ]}),
    );
    // CopyA runs inside the ForEach `Each`: it is named by its path.
    let expected = "property 'sourceRetryCount' is not implemented by Sluice; ignored (in 3 \
        objects: pipeline 'P' activity 'CopyB' typeProperties.source; pipeline 'P' activity \
        'CopyC' typeProperties.source; pipeline 'P' activity 'Each/CopyA' typeProperties.source)";

    let run = validate(&f);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        lines(&run, "warning: "),
        vec![format!("warning: {expected}")],
        "{}",
        run.stderr
    );

    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(db.count("dst").await, 15);
    assert_eq!(run.json()["warnings"], json!([expected]), "{}", run.stdout);
}

/// A PostgreSQL linked service as ADF publishes it: the password only in `encryptedCredential`.
fn published_pg(f: &TestFactory, password: Option<Value>) {
    let mut tp = json!({
        "server": "127.0.0.1", "port": 5432, "database": "test", "username": "postgres",
        "sslMode": 0,
        "encryptedCredential": "ew0KICAiVmVyc2lvbiI6ICIyMDE3LTExLTMwIiwNCiAgIlByb3RlY3Rpb25Nb2RlIjogIktleSIsDQp9"
    });
    if let Some(pw) = password {
        tp["password"] = pw;
    }
    git(
        f,
        "linkedService",
        "Pg",
        json!({
            "annotations": [], "type": "AzurePostgreSql", "version": "2.0", "typeProperties": tp,
            "connectVia": {"referenceName": "AutoResolveIntegrationRuntime", "type": "IntegrationRuntimeReference"}
        }),
    );
}

#[tokio::test]
async fn encrypted_credential_alone_is_one_error_naming_the_fix() {
    let db = TestDb::new("msg_enc").await;
    db.exec("CREATE TABLE {s}.src AS SELECT g AS id FROM generate_series(1, 4) g")
        .await;
    db.exec("CREATE TABLE {s}.dst (id int)").await;
    let f = TestFactory::new();
    published_pg(&f, None);
    f.table("Src", "Pg", &db.schema, "src")
        .table("Dst", "Pg", &db.schema, "dst")
        .copy_pipeline(
            "P",
            "Src",
            "Dst",
            json!({"type": "AzurePostgreSqlSource"}),
            json!({"type": "AzurePostgreSqlSink"}),
        );
    let run = validate(&f);
    assert_eq!(run.code, 1, "{}", run.all());
    let errors = lines(&run, "error: ");
    assert_eq!(
        errors.len(),
        1,
        "once, though two datasets use it: {}",
        run.stderr
    );
    let ls_file = f.path().join("linkedService/Pg.json");
    assert_eq!(
        errors[0],
        format!(
            "error: linked service 'Pg' ({}).typeProperties: property 'encryptedCredential': no \
             password is given besides it: encryptedCredential was encrypted by ADF with a key only \
             Azure holds and cannot be decrypted outside Azure; run with --connection \
             Pg=postgres://user:password@host:port/database, or give `password` as a SecureString \
             or an Azure Key Vault reference",
            ls_file.display()
        )
    );
    assert!(
        run.stderr.ends_with("1 problem found\n"),
        "{:?}",
        run.stderr
    );

    // The fix it names works, in validate and in run.
    let connection = format!("Pg={}", pg_url());
    let run = sluice(&[
        "validate",
        f.path().to_str().unwrap(),
        "--connection",
        &connection,
    ]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.stderr, "", "replaced, the linked service is not read");
    let run = run_factory(&f, &["--connection", &connection]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(db.count("dst").await, 4);
}

#[test]
fn encrypted_credential_beside_a_password_is_one_notice() {
    let f = TestFactory::new();
    published_pg(
        &f,
        Some(json!({"type": "SecureString", "value": "not-used-here-1"})),
    );
    f.table("Src", "Pg", "public", "a")
        .table("Dst", "Pg", "public", "b")
        .copy_pipeline(
            "P",
            "Src",
            "Dst",
            json!({"type": "AzurePostgreSqlSource"}),
            json!({"type": "AzurePostgreSqlSink"}),
        );
    let run = validate(&f);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        lines(&run, "warning: "),
        vec![format!(
            "warning: linked service 'Pg' ({}): encryptedCredential cannot be decrypted outside \
             Azure and is not used; Sluice uses the credentials written in the definition",
            f.path().join("linkedService/Pg.json").display()
        )],
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("not-used-here-1"));
}

#[test]
fn validate_reports_every_unsupported_activity() {
    let f = adf_export();
    let p = f.path().join("pipeline/CopyPipeline.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let acts = v["properties"]["activities"].as_array_mut().unwrap();
    acts.push(json!({"name": "Notebook", "type": "DatabricksNotebook", "typeProperties": {}}));
    acts.push(
        json!({"name": "Each", "type": "ForEach", "typeProperties": {
        "items": {"value": "@createArray(1)", "type": "Expression"},
        "activities": [{"name": "Hive", "type": "HDInsightHive", "typeProperties": {}}]}}),
    );
    acts.push(json!({"name": "Proc", "type": "SqlServerStoredProcedure", "typeProperties": {}}));
    std::fs::write(&p, v.to_string()).unwrap();
    let run = validate(&f);
    assert_eq!(run.code, 1, "{}", run.all());
    let errors = lines(&run, "error: ");
    let expected = [
        ("Notebook", "DatabricksNotebook"),
        // Nested in the ForEach `Each`: named by its path.
        ("Each/Hive", "HDInsightHive"),
        ("Proc", "SqlServerStoredProcedure"),
    ];
    assert_eq!(errors.len(), expected.len(), "{}", run.stderr);
    for ((name, ty), line) in expected.iter().zip(&errors) {
        let head = format!(
            "error: pipeline 'CopyPipeline' activity '{name}': property 'type': activity type \"{ty}\" is not supported yet"
        );
        assert!(line.starts_with(&head), "{line}");
    }
    assert!(
        run.stderr.ends_with("3 problems found\n"),
        "{:?}",
        run.stderr
    );

    // `run` refuses the pipeline with the same three errors, one per line.
    let run = sluice(&["run", f.path().to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.all());
    let errors = lines(&run, "error: ");
    assert_eq!(errors.len(), expected.len(), "{}", run.stderr);
    for ((name, _), line) in expected.iter().zip(&errors) {
        assert!(line.contains(&format!("activity '{name}'")), "{line}");
    }
}

#[test]
fn a_key_vault_reference_where_no_secret_can_go_names_the_properties_that_can() {
    let f = TestFactory::new();
    git(
        &f,
        "linkedService",
        "Vault",
        json!({"type": "AzureKeyVault",
        "typeProperties": {"baseUrl": "https://example.vault.azure.net/"}}),
    );
    git(
        &f,
        "linkedService",
        "Pg",
        json!({"type": "AzurePostgreSql", "version": "2.0", "typeProperties": {
        "server": {"type": "AzureKeyVaultSecret",
                   "store": {"referenceName": "Vault", "type": "LinkedServiceReference"},
                   "secretName": "pg-server"},
        "database": "test", "username": "postgres"}}),
    );
    let run = validate(&f);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        lines(&run, "error: "),
        vec![format!(
            "error: linked service 'Pg' ({}).typeProperties: property 'server': this property \
             cannot be an Azure Key Vault reference (expected a string); properties that can: \
             connectionString, password",
            f.path().join("linkedService/Pg.json").display()
        )],
        "{}",
        run.stderr
    );
}

#[test]
fn a_blob_account_key_only_in_encrypted_credential_names_the_fix() {
    let f = TestFactory::new();
    // As ADF publishes an account-key linked service: the key itself is encrypted.
    git(
        &f,
        "linkedService",
        "Blob",
        json!({"annotations": [], "type": "AzureBlobStorage",
        "typeProperties": {
            "connectionString": "DefaultEndpointsProtocol=https;AccountName=acct;EndpointSuffix=core.windows.net;",
            "encryptedCredential": "ew0KICAiVmVyc2lvbiI6ICIyMDE3LTExLTMwIiwNCn0="}}),
    );
    let run = validate(&f);
    assert_eq!(run.code, 1, "{}", run.all());
    let errors = lines(&run, "error: ");
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].starts_with(&format!(
            "error: linked service 'Blob' ({}).typeProperties: property 'connectionString': has neither AccountKey",
            f.path().join("linkedService/Blob.json").display()
        )),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].ends_with(
            "(encryptedCredential was encrypted by ADF with a key only Azure holds and cannot be \
             decrypted outside Azure; give `connectionString` (with its AccountKey) or `sasUri` as \
             a SecureString or an Azure Key Vault reference)"
        ),
        "{}",
        errors[0]
    );
}
