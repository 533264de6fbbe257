//! The control database of the service: tenants, factories and their definitions, plugins,
//! pipeline runs and activity runs, and the run slots that hold each tenant to its
//! `max_concurrent_runs` across all workers. [`Control`] is the one handle on it (a small
//! connection pool, cheap to clone); the API and the workers call its methods, each one
//! statement or one transaction.
//!
//! [`Control::connect`] applies the schema migrations (`host/migrations`, embedded with
//! refinery) and graphile_worker's own, under a PostgreSQL advisory lock so that any number
//! of processes may start at once. All tables live in schema `sluice`; the run queue is
//! graphile_worker's (schema `graphile_worker`), see [`queue`].

pub mod crypto;
pub mod definitions;
mod error;
mod paging;
pub mod plugins;
pub mod query;
pub mod queue;
pub mod resources;
pub mod runs;
pub mod slots;
pub mod stats;
pub mod tenants;
pub mod triggers;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode as PgSslMode;

pub use crypto::{mask_secure_strings, MasterKey};
pub use definitions::DefinitionRow;
pub use error::ControlError;
pub use paging::Page;
pub use plugins::PluginRow;
pub use query::{RunQuery, DEFAULT_QUERY_PAGE};
pub use resources::{FactoryRow, Kind};
pub use runs::{ActivityRunRow, NewRun, RunRow, RunStatus};
pub use slots::{SlotClaim, WorkerRow};
pub use stats::RunCount;
pub use tenants::{CreatedTenant, NewTenant, TenantInfo};
pub use triggers::{TriggerRow, TriggerRunRow};

use crate::model::pg_endpoint::{PgEndpoint, SslMode};

/// `host/migrations/V<n>__<name>.sql`, embedded at build time (V1 the schema, V2 the run
/// group index, V3 triggers and their runs). The macro does not watch the folder: a new file needs this crate rebuilt.
mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Connections the pool keeps at most, unless [`Control::connect_with`] says otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The advisory lock taken around the migrations: "sluice" in ASCII, then 1.
const MIGRATION_LOCK: i64 = 0x736c_7569_6365_0001;

/// refinery's record of the applied migrations (in the connection's default schema).
const MIGRATION_TABLE: &str = "sluice_schema_history";

/// A handle on the control database. Clones share the pool.
#[derive(Clone)]
pub struct Control {
    pool: Pool,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("Control")
            .field("pool_size", &status.size)
            .field("pool_max", &status.max_size)
            .finish()
    }
}

impl Control {
    /// Connects to the control database at `url` (postgres://...; `sslmode` as in a
    /// `--connection` URL) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Control, ControlError> {
        Control::connect_with(url, DEFAULT_POOL_SIZE).await
    }

    /// [`Control::connect`] with a pool of at most `pool_size` connections.
    pub async fn connect_with(url: &str, pool_size: usize) -> Result<Control, ControlError> {
        let pool = build_pool(url, pool_size.max(2))?;
        let control = Control { pool };
        control.migrate().await?;
        Ok(control)
    }

    /// Whether the control database answers (`/readyz`).
    pub async fn ping(&self) -> Result<(), ControlError> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// The connection pool (the worker hands it to graphile_worker).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Applies refinery's migrations and graphile_worker's, holding the advisory lock on a
    /// connection that is closed afterwards (so the lock never outlives this call).
    async fn migrate(&self) -> Result<(), ControlError> {
        let mut lock = self.pool.get().await?;
        lock.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = async {
            let mut runner = embedded::migrations::runner();
            runner.set_migration_table_name(MIGRATION_TABLE);
            runner
                .run_async(&mut **lock)
                .await
                .map_err(|e| ControlError::Migration(e.to_string()))?;
            queue::migrate(&self.pool).await
        }
        .await;
        // Closing the session releases the lock whatever happened above.
        drop(deadpool_postgres::Object::take(lock));
        result
    }
}

/// The pool for `url`: TLS through rustls when its `sslmode` asks for it (the same client
/// configuration as a PostgreSQL linked service), plain otherwise.
fn build_pool(url: &str, max_size: usize) -> Result<Pool, ControlError> {
    let ep = PgEndpoint::from_url(url)
        .map_err(|e| ControlError::Invalid(format!("--control-db: {e}")))?;
    let mut config = tokio_postgres::Config::new();
    config
        .host(&ep.host)
        .port(ep.port)
        .dbname(&ep.database)
        .user(&ep.user)
        .application_name("sluice-control")
        .options("-c TimeZone=UTC")
        .connect_timeout(Duration::from_secs(15));
    if let Some(pw) = &ep.password {
        config.password(pw.expose());
    }
    let tls = crate::stores::postgres::tls::client_config(ep.ssl_mode, ep.root_cert.as_deref())
        .map_err(|e| ControlError::Invalid(format!("--control-db: {e:#}")))?;
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls {
        None => {
            config.ssl_mode(PgSslMode::Disable);
            Manager::from_config(config, tokio_postgres::NoTls, manager_config)
        }
        Some(tls) => {
            config.ssl_mode(match ep.ssl_mode {
                SslMode::Allow | SslMode::Prefer => PgSslMode::Prefer,
                _ => PgSslMode::Require,
            });
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
            Manager::from_config(config, tls, manager_config)
        }
    };
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(20)))
        .build()
        .map_err(|e| ControlError::Invalid(format!("--control-db: {e}")))
}
