//! References to wasm plugins as a pipeline writes them (`mask-pii@^1.0#sha256=...`): parsed
//! and checked while planning, so `validate` reports a malformed reference without loading any
//! plugin. Finding the file a reference names is the plugin registry's job.

use std::fmt;
use std::str::FromStr;

use semver::{Version, VersionReq};

/// A plugin reference that does not parse: the reference as written and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid plugin reference \"{reference}\": {message}")]
pub struct PluginRefError {
    pub reference: String,
    pub message: String,
}

/// Which version a [`PluginRef`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    /// The highest version available (stable versions preferred over pre-releases).
    Latest,
    /// Exactly this version (`name@1.2.0`).
    Exact(Version),
    /// The highest version matching a requirement (`name@^1.2`, `name@~1.2.3`, `name@1`).
    Req(VersionReq),
}

/// A reference to a plugin as written in a pipeline or on the command line:
///
/// `name` | `name@version` | `name@requirement`, optionally followed by `#sha256=<64 hex>` to pin
/// the exact file contents (`mask-pii@1.0.0#sha256=9f86d0…`). A pin is checked against the bytes
/// actually loaded; a mismatch fails with both hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    pub name: String,
    pub version: VersionSpec,
    /// Lower-case hex sha256 the file must have.
    pub sha256: Option<String>,
}

impl PluginRef {
    /// Parses the syntax described on [`PluginRef`].
    pub fn parse(s: &str) -> Result<Self, PluginRefError> {
        let bad = |message: String| PluginRefError {
            reference: s.to_string(),
            message,
        };
        let s_trim = s.trim();
        let (main, pin) = match s_trim.split_once('#') {
            Some((m, p)) => (m, Some(p)),
            None => (s_trim, None),
        };
        let sha256 = match pin {
            None => None,
            Some(p) => {
                let hex = p.strip_prefix("sha256=").ok_or_else(|| {
                    bad(format!(
                        "expected `#sha256=<64 hex digits>` after `#`, found `#{p}`"
                    ))
                })?;
                Some(parse_sha256(hex).map_err(bad)?)
            }
        };
        let (name, version) = match main.split_once('@') {
            None => (main, VersionSpec::Latest),
            Some((n, v)) => {
                let v = v.trim();
                let spec = if let Ok(exact) = Version::parse(v) {
                    VersionSpec::Exact(exact)
                } else if let Ok(req) = VersionReq::parse(v) {
                    VersionSpec::Req(req)
                } else {
                    return Err(bad(format!(
                        "`{v}` is neither a semantic version (1.2.0) nor a version requirement (^1.2)"
                    )));
                };
                (n, spec)
            }
        };
        validate_name(name).map_err(bad)?;
        Ok(PluginRef {
            name: name.to_string(),
            version,
            sha256,
        })
    }

    /// A reference to the highest version of `name`.
    pub fn latest(name: impl Into<String>) -> Self {
        PluginRef {
            name: name.into(),
            version: VersionSpec::Latest,
            sha256: None,
        }
    }
}

impl FromStr for PluginRef {
    type Err = PluginRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PluginRef::parse(s)
    }
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.version {
            VersionSpec::Latest => {}
            VersionSpec::Exact(v) => write!(f, "@{v}")?,
            VersionSpec::Req(r) => write!(f, "@{r}")?,
        }
        if let Some(h) = &self.sha256 {
            write!(f, "#sha256={h}")?;
        }
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for PluginRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PluginRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for PluginRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Plugin names: ASCII letters, digits, `-`, `_`, `.`; not starting with `.`. Keeps names
/// usable as file names and free of the `@`/`#` separators.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the plugin name is empty".into());
    }
    if name.starts_with('.') {
        return Err(format!("plugin name `{name}` starts with `.`"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "plugin name `{name}` contains `{c}` (allowed: letters, digits, `-`, `_`, `.`)"
        ));
    }
    Ok(())
}

pub fn parse_sha256(hex_str: &str) -> Result<String, String> {
    let h = hex_str.trim().to_ascii_lowercase();
    if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "sha256 must be 64 hex digits, found `{hex_str}` ({} characters)",
            hex_str.len()
        ));
    }
    Ok(h)
}
