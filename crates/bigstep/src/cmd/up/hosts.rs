//! Each instance as a host of its own, so what an app keeps on local disk shows
//! up as the bug it becomes on server two: a file written on app-1 is not there
//! on app-2.
//!
//! Every instance gets a directory `ROOT/app-N/` (ROOT a temporary directory,
//! removed when `up` exits) with its own `home` (`HOME`) and `tmp` (`TMPDIR`,
//! `TMP`, `TEMP`), and its own writable view of the app directory (where `up`
//! was started):
//! - **overlay** (as root, where the kernel allows it): the launcher enters a
//!   private mount namespace and mounts an overlay on the app directory's own
//!   path, the app directory below and `ROOT/app-N/upper` on top. The app sees
//!   its files at the usual path; what it writes lands in its upper layer only.
//!   Nothing is copied.
//! - **copy** (otherwise, or when the overlay fails): the launcher copies the
//!   app directory (without `.git` and bigstep's data directory) to
//!   `ROOT/app-N/app` once, and the instance runs there. A restart keeps the
//!   copy, as a host keeps its disk.
//!
//! What this cannot hide: absolute paths outside the app directory (`/var/...`,
//! `/tmp` named literally instead of `$TMPDIR`), `/dev/shm`, other local IPC
//! (Unix sockets, SysV shared memory), and in copy mode absolute paths to the
//! app directory. The built-in demo keeps nothing locally: it gets its own
//! `HOME` and `TMPDIR`, no copy.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Copying more than this per instance is refused: use overlay or `--shared-dir`.
const MAX_COPY_FILES: u64 = 20_000;
const MAX_COPY_BYTES: u64 = 512 << 20;

/// How instances get their own view of the app directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Isolation {
    /// Overlay as root, copy otherwise.
    Auto,
    /// A copy-on-write overlay in a private mount namespace (root only).
    Overlay,
    /// A copy of the app directory per instance.
    Copy,
}

/// The per-instance host directories.
#[derive(Debug)]
pub(crate) struct Hosts {
    root: PathBuf,
    /// The directory to give each instance a view of (`None`: the demo).
    app_dir: Option<PathBuf>,
    overlay: bool,
    /// Left out of copies (bigstep's own data directory).
    skip: Vec<PathBuf>,
}

/// What one instance's launch needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Host {
    /// `HOME`, `TMPDIR`, ... for the instance.
    pub(crate) env: Vec<(String, String)>,
    /// Arguments for the launcher (`bigstep up --supervised-by ...`).
    pub(crate) launcher_args: Vec<String>,
}

impl Hosts {
    /// Prepare the root. `app_dir`: where the user's app runs (`None` for the demo).
    pub(crate) fn new(
        app_dir: Option<PathBuf>,
        mode: Isolation,
        skip: Vec<PathBuf>,
    ) -> anyhow::Result<Hosts> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let root =
            std::env::temp_dir().join(format!("bigstep-up-hosts-{}-{nanos:x}", std::process::id()));
        if let Some(app) = &app_dir {
            if root.starts_with(app) {
                bail!(
                    "the app directory {} contains the temporary directory {}: start `bigstep up` in your app's directory, or pass --shared-dir",
                    app.display(),
                    root.display()
                );
            }
        }
        remove_stale();
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let root_user = nix::unistd::geteuid().is_root();
        let overlay = match mode {
            Isolation::Auto => root_user,
            Isolation::Overlay if !root_user => {
                bail!("--isolation overlay needs root (mount namespaces); use --isolation copy")
            }
            Isolation::Overlay => true,
            Isolation::Copy => false,
        };
        Ok(Hosts {
            root,
            app_dir,
            overlay,
            skip,
        })
    }

    /// One line for the banner.
    pub(crate) fn describe(&self) -> String {
        match &self.app_dir {
            None => format!(
                "each instance has its own HOME and TMPDIR under {}",
                self.root.display()
            ),
            Some(app) => format!(
                "each instance has its own {} of {} and its own HOME and TMPDIR, under {}",
                if self.overlay {
                    "copy-on-write view"
                } else {
                    "copy"
                },
                app.display(),
                self.root.display()
            ),
        }
    }

    /// Create `ROOT/NAME/{home,tmp}` and say how to launch the instance.
    pub(crate) fn host(&self, name: &str) -> anyhow::Result<Host> {
        let dir = self.root.join(name);
        let home = dir.join("home");
        let tmp = dir.join("tmp");
        for d in [&home, &tmp] {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let tmp_s = tmp.to_string_lossy().into_owned();
        let mut host = Host {
            env: vec![
                ("HOME".into(), home.to_string_lossy().into_owned()),
                ("TMPDIR".into(), tmp_s.clone()),
                ("TMP".into(), tmp_s.clone()),
                ("TEMP".into(), tmp_s),
            ],
            launcher_args: Vec::new(),
        };
        if let Some(app) = &self.app_dir {
            host.launcher_args = vec![
                "--host-app".into(),
                app.to_string_lossy().into_owned(),
                "--host-dir".into(),
                dir.to_string_lossy().into_owned(),
            ];
            for s in &self.skip {
                host.launcher_args.push("--host-skip".into());
                host.launcher_args.push(s.to_string_lossy().into_owned());
            }
            if self.overlay {
                host.launcher_args.push("--host-overlay".into());
            }
        }
        Ok(host)
    }

    /// Remove every instance's directory (after they have all exited).
    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Drop for Hosts {
    /// `up` stopping on an error before [`Hosts::remove`] (a shared mount
    /// that cannot start, an instance that cannot be spawned) leaves nothing.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Temporary directories of `up` processes that are gone (killed, so they
/// could not clean up: `bigstep-up-PID-…` with ephemeral data,
/// `bigstep-up-hosts-PID-…`, `bigstep-up-mounts-PID`): removed, so they do not
/// pile up in the temporary directory.
pub(crate) fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("bigstep-up-")) else {
            continue;
        };
        let rest = rest
            .strip_prefix("hosts-")
            .or_else(|| rest.strip_prefix("mounts-"))
            .unwrap_or(rest);
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

// === the launcher's side (a single-threaded process about to exec the app) ===

/// Give this process its view of `app` and make it the working directory:
/// an overlay if asked for and possible, else a copy in `dir/app`.
pub(crate) fn enter(app: &Path, dir: &Path, overlay: bool, skip: &[PathBuf]) -> anyhow::Result<()> {
    if overlay {
        match mount_overlay(app, dir) {
            Ok(()) => {
                // The old working directory is the one below the overlay: enter it again.
                std::env::set_current_dir(app)
                    .with_context(|| format!("cannot enter {}", app.display()))?;
                return Ok(());
            }
            Err(e) => eprintln!(
                "bigstep up: no overlay for this instance ({e:#}); using a copy of {} instead",
                app.display()
            ),
        }
    }
    let copy = dir.join("app");
    if !copy.exists() {
        let partial = dir.join("app.partial");
        let _ = std::fs::remove_dir_all(&partial);
        let mut budget = Budget::default();
        copy_tree(app, &partial, skip, &mut budget).with_context(|| {
            format!(
                "cannot copy the app directory {} for this instance",
                app.display()
            )
        })?;
        std::fs::rename(&partial, &copy)?;
    }
    std::env::set_current_dir(&copy).with_context(|| format!("cannot enter {}", copy.display()))
}

fn mount_overlay(app: &Path, dir: &Path) -> anyhow::Result<()> {
    use nix::mount::{mount, MsFlags};
    use nix::sched::{unshare, CloneFlags};
    let upper = dir.join("upper");
    let work = dir.join("work");
    for d in [&upper, &work] {
        std::fs::create_dir_all(d)?;
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        app.display(),
        upper.display(),
        work.display()
    );
    // The option string is comma- and colon-separated: such paths cannot be said.
    if [app, &upper, &work]
        .iter()
        .any(|p| p.to_string_lossy().contains([',', ':', '\\']))
    {
        bail!("a path contains ',', ':' or '\\'");
    }
    unshare(CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    // Our mounts must not propagate back to the host's namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making mounts private")?;
    mount(
        Some("overlay"),
        app,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .context("mounting the overlay")?;
    Ok(())
}

#[derive(Default)]
struct Budget {
    files: u64,
    bytes: u64,
}

/// Copy `from` into a new `to`: directories, files (with their permissions),
/// symlinks as symlinks; `.git` and `skip` left out.
fn copy_tree(from: &Path, to: &Path, skip: &[PathBuf], budget: &mut Budget) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        if entry.file_name() == ".git" || skip.contains(&src) {
            continue;
        }
        let dst = to.join(entry.file_name());
        let kind = entry.file_type()?;
        budget.files += 1;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            copy_tree(&src, &dst, skip, budget)?;
        } else if kind.is_file() {
            budget.bytes += std::fs::copy(&src, &dst)?;
        }
        if budget.files > MAX_COPY_FILES || budget.bytes > MAX_COPY_BYTES {
            bail!(
                "more than {MAX_COPY_FILES} files or {} MiB: too much to copy for every instance (run as root for copy-on-write overlays, or pass --shared-dir)",
                MAX_COPY_BYTES >> 20
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_private_and_skip_git_and_data() {
        let base = testkit::TempDir::new("hosts");
        let app = base.join("app");
        std::fs::create_dir_all(app.join(".git")).unwrap();
        std::fs::create_dir_all(app.join("data")).unwrap();
        std::fs::create_dir_all(app.join("static")).unwrap();
        std::fs::write(app.join("static/a.txt"), "a").unwrap();
        std::fs::write(app.join("data/big"), "x").unwrap();
        std::os::unix::fs::symlink("static/a.txt", app.join("link")).unwrap();
        let dst = base.join("copy");
        copy_tree(&app, &dst, &[app.join("data")], &mut Budget::default()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dst.join("static/a.txt")).unwrap(),
            "a"
        );
        assert_eq!(std::fs::read_to_string(dst.join("link")).unwrap(), "a");
        assert!(!dst.join(".git").exists());
        assert!(!dst.join("data").exists());
        std::fs::write(dst.join("static/b.txt"), "b").unwrap();
        assert!(!app.join("static/b.txt").exists());
    }

    #[test]
    fn directories_of_a_killed_up_are_removed_and_a_running_ones_kept() {
        // A pid that is gone: a child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let tmp = std::env::temp_dir();
        let gone = [
            tmp.join(format!("bigstep-up-{dead}-18ed0")),
            tmp.join(format!("bigstep-up-hosts-{dead}-18ed1")),
            tmp.join(format!("bigstep-up-mounts-{dead}")),
        ];
        let ours = tmp.join(format!("bigstep-up-{}-stale-test", std::process::id()));
        for d in gone.iter().chain([&ours]) {
            std::fs::create_dir_all(d.join("files")).unwrap();
        }
        remove_stale();
        for d in &gone {
            assert!(!d.exists(), "{} was left", d.display());
        }
        assert!(ours.exists(), "a running up's directory was removed");
        std::fs::remove_dir_all(&ours).unwrap();
    }
}
