//! The stores' side of path confinement: right before a file is read or written, the path is
//! checked again (values can reach a store without passing the plan, and a symbolic link can
//! appear after planning). A local path must stay under its root by its text
//! ([`crate::model::files::confine`]) and on disk: the deepest part of it that exists,
//! with every symbolic link resolved, must still be under the resolved root. A blob name
//! must stay inside its container's folder by its text.

use std::path::{Path, PathBuf};

use object_store::path::Path as ObjectPath;

use crate::model::files::confine::{confine, PathKind};
use crate::stores::{StoreError, StoreErrorKind};

/// The local path of `rel` (a `/`- or `\`-separated path from a definition) under `root`;
/// refused when it leaves the root by its text or through a symbolic link.
pub fn local_path(root: &Path, rel: &str) -> Result<PathBuf, StoreError> {
    let clean = confine(rel, PathKind::Local).map_err(|why| refused(format!("'{rel}' {why}")))?;
    let path = if clean.is_empty() {
        root.to_path_buf()
    } else {
        root.join(&clean)
    };
    check_links(root, &path)?;
    Ok(path)
}

/// The blob name of `rel` (`/`- or `\`-separated) in its container; refused when a `..`
/// climbs above the container.
pub fn blob_path(rel: &str) -> Result<ObjectPath, StoreError> {
    let clean = confine(rel, PathKind::Blob).map_err(|why| refused(format!("'{rel}' {why}")))?;
    Ok(ObjectPath::from(clean))
}

/// The listing prefix of `folder` in its container ([`blob_path`]): none for the container
/// itself.
pub fn blob_prefix(folder: &str) -> Result<Option<ObjectPath>, StoreError> {
    let path = blob_path(folder)?;
    Ok((!path.as_ref().is_empty()).then_some(path))
}

/// Refuses `path` (under `root` by its text) when the deepest part of it that exists leads,
/// through symbolic links, outside the resolved `root`. A root that does not exist yet holds
/// no links, and the parts of `path` that do not exist yet will be created as plain folders.
pub fn check_links(root: &Path, path: &Path) -> Result<(), StoreError> {
    let Ok(real_root) = root.canonicalize() else {
        return Ok(());
    };
    let mut probe = path;
    while probe.symlink_metadata().is_err() {
        match probe.parent() {
            Some(parent) if parent.starts_with(root) => probe = parent,
            _ => return Ok(()),
        }
    }
    match probe.canonicalize() {
        Ok(real) if real.starts_with(&real_root) => Ok(()),
        Ok(real) => Err(refused(format!(
            "{}: is reached through a symbolic link that leads outside the root folder {} (to {})",
            path.display(),
            root.display(),
            real.display()
        ))),
        Err(e) => Err(refused(format!(
            "{}: is reached through a symbolic link that leads outside the root folder {} or nowhere: {e}",
            path.display(),
            root.display()
        ))),
    }
}

/// Whether an entry met while listing (`path`, possibly a symbolic link) is inside the
/// resolved root `real_root`; a link that leads outside, or nowhere, is not.
pub fn inside(real_root: &Path, path: &Path) -> bool {
    path.canonicalize()
        .is_ok_and(|real| real.starts_with(real_root))
}

fn refused(reason: String) -> StoreError {
    StoreError::with_kind(StoreErrorKind::Definition, reason)
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn text_and_links_both_confine() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir_all(root.join("in")).unwrap();
        std::fs::create_dir(outer.path().join("secret")).unwrap();
        std::os::unix::fs::symlink(outer.path().join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("in"), root.join("alias")).unwrap();
        std::os::unix::fs::symlink(outer.path().join("nowhere"), root.join("dangling")).unwrap();

        assert_eq!(local_path(&root, "in\\x").unwrap(), root.join("in/x"));
        assert_eq!(local_path(&root, "").unwrap(), root);
        assert_eq!(
            local_path(&root, "new/deeper").unwrap(),
            root.join("new/deeper")
        );
        // A link that stays inside is fine.
        assert_eq!(local_path(&root, "alias/x").unwrap(), root.join("alias/x"));
        for bad in ["../secret", "in/../../secret", "/etc", "C:\\x"] {
            let e = local_path(&root, bad).unwrap_err();
            assert_eq!(e.kind(), StoreErrorKind::Definition, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        for linked in ["out", "out/x", "out/new/deeper", "dangling/x", "dangling"] {
            let e = local_path(&root, linked).unwrap_err().to_string();
            assert!(e.contains("symbolic link"), "{linked}: {e}");
        }
        // A root that does not exist yet holds no links.
        let later = outer.path().join("later");
        assert_eq!(local_path(&later, "a").unwrap(), later.join("a"));

        let real_root = root.canonicalize().unwrap();
        assert!(inside(&real_root, &root.join("alias")));
        assert!(!inside(&real_root, &root.join("out")));
        assert!(!inside(&real_root, &root.join("dangling")));
    }

    #[test]
    fn blob_names_stay_in_their_container() {
        assert_eq!(blob_path("a\\b/c.csv").unwrap().to_string(), "a/b/c.csv");
        assert_eq!(blob_path("a/../b").unwrap().to_string(), "b");
        assert!(blob_path("a/../../b").is_err());
        assert!(blob_path("..").is_err());
        assert_eq!(blob_prefix("a/..").unwrap(), None);
        assert_eq!(blob_prefix("\\a").unwrap().unwrap().to_string(), "a");
    }
}
