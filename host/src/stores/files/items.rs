//! Files and folders as items, for the GetMetadata and Delete activities: whether one exists
//! and what it is, a folder's direct children, a file's MD5, and deleting files and the
//! folders they leave empty. Every path goes through the same confinement as datasets
//! ([`super::confine`]): nothing outside the store's root is looked at or removed.
//!
//! Blob Storage has no real folders: a "folder" is a name prefix, which exists while any blob
//! has it, and disappears with its last blob.

use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use md5::{Digest, Md5};

use super::blob::kind_of;
use super::confine::{blob_path, blob_prefix, inside, local_path};
use super::location::{Key, OpenStore};
use crate::stores::{StoreError, StoreErrorKind};

/// A file or a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemType {
    File,
    Folder,
}

impl ItemType {
    /// ADF's `itemType` / `childItems[].type`.
    pub fn name(self) -> &'static str {
        match self {
            ItemType::File => "File",
            ItemType::Folder => "Folder",
        }
    }
}

/// What a store knows of one item.
#[derive(Debug, Clone)]
pub struct Item {
    pub item_type: ItemType,
    /// The file's or folder's own name (a container's name for a container's root).
    pub name: String,
    pub key: Key,
    /// Files only.
    pub size: Option<u64>,
    /// Local items only: Blob Storage keeps no creation time ADF reports.
    pub created: Option<DateTime<Utc>>,
    /// A blob's; a local file's or folder's; none for a virtual blob folder.
    pub modified: Option<DateTime<Utc>>,
}

/// One entry of a folder.
#[derive(Debug, Clone)]
pub struct Child {
    pub name: String,
    pub item_type: ItemType,
    pub modified: Option<DateTime<Utc>>,
}

/// `folder/name` with either part empty.
pub fn join(folder: &str, name: &str) -> String {
    match (folder.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => folder.to_string(),
        _ => format!("{folder}/{name}"),
    }
}

fn last_segment(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

impl OpenStore {
    /// The file `folder/name`, or the folder `folder` when `name` is `None`; `None` when it
    /// does not exist.
    pub async fn item(&self, folder: &str, name: Option<&str>) -> Result<Option<Item>, StoreError> {
        let rel = join(folder, name.unwrap_or(""));
        match self {
            OpenStore::Local { root } => {
                let path = local_path(root, &rel)?;
                let meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => {
                        return Err(StoreError::io(
                            format_args!("{}: cannot read its metadata", path.display()),
                            &e,
                        ))
                    }
                };
                let item_type = if meta.is_dir() {
                    ItemType::Folder
                } else {
                    ItemType::File
                };
                // A file named as a folder (or the reverse) is not the item asked for.
                if (name.is_some()) != (item_type == ItemType::File) {
                    return Ok(None);
                }
                let own = match last_segment(&rel) {
                    "" => root
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    n => n.to_string(),
                };
                Ok(Some(Item {
                    item_type,
                    name: own,
                    key: Key::Local(path),
                    size: (item_type == ItemType::File).then_some(meta.len()),
                    created: meta.created().ok().map(DateTime::<Utc>::from),
                    modified: meta.modified().ok().map(DateTime::<Utc>::from),
                }))
            }
            OpenStore::Blob {
                store, container, ..
            } => {
                if name.is_some() {
                    let p = blob_path(&rel)?;
                    return match store.head(&p).await {
                        Ok(m) => Ok(Some(Item {
                            item_type: ItemType::File,
                            name: last_segment(&rel).to_string(),
                            key: Key::Blob(p),
                            size: Some(m.size),
                            created: None,
                            modified: Some(m.last_modified),
                        })),
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(StoreError::object_store(
                            format_args!("{container}/{rel}: cannot read its properties"),
                            &e,
                        )),
                    };
                }
                let prefix = blob_prefix(&rel)?;
                let listed = match store.list_with_delimiter(prefix.as_ref()).await {
                    Ok(l) => l,
                    // The container itself is missing.
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => {
                        return Err(StoreError::object_store(
                            format_args!("container '{container}': cannot list '{rel}'"),
                            &e,
                        ))
                    }
                };
                let is_root = prefix.is_none();
                if !is_root && listed.objects.is_empty() && listed.common_prefixes.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Item {
                    item_type: ItemType::Folder,
                    name: if is_root {
                        container.clone()
                    } else {
                        last_segment(&rel).to_string()
                    },
                    key: Key::Blob(blob_path(&rel)?),
                    size: None,
                    created: None,
                    modified: None,
                }))
            }
        }
    }

    /// The direct children of `folder`, in name order. Symbolic links that lead out of the
    /// root and the temporary files of a sink writing right now are left out.
    pub async fn children(&self, folder: &str) -> Result<Vec<Child>, StoreError> {
        let mut out = Vec::new();
        match self {
            OpenStore::Local { root } => {
                let dir = local_path(root, folder)?;
                let fail = |e: std::io::Error| {
                    StoreError::io(
                        format_args!("{}: cannot list the folder", dir.display()),
                        &e,
                    )
                };
                let real_root = root.canonicalize().map_err(fail)?;
                for entry in std::fs::read_dir(&dir).map_err(fail)? {
                    let entry = entry.map_err(fail)?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') && name.ends_with(".tmp") {
                        continue;
                    }
                    let path = entry.path();
                    if entry.file_type().map_err(fail)?.is_symlink() && !inside(&real_root, &path) {
                        continue;
                    }
                    let Ok(meta) = std::fs::metadata(&path) else {
                        continue;
                    };
                    let item_type = if meta.is_dir() {
                        ItemType::Folder
                    } else if meta.is_file() {
                        ItemType::File
                    } else {
                        continue;
                    };
                    out.push(Child {
                        name,
                        item_type,
                        modified: meta.modified().ok().map(DateTime::<Utc>::from),
                    });
                }
            }
            OpenStore::Blob {
                store, container, ..
            } => {
                let prefix = blob_prefix(folder)?;
                let listed = store
                    .list_with_delimiter(prefix.as_ref())
                    .await
                    .map_err(|e| {
                        StoreError::object_store(
                            format_args!("container '{container}': cannot list '{folder}'"),
                            &e,
                        )
                    })?;
                for p in listed.common_prefixes {
                    out.push(Child {
                        name: last_segment(p.as_ref()).to_string(),
                        item_type: ItemType::Folder,
                        modified: None,
                    });
                }
                for m in listed.objects {
                    out.push(Child {
                        name: last_segment(m.location.as_ref()).to_string(),
                        item_type: ItemType::File,
                        modified: Some(m.last_modified),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The MD5 of a file's content, read as a stream (a blob is not downloaded to disk).
    pub async fn md5(&self, key: &Key) -> Result<[u8; 16], StoreError> {
        let mut hash = Md5::new();
        match (self, key) {
            (_, Key::Local(p)) => {
                let p = p.clone();
                let at = format!("{}: cannot read", p.display());
                hash = tokio::task::spawn_blocking(move || {
                    let mut f = std::fs::File::open(&p)?;
                    let mut buf = vec![0u8; 1 << 16];
                    loop {
                        match f.read(&mut buf)? {
                            0 => break,
                            n => hash.update(buf.get(..n).unwrap_or_default()),
                        }
                    }
                    Ok::<_, std::io::Error>(hash)
                })
                .await
                .map_err(|e| StoreError::new(format!("{at}: {e}")))?
                .map_err(|e| StoreError::io(&at, &e))?;
            }
            (
                OpenStore::Blob {
                    store, container, ..
                },
                Key::Blob(p),
            ) => {
                let at = format!("{container}/{p}: cannot read");
                let got = store
                    .get(p)
                    .await
                    .map_err(|e| StoreError::object_store(&at, &e))?;
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| StoreError::object_store(&at, &e))?;
                    hash.update(&chunk);
                }
            }
            (OpenStore::Local { .. }, Key::Blob(_)) => {
                return Err(StoreError::new("not a local file"));
            }
        }
        Ok(hash.finalize().into())
    }

    /// Deletes one file (a key a listing of this store gave).
    pub async fn delete_file(&self, key: &Key) -> Result<(), StoreError> {
        match (self, key) {
            (OpenStore::Local { root }, Key::Local(p)) => {
                // Checked again right before the removal: a link may have appeared since.
                if !p.starts_with(root) {
                    return Err(StoreError::with_kind(
                        StoreErrorKind::Definition,
                        format!(
                            "{}: is outside the root folder {}",
                            p.display(),
                            root.display()
                        ),
                    ));
                }
                if let Some(parent) = p.parent() {
                    super::confine::check_links(root, parent)?;
                }
                std::fs::remove_file(p).map_err(|e| {
                    StoreError::with_kind(crate::stores::error::io_kind(e.kind()), e.to_string())
                })
            }
            (OpenStore::Blob { store, .. }, Key::Blob(p)) => store
                .delete(p)
                .await
                .map_err(|e| StoreError::with_kind(kind_of(&e), super::blob::describe(&e))),
            _ => Err(StoreError::new("the file is not in this store")),
        }
    }

    /// Removes `folder` and the folders under it that are empty (deepest first) in a local
    /// store, and returns their paths relative to the root; never the root itself. Blob
    /// folders vanish with their last blob, so there is nothing to do there.
    pub fn remove_empty_folders(&self, folder: &str) -> Result<Vec<String>, StoreError> {
        let OpenStore::Local { root } = self else {
            return Ok(Vec::new());
        };
        if folder.is_empty() {
            return Ok(Vec::new());
        }
        let dir = local_path(root, folder)?;
        let mut removed = Vec::new();
        prune(&dir, folder, &mut removed);
        Ok(removed)
    }
}

/// Depth first: a folder goes once everything in it has gone. Symbolic links are not
/// followed (a link is not a folder of this tree).
fn prune(dir: &Path, rel: &str, removed: &mut Vec<String>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let name = entry.file_name().to_string_lossy().into_owned();
                prune(&entry.path(), &join(rel, &name), removed);
            }
        }
    }
    if std::fs::remove_dir(dir).is_ok() {
        removed.push(rel.to_string());
    }
}
