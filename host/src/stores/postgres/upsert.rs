//! Upsert's SQL: the conflict keys and the session-private staging table each batch is copied
//! into, and the statement that merges the staging table into the target (the last row of
//! duplicate keys in a batch wins).

use tokio_postgres::Client;

use crate::stores::{StoreError, StoreErrorKind};
use crate::types::ident::{quote_ident, TableName};

/// The staging table's ordering column, so the last of duplicate keys in a batch wins.
const SEQ_COLUMN: &str = "__sluice_seq";

/// Upsert keys (given or the primary key) and a session-private staging table.
pub(super) async fn prepare_upsert(
    client: &Client,
    table: &TableName,
    keys: Option<&[String]>,
    columns: &[&str],
    dataset: &str,
) -> Result<(Vec<String>, String), StoreError> {
    let keys = match keys {
        Some(k) => k.to_vec(),
        None => {
            let rows = client
                .query(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                     WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
                    &[&table.quoted()],
                )
                .await
                .map_err(|e| StoreError::postgres(format_args!("dataset '{dataset}': cannot read the primary key of {table}"), &e))?;
            if rows.is_empty() {
                return Err(StoreError::with_kind(StoreErrorKind::Definition, format!(
                    "dataset '{dataset}': Upsert needs upsertSettings.keys because {table} has no primary key"
                )));
            }
            rows.iter().map(|r| r.get::<_, String>(0)).collect()
        }
    };
    for k in &keys {
        if !columns.contains(&k.as_str()) {
            return Err(StoreError::with_kind(StoreErrorKind::Definition, format!("dataset '{dataset}': upsert key \"{k}\" is not among the columns written to {table}")));
        }
    }
    let staging = format!("sluice_stage_{}", uuid::Uuid::new_v4().simple());
    let sql = format!(
        "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS, {} bigserial) ON COMMIT DELETE ROWS",
        quote_ident(&staging),
        table.quoted(),
        quote_ident(SEQ_COLUMN)
    );
    client.batch_execute(&sql).await.map_err(|e| {
        StoreError::postgres(
            format_args!("dataset '{dataset}': cannot create the upsert staging table"),
            &e,
        )
    })?;
    Ok((keys, staging))
}

/// `INSERT INTO table SELECT DISTINCT ON (keys) ... FROM staging ... ON CONFLICT (keys) DO ...`:
/// `columns` are those written, in order.
pub(super) fn merge_sql(
    table: &TableName,
    staging: &str,
    keys: &[String],
    columns: &[&str],
) -> String {
    let cols = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let key_list = keys
        .iter()
        .map(|k| quote_ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !keys.iter().any(|k| k == *c))
        .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
        .collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_string()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    format!(
        "INSERT INTO {} ({cols}) SELECT DISTINCT ON ({key_list}) {cols} FROM {} ORDER BY {key_list}, {} DESC ON CONFLICT ({key_list}) {action}",
        table.quoted(),
        quote_ident(staging),
        quote_ident(SEQ_COLUMN)
    )
}
