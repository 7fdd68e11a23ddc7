//! `bigstep files`: the S3-compatible object store over a local directory.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

/// Serve a directory over the S3 API, so every app server shares one set of files.
///
/// Any S3 client works: aws-cli, boto3, the AWS SDKs, rclone, s3cmd. Point it at
/// `http://127.0.0.1:9000` with path-style addressing and the keys below. Buckets
/// are subdirectories of --dir; objects are written atomically, so a crash never
/// leaves a half-written object visible.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  bigstep files --dir ./data --access-key app --secret-key s3cr3t-s3cr3t\n  \
    aws --endpoint-url http://127.0.0.1:9000 s3 mb s3://uploads"
)]
pub(crate) struct Args {
    /// TCP port to listen on (0 picks a free one; the line "listening on" says which).
    #[arg(long, default_value_t = 9000)]
    port: u16,

    /// Address to listen on. Anything but loopback requires --access-key and --secret-key.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,

    /// Data directory; created if missing. Buckets are its subdirectories.
    /// [default: `dir` in the config file, else ./bigstep-files]
    #[arg(long)]
    dir: Option<PathBuf>,

    /// A bigstep TOML config file; its `[files]` table may set dir, access_key,
    /// secret_key, public_buckets, region and domain. Flags and environment
    /// variables win.
    #[arg(long, env = "BIGSTEP_CONFIG")]
    config: Option<PathBuf>,

    /// Access key id clients sign requests with. With neither key given on a loopback
    /// address, a random pair is generated and printed.
    #[arg(long, env = "BIGSTEP_FILES_ACCESS_KEY")]
    access_key: Option<String>,

    /// Secret key clients sign requests with.
    #[arg(long, env = "BIGSTEP_FILES_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,

    /// Largest object accepted, e.g. 100MiB, 5GiB, or plain bytes.
    #[arg(long, default_value = "5TiB", value_parser = parse_size)]
    max_object_size: u64,

    /// Largest part of a multipart upload accepted.
    #[arg(long, default_value = "5GiB", value_parser = parse_size)]
    max_part_size: u64,

    /// Seconds an upload may send nothing before it is cut off (also the limit for
    /// sending request headers).
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,

    /// A bucket whose objects anyone may read without signing (GET/HEAD only), e.g.
    /// images a web page shows. Repeat for several buckets.
    #[arg(long = "public-bucket", value_name = "BUCKET")]
    public_buckets: Vec<String>,

    /// Region reported to clients [default: us-east-1].
    #[arg(long)]
    region: Option<String>,

    /// Base domain for virtual-host-style addressing: requests to
    /// BUCKET.DOMAIN[:port] address BUCKET (point a wildcard DNS record, or
    /// `*.localhost` on a machine that resolves it, at the server). Path-style
    /// requests keep working. [default: `domain` in the config file, else none]
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,

    /// Most connections served at once; past it clients get S3's SlowDown (503)
    /// and retry [default: 10000].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,

    /// On SIGTERM: how long requests in flight get to finish before they are cut
    /// [default: 30s].
    #[arg(long, value_parser = service::config::parse_duration, value_name = "DURATION")]
    shutdown_grace: Option<Duration>,

    /// Threads serving connections, each with its own listening socket on the
    /// port: a connection stays on the thread that accepted it, as in nginx's
    /// workers [default: one per CPU core].
    #[arg(long, value_name = "N", value_parser = super::parse_threads)]
    threads: Option<usize>,
}

/// Parses `123`, `64KiB`, `10MB`, `5GiB`, `1TiB` (K/M/G/T with or without `iB`/`B`,
/// all powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 100MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use KiB, MiB, GiB or TiB)"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    // The whole file, read and checked once; this role uses its `[files]` table.
    let file = match &args.config {
        Some(path) => crate::config::load(path)?.files.unwrap_or_default(),
        None => files::FilesToml::default(),
    };
    let access_key = args.access_key.or(file.access_key);
    let secret_key = args.secret_key.or(file.secret_key);
    let (access_key, secret_key) = match (access_key, secret_key) {
        (Some(a), Some(s)) => (a, s),
        (Some(_), None) | (None, Some(_)) => {
            bail!("give both an access key and a secret key, or neither")
        }
        _ if !args.bind.is_loopback() => bail!(
            "refusing to listen on {} without keys: set --access-key and --secret-key \
             (or BIGSTEP_FILES_ACCESS_KEY / BIGSTEP_FILES_SECRET_KEY)",
            args.bind
        ),
        _ => {
            let (a, s) = files::generate_keys();
            println!("no keys given; generated a pair for this run (loopback only):");
            println!("  access key: {a}");
            println!("  secret key: {s}");
            (a, s)
        }
    };
    if secret_key.len() < 8 {
        bail!("the secret key must be at least 8 characters");
    }
    let dir = args
        .dir
        .or(file.dir)
        .unwrap_or_else(|| PathBuf::from("bigstep-files"));
    let mut config = files::FilesConfig::new(dir, access_key, secret_key);
    config.max_object_size = args.max_object_size;
    config.max_part_size = args.max_part_size;
    config.idle_timeout = Duration::from_secs(args.idle_timeout.max(1));
    config.public_buckets = if args.public_buckets.is_empty() {
        file.public_buckets
    } else {
        args.public_buckets
    };
    config.domain = args.domain.or(file.domain);
    config.region = args
        .region
        .or(file.region)
        .unwrap_or_else(|| "us-east-1".to_owned());
    if let Some(n) = args.max_connections.or(file.max_connections) {
        config.max_connections = n.max(1);
    }
    if let Some(g) = args.shutdown_grace.or(file.shutdown_grace) {
        config.shutdown_grace = g;
    }
    // A test/debug knob, config file only: seconds in a lifecycle "day".
    if let Some(secs) = file.lifecycle_day_seconds {
        config.lifecycle_day = std::time::Duration::from_secs(secs.max(1));
    }

    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);

    let signals = crate::signals::install()?;
    // This thread opens the store, runs the lifecycle sweeper and the shutdown;
    // the serving threads have runtimes of their own (files::FilesServer::serve_threads).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let dir = config.dir.display().to_string();
        // Open the data directory first: a bad one fails before we announce anything.
        let server = files::FilesServer::open_with(config, &service::Metrics::new()).await?;
        let addr = SocketAddr::new(args.bind, args.port);
        let listeners =
            service::listener::bind_shared(addr, service::listener::DEFAULT_BACKLOG, threads)
                .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listeners[0].local_addr()?;
        println!("bigstep files listening on {local}");
        let _ = std::io::stdout().flush();
        tracing::info!(%local, %dir, threads, "files server started");
        server
            .serve_threads(listeners, async move { signals.stopped().await })
            .await?;
        tracing::info!("files server stopped");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("5GiB"), Ok(5 << 30));
        assert_eq!(parse_size("1tb"), Ok(1 << 40));
        assert!(parse_size("5XB").is_err());
    }
}
