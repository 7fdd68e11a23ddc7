//! The storage backend: buckets, objects and multipart uploads over one data directory.
//!
//! # Layout
//!
//! ```text
//! DATA/
//!   .bigstep/meta.redb          bucket records and the object index (key -> metadata)
//!   .bigstep/tmp/               bodies being received; emptied on start
//!   .bigstep/uploads/ID/        one multipart upload: upload.json, N.json + N.<rand> per part
//!   BUCKET/ab/abcdef...         object data files, named by a random 128-bit id
//! ```
//!
//! Keys never become paths: an object's data file is named by a random id and the key
//! lives only in the index, so any valid S3 key (up to 1024 bytes, any Unicode) is
//! stored safely and nothing can reach outside the data directory. Bucket names pass
//! S3's naming rules ([`crate::key::valid_bucket_name`]) before they become directories.
//!
//! The index is a [`redb`] B-tree keyed by `bucket NUL key`, so listings walk keys in
//! lexicographic (byte) order from any start point, a page at a time, and skip a whole
//! common prefix with one seek: listing 100,000 objects never loads them all.
//!
//! # The life of a PUT
//!
//! 1. The body streams into `.bigstep/tmp/ID` while MD5 and one checksum (the
//!    algorithm the client named, else CRC32) are computed; size and idle-time
//!    limits apply chunk by chunk. The caller compares the checksum with the
//!    client's (a header, or an aws-chunked trailer that arrives after the body)
//!    and discards the file on a mismatch, so a refused body is never committed.
//! 2. `fsync` the file, `rename` it to `BUCKET/ab/ID`, `fsync` the directory.
//! 3. One index transaction points the key at the new id (redb commits are atomic and
//!    durable). This is the moment the object becomes visible, whole.
//! 4. The data file the key pointed to before, if any, is unlinked.
//!
//! A crash (even `kill -9`) before step 3 leaves at most an unreferenced file in
//! `tmp/` or the bucket directory; [`Store::open`] removes both. Concurrent PUTs to
//! one key each write their own file; index commits are serialised, the last one wins
//! and each object seen is exactly one upload's bytes. A reader that loses the race
//! with step 4 (the file vanished between index lookup and open) looks up again.
//!
//! # Checksums on disk
//!
//! An index record (JSON) carries the object's checksum as `checksum: {algorithm,
//! kind, value}` ([`crate::checksum::Stored`]); a part's `N.json` carries the part's,
//! and `upload.json` the algorithm and kind CreateMultipartUpload chose. All three
//! fields are optional and new, so records written before them read as before:
//! an older object record has only `crc32`, which [`ObjectMeta::stored_checksum`]
//! still returns as a full-object CRC32; an older upload has no algorithm.
//! A composite checksum is computed from the parts' stored digests at
//! CompleteMultipartUpload; a full-object one while the parts are joined.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::checksum::{self, Algorithm, Hasher, Kind, Stored};

const BUCKETS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("buckets");
const OBJECTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("objects");

/// The error message of a request body whose client went quiet (see
/// `server::IdleBody`); recognised here so it becomes `RequestTimeout`.
pub(crate) const BODY_IDLE: &str = "the client sent nothing for too long";

/// S3's minimum size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// What went wrong in the store. Each variant maps to one S3 error code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such bucket.
    #[error("the bucket does not exist")]
    NoSuchBucket,
    /// A conditional write's condition did not hold.
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    /// The bucket exists already.
    #[error("the bucket already exists")]
    BucketExists,
    /// The name breaks S3's bucket naming rules.
    #[error("the bucket name is not valid")]
    InvalidBucketName,
    /// The bucket still holds objects.
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    /// No such key.
    #[error("the key does not exist")]
    NoSuchKey,
    /// No such multipart upload.
    #[error("the multipart upload does not exist")]
    NoSuchUpload,
    /// A part named in CompleteMultipartUpload is missing or its ETag differs.
    #[error("a part is missing or its ETag does not match")]
    InvalidPart,
    /// Parts in CompleteMultipartUpload are not in ascending order.
    #[error("the parts are not in ascending order")]
    InvalidPartOrder,
    /// CompleteMultipartUpload's `x-amz-mp-object-size` differs from the parts' total.
    #[error("the parts add up to {actual} bytes, not the {expected} given")]
    ObjectSizeMismatch {
        /// What the client said.
        expected: u64,
        /// What the parts add up to.
        actual: u64,
    },
    /// A part other than the last is smaller than 5 MiB.
    #[error("a part other than the last is smaller than 5 MiB")]
    EntityTooSmall,
    /// The body is larger than the configured limit.
    #[error("the body is larger than the limit of {0} bytes")]
    EntityTooLarge(u64),
    /// The client sent nothing for longer than the idle timeout.
    #[error("the upload stalled")]
    Timeout,
    /// The body does not match the checksum the client sent.
    #[error("the body does not match its {0} checksum")]
    BadDigest(&'static str),
    /// The body ended early or could not be read.
    #[error("reading the request body failed: {0}")]
    Body(String),
    /// Disk trouble. (Not a `#[source]`: the message already carries it.)
    #[error("storage I/O error: {0}")]
    Io(io::Error),
    /// Index trouble.
    #[error("metadata index error: {0}")]
    Index(String),
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::Io(e)
    }
}

macro_rules! index_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Index(e.to_string())
            }
        }
    )*};
}
index_err!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error
);

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The Content-Type S3 answers for an object stored without one (boto3's
/// `head_object()["ContentType"]` is then never missing).
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// The HTTP headers S3 keeps with an object and returns on GET/HEAD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Headers {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// `x-amz-meta-*`, without the prefix.
    pub user: BTreeMap<String, String>,
    /// Object tags (`x-amz-tagging`, PutObjectTagging).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: crate::tags::TagSet,
}

/// One object's index record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Id of the data file.
    pub blob: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes: hex MD5, or `hex-N` for multipart.
    pub etag: String,
    /// Last modified, Unix milliseconds.
    pub modified_ms: i64,
    /// Stored headers.
    pub headers: Headers,
    /// Number of parts for a multipart object.
    pub parts: Option<u32>,
    /// A multipart object's part sizes, as runs of `(size, count)` (uploads
    /// mostly use one size for all parts but the last, so this stays short).
    /// Absent for objects completed before part reads (`partNumber`) existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_runs: Option<Vec<(u64, u32)>>,
    /// CRC32 of the whole object, as records written before [`ObjectMeta::checksum`]
    /// existed have it. New records leave it empty; read it through
    /// [`ObjectMeta::stored_checksum`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<u32>,
    /// The object's checksum (the one the client sent, or CRC32 when it sent
    /// none), returned to clients that ask so they can check what they downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Stored>,
}

/// Where a part of an object lies, for GET/HEAD with `partNumber`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartSpan {
    /// Bytes `start..start + len`.
    Range {
        /// First byte.
        start: u64,
        /// Length.
        len: u64,
    },
    /// The object has fewer parts.
    NoSuchPart,
    /// A multipart object completed before part sizes were recorded.
    Unknown,
}

/// What [`Store::commit_object`] records beside the body.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// The ETag, unquoted.
    pub etag: String,
    /// Content headers, user metadata and tags.
    pub headers: Headers,
    /// A multipart object's parts.
    pub parts: Option<Parts>,
}

/// A conditional write (`If-None-Match: *`, `If-Match: ETAG` on PUT and
/// CompleteMultipartUpload). Checked inside the index commit that makes the
/// object visible, so of two writers racing on `If-None-Match: *` exactly one wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteIf {
    /// Unconditional.
    #[default]
    Always,
    /// Only if no object has the key (`If-None-Match: *`).
    Absent,
    /// Only if some object has the key (`If-Match: *`).
    Present,
    /// Only if the object's ETag (unquoted) is this (`If-Match`).
    ETag(String),
}

impl WriteIf {
    /// Whether the write may replace `old` (`None`: no object has the key).
    /// S3 answers a failed `If-Match` on a missing key with `NoSuchKey`.
    pub fn check(&self, old: Option<&ObjectMeta>) -> Result<()> {
        match (self, old) {
            (WriteIf::Always, _) | (WriteIf::Absent, None) | (WriteIf::Present, Some(_)) => Ok(()),
            (WriteIf::Absent, Some(_)) => Err(StoreError::PreconditionFailed),
            (WriteIf::Present | WriteIf::ETag(_), None) => Err(StoreError::NoSuchKey),
            (WriteIf::ETag(t), Some(m)) if *t == m.etag => Ok(()),
            (WriteIf::ETag(_), Some(_)) => Err(StoreError::PreconditionFailed),
        }
    }
}

/// A multipart object's parts, as [`Store::commit_object`] records them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts {
    /// How many.
    pub count: u32,
    /// Their sizes as `(size, count)` runs; empty if unknown.
    pub runs: Vec<(u64, u32)>,
}

impl Parts {
    /// Parts of these sizes, in order.
    pub fn from_sizes(sizes: impl IntoIterator<Item = u64>) -> Parts {
        let mut runs: Vec<(u64, u32)> = Vec::new();
        let mut count = 0u32;
        for size in sizes {
            count = count.saturating_add(1);
            match runs.last_mut() {
                Some((s, n)) if *s == size => *n = n.saturating_add(1),
                _ => runs.push((size, 1)),
            }
        }
        Parts { count, runs }
    }
}

impl ObjectMeta {
    /// The recorded parts of the object, for a copy to keep.
    pub fn parts_info(&self) -> Option<Parts> {
        self.parts.map(|count| Parts {
            count,
            runs: self.part_runs.clone().unwrap_or_default(),
        })
    }

    /// Where part `n` (from 1) lies. An object uploaded in one piece is one part.
    pub fn part_span(&self, n: u32) -> PartSpan {
        let Some(count) = self.parts else {
            return if n == 1 {
                PartSpan::Range {
                    start: 0,
                    len: self.size,
                }
            } else {
                PartSpan::NoSuchPart
            };
        };
        if n == 0 || n > count {
            return PartSpan::NoSuchPart;
        }
        let Some(runs) = &self.part_runs else {
            return PartSpan::Unknown;
        };
        let mut start = 0u64;
        let mut left = n - 1;
        for &(size, k) in runs {
            if left < k {
                return PartSpan::Range {
                    start: start + u64::from(left) * size,
                    len: size,
                };
            }
            start += u64::from(k) * size;
            left -= k;
        }
        PartSpan::Unknown
    }

    /// The object's checksum, from either the current or the older record format.
    pub fn stored_checksum(&self) -> Option<Stored> {
        self.checksum.clone().or_else(|| {
            self.crc32
                .map(|c| Stored::full(Algorithm::Crc32, &c.to_be_bytes()))
        })
    }
}

/// An object's index record borrowed from the index page, as the read fast path
/// reads it: the same JSON as [`ObjectMeta`], with strings borrowed where they
/// need no unescaping.
#[derive(Debug, Deserialize)]
pub struct ObjectView<'a> {
    /// Id of the data file.
    #[serde(borrow)]
    pub blob: Cow<'a, str>,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes.
    #[serde(borrow)]
    pub etag: Cow<'a, str>,
    /// Last modified, Unix milliseconds.
    pub modified_ms: i64,
    /// Stored headers.
    #[serde(borrow)]
    pub headers: HeadersView<'a>,
    /// Number of parts for a multipart object.
    #[serde(default)]
    pub parts: Option<u32>,
    /// CRC32 of records written before `checksum` existed.
    #[serde(default)]
    pub crc32: Option<u32>,
    /// The object's checksum.
    #[serde(default, borrow)]
    pub checksum: Option<StoredView<'a>>,
}

/// [`Headers`], borrowed.
#[derive(Debug, Default, Deserialize)]
pub struct HeadersView<'a> {
    /// Content-Type.
    #[serde(default, borrow)]
    pub content_type: Option<Cow<'a, str>>,
    /// Content-Disposition.
    #[serde(default, borrow)]
    pub content_disposition: Option<Cow<'a, str>>,
    /// Cache-Control.
    #[serde(default, borrow)]
    pub cache_control: Option<Cow<'a, str>>,
    /// Content-Encoding.
    #[serde(default, borrow)]
    pub content_encoding: Option<Cow<'a, str>>,
    /// Content-Language.
    #[serde(default, borrow)]
    pub content_language: Option<Cow<'a, str>>,
    /// `x-amz-meta-*`, without the prefix.
    #[serde(default, borrow)]
    pub user: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    /// Object tags (only their number is sent: `x-amz-tagging-count`).
    #[serde(default, borrow)]
    pub tags: BTreeMap<Cow<'a, str>, serde::de::IgnoredAny>,
}

/// [`Stored`], borrowed.
#[derive(Debug, Deserialize)]
pub struct StoredView<'a> {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// What it covers.
    pub kind: Kind,
    /// Base64 digest, as on the wire.
    #[serde(borrow)]
    pub value: Cow<'a, str>,
}

impl ObjectView<'_> {
    /// The record with its strings owned, to keep beyond the index read.
    fn into_owned(self) -> ObjectView<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        let h = self.headers;
        ObjectView {
            blob: own(self.blob),
            size: self.size,
            etag: own(self.etag),
            modified_ms: self.modified_ms,
            headers: HeadersView {
                content_type: h.content_type.map(own),
                content_disposition: h.content_disposition.map(own),
                cache_control: h.cache_control.map(own),
                content_encoding: h.content_encoding.map(own),
                content_language: h.content_language.map(own),
                user: h.user.into_iter().map(|(k, v)| (own(k), own(v))).collect(),
                tags: h.tags.into_iter().map(|(k, v)| (own(k), v)).collect(),
            },
            parts: self.parts,
            crc32: self.crc32,
            checksum: self.checksum.map(|c| StoredView {
                algorithm: c.algorithm,
                kind: c.kind,
                value: own(c.value),
            }),
        }
    }

    /// The object's checksum (algorithm, kind, base64 value), from either record format.
    pub fn checksum_header(&self, out: &mut dyn FnMut(Algorithm, Kind, &str)) {
        if let Some(s) = &self.checksum {
            out(s.algorithm, s.kind, &s.value);
        } else if let Some(c) = self.crc32 {
            let s = Stored::full(Algorithm::Crc32, &c.to_be_bytes());
            out(s.algorithm, s.kind, &s.value);
        }
    }
}

/// Buffers a connection keeps for [`Store::with_object`], so lookups do not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    key: Vec<u8>,
    path: PathBuf,
}

/// A CORS rule, as PutBucketCors sets it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CorsRule {
    /// Allowed origins; `*` wildcards allowed.
    pub allowed_origins: Vec<String>,
    /// Allowed methods.
    pub allowed_methods: Vec<String>,
    /// Allowed request headers; `*` wildcards allowed.
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may read.
    pub expose_headers: Vec<String>,
    /// Preflight cache time.
    pub max_age_seconds: Option<i32>,
}

/// A bucket's record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BucketMeta {
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
    /// CORS rules, if configured.
    pub cors: Option<Vec<CorsRule>>,
    /// Lifecycle rules, if configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Vec<crate::lifecycle::Rule>>,
    /// The bucket's tags (PutBucketTagging), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<crate::tags::TagSet>,
}

/// A multipart upload's record (`upload.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadMeta {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Headers the object will get.
    pub headers: Headers,
    /// Initiation time, Unix milliseconds.
    pub initiated_ms: i64,
    /// The checksum the object will get, as CreateMultipartUpload asked;
    /// every part is hashed with its algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<UploadChecksum>,
}

/// The checksum algorithm and kind of a multipart upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChecksum {
    /// Algorithm every part is hashed with.
    pub algorithm: Algorithm,
    /// Whether the object's checksum covers its bytes or its parts' checksums.
    pub kind: Kind,
}

/// A stored part (`N.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartMeta {
    /// Part number.
    pub number: u32,
    /// Name of the data file in the upload directory.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex MD5.
    pub etag: String,
    /// Upload time, Unix milliseconds.
    pub modified_ms: i64,
    /// The part's full checksum (the upload's algorithm, if it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Stored>,
}

/// What CompleteMultipartUpload asks for.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    /// The parts, in order.
    pub parts: Vec<Chosen>,
    /// The object checksum the client expects (base64), in the upload's algorithm.
    pub whole: Option<String>,
    /// The object size the client expects (`x-amz-mp-object-size`).
    pub object_size: Option<u64>,
    /// `If-None-Match` / `If-Match` on the completion.
    pub cond: WriteIf,
}

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// Part number.
    pub number: u32,
    /// The ETag the client has for it.
    pub etag: String,
    /// The checksum the client has for it (base64), in the upload's algorithm.
    pub checksum: Option<String>,
}

/// A body just written to disk.
#[derive(Debug)]
pub struct Written {
    /// Path of the temporary file.
    pub tmp: PathBuf,
    /// Bytes written.
    pub size: u64,
    /// MD5 of the body.
    pub md5: [u8; 16],
    /// The body's checksum, when known.
    pub checksum: Option<Stored>,
}

/// Limits applied while receiving a body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body accepted.
    pub max_size: u64,
    /// Longest wait for the next chunk.
    pub idle_timeout: Duration,
}

/// Checksums to compute while receiving a body.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Content-MD5, raw bytes: checked here ([`StoreError::BadDigest`]).
    pub md5: Option<Vec<u8>>,
    /// The algorithm to compute (CRC32 if none). Its value may arrive after the
    /// body (an aws-chunked trailer), so the caller compares it.
    pub algorithm: Option<Algorithm>,
}

/// One entry of a listing page.
#[derive(Debug, Clone)]
pub enum Listed {
    /// An object.
    Object(String, Box<ObjectMeta>),
    /// A common prefix (keys rolled up at the delimiter).
    Prefix(String),
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Page {
    /// Objects and common prefixes in key order.
    pub entries: Vec<Listed>,
    /// More entries follow; resume after `next`.
    pub truncated: bool,
    /// The last key or prefix returned, to resume after.
    pub next: Option<String>,
}

/// The store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    tmp: PathBuf,
    uploads: PathBuf,
    db: redb::Database,
    records: RecordCache,
    puts: GroupCommit,
}

impl Inner {
    /// Commits an index write. Every write to the index commits here, so the
    /// record cache starts a new generation after each one — after the
    /// commit and before the write is answered.
    fn commit(&self, txn: redb::WriteTransaction) -> std::result::Result<(), redb::CommitError> {
        txn.commit()?;
        self.records.next_generation();
        Ok(())
    }
}

/// Object records the read fast path parsed lately, with their data file open,
/// so a GET of a hot object reads neither the index nor its JSON again (two
/// thirds of a 64 KiB GET's user-space instructions, callgrind) and opens and
/// closes no file (two of its five system calls). `sendfile` reads at an
/// offset, never the file position, so one descriptor serves every reader.
///
/// Every committed index write ([`Inner::commit`]) empties the cache and
/// starts a new generation before the write is acknowledged, and a record is
/// only kept if no write committed since its reader began: a read that begins
/// after a PUT (or DELETE, or tagging) was answered never sees a record from
/// before it, and an overwritten or deleted data file is not held open past
/// the commit that dropped it. A read that races an unanswered write may see
/// either version, as it may without the cache.
struct RecordCache {
    inner: Mutex<Records>,
}

struct Records {
    generation: u64,
    map: HashMap<Vec<u8>, Arc<CachedRecord>>,
}

/// Most records kept (each holds a file descriptor).
const RECORDS_CACHED: usize = 256;

struct CachedRecord {
    view: ObjectView<'static>,
    file: Arc<std::fs::File>,
}

impl RecordCache {
    fn new() -> RecordCache {
        RecordCache {
            inner: Mutex::new(Records {
                generation: 0,
                map: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The record for `key`, if kept, and the generation a record read from
    /// the index now would belong to.
    fn get(&self, key: &[u8]) -> (u64, Option<Arc<CachedRecord>>) {
        let r = self.lock();
        (r.generation, r.map.get(key).cloned())
    }

    /// Keeps a record read in `generation`, unless a write committed since.
    fn put(&self, key: &[u8], generation: u64, record: CachedRecord) {
        let mut r = self.lock();
        if r.generation != generation {
            return;
        }
        if r.map.len() >= RECORDS_CACHED && !r.map.contains_key(key) {
            // Full: one arbitrary record makes room.
            if let Some(k) = r.map.keys().next().cloned() {
                r.map.remove(&k);
            }
        }
        r.map.insert(key.to_vec(), Arc::new(record));
    }

    fn next_generation(&self) {
        let mut r = self.lock();
        r.generation += 1;
        r.map.clear();
    }
}

fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn random_id() -> String {
    let v: u128 = rand::random();
    format!("{v:032x}")
}

fn index_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The smallest index key greater than every key that starts with `prefix`:
/// keys are UTF-8 and never contain the byte 0xFF.
fn after_prefix(bucket: &str, prefix: &str) -> Vec<u8> {
    let mut k = index_key(bucket, prefix);
    k.push(0xFF);
    k
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl Store {
    /// Opens (creating if needed) the store in `root`, then removes what a crash may
    /// have left: temporary files and data files no index entry points to.
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let internal = root.join(".bigstep");
        let tmp = internal.join("tmp");
        let uploads = internal.join("uploads");
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(&uploads)?;
        // Check we can write before we promise anything.
        let probe = tmp.join(format!("probe-{}", random_id()));
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)?;
        let db = redb::Database::create(internal.join("meta.redb"))?;
        {
            let txn = db.begin_write()?;
            txn.open_table(BUCKETS)?;
            txn.open_table(OBJECTS)?;
            txn.commit()?;
        }
        let store = Store {
            inner: Arc::new(Inner {
                root,
                tmp,
                uploads,
                db,
                records: RecordCache::new(),
                puts: GroupCommit::default(),
            }),
        };
        store.recover()?;
        Ok(store)
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn recover(&self) -> Result<()> {
        let mut removed = 0usize;
        for entry in std::fs::read_dir(&self.inner.tmp)? {
            std::fs::remove_file(entry?.path())?;
            removed += 1;
        }
        // Every data file the index points to.
        let mut live = HashSet::new();
        let txn = self.inner.db.begin_read()?;
        let objects = txn.open_table(OBJECTS)?;
        for item in objects.iter()? {
            let (_, v) = item?;
            let meta: ObjectMeta = serde_json::from_slice(v.value())?;
            live.insert(meta.blob);
        }
        let buckets = txn.open_table(BUCKETS)?;
        for item in buckets.iter()? {
            let (name, _) = item?;
            let dir = self.inner.root.join(name.value());
            let Ok(shards) = std::fs::read_dir(&dir) else {
                continue;
            };
            for shard in shards {
                let shard = shard?.path();
                if !shard.is_dir() {
                    continue;
                }
                for file in std::fs::read_dir(&shard)? {
                    let file = file?;
                    let name = file.file_name();
                    if !live.contains(name.to_string_lossy().as_ref()) {
                        std::fs::remove_file(file.path())?;
                        removed += 1;
                    }
                }
            }
        }
        // Part files that a crash left without their N.json.
        for upload in std::fs::read_dir(&self.inner.uploads)? {
            let dir = upload?.path();
            let mut keep = HashSet::new();
            let mut all = Vec::new();
            for f in std::fs::read_dir(&dir)? {
                let f = f?;
                let name = f.file_name().to_string_lossy().into_owned();
                if name.ends_with(".json") {
                    if name != "upload.json" {
                        if let Ok(p) = serde_json::from_slice::<PartMeta>(&std::fs::read(f.path())?)
                        {
                            keep.insert(p.file);
                        }
                    }
                } else {
                    all.push(name);
                }
            }
            for name in all {
                if !keep.contains(&name) {
                    std::fs::remove_file(dir.join(&name))?;
                    removed += 1;
                }
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed leftovers of interrupted writes");
        }
        Ok(())
    }

    fn blob_path(&self, bucket: &str, id: &str) -> PathBuf {
        self.inner.root.join(bucket).join(&id[..2]).join(id)
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Io(io::Error::other(e)))?
    }

    // === buckets ===

    /// All buckets, by name.
    pub async fn list_buckets(&self) -> Result<Vec<(String, BucketMeta)>> {
        self.blocking(|inner| {
            let txn = inner.db.begin_read()?;
            let t = txn.open_table(BUCKETS)?;
            let mut out = Vec::new();
            for item in t.iter()? {
                let (k, v) = item?;
                out.push((k.value().to_owned(), serde_json::from_slice(v.value())?));
            }
            Ok(out)
        })
        .await
    }

    /// One bucket's record.
    pub async fn bucket(&self, name: &str) -> Result<BucketMeta> {
        let name = name.to_owned();
        self.blocking(move |inner| {
            let txn = inner.db.begin_read()?;
            let t = txn.open_table(BUCKETS)?;
            let v = t.get(name.as_str())?.ok_or(StoreError::NoSuchBucket)?;
            Ok(serde_json::from_slice(v.value())?)
        })
        .await
    }

    /// Creates a bucket.
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        if !crate::key::valid_bucket_name(name) {
            return Err(StoreError::InvalidBucketName);
        }
        let name = name.to_owned();
        self.blocking(move |inner| {
            std::fs::create_dir_all(inner.root.join(&name))?;
            let txn = inner.db.begin_write()?;
            {
                let mut t = txn.open_table(BUCKETS)?;
                if t.get(name.as_str())?.is_some() {
                    return Err(StoreError::BucketExists);
                }
                let meta = BucketMeta {
                    created_ms: now_ms(),
                    ..BucketMeta::default()
                };
                t.insert(name.as_str(), serde_json::to_vec(&meta)?.as_slice())?;
            }
            inner.commit(txn)?;
            Ok(())
        })
        .await
    }

    /// Changes a bucket's CORS rules.
    pub async fn set_cors(&self, name: &str, cors: Option<Vec<CorsRule>>) -> Result<()> {
        self.update_bucket(name, move |m| m.cors = cors).await
    }

    /// Sets or clears a bucket's tags.
    pub async fn set_bucket_tags(
        &self,
        name: &str,
        tags: Option<crate::tags::TagSet>,
    ) -> Result<()> {
        self.update_bucket(name, move |m| m.tags = tags).await
    }

    /// Changes a bucket's lifecycle rules.
    pub async fn set_lifecycle(
        &self,
        name: &str,
        rules: Option<Vec<crate::lifecycle::Rule>>,
    ) -> Result<()> {
        self.update_bucket(name, move |m| m.lifecycle = rules).await
    }

    async fn update_bucket(
        &self,
        name: &str,
        change: impl FnOnce(&mut BucketMeta) + Send + 'static,
    ) -> Result<()> {
        let name = name.to_owned();
        self.blocking(move |inner| {
            let txn = inner.db.begin_write()?;
            {
                let mut t = txn.open_table(BUCKETS)?;
                let mut meta: BucketMeta = {
                    let v = t.get(name.as_str())?.ok_or(StoreError::NoSuchBucket)?;
                    serde_json::from_slice(v.value())?
                };
                change(&mut meta);
                t.insert(name.as_str(), serde_json::to_vec(&meta)?.as_slice())?;
            }
            inner.commit(txn)?;
            Ok(())
        })
        .await
    }

    /// Deletes an empty bucket and any unfinished uploads into it.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        let uploads = self.list_uploads(&name).await?;
        self.blocking(move |inner| {
            let txn = inner.db.begin_write()?;
            {
                let mut buckets = txn.open_table(BUCKETS)?;
                if buckets.get(name.as_str())?.is_none() {
                    return Err(StoreError::NoSuchBucket);
                }
                let objects = txn.open_table(OBJECTS)?;
                let start = index_key(&name, "");
                let end = after_prefix(&name, "");
                if objects
                    .range(start.as_slice()..end.as_slice())?
                    .next()
                    .is_some()
                {
                    return Err(StoreError::BucketNotEmpty);
                }
                buckets.remove(name.as_str())?;
            }
            inner.commit(txn)?;
            for (id, _) in uploads {
                let _ = std::fs::remove_dir_all(inner.uploads.join(id));
            }
            let _ = std::fs::remove_dir_all(inner.root.join(&name));
            Ok(())
        })
        .await
    }

    // === objects ===

    /// Streams a body into a temporary file, enforcing limits and checksums.
    pub async fn receive<S, E>(
        &self,
        mut body: S,
        limits: BodyLimits,
        expect: &Expect,
    ) -> Result<Written>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp = self.inner.tmp.join(random_id());
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut md5 = Md5::new();
            let mut sum = Hasher::new(expect.algorithm.unwrap_or(Algorithm::Crc32));
            let mut size = 0u64;
            loop {
                let next = tokio::time::timeout(limits.idle_timeout, body.next())
                    .await
                    .map_err(|_| StoreError::Timeout)?;
                let Some(chunk) = next else { break };
                let chunk = chunk.map_err(|e| {
                    let msg = e.to_string();
                    if msg.contains(BODY_IDLE) {
                        StoreError::Timeout
                    } else {
                        StoreError::Body(msg)
                    }
                })?;
                size += chunk.len() as u64;
                if size > limits.max_size {
                    return Err(StoreError::EntityTooLarge(limits.max_size));
                }
                md5.update(&chunk);
                sum.update(&chunk);
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            file.sync_all().await?;
            let md5: [u8; 16] = md5.finalize().into();
            if let Some(want) = &expect.md5 {
                if want.as_slice() != md5 {
                    return Err(StoreError::BadDigest("Content-MD5"));
                }
            }
            Ok(Written {
                tmp: tmp.clone(),
                size,
                md5,
                checksum: Some(sum.finish()),
            })
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Makes a received body the object `bucket/key`, atomically.
    pub async fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        written: Written,
        record: Record,
        cond: WriteIf,
    ) -> Result<ObjectMeta> {
        let Record {
            etag,
            headers,
            parts,
        } = record;
        let id = random_id();
        let meta = ObjectMeta {
            blob: id.clone(),
            size: written.size,
            etag,
            modified_ms: now_ms(),
            headers,
            parts: parts.as_ref().map(|p| p.count),
            part_runs: parts.filter(|p| !p.runs.is_empty()).map(|p| p.runs),
            crc32: None,
            checksum: written.checksum,
        };
        let bucket = bucket.to_owned();
        let key = key.to_owned();
        let tmp = written.tmp;
        let tmp_path = tmp.clone();
        let m = meta.clone();
        let r = self
            .blocking(move |inner| {
                let store_path = inner.root.join(&bucket).join(&id[..2]);
                {
                    // The bucket must still exist.
                    let txn = inner.db.begin_read()?;
                    let t = txn.open_table(BUCKETS)?;
                    if t.get(bucket.as_str())?.is_none() {
                        return Err(StoreError::NoSuchBucket);
                    }
                }
                std::fs::create_dir_all(&store_path)?;
                let dest = store_path.join(&id);
                std::fs::rename(&tmp, &dest)?;
                sync_dir(&store_path)?;
                let old = put_index(inner, &bucket, &key, &m, &cond);
                match old {
                    Ok(Some(old)) => {
                        let _ = std::fs::remove_file(
                            inner
                                .root
                                .join(&bucket)
                                .join(&old.blob[..2])
                                .join(&old.blob),
                        );
                        Ok(())
                    }
                    Ok(None) => Ok(()),
                    Err(e) => {
                        let _ = std::fs::remove_file(&dest);
                        Err(e)
                    }
                }
            })
            .await;
        if r.is_err() {
            // Failed before the rename (e.g. the bucket went away): drop the body.
            let _ = tokio::fs::remove_file(&tmp_path).await;
        }
        r.map(|()| meta)
    }

    /// The full-object checksum of a received body, read back from its file (a
    /// copy asked for another algorithm than its source's).
    pub async fn checksum_of(&self, written: &Written, algorithm: Algorithm) -> Result<Stored> {
        let path = written.tmp.clone();
        self.blocking(move |_| {
            use std::io::Read;
            let mut f = std::fs::File::open(&path)?;
            let mut h = Hasher::new(algorithm);
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    return Ok(h.finish());
                }
                h.update(&buf[..n]);
            }
        })
        .await
    }

    /// Throws away a received body that will not be committed.
    pub async fn discard(&self, written: Written) {
        let _ = tokio::fs::remove_file(&written.tmp).await;
    }

    /// An object's record.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.blocking(move |inner| lookup(inner, &bucket, &key))
            .await
    }

    /// An object's record and its open data file. The file stays readable even if
    /// the object is overwritten or deleted meanwhile.
    pub async fn open_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(ObjectMeta, tokio::fs::File)> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        // Lookup and open in one trip to the blocking pool: this is the GET hot path.
        let (meta, file) = self
            .blocking(move |inner| {
                for _ in 0..3 {
                    let meta = lookup(inner, &bucket, &key)?;
                    let path = inner
                        .root
                        .join(&bucket)
                        .join(&meta.blob[..2])
                        .join(&meta.blob);
                    match std::fs::File::open(path) {
                        Ok(f) => return Ok((meta, f)),
                        // Overwritten between lookup and open: look again.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(StoreError::NoSuchKey)
            })
            .await?;
        Ok((meta, tokio::fs::File::from_std(file)))
    }

    /// Looks `bucket/key` up and opens its data file on the calling thread, then
    /// hands both to `f` while the index page is still borrowed: the read fast
    /// path's lookup, with no copy of the record and no trip to the blocking pool
    /// (like nginx's `open()`, it runs on the event loop; the index and the
    /// directory entries are in the page cache on a warm server). `scratch` holds
    /// the index key and the path between calls, so a lookup allocates nothing;
    /// a record read again is answered from the record cache (`RecordCache`)
    /// with its file already open.
    pub fn with_object<R>(
        &self,
        bucket: &str,
        key: &str,
        scratch: &mut Scratch,
        f: impl FnOnce(&ObjectView<'_>, Arc<std::fs::File>) -> R,
    ) -> Result<R> {
        let inner = &*self.inner;
        scratch.key.clear();
        scratch.key.extend_from_slice(bucket.as_bytes());
        scratch.key.push(0);
        scratch.key.extend_from_slice(key.as_bytes());
        let (generation, cached) = inner.records.get(&scratch.key);
        if let Some(c) = cached {
            return Ok(f(&c.view, c.file.clone()));
        }
        for _ in 0..3 {
            let txn = inner.db.begin_read()?;
            let t = txn.open_table(OBJECTS)?;
            let Some(guard) = t.get(scratch.key.as_slice())? else {
                return Err(StoreError::NoSuchKey);
            };
            let view: ObjectView<'_> = serde_json::from_slice(guard.value())?;
            if view.blob.len() < 2 || !view.blob.is_char_boundary(2) {
                return Err(StoreError::Index("bad data file id".into()));
            }
            scratch.path.clear();
            scratch.path.push(&inner.root);
            scratch.path.push(bucket);
            scratch.path.push(&view.blob[..2]);
            scratch.path.push(view.blob.as_ref());
            match std::fs::File::open(&scratch.path) {
                Ok(file) => {
                    let file = Arc::new(file);
                    let r = f(&view, file.clone());
                    let record = CachedRecord {
                        view: view.into_owned(),
                        file,
                    };
                    inner.records.put(&scratch.key, generation, record);
                    return Ok(r);
                }
                // Overwritten between lookup and open: a fresh read sees the new record.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::NoSuchKey)
    }

    /// Copies an object's bytes into a temporary file (a hard link when possible).
    pub async fn copy_to_tmp(&self, bucket: &str, key: &str) -> Result<(ObjectMeta, Written)> {
        for _ in 0..3 {
            let meta = self.head(bucket, key).await?;
            let src = self.blob_path(bucket, &meta.blob);
            let tmp = self.inner.tmp.join(random_id());
            let r = match tokio::fs::hard_link(&src, &tmp).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(_) => tokio::fs::copy(&src, &tmp).await.map(|_| ()),
            };
            match r {
                Ok(()) => {
                    let md5 = hex_md5(&meta.etag);
                    let written = Written {
                        tmp,
                        size: meta.size,
                        md5,
                        checksum: meta.stored_checksum(),
                    };
                    return Ok((meta, written));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::NoSuchKey)
    }

    /// Replaces an object's tags (PutObjectTagging, DeleteObjectTagging) in one
    /// index transaction; the data file and every other field stay as they are.
    pub async fn set_tags(&self, bucket: &str, key: &str, tags: crate::tags::TagSet) -> Result<()> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.blocking(move |inner| {
            let txn = inner.db.begin_write()?;
            {
                if txn.open_table(BUCKETS)?.get(bucket.as_str())?.is_none() {
                    return Err(StoreError::NoSuchBucket);
                }
                let mut t = txn.open_table(OBJECTS)?;
                let k = index_key(&bucket, &key);
                let mut meta: ObjectMeta = {
                    let v = t.get(k.as_slice())?.ok_or(StoreError::NoSuchKey)?;
                    serde_json::from_slice(v.value())?
                };
                meta.headers.tags = tags;
                t.insert(k.as_slice(), serde_json::to_vec(&meta)?.as_slice())?;
            }
            inner.commit(txn)?;
            Ok(())
        })
        .await
    }

    /// Applies every bucket's lifecycle rules at `now_ms`: deletes expired
    /// objects and aborts stale multipart uploads. Walks only the keys under the
    /// rules' prefixes; an object written again after the walk saw it is left
    /// alone (the delete checks it still has the data file that expired).
    /// Returns how many objects and uploads it removed.
    pub async fn sweep(&self, now_ms: i64, day_ms: i64) -> Result<(usize, usize)> {
        let buckets = self.list_buckets().await?;
        let mut objects = 0;
        let mut uploads = 0;
        for (bucket, meta) in buckets {
            let Some(rules) = meta.lifecycle.filter(|r| r.iter().any(|r| r.enabled)) else {
                continue;
            };
            let b = bucket.clone();
            let rs = rules.clone();
            objects += self
                .blocking(move |inner| expire_objects(inner, &b, &rs, now_ms, day_ms))
                .await?;
            for (id, u) in self.list_uploads(&bucket).await? {
                if crate::lifecycle::abort_upload(&rules, &u.key, u.initiated_ms, now_ms, day_ms)
                    && self.abort_upload(&id).await.is_ok()
                {
                    uploads += 1;
                }
            }
        }
        Ok((objects, uploads))
    }

    /// Deletes an object; deleting a missing key succeeds, as in S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.blocking(move |inner| {
            let txn = inner.db.begin_write()?;
            let old = {
                let b = txn.open_table(BUCKETS)?;
                if b.get(bucket.as_str())?.is_none() {
                    return Err(StoreError::NoSuchBucket);
                }
                let mut t = txn.open_table(OBJECTS)?;
                let old = t.remove(index_key(&bucket, &key).as_slice())?;
                match old {
                    Some(v) => Some(serde_json::from_slice::<ObjectMeta>(v.value())?),
                    None => None,
                }
            };
            inner.commit(txn)?;
            if let Some(old) = old {
                let _ = std::fs::remove_file(
                    inner
                        .root
                        .join(&bucket)
                        .join(&old.blob[..2])
                        .join(&old.blob),
                );
            }
            Ok(())
        })
        .await
    }

    /// Deletes many keys in one index transaction (DeleteObjects); missing keys
    /// count as deleted, as in S3.
    pub async fn delete_objects(&self, bucket: &str, keys: Vec<String>) -> Result<()> {
        let bucket = bucket.to_owned();
        self.blocking(move |inner| {
            let txn = inner.db.begin_write()?;
            let mut blobs = Vec::new();
            {
                if txn.open_table(BUCKETS)?.get(bucket.as_str())?.is_none() {
                    return Err(StoreError::NoSuchBucket);
                }
                let mut t = txn.open_table(OBJECTS)?;
                for key in &keys {
                    if let Some(v) = t.remove(index_key(&bucket, key).as_slice())? {
                        blobs.push(serde_json::from_slice::<ObjectMeta>(v.value())?.blob);
                    }
                }
            }
            inner.commit(txn)?;
            for b in blobs {
                let _ = std::fs::remove_file(inner.root.join(&bucket).join(&b[..2]).join(&b));
            }
            Ok(())
        })
        .await
    }

    /// One page of a listing: keys starting with `prefix`, strictly after `after`,
    /// rolled up at `delimiter`, at most `max` entries.
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max: usize,
    ) -> Result<Page> {
        let bucket = bucket.to_owned();
        let prefix = prefix.to_owned();
        let delimiter = delimiter.filter(|d| !d.is_empty()).map(str::to_owned);
        let after = after.map(str::to_owned);
        self.blocking(move |inner| {
            let txn = inner.db.begin_read()?;
            if txn.open_table(BUCKETS)?.get(bucket.as_str())?.is_none() {
                return Err(StoreError::NoSuchBucket);
            }
            let t = txn.open_table(OBJECTS)?;
            let mut page = Page::default();
            let mut start: Bound<Vec<u8>> = Bound::Included(index_key(&bucket, &prefix));
            if let Some(a) = &after {
                if a.as_str() >= prefix.as_str() {
                    start = Bound::Excluded(index_key(&bucket, a));
                }
            }
            let end = after_prefix(&bucket, &prefix);
            let skip = bucket.len() + 1;
            'outer: loop {
                let range = t.range::<&[u8]>((
                    start.as_ref().map(Vec::as_slice),
                    Bound::Excluded(end.as_slice()),
                ))?;
                for item in range {
                    let (k, v) = item?;
                    let key = std::str::from_utf8(&k.value()[skip..])
                        .map_err(|e| StoreError::Index(e.to_string()))?
                        .to_owned();
                    let rolled = delimiter.as_deref().and_then(|d| {
                        key[prefix.len()..]
                            .find(d)
                            .map(|i| key[..prefix.len() + i + d.len()].to_owned())
                    });
                    if let Some(cp) = rolled {
                        // Every key under this common prefix sorts before
                        // `after_prefix(cp)`: continue there with a fresh seek.
                        start = Bound::Included(after_prefix(&bucket, &cp));
                        if after.as_deref().is_some_and(|a| cp.as_str() <= a) {
                            continue 'outer;
                        }
                        if page.entries.len() == max {
                            page.truncated = true;
                            break 'outer;
                        }
                        page.next = Some(cp.clone());
                        page.entries.push(Listed::Prefix(cp));
                        continue 'outer;
                    }
                    if page.entries.len() == max {
                        page.truncated = true;
                        break 'outer;
                    }
                    let meta: ObjectMeta = serde_json::from_slice(v.value())?;
                    page.next = Some(key.clone());
                    page.entries.push(Listed::Object(key, Box::new(meta)));
                }
                break;
            }
            Ok(page)
        })
        .await
    }

    // === multipart uploads ===

    /// Starts a multipart upload; returns its id.
    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        headers: Headers,
        checksum: Option<UploadChecksum>,
    ) -> Result<String> {
        self.bucket(bucket).await?;
        let id = random_id();
        let meta = UploadMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            headers,
            initiated_ms: now_ms(),
            checksum,
        };
        let dir = self.inner.uploads.join(&id);
        let tmp_dir = self.inner.tmp.join(format!("{id}.dir"));
        tokio::fs::create_dir(&tmp_dir).await?;
        tokio::fs::write(tmp_dir.join("upload.json"), serde_json::to_vec(&meta)?).await?;
        // The upload appears whole or not at all.
        tokio::fs::rename(&tmp_dir, &dir).await?;
        Ok(id)
    }

    /// An upload's record; checks it belongs to `bucket/key`.
    pub async fn upload(&self, bucket: &str, key: &str, id: &str) -> Result<UploadMeta> {
        if id.len() != 32 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(StoreError::NoSuchUpload);
        }
        let bytes = match tokio::fs::read(self.inner.uploads.join(id).join("upload.json")).await {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NoSuchUpload),
            Err(e) => return Err(e.into()),
        };
        let meta: UploadMeta = serde_json::from_slice(&bytes)?;
        if meta.bucket != bucket || meta.key != key {
            return Err(StoreError::NoSuchUpload);
        }
        Ok(meta)
    }

    /// Stores a received body as part `number` of upload `id`.
    pub async fn commit_part(&self, id: &str, number: u32, written: Written) -> Result<PartMeta> {
        let dir = self.inner.uploads.join(id);
        let file = format!("{number}.{}", random_id());
        let meta = PartMeta {
            number,
            file: file.clone(),
            size: written.size,
            etag: hex::encode(written.md5),
            modified_ms: now_ms(),
            checksum: written.checksum,
        };
        let m = meta.clone();
        let tmp = written.tmp;
        let tmp_json = self.inner.tmp.join(random_id());
        self.blocking(move |_| {
            if !dir.is_dir() {
                let _ = std::fs::remove_file(&tmp);
                return Err(StoreError::NoSuchUpload);
            }
            std::fs::rename(&tmp, dir.join(&file))?;
            let json_path = dir.join(format!("{number}.json"));
            let previous: Option<PartMeta> = std::fs::read(&json_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            std::fs::write(&tmp_json, serde_json::to_vec(&m)?)?;
            std::fs::rename(&tmp_json, &json_path)?;
            if let Some(p) = previous {
                let _ = std::fs::remove_file(dir.join(p.file));
            }
            Ok(())
        })
        .await?;
        Ok(meta)
    }

    /// The parts of an upload, by number.
    pub async fn list_parts(&self, id: &str) -> Result<Vec<PartMeta>> {
        let dir = self.inner.uploads.join(id);
        self.blocking(move |_| {
            let mut parts = Vec::new();
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(StoreError::NoSuchUpload)
                }
                Err(e) => return Err(e.into()),
            };
            for f in rd {
                let f = f?;
                let name = f.file_name().to_string_lossy().into_owned();
                if name.ends_with(".json") && name != "upload.json" {
                    if let Ok(p) = serde_json::from_slice::<PartMeta>(&std::fs::read(f.path())?) {
                        parts.push(p);
                    }
                }
            }
            parts.sort_by_key(|p| p.number);
            Ok(parts)
        })
        .await
    }

    /// Unfinished uploads into `bucket`, by key then initiation time.
    pub async fn list_uploads(&self, bucket: &str) -> Result<Vec<(String, UploadMeta)>> {
        let dir = self.inner.uploads.clone();
        let bucket = bucket.to_owned();
        self.blocking(move |_| {
            let mut out = Vec::new();
            for d in std::fs::read_dir(&dir)? {
                let d = d?;
                let Ok(bytes) = std::fs::read(d.path().join("upload.json")) else {
                    continue;
                };
                let Ok(meta) = serde_json::from_slice::<UploadMeta>(&bytes) else {
                    continue;
                };
                if meta.bucket == bucket {
                    out.push((d.file_name().to_string_lossy().into_owned(), meta));
                }
            }
            out.sort_by(|a, b| (&a.1.key, a.1.initiated_ms).cmp(&(&b.1.key, b.1.initiated_ms)));
            Ok(out)
        })
        .await
    }

    /// Aborts an upload, removing its parts.
    pub async fn abort_upload(&self, id: &str) -> Result<()> {
        let dir = self.inner.uploads.join(id);
        // Move it out of sight first so a concurrent UploadPart fails cleanly.
        let trash = self.inner.tmp.join(format!("{}.dir", random_id()));
        match tokio::fs::rename(&dir, &trash).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NoSuchUpload),
            Err(e) => return Err(e.into()),
        }
        tokio::fs::remove_dir_all(&trash).await?;
        Ok(())
    }

    /// Joins the chosen parts into the object, atomically, and ends the upload.
    ///
    /// A part checksum the client names must equal the stored one
    /// ([`StoreError::InvalidPart`], as S3); the object checksum and size the client
    /// expects must equal the ones computed ([`StoreError::BadDigest`],
    /// [`StoreError::ObjectSizeMismatch`]). The object's
    /// checksum is composite (over the parts' digests) or full-object (hashed while
    /// the parts are joined: the upload's CRC, or CRC32 as for a single PUT). On any
    /// failure nothing is stored and the upload stays, so the client may retry.
    pub async fn complete_upload(
        &self,
        upload: UploadMeta,
        id: &str,
        completion: &Completion,
        max_size: u64,
    ) -> Result<ObjectMeta> {
        let chosen = &completion.parts;
        let whole = completion.whole.as_deref();
        let stored = self.list_parts(id).await?;
        if chosen.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(StoreError::InvalidPartOrder);
        }
        let algorithm = upload.checksum.map(|c| c.algorithm);
        let mut plan = Vec::with_capacity(chosen.len());
        for (i, c) in chosen.iter().enumerate() {
            let part = stored
                .iter()
                .find(|p| p.number == c.number)
                .ok_or(StoreError::InvalidPart)?;
            if c.etag.trim_matches('"') != part.etag {
                return Err(StoreError::InvalidPart);
            }
            if let Some(want) = &c.checksum {
                let have = part
                    .checksum
                    .as_ref()
                    .filter(|s| Some(s.algorithm) == algorithm);
                if have.map(|s| s.value.as_str()) != Some(want.trim()) {
                    return Err(StoreError::InvalidPart);
                }
            }
            if i + 1 < chosen.len() && part.size < MIN_PART_SIZE {
                return Err(StoreError::EntityTooSmall);
            }
            plan.push(part.clone());
        }
        if plan.is_empty() {
            return Err(StoreError::InvalidPart);
        }
        let total: u64 = plan.iter().map(|p| p.size).sum();
        if total > max_size {
            return Err(StoreError::EntityTooLarge(max_size));
        }
        if let Some(expected) = completion.object_size.filter(|&e| e != total) {
            return Err(StoreError::ObjectSizeMismatch {
                expected,
                actual: total,
            });
        }
        let (composite, full) = match upload.checksum {
            Some(UploadChecksum {
                algorithm,
                kind: Kind::Composite,
            }) => {
                let raws = plan
                    .iter()
                    .map(|p| {
                        p.checksum
                            .as_ref()
                            .filter(|s| s.algorithm == algorithm)
                            .and_then(Stored::raw)
                            .ok_or(StoreError::InvalidPart)
                    })
                    .collect::<Result<Vec<_>>>()?;
                (Some(checksum::composite(algorithm, &raws)), None)
            }
            Some(c) => (None, Some(Hasher::new(c.algorithm))),
            None => (None, Some(Hasher::new(Algorithm::Crc32))),
        };
        let dir = self.inner.uploads.join(id);
        let tmp = self.inner.tmp.join(random_id());
        let files: Vec<PathBuf> = plan.iter().map(|p| dir.join(&p.file)).collect();
        let out_path = tmp.clone();
        let joined = self
            .blocking(move |_| {
                use std::io::{Read, Write};
                let mut full = full;
                let mut out = std::fs::File::create(&out_path)?;
                let mut buf = vec![0u8; 256 * 1024];
                for f in &files {
                    let mut f = std::fs::File::open(f)?;
                    loop {
                        let n = f.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        if let Some(h) = full.as_mut() {
                            h.update(&buf[..n]);
                        }
                        out.write_all(&buf[..n])?;
                    }
                }
                out.sync_all()?;
                Ok(full.map(Hasher::finish))
            })
            .await;
        let full = match joined {
            Ok(full) => full,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let sum = composite.or(full);
        if let (Some(want), Some(have)) = (whole, &sum) {
            // Compare digests, not spellings; a composite value may come without `-N`.
            let raw = |v: &str| {
                let b64 = v.trim().split('-').next().unwrap_or_default();
                checksum::decode(have.algorithm, b64).ok()
            };
            if raw(want).is_none() || raw(want) != raw(&have.value) {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(StoreError::BadDigest(have.algorithm.name()));
            }
        }
        let mut md5s = Md5::new();
        for p in &plan {
            md5s.update(hex_md5(&p.etag));
        }
        let etag = format!("{}-{}", hex::encode(md5s.finalize()), plan.len());
        let written = Written {
            tmp,
            size: total,
            md5: [0; 16],
            checksum: sum,
        };
        let parts = Parts::from_sizes(plan.iter().map(|p| p.size));
        let meta = self
            .commit_object(
                &upload.bucket,
                &upload.key,
                written,
                Record {
                    etag,
                    headers: upload.headers,
                    parts: Some(parts),
                },
                completion.cond.clone(),
            )
            .await?;
        let _ = self.abort_upload(id).await;
        Ok(meta)
    }
}

/// Points `bucket/key` at `meta` in the index, durably, and returns the record
/// it replaced. PUTs arriving together share one index commit (see
/// [`GroupCommit`]); each returns only once the commit holding its write is done.
fn put_index(
    inner: &Inner,
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
    cond: &WriteIf,
) -> Result<Option<ObjectMeta>> {
    let g = &inner.puts;
    let mut state = g.lock();
    let ticket = state.next;
    state.next += 1;
    state.queue.push(Pending {
        ticket,
        key: index_key(bucket, key),
        bucket_len: bucket.len(),
        meta: serde_json::to_vec(meta)?,
        cond: cond.clone(),
    });
    loop {
        if let Some(result) = state.results.remove(&ticket) {
            return result;
        }
        if !state.leading {
            // No commit under way: ours is in the queue, take the queue.
            state.leading = true;
            let batch = std::mem::take(&mut state.queue);
            drop(state);
            let mut leader = Leader {
                group: g,
                tickets: batch.iter().map(|p| p.ticket).collect(),
                results: Vec::new(),
            };
            leader.results = commit_batch(inner, &batch);
            drop(leader);
            state = g.lock();
            continue;
        }
        state = g.done.wait(state).unwrap_or_else(PoisonError::into_inner);
    }
}

/// Group commit of PUTs' index writes. A redb commit is durable when it
/// returns (it fsyncs), and writers queue for it one at a time anyway; so
/// while one commit is under way the PUTs that arrive queue their writes, and
/// the first of them, once it is done, commits them all in one transaction:
/// one fsync for the lot. Each writer is answered only after the commit that
/// holds its write returned, so an acknowledged PUT survives `kill -9` and
/// power loss as before. A lone PUT commits at once, as before.
#[derive(Default)]
struct GroupCommit {
    state: Mutex<GroupState>,
    /// Signalled when a batch's results are in, or the lead is free.
    done: Condvar,
}

#[derive(Default)]
struct GroupState {
    next: u64,
    /// Writes no commit has taken yet.
    queue: Vec<Pending>,
    /// A writer is committing a batch.
    leading: bool,
    /// Outcomes by ticket, for the writers to collect.
    results: HashMap<u64, Result<Option<ObjectMeta>>>,
}

struct Pending {
    ticket: u64,
    /// The index key, `bucket NUL key`.
    key: Vec<u8>,
    bucket_len: usize,
    /// The record, as JSON.
    meta: Vec<u8>,
    /// Checked against the record it replaces, in the commit's transaction.
    cond: WriteIf,
}

impl GroupCommit {
    fn lock(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writer committing a batch. Dropped, it publishes the batch's
/// outcomes, gives up the lead and wakes the writers, however the batch
/// ended: after a panic every write of the batch fails, so no writer waits
/// for a leader that is gone.
struct Leader<'a> {
    group: &'a GroupCommit,
    tickets: Vec<u64>,
    results: Vec<(u64, Result<Option<ObjectMeta>>)>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut state = self.group.lock();
        if self.results.is_empty() {
            for &t in &self.tickets {
                let failed = StoreError::Index("the index commit did not finish".into());
                state.results.insert(t, Err(failed));
            }
        }
        state.results.extend(self.results.drain(..));
        state.leading = false;
        self.group.done.notify_all();
    }
}

/// Commits `batch` in one transaction; each write's outcome by its ticket. A
/// write whose bucket is gone, or whose old record does not parse, fails
/// alone; a failed transaction or commit fails them all (none is stored).
fn commit_batch(inner: &Inner, batch: &[Pending]) -> Vec<(u64, Result<Option<ObjectMeta>>)> {
    let run = || -> Result<Vec<(u64, Result<Option<ObjectMeta>>)>> {
        let txn = inner.db.begin_write()?;
        let mut out = Vec::with_capacity(batch.len());
        {
            let buckets = txn.open_table(BUCKETS)?;
            let mut t = txn.open_table(OBJECTS)?;
            for p in batch {
                let bucket = std::str::from_utf8(&p.key[..p.bucket_len]).unwrap_or_default();
                if buckets.get(bucket)?.is_none() {
                    out.push((p.ticket, Err(StoreError::NoSuchBucket)));
                    continue;
                }
                let old = match t.get(p.key.as_slice())? {
                    Some(v) => match serde_json::from_slice::<ObjectMeta>(v.value()) {
                        Ok(m) => Some(m),
                        Err(e) => {
                            out.push((p.ticket, Err(e.into())));
                            continue;
                        }
                    },
                    None => None,
                };
                if let Err(e) = p.cond.check(old.as_ref()) {
                    out.push((p.ticket, Err(e)));
                    continue;
                }
                t.insert(p.key.as_slice(), p.meta.as_slice())?;
                out.push((p.ticket, Ok(old)));
            }
        }
        inner.commit(txn)?;
        Ok(out)
    };
    match run() {
        Ok(out) => out,
        Err(e) => {
            let msg = e.to_string();
            batch
                .iter()
                .map(|p| (p.ticket, Err(StoreError::Index(msg.clone()))))
                .collect()
        }
    }
}

/// One bucket's part of [`Store::sweep`]: finds expired objects under the rules'
/// prefixes, then deletes those whose record is unchanged, in one transaction.
fn expire_objects(
    inner: &Inner,
    bucket: &str,
    rules: &[crate::lifecycle::Rule],
    now_ms: i64,
    day_ms: i64,
) -> Result<usize> {
    let mut doomed: Vec<(Vec<u8>, String)> = Vec::new();
    {
        let txn = inner.db.begin_read()?;
        let t = txn.open_table(OBJECTS)?;
        let mut prefixes: Vec<&str> = rules
            .iter()
            .filter(|r| r.enabled && (r.days.is_some() || r.date_ms.is_some()))
            .map(|r| r.prefix.as_str())
            .collect();
        prefixes.sort_unstable();
        // A prefix that another one covers is walked once, as part of the shorter.
        prefixes.dedup_by(|later, earlier| later.starts_with(*earlier));
        let skip = bucket.len() + 1;
        for prefix in prefixes {
            let start = index_key(bucket, prefix);
            let end = after_prefix(bucket, prefix);
            for item in t.range(start.as_slice()..end.as_slice())? {
                let (k, v) = item?;
                let Ok(key) = std::str::from_utf8(&k.value()[skip..]) else {
                    continue;
                };
                let meta: ObjectMeta = serde_json::from_slice(v.value())?;
                let obj = crate::lifecycle::Object {
                    key,
                    size: meta.size,
                    modified_ms: meta.modified_ms,
                    tags: &meta.headers.tags,
                };
                if crate::lifecycle::expired(rules, &obj, now_ms, day_ms) {
                    doomed.push((k.value().to_vec(), meta.blob));
                }
            }
        }
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    let txn = inner.db.begin_write()?;
    let mut gone = Vec::new();
    {
        let mut t = txn.open_table(OBJECTS)?;
        for (k, blob) in &doomed {
            let same = match t.get(k.as_slice())? {
                Some(v) => serde_json::from_slice::<ObjectMeta>(v.value())?.blob == *blob,
                None => false,
            };
            if same {
                t.remove(k.as_slice())?;
                gone.push(blob.clone());
            }
        }
    }
    inner.commit(txn)?;
    for blob in &gone {
        let _ = std::fs::remove_file(inner.root.join(bucket).join(&blob[..2]).join(blob));
    }
    Ok(gone.len())
}

fn lookup(inner: &Inner, bucket: &str, key: &str) -> Result<ObjectMeta> {
    let txn = inner.db.begin_read()?;
    let t = txn.open_table(OBJECTS)?;
    match t.get(index_key(bucket, key).as_slice())? {
        Some(v) => Ok(serde_json::from_slice(v.value())?),
        None => {
            let b = txn.open_table(BUCKETS)?;
            if b.get(bucket)?.is_none() {
                Err(StoreError::NoSuchBucket)
            } else {
                Err(StoreError::NoSuchKey)
            }
        }
    }
}

/// Decodes a hex MD5 ETag (without `-N`) to bytes; zeros if it is not one.
fn hex_md5(etag: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    if let Ok(v) = hex::decode(etag.trim_matches('"')) {
        if v.len() == 16 {
            out.copy_from_slice(&v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(tag: &str) -> (testkit::TempDir, Store) {
        let dir = testkit::TempDir::new(&format!("files-store-{tag}"));
        let store = Store::open(&dir).expect("open");
        (dir, store)
    }

    /// Inserts index entries without data files, in one transaction.
    fn bulk_index(store: &Store, bucket: &str, keys: &[String]) {
        let txn = store.inner.db.begin_write().expect("txn");
        {
            let mut t = txn.open_table(OBJECTS).expect("table");
            for k in keys {
                let meta = ObjectMeta {
                    blob: "00".repeat(16),
                    size: 0,
                    etag: String::new(),
                    modified_ms: 0,
                    headers: Headers::default(),
                    parts: None,
                    part_runs: None,
                    crc32: None,
                    checksum: None,
                };
                t.insert(
                    index_key(bucket, k).as_slice(),
                    serde_json::to_vec(&meta).expect("json").as_slice(),
                )
                .expect("insert");
            }
        }
        store.inner.commit(txn).expect("commit");
    }

    /// What S3 returns for a full listing, computed naively.
    fn model(keys: &[String], prefix: &str, delimiter: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for k in keys.iter().filter(|k| k.starts_with(prefix)) {
            let e = match delimiter.and_then(|d| k[prefix.len()..].find(d).map(|i| (i, d))) {
                Some((i, d)) => format!("P:{}", &k[..prefix.len() + i + d.len()]),
                None => format!("K:{k}"),
            };
            if out.last() != Some(&e) {
                out.push(e);
            }
        }
        out
    }

    async fn paged(
        store: &Store,
        prefix: &str,
        delimiter: Option<&str>,
        max: usize,
    ) -> (Vec<String>, usize) {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = store
                .list("bkt", prefix, delimiter, after.as_deref(), max)
                .await
                .expect("list");
            pages += 1;
            assert!(page.entries.len() <= max);
            for e in page.entries {
                out.push(match e {
                    Listed::Object(k, _) => format!("K:{k}"),
                    Listed::Prefix(p) => format!("P:{p}"),
                });
            }
            if !page.truncated {
                return (out, pages);
            }
            after = page.next;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listing_100k_pages_match_the_model() {
        let (dir, store) = temp_store("list");
        store.create_bucket("bkt").await.expect("bucket");
        // Keys over a small alphabet so prefixes and delimiters collide a lot.
        let mut keys: Vec<String> = (0..100_000u32)
            .map(|i| {
                let x = i.wrapping_mul(2_654_435_761);
                let a = ["a", "a/", "a-", "b/", "ab/", "a/b/"][(x % 6) as usize];
                format!("{a}{:x}/{}", x % 97, i)
            })
            .collect();
        keys.sort();
        keys.dedup();
        bulk_index(&store, "bkt", &keys);
        for (prefix, delim, max) in [
            ("", None, 1000),
            ("", Some("/"), 7),
            ("a", Some("/"), 10),
            ("a/", Some("/"), 1000),
            ("a/b/", None, 333),
            ("zzz", Some("/"), 5),
            ("a", Some("b/"), 50),
        ] {
            let (got, pages) = paged(&store, prefix, delim, max).await;
            let want = model(&keys, prefix, delim);
            assert_eq!(got.len(), want.len(), "{prefix:?} {delim:?}");
            assert!(got == want, "{prefix:?} {delim:?} differs");
            assert!(pages <= want.len() / max + 1, "pages are full");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// What the read fast path's lookup sees: (etag, tag count, the data file's bytes).
    fn fast_read(store: &Store, key: &str) -> Result<(String, usize, String)> {
        let mut scratch = Scratch::default();
        store.with_object("bkt", key, &mut scratch, |obj, file| {
            // At an offset, as sendfile reads: the descriptor is shared.
            let mut body = vec![0u8; usize::try_from(obj.size).expect("size")];
            std::os::unix::fs::FileExt::read_exact_at(&*file, &mut body, 0).expect("read");
            (
                obj.etag.to_string(),
                obj.headers.tags.len(),
                String::from_utf8(body).expect("utf-8"),
            )
        })
    }

    async fn put_small(store: &Store, key: &str, body: &[u8]) -> String {
        let limits = BodyLimits {
            max_size: 1 << 20,
            idle_timeout: Duration::from_secs(5),
        };
        let stream =
            futures_util::stream::iter(vec![Ok::<_, io::Error>(Bytes::copy_from_slice(body))]);
        let w = store
            .receive(stream, limits, &Expect::default())
            .await
            .expect("receive");
        let tag = hex::encode(w.md5);
        store
            .commit_object(
                "bkt",
                key,
                w,
                Record {
                    etag: tag.clone(),
                    ..Record::default()
                },
                WriteIf::Always,
            )
            .await
            .expect("commit");
        tag
    }

    /// The fast path's record cache never answers with a record older than an
    /// acknowledged write: an overwrite, a tagging (same data file, new record)
    /// and a delete are each seen by the next read.
    #[tokio::test]
    async fn fast_reads_see_every_acknowledged_write() {
        let (_dir, store) = temp_store("records");
        store.create_bucket("bkt").await.expect("bucket");
        let first = put_small(&store, "k", b"first").await;
        for _ in 0..2 {
            // The second read is answered from the cache.
            let got = fast_read(&store, "k").expect("read");
            assert_eq!(got, (first.clone(), 0, "first".to_owned()));
        }
        let second = put_small(&store, "k", b"second").await;
        let got = fast_read(&store, "k").expect("read");
        assert_eq!(got, (second.clone(), 0, "second".to_owned()));
        let tags = crate::tags::from_pairs([("a".to_owned(), "b".to_owned())]).expect("tags");
        store.set_tags("bkt", "k", tags).await.expect("tag");
        let got = fast_read(&store, "k").expect("read");
        assert_eq!(got, (second, 1, "second".to_owned()));
        store.delete_object("bkt", "k").await.expect("delete");
        assert!(matches!(fast_read(&store, "k"), Err(StoreError::NoSuchKey)));
    }

    #[tokio::test]
    async fn put_get_overwrite_delete_and_recover() {
        let (dir, store) = temp_store("basic");
        store.create_bucket("bkt").await.expect("bucket");
        assert!(matches!(
            store.create_bucket("../x").await,
            Err(StoreError::InvalidBucketName)
        ));
        let limits = BodyLimits {
            max_size: 1 << 20,
            idle_timeout: Duration::from_secs(5),
        };
        for body in [&b"first"[..], &b"second body"[..]] {
            let stream =
                futures_util::stream::iter(vec![Ok::<_, io::Error>(Bytes::copy_from_slice(body))]);
            let w = store
                .receive(stream, limits, &Expect::default())
                .await
                .expect("receive");
            let tag = hex::encode(w.md5);
            store
                .commit_object(
                    "bkt",
                    "k",
                    w,
                    Record {
                        etag: tag,
                        ..Record::default()
                    },
                    WriteIf::Always,
                )
                .await
                .expect("commit");
        }
        let (meta, mut f) = store.open_object("bkt", "k").await.expect("open");
        let mut s = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut f, &mut s)
            .await
            .expect("read");
        assert_eq!((s.as_str(), meta.size), ("second body", 11));
        // Only one data file: the overwritten one is gone.
        let files: usize = std::fs::read_dir(dir.join("bkt"))
            .expect("dir")
            .map(|d| {
                std::fs::read_dir(d.expect("e").path())
                    .expect("shard")
                    .count()
            })
            .sum();
        assert_eq!(files, 1);
        // A body over the limit is refused and leaves nothing behind.
        let big =
            futures_util::stream::iter(vec![Ok::<_, io::Error>(Bytes::from(vec![0u8; 2 << 20]))]);
        assert!(matches!(
            store.receive(big, limits, &Expect::default()).await,
            Err(StoreError::EntityTooLarge(_))
        ));
        // Leftovers of a crash: a temp file and an orphan data file.
        std::fs::write(dir.join(".bigstep/tmp/junk"), b"x").expect("junk");
        std::fs::create_dir_all(dir.join("bkt/ff")).expect("shard");
        std::fs::write(dir.join("bkt/ff/ffffffffffffffffffffffffffffffff"), b"x").expect("orphan");
        drop(store);
        let store = Store::open(&dir).expect("reopen");
        assert_eq!(
            std::fs::read_dir(dir.join(".bigstep/tmp"))
                .expect("tmp")
                .count(),
            0
        );
        assert!(!dir.join("bkt/ff/ffffffffffffffffffffffffffffffff").exists());
        assert_eq!(store.head("bkt", "k").await.expect("head").size, 11);
        store.delete_object("bkt", "k").await.expect("delete");
        assert!(matches!(
            store.head("bkt", "k").await,
            Err(StoreError::NoSuchKey)
        ));
        store.delete_bucket("bkt").await.expect("delete bucket");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn records_from_before_checksums_still_read() {
        // An object record as the store wrote it before the `checksum` field.
        let old = br#"{"blob":"00112233445566778899aabbccddeeff","size":3,
            "etag":"900150983cd24fb0d6963f7d28e17f72","modified_ms":1,
            "headers":{"content_type":null,"user":{}},"parts":null,"crc32":891568578}"#;
        let meta: ObjectMeta = serde_json::from_slice(old).expect("old object record");
        let sum = meta.stored_checksum().expect("its CRC32");
        assert_eq!(
            (sum.algorithm, sum.kind, sum.value.as_str()),
            (Algorithm::Crc32, Kind::FullObject, "NSRBwg==")
        );
        let upload: UploadMeta = serde_json::from_slice(
            br#"{"bucket":"b","key":"k","headers":{"user":{}},"initiated_ms":1}"#,
        )
        .expect("old upload.json");
        assert!(upload.checksum.is_none());
        let part: PartMeta = serde_json::from_slice(
            br#"{"number":1,"file":"1.ab","size":3,"etag":"e","modified_ms":1}"#,
        )
        .expect("old N.json");
        assert!(part.checksum.is_none());
        // A new record keeps its checksum and no longer writes the old field.
        let new = ObjectMeta {
            crc32: None,
            checksum: Some(Stored::full(Algorithm::Sha1, &[7; 20])),
            ..meta
        };
        let json = serde_json::to_string(&new).expect("json");
        assert!(!json.contains("crc32"), "{json}");
        let back: ObjectMeta = serde_json::from_str(&json).expect("read back");
        assert_eq!(back.stored_checksum(), new.checksum);
    }

    #[test]
    fn part_spans() {
        let p = Parts::from_sizes([5, 5, 5, 2]);
        assert_eq!((p.count, p.runs.clone()), (4, vec![(5, 3), (2, 1)]));
        let meta = ObjectMeta {
            blob: String::new(),
            size: 17,
            etag: String::new(),
            modified_ms: 0,
            headers: Headers::default(),
            parts: Some(p.count),
            part_runs: Some(p.runs),
            crc32: None,
            checksum: None,
        };
        assert_eq!(meta.part_span(1), PartSpan::Range { start: 0, len: 5 });
        assert_eq!(meta.part_span(3), PartSpan::Range { start: 10, len: 5 });
        assert_eq!(meta.part_span(4), PartSpan::Range { start: 15, len: 2 });
        assert_eq!(meta.part_span(5), PartSpan::NoSuchPart);
        assert_eq!(meta.part_span(0), PartSpan::NoSuchPart);
        let old = ObjectMeta {
            part_runs: None,
            ..meta.clone()
        };
        assert_eq!(old.part_span(2), PartSpan::Unknown);
        let single = ObjectMeta {
            parts: None,
            part_runs: None,
            ..meta
        };
        assert_eq!(single.part_span(1), PartSpan::Range { start: 0, len: 17 });
        assert_eq!(single.part_span(2), PartSpan::NoSuchPart);
    }

    #[tokio::test(start_paused = true)]
    async fn stalled_upload_times_out() {
        let (dir, store) = temp_store("stall");
        let limits = BodyLimits {
            max_size: 1 << 20,
            idle_timeout: Duration::from_secs(30),
        };
        let stalled =
            futures_util::stream::iter(vec![Ok::<_, io::Error>(Bytes::from_static(b"x"))])
                .chain(futures_util::stream::pending());
        let r = store
            .receive(Box::pin(stalled), limits, &Expect::default())
            .await;
        assert!(matches!(r, Err(StoreError::Timeout)));
        let _ = std::fs::remove_dir_all(dir);
    }
}
