//! Why the append-only log failed: a leaf, so what the server shares with the
//! log's writer (`shared`) can hold the error without importing the log back.

use std::io;
use std::path::PathBuf;

/// Why the log could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AofError {
    /// I/O.
    #[error("append-only log {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// Bad bytes before the end of the file: we refuse to guess.
    #[error("append-only log {path} is corrupt at byte {offset} of {len}: {reason}. Refusing to start; repair or move the file (the tail after a corrupt record cannot be trusted)")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// Offset of the bad record.
        offset: usize,
        /// File length.
        len: usize,
        /// What was wrong.
        reason: String,
    },
    /// Writing or syncing the log failed while running. The server stops:
    /// acknowledging writes it could not log would be a lie.
    #[error("append-only log {path}: {op} failed: {error}; stopped so that no write is acknowledged without being logged")]
    Failed {
        /// File.
        path: PathBuf,
        /// `write` or `fsync`.
        op: &'static str,
        /// Cause (in the message, not a `source`, so error chains say it once).
        error: io::Error,
    },
}
