//! Temporary directories for tests that remove themselves when dropped, so a
//! test run leaves nothing behind in `/tmp`. A failing test's directory is kept
//! for a look when `BIGSTEP_KEEP_TMP=1` is set (its path is printed).

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create `$TMPDIR/bigstep-test-TAG-PID-N`.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("bigstep-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Dropped while unwinding: the test failed.
        if std::thread::panicking()
            && std::env::var_os("BIGSTEP_KEEP_TMP").is_some_and(|v| v == "1")
        {
            eprintln!("BIGSTEP_KEEP_TMP=1: kept {}", self.path.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for TempDir {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}

#[cfg(test)]
mod tests {
    use super::TempDir;

    #[test]
    fn removes_its_directory_with_what_is_in_it() {
        let dir = TempDir::new("guard");
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/file"), b"x").unwrap();
        let path = dir.to_path_buf();
        assert!(path.is_dir());
        drop(dir);
        assert!(!path.exists(), "{} is still there", path.display());
    }

    #[test]
    fn two_guards_never_share_a_directory() {
        let (a, b) = (TempDir::new("same"), TempDir::new("same"));
        assert_ne!(a.path(), b.path());
    }

    #[test]
    fn a_failing_test_removes_it_too_unless_asked_to_keep_it() {
        // Without BIGSTEP_KEEP_TMP=1 (the test run's own environment decides;
        // it is not set in CI) a panic still removes the directory.
        let keep = std::env::var_os("BIGSTEP_KEEP_TMP").is_some_and(|v| v == "1");
        let path = std::thread::spawn(|| {
            let dir = TempDir::new("panic");
            let path = dir.to_path_buf();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                let _dir = dir;
                panic!("a failing test");
            }));
            assert!(r.is_err());
            path
        })
        .join()
        .unwrap();
        assert_eq!(path.exists(), keep, "{}", path.display());
        if keep {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}
