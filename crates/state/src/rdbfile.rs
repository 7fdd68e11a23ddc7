//! Writing `dump.rdb` (SAVE, BGSAVE) and what LASTSAVE reports.
//!
//! The bytes come from [`crate::rdb::encode_file`]; this module only puts
//! them on disk the crash-safe way Redis does: a temporary file in the same
//! directory, fsync, rename over the old file, fsync the directory. A crash
//! at any point leaves either the old file or the new one, never half of one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The file's name (dbfilename is a protected parameter, so this one), and
/// the one looked for at start.
pub(crate) const DEFAULT_NAME: &str = "dump.rdb";

/// Save bookkeeping shared by the SAVE/BGSAVE handlers and the background
/// thread (atomics, so the thread finishes without taking the store lock).
#[derive(Debug, Default)]
pub(crate) struct SaveStatus {
    /// Unix seconds of the last successful save (LASTSAVE); the start time
    /// until the first save, as in Redis.
    pub(crate) last_save: AtomicU64,
    /// A BGSAVE is running.
    pub(crate) in_progress: AtomicBool,
    /// The last save failed.
    pub(crate) last_failed: AtomicBool,
    /// The store's change counter as of the last successful save (INFO's
    /// `rdb_changes_since_last_save` is the difference).
    pub(crate) dirty_at_save: AtomicU64,
}

impl SaveStatus {
    /// Status for a server started at `unix_secs`.
    pub(crate) fn new(unix_secs: u64) -> SaveStatus {
        let s = SaveStatus::default();
        s.last_save.store(unix_secs, Ordering::Relaxed);
        s
    }

    /// Records the outcome of a save of the keyspace as it was at change
    /// count `dirty`, finished at `unix_secs`.
    pub(crate) fn finish(&self, ok: bool, dirty: u64, unix_secs: u64) {
        if ok {
            self.last_save.store(unix_secs, Ordering::SeqCst);
            self.dirty_at_save.store(dirty, Ordering::SeqCst);
        }
        self.last_failed.store(!ok, Ordering::SeqCst);
    }
}

/// Writes `data` to `dir/name` atomically.
pub(crate) fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> io::Result<PathBuf> {
    if name.is_empty() || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "dbfilename must be a plain file name",
        ));
    }
    fs::create_dir_all(dir)?;
    let path = dir.join(name);
    let tmp = dir.join(format!("temp-{}-{}.rdb", std::process::id(), name));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| path)
}
