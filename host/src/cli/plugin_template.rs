//! `sluice plugin new`: writes a plugin crate that builds wherever it is put, offline.
//!
//! The crate carries everything it needs instead of pointing back into a Sluice checkout (which
//! may move, or not exist where the binary runs): the plugin SDK and the value model it shares
//! with the engine (`vendor/`), the versioned WIT interface (`wit/`), the toolchain file, and a
//! `Cargo.lock` holding exactly the versions `guest-plugins/Cargo.lock` pins. All of it is
//! embedded in the binary from this repository's own files at compile time, so the template
//! cannot drift from the SDK the example plugins are built with.
//!
//! Layout of a new crate `NAME/`:
//! `Cargo.toml` (the plugin, and a workspace of its own), `Cargo.lock`, `rust-toolchain.toml`,
//! `src/lib.rs`, `vendor/sdk/`, `vendor/value-model/`, `wit/sluice-plugin-0.1.0/plugin.wit`.
//! The SDK finds the WIT at `../../wit` from its manifest, which `vendor/sdk` keeps true.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// A file written into the new crate: its path inside the crate and its contents.
type Embedded = (&'static str, &'static str);

/// The SDK, the value model and the WIT, as this repository has them.
const VENDORED: &[Embedded] = &[
    (
        "vendor/sdk/Cargo.toml",
        include_str!("../../../guest-plugins/sdk/Cargo.toml"),
    ),
    (
        "vendor/sdk/src/config.rs",
        include_str!("../../../guest-plugins/sdk/src/config.rs"),
    ),
    (
        "vendor/sdk/src/convert.rs",
        include_str!("../../../guest-plugins/sdk/src/convert.rs"),
    ),
    (
        "vendor/sdk/src/decimal.rs",
        include_str!("../../../guest-plugins/sdk/src/decimal.rs"),
    ),
    (
        "vendor/sdk/src/export.rs",
        include_str!("../../../guest-plugins/sdk/src/export.rs"),
    ),
    (
        "vendor/sdk/src/lib.rs",
        include_str!("../../../guest-plugins/sdk/src/lib.rs"),
    ),
    (
        "vendor/sdk/src/log.rs",
        include_str!("../../../guest-plugins/sdk/src/log.rs"),
    ),
    (
        "vendor/sdk/src/plugin.rs",
        include_str!("../../../guest-plugins/sdk/src/plugin.rs"),
    ),
    (
        "vendor/sdk/src/row.rs",
        include_str!("../../../guest-plugins/sdk/src/row.rs"),
    ),
    (
        "vendor/sdk/src/testing.rs",
        include_str!("../../../guest-plugins/sdk/src/testing.rs"),
    ),
    (
        "vendor/sdk/src/value.rs",
        include_str!("../../../guest-plugins/sdk/src/value.rs"),
    ),
    (
        "vendor/sdk/src/var_column.rs",
        include_str!("../../../guest-plugins/sdk/src/var_column.rs"),
    ),
    (
        "vendor/value-model/Cargo.toml",
        include_str!("../../value-model/Cargo.toml"),
    ),
    (
        "vendor/value-model/src/lib.rs",
        include_str!("../../value-model/src/lib.rs"),
    ),
    (
        "vendor/value-model/src/scalar_type.rs",
        include_str!("../../value-model/src/scalar_type.rs"),
    ),
    (
        "vendor/value-model/src/wit_encoding.rs",
        include_str!("../../value-model/src/wit_encoding.rs"),
    ),
    (
        "wit/sluice-plugin-0.1.0/plugin.wit",
        include_str!("../../../wit/sluice-plugin-0.1.0/plugin.wit"),
    ),
    (
        "rust-toolchain.toml",
        include_str!("../../../rust-toolchain.toml"),
    ),
    (".gitignore", "/target\n"),
];

/// The guest workspace's manifest: its `[workspace.*]` and `[profile.*]` sections (dependency
/// versions and features, lints, the release profile) become the new crate's.
const GUEST_MANIFEST: &str = include_str!("../../../guest-plugins/Cargo.toml");

/// The guest workspace's lockfile: the new crate's lockfile is the part of it the SDK needs.
const GUEST_LOCK: &str = include_str!("../../../guest-plugins/Cargo.lock");

/// Where the new crate's workspace finds the vendored crates.
const PATH_DEPENDENCIES: &[(&str, &str)] = &[
    ("sluice-plugin-sdk", "vendor/sdk"),
    ("sluice-value-model", "vendor/value-model"),
];

/// The new crate's own dependencies (sorted, as Cargo writes them into the lockfile).
const PLUGIN_DEPENDENCIES: &[&str] = &["serde_json", "sluice-plugin-sdk"];

/// Writes a new plugin crate named `name` into `dir` (which must not exist yet).
pub fn scaffold(name: &str, dir: &Path) -> Result<()> {
    check_name(name)?;
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let files = crate_files(name)?;
    for (path, contents) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Every file of the new crate, path relative to the crate's directory.
fn crate_files(name: &str) -> Result<Vec<(String, String)>> {
    let lock = LockFile::parse(GUEST_LOCK)?;
    let needed = lock.needed_by(PLUGIN_DEPENDENCIES)?;
    let normalized = name.replace('-', "_");
    if let Some(taken) = needed
        .iter()
        .find(|p| p.name.replace('-', "_") == normalized)
    {
        bail!(
            "plugin name {name:?}: the plugin SDK depends on a crate named `{}`; choose another name",
            taken.name
        );
    }
    let mut files = vec![
        ("Cargo.toml".to_string(), manifest(name)?),
        (
            "Cargo.lock".to_string(),
            lockfile(lock.header, name, needed),
        ),
        ("src/lib.rs".to_string(), plugin_source(name)),
    ];
    files.extend(
        VENDORED
            .iter()
            .map(|(path, contents)| (path.to_string(), contents.to_string())),
    );
    Ok(files)
}

/// Names Cargo, the registry and the template's Rust type all accept.
fn check_name(name: &str) -> Result<()> {
    let valid = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--");
    if !valid {
        bail!(
            "plugin name {name:?}: use lower-case letters, digits and single dashes, starting with a letter"
        );
    }
    Ok(())
}

/// The plugin's Cargo.toml: its package, and a workspace holding the vendored crates with the
/// guest workspace's settings.
fn manifest(name: &str) -> Result<String> {
    let mut out = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
sluice-plugin-sdk.workspace = true
serde_json.workspace = true

# The plugin is a workspace of its own, wherever it is put: the Sluice plugin SDK and the value
# model it shares with the engine are in vendor/, the plugin interface in wit/, and Cargo.lock
# pins the versions Sluice builds its own plugins with, so `cargo build --offline` works once
# they are in Cargo's cache. Build with: sluice plugin build . --out <factory>/plugins
[workspace]
members = ["vendor/sdk", "vendor/value-model"]
"#
    );
    let mut rewritten = BTreeSet::new();
    for section in toml_sections(GUEST_MANIFEST) {
        let header = section.lines().next().unwrap_or_default().trim();
        if header == "[workspace]" {
            continue; // the guest workspace's members, not this crate's
        }
        out.push('\n');
        for line in section.lines() {
            let key = line.split('=').next().unwrap_or_default().trim();
            match PATH_DEPENDENCIES.iter().find(|(dep, _)| *dep == key) {
                Some((dep, path)) if header == "[workspace.dependencies]" => {
                    out.push_str(&format!("{dep} = {{ path = \"{path}\" }}\n"));
                    rewritten.insert(*dep);
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    for (dep, _) in PATH_DEPENDENCIES {
        if !rewritten.contains(dep) {
            bail!("the embedded guest-plugins/Cargo.toml has no workspace dependency `{dep}`");
        }
    }
    Ok(out.trim_end().to_string() + "\n")
}

/// A TOML document cut at its table headers (`[x]`, `[[x]]`); text before the first header is
/// dropped. Each section starts with its header line and keeps its lines as they are.
fn toml_sections(doc: &str) -> Vec<String> {
    let mut sections: Vec<String> = Vec::new();
    for line in doc.lines() {
        if line.starts_with('[') {
            sections.push(String::new());
        }
        if let Some(section) = sections.last_mut() {
            section.push_str(line);
            section.push('\n');
        }
    }
    for s in &mut sections {
        let trimmed = s.trim_end().len();
        s.truncate(trimmed);
        s.push('\n');
    }
    sections
}

/// One `[[package]]` of a Cargo.lock (format 4).
#[derive(Debug, Clone)]
struct LockedPackage<'a> {
    name: &'a str,
    version: &'a str,
    source: Option<&'a str>,
    checksum: Option<&'a str>,
    /// As written: `name`, `name version` or `name version (source)`.
    dependencies: Vec<&'a str>,
}

/// A parsed Cargo.lock: its header (`version = 4` and comments) and its packages in file order.
struct LockFile<'a> {
    header: &'a str,
    packages: Vec<LockedPackage<'a>>,
}

impl<'a> LockFile<'a> {
    fn parse(text: &'a str) -> Result<LockFile<'a>> {
        let start = text
            .find("[[package]]")
            .context("the embedded Cargo.lock has no packages")?;
        let header = text[..start].trim_end();
        let mut packages = Vec::new();
        for block in text[start..].split("[[package]]").skip(1) {
            let mut p = LockedPackage {
                name: "",
                version: "",
                source: None,
                checksum: None,
                dependencies: Vec::new(),
            };
            let mut in_deps = false;
            for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if in_deps {
                    if line == "]" {
                        in_deps = false;
                    } else {
                        p.dependencies.push(unquote(line.trim_end_matches(',')));
                    }
                    continue;
                }
                match line.split_once(" = ") {
                    Some(("name", v)) => p.name = unquote(v),
                    Some(("version", v)) => p.version = unquote(v),
                    Some(("source", v)) => p.source = Some(unquote(v)),
                    Some(("checksum", v)) => p.checksum = Some(unquote(v)),
                    Some(("dependencies", "[")) => in_deps = true,
                    _ => bail!(
                        "the embedded Cargo.lock has a line this template does not know: {line}"
                    ),
                }
            }
            if p.name.is_empty() || p.version.is_empty() {
                bail!("the embedded Cargo.lock has a package without a name or version");
            }
            packages.push(p);
        }
        Ok(LockFile { header, packages })
    }

    /// The index of the package a dependency entry (`name`, `name version`, `name version
    /// (source)`) names.
    fn find(&self, entry: &str) -> Result<usize> {
        let mut parts = entry.splitn(3, ' ');
        let name = parts.next().unwrap_or_default();
        let version = parts.next();
        let mut found = self
            .packages
            .iter()
            .enumerate()
            .filter(|(_, p)| p.name == name && version.is_none_or(|v| p.version == v));
        match (found.next(), found.next()) {
            (Some((i, _)), None) => Ok(i),
            _ => bail!("the embedded Cargo.lock does not name exactly one package for `{entry}`"),
        }
    }

    /// The packages `roots` need, directly or not, in file order (which is Cargo's sorted order).
    fn needed_by(&self, roots: &[&str]) -> Result<Vec<LockedPackage<'a>>> {
        let mut seen = vec![false; self.packages.len()];
        let mut todo = roots
            .iter()
            .map(|r| self.find(r))
            .collect::<Result<Vec<_>>>()?;
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            for dep in &self.packages[i].dependencies {
                todo.push(self.find(dep)?);
            }
        }
        Ok(self
            .packages
            .iter()
            .zip(seen)
            .filter(|(_, s)| *s)
            .map(|(p, _)| p.clone())
            .collect())
    }
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches('"')
}

/// The new crate's Cargo.lock: the plugin's own entry and the packages the SDK needs, as Cargo
/// writes them (sorted by name then version; a dependency carries its version only when two
/// versions of that crate are locked), so Cargo finds nothing to change in it.
fn lockfile(header: &str, name: &str, needed: Vec<LockedPackage<'_>>) -> String {
    let mut packages = needed;
    // No locked package has the plugin's name (`crate_files` refuses such names), so its place
    // follows from the name alone.
    let at = packages.partition_point(|p| p.name < name);
    packages.insert(
        at,
        LockedPackage {
            name,
            version: "0.1.0",
            source: None,
            checksum: None,
            dependencies: PLUGIN_DEPENDENCIES.to_vec(),
        },
    );
    let mut versions: HashMap<&str, usize> = HashMap::new();
    for p in &packages {
        *versions.entry(p.name).or_default() += 1;
    }
    let mut out = header.to_string();
    out.push('\n');
    for p in &packages {
        out.push_str(&format!(
            "\n[[package]]\nname = \"{}\"\nversion = \"{}\"\n",
            p.name, p.version
        ));
        if let Some(source) = p.source {
            out.push_str(&format!("source = \"{source}\"\n"));
        }
        if let Some(checksum) = p.checksum {
            out.push_str(&format!("checksum = \"{checksum}\"\n"));
        }
        if !p.dependencies.is_empty() {
            out.push_str("dependencies = [\n");
            for dep in &p.dependencies {
                let mut parts = dep.splitn(3, ' ');
                let dep_name = parts.next().unwrap_or_default();
                let entry = match parts.next() {
                    Some(v) if versions.get(dep_name).copied().unwrap_or(0) > 1 => {
                        format!("{dep_name} {v}")
                    }
                    _ => dep_name.to_string(),
                };
                out.push_str(&format!(" \"{entry}\",\n"));
            }
            out.push_str("]\n");
        }
    }
    out
}

/// The plugin's `src/lib.rs`: a row transform upper-casing the text columns its config names.
fn plugin_source(name: &str) -> String {
    let type_name: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect();
    LIB_TEMPLATE
        .replace("{{name}}", name)
        .replace("{{type}}", &type_name)
}

const LIB_TEMPLATE: &str = r#"//! `{{name}}`: upper-cases the text columns named in the config.
//!
//! Config: `{"columns": ["name"]}`

use sluice_plugin_sdk::{config, Column, Emit, Info, Row, RowPlugin, Value};

pub struct {{type}} {
    columns: Vec<String>,
}

impl RowPlugin for {{type}} {
    fn info() -> Info {
        Info {
            name: "{{name}}",
            version: env!("CARGO_PKG_VERSION"),
            description: "Upper-cases chosen text columns",
        }
    }

    fn create(cfg: &serde_json::Value, input: &[Column]) -> Result<Self, String> {
        config::check_keys(cfg, &["columns"])?;
        let columns = config::str_list(cfg, "columns")?;
        for c in &columns {
            config::column_index(input, c, "columns")?; // fails create on an unknown column
        }
        Ok({{type}} { columns })
    }

    fn process(&mut self, mut row: Row, out: &mut Emit) -> Result<(), String> {
        for c in &self.columns {
            if let Some(Value::Text(s)) = row.get_mut(c) {
                *s = s.to_uppercase();
            }
        }
        out.row(row);
        Ok(())
    }
}

sluice_plugin_sdk::export_row_plugin!({{type}});
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Every source file of the SDK and the value model is in the template (a new module
    /// added to either must be added to `VENDORED` too, or new crates would not compile).
    #[test]
    fn every_sdk_and_value_model_source_is_embedded() {
        for (dir, prefix) in [
            ("guest-plugins/sdk/src", "vendor/sdk/src"),
            ("host/value-model/src", "vendor/value-model/src"),
        ] {
            let mut n = 0;
            for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
                let file = entry.unwrap().file_name().into_string().unwrap();
                let path = format!("{prefix}/{file}");
                assert!(
                    VENDORED.iter().any(|(p, _)| *p == path),
                    "{dir}/{file} is not in plugin_template::VENDORED"
                );
                n += 1;
            }
            assert!(n >= 3, "{dir}");
        }
    }

    #[test]
    fn the_manifest_points_at_the_vendored_crates_with_the_guest_settings() {
        let m = manifest("shout").unwrap();
        assert!(m.starts_with("[package]\nname = \"shout\"\n"), "{m}");
        assert!(
            m.contains("sluice-plugin-sdk = { path = \"vendor/sdk\" }\n"),
            "{m}"
        );
        assert!(
            m.contains("sluice-value-model = { path = \"vendor/value-model\" }\n"),
            "{m}"
        );
        assert!(m.contains("[workspace.package]\n"), "{m}");
        assert!(m.contains("wit-bindgen = { version = "), "{m}");
        assert!(m.contains("[profile.release]\n"), "{m}");
        assert!(m.contains("[workspace.lints.clippy]\n"), "{m}");
        // Nothing of the guest workspace's own members, and no path out of the crate.
        assert!(!m.contains("hostile"), "{m}");
        assert!(!m.contains("plugins/*"), "{m}");
        assert!(!m.contains(".."), "{m}");
        assert_eq!(m.matches("[workspace]\n").count(), 1, "{m}");
    }

    #[test]
    fn the_lockfile_is_the_part_of_the_guest_lock_the_sdk_needs() {
        let guest = LockFile::parse(GUEST_LOCK).unwrap();
        let needed = guest.needed_by(PLUGIN_DEPENDENCIES).unwrap();
        let text = lockfile(guest.header, "shout", needed);
        let lock = LockFile::parse(&text).unwrap();
        let names: Vec<&str> = lock.packages.iter().map(|p| p.name).collect();
        for expected in [
            "shout",
            "sluice-plugin-sdk",
            "sluice-value-model",
            "wit-bindgen",
            "serde_json",
        ] {
            assert!(names.contains(&expected), "{expected} missing: {names:?}");
        }
        // sha2 is only mask-pii's; the example and hostile plugins are not the SDK's.
        assert!(!names.contains(&"sha2"), "{names:?}");
        assert!(!names.iter().any(|n| n.starts_with("plugin-")), "{names:?}");
        // Same versions and checksums as the guest workspace pins; every dependency resolves.
        for p in &lock.packages {
            for dep in &p.dependencies {
                lock.find(dep).unwrap();
            }
            if p.name == "shout" {
                continue;
            }
            let g = &guest.packages[guest.find(&format!("{} {}", p.name, p.version)).unwrap()];
            assert_eq!(g.checksum, p.checksum, "{}", p.name);
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert!(text.starts_with("# This file is automatically @generated by Cargo."));
        assert!(text.contains("\n[[package]]\nname = \"shout\"\nversion = \"0.1.0\"\ndependencies = [\n \"serde_json\",\n \"sluice-plugin-sdk\",\n]\n"), "{text}");
    }

    #[test]
    fn a_new_crate_is_self_contained() {
        let dir = tempfile::tempdir().unwrap();
        let krate = dir.path().join("two-words");
        scaffold("two-words", &krate).unwrap();
        let lib = std::fs::read_to_string(krate.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct TwoWords"), "{lib}");
        assert!(lib.contains("name: \"two-words\""), "{lib}");
        for f in [
            "Cargo.toml",
            "Cargo.lock",
            "rust-toolchain.toml",
            "vendor/sdk/Cargo.toml",
            "vendor/value-model/src/lib.rs",
            "wit/sluice-plugin-0.1.0/plugin.wit",
        ] {
            assert!(krate.join(f).is_file(), "{f}");
        }
        // The SDK reaches the WIT through a path relative to its own manifest.
        let sdk = std::fs::read_to_string(krate.join("vendor/sdk/src/lib.rs")).unwrap();
        assert!(sdk.contains("path: \"../../wit/sluice-plugin-0.1.0\""));
        // Nothing points back into this checkout.
        let checkout = repo().canonicalize().unwrap();
        for (path, contents) in crate_files("two-words").unwrap() {
            assert!(
                !contents.contains(checkout.to_str().unwrap()),
                "{path} names the checkout"
            );
        }
        // A second scaffold into the same place is refused.
        let again = scaffold("two-words", &krate).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
    }

    #[test]
    fn bad_and_taken_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "Shout", "9lives", "a_b", "end-", "a--b", "a b"] {
            let e = scaffold(bad, &dir.path().join("x"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("lower-case letters"), "{bad:?}: {e}");
        }
        for taken in ["serde-json", "wit-bindgen", "sluice-plugin-sdk"] {
            let e = scaffold(taken, &dir.path().join(taken))
                .unwrap_err()
                .to_string();
            assert!(e.contains("choose another name"), "{taken}: {e}");
            assert!(!dir.path().join(taken).exists());
        }
    }
}
