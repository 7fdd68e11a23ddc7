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
