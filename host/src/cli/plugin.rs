//! `sluice plugin ...` and the plugin options of `sluice run`: where plugins are found, the
//! tenant's limits, the compiled-code cache.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Subcommand;

use super::OutputFormat;
use crate::copy::transform::PluginHost;
use crate::plugins::{CompileLimits, Members, PluginRegistry, RuntimeConfig, Tenant, TenantLimits};

/// Where plugins are looked for: shared by `run`, `validate` (which checks that every plugin a
/// factory uses is there) and `plugin list`.
#[derive(clap::Args, Debug, Clone)]
pub struct PluginDirArgs {
    /// Directory of plugins (`name@version.wasm` or `name.plugin.json`); repeatable, searched
    /// before the factory's own `plugins/` folder.
    #[arg(
        long = "plugins",
        value_name = "DIR",
        env = "SLUICE_PLUGINS",
        value_delimiter = ':'
    )]
    pub plugin_dirs: Vec<PathBuf>,
}

impl PluginDirArgs {
    /// The directories searched, in order: the options' then `<factory>/plugins`.
    pub fn dirs(&self, factory_root: Option<&Path>) -> Vec<PathBuf> {
        let mut dirs = self.plugin_dirs.clone();
        if let Some(root) = factory_root {
            dirs.push(root.join("plugins"));
        }
        dirs
    }
}

/// Plugin options shared by `run` and `plugin list`. Each also reads an environment variable,
/// so a long-lived deployment sets its limits once.
#[derive(clap::Args, Debug, Clone)]
pub struct PluginArgs {
    #[command(flatten)]
    pub folders: PluginDirArgs,
    /// Tenant the plugins run for (names it in errors and logs).
    #[arg(long, env = "SLUICE_TENANT", default_value = "default")]
    pub tenant: String,
    /// Memory cap of one plugin instance, in MiB.
    #[arg(long, env = "SLUICE_PLUGIN_MEMORY_MB", default_value_t = 256)]
    pub plugin_memory_mb: u64,
    /// Time cap of one plugin call, in seconds.
    #[arg(long, env = "SLUICE_PLUGIN_TIMEOUT", default_value_t = 5.0)]
    pub plugin_timeout: f64,
    /// Cap on the data crossing the plugin boundary in one call, each way, in MiB.
    #[arg(long, env = "SLUICE_PLUGIN_MAX_CALL_MB", default_value_t = 64)]
    pub plugin_max_call_mb: u64,
    /// Memory budget of all the tenant's live plugin instances together, in MiB.
    #[arg(long, env = "SLUICE_PLUGIN_TENANT_MEMORY_MB", default_value_t = 2048)]
    pub plugin_tenant_memory_mb: u64,
    /// Memory budget of all live plugin instances of the process, in MiB.
    #[arg(long, env = "SLUICE_PLUGIN_PROCESS_MEMORY_MB", default_value_t = 4096)]
    pub plugin_process_memory_mb: u64,
    /// Time a plugin may take to compile, in seconds.
    #[arg(long, env = "SLUICE_PLUGIN_COMPILE_TIMEOUT", default_value_t = 60.0)]
    pub plugin_compile_timeout: f64,
    /// Largest plugin file accepted for compiling, in MiB.
    #[arg(long, env = "SLUICE_PLUGIN_MAX_WASM_MB", default_value_t = 32)]
    pub plugin_max_wasm_mb: u64,
    /// Largest function in a plugin accepted for compiling, in KiB (compile time and memory
    /// grow with it).
    #[arg(long, env = "SLUICE_PLUGIN_MAX_FUNCTION_KB", default_value_t = 1024)]
    pub plugin_max_function_kb: u64,
    /// Directory of compiled plugin code (default: $XDG_CACHE_HOME/sluice/plugins). Refused
    /// (plugins are then compiled on every run, with a warning) unless it belongs to the user
    /// and no other user can write to it.
    #[arg(long, env = "SLUICE_PLUGIN_CACHE", value_name = "DIR")]
    pub plugin_cache: Option<PathBuf>,
    /// Compile plugins on every run instead of caching compiled code on disk.
    #[arg(long)]
    pub no_plugin_cache: bool,
}

impl PluginArgs {
    /// The tenant these options describe, with its limits checked.
    pub fn tenant(&self) -> Result<Tenant> {
        let call_timeout = seconds("--plugin-timeout", self.plugin_timeout)?;
        let compile_timeout = seconds("--plugin-compile-timeout", self.plugin_compile_timeout)?;
        for (flag, value) in [
            ("--plugin-memory-mb", self.plugin_memory_mb),
            ("--plugin-max-call-mb", self.plugin_max_call_mb),
            ("--plugin-tenant-memory-mb", self.plugin_tenant_memory_mb),
            ("--plugin-max-wasm-mb", self.plugin_max_wasm_mb),
            ("--plugin-max-function-kb", self.plugin_max_function_kb),
        ] {
            if value == 0 {
                bail!("{flag}: must be at least 1");
            }
        }
        let limits = TenantLimits {
            memory_bytes: self.plugin_memory_mb.saturating_mul(1 << 20),
            memory_budget_bytes: self.plugin_tenant_memory_mb.saturating_mul(1 << 20),
            call_timeout,
            max_boundary_bytes: self.plugin_max_call_mb.saturating_mul(1 << 20),
            compile: CompileLimits {
                max_wasm_bytes: self.plugin_max_wasm_mb.saturating_mul(1 << 20),
                max_function_bytes: self.plugin_max_function_kb.saturating_mul(1 << 10),
                timeout: compile_timeout,
            },
            ..TenantLimits::default()
        };
        Ok(Tenant::with_limits(self.tenant.clone(), limits))
    }

    /// The directories searched, in order: the options' then `<factory>/plugins`.
    pub fn dirs(&self, factory_root: Option<&Path>) -> Vec<PathBuf> {
        self.folders.dirs(factory_root)
    }

    /// A plugin host for one run of the factory at `factory_root`.
    pub fn host(&self, factory_root: Option<&Path>) -> Result<PluginHost> {
        if self.plugin_process_memory_mb == 0 {
            bail!("--plugin-process-memory-mb: must be at least 1");
        }
        let config = RuntimeConfig {
            cache_dir: self.plugin_cache.clone(),
            disk_cache: !self.no_plugin_cache,
            memory_budget_bytes: self.plugin_process_memory_mb.saturating_mul(1 << 20),
            ..RuntimeConfig::default()
        };
        Ok(PluginHost::new(
            self.dirs(factory_root),
            self.tenant()?,
            config,
        ))
    }
}

/// A duration flag in seconds: above 0 and at most a day (far beyond any useful time for one
/// call or compile, and it keeps every deadline derived from it, epoch ticks and tokio timers,
/// well inside their ranges).
fn seconds(flag: &str, value: f64) -> Result<Duration> {
    const MAX_SECS: f64 = 86_400.0;
    if !(value.is_finite() && value > 0.0 && value <= MAX_SECS) {
        bail!("{flag}: must be a number of seconds above 0 and at most {MAX_SECS}, found {value}");
    }
    Ok(Duration::from_secs_f64(value))
}

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Print a plugin component's world, name, version, imports and exports.
    Inspect {
        /// A `.wasm` component.
        file: PathBuf,
        /// How to print the description: text lines, or one JSON object (camelCase keys).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Build a plugin crate (or the default members of a workspace of them) for wasm32-wasip2
    /// and install each component as `name@version.wasm`.
    Build {
        /// The crate's directory (holding Cargo.toml).
        dir: PathBuf,
        /// Where to put the components (a factory's `plugins/` folder, say).
        #[arg(long, default_value = "plugins")]
        out: PathBuf,
        /// Build every member of the workspace, not only its default members (in
        /// `guest-plugins/` that adds the hostile plugins the sandbox tests use).
        #[arg(long)]
        workspace: bool,
    },
    /// Create a new plugin crate from a template: a row transform ready to build, with the
    /// plugin SDK, the WIT interface and a pinned Cargo.lock inside it.
    New {
        /// The plugin's name (lower-case letters, digits and dashes).
        name: String,
        /// Directory to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// List the plugins visible in the given directories.
    List {
        /// A factory folder whose `plugins/` folder is searched too.
        #[arg(long)]
        factory: Option<PathBuf>,
        /// How to print the list: `id<TAB>path` lines, or a JSON array (camelCase keys).
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        #[command(flatten)]
        plugins: PluginArgs,
    },
}

pub fn dispatch(command: PluginCommand) -> Result<ExitCode> {
    match command {
        PluginCommand::Inspect { file, output } => {
            let d = crate::plugins::inspect(&file)?;
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&d)?),
                OutputFormat::Text => {
                    println!("file:        {}", d.path.display());
                    println!("sha256:      {}", d.sha256);
                    println!("plugin:      {}@{}", d.name, d.version);
                    println!("description: {}", d.description);
                    println!("world:       {}", d.world);
                    println!("exports:     {}", d.exports.join(", "));
                    println!("imports:     {}", d.imports.join(", "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Build {
            dir,
            out,
            workspace,
        } => {
            let members = if workspace {
                Members::All
            } else {
                Members::Default
            };
            for file in crate::plugins::build_plugins(&dir, &out, members)? {
                println!("{}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::New { name, dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            super::plugin_template::scaffold(&name, &dir)?;
            println!(
                "created {}; build it with: sluice plugin build {} --out <factory>/plugins",
                dir.display(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::List {
            factory,
            output,
            plugins,
        } => list(factory.as_deref(), output, &plugins),
    }
}

/// `sluice plugin list`: the plugins found, and where it looked when it found none.
fn list(factory: Option<&Path>, output: OutputFormat, plugins: &PluginArgs) -> Result<ExitCode> {
    let dirs = plugins.dirs(factory);
    if dirs.is_empty() {
        bail!(
            "no plugin folders to look in: pass --plugins DIR (or set SLUICE_PLUGINS=DIR1:DIR2), \
             or --factory PATH to look in PATH/plugins"
        );
    }
    let registry = PluginRegistry::new(dirs);
    let all = registry.available();
    if all.is_empty() {
        let looked: Vec<String> = registry
            .dirs()
            .iter()
            .map(|d| {
                if d.is_dir() {
                    d.display().to_string()
                } else {
                    format!("{} (no such folder)", d.display())
                }
            })
            .collect();
        eprintln!("no plugins found; looked in: {}", looked.join(", "));
    }
    match output {
        OutputFormat::Json => {
            let entries: Vec<serde_json::Value> = all
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "id": e.id(),
                        "name": e.name,
                        "version": e.version.to_string(),
                        "path": e.path,
                        "sha256": e.sha256,
                        "manifest": e.manifest,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&entries)?);
        }
        OutputFormat::Text => {
            for e in all {
                println!("{}\t{}", e.id(), e.path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
