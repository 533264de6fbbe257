//! `sluice tenant ...`: the operator's commands for the service's tenants (create, list,
//! rotate a token, delete), straight on the control database. A tenant's token is printed
//! once, by `create` and `token rotate`; only its hash is stored.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;

use super::OutputFormat;
use crate::service::control::{Control, CreatedTenant, NewTenant, TenantInfo};

/// The control database, from `--control-db` or `SLUICE_CONTROL_DB`.
#[derive(clap::Args, Debug, Clone)]
pub struct ControlDbArgs {
    /// The control database: postgres://user[:password]@host[:port]/db[?sslmode=...].
    /// Pending schema migrations are applied first.
    #[arg(
        long = "control-db",
        value_name = "URL",
        env = "SLUICE_CONTROL_DB",
        hide_env_values = true
    )]
    pub control_db: String,
}

impl ControlDbArgs {
    pub async fn connect(&self) -> Result<Control> {
        let at = crate::model::pg_endpoint::PgEndpoint::from_url(&self.control_db)
            .map(|ep| format!(" at {}/{}", ep.host_port(), ep.database))
            .unwrap_or_default();
        Control::connect_with(&self.control_db, 2)
            .await
            .with_context(|| format!("cannot open the control database{at}"))
    }
}

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant: prints its subscription id and bearer token (shown only this once).
    Create(CreateArgs),
    /// List the tenants and their limits.
    List {
        #[command(flatten)]
        db: ControlDbArgs,
        /// How to print the result on stdout.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Manage a tenant's bearer token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Delete a tenant with its factories, plugins and runs.
    Delete {
        /// The tenant's name.
        name: String,
        #[command(flatten)]
        db: ControlDbArgs,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Give the tenant a new token (printed once); the old one stops working at once.
    Rotate {
        /// The tenant's name.
        name: String,
        #[command(flatten)]
        db: ControlDbArgs,
        /// How to print the result on stdout.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The tenant's name: letters, digits, '-', '_' and '.'.
    pub name: String,
    /// Runs of this tenant that may be in progress at once, across all workers; more wait
    /// Queued.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrent_runs: Option<u32>,
    /// Memory cap of one plugin instance of this tenant, in MiB.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub plugin_memory: Option<u32>,
    /// Time cap of one plugin call of this tenant: seconds (`5`, `1.5`) or with a unit
    /// (`500ms`, `5s`, `2m`).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub plugin_call_timeout: Option<Duration>,
    /// API requests per second the tenant may make; past it the API answers 429.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub requests_per_second: Option<u32>,
    #[command(flatten)]
    pub db: ControlDbArgs,
    /// How to print the result on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// A duration as `--plugin-timeout` takes it (a number of seconds, above 0 and at most a
/// day), optionally with a unit: `ms`, `s` or `m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const MAX_SECS: f64 = 86_400.0;
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let secs = number
        .trim()
        .parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_SECS)
        .ok_or_else(|| {
            format!(
                "expected a duration above 0 and at most a day, such as 5, 1.5s, 500ms or 2m; \
                 found {text:?}"
            )
        })?;
    Ok(Duration::from_secs_f64(secs))
}

pub async fn dispatch(command: TenantCommand) -> Result<ExitCode> {
    match command {
        TenantCommand::Create(args) => {
            let control = args.db.connect().await?;
            let created = control
                .create_tenant(NewTenant {
                    name: args.name.clone(),
                    max_concurrent_runs: args.max_concurrent_runs,
                    plugin_memory_mib: args.plugin_memory,
                    plugin_call_timeout: args.plugin_call_timeout,
                    requests_per_second: args.requests_per_second,
                })
                .await
                .with_context(|| format!("cannot create tenant '{}'", args.name))?;
            print_created(&created, args.output, "created");
        }
        TenantCommand::List { db, output } => {
            let tenants = db.connect().await?.list_tenants().await?;
            print_list(&tenants, output)?;
        }
        TenantCommand::Token(TokenCommand::Rotate { name, db, output }) => {
            let created = db
                .connect()
                .await?
                .rotate_token(&name)
                .await
                .with_context(|| format!("cannot rotate the token of tenant '{name}'"))?;
            print_created(&created, output, "has a new token");
        }
        TenantCommand::Delete { name, db } => {
            db.connect()
                .await?
                .delete_tenant(&name)
                .await
                .with_context(|| format!("cannot delete tenant '{name}'"))?;
            println!("tenant '{name}' deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_created(created: &CreatedTenant, output: OutputFormat, what: &str) {
    let t = &created.tenant;
    match output {
        OutputFormat::Json => println!(
            "{}",
            json!({
                "tenant": t.name,
                "subscriptionId": t.subscription_id,
                "token": created.token,
            })
        ),
        OutputFormat::Text => {
            println!("tenant '{}' {what}", t.name);
            println!("subscription id: {}", t.subscription_id);
            println!("token: {}", created.token);
            println!("(the token is shown only now; the service keeps only its hash)");
        }
    }
}

fn tenant_json(t: &TenantInfo) -> serde_json::Value {
    json!({
        "tenant": t.name,
        "subscriptionId": t.subscription_id,
        "maxConcurrentRuns": t.max_concurrent_runs,
        "pluginMemoryMiB": t.plugin_memory_mib,
        "pluginCallTimeoutSeconds": t.plugin_call_timeout.map(|d| d.as_secs_f64()),
        "requestsPerSecond": t.requests_per_second,
        "createdAt": t.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

fn print_list(tenants: &[TenantInfo], output: OutputFormat) -> Result<()> {
    match output {
        OutputFormat::Json => {
            let all: Vec<_> = tenants.iter().map(tenant_json).collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        OutputFormat::Text => {
            println!(
                "{:<24} {:<36} {:>8} {:>10} {:>10} {:>8}",
                "TENANT", "SUBSCRIPTION", "MAX RUNS", "PLUGIN MIB", "CALL SECS", "REQ/S"
            );
            for t in tenants {
                let memory = t
                    .plugin_memory_mib
                    .map_or_else(|| "-".to_string(), |m| m.to_string());
                let timeout = t
                    .plugin_call_timeout
                    .map_or_else(|| "-".to_string(), |d| format!("{}", d.as_secs_f64()));
                println!(
                    "{:<24} {:<36} {:>8} {:>10} {:>10} {:>8}",
                    t.name,
                    t.subscription_id,
                    t.max_concurrent_runs,
                    memory,
                    timeout,
                    t.requests_per_second
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["0", "-1", "abc", "1h", "2d", "inf", "100000"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
