//! Where a file dataset's files are (`typeProperties.location` on a `FileServer` or
//! `AzureBlobStorage` linked service) and which of them a source reads (`storeSettings`):
//! settings read from ADF JSON without touching any store. The listing, fetching and publishing
//! live with the file stores.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use globset::{Glob, GlobBuilder, GlobMatcher};

use super::blob_account::BlobAccount;
use crate::model::linked_service::LinkedService;
use crate::model::props::Props;
use crate::ModelError;

/// The store a dataset's files are in.
#[derive(Debug, Clone)]
pub enum StoreRef {
    /// A local folder: the `FileServer` linked service's `host`.
    Local { root: PathBuf },
    /// A container of an Azure Blob Storage account.
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

impl FileLocation {
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
        let folder = normalize(loc.str("folderPath")?.unwrap_or(""));
        let file_name = loc
            .str("fileName")?
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string);
        if let Some(f) = &file_name {
            if f.contains('/') || f.contains('\\') {
                return Err(loc.err(
                    "fileName",
                    format!("'{f}' must be a file name without folders; put folders in folderPath"),
                ));
            }
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
                if ty != BLOB_LOCATION {
                    return Err(loc.err(
                        "type",
                        format!("'{ty}' does not fit AzureBlobStorage linked service '{ls_name}'; use {BLOB_LOCATION}"),
                    ));
                }
                let container = loc
                    .str("container")?
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| loc.err("container", "is required"))?;
                StoreRef::Blob {
                    account: account.clone(),
                    container: container.to_string(),
                }
            }
            _ => {
                return Err(tp.err(
                    "location",
                    format!("linked service '{ls_name}' is not a file store (FileServer or AzureBlobStorage)"),
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

/// `a\b/`, `/a/b` to `a/b`.
pub fn normalize(folder: &str) -> String {
    folder
        .replace('\\', "/")
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("/")
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
    /// A source's `storeSettings`.
    pub fn from_props(s: Option<&Props<'_>>) -> Result<Selection, ModelError> {
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
        for (key, slot) in [
            ("wildcardFolderPath", &mut sel.wildcard_folder),
            ("wildcardFileName", &mut sel.wildcard_file),
        ] {
            if let Some(w) = s.str(key)?.map(str::trim).filter(|w| !w.is_empty()) {
                let w = if key == "wildcardFolderPath" {
                    normalize(w)
                } else {
                    w.to_string()
                };
                glob(&w).map_err(|e| s.err(key, e))?;
                *slot = Some(w);
            }
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

/// ADF wildcards: `*` any run of characters, `?` one character, never across a `/`.
pub fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g: Glob| g.compile_matcher())
        .map_err(|e| format!("'{pattern}' is not a valid wildcard: {e}"))
}
