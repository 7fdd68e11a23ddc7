//! The shared state server and the shared files server, run inside `bigstep up`
//! (the same libraries as `bigstep state` and `bigstep files`), and what the
//! instances are told about them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The bucket created for the app's uploads (`BIGSTEP_BUCKET`).
pub(crate) const BUCKET: &str = "uploads";
/// The file in the data directory that keeps the files server's keys.
const KEYS_FILE: &str = "files-keys.toml";

/// Where the backends keep their data.
#[derive(Debug, Clone)]
pub(crate) enum Data {
    /// `DIR/state` and `DIR/files`, kept across runs.
    Dir(PathBuf),
    /// State in memory, files in a temporary directory removed on exit.
    Ephemeral(PathBuf),
}

impl Data {
    /// A fresh temporary directory for `--ephemeral`.
    pub(crate) fn ephemeral() -> anyhow::Result<Self> {
        super::hosts::remove_stale();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("bigstep-up-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create a temporary directory {}", dir.display()))?;
        Ok(Data::Ephemeral(dir))
    }

    fn root(&self) -> &Path {
        match self {
            Data::Dir(d) | Data::Ephemeral(d) => d,
        }
    }

    fn describe(&self, sub: &str) -> String {
        match self {
            Data::Dir(d) => format!("data in {}", d.join(sub).display()),
            Data::Ephemeral(_) => "ephemeral: gone on exit".into(),
        }
    }
}

/// The file's `[state]` and `[files]` tables (with the file's text, for errors
/// that name a line). `up` takes their settings but decides itself where each
/// server listens and keeps its data, and who may connect (see [`Tables::state`]).
#[derive(Default, Clone)]
pub(crate) struct Tables {
    pub(crate) state: Option<state::StateToml>,
    pub(crate) files: Option<files::FilesToml>,
    pub(crate) src: String,
}

impl Tables {
    /// `[state]` without what `up` decides: the address, the directory, and
    /// passwords and users (the state server listens on loopback for the
    /// instances, which get one `REDIS_URL`). Logged when left out.
    fn state(&self) -> Option<state::StateToml> {
        let mut t = self.state.clone()?;
        if t.requirepass.is_some() || t.requirepass_env.is_some() || !t.users.is_empty() {
            tracing::warn!("[state] passwords and users are left out under `bigstep up`: its state server listens on 127.0.0.1 for the instances only");
        }
        t.requirepass = None;
        t.requirepass_env = None;
        t.users.clear();
        t.bind = None;
        t.port = None;
        t.dir = None;
        t.metrics_bind = None;
        Some(t)
    }
}

/// A backend's task: its failure reason, if it stopped on its own accord.
type Task = JoinHandle<Option<String>>;

/// A running shared state server.
pub(crate) struct StateRunning {
    pub(crate) addr: SocketAddr,
    pub(crate) data: String,
    task: Task,
}

/// A running shared files server.
pub(crate) struct FilesRunning {
    pub(crate) addr: SocketAddr,
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) data: String,
    /// Whether the keys were generated now (or read from the data directory).
    pub(crate) keys_new: bool,
    /// Whether anyone may read the bucket's objects (for the /uploads/ route).
    pub(crate) public: bool,
    /// The region it reports (`[files] region`, else us-east-1).
    pub(crate) region: String,
    /// The keys are the config file's (`[files]`).
    pub(crate) keys_from_file: bool,
    /// `--ephemeral`: generated keys are not kept either.
    pub(crate) ephemeral: bool,
    task: Task,
}

/// The backends `up` runs, stopped together after the instances.
pub(crate) struct Backends {
    pub(crate) state: Option<StateRunning>,
    pub(crate) files: Option<FilesRunning>,
    stop: watch::Sender<bool>,
    /// Set when a backend fails on its own (with the reason).
    failure: watch::Sender<Option<String>>,
    data: Data,
    /// The process's one registry: the state and files servers' metrics, and
    /// the front door's (bound with it), served together at the admin /metrics.
    metrics: service::Metrics,
}

/// What the backends share: the stop signal, the grace, where to report a
/// failure, and the process's one metrics registry.
#[derive(Clone)]
struct Run {
    stop: watch::Receiver<bool>,
    grace: Duration,
    failure: watch::Sender<Option<String>>,
    metrics: service::Metrics,
}

impl Run {
    /// Records `reason` (the first failure wins) and returns it.
    fn fail(&self, reason: String) -> Option<String> {
        tracing::error!("{reason}");
        self.failure.send_if_modified(|f| {
            let first = f.is_none();
            if first {
                *f = Some(reason.clone());
            }
            first
        });
        Some(reason)
    }
}

impl Backends {
    /// Start what is asked for. Ports are bound here, so a busy one fails
    /// before any instance starts. On stop, clients in flight get `grace`.
    /// `public_uploads`: the bucket's objects may be read without the keys.
    pub(crate) async fn start(
        state_port: Option<u16>,
        files_port: Option<u16>,
        data: Data,
        grace: Duration,
        public_uploads: bool,
        tables: &Tables,
    ) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let (failure, _) = watch::channel(None);
        let metrics = service::Metrics::new();
        let run = Run {
            stop: stopped,
            grace,
            failure: failure.clone(),
            metrics: metrics.clone(),
        };
        let mut backends = Backends {
            state: None,
            files: None,
            stop,
            failure,
            data,
            metrics,
        };
        // On an error below, what already started is stopped when `backends` drops.
        if let Some(port) = state_port {
            backends.state = Some(start_state(port, &backends.data, run.clone(), tables).await?);
        }
        if let Some(port) = files_port {
            backends.files =
                Some(start_files(port, &backends.data, run, public_uploads, tables).await?);
        }
        Ok(backends)
    }

    /// The process's registry, for the front door to join.
    pub(crate) fn metrics(&self) -> &service::Metrics {
        &self.metrics
    }

    /// Becomes `Some(reason)` when a backend stops on its own.
    pub(crate) fn failure(&self) -> watch::Receiver<Option<String>> {
        self.failure.subscribe()
    }

    /// What every instance finds in its environment.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(s) = &self.state {
            let url = format!("redis://{}/0", s.addr);
            env.push(("REDIS_URL".into(), url.clone()));
            env.push(("BIGSTEP_STATE_URL".into(), url));
        }
        if let Some(f) = &self.files {
            let url = format!("http://{}", f.addr);
            env.push(("S3_ENDPOINT_URL".into(), url.clone()));
            env.push(("AWS_ENDPOINT_URL".into(), url));
            env.push(("AWS_ACCESS_KEY_ID".into(), f.access_key.clone()));
            env.push(("AWS_SECRET_ACCESS_KEY".into(), f.secret_key.clone()));
            env.push(("AWS_REGION".into(), f.region.clone()));
            env.push(("BIGSTEP_BUCKET".into(), BUCKET.into()));
        }
        env
    }

    /// Stop both servers and wait: the state server flushes its log first.
    /// Returns why a backend failed, if one did.
    pub(crate) async fn stop(mut self) -> Option<String> {
        self.stop.send_replace(true);
        let mut failed = None;
        if let Some(s) = self.state.take() {
            failed = failed.or(s.task.await.ok().flatten());
        }
        if let Some(f) = self.files.take() {
            failed = failed.or(f.task.await.ok().flatten());
        }
        // Dropping `self` removes an ephemeral data directory.
        failed
    }
}

impl Drop for Backends {
    fn drop(&mut self) {
        // Reached without `stop` only on a start-up error: the tasks end when the
        // runtime does; the temporary directory must not stay behind.
        self.stop.send_replace(true);
        if let Data::Ephemeral(dir) = &self.data {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn start_state(
    port: u16,
    data: &Data,
    run: Run,
    tables: &Tables,
) -> anyhow::Result<StateRunning> {
    let dir = match data {
        Data::Dir(d) => Some(d.join("state")),
        Data::Ephemeral(_) => None,
    };
    let mut cfg = state::Config::default();
    if let Some(t) = tables.state() {
        // Limits, persistence policy, memory, databases, notifications...
        t.apply(&mut cfg, &tables.src, |_| None)
            .map_err(|e| anyhow::anyhow!("[state] {e}"))?;
    }
    cfg.bind = "127.0.0.1".into();
    cfg.port = port;
    cfg.dir = dir;
    cfg.shutdown_grace = run.grace;
    // A Redis client's SHUTDOWN would otherwise stop only this part of
    // the site (or, with the process, all of it, mid-request): the site
    // is stopped with Ctrl-C / SIGTERM, which drains everything in order.
    cfg.shutdown_refused = Some(
        "this state server is part of `bigstep up`; stop the whole site with Ctrl-C or SIGTERM"
            .into(),
    );
    let server = state::Server::start_with(cfg, run.metrics.clone())
        .await
        .map_err(|e| {
        let hint = match &e {
            state::StartError::Bind { .. } => {
                " (is a Redis or another bigstep using the port? try --state-port 6381, or --no-state)"
            }
            _ => "",
        };
        anyhow::anyhow!("cannot start the shared state server: {e}{hint}")
    })?;
    let addr = server.local_addr();
    let task = tokio::spawn(async move {
        // Returns once the log is flushed, or at once if the log fails.
        match server.run(stopped(run.stop.clone())).await {
            Ok(()) => None,
            Err(e) => run.fail(format!("the shared state server stopped: {e}")),
        }
    });
    Ok(StateRunning {
        addr,
        data: data.describe("state"),
        task,
    })
}

async fn start_files(
    port: u16,
    data: &Data,
    run: Run,
    public: bool,
    tables: &Tables,
) -> anyhow::Result<FilesRunning> {
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!(
                "cannot start the shared files server on {listen} (is another process using the \
             port? try --files-port 9001, or --no-files)"
            )
        })?;
    let addr = listener.local_addr()?;
    let dir = data.root().join("files");
    let table = tables.files.clone().unwrap_or_default();
    let (access_key, secret_key, keys_new) = match (&table.access_key, &table.secret_key) {
        // The file's keys (the instances get them in their environment).
        (Some(a), Some(s)) => (a.clone(), s.clone(), false),
        (Some(_), None) | (None, Some(_)) => {
            anyhow::bail!("[files]: give both access_key and secret_key, or neither")
        }
        _ => match data {
            Data::Dir(root) => persistent_keys(root)?,
            Data::Ephemeral(_) => {
                let (a, s) = files::generate_keys();
                (a, s, true)
            }
        },
    };
    create_bucket(&dir).await?;
    let mut config = files::FilesConfig::new(&dir, &access_key, &secret_key);
    config.shutdown_grace = run.grace;
    // The file's settings; the directory and the address are up's.
    if let Some(r) = &table.region {
        config.region = r.clone();
    }
    if let Some(n) = table.max_connections {
        config.max_connections = n;
    }
    config.domain = table.domain.clone();
    if let Some(s) = table.lifecycle_day_seconds {
        config.lifecycle_day = Duration::from_secs(s.max(1));
    }
    config.public_buckets = table.public_buckets.clone();
    if public {
        // GET/HEAD of an object without a signature; listing and writes still
        // need the keys. The front door's /uploads/ route relies on it.
        config.public_buckets.push(BUCKET.to_string());
    }
    let region = config.region.clone();
    let server = files::FilesServer::open_with(config, &run.metrics)
        .await
        .with_context(|| format!("cannot open the shared files in {}", dir.display()))?;
    let task = tokio::spawn(async move {
        match server.serve(listener, stopped(run.stop.clone())).await {
            Ok(()) => None,
            Err(e) => run.fail(format!("the shared files server stopped: {e}")),
        }
    });
    Ok(FilesRunning {
        addr,
        access_key,
        secret_key,
        data: data.describe("files"),
        keys_new,
        public,
        region,
        keys_from_file: table.access_key.is_some(),
        ephemeral: matches!(data, Data::Ephemeral(_)),
        task,
    })
}

/// The `uploads` bucket, created through the store before the server opens it
/// (the store is closed again: one process, one open index).
async fn create_bucket(dir: &Path) -> anyhow::Result<()> {
    let d = dir.to_path_buf();
    let store = tokio::task::spawn_blocking(move || files::store::Store::open(&d))
        .await?
        .with_context(|| format!("cannot open the shared files in {}", dir.display()))?;
    match store.create_bucket(BUCKET).await {
        Ok(()) | Err(files::store::StoreError::BucketExists) => {}
        Err(e) => return Err(e).context(format!("cannot create the bucket {BUCKET}")),
    }
    drop(store);
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Keys {
    access_key: String,
    secret_key: String,
}

/// The files server's keys, kept in `DIR/files-keys.toml` (mode 0600) so a
/// restart keeps them: generated on the first run.
fn persistent_keys(root: &Path) -> anyhow::Result<(String, String, bool)> {
    let path = root.join(KEYS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let k: Keys = toml::from_str(&text).with_context(|| {
                format!(
                    "{}: not a key file (delete it for new keys)",
                    path.display()
                )
            })?;
            return Ok((k.access_key, k.secret_key, false));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    std::fs::create_dir_all(root)
        .with_context(|| format!("cannot create the data directory {}", root.display()))?;
    let (access_key, secret_key) = files::generate_keys();
    let text = format!(
        "# Keys of the shared files server that `bigstep up` runs (S3 API).\n{}",
        toml::to_string(&Keys {
            access_key: access_key.clone(),
            secret_key: secret_key.clone(),
        })?
    );
    write_private(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok((access_key, secret_key, true))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
