//! Whether the compiled-code cache may be used at all, and the seal on every file in it.
//!
//! Deserializing a cache file makes its bytes executable native code without any check of what
//! that code does, so a file must provably be this installation's own output for exactly the
//! wasm it is looked up for. Two defences:
//! - the directory: it (and each directory above it) must be one nobody but the user (or root)
//!   can change; the cache directory itself must be the user's and writable by nobody else. A
//!   directory that fails is not used at all (see [`UntrustedCache`]).
//! - the file: each carries an HMAC-SHA256, keyed with a random per-installation key (32 bytes,
//!   `cache.key`, 0600, in the cache directory) over the engine's compatibility key, the wasm's
//!   sha256 and the compiled bytes. A file renamed to another plugin's name, copied from another
//!   installation or altered fails the check and is recompiled, never run.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Name of the key file inside the cache directory.
pub(super) const KEY_FILE: &str = "cache.key";
const KEY_LEN: usize = 32;
/// Leads every cache file: format and version of the seal.
const MAGIC: &[u8; 8] = b"SLCWASM1";
const TAG_LEN: usize = 32;

/// Why the cache directory is not used. The runtime then compiles without a disk cache: the
/// cache only saves time, and a directory that is not used cannot feed the process code, so
/// refusing it (loudly) is safe while failing every run would only cost availability.
#[derive(Debug, thiserror::Error)]
#[error("plugin cache {}: {reason}", .path.display())]
pub struct UntrustedCache {
    /// The directory or key file at fault.
    pub path: PathBuf,
    pub reason: String,
}

/// A cache directory that passed the checks, and its key.
pub(super) struct DiskCache {
    pub(super) dir: PathBuf,
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("DiskCache").field("dir", &self.dir).finish()
    }
}

impl DiskCache {
    /// Creates `dir` (0700) when missing, checks it and the directories above it, and reads the
    /// key (creating it, 0600, on first use).
    pub(super) fn open(dir: &Path) -> Result<DiskCache, UntrustedCache> {
        let refuse = |path: &Path, reason: String| UntrustedCache {
            path: path.to_path_buf(),
            reason,
        };
        create_private_dir(dir).map_err(|e| refuse(dir, format!("cannot create it: {e}")))?;
        let real = dir
            .canonicalize()
            .map_err(|e| refuse(dir, format!("cannot resolve it: {e}")))?;
        ownership::check_dir(&real).map_err(|reason| refuse(dir, reason))?;
        for ancestor in real.ancestors().skip(1) {
            ownership::check_ancestor(ancestor).map_err(|reason| {
                refuse(
                    dir,
                    format!("the directory above it, {}, {reason}", ancestor.display()),
                )
            })?;
        }
        let key_path = real.join(KEY_FILE);
        let key = read_or_create_key(&key_path).map_err(|reason| refuse(&key_path, reason))?;
        Ok(DiskCache { dir: real, key })
    }

    /// The seal of compiled `code` for the wasm with `sha256`, compiled by the engine with
    /// `engine_key`.
    fn tag(
        &self,
        engine_key: &str,
        sha256: &str,
        code: &[u8],
    ) -> Result<Hmac<Sha256>, &'static str> {
        // HMAC takes keys of any length: this cannot fail, but must not panic either.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).map_err(|_| "unusable key")?;
        for part in [engine_key.as_bytes(), b"\0", sha256.as_bytes(), b"\0", code] {
            mac.update(part);
        }
        Ok(mac)
    }

    /// The file as written: magic, seal, compiled code.
    pub(super) fn seal(
        &self,
        engine_key: &str,
        sha256: &str,
        code: &[u8],
    ) -> Result<Vec<u8>, &'static str> {
        let tag = self.tag(engine_key, sha256, code)?.finalize().into_bytes();
        let mut out = Vec::with_capacity(MAGIC.len() + TAG_LEN + code.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&tag);
        out.extend_from_slice(code);
        Ok(out)
    }

    /// The compiled code of a cache file whose seal holds for this engine and wasm, else why
    /// not (compared in constant time).
    pub(super) fn unseal<'a>(
        &self,
        engine_key: &str,
        sha256: &str,
        file: &'a [u8],
    ) -> Result<&'a [u8], &'static str> {
        let header = MAGIC.len() + TAG_LEN;
        if file.len() < header || &file[..MAGIC.len()] != MAGIC {
            return Err("not a sealed sluice cache file");
        }
        let (tag, code) = (&file[MAGIC.len()..header], &file[header..]);
        self.tag(engine_key, sha256, code)?
            .verify_slice(tag)
            .map_err(|_| "its seal does not match this installation's key and this plugin")?;
        Ok(code)
    }

    /// Writes `bytes` to `file` atomically (a private temp file in the same directory, then a
    /// rename), readable and writable by the user only.
    pub(super) fn write(&self, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut tmp = private_temp(&self.dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(file).map_err(|e| e.error)?;
        Ok(())
    }
}

fn private_temp(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut b = tempfile::Builder::new();
    b.prefix(".tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o600));
    }
    b.tempfile_in(dir)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Reads the installation key, or creates it: 32 random bytes, 0600, published with a
/// no-clobber link so two processes starting at once agree on one key.
fn read_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], String> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => read_key(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().ok_or("the key file has no directory")?;
            let mut key = [0u8; KEY_LEN];
            random_bytes(&mut key).map_err(|e| format!("cannot make a key: {e}"))?;
            let mut tmp = private_temp(dir).map_err(|e| format!("cannot write it: {e}"))?;
            tmp.write_all(&key)
                .and_then(|()| tmp.as_file().sync_all())
                .map_err(|e| format!("cannot write it: {e}"))?;
            match tmp.persist_noclobber(path) {
                Ok(_) => Ok(key),
                // Another process made one first: use that.
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => read_key(path),
                Err(e) => Err(format!("cannot write it: {}", e.error)),
            }
        }
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}

fn read_key(path: &Path) -> Result<[u8; KEY_LEN], String> {
    ownership::check_key(path)?;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| format!("it holds {} bytes, not {KEY_LEN}", bytes.len()))
}

fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(unix)]
mod ownership {
    //! Owner and mode checks (Unix).

    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::Path;

    const WRITABLE_BY_OTHERS: u32 = 0o022;
    const WORLD_WRITABLE: u32 = 0o002;
    const STICKY: u32 = 0o1000;

    fn current_user() -> u32 {
        // SAFETY: geteuid has no preconditions, cannot fail and touches no memory of ours.
        unsafe { libc::geteuid() }
    }

    fn current_group() -> u32 {
        // SAFETY: as geteuid.
        unsafe { libc::getegid() }
    }

    fn owner_name(uid: u32) -> String {
        if uid == 0 {
            "root".into()
        } else {
            format!("user {uid}")
        }
    }

    /// The cache directory itself: a real directory, the user's, writable by nobody else.
    pub(super) fn check_dir(dir: &Path) -> Result<(), String> {
        let m = std::fs::metadata(dir).map_err(|e| format!("cannot read it: {e}"))?;
        if !m.is_dir() {
            return Err("it is not a directory".into());
        }
        let me = current_user();
        if m.uid() != me {
            return Err(format!(
                "it belongs to {}, not to the user running sluice ({}); it could hold code planted by its owner",
                owner_name(m.uid()),
                owner_name(me)
            ));
        }
        if m.mode() & WRITABLE_BY_OTHERS != 0 {
            return Err(format!(
                "its mode {:o} lets other users write to it; run chmod go-w on it (or chmod 700)",
                m.mode() & 0o7777
            ));
        }
        Ok(())
    }

    /// A directory above the cache: anyone able to change it could swap the cache directory,
    /// unless it is sticky (like /tmp: entries can only be renamed by their owner). Writable by
    /// the user's own primary group is let through: with per-user groups and umask 002 (the
    /// default of several distributions) that is how `~/.cache` is made, and the group is the
    /// user alone.
    pub(super) fn check_ancestor(dir: &Path) -> Result<(), String> {
        let m = std::fs::metadata(dir).map_err(|e| format!("cannot be read: {e}"))?;
        let me = current_user();
        if m.uid() != me && m.uid() != 0 {
            return Err(format!(
                "belongs to {}, who could replace the cache",
                owner_name(m.uid())
            ));
        }
        let own_group = m.gid() == current_group();
        let writable = if own_group {
            m.mode() & WORLD_WRITABLE
        } else {
            m.mode() & WRITABLE_BY_OTHERS
        };
        if writable != 0 && m.mode() & STICKY == 0 {
            return Err(format!(
                "has mode {:o}: other users could replace the cache",
                m.mode() & 0o7777
            ));
        }
        Ok(())
    }

    /// The key: a regular file (not a link), the user's, readable by nobody else.
    pub(super) fn check_key(path: &Path) -> Result<(), String> {
        let m = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
        let t = m.file_type();
        if !t.is_file() || t.is_symlink() || t.is_fifo() {
            return Err("it is not a regular file".into());
        }
        if m.uid() != current_user() {
            return Err(format!("it belongs to {}", owner_name(m.uid())));
        }
        if m.mode() & 0o077 != 0 {
            return Err(format!(
                "its mode {:o} lets other users read or change it; it must be 600",
                m.mode() & 0o7777
            ));
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod ownership {
    //! Ownership cannot be checked here: the disk cache is never trusted.

    use std::path::Path;

    pub(super) fn check_dir(_dir: &Path) -> Result<(), String> {
        Err(
            "this platform's file ownership cannot be checked; compiled code is not cached on disk"
                .into(),
        )
    }

    pub(super) fn check_ancestor(_dir: &Path) -> Result<(), String> {
        Ok(())
    }

    pub(super) fn check_key(_path: &Path) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_binds_engine_plugin_and_code() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(&dir.path().join("c")).unwrap();
        let file = cache.seal("e1", "aaaa", b"code").unwrap();
        assert_eq!(cache.unseal("e1", "aaaa", &file), Ok(&b"code"[..]));
        assert!(cache.unseal("e1", "bbbb", &file).is_err(), "other plugin");
        assert!(cache.unseal("e2", "aaaa", &file).is_err(), "other engine");
        let mut altered = file.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(
            cache.unseal("e1", "aaaa", &altered).is_err(),
            "altered code"
        );
        assert!(cache.unseal("e1", "aaaa", b"short").is_err());
        // The same directory opened again reads the same key.
        let again = DiskCache::open(&dir.path().join("c")).unwrap();
        assert_eq!(again.unseal("e1", "aaaa", &file), Ok(&b"code"[..]));
        // Debug output never shows the key.
        assert!(!format!("{cache:?}").contains("key"));
    }
}
