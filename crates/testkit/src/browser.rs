//! What a headless-Chromium test needs: the repository root, playwright-core
//! in `.ci/node` (installed by `.ci/install`), and a fresh screenshot path.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Paths for one browser test.
pub struct BrowserTest {
    /// The repository root (scripts live under `crates/bigstep/tests/dashboard`).
    pub root: PathBuf,
    /// `NODE_PATH` for the scripts.
    pub node_modules: PathBuf,
    /// `test-artifacts/<name>`, its directory created and any old file removed.
    pub screenshot: PathBuf,
}

/// Prepare a browser test that saves its screenshot as `test-artifacts/<name>`.
/// Panics, naming the fix, when playwright-core is not installed.
pub fn prepare(screenshot: &str) -> BrowserTest {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root");
    let node_modules = root.join(".ci/node/node_modules");
    assert!(
        node_modules.join("playwright-core").is_dir(),
        "playwright-core is not installed in {}: run .ci/install",
        node_modules.display()
    );
    let screenshot = root.join("test-artifacts").join(screenshot);
    std::fs::create_dir_all(screenshot.parent().expect("artifacts dir"))
        .expect("test-artifacts dir");
    let _ = std::fs::remove_file(&screenshot);
    BrowserTest {
        root,
        node_modules,
        screenshot,
    }
}

impl BrowserTest {
    /// Runs the browser script `crates/bigstep/tests/dashboard/<script>` under
    /// node with `args` (blocking): whether it succeeded, and what it printed
    /// (stdout, then stderr) for the assertions and their messages.
    pub fn run(&self, script: &str, args: &[&OsStr]) -> (bool, String) {
        run_node(&self.root, &self.node_modules, script, args)
    }

    /// [`run`](Self::run) on a blocking thread, for async tests whose servers
    /// live on the test's own runtime and must keep answering the browser.
    pub async fn run_async(&self, script: &str, args: Vec<OsString>) -> (bool, String) {
        let (root, node_modules) = (self.root.clone(), self.node_modules.clone());
        let script = script.to_owned();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
            run_node(&root, &node_modules, &script, &args)
        })
        .await
        .expect("browser script runner")
    }
}

fn run_node(root: &Path, node_modules: &Path, script: &str, args: &[&OsStr]) -> (bool, String) {
    let out = std::process::Command::new("node")
        .arg(root.join("crates/bigstep/tests/dashboard").join(script))
        .args(args)
        .env("NODE_PATH", node_modules)
        .output()
        .expect("run node (install nodejs: .ci/install)");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log)
}
