//! Runs a Script activity: each block in order on one session, one transaction per block (as
//! separate batches in ADF), with ADF's output shape. A block of several statements runs them
//! one by one inside one transaction (see [`crate::model::script`]), each with the extended
//! protocol so result columns keep their types (numbers stay numbers in `rows`).

use bytes::BytesMut;
use postgres_types::{Format, FromSql, IsNull, ToSql, Type};
use serde_json::{json, Value as Json};

use crate::model::lookup::MAX_ROWS;
use crate::model::script::{ScriptKind, ScriptPlan};
use crate::pipeline::lookup::{json_row, OutputBudget};
use crate::stores::postgres::binary::decode;
use crate::stores::postgres::connect::connect;
use crate::stores::postgres::errors::kind_of;
use crate::stores::postgres::session::Unanswered;
use crate::stores::StoreError;
use crate::types::value::Value;

/// A parameter sent in text form: PostgreSQL parses it with the input function of whatever
/// type the placeholder has, exactly as if it were a quoted literal, but without splicing.
#[derive(Debug)]
struct TextParam<'a>(Option<&'a str>);

impl ToSql for TextParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    postgres_types::to_sql_checked!();
}

/// The error for a statement the server did not answer within the block timeout.
fn unanswered(at: &str) -> impl FnOnce(Unanswered) -> StoreError + '_ {
    move |u| u.error(at, "scriptBlockExecutionTimeout")
}

/// Any column, decoded by the engine's binary codec.
struct AnyValue(Value);

impl<'a> FromSql<'a> for AnyValue {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(AnyValue(decode(ty, raw)?))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(AnyValue(Value::Null))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// Runs every script block and returns ADF's Script output. `scriptBlockExecutionTimeout`
/// bounds each block on the server (`statement_timeout`) and on the client, so a server that
/// stops answering ends the block at that limit too.
pub async fn run_script(plan: &ScriptPlan) -> Result<Json, StoreError> {
    let client = connect(&plan.endpoint, "sluice script").await?;
    let bound = Some(plan.timeout);
    let timeout_ms = plan.timeout.as_millis().min(i32::MAX as u128).to_string();
    let set = async {
        client
            .execute(
                "SELECT set_config('statement_timeout', $1, false)",
                &[&timeout_ms],
            )
            .await
    };
    client
        .bounded(bound, set)
        .await
        .map_err(unanswered("setting the script timeout"))?
        .map_err(|e| {
            StoreError::with_kind(kind_of(&e), format!("cannot set the script timeout: {e}"))
        })?;
    let mut out = Outcome::default();
    for (i, block) in plan.scripts.iter().enumerate() {
        let at = format!("scripts[{i}]");
        let params: Vec<TextParam<'_>> = block
            .parameters
            .iter()
            .map(|p| TextParam(p.as_deref()))
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        if let [one] = block.statements.as_slice() {
            client
                .bounded(
                    bound,
                    run_statement(&client, block.kind, one, &refs, &at, &mut out),
                )
                .await
                .map_err(unanswered(&at))??;
            continue;
        }
        // Several statements: one transaction, as PostgreSQL runs a multi-statement simple
        // query (a failing statement undoes the block's earlier ones), each statement
        // prepared so its result columns keep their types.
        let all = async {
            client
                .batch_execute("BEGIN")
                .await
                .map_err(|e| StoreError::postgres(format_args!("{at}: BEGIN"), &e))?;
            for (j, sql) in block.statements.iter().enumerate() {
                let at = format!("{at} statement {}", j + 1);
                run_statement(&client, block.kind, sql, &[], &at, &mut out).await?;
            }
            client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| StoreError::postgres(format_args!("{at}: COMMIT"), &e))
        };
        let done = client.bounded(bound, all).await.map_err(unanswered(&at))?;
        if let Err(e) = done {
            // The session ends with this error; rolling back first keeps the server's log
            // clear of an aborted connection mid-transaction.
            let _ = client
                .bounded(bound, client.batch_execute("ROLLBACK"))
                .await;
            return Err(e);
        }
    }
    let Outcome {
        result_sets,
        affected,
        ..
    } = out;
    Ok(json!({
        "resultSetCount": result_sets.len(),
        "recordsAffected": affected,
        "resultSets": result_sets,
        "outputParameters": {},
        "outputLogs": "",
        "outputLogsLocation": "",
        "outputTruncated": false
    }))
}

/// What the blocks have produced so far.
#[derive(Default)]
struct Outcome {
    result_sets: Vec<Json>,
    affected: u64,
    budget: OutputBudget,
}

/// Runs one statement with the extended protocol: a NonQuery adds the rows it affected; a
/// Query adds a result set when the statement returns rows (`SELECT`, `... RETURNING`) and the
/// rows it affected otherwise (a `TRUNCATE; INSERT; SELECT` block reports both).
async fn run_statement(
    client: &tokio_postgres::Client,
    kind: ScriptKind,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    at: &str,
    out: &mut Outcome,
) -> Result<(), StoreError> {
    let fail = |e: &dyn std::fmt::Display| StoreError::new(format!("{at}: {e}"));
    let pg = |e: tokio_postgres::Error| StoreError::postgres(format_args!("{at}"), &e);
    let statement = client.prepare(sql).await.map_err(pg)?;
    if kind == ScriptKind::NonQuery || statement.columns().is_empty() {
        out.affected += client.execute(&statement, params).await.map_err(pg)?;
        return Ok(());
    }
    let rows = client.query(&statement, params).await.map_err(pg)?;
    let mut kept = Vec::with_capacity(rows.len().min(MAX_ROWS));
    for row in rows.iter().take(MAX_ROWS) {
        let values = (0..row.len())
            .map(|c| row.try_get(c).map(|AnyValue(v)| v))
            .collect::<Result<Vec<Value>, _>>()
            .map_err(pg)?;
        let names = row.columns().iter().map(|col| col.name());
        let row = json_row(names.zip(&values)).map_err(|e| fail(&e))?;
        if !out.budget.admit(&row) {
            return Err(fail(&"the result sets exceed the 4 MB output limit"));
        }
        kept.push(row);
    }
    out.result_sets
        .push(json!({"rowCount": kept.len(), "rows": kept}));
    Ok(())
}
