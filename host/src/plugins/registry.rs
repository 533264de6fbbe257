//! Finding plugin files: an ordered list of directories, scanned on every lookup so a plugin
//! dropped into a folder is seen without a restart.
//!
//! A directory holds plugins as either
//! - `name@version.wasm` (e.g. `mask-pii@1.0.0.wasm`), or
//! - a manifest `name.plugin.json`: `{"name": "mask-pii", "version": "1.2.0", "file":
//!   "mask_pii.wasm", "sha256": "<optional hex>"}` with `file` relative to the manifest.
//!
//! The same `name@version` in two directories resolves to the first directory's copy, so a
//! `--plugins DIR` given on the command line overrides the factory's own `plugins/` folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semver::Version;

use super::PluginError;
use crate::model::plugin_ref::{parse_sha256, validate_name};
pub use crate::model::plugin_ref::{PluginRef, VersionSpec};

/// One plugin file the registry can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEntry {
    pub name: String,
    pub version: Version,
    /// The `.wasm` file.
    pub path: PathBuf,
    /// The manifest's sha256 pin, when it came from one.
    pub sha256: Option<String>,
    /// The manifest file, when there is one.
    pub manifest: Option<PathBuf>,
}

impl PluginEntry {
    /// `name@version`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    name: String,
    version: String,
    file: PathBuf,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
}

/// Ordered plugin directories. Cheap to clone; every lookup rescans (a directory listing), so
/// files added or replaced while the process runs are picked up.
#[derive(Debug, Clone, Default)]
pub struct PluginRegistry {
    dirs: Vec<PathBuf>,
}

impl PluginRegistry {
    /// Directories in search order, e.g. `[--plugins DIR, <factory>/plugins]`. Missing
    /// directories are allowed (and simply hold nothing).
    pub fn new<I, P>(dirs: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        PluginRegistry {
            dirs: dirs.into_iter().map(Into::into).collect(),
        }
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Every plugin visible, sorted by name then version (descending). Unreadable entries and
    /// malformed manifests are skipped with a warning: one bad file must not hide the others.
    pub fn available(&self) -> Vec<PluginEntry> {
        let mut seen: BTreeMap<(String, Version), PluginEntry> = BTreeMap::new();
        for dir in &self.dirs {
            let Ok(read) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for path in files {
                let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                let entry = if let Some(stem) = file_name.strip_suffix(".plugin.json") {
                    match read_manifest(&path) {
                        Ok(e) => {
                            if e.name != stem {
                                tracing::warn!(
                                    "plugin manifest {} names plugin `{}`; using the manifest's name",
                                    path.display(),
                                    e.name
                                );
                            }
                            Some(e)
                        }
                        Err(m) => {
                            tracing::warn!("skipping plugin manifest {}: {m}", path.display());
                            None
                        }
                    }
                } else if let Some(stem) = file_name.strip_suffix(".wasm") {
                    stem.split_once('@').and_then(|(name, v)| {
                        let version = Version::parse(v).ok()?;
                        validate_name(name).ok()?;
                        Some(PluginEntry {
                            name: name.to_string(),
                            version,
                            path: path.clone(),
                            sha256: None,
                            manifest: None,
                        })
                    })
                } else {
                    None
                };
                if let Some(e) = entry {
                    seen.entry((e.name.clone(), e.version.clone())).or_insert(e);
                }
            }
        }
        let mut out: Vec<PluginEntry> = seen.into_values().collect();
        out.sort_by(|a, b| a.name.cmp(&b.name).then(b.version.cmp(&a.version)));
        out
    }

    /// The entry a reference selects: the highest matching version (a stable version wins over
    /// a higher pre-release unless the reference names the pre-release exactly).
    pub fn resolve(&self, r: &PluginRef) -> Result<PluginEntry, PluginError> {
        let all = self.available();
        let candidates = all
            .iter()
            .filter(|e| e.name == r.name && matches(r, &e.version));
        let best = candidates
            .max_by(|a, b| {
                let stable = |e: &PluginEntry| e.version.pre.is_empty();
                stable(a)
                    .cmp(&stable(b))
                    .then_with(|| a.version.cmp(&b.version))
            })
            .cloned();
        best.ok_or_else(|| PluginError::NotFound {
            reference: r.to_string(),
            searched: self.dirs.clone(),
            available: all.iter().map(PluginEntry::id).collect(),
        })
    }
}

fn read_manifest(path: &Path) -> Result<PluginEntry, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    validate_name(&m.name)?;
    let version = Version::parse(&m.version)
        .map_err(|e| format!("version `{}` is not a semantic version: {e}", m.version))?;
    let sha256 = m.sha256.as_deref().map(parse_sha256).transpose()?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(PluginEntry {
        name: m.name,
        version,
        path: base.join(m.file),
        sha256,
        manifest: Some(path.to_path_buf()),
    })
}

/// Whether `r` accepts version `v`.
fn matches(r: &PluginRef, v: &Version) -> bool {
    match &r.version {
        VersionSpec::Latest => true,
        VersionSpec::Exact(e) => e == v,
        VersionSpec::Req(req) => req.matches(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = PluginRef::parse("mask-pii").unwrap();
        assert_eq!(r, PluginRef::latest("mask-pii"));
        let r = PluginRef::parse("orders-to-v2@1.2.0").unwrap();
        assert_eq!(r.version, VersionSpec::Exact(Version::new(1, 2, 0)));
        let r = PluginRef::parse("x@^1.2").unwrap();
        assert!(matches!(r.version, VersionSpec::Req(_)));
        let h = "AB".repeat(32);
        let r = PluginRef::parse(&format!("mask-pii@1.0.0#sha256={h}")).unwrap();
        assert_eq!(r.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(
            r.to_string(),
            format!("mask-pii@1.0.0#sha256={}", "ab".repeat(32))
        );
        assert_eq!(PluginRef::parse(&r.to_string()).unwrap(), r);
    }

    #[test]
    fn reference_errors_say_what_is_wrong() {
        for (s, want) in [
            ("", "empty"),
            ("@1.0.0", "empty"),
            ("a b", "contains ` `"),
            ("x@one", "neither a semantic version"),
            ("x#md5=00", "#sha256="),
            ("x#sha256=abc", "64 hex digits"),
        ] {
            let e = PluginRef::parse(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s:?}: {e}");
        }
    }

    #[test]
    fn resolves_versions_across_directories() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for (dir, f) in [
            (a.path(), "p@1.0.0.wasm"),
            (a.path(), "p@1.10.0.wasm"),
            (b.path(), "p@1.2.0.wasm"),
            (b.path(), "p@2.0.0-rc.1.wasm"),
            (b.path(), "p@1.0.0.wasm"),
            (b.path(), "notes.txt"),
            (b.path(), "noversion.wasm"),
        ] {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        std::fs::write(
            b.path().join("q.plugin.json"),
            r#"{"name": "q", "version": "0.3.0", "file": "q_impl.wasm"}"#,
        )
        .unwrap();
        std::fs::write(b.path().join("broken.plugin.json"), "{").unwrap();
        let reg = PluginRegistry::new([a.path(), b.path(), Path::new("/nonexistent/dir")]);

        let e = reg.resolve(&PluginRef::parse("p").unwrap()).unwrap();
        assert_eq!(e.version, Version::new(1, 10, 0));
        let e = reg.resolve(&PluginRef::parse("p@1.0.0").unwrap()).unwrap();
        assert_eq!(
            e.path,
            a.path().join("p@1.0.0.wasm"),
            "first directory wins"
        );
        let e = reg.resolve(&PluginRef::parse("p@~1.2").unwrap()).unwrap();
        assert_eq!(e.version, Version::new(1, 2, 0));
        let e = reg
            .resolve(&PluginRef::parse("p@2.0.0-rc.1").unwrap())
            .unwrap();
        assert_eq!(e.version.pre.as_str(), "rc.1");
        let e = reg.resolve(&PluginRef::parse("q").unwrap()).unwrap();
        assert_eq!(e.path, b.path().join("q_impl.wasm"));
        assert!(e.manifest.is_some());

        let err = reg.resolve(&PluginRef::parse("nope").unwrap()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PluginError::NotFound { .. }));
        assert!(msg.contains("p@1.10.0") && msg.contains("q@0.3.0"), "{msg}");
        let err = reg
            .resolve(&PluginRef::parse("p@3.0.0").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("p@3.0.0 not found"), "{err}");
    }
}
