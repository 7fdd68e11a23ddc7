//! The settings of one files server.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of a files server; [`crate::serve`] takes one.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// Data directory: buckets are its subdirectories.
    pub dir: PathBuf,
    /// Access key id clients sign with.
    pub access_key: String,
    /// Secret key clients sign with.
    pub secret_key: String,
    /// Region reported to clients (GetBucketLocation, HeadBucket).
    pub region: String,
    /// Largest object accepted, in bytes (PUT, CopyObject, CompleteMultipartUpload).
    pub max_object_size: u64,
    /// Largest multipart part accepted, in bytes.
    pub max_part_size: u64,
    /// An upload that sends nothing for this long is cut off; also the limit for
    /// reading request headers.
    pub idle_timeout: Duration,
    /// Buckets whose objects anyone may GET/HEAD without signing (e.g. images for a page).
    pub public_buckets: Vec<String>,
    /// Base domain for virtual-host-style addressing: a request to
    /// `BUCKET.DOMAIN[:port]` addresses BUCKET. Path-style works either way.
    pub domain: Option<String>,
    /// Most connections served at once; a client past it gets an S3 `SlowDown` (503).
    pub max_connections: usize,
    /// On stop: how long requests in flight get to finish before they are cut.
    pub shutdown_grace: Duration,
    /// The length of a lifecycle "day" (rules say `Days`). 24 hours; shorter
    /// only for tests and debugging, to watch objects expire in seconds.
    pub lifecycle_day: Duration,
}

impl FilesConfig {
    /// Defaults for everything but the directory and the keys.
    pub fn new(
        dir: impl Into<PathBuf>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        FilesConfig {
            dir: dir.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: "us-east-1".to_owned(),
            max_object_size: 5 * 1024 * 1024 * 1024 * 1024,
            max_part_size: 5 * 1024 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
            public_buckets: Vec::new(),
            domain: None,
            max_connections: 10_000,
            shutdown_grace: service::DEFAULT_GRACE,
            lifecycle_day: Duration::from_secs(86_400),
        }
    }
}

/// A random key pair for a server started without one: a 20-character access key
/// id and a 40-character secret, like AWS's.
pub fn generate_keys() -> (String, String) {
    use rand::Rng;
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const ANY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let access: String = std::iter::once("BS".to_owned())
        .chain((0..18).map(|_| (UPPER[rng.random_range(0..UPPER.len())] as char).to_string()))
        .collect();
    let secret: String = (0..40)
        .map(|_| ANY[rng.random_range(0..ANY.len())] as char)
        .collect();
    (access, secret)
}

/// The `[files]` table of a bigstep TOML config file. Every field is optional;
/// command-line flags and environment variables win over it.
///
/// ```toml
/// [files]
/// dir = "/var/lib/bigstep/files"
/// access_key = "app"
/// secret_key = "a-long-random-secret"
/// public_buckets = ["images"]
/// domain = "files.example.com"   # BUCKET.files.example.com addresses BUCKET
/// ```
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesToml {
    /// Data directory.
    pub dir: Option<std::path::PathBuf>,
    /// Access key id.
    pub access_key: Option<String>,
    /// Secret key.
    pub secret_key: Option<String>,
    /// Buckets readable without signing.
    #[serde(default)]
    pub public_buckets: Vec<String>,
    /// Region reported to clients.
    pub region: Option<String>,
    /// Base domain for virtual-host-style addressing.
    pub domain: Option<String>,
    /// Most connections served at once.
    pub max_connections: Option<usize>,
    /// On stop: how long requests in flight get (`10s`, `500ms`).
    #[serde(default, with = "service::config::duration")]
    pub shutdown_grace: Option<Duration>,
    /// Test/debug knob: seconds in a lifecycle "day" (default 86400), so a
    /// test can see a `Days: 1` rule expire objects within seconds.
    pub lifecycle_day_seconds: Option<u64>,
}

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys in `[files]`.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, naming the key and line.
        message: String,
    },
}

impl FilesToml {
    /// Reads the `[files]` table of `path` (other tables are left to other roles);
    /// a file without one gives the defaults.
    pub fn load(path: &std::path::Path) -> Result<FilesToml, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    fn parse(text: &str) -> Result<FilesToml, String> {
        #[derive(serde::Deserialize)]
        struct Whole {
            #[serde(default)]
            files: Option<FilesToml>,
        }
        let whole: Whole = toml::from_str(text).map_err(|e| e.to_string())?;
        Ok(whole.files.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::FilesToml;

    #[test]
    fn files_table() {
        let t = FilesToml::parse(
            "[balance]\nlisten = \"x\"\n[files]\naccess_key = \"a\"\nsecret_key = \"b\"\npublic_buckets = [\"img\"]\ndomain = \"files.test\"\n",
        )
        .expect("parse");
        assert_eq!(t.domain.as_deref(), Some("files.test"));
        assert_eq!(t.access_key.as_deref(), Some("a"));
        assert_eq!(t.public_buckets, vec!["img".to_owned()]);
        assert!(FilesToml::parse("[balance]\n")
            .expect("parse")
            .access_key
            .is_none());
        let err = FilesToml::parse("[files]\naccess_kye = \"a\"\n").expect_err("typo");
        assert!(err.contains("access_kye"), "{err}");
    }
}
