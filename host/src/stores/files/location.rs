//! Where a file dataset lives: a folder on a local path (`FileServer`) or a container of an
//! Azure Blob Storage account, and the three things a copy does there: list the files to read,
//! fetch one as a local file, and publish a finished file.
//!
//! Local files are read in place and written through a temporary file in the target folder that
//! is renamed over the target. Blobs are downloaded to an anonymous temporary file before they
//! are read (Parquet needs random access; one path for every format keeps it simple), and
//! written to a local temporary file that is uploaded only once the copy has succeeded: a block
//! blob becomes visible only when its block list is committed, so a failed copy leaves nothing.
//!
//! Every path is confined to the store's root right before it is used ([`super::confine`]):
//! a listing never follows a symbolic link out of the root.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};

use super::blob::{describe, kind_of};
use super::confine::{blob_path, blob_prefix, inside, local_path};
use crate::model::files::location::glob;
pub use crate::model::files::location::{FileLocation, Selection, StoreRef};
use crate::stores::error::io_kind;
use crate::stores::{StoreError, StoreErrorKind};

/// Bytes per uploaded block, and the size up to which a blob is written with one request.
const UPLOAD_CHUNK: usize = 8 * 1024 * 1024;

impl FileLocation {
    /// Connects (lazily: nothing goes over the network here) to the store.
    pub fn open(&self) -> Result<OpenStore, StoreError> {
        Ok(match &self.store {
            StoreRef::Local { root } => OpenStore::Local { root: root.clone() },
            StoreRef::Blob { account, container } => OpenStore::Blob {
                store: account.store(container)?,
                container: container.clone(),
                account: account.account.clone(),
            },
        })
    }
}

/// Where one file is.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Local(PathBuf),
    Blob(ObjectPath),
}

/// One file a source reads.
#[derive(Debug, Clone)]
pub struct FileRef {
    pub key: Key,
    /// Shown in messages: the local path, or `container/blob`.
    pub label: String,
    /// The path relative to the dataset's folder (ADF's `$$FILEPATH`).
    pub relative: String,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

/// A store ready for use.
pub enum OpenStore {
    Local {
        root: PathBuf,
    },
    Blob {
        store: Arc<dyn ObjectStore>,
        container: String,
        account: String,
    },
}

/// A downloaded or opened file, and the temporary copy that must live as long as it is read.
pub struct Fetched {
    pub file: std::fs::File,
}

/// A file being written before it is published.
pub struct Staged {
    pub tmp: tempfile::NamedTempFile,
    pub target: Key,
    pub label: String,
}

impl OpenStore {
    /// What `dataset 'x'` errors call the store.
    pub fn describe(&self) -> String {
        match self {
            OpenStore::Local { root } => format!("folder {}", root.display()),
            OpenStore::Blob {
                container, account, ..
            } => format!("container '{container}' of storage account '{account}'"),
        }
    }

    /// The local path of `folder/name` (local stores) or the blob name; refused when it
    /// leaves the root (or the container), by its text or through a symbolic link.
    pub fn key(&self, folder: &str, name: &str) -> Result<Key, StoreError> {
        let rel = join(folder, name);
        Ok(match self {
            OpenStore::Local { root } => Key::Local(local_path(root, &rel)?),
            OpenStore::Blob { .. } => Key::Blob(blob_path(&rel)?),
        })
    }

    pub fn label(&self, key: &Key) -> String {
        match (self, key) {
            (_, Key::Local(p)) => p.display().to_string(),
            (OpenStore::Blob { container, .. }, Key::Blob(p)) => format!("{container}/{p}"),
            (_, Key::Blob(p)) => p.to_string(),
        }
    }

    /// The files a source reads, in name order: the dataset's `fileName`, or the files of its
    /// folder (and subfolders when `recursive`) that match the wildcards and modified times.
    pub async fn list(
        &self,
        loc: &FileLocation,
        sel: &Selection,
    ) -> Result<Vec<FileRef>, StoreError> {
        let exact = sel.wildcard_file.is_none() && sel.wildcard_folder.is_none();
        if let (Some(name), true) = (&loc.file_name, exact) {
            let key = self.key(&loc.folder, name)?;
            let label = self.label(&key);
            let (size, modified) = self
                .head(&key)
                .await
                .map_err(|e| e.context(format_args!("{label}: cannot open")))?;
            return Ok(vec![FileRef {
                key,
                label,
                relative: name.clone(),
                size,
                modified,
            }]);
        }
        // The folder to list from: the wildcard folder's literal head, or the dataset's folder.
        let (base, folder_glob) = match &sel.wildcard_folder {
            Some(w) => {
                let head: Vec<&str> = w
                    .split('/')
                    .take_while(|s| !s.contains(['*', '?', '[', '{']))
                    .collect();
                (head.join("/"), Some(glob(w).map_err(definition)?))
            }
            None => (loc.folder.clone(), None),
        };
        let file_glob = match (&sel.wildcard_file, &loc.file_name) {
            (Some(w), _) => Some(glob(w).map_err(definition)?),
            (None, Some(name)) => Some(glob(&globset::escape(name)).map_err(definition)?),
            (None, None) => None,
        };
        let listed = self.list_under(&base).await?;
        let mut files = Vec::new();
        for (key, rel_to_base, size, modified) in listed {
            let (dir, name) = match rel_to_base.rsplit_once('/') {
                Some((d, n)) => (d.to_string(), n.to_string()),
                None => (String::new(), rel_to_base.clone()),
            };
            let full_dir = join(&base, &dir);
            let in_folder = match &folder_glob {
                // The file's folder matches, or (recursive) one of its parents does.
                Some(g) => ancestors(&full_dir)
                    .take(if sel.recursive { usize::MAX } else { 1 })
                    .any(|d| g.is_match(d)),
                None => sel.recursive || dir.is_empty(),
            };
            if !in_folder || file_glob.as_ref().is_some_and(|g| !g.is_match(&name)) {
                continue;
            }
            if sel
                .modified_start
                .is_some_and(|s| modified.is_none_or(|m| m < s))
                || sel
                    .modified_end
                    .is_some_and(|e| modified.is_none_or(|m| m >= e))
            {
                continue;
            }
            let relative = match rel_path(&join(&base, &rel_to_base), &loc.folder) {
                Some(r) => r,
                None => join(&base, &rel_to_base),
            };
            let label = self.label(&key);
            files.push(FileRef {
                key,
                label,
                relative,
                size,
                modified,
            });
        }
        files.sort_by(|a, b| a.label.cmp(&b.label));
        if files.is_empty() {
            let what = match (&sel.wildcard_folder, &sel.wildcard_file, &loc.file_name) {
                (None, None, None) => format!("folder '{}' has no files", display_folder(&base)),
                _ => format!(
                    "no file matches {} (folder '{}'{})",
                    sel.wildcard_file
                        .as_deref()
                        .or(loc.file_name.as_deref())
                        .unwrap_or("*"),
                    sel.wildcard_folder.as_deref().unwrap_or(&loc.folder),
                    if sel.recursive { ", recursive" } else { "" }
                ),
            };
            return Err(StoreError::with_kind(
                StoreErrorKind::NotFound,
                format!("{}: {what}", self.describe()),
            ));
        }
        Ok(files)
    }

    /// Every file under `base`, with its path relative to `base`, size and modification time.
    #[allow(clippy::type_complexity)]
    async fn list_under(
        &self,
        base: &str,
    ) -> Result<Vec<(Key, String, u64, Option<DateTime<Utc>>)>, StoreError> {
        match self {
            OpenStore::Local { root } => {
                let dir = local_path(root, base)?;
                let fail = |e: std::io::Error| {
                    StoreError::io(
                        format_args!("{}: cannot list the folder", dir.display()),
                        &e,
                    )
                };
                let real_root = root.canonicalize().map_err(fail)?;
                let mut out = Vec::new();
                walk(&dir, "", &mut out, &real_root, &mut Vec::new()).map_err(fail)?;
                Ok(out)
            }
            OpenStore::Blob { store, .. } => {
                let prefix = blob_prefix(base)?;
                let mut stream = store.list(prefix.as_ref());
                let mut out = Vec::new();
                while let Some(meta) = stream.next().await {
                    let meta = meta.map_err(|e| {
                        StoreError::object_store(
                            format_args!(
                                "{}: cannot list '{}'",
                                self.describe(),
                                display_folder(base)
                            ),
                            &e,
                        )
                    })?;
                    let name = meta.location.to_string();
                    let rel = match rel_path(&name, base) {
                        Some(r) if !r.is_empty() => r,
                        _ => continue,
                    };
                    out.push((
                        Key::Blob(meta.location),
                        rel,
                        meta.size,
                        Some(meta.last_modified),
                    ));
                }
                Ok(out)
            }
        }
    }

    /// Size and modification time; the error's message is the reason alone.
    async fn head(&self, key: &Key) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        match (self, key) {
            (_, Key::Local(p)) => match std::fs::metadata(p) {
                Ok(m) if m.is_file() => Ok((m.len(), m.modified().ok().map(DateTime::<Utc>::from))),
                Ok(_) => Err(StoreError::with_kind(
                    StoreErrorKind::Definition,
                    "is not a regular file",
                )),
                Err(e) => Err(StoreError::with_kind(io_kind(e.kind()), e.to_string())),
            },
            (OpenStore::Blob { store, .. }, Key::Blob(p)) => store
                .head(p)
                .await
                .map(|m| (m.size, Some(m.last_modified)))
                .map_err(|e| {
                    let reason = match &e {
                        object_store::Error::NotFound { .. } => {
                            "not found (no such blob, or the container does not exist)".to_string()
                        }
                        other => describe(other),
                    };
                    StoreError::with_kind(kind_of(&e), reason)
                }),
            (OpenStore::Local { .. }, Key::Blob(_)) => Err(StoreError::new("not a local file")),
        }
    }

    /// Opens a file for reading: in place for local files, downloaded for blobs.
    pub async fn fetch(&self, f: &FileRef) -> Result<Fetched, StoreError> {
        match (self, &f.key) {
            (_, Key::Local(p)) => std::fs::File::open(p)
                .map(|file| Fetched { file })
                .map_err(|e| StoreError::io(format_args!("{}: cannot open", f.label), &e)),
            (OpenStore::Blob { store, .. }, Key::Blob(p)) => {
                let at = format!("{}: cannot download", f.label);
                let io = |e: std::io::Error| StoreError::io(&at, &e);
                let mut file = tempfile::tempfile().map_err(io)?;
                let got = store
                    .get(p)
                    .await
                    .map_err(|e| StoreError::object_store(&at, &e))?;
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| StoreError::object_store(&at, &e))?;
                    file.write_all(&chunk).map_err(|e| {
                        StoreError::io(format_args!("{at}: writing the local copy"), &e)
                    })?;
                }
                file.seek(SeekFrom::Start(0)).map_err(io)?;
                Ok(Fetched { file })
            }
            (OpenStore::Local { .. }, Key::Blob(_)) => {
                Err(StoreError::new(format!("{}: not a local file", f.label)))
            }
        }
    }

    /// Checks a sink's target before any row moves: creates a local folder, or lists the
    /// container (so a missing container or a wrong key fails now, not after the copy).
    pub async fn prepare_folder(&self, folder: &str) -> Result<(), StoreError> {
        match self {
            OpenStore::Local { root } => {
                let dir = local_path(root, folder)?;
                std::fs::create_dir_all(&dir).map_err(|e| {
                    StoreError::io(
                        format_args!("{}: cannot create the folder", dir.display()),
                        &e,
                    )
                })
            }
            OpenStore::Blob { store, .. } => {
                let prefix = blob_prefix(folder)?;
                store
                    .list_with_delimiter(prefix.as_ref())
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        StoreError::with_kind(
                            kind_of(&e),
                            format!(
                                "{}: cannot write: {}",
                                self.describe(),
                                not_found_container(&e)
                            ),
                        )
                    })
            }
        }
    }

    /// A temporary file for `target`: beside it for a local file (so the rename is atomic), in
    /// the system's temporary folder for a blob.
    pub fn stage(&self, target: Key) -> Result<Staged, StoreError> {
        let label = self.label(&target);
        let tmp = match &target {
            Key::Local(p) => {
                let folder = p
                    .parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                let prefix = format!(
                    ".{}.",
                    p.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                );
                tempfile::Builder::new()
                    .prefix(&prefix)
                    .suffix(".tmp")
                    .tempfile_in(&folder)
            }
            Key::Blob(_) => tempfile::Builder::new().prefix("sluice-upload-").tempfile(),
        }
        .map_err(|e| StoreError::io(format_args!("{label}: cannot create a temporary file"), &e))?;
        if let Key::Local(p) = &target {
            if p.is_dir() {
                return Err(StoreError::new(format!("{label}: is a folder, not a file")));
            }
        }
        Ok(Staged { tmp, target, label })
    }

    /// Makes a finished file visible under its name: rename (local) or upload (blob).
    pub async fn publish(&self, staged: Staged) -> Result<(), StoreError> {
        let Staged { tmp, target, label } = staged;
        let at = format!("{label}: cannot write");
        let fail = |kind: StoreErrorKind, reason: String| {
            StoreError::with_kind(kind, format!("{at}: {reason}"))
        };
        let io = |e: std::io::Error| StoreError::io(&at, &e);
        let put = |e: object_store::Error| fail(kind_of(&e), not_found_container(&e));
        match (self, &target) {
            (_, Key::Local(p)) => {
                set_readable(&tmp);
                tmp.persist(p).map(|_| ()).map_err(|e| {
                    StoreError::io(format_args!("{at}: cannot replace the file"), &e.error)
                })
            }
            (OpenStore::Blob { store, .. }, Key::Blob(p)) => {
                let mut file = tmp.reopen().map_err(io)?;
                let size = file.metadata().map_err(io)?.len();
                if size as usize <= UPLOAD_CHUNK {
                    let mut buf = Vec::with_capacity(size as usize);
                    file.read_to_end(&mut buf).map_err(io)?;
                    store.put(p, buf.into()).await.map_err(put)?;
                    return Ok(());
                }
                let upload = store.put_multipart(p).await.map_err(put)?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, UPLOAD_CHUNK);
                let mut buf = vec![0u8; UPLOAD_CHUNK];
                loop {
                    let n = match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) => {
                            let _ = writer.abort().await;
                            return Err(io(e));
                        }
                    };
                    if let Err(e) = writer.wait_for_capacity(4).await {
                        let _ = writer.abort().await;
                        return Err(put(e));
                    }
                    writer.write(buf.get(..n).unwrap_or_default());
                }
                writer.finish().await.map(|_| ()).map_err(put)
            }
            (OpenStore::Local { .. }, Key::Blob(_)) => {
                Err(fail(StoreErrorKind::Other, "not a local file".to_string()))
            }
        }
    }
}

/// A bad wildcard or file name.
fn definition(reason: String) -> StoreError {
    StoreError::with_kind(StoreErrorKind::Definition, reason)
}

/// A NotFound when writing or listing means the container is missing.
fn not_found_container(e: &object_store::Error) -> String {
    match e {
        object_store::Error::NotFound { .. } => "the container does not exist".to_string(),
        other => describe(other),
    }
}

fn display_folder(folder: &str) -> &str {
    if folder.is_empty() {
        "/"
    } else {
        folder
    }
}

fn join(folder: &str, name: &str) -> String {
    match (folder.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => folder.to_string(),
        _ => format!("{folder}/{name}"),
    }
}

/// `path` relative to `folder`, when it is inside it.
fn rel_path(path: &str, folder: &str) -> Option<String> {
    if folder.is_empty() {
        return Some(path.to_string());
    }
    path.strip_prefix(folder)
        .and_then(|r| r.strip_prefix('/'))
        .map(str::to_string)
}

/// `a/b/c`, `a/b`, `a`, `` (the folder itself first).
fn ancestors(dir: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(dir);
    std::iter::from_fn(move || {
        let cur = next?;
        next = if cur.is_empty() {
            None
        } else {
            Some(cur.rsplit_once('/').map_or("", |(p, _)| p))
        };
        Some(cur)
    })
}

/// Regular files under `dir`, relative paths with `/`. Symbolic links are followed only while
/// they lead inside the resolved root `real_root`, and never into a folder being walked
/// (`walking`: the resolved folders from the top down to `dir`), so a link cannot take the
/// listing out of the store or round in a loop.
#[allow(clippy::type_complexity)]
fn walk(
    dir: &Path,
    rel: &str,
    out: &mut Vec<(Key, String, u64, Option<DateTime<Utc>>)>,
    real_root: &Path,
    walking: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let real_dir = dir.canonicalize()?;
    if walking.contains(&real_dir) {
        return Ok(());
    }
    walking.push(real_dir);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Temporary files of a sink writing into this folder right now.
        if name.starts_with('.') && name.ends_with(".tmp") {
            continue;
        }
        let child = join(rel, &name);
        if entry.file_type()?.is_symlink() && !inside(real_root, &path) {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => out.push((
                Key::Local(path),
                child,
                m.len(),
                m.modified().ok().map(DateTime::<Utc>::from),
            )),
            Ok(m) if m.is_dir() => walk(&path, &child, out, real_root, walking)?,
            _ => {}
        }
    }
    walking.pop();
    Ok(())
}

/// Temporary files are created private (0600); a data file should have the usual 0644.
fn set_readable(tmp: &tempfile::NamedTempFile) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644));
    }
    #[cfg(not(unix))]
    let _ = tmp;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(ancestors("a/b").collect::<Vec<_>>(), vec!["a/b", "a", ""]);
        assert_eq!(rel_path("in/x/y.csv", "in").as_deref(), Some("x/y.csv"));
        assert_eq!(rel_path("inx/y.csv", "in"), None);
        assert!(glob("*.csv").unwrap().is_match("a.csv"));
        assert!(!glob("*.csv").unwrap().is_match("d/a.csv"));
    }

    #[tokio::test]
    async fn lists_with_wildcards_recursively_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "in/b.csv",
            "in/a.csv",
            "in/x.txt",
            "in/sub/c.csv",
            "other/d.csv",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "1\n").unwrap();
        }
        let store = OpenStore::Local {
            root: dir.path().to_path_buf(),
        };
        let loc = FileLocation {
            store: StoreRef::Local {
                root: dir.path().to_path_buf(),
            },
            folder: "in".into(),
            file_name: None,
        };
        let rel = |files: Vec<FileRef>| files.into_iter().map(|f| f.relative).collect::<Vec<_>>();
        let mut sel = Selection {
            recursive: true,
            ..Selection::default()
        };
        assert_eq!(
            rel(store.list(&loc, &sel).await.unwrap()),
            ["a.csv", "b.csv", "sub/c.csv", "x.txt"]
        );
        sel.wildcard_file = Some("*.csv".into());
        sel.recursive = false;
        assert_eq!(
            rel(store.list(&loc, &sel).await.unwrap()),
            ["a.csv", "b.csv"]
        );
        sel.wildcard_folder = Some("o*".into());
        assert_eq!(rel(store.list(&loc, &sel).await.unwrap()), ["other/d.csv"]);
        sel.wildcard_file = Some("*.parquet".into());
        let e = store.list(&loc, &sel).await.unwrap_err().to_string();
        assert!(e.contains("no file matches *.parquet"), "{e}");
    }
}
