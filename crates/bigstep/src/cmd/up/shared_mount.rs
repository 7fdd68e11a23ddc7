//! `bigstep up --shared-mount DIR`: the site's files bucket mounted as a
//! directory for each instance, `DIR/app-N`, with `rclone mount` (FUSE) — the
//! shared-directory recipe of `crates/files/README.md`, for apps whose file code
//! cannot change yet. Each instance finds its mount in `BIGSTEP_SHARED_DIR`;
//! a file written through one mount is read through the others, as on hosts
//! sharing a network directory.
//!
//! Mounted before the instances start, unmounted after they stop. Each rclone
//! runs under the launcher (`up --supervised-by`), so it dies with `up` even on
//! `kill -9`; a mount left behind by such a death is cleared before mounting
//! again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::backends::{FilesRunning, BUCKET};

/// The variable that tells an instance where its mount is.
pub(crate) const ENV: &str = "BIGSTEP_SHARED_DIR";

/// How long a mount may take to appear.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where each instance's mount is: `DIR/<instance name>`.
#[derive(Clone, Debug)]
pub(crate) struct Paths {
    base: PathBuf,
}

impl Paths {
    pub(crate) fn of(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }
}

/// The running mounts; unmounted on drop.
pub(crate) struct SharedMounts {
    paths: Paths,
    mounts: Vec<Mount>,
    /// rclone's (empty) config file and write caches, removed on drop.
    work: PathBuf,
}

struct Mount {
    dir: PathBuf,
    child: Child,
}

impl SharedMounts {
    /// Mounts the bucket at `DIR/<name>` for each of `names`; an error names
    /// what is missing when FUSE or rclone cannot be used.
    pub(crate) fn start(
        base: &Path,
        names: &[String],
        files: &FilesRunning,
        launcher: &Path,
    ) -> anyhow::Result<SharedMounts> {
        if let Some(why) = fuse_unusable() {
            bail!(
                "--shared-mount needs FUSE and rclone: {why}. Install them (Debian: apt-get install \
                 rclone fuse3); in a container, also pass /dev/fuse through (docker run --device \
                 /dev/fuse --cap-add SYS_ADMIN)"
            );
        }
        std::fs::create_dir_all(base)
            .with_context(|| format!("--shared-mount: cannot create {}", base.display()))?;
        let base = base
            .canonicalize()
            .with_context(|| format!("--shared-mount: cannot resolve {}", base.display()))?;
        let work = std::env::temp_dir().join(format!("bigstep-up-mounts-{}", std::process::id()));
        std::fs::create_dir_all(&work).context("cannot create rclone's cache directory")?;
        // rclone wants its config file to exist; the remote is in the environment.
        std::fs::write(work.join("rclone.conf"), "").context("cannot write rclone's config")?;
        let mut mounts = SharedMounts {
            paths: Paths { base },
            mounts: Vec::new(),
            work,
        };
        for name in names {
            let dir = mounts.paths.of(name);
            let m = mount(&dir, &mounts.work.join(name), files, launcher)?;
            mounts.mounts.push(m);
        }
        Ok(mounts)
    }

    pub(crate) fn paths(&self) -> Paths {
        self.paths.clone()
    }

    /// The banner line.
    pub(crate) fn describe(&self) -> String {
        format!(
            "bigstep up: shared mount: bucket `{BUCKET}` at {}/app-N for each instance (rclone mount; ${ENV})\n",
            self.paths.base.display()
        )
    }
}

impl Drop for SharedMounts {
    fn drop(&mut self) {
        for m in &mut self.mounts {
            // rclone uploads files still in its write cache when it is unmounted.
            unmount(&m.dir, false);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(m.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if matches!(m.child.try_wait(), Ok(None)) {
                let _ = m.child.kill();
                unmount(&m.dir, true);
            }
            let _ = m.child.wait();
            let _ = std::fs::remove_dir(&m.dir);
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// Starts one `rclone mount` at `dir` and waits until the kernel lists it.
fn mount(dir: &Path, cache: &Path, files: &FilesRunning, launcher: &Path) -> anyhow::Result<Mount> {
    // A mount left by an earlier `up` that was killed: "transport endpoint is
    // not connected" until it is cleared.
    if is_mounted(dir) {
        unmount(dir, true);
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--shared-mount: cannot create {}", dir.display()))?;
    std::fs::create_dir_all(cache).context("cannot create rclone's cache directory")?;
    let log = cache.join("rclone.log");
    let config = cache
        .parent()
        .map(|w| w.join("rclone.conf"))
        .unwrap_or_default();
    let child = Command::new(launcher)
        .args(["up", "--supervised-by"])
        .arg(std::process::id().to_string())
        .args(["--", "rclone", "mount"])
        .arg(format!("bs:{BUCKET}"))
        .arg(dir)
        // The README's recipe: a write goes to a local cache file and is uploaded
        // whole on close, so a reader never sees half a file.
        .args(["--vfs-cache-mode", "writes", "--vfs-write-back", "0s"])
        // How long one instance may miss another's new files.
        .args(["--dir-cache-time", "1s", "--poll-interval", "0"])
        .arg("--cache-dir")
        .arg(cache)
        .arg("--log-file")
        .arg(&log)
        .env("RCLONE_CONFIG", config)
        .env("RCLONE_CONFIG_BS_TYPE", "s3")
        .env("RCLONE_CONFIG_BS_PROVIDER", "Other")
        .env("RCLONE_CONFIG_BS_ACCESS_KEY_ID", &files.access_key)
        .env("RCLONE_CONFIG_BS_SECRET_ACCESS_KEY", &files.secret_key)
        .env(
            "RCLONE_CONFIG_BS_ENDPOINT",
            format!("http://{}", files.addr),
        )
        .env("RCLONE_CONFIG_BS_REGION", &files.region)
        .env("RCLONE_CONFIG_BS_FORCE_PATH_STYLE", "true")
        // Set on some machines, it makes rclone refuse plain-HTTP endpoints.
        .env_remove("AWS_CA_BUNDLE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("--shared-mount: cannot start rclone")?;
    let mut m = Mount {
        dir: dir.to_owned(),
        child,
    };
    let deadline = Instant::now() + MOUNT_TIMEOUT;
    while !is_mounted(dir) {
        if let Ok(Some(status)) = m.child.try_wait() {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            let last = said.lines().rev().take(3).collect::<Vec<_>>();
            bail!(
                "rclone mount at {} exited ({status}): {}",
                dir.display(),
                last.into_iter().rev().collect::<Vec<_>>().join(" / ")
            );
        }
        if Instant::now() > deadline {
            let _ = m.child.kill();
            let _ = m.child.wait();
            bail!(
                "rclone mount at {} did not appear within {} s (its log: {})",
                dir.display(),
                MOUNT_TIMEOUT.as_secs(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    tracing::info!(dir = %dir.display(), bucket = BUCKET, "shared mount ready");
    Ok(m)
}

/// Whether the kernel lists an rclone mount at `dir` (already canonical).
fn is_mounted(dir: &Path) -> bool {
    let needle = format!(" {} fuse.rclone ", dir.display());
    std::fs::read_to_string("/proc/mounts").is_ok_and(|m| m.contains(&needle))
}

/// `fusermount3 -u` (`-uz`, lazily, when `lazy`).
fn unmount(dir: &Path, lazy: bool) {
    let _ = Command::new("fusermount3")
        .arg(if lazy { "-uz" } else { "-u" })
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Why FUSE mounts cannot be made here, if they cannot.
fn fuse_unusable() -> Option<String> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        return Some(format!("/dev/fuse cannot be opened ({e})"));
    }
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
    };
    for (tool, package) in [("rclone", "rclone"), ("fusermount3", "fuse3")] {
        if !on_path(tool) {
            return Some(format!(
                "{tool} is not installed (Debian package {package})"
            ));
        }
    }
    None
}
