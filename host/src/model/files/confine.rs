//! The one rule for every path a definition gives inside a file store (a dataset's
//! `folderPath` and `fileName`, a source's `wildcardFolderPath`, a sink's `fileNamePrefix`, a
//! copy's log `path`): it is relative to the store's root (a `FileServer`'s `host`, a blob
//! container), `/` and `\` both separate folders, `.` and `..` are resolved by their text, and
//! a path that would leave the root is refused with the reason. The plan checks every value it
//! knows (so `sluice validate` reports it); the stores check again before any I/O, where
//! symbolic links are followed too (`stores::files::confine`).

use crate::model::props::Props;
use crate::ModelError;

/// Which store a path is for: only a local folder has absolute paths, drive letters and
/// network shares to refuse; in a blob container a leading `/` is just a separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Local,
    Blob,
}

/// Why a path cannot be used inside a store's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathEscape {
    #[error(
        "is an absolute path; paths are relative to the linked service's root folder (its host)"
    )]
    Absolute,
    #[error("starts with a drive letter; paths are relative to the linked service's root folder (its host)")]
    Drive,
    #[error("is a network (UNC) path; paths are relative to the linked service's root folder (its host)")]
    Unc,
    #[error("leads outside the root of its store: '..' climbs above the linked service's folder or container")]
    AboveRoot,
}

/// `path` relative to its store's root, `/`-separated, without `.`, `..`, empty segments or
/// leading and trailing separators (`""` is the root itself); refused when it is absolute
/// (local stores) or when a `..` climbs above the root.
pub fn confine(path: &str, kind: PathKind) -> Result<String, PathEscape> {
    let is_sep = |c: char| c == '/' || c == '\\';
    if kind == PathKind::Local {
        let mut chars = path.chars();
        match (chars.next(), chars.next()) {
            (Some(a), Some(b)) if is_sep(a) && is_sep(b) => return Err(PathEscape::Unc),
            (Some(a), _) if is_sep(a) => return Err(PathEscape::Absolute),
            (Some(letter), Some(':')) if letter.is_ascii_alphabetic() => {
                return Err(PathEscape::Drive)
            }
            _ => {}
        }
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split(is_sep) {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop().ok_or(PathEscape::AboveRoot)?;
            }
            name => kept.push(name),
        }
    }
    Ok(kept.join("/"))
}

/// A `FileServer` `host` taken as a folder under a root the operator chose (the service's
/// per-tenant files root): a drive letter and leading separators are dropped (`C:\\data` and
/// `/data` are both `data`), a network share is refused, and `..` may not climb above the root.
pub fn jailed_host(host: &str) -> Result<String, PathEscape> {
    let is_sep = |c: char| c == '/' || c == '\\';
    let mut chars = host.chars();
    if let (Some(a), Some(b)) = (chars.next(), chars.next()) {
        if is_sep(a) && is_sep(b) {
            return Err(PathEscape::Unc);
        }
    }
    let mut rest = host;
    if let [letter, b':', ..] = rest.as_bytes() {
        if letter.is_ascii_alphabetic() {
            rest = &rest[2..];
        }
    }
    confine(rest.trim_start_matches(is_sep), PathKind::Local)
}

/// [`confine`] for property `key` of `p`, refused with an error naming the object (dataset or
/// activity), the property, the value and the reason.
pub fn confined(
    p: &Props<'_>,
    key: &str,
    value: &str,
    kind: PathKind,
) -> Result<String, ModelError> {
    confine(value, kind).map_err(|why| p.err(key, format!("'{value}' {why}")))
}

/// Refuses a file name (or a part of one: a prefix, an extension) that names a folder: one
/// with `/` or `\`, or `.` or `..` itself.
pub fn file_name(p: &Props<'_>, key: &str, value: &str) -> Result<(), ModelError> {
    if value.contains(['/', '\\']) || value == "." || value == ".." {
        return Err(p.err(
            key,
            format!("'{value}' must be a file name without folders ('/', '\\', '.' or '..'); put folders in folderPath"),
        ));
    }
    Ok(())
}

/// One folder name made from a name the user chose for something else (an activity's name in
/// its log folder): `/` and `\` become `_`, and a name of dots alone (`.`, `..`) has its dots
/// replaced, so the name can never change which folder it is in.
pub fn segment(name: &str) -> String {
    let replaced: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if replaced.chars().all(|c| c == '.') {
        "_".repeat(replaced.len().max(1))
    } else {
        replaced
    }
}

/// A blob container's name: letters, digits and hyphens (or `$root`, `$logs`, `$web`), so it
/// cannot name a path of the account's endpoint.
pub fn container_name(p: &Props<'_>, key: &str, value: &str) -> Result<(), ModelError> {
    let plain = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if plain || matches!(value, "$root" | "$logs" | "$web") {
        return Ok(());
    }
    Err(p.err(
        key,
        format!("'{value}' is not a container name (letters, digits and hyphens)"),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn local(p: &str) -> Result<String, PathEscape> {
        confine(p, PathKind::Local)
    }

    #[test]
    fn a_jailed_host_is_a_folder_under_the_root() {
        assert_eq!(jailed_host("C:\\data\\in").unwrap(), "data/in");
        assert_eq!(jailed_host("/srv/files/").unwrap(), "srv/files");
        assert_eq!(jailed_host("relative/x").unwrap(), "relative/x");
        assert_eq!(jailed_host("/").unwrap(), "");
        assert_eq!(jailed_host("\\\\server\\share"), Err(PathEscape::Unc));
        assert_eq!(jailed_host("/a/../../etc"), Err(PathEscape::AboveRoot));
        assert_eq!(jailed_host("C:..\\x"), Err(PathEscape::AboveRoot));
    }

    #[test]
    fn both_separators_and_dots_resolve_by_their_text() {
        assert_eq!(local("a\\b//c/").unwrap(), "a/b/c");
        assert_eq!(local("a/b\\c").unwrap(), "a/b/c");
        assert_eq!(local("a/./b/.").unwrap(), "a/b");
        assert_eq!(local("a/../b").unwrap(), "b");
        assert_eq!(local("a\\b\\..\\..\\c").unwrap(), "c");
        assert_eq!(local("a/b/c/../../..").unwrap(), "");
        assert_eq!(local("").unwrap(), "");
        assert_eq!(local(".").unwrap(), "");
        assert_eq!(local("./").unwrap(), "");
        assert_eq!(local("...").unwrap(), "...");
        assert_eq!(local("a..b/c").unwrap(), "a..b/c");
    }

    #[test]
    fn climbing_above_the_root_is_refused_at_any_depth() {
        for p in [
            "..",
            "../",
            "../escape",
            "..\\escape",
            "a/../../b",
            "a\\..\\..\\b",
            "a/b/../../../c",
            "a/b/c/../../../..",
            "./..",
            "../../../../../../../../etc",
        ] {
            assert_eq!(local(p), Err(PathEscape::AboveRoot), "{p}");
            assert_eq!(
                confine(p, PathKind::Blob),
                Err(PathEscape::AboveRoot),
                "{p}"
            );
        }
    }

    #[test]
    fn absolute_drive_and_unc_paths_are_refused_for_local_folders() {
        assert_eq!(local("/etc"), Err(PathEscape::Absolute));
        assert_eq!(local("\\etc"), Err(PathEscape::Absolute));
        assert_eq!(local("/"), Err(PathEscape::Absolute));
        assert_eq!(local("C:\\"), Err(PathEscape::Drive));
        assert_eq!(local("c:/temp"), Err(PathEscape::Drive));
        assert_eq!(local("C:temp"), Err(PathEscape::Drive));
        assert_eq!(local("\\\\server\\share"), Err(PathEscape::Unc));
        assert_eq!(local("//server/share"), Err(PathEscape::Unc));
        // In a container a leading separator is only a separator.
        assert_eq!(confine("/a\\b/", PathKind::Blob).unwrap(), "a/b");
        assert_eq!(confine("\\\\a/b", PathKind::Blob).unwrap(), "a/b");
    }

    #[test]
    fn segments_never_name_another_folder() {
        assert_eq!(segment("Copy data"), "Copy data");
        assert_eq!(segment("../../x"), ".._.._x");
        assert_eq!(segment("..\\x"), ".._x");
        assert_eq!(segment(".."), "__");
        assert_eq!(segment("."), "_");
        assert_eq!(segment(""), "_");
        for s in ["../../x", "..", "a/b", "\\\\s\\x", "", "."] {
            let seg = segment(s);
            assert_eq!(local(&seg).unwrap(), seg, "{s}");
        }
    }
}
