//! Where the account and the certificates live between runs: a directory.
//!
//! ```text
//! <storage>/<issuer>/account.json        ACME account (id + private key), 0600
//! <storage>/<issuer>/<name>/chain.pem    certificate chain, 0644
//! <storage>/<issuer>/<name>/key.pem      certificate key, 0600
//! ```
//!
//! `<issuer>` is the directory URL's host, port and path made file-safe
//! (`acme-v02.api.letsencrypt.org_directory`), so a staging account or
//! certificate is never taken for a production one. `<name>` is the first
//! configured domain. Directories are created 0700.
//!
//! Every write goes to a temporary file created with its final mode, is
//! synced, and is renamed over the old file: a crash leaves the old file or
//! the new one, never half of one, and a key is never readable by others even
//! for a moment. The files are tiny and written once per renewal, so plain
//! blocking I/O is used.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::{Error, Issued};

/// The storage directory for one ACME directory URL.
#[derive(Debug, Clone)]
pub(crate) struct DirStore {
    dir: PathBuf,
}

impl DirStore {
    pub(crate) fn new(root: &Path, directory_url: &str) -> DirStore {
        DirStore {
            dir: root.join(issuer_dir(directory_url)),
        }
    }

    pub(crate) fn account_path(&self) -> PathBuf {
        self.dir.join("account.json")
    }

    pub(crate) fn cert_dir(&self, name: &str) -> PathBuf {
        self.dir.join(safe_name(name))
    }

    /// Fail early (at start, not at the first order) when the directory
    /// cannot be created or written.
    pub(crate) fn check_writable(&self) -> Result<(), Error> {
        create_dir(&self.dir)?;
        let probe = self.dir.join(".write-test");
        write_atomic(&probe, b"", 0o600)?;
        let _ = fs::remove_file(&probe);
        Ok(())
    }

    /// The stored account credentials (JSON), if any.
    pub(crate) fn load_account(&self) -> Result<Option<String>, Error> {
        let path = self.account_path();
        warn_if_readable_by_others(&path);
        read_optional(&path)
    }

    pub(crate) fn save_account(&self, json: &str) -> Result<(), Error> {
        create_dir(&self.dir)?;
        write_atomic(&self.account_path(), json.as_bytes(), 0o600)
    }

    /// The stored certificate for `name`, if both files are there.
    pub(crate) fn load_cert(&self, name: &str) -> Result<Option<(String, String)>, Error> {
        let dir = self.cert_dir(name);
        let key_path = dir.join("key.pem");
        let (Some(chain), Some(key)) = (read_optional(&dir.join("chain.pem"))?, {
            warn_if_readable_by_others(&key_path);
            read_optional(&key_path)?
        }) else {
            return Ok(None);
        };
        Ok(Some((chain, key)))
    }

    pub(crate) fn save_cert(&self, name: &str, issued: &Issued) -> Result<(), Error> {
        let dir = self.cert_dir(name);
        create_dir(&self.dir)?;
        create_dir(&dir)?;
        // Key first: a crash between the two leaves a new key with the old
        // chain, which the loader refuses (mismatch) and orders anew, rather
        // than a new chain with an old key being served.
        write_atomic(&dir.join("key.pem"), issued.key_pem.as_bytes(), 0o600)?;
        write_atomic(&dir.join("chain.pem"), issued.chain_pem.as_bytes(), 0o644)
    }
}

/// `https://acme-v02.api.letsencrypt.org/directory` →
/// `acme-v02.api.letsencrypt.org_directory`.
pub(crate) fn issuer_dir(directory_url: &str) -> String {
    let rest = directory_url
        .split_once("://")
        .map_or(directory_url, |(_, r)| r);
    safe_name(rest.trim_end_matches('/'))
}

/// Letters, digits, `.` and `-` kept; everything else becomes `_` (so no
/// `/`, no `..` component, no `*`).
fn safe_name(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        format!("_{out}")
    } else {
        out
    }
}

fn create_dir(dir: &Path) -> Result<(), Error> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::storage(dir, e))
}

fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::storage(path, e)),
    }
}

fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode; widen a public file back.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            fs::File::open(parent)?.sync_all()?;
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::storage(path, e)
    })
}

/// A key others can read is a leak waiting to happen: say so (the path only,
/// never the content).
fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "acme: key file is readable by group or others; chmod 600 it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_and_names_are_file_safe() {
        assert_eq!(
            issuer_dir("https://acme-v02.api.letsencrypt.org/directory"),
            "acme-v02.api.letsencrypt.org_directory"
        );
        assert_eq!(
            issuer_dir("https://127.0.0.1:14000/dir/"),
            "127.0.0.1_14000_dir"
        );
        assert_eq!(safe_name("../../etc"), ".._.._etc");
        assert_eq!(safe_name(".."), "_..");
        assert_eq!(safe_name("*.Example.com"), "_.example.com");
    }
}
