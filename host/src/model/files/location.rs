//! Where a file dataset's files are (`typeProperties.location` on a `FileServer`,
//! `AzureBlobStorage` or `AzureBlobFS` linked service) and which of them a source reads (`storeSettings`):
//! settings read from ADF JSON without touching any store. The listing, fetching and publishing
//! live with the file stores.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use globset::{Glob, GlobBuilder, GlobMatcher};

use super::blob_account::{BlobAccount, StorageService};
use super::confine::{self, confined, PathKind};
use crate::model::linked_service::LinkedService;
use crate::model::props::Props;
use crate::ModelError;

/// The store a dataset's files are in.
#[derive(Debug, Clone)]
pub enum StoreRef {
    /// A local folder: the `FileServer` linked service's `host`.
    Local { root: PathBuf },
    /// A container of an Azure Blob Storage account (an ADLS Gen2 file system).
    Blob {
        account: BlobAccount,
        container: String,
    },
}

/// A dataset's `location`.
#[derive(Debug, Clone)]
pub struct FileLocation {
    pub store: StoreRef,
    /// `folderPath`, `/`-separated, without leading or trailing `/` (may be empty).
    pub folder: String,
    /// `fileName`; `None` when not set (a whole folder, wildcards, or generated sink names).
    pub file_name: Option<String>,
}

/// Location types, by the linked service they belong to.
const LOCAL_LOCATIONS: [&str; 2] = ["FileServerLocation", "LocalLocation"];

const BLOB_LOCATION: &str = "AzureBlobStorageLocation";

/// ADLS Gen2 (`AzureBlobFS`): the container is the `fileSystem`.
const ADLS_LOCATION: &str = "AzureBlobFSLocation";

impl FileLocation {
    /// Whether paths in this location are a local folder's or a blob container's.
    pub fn path_kind(&self) -> PathKind {
        match self.store {
            StoreRef::Local { .. } => PathKind::Local,
            StoreRef::Blob { .. } => PathKind::Blob,
        }
    }

    /// Reads the dataset's `typeProperties.location` on `linked` (named `ls_name`).
    pub fn from_props(
        tp: &Props<'_>,
        linked: &LinkedService,
        ls_name: &str,
    ) -> Result<FileLocation, ModelError> {
        let loc = tp
            .object("location")?
            .ok_or_else(|| tp.err("location", "is required"))?;
        let ty = loc.req_str("type")?;
        let kind = match linked {
            LinkedService::AzureBlob(_) => PathKind::Blob,
            _ => PathKind::Local,
        };
        let folder = confined(
            &loc,
            "folderPath",
            loc.str("folderPath")?.unwrap_or(""),
            kind,
        )?;
        let file_name = loc
            .str("fileName")?
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string);
        if let Some(f) = &file_name {
            confine::file_name(&loc, "fileName", f)?;
        }
        let store = match linked {
            LinkedService::Files { root } => {
                if !LOCAL_LOCATIONS.contains(&ty) {
                    return Err(loc.err(
                        "type",
                        format!("'{ty}' does not fit FileServer linked service '{ls_name}'; use FileServerLocation"),
                    ));
                }
                StoreRef::Local { root: root.clone() }
            }
            LinkedService::AzureBlob(account) => {
                let (expected, ls_type, container_key) = match account.service {
                    StorageService::Blob => (BLOB_LOCATION, "AzureBlobStorage", "container"),
                    StorageService::DataLake => (ADLS_LOCATION, "AzureBlobFS", "fileSystem"),
                };
                if ty != expected {
                    return Err(loc.err(
                        "type",
                        format!("'{ty}' does not fit {ls_type} linked service '{ls_name}'; use {expected}"),
                    ));
                }
                let container = loc
                    .str(container_key)?
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| loc.err(container_key, "is required"))?;
                confine::container_name(&loc, container_key, container)?;
                StoreRef::Blob {
                    account: account.clone(),
                    container: container.to_string(),
                }
            }
            _ => {
                return Err(tp.err(
                    "location",
                    format!("linked service '{ls_name}' is not a file store (FileServer, AzureBlobStorage or AzureBlobFS)"),
                ))
            }
        };
        Ok(FileLocation {
            store,
            folder,
            file_name,
        })
    }
}

/// Which files a source reads (`storeSettings`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `recursive` (ADF's default: true): also files in subfolders.
    pub recursive: bool,
    /// `wildcardFolderPath`: `*` and `?` in folder names (replaces the dataset's folderPath).
    pub wildcard_folder: Option<String>,
    /// `wildcardFileName`: `*` and `?` in file names (replaces the dataset's fileName).
    pub wildcard_file: Option<String>,
    /// `modifiedDatetimeStart` (inclusive) / `modifiedDatetimeEnd` (exclusive).
    pub modified_start: Option<DateTime<Utc>>,
    pub modified_end: Option<DateTime<Utc>>,
}

impl Selection {
    /// A source's `storeSettings`, for a location whose paths are `kind`.
    pub fn from_props(s: Option<&Props<'_>>, kind: PathKind) -> Result<Selection, ModelError> {
        let mut sel = Selection {
            recursive: true,
            ..Selection::default()
        };
        let Some(s) = s else { return Ok(sel) };
        s.accept("type");
        s.accept("maxConcurrentConnections");
        if let Some(r) = s.bool("recursive")? {
            sel.recursive = r;
        }
        if let Some(w) = non_empty(s.str("wildcardFolderPath")?) {
            let w = confined(s, "wildcardFolderPath", w, kind)?;
            glob(&w).map_err(|e| s.err("wildcardFolderPath", e))?;
            sel.wildcard_folder = Some(w);
        }
        if let Some(w) = non_empty(s.str("wildcardFileName")?) {
            // Matched against file names only; a `/` would silently match nothing.
            if w.contains('/') {
                return Err(s.err(
                    "wildcardFileName",
                    format!("'{w}' must be a file name pattern without folders; put folders in wildcardFolderPath"),
                ));
            }
            glob(w).map_err(|e| s.err("wildcardFileName", e))?;
            sel.wildcard_file = Some(w.to_string());
        }
        for (key, slot) in [
            ("modifiedDatetimeStart", &mut sel.modified_start),
            ("modifiedDatetimeEnd", &mut sel.modified_end),
        ] {
            if let Some(t) = s.str(key)?.map(str::trim).filter(|t| !t.is_empty()) {
                let parsed = DateTime::parse_from_rfc3339(t)
                    .map(|d| d.with_timezone(&Utc))
                    .or_else(|_| {
                        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
                            .map(|n| n.and_utc())
                    })
                    .map_err(|e| {
                        s.err(
                            key,
                            format!("'{t}' is not a date-time (YYYY-MM-DDTHH:MM:SSZ): {e}"),
                        )
                    })?;
                *slot = Some(parsed);
            }
        }
        Ok(sel)
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// ADF wildcards: `*` any run of characters, `?` one character, never across a `/`.
pub fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g: Glob| g.compile_matcher())
        .map_err(|e| format!("'{pattern}' is not a valid wildcard: {e}"))
}
