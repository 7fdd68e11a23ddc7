//! The S3 operations, translated onto [`Store`]. `s3s` parses requests, checks
//! signatures and writes responses; this module decides what each operation means.

use std::time::Duration;

use base64::Engine;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::checksum::{self, Algorithm, Kind, Stored};
use crate::key::{valid_bucket_name, validate_key};
use crate::store::{
    BodyLimits, Chosen, Completion, CorsRule, Expect, Headers, Listed, ObjectMeta, PartSpan,
    Record, Store, StoreError, UploadChecksum, WriteIf, Written,
};

/// Read buffer for streaming objects out.
const READ_CHUNK: usize = 256 * 1024;

/// Bodies up to this size are read in one go rather than streamed.
const SMALL_BODY: u64 = 256 * 1024;

/// The S3 service over a [`Store`].
#[derive(Clone)]
pub(crate) struct Backend {
    pub(crate) store: Store,
    pub(crate) max_object_size: u64,
    pub(crate) max_part_size: u64,
    pub(crate) idle_timeout: Duration,
    pub(crate) region: String,
}

fn err(e: StoreError) -> S3Error {
    use StoreError as E;
    let code = match &e {
        E::NoSuchBucket => S3ErrorCode::NoSuchBucket,
        E::PreconditionFailed => S3ErrorCode::PreconditionFailed,
        E::BucketExists => S3ErrorCode::BucketAlreadyOwnedByYou,
        E::InvalidBucketName => S3ErrorCode::InvalidBucketName,
        E::BucketNotEmpty => S3ErrorCode::BucketNotEmpty,
        E::NoSuchKey => S3ErrorCode::NoSuchKey,
        E::NoSuchUpload => S3ErrorCode::NoSuchUpload,
        E::InvalidPart => S3ErrorCode::InvalidPart,
        E::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        E::EntityTooSmall => S3ErrorCode::EntityTooSmall,
        E::ObjectSizeMismatch { .. } => S3ErrorCode::InvalidRequest,
        E::EntityTooLarge(_) => S3ErrorCode::EntityTooLarge,
        E::Timeout => S3ErrorCode::RequestTimeout,
        E::BadDigest(_) => S3ErrorCode::BadDigest,
        E::Body(_) => S3ErrorCode::IncompleteBody,
        E::Io(_) | E::Index(_) => {
            tracing::error!(error = %e, "storage failure");
            return S3Error::with_message(S3ErrorCode::InternalError, "storage failure");
        }
    };
    S3Error::with_message(code, e.to_string())
}

/// The tags of an `x-amz-tagging` header (PUT, CreateMultipartUpload, CopyObject).
fn tagging_header(h: Option<&str>) -> S3Result<crate::tags::TagSet> {
    h.map_or_else(|| Ok(crate::tags::TagSet::new()), crate::tags::parse_header)
        .map_err(tag_error)
}

fn tag_error(e: crate::tags::TagError) -> S3Error {
    let code = match e {
        crate::tags::TagError::Header => S3ErrorCode::InvalidArgument,
        _ => S3ErrorCode::InvalidTag,
    };
    S3Error::with_message(code, e.to_string())
}

/// The bytes `partNumber` selects — `(start, len, Content-Range)` — if the request
/// names a part. A part read is a ranged read of the part's bytes (206); a part
/// the object does not have is S3's `InvalidPartNumber` (416).
fn part_span(
    meta: &ObjectMeta,
    part_number: Option<i32>,
    has_range: bool,
) -> S3Result<Option<(u64, u64, Option<String>)>> {
    let Some(n) = part_number else {
        return Ok(None);
    };
    if has_range {
        return Err(invalid_request(
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    let n = u32::try_from(n)
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            )
        })?;
    match meta.part_span(n) {
        PartSpan::Range { start, len } if len > 0 => {
            let cr = format!("bytes {}-{}/{}", start, start + len - 1, meta.size);
            Ok(Some((start, len, Some(cr))))
        }
        PartSpan::Range { start, len } => Ok(Some((start, len, None))),
        PartSpan::NoSuchPart => {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("InvalidPartNumber".into()),
                "The requested partnumber is not satisfiable",
            );
            e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
            Err(e)
        }
        PartSpan::Unknown => Err(invalid_request(
            "This object was completed before part sizes were recorded; read it with a Range instead",
        )),
    }
}

/// The condition of a conditional write. S3 takes `If-None-Match: *` only, and
/// one of the two headers at most.
fn write_if(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteIf> {
    match (if_match, if_none_match) {
        (None, None) => Ok(WriteIf::Always),
        (None, Some(ETagCondition::Any)) => Ok(WriteIf::Absent),
        (Some(ETagCondition::Any), None) => Ok(WriteIf::Present),
        (Some(ETagCondition::ETag(t)), None) => Ok(WriteIf::ETag(t.value().to_owned())),
        (None, Some(ETagCondition::ETag(_))) => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented"
        )),
        (Some(_), Some(_)) => Err(s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented"
        )),
    }
}

/// The Content-Type GET and HEAD answer: the one stored, else S3's default.
fn content_type(h: &Headers) -> String {
    h.content_type
        .clone()
        .unwrap_or_else(|| crate::store::DEFAULT_CONTENT_TYPE.to_owned())
}

/// `x-amz-tagging-count`: sent when the object has tags.
fn tag_count(h: &Headers) -> Option<i32> {
    (!h.tags.is_empty()).then(|| i32::try_from(h.tags.len()).unwrap_or(i32::MAX))
}

fn check_key(key: &str) -> S3Result<()> {
    validate_key(key).map_err(|e| {
        S3Error::with_message(S3ErrorCode::InvalidArgument, format!("invalid key: {e}"))
    })
}

/// The version id S3 gives every object of a bucket that never had versioning.
const NULL_VERSION: &str = "null";

/// Whether a request names an object's version (`versionId`). Buckets here are
/// never versioned, so every object is the one version S3 calls `null`, and
/// that id names it; we issue no other, so any other id is not one of ours and
/// gets S3's answer to an id it cannot read (400 `InvalidArgument`), never the
/// current object in its place.
fn names_null_version(version_id: Option<&str>) -> S3Result<bool> {
    match version_id {
        None => Ok(false),
        Some(NULL_VERSION) => Ok(true),
        Some("") => Err(s3_error!(
            InvalidArgument,
            "Version id cannot be the empty string"
        )),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid version id specified")),
    }
}

/// A store error for a request that may name the `null` version: a missing key
/// is then S3's missing version.
fn version_err(named: bool) -> impl Fn(StoreError) -> S3Error {
    move |e| match e {
        StoreError::NoSuchKey if named => {
            s3_error!(NoSuchVersion, "The specified version does not exist.")
        }
        e => err(e),
    }
}

/// `x-amz-version-id` for a request that named the `null` version: S3 echoes it.
fn echo_version(named: bool) -> Option<String> {
    named.then(|| NULL_VERSION.to_owned())
}

fn ts(ms: i64) -> Timestamp {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

fn etag(s: &str) -> ETag {
    ETag::Strong(s.to_owned())
}

fn b64(s: &str) -> S3Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| s3_error!(InvalidDigest, "checksum is not valid base64"))
}

fn wants_checksum(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED)
}

/// The checksum a request carries: the algorithm to compute, and the value to
/// check, from a header or (`trailer`) from the aws-chunked trailer after the body.
#[derive(Debug, Clone)]
struct Wanted {
    algorithm: Algorithm,
    value: Option<String>,
    trailer: bool,
}

fn invalid_request(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, msg.into())
}

fn parse_algorithm(a: &ChecksumAlgorithm) -> S3Result<Algorithm> {
    Algorithm::parse(a.as_str()).ok_or_else(|| {
        invalid_request(
            "Checksum algorithm provided is unsupported. Please try again with any of the \
             valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
        )
    })
}

/// Which checksum a request carries: one `x-amz-checksum-*` header, or one named in
/// `x-amz-trailer`, agreeing with `x-amz-sdk-checksum-algorithm` if that is sent
/// too (s3s parses it into the input's `checksum_algorithm`). More than one is
/// refused, as S3 does.
fn wanted_checksum<T>(
    req: &S3Request<T>,
    sdk: Option<&ChecksumAlgorithm>,
) -> S3Result<Option<Wanted>> {
    let multiple = || {
        invalid_request(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    };
    let mut found: Option<Wanted> = None;
    for algorithm in Algorithm::ALL {
        if let Some(v) = req.headers.get(algorithm.header()) {
            if found.is_some() {
                return Err(multiple());
            }
            let v = v.to_str().map_err(|_| {
                invalid_request(format!(
                    "Value for {} header is invalid.",
                    algorithm.header()
                ))
            })?;
            found = Some(Wanted {
                algorithm,
                value: Some(v.to_owned()),
                trailer: false,
            });
        }
    }
    let trailer = req
        .headers
        .get("x-amz-trailer")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| {
            Algorithm::ALL
                .into_iter()
                .find(|a| t.trim().eq_ignore_ascii_case(a.header()))
        });
    if let Some(algorithm) = trailer {
        if found.is_some() {
            return Err(multiple());
        }
        found = Some(Wanted {
            algorithm,
            value: None,
            trailer: true,
        });
    }
    let sdk = sdk.map(parse_algorithm).transpose()?;
    match (found, sdk) {
        (Some(w), Some(a)) if w.algorithm != a => Err(invalid_request(
            "Value for x-amz-sdk-checksum-algorithm header is invalid.",
        )),
        (Some(w), _) => Ok(Some(w)),
        (None, Some(algorithm)) => Ok(Some(Wanted {
            algorithm,
            value: None,
            trailer: false,
        })),
        (None, None) => Ok(None),
    }
}

/// Checks a received body against the checksum the client sent, in a header or a
/// trailer (which s3s has once the body has been read to its end).
fn verify_checksum<T>(req: &S3Request<T>, wanted: &Wanted, written: &Written) -> S3Result<()> {
    let a = wanted.algorithm;
    let value = match &wanted.value {
        Some(v) => v.clone(),
        None if wanted.trailer => req
            .trailing_headers
            .as_ref()
            .and_then(|t| {
                t.read(|h| {
                    h.get(a.header())
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                })
            })
            .flatten()
            .ok_or_else(|| {
                invalid_request(format!(
                    "The {} trailer was declared but not sent.",
                    a.header()
                ))
            })?,
        None => return Ok(()),
    };
    let want = checksum::decode(a, &value)
        .map_err(|_| invalid_request(format!("Value for {} header is invalid.", a.header())))?;
    let have = written
        .checksum
        .as_ref()
        .filter(|s| s.algorithm == a)
        .and_then(Stored::raw);
    if have.as_deref() != Some(want.as_slice()) {
        return Err(S3Error::with_message(
            S3ErrorCode::BadDigest,
            format!(
                "The {} you specified did not match the calculated checksum.",
                a.name()
            ),
        ));
    }
    Ok(())
}

/// Fills the `checksum_*` field of an S3 output struct that matches the algorithm.
macro_rules! set_checksum {
    ($out:expr, $sum:expr) => {{
        if let Some(s) = $sum {
            let v = Some(s.value.clone());
            match s.algorithm {
                Algorithm::Crc32 => $out.checksum_crc32 = v,
                Algorithm::Crc32c => $out.checksum_crc32c = v,
                Algorithm::Crc64Nvme => $out.checksum_crc64nvme = v,
                Algorithm::Sha1 => $out.checksum_sha1 = v,
                Algorithm::Sha256 => $out.checksum_sha256 = v,
            }
        }
    }};
}

/// The client's value for `algorithm` among a struct's `checksum_*` fields.
macro_rules! get_checksum {
    ($from:expr, $algorithm:expr) => {
        match $algorithm {
            Algorithm::Crc32 => $from.checksum_crc32.clone(),
            Algorithm::Crc32c => $from.checksum_crc32c.clone(),
            Algorithm::Crc64Nvme => $from.checksum_crc64nvme.clone(),
            Algorithm::Sha1 => $from.checksum_sha1.clone(),
            Algorithm::Sha256 => $from.checksum_sha256.clone(),
        }
    };
}

fn checksum_type(kind: Kind) -> ChecksumType {
    ChecksumType::from_static(match kind {
        Kind::FullObject => ChecksumType::FULL_OBJECT,
        Kind::Composite => ChecksumType::COMPOSITE,
    })
}

fn user_meta(m: Option<Metadata>) -> std::collections::BTreeMap<String, String> {
    m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

fn meta_out(h: &Headers) -> Option<Metadata> {
    if h.user.is_empty() {
        None
    } else {
        Some(h.user.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// Evaluates If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since in
/// RFC 9110 order, as S3 does.
fn check_conditions(
    meta: &ObjectMeta,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified = OffsetDateTime::from(ts(meta.modified_ms));
    let tag_matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(t) => t.value() == meta.etag,
    };
    // HTTP dates have whole seconds: compare at that precision.
    let secs = |t: &Timestamp| OffsetDateTime::from(t.clone()).unix_timestamp();
    match if_match {
        Some(c) if !tag_matches(c) => {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ))
        }
        Some(_) => {}
        None => {
            if let Some(t) = if_unmodified_since {
                if modified.unix_timestamp() > secs(t) {
                    return Err(s3_error!(
                        PreconditionFailed,
                        "At least one of the pre-conditions you specified did not hold"
                    ));
                }
            }
        }
    }
    match if_none_match {
        Some(c) if tag_matches(c) => return Err(not_modified(meta)),
        Some(_) => {}
        None => {
            if let Some(t) = if_modified_since {
                if modified.unix_timestamp() <= secs(t) {
                    return Err(not_modified(meta));
                }
            }
        }
    }
    Ok(())
}

/// S3's 304: with the object's ETag and Last-Modified, as RFC 9110 asks (a
/// cache updates its copy from them), and as the read fast path sends it.
fn not_modified(meta: &ObjectMeta) -> S3Error {
    let mut e = s3_error!(NotModified);
    let mut h = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
        h.insert(http::header::ETAG, v);
    }
    let mut date = Vec::with_capacity(29);
    crate::fast::write_http_date(&mut date, OffsetDateTime::from(ts(meta.modified_ms)));
    if let Ok(v) = http::HeaderValue::from_bytes(&date) {
        h.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(h);
    e
}

/// Percent-encodes a key for `encoding-type=url` responses.
fn url_encode(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    utf8_percent_encode(s, SET).to_string()
}

fn object_entry(key: String, meta: &ObjectMeta) -> Object {
    Object {
        key: Some(key),
        e_tag: Some(etag(&meta.etag)),
        size: Some(i64::try_from(meta.size).unwrap_or(i64::MAX)),
        last_modified: Some(ts(meta.modified_ms)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

/// An object as ListObjectVersions lists it: the one version of an
/// unversioned bucket's object, `null` and latest, as S3 lists it.
fn version_entry(key: String, meta: &ObjectMeta) -> ObjectVersion {
    ObjectVersion {
        key: Some(key),
        version_id: Some(NULL_VERSION.to_owned()),
        is_latest: Some(true),
        e_tag: Some(etag(&meta.etag)),
        size: Some(i64::try_from(meta.size).unwrap_or(i64::MAX)),
        last_modified: Some(ts(meta.modified_ms)),
        storage_class: Some(ObjectVersionStorageClass::from_static(
            ObjectVersionStorageClass::STANDARD,
        )),
        owner: Some(owner()),
        ..Default::default()
    }
}

/// One page of a listing, its objects shaped by the operation that asked:
/// ListObjects and ListObjectsV2 give [`Object`]s, ListObjectVersions
/// [`ObjectVersion`]s, from the same walk of the index.
struct ListResult<T> {
    contents: Vec<T>,
    prefixes: Vec<CommonPrefix>,
    truncated: bool,
    next: Option<String>,
}

/// What a listing asks for: keys under `prefix` strictly after `after`, rolled
/// up at `delimiter`, `max_keys` at most (1,000 if absent or more), keys
/// URL-encoded if `encode` (`encoding-type=url`).
struct ListQuery<'a> {
    bucket: &'a str,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    after: Option<&'a str>,
    max_keys: Option<i32>,
    encode: bool,
}

/// The one owner every bucket and object has here.
fn owner() -> Owner {
    Owner {
        display_name: Some("bigstep".into()),
        id: Some("bigstep".into()),
    }
}

/// The one ACL kept here: the owner has full control. Anonymous reads come
/// from `public_buckets` in the configuration, not from ACLs.
fn owner_grants() -> Grants {
    let Owner { display_name, id } = owner();
    vec![Grant {
        grantee: Some(Grantee {
            display_name,
            email_address: None,
            id,
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }]
}

/// A Put*Acl that asks for what is already so (private: the owner's full
/// control) is accepted; anything else is refused rather than ignored, so
/// nobody believes an object public that is not.
fn only_private(
    canned: Option<&str>,
    policy: Option<&AccessControlPolicy>,
    grant_headers: &[&Option<String>],
) -> S3Result<()> {
    let canned_ok = matches!(canned, None | Some("private" | "bucket-owner-full-control"));
    let policy_ok = policy.is_none_or(|p| {
        p.grants.iter().flatten().all(|g| {
            g.permission.as_ref().map(Permission::as_str) == Some(Permission::FULL_CONTROL)
                && g.grantee.as_ref().and_then(|e| e.id.as_deref()) == owner().id.as_deref()
        })
    });
    if canned_ok && policy_ok && grant_headers.iter().all(|h| h.is_none()) {
        return Ok(());
    }
    Err(s3_error!(
        NotImplemented,
        "Only the private ACL is kept here (the owner has full control); for anonymous reads list the bucket in public_buckets of the files configuration"
    ))
}

/// Which attributes GetObjectAttributes was asked for.
#[derive(Default)]
struct Attributes {
    etag: bool,
    checksum: bool,
    parts: bool,
    storage_class: bool,
    size: bool,
}

/// GetObjectAttributes' `ObjectParts`: none for an object put in one piece (as
/// S3); the count alone for a multipart object completed before part sizes
/// were recorded (as S3 answers when it lists no parts); else a page of parts
/// after `marker`, `max` at most (1,000 if absent or more), as ListParts pages.
fn object_parts(
    meta: &ObjectMeta,
    marker: Option<i32>,
    max: Option<i32>,
) -> S3Result<Option<GetObjectAttributesParts>> {
    let Some(count) = meta.parts else {
        return Ok(None);
    };
    let total = Some(i32::try_from(count).unwrap_or(i32::MAX));
    if meta.part_runs.is_none() {
        return Ok(Some(GetObjectAttributesParts {
            total_parts_count: total,
            ..Default::default()
        }));
    }
    let marker = marker.unwrap_or(0);
    let first = u32::try_from(marker)
        .map_err(|_| {
            s3_error!(
                InvalidArgument,
                "Part number marker must be an integer between 0 and 2147483647, inclusive"
            )
        })?
        .saturating_add(1);
    let max = max.unwrap_or(1000);
    if max < 0 {
        return Err(s3_error!(
            InvalidArgument,
            "Argument max-parts must be an integer between 0 and 2147483647"
        ));
    }
    let page = u32::try_from(max.min(1000)).unwrap_or(1000);
    let mut parts = Vec::new();
    let mut n = first;
    while n <= count && parts.len() < page as usize {
        if let PartSpan::Range { len, .. } = meta.part_span(n) {
            parts.push(ObjectPart {
                part_number: Some(i32::try_from(n).unwrap_or(i32::MAX)),
                size: Some(i64::try_from(len).unwrap_or(i64::MAX)),
                ..Default::default()
            });
        }
        n += 1;
    }
    let truncated = n <= count;
    Ok(Some(GetObjectAttributesParts {
        total_parts_count: total,
        part_number_marker: Some(marker),
        next_part_number_marker: parts
            .last()
            .and_then(|p| p.part_number)
            .filter(|_| truncated),
        max_parts: Some(max.min(1000)),
        is_truncated: Some(truncated),
        parts: Some(parts),
    }))
}

/// Marks a response whose `<ETag>` S3 sends unquoted (GetObjectAttributes,
/// unlike every other operation). s3s always quotes it; `server.rs` takes the
/// quotes off the bodies of responses that carry this mark.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnquotedETag;

/// Takes the quotes off the `<ETag>` of an XML body s3s wrote (it writes
/// them as plain `"`, and no other element of GetObjectAttributes has any).
pub(crate) fn unquote_etag(body: &[u8]) -> Option<Vec<u8>> {
    const OPEN: &[u8] = b"<ETag>\"";
    const CLOSE: &[u8] = b"\"</ETag>";
    let at = body.windows(OPEN.len()).position(|w| w == OPEN)?;
    let rest = &body[at + OPEN.len()..];
    let end = rest.windows(CLOSE.len()).position(|w| w == CLOSE)?;
    let mut out = Vec::with_capacity(body.len());
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(b"<ETag>");
    out.extend_from_slice(&rest[..end]);
    out.extend_from_slice(b"</ETag>");
    out.extend_from_slice(&rest[end + CLOSE.len()..]);
    Some(out)
}

impl Backend {
    fn limits(&self, max: u64) -> BodyLimits {
        BodyLimits {
            max_size: max,
            idle_timeout: self.idle_timeout,
        }
    }

    /// One page of a listing, each object turned into the operation's entry by
    /// `entry` (given the key, URL-encoded if the query asks).
    async fn list_page<T>(
        &self,
        q: ListQuery<'_>,
        entry: impl Fn(String, &ObjectMeta) -> T,
    ) -> S3Result<ListResult<T>> {
        let max = usize::try_from(q.max_keys.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        if max == 0 {
            // S3 answers max-keys=0 with an empty page that is complete: a
            // truncated page with no marker sends a paginator round forever.
            return Ok(ListResult {
                contents: Vec::new(),
                prefixes: Vec::new(),
                truncated: false,
                next: None,
            });
        }
        let page = self
            .store
            .list(q.bucket, q.prefix, q.delimiter, q.after, max)
            .await
            .map_err(err)?;
        let encode = q.encode;
        let enc = |s: String| if encode { url_encode(&s) } else { s };
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        for e in page.entries {
            match e {
                Listed::Object(k, m) => contents.push(entry(enc(k), &m)),
                Listed::Prefix(p) => prefixes.push(CommonPrefix {
                    prefix: Some(enc(p)),
                }),
            }
        }
        Ok(ListResult {
            contents,
            prefixes,
            truncated: page.truncated,
            next: page.next,
        })
    }

    /// Receives a body, computing `algorithm` (CRC32 if none) and checking it
    /// against `wanted`, the checksum the client sent; a body that does not match is
    /// thrown away.
    async fn receive_checked<T>(
        &self,
        req: &S3Request<T>,
        body: Option<StreamingBlob>,
        max: u64,
        content_md5: Option<&String>,
        wanted: Option<&Wanted>,
        algorithm: Option<Algorithm>,
    ) -> S3Result<Written> {
        // A malformed value in a header is refused before the body is read.
        if let Some(w) = wanted {
            if let Some(v) = &w.value {
                checksum::decode(w.algorithm, v).map_err(|_| {
                    invalid_request(format!(
                        "Value for {} header is invalid.",
                        w.algorithm.header()
                    ))
                })?;
            }
        }
        let expect = Expect {
            md5: content_md5.map(|s| b64(s)).transpose()?,
            algorithm: algorithm.or(wanted.map(|w| w.algorithm)),
        };
        let body = body.unwrap_or_else(|| {
            StreamingBlob::wrap(futures_util::stream::empty::<
                Result<bytes::Bytes, std::io::Error>,
            >())
        });
        let written = self
            .store
            .receive(body, self.limits(max), &expect)
            .await
            .map_err(err)?;
        if let Some(w) = wanted {
            if let Err(e) = verify_checksum(req, w, &written) {
                self.store.discard(written).await;
                return Err(e);
            }
        }
        Ok(written)
    }
}

/// The checksum of a new multipart upload, from CreateMultipartUpload's
/// `x-amz-checksum-algorithm` and `x-amz-checksum-type`, with S3's rules: SHA
/// digests only compose, CRC64NVME only covers the full object.
fn upload_checksum(
    algorithm: Option<&ChecksumAlgorithm>,
    kind: Option<&ChecksumType>,
) -> S3Result<Option<UploadChecksum>> {
    let Some(algorithm) = algorithm else {
        if kind.is_some() {
            return Err(invalid_request(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
            ));
        }
        return Ok(None);
    };
    let algorithm = parse_algorithm(algorithm)?;
    let kind = match kind {
        Some(k) => Kind::parse(k.as_str())
            .ok_or_else(|| invalid_request("Value for x-amz-checksum-type header is invalid."))?,
        None => algorithm.default_multipart_kind(),
    };
    let allowed = match kind {
        Kind::FullObject => algorithm.full_object_capable(),
        Kind::Composite => algorithm != Algorithm::Crc64Nvme,
    };
    if !allowed {
        return Err(invalid_request(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.name(),
            algorithm.name().to_lowercase()
        )));
    }
    Ok(Some(UploadChecksum { algorithm, kind }))
}

fn bucket_ok(name: &str) -> S3Result<()> {
    if valid_bucket_name(name) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidBucketName,
            "The specified bucket is not valid."
        ))
    }
}

/// Streams `len` bytes of `file` from `start`.
async fn body_from(mut file: tokio::fs::File, start: u64, len: u64) -> S3Result<StreamingBlob> {
    if len <= SMALL_BODY {
        // Small bodies: one trip to the blocking pool, one chunk.
        let mut std_file = file.into_std().await;
        let buf = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            use std::io::{Read, Seek};
            std_file.seek(std::io::SeekFrom::Start(start))?;
            let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
            std_file.read_exact(&mut buf)?;
            Ok(buf)
        })
        .await
        .map_err(|e| err(std::io::Error::other(e).into()))?
        .map_err(|e| err(e.into()))?;
        let once =
            futures_util::stream::once(
                async move { Ok::<_, std::io::Error>(bytes::Bytes::from(buf)) },
            );
        return Ok(StreamingBlob::wrap(once));
    }
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| err(e.into()))?;
    }
    let stream = ReaderStream::with_capacity(file.take(len), READ_CHUNK);
    Ok(StreamingBlob::wrap(stream))
}

fn copy_source(src: &CopySource) -> S3Result<(String, String)> {
    match src {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => {
            // `?versionId=null` names the one version every object has here.
            names_null_version(version_id.as_deref())?;
            Ok((bucket.to_string(), key.to_string()))
        }
        _ => Err(s3_error!(
            NotImplemented,
            "only bucket/key copy sources are supported"
        )),
    }
}

#[async_trait::async_trait]
impl S3 for Backend {
    // === buckets ===

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self.store.list_buckets().await.map_err(err)?;
        let buckets = buckets
            .into_iter()
            .map(|(name, m)| Bucket {
                name: Some(name),
                creation_date: Some(ts(m.created_ms)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let name = req.input.bucket;
        bucket_ok(&name)?;
        self.store.create_bucket(&name).await.map_err(err)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{name}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(err)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        // us-east-1 is spelled as an empty constraint.
        let location_constraint = if self.region == "us-east-1" {
            None
        } else {
            Some(BucketLocationConstraint::from(self.region.clone()))
        };
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    /// Versioning is never on here: answered as S3 answers for a bucket that
    /// never had it (no `Status`), so rclone, Terraform and the consoles that
    /// ask first carry on instead of reporting NotImplemented.
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Ok(S3Response::new(GetBucketVersioningOutput::default()))
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let rules = req
            .input
            .cors_configuration
            .cors_rules
            .into_iter()
            .map(|r| CorsRule {
                allowed_origins: r.allowed_origins,
                allowed_methods: r.allowed_methods,
                allowed_headers: r.allowed_headers.unwrap_or_default(),
                expose_headers: r.expose_headers.unwrap_or_default(),
                max_age_seconds: r.max_age_seconds,
            })
            .collect();
        self.store
            .set_cors(&req.input.bucket, Some(rules))
            .await
            .map_err(err)?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let meta = self.store.bucket(&req.input.bucket).await.map_err(err)?;
        let Some(rules) = meta.cors else {
            return Err(s3_error!(NoSuchCORSConfiguration));
        };
        let cors_rules = rules
            .into_iter()
            .map(|r| CORSRule {
                allowed_origins: r.allowed_origins,
                allowed_methods: r.allowed_methods,
                allowed_headers: Some(r.allowed_headers).filter(|v| !v.is_empty()),
                expose_headers: Some(r.expose_headers).filter(|v| !v.is_empty()),
                max_age_seconds: r.max_age_seconds,
                id: None,
            })
            .collect();
        Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(cors_rules),
        }))
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.store
            .set_cors(&req.input.bucket, None)
            .await
            .map_err(err)?;
        Ok(S3Response::new(DeleteBucketCorsOutput {}))
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        let tags = crate::tags::bucket_from_pairs(
            input
                .tagging
                .tag_set
                .into_iter()
                .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())),
        )
        .map_err(tag_error)?;
        self.store
            .set_bucket_tags(&input.bucket, Some(tags))
            .await
            .map_err(err)?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let meta = self.store.bucket(&req.input.bucket).await.map_err(err)?;
        let Some(tags) = meta.tags else {
            return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"));
        };
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: tags
                .into_iter()
                .map(|(k, v)| Tag {
                    key: Some(k),
                    value: Some(v),
                })
                .collect(),
        }))
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Ok(S3Response::new(GetBucketAclOutput {
            grants: Some(owner_grants()),
            owner: Some(owner()),
        }))
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let i = &req.input;
        self.store.bucket(&i.bucket).await.map_err(err)?;
        only_private(
            i.acl.as_ref().map(BucketCannedACL::as_str),
            i.access_control_policy.as_ref(),
            &[
                &i.grant_full_control,
                &i.grant_read,
                &i.grant_read_acp,
                &i.grant_write,
                &i.grant_write_acp,
            ],
        )?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let i = &req.input;
        check_key(&i.key)?;
        let named = names_null_version(i.version_id.as_deref())?;
        self.store
            .head(&i.bucket, &i.key)
            .await
            .map_err(version_err(named))?;
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(owner_grants()),
            owner: Some(owner()),
            request_charged: None,
        }))
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let i = &req.input;
        check_key(&i.key)?;
        let named = names_null_version(i.version_id.as_deref())?;
        self.store
            .head(&i.bucket, &i.key)
            .await
            .map_err(version_err(named))?;
        only_private(
            i.acl.as_ref().map(ObjectCannedACL::as_str),
            i.access_control_policy.as_ref(),
            &[
                &i.grant_full_control,
                &i.grant_read,
                &i.grant_read_acp,
                &i.grant_write_acp,
            ],
        )?;
        Ok(S3Response::new(PutObjectAclOutput {
            request_charged: None,
        }))
    }

    // === bucket settings we do not have, answered as "not configured" ===
    // Tools that describe a bucket (Terraform's aws_s3_bucket on every plan,
    // s3cmd info) read each of these; S3 answers a bucket without the setting
    // with these codes, and they say the truth here: nothing is configured.
    // Setting any of them stays NotImplemented.

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Err(s3_error!(
            NoSuchBucketPolicy,
            "The bucket policy does not exist"
        ))
    }

    async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Err(s3_error!(
            NoSuchWebsiteConfiguration,
            "The specified bucket does not have a website configuration"
        ))
    }

    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Err(s3_error!(
            ServerSideEncryptionConfigurationNotFoundError,
            "The server side encryption configuration was not found"
        ))
    }

    async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Err(s3_error!(
            ReplicationConfigurationNotFoundError,
            "The replication configuration was not found"
        ))
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Err(s3_error!(
            ObjectLockConfigurationNotFoundError,
            "Object Lock configuration does not exist for this bucket"
        ))
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Err(s3_error!(
            OwnershipControlsNotFoundError,
            "The bucket ownership controls were not found"
        ))
    }

    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Ok(S3Response::new(GetBucketLoggingOutput {
            logging_enabled: None,
        }))
    }

    async fn get_bucket_request_payment(
        &self,
        req: S3Request<GetBucketRequestPaymentInput>,
    ) -> S3Result<S3Response<GetBucketRequestPaymentOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Ok(S3Response::new(GetBucketRequestPaymentOutput {
            payer: Some(Payer::from_static(Payer::BUCKET_OWNER)),
        }))
    }

    async fn get_bucket_accelerate_configuration(
        &self,
        req: S3Request<GetBucketAccelerateConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketAccelerateConfigurationOutput>> {
        self.store.bucket(&req.input.bucket).await.map_err(err)?;
        Ok(S3Response::new(GetBucketAccelerateConfigurationOutput {
            request_charged: None,
            status: None,
        }))
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.store
            .set_bucket_tags(&req.input.bucket, None)
            .await
            .map_err(err)?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }

    // === objects ===

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = &req.input;
        check_key(&input.key)?;
        // Fail fast, before reading the body.
        self.store.bucket(&input.bucket).await.map_err(err)?;
        if let Some(len) = input.content_length {
            if u64::try_from(len).unwrap_or(0) > self.max_object_size {
                return Err(err(StoreError::EntityTooLarge(self.max_object_size)));
            }
        }
        let headers = Headers {
            content_type: input.content_type.clone(),
            content_disposition: input.content_disposition.clone(),
            cache_control: input.cache_control.clone(),
            content_encoding: input.content_encoding.clone(),
            content_language: input.content_language.clone(),
            user: user_meta(input.metadata.clone()),
            tags: tagging_header(input.tagging.as_deref())?,
        };
        let cond = write_if(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        if cond != WriteIf::Always {
            // Fail fast, before the body: the commit checks again, atomically.
            let current = match self.store.head(&input.bucket, &input.key).await {
                Ok(m) => Some(m),
                Err(StoreError::NoSuchKey) => None,
                Err(e) => return Err(err(e)),
            };
            cond.check(current.as_ref()).map_err(err)?;
        }
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let md5 = input.content_md5.clone();
        let wanted = wanted_checksum(&req, input.checksum_algorithm.as_ref())?;
        let mut req = req;
        let body = req.input.body.take();
        let written = self
            .receive_checked(
                &req,
                body,
                self.max_object_size,
                md5.as_ref(),
                wanted.as_ref(),
                None,
            )
            .await?;
        let tag = hex::encode(written.md5);
        let meta = self
            .store
            .commit_object(
                &bucket,
                &key,
                written,
                Record {
                    etag: tag,
                    headers,
                    parts: None,
                },
                cond,
            )
            .await
            .map_err(err)?;
        let mut out = PutObjectOutput {
            e_tag: Some(etag(&meta.etag)),
            ..Default::default()
        };
        // Echo the checksum when the client sent one, as S3 does.
        if wanted.is_some() {
            set_checksum!(out, meta.checksum.as_ref());
            out.checksum_type = meta.checksum.as_ref().map(|c| checksum_type(c.kind));
        }
        Ok(S3Response::new(out))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let named = names_null_version(input.version_id.as_deref())?;
        let (meta, file) = self
            .store
            .open_object(&input.bucket, &input.key)
            .await
            .map_err(version_err(named))?;
        check_conditions(
            &meta,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let part = part_span(&meta, input.part_number, input.range.is_some())?;
        let (start, len, content_range) = match input.range {
            None if part.is_some() => part.unwrap_or_default(),
            Some(r) => {
                let range = r
                    .check(meta.size)
                    .ok()
                    // A suffix range of an empty object selects nothing: 416, as RFC 9110 says.
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| {
                        s3_error!(InvalidRange, "The requested range is not satisfiable")
                    })?;
                let cr = format!("bytes {}-{}/{}", range.start, range.end - 1, meta.size);
                (range.start, range.end - range.start, Some(cr))
            }
            None => (0, meta.size, None),
        };
        let body = body_from(file, start, len).await?;
        let h = &meta.headers;
        // The object's checksum, for whole-object reads by clients that ask.
        let sum = meta
            .stored_checksum()
            .filter(|_| wants_checksum(input.checksum_mode.as_ref()) && content_range.is_none());
        let mut out = GetObjectOutput {
            body: Some(body),
            checksum_type: sum.as_ref().map(|c| checksum_type(c.kind)),
            content_length: Some(i64::try_from(len).unwrap_or(i64::MAX)),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(ts(meta.modified_ms)),
            content_type: input
                .response_content_type
                .or_else(|| Some(content_type(h))),
            content_disposition: input
                .response_content_disposition
                .or_else(|| h.content_disposition.clone()),
            cache_control: input
                .response_cache_control
                .or_else(|| h.cache_control.clone()),
            content_encoding: input
                .response_content_encoding
                .or_else(|| h.content_encoding.clone()),
            content_language: input
                .response_content_language
                .or_else(|| h.content_language.clone()),
            metadata: meta_out(h),
            parts_count: meta.parts.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            tag_count: tag_count(h),
            version_id: echo_version(named),
            ..Default::default()
        };
        set_checksum!(out, sum.as_ref());
        Ok(S3Response::new(out))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let named = names_null_version(input.version_id.as_deref())?;
        let meta = self
            .store
            .head(&input.bucket, &input.key)
            .await
            .map_err(version_err(named))?;
        check_conditions(
            &meta,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let part = part_span(&meta, input.part_number, input.range.is_some())?;
        let h = &meta.headers;
        let sum = meta
            .stored_checksum()
            .filter(|_| wants_checksum(input.checksum_mode.as_ref()) && part.is_none());
        let (_, len, content_range) = part.clone().unwrap_or((0, meta.size, None));
        let mut out = HeadObjectOutput {
            checksum_type: sum.as_ref().map(|c| checksum_type(c.kind)),
            content_length: Some(i64::try_from(len).unwrap_or(i64::MAX)),
            content_range: content_range.clone(),
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(ts(meta.modified_ms)),
            content_type: Some(content_type(h)),
            content_disposition: h.content_disposition.clone(),
            cache_control: h.cache_control.clone(),
            content_encoding: h.content_encoding.clone(),
            content_language: h.content_language.clone(),
            metadata: meta_out(h),
            parts_count: meta.parts.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            version_id: echo_version(named),
            ..Default::default()
        };
        set_checksum!(out, sum.as_ref());
        let mut resp = S3Response::new(out);
        if content_range.is_some() {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        // S3 sends the count on HEAD too; s3s's HeadObjectOutput has no field for it.
        if let Some(n) = tag_count(h) {
            resp.headers
                .insert("x-amz-tagging-count", http::HeaderValue::from(n));
        }
        Ok(resp)
    }

    /// The attributes a client asks for (`x-amz-object-attributes`), as S3
    /// answers them: the ETag unquoted, a composite checksum without its `-N`,
    /// and `ObjectParts` for multipart objects only. Part sizes are kept, so the
    /// parts are listed (`x-amz-max-parts`, `x-amz-part-number-marker`) by
    /// number and size; part checksums are not kept, so they are never listed.
    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let named = names_null_version(input.version_id.as_deref())?;
        let mut wanted = Attributes::default();
        // SDKs send the list in one header, comma-separated; s3s splits only
        // repeated headers.
        let names = input
            .object_attributes
            .iter()
            .flat_map(|a| a.as_str().split(','))
            .map(str::trim);
        for name in names {
            match name {
                ObjectAttributes::ETAG => wanted.etag = true,
                ObjectAttributes::CHECKSUM => wanted.checksum = true,
                ObjectAttributes::OBJECT_PARTS => wanted.parts = true,
                ObjectAttributes::STORAGE_CLASS => wanted.storage_class = true,
                ObjectAttributes::OBJECT_SIZE => wanted.size = true,
                _ => {
                    return Err(s3_error!(
                        InvalidArgument,
                        "Invalid attribute name specified."
                    ))
                }
            }
        }
        let meta = self
            .store
            .head(&input.bucket, &input.key)
            .await
            .map_err(version_err(named))?;
        let checksum = meta.stored_checksum().filter(|_| wanted.checksum).map(|c| {
            // S3 gives a composite value here without the part count it has on GET.
            let value = match c.kind {
                Kind::Composite => c.value.split_once('-').map_or(c.value.as_str(), |v| v.0),
                Kind::FullObject => c.value.as_str(),
            };
            let stored = Stored {
                value: value.to_owned(),
                ..c
            };
            let mut out = Checksum {
                checksum_type: Some(checksum_type(stored.kind)),
                ..Default::default()
            };
            set_checksum!(out, Some(&stored));
            out
        });
        let object_parts = if wanted.parts {
            object_parts(&meta, input.part_number_marker, input.max_parts)?
        } else {
            None
        };
        let out = GetObjectAttributesOutput {
            e_tag: wanted.etag.then(|| etag(&meta.etag)),
            checksum,
            object_parts,
            storage_class: wanted
                .storage_class
                .then(|| StorageClass::from_static(StorageClass::STANDARD)),
            object_size: wanted
                .size
                .then(|| i64::try_from(meta.size).unwrap_or(i64::MAX)),
            last_modified: Some(ts(meta.modified_ms)),
            version_id: echo_version(named),
            ..Default::default()
        };
        let mut resp = S3Response::new(out);
        resp.extensions.insert(UnquotedETag);
        Ok(resp)
    }

    // === tagging ===

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let named = names_null_version(input.version_id.as_deref())?;
        let tags = crate::tags::from_pairs(
            input
                .tagging
                .tag_set
                .into_iter()
                .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())),
        )
        .map_err(tag_error)?;
        self.store
            .set_tags(&input.bucket, &input.key, tags)
            .await
            .map_err(version_err(named))?;
        Ok(S3Response::new(PutObjectTaggingOutput {
            version_id: echo_version(named),
        }))
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let named = names_null_version(input.version_id.as_deref())?;
        let meta = self
            .store
            .head(&input.bucket, &input.key)
            .await
            .map_err(version_err(named))?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: meta
                .headers
                .tags
                .into_iter()
                .map(|(k, v)| Tag {
                    key: Some(k),
                    value: Some(v),
                })
                .collect(),
            version_id: echo_version(named),
        }))
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let named = names_null_version(input.version_id.as_deref())?;
        self.store
            .set_tags(&input.bucket, &input.key, crate::tags::TagSet::new())
            .await
            .map_err(version_err(named))?;
        Ok(S3Response::new(DeleteObjectTaggingOutput {
            version_id: echo_version(named),
        }))
    }

    // === lifecycle ===

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let input = req.input;
        let rules = input
            .lifecycle_configuration
            .map(|c| c.rules)
            .unwrap_or_default();
        let rules = crate::lifecycle_dto::rules_from(rules)?;
        self.store
            .set_lifecycle(&input.bucket, Some(rules))
            .await
            .map_err(err)?;
        Ok(S3Response::new(
            PutBucketLifecycleConfigurationOutput::default(),
        ))
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let meta = self.store.bucket(&req.input.bucket).await.map_err(err)?;
        let Some(rules) = meta.lifecycle else {
            return Err(s3_error!(
                NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist"
            ));
        };
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(crate::lifecycle_dto::rules_to(&rules)),
            ..Default::default()
        }))
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.store
            .set_lifecycle(&req.input.bucket, None)
            .await
            .map_err(err)?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput::default()))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        check_key(&req.input.key)?;
        let named = names_null_version(req.input.version_id.as_deref())?;
        self.store
            .delete_object(&req.input.bucket, &req.input.key)
            .await
            .map_err(err)?;
        Ok(S3Response::new(DeleteObjectOutput {
            version_id: echo_version(named),
            ..Default::default()
        }))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.store.bucket(&input.bucket).await.map_err(err)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        let mut valid = Vec::new();
        let mut versions = Vec::new();
        for obj in input.delete.objects {
            let checked =
                check_key(&obj.key).and_then(|()| names_null_version(obj.version_id.as_deref()));
            match checked {
                Ok(named) => {
                    valid.push(obj.key);
                    versions.push(echo_version(named));
                }
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                    key: Some(obj.key),
                    version_id: obj.version_id,
                }),
            }
        }
        self.store
            .delete_objects(&input.bucket, valid.clone())
            .await
            .map_err(err)?;
        if !quiet {
            deleted = valid
                .into_iter()
                .zip(versions)
                .map(|(key, version_id)| DeletedObject {
                    key: Some(key),
                    version_id,
                    ..Default::default()
                })
                .collect();
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors).filter(|e| !e.is_empty()),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        check_key(&src_key)?;
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .map(parse_algorithm)
            .transpose()?;
        self.store.bucket(&input.bucket).await.map_err(err)?;
        let (src_meta, mut written) = self
            .store
            .copy_to_tmp(&src_bucket, &src_key)
            .await
            .map_err(err)?;
        if let Err(e) = check_conditions(
            &src_meta,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        ) {
            self.store.discard(written).await;
            // A copy's failed condition is always 412.
            return Err(if *e.code() == S3ErrorCode::NotModified {
                s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                )
            } else {
                e
            });
        }
        // The copy keeps the source's checksum, unless the client asks for another
        // algorithm (or a full-object one where the source's is composite).
        if let Some(a) = algorithm {
            let kept = written
                .checksum
                .as_ref()
                .is_some_and(|c| c.algorithm == a && c.kind == Kind::FullObject);
            if !kept {
                match self.store.checksum_of(&written, a).await {
                    Ok(sum) => written.checksum = Some(sum),
                    Err(e) => {
                        self.store.discard(written).await;
                        return Err(err(e));
                    }
                }
            }
        }
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == "REPLACE");
        let headers = if replace {
            Headers {
                content_type: input.content_type,
                content_disposition: input.content_disposition,
                cache_control: input.cache_control,
                content_encoding: input.content_encoding,
                content_language: input.content_language,
                user: user_meta(input.metadata),
                tags: src_meta.headers.tags.clone(),
            }
        } else {
            src_meta.headers.clone()
        };
        let mut headers = headers;
        // x-amz-tagging-directive: COPY (the default) keeps the source's tags.
        if input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == "REPLACE")
        {
            headers.tags = tagging_header(input.tagging.as_deref())?;
        }
        let meta = self
            .store
            .commit_object(
                &input.bucket,
                &input.key,
                written,
                Record {
                    etag: src_meta.etag.clone(),
                    headers,
                    parts: src_meta.parts_info(),
                },
                WriteIf::Always,
            )
            .await
            .map_err(err)?;
        let mut result = CopyObjectResult {
            e_tag: Some(etag(&meta.etag)),
            last_modified: Some(ts(meta.modified_ms)),
            ..Default::default()
        };
        if algorithm.is_some() {
            set_checksum!(result, meta.checksum.as_ref());
            result.checksum_type = meta.checksum.as_ref().map(|c| checksum_type(c.kind));
        }
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let encode = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == "url");
        let prefix = input.prefix.clone().unwrap_or_default();
        let r = self
            .list_page(
                ListQuery {
                    bucket: &input.bucket,
                    prefix: &prefix,
                    delimiter: input.delimiter.as_deref(),
                    after: input.marker.as_deref().filter(|m| !m.is_empty()),
                    max_keys: input.max_keys,
                    encode,
                },
                object_entry,
            )
            .await?;
        let next_marker = if r.truncated && input.delimiter.is_some() {
            r.next
        } else {
            None
        };
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            marker: input.marker,
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            is_truncated: Some(r.truncated),
            contents: Some(r.contents),
            common_prefixes: Some(r.prefixes).filter(|p| !p.is_empty()),
            delimiter: input.delimiter,
            next_marker: next_marker.map(|m| if encode { url_encode(&m) } else { m }),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let encode = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == "url");
        let prefix = input.prefix.clone().unwrap_or_default();
        // The continuation token is the last key or prefix returned, base64-encoded.
        let after = match &input.continuation_token {
            Some(t) => Some(
                String::from_utf8(
                    b64(t).map_err(|_| s3_error!(InvalidArgument, "bad continuation token"))?,
                )
                .map_err(|_| s3_error!(InvalidArgument, "bad continuation token"))?,
            ),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let r = self
            .list_page(
                ListQuery {
                    bucket: &input.bucket,
                    prefix: &prefix,
                    delimiter: input.delimiter.as_deref(),
                    after: after.as_deref(),
                    max_keys: input.max_keys,
                    encode,
                },
                object_entry,
            )
            .await?;
        let key_count = i32::try_from(r.contents.len() + r.prefixes.len()).unwrap_or(i32::MAX);
        let next = if r.truncated {
            r.next
                .map(|n| base64::engine::general_purpose::STANDARD.encode(n))
        } else {
            None
        };
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(prefix),
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            is_truncated: Some(r.truncated),
            next_continuation_token: next,
            contents: Some(r.contents),
            common_prefixes: Some(r.prefixes).filter(|p| !p.is_empty()),
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            start_after: input.start_after,
            ..Default::default()
        }))
    }

    /// Every object is one version here (`null`, latest), so this is the
    /// ListObjects walk with S3's version markers: `key-marker` resumes after
    /// that key, and `version-id-marker` can only be `null` (the key's one
    /// version, so the same place).
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let encode = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == "url");
        let prefix = input.prefix.clone().unwrap_or_default();
        let key_marker = input.key_marker.as_deref().filter(|m| !m.is_empty());
        let version_marker = input.version_id_marker.as_deref().filter(|m| !m.is_empty());
        if version_marker.is_some() {
            if key_marker.is_none() {
                return Err(s3_error!(
                    InvalidArgument,
                    "A version-id marker cannot be specified without a key marker."
                ));
            }
            names_null_version(version_marker)?;
        }
        let r = self
            .list_page(
                ListQuery {
                    bucket: &input.bucket,
                    prefix: &prefix,
                    delimiter: input.delimiter.as_deref(),
                    after: key_marker,
                    max_keys: input.max_keys,
                    encode,
                },
                version_entry,
            )
            .await?;
        let next = if r.truncated { r.next } else { None };
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            key_marker: input.key_marker,
            version_id_marker: input.version_id_marker,
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            is_truncated: Some(r.truncated),
            next_version_id_marker: next.as_ref().map(|_| NULL_VERSION.to_owned()),
            next_key_marker: next.map(|m| if encode { url_encode(&m) } else { m }),
            versions: Some(r.contents),
            common_prefixes: Some(r.prefixes).filter(|p| !p.is_empty()),
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    // === multipart ===

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let headers = Headers {
            content_type: input.content_type,
            content_disposition: input.content_disposition,
            cache_control: input.cache_control,
            content_encoding: input.content_encoding,
            content_language: input.content_language,
            user: user_meta(input.metadata),
            tags: tagging_header(input.tagging.as_deref())?,
        };
        let checksum = upload_checksum(
            input.checksum_algorithm.as_ref(),
            input.checksum_type.as_ref(),
        )?;
        let id = self
            .store
            .create_upload(&input.bucket, &input.key, headers, checksum)
            .await
            .map_err(err)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: checksum.map(|c| checksum_type(c.kind)),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let mut req = req;
        let input = &req.input;
        check_key(&input.key)?;
        let number = u32::try_from(input.part_number)
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| s3_error!(InvalidArgument, "part number must be 1 to 10000"))?;
        let upload = self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(err)?;
        if let Some(len) = input.content_length {
            if u64::try_from(len).unwrap_or(0) > self.max_part_size {
                return Err(err(StoreError::EntityTooLarge(self.max_part_size)));
            }
        }
        let wanted = wanted_checksum(&req, input.checksum_algorithm.as_ref())?;
        // Every part of an upload with a checksum is hashed with its algorithm; a
        // part sent with another one is refused, as S3 does.
        let algorithm = upload.checksum.map(|c| c.algorithm);
        if let (Some(a), Some(w)) = (algorithm, &wanted) {
            if a != w.algorithm {
                return Err(invalid_request(format!(
                    "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                    a.name().to_lowercase(),
                    w.algorithm.name().to_lowercase()
                )));
            }
        }
        let id = input.upload_id.clone();
        let md5 = input.content_md5.clone();
        let body = req.input.body.take();
        let written = self
            .receive_checked(
                &req,
                body,
                self.max_part_size,
                md5.as_ref(),
                wanted.as_ref(),
                algorithm,
            )
            .await?;
        let part = self
            .store
            .commit_part(&id, number, written)
            .await
            .map_err(err)?;
        let mut out = UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            ..Default::default()
        };
        if wanted.is_some() || algorithm.is_some() {
            set_checksum!(out, part.checksum.as_ref());
        }
        Ok(S3Response::new(out))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let number = u32::try_from(input.part_number)
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| s3_error!(InvalidArgument, "part number must be 1 to 10000"))?;
        let upload = self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(err)?;
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        check_key(&src_key)?;
        let algorithm = upload.checksum.map(|c| c.algorithm);
        let (meta, file) = self
            .store
            .open_object(&src_bucket, &src_key)
            .await
            .map_err(err)?;
        check_conditions(
            &meta,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )
        .map_err(|_| {
            s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
        })?;
        let (start, len) = match &input.copy_source_range {
            Some(r) => {
                let r = r
                    .strip_prefix("bytes=")
                    .ok_or_else(|| s3_error!(InvalidArgument, "bad copy range"))?;
                let (a, b) = r
                    .split_once('-')
                    .ok_or_else(|| s3_error!(InvalidArgument, "bad copy range"))?;
                let a: u64 = a
                    .parse()
                    .map_err(|_| s3_error!(InvalidArgument, "bad copy range"))?;
                let b: u64 = b
                    .parse()
                    .map_err(|_| s3_error!(InvalidArgument, "bad copy range"))?;
                if a > b || b >= meta.size {
                    return Err(s3_error!(
                        InvalidRange,
                        "The requested range is not satisfiable"
                    ));
                }
                (a, b - a + 1)
            }
            None => (0, meta.size),
        };
        if len > self.max_part_size {
            return Err(err(StoreError::EntityTooLarge(self.max_part_size)));
        }
        let body = body_from(file, start, len).await?;
        let expect = Expect {
            md5: None,
            algorithm,
        };
        let written = self
            .store
            .receive(body, self.limits(self.max_part_size), &expect)
            .await
            .map_err(err)?;
        let part = self
            .store
            .commit_part(&input.upload_id, number, written)
            .await
            .map_err(err)?;
        let mut result = CopyPartResult {
            e_tag: Some(etag(&part.etag)),
            last_modified: Some(ts(part.modified_ms)),
            ..Default::default()
        };
        if algorithm.is_some() {
            set_checksum!(result, part.checksum.as_ref());
        }
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(result),
            ..Default::default()
        }))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let upload = self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(err)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let parts = self.store.list_parts(&input.upload_id).await.map_err(err)?;
        let mut after: Vec<_> = parts
            .into_iter()
            .filter(|p| i64::from(p.number) > i64::from(marker))
            .collect();
        let truncated = after.len() > max;
        after.truncate(max);
        let next = after
            .last()
            .map(|p| i32::try_from(p.number).unwrap_or(i32::MAX));
        let parts = after
            .into_iter()
            .map(|p| {
                let mut part = Part {
                    part_number: Some(i32::try_from(p.number).unwrap_or(i32::MAX)),
                    e_tag: Some(etag(&p.etag)),
                    size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                    last_modified: Some(ts(p.modified_ms)),
                    ..Default::default()
                };
                if upload.checksum.is_some() {
                    set_checksum!(part, p.checksum.as_ref());
                }
                part
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            parts: Some(parts),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let upload = self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(err)?;
        let algorithm = upload.checksum.map(|c| c.algorithm);
        // The whole-object checksum the client expects, if it sent one: it must be
        // in the upload's algorithm.
        let mut whole = None;
        for a in Algorithm::ALL {
            if let Some(v) = get_checksum!(input, a) {
                if Some(a) != algorithm {
                    return Err(invalid_request(format!(
                        "The upload was created using the {} checksum algorithm, not {}.",
                        algorithm.map_or("null", Algorithm::name),
                        a.name()
                    )));
                }
                whole = Some(v);
            }
        }
        if let (Some(t), Some(c)) = (&input.checksum_type, upload.checksum) {
            if Kind::parse(t.as_str()) != Some(c.kind) {
                return Err(invalid_request(format!(
                    "The upload was created using the {} checksum mode, not {}.",
                    c.kind.name(),
                    t.as_str()
                )));
            }
        }
        let mut chosen = Vec::new();
        for p in input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
        {
            let number = p
                .part_number
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    s3_error!(
                        InvalidPart,
                        "One or more of the specified parts could not be found."
                    )
                })?;
            let checksum = algorithm.and_then(|a| get_checksum!(p, a));
            let etag = p.e_tag.map(|t| t.value().to_owned()).unwrap_or_default();
            chosen.push(Chosen {
                number,
                etag,
                checksum,
            });
        }
        let object_size = input
            .mpu_object_size
            .map(|n| {
                u64::try_from(n).map_err(|_| {
                    invalid_request("Value for x-amz-mp-object-size header is invalid.")
                })
            })
            .transpose()?;
        let completion = Completion {
            parts: chosen,
            whole,
            object_size,
            cond: write_if(input.if_match.as_ref(), input.if_none_match.as_ref())?,
        };
        let meta = self
            .store
            .complete_upload(upload, &input.upload_id, &completion, self.max_object_size)
            .await
            .map_err(err)?;
        let mut out = CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&meta.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        };
        if algorithm.is_some() {
            set_checksum!(out, meta.checksum.as_ref());
            out.checksum_type = meta.checksum.as_ref().map(|c| checksum_type(c.kind));
        }
        Ok(S3Response::new(out))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(err)?;
        self.store
            .abort_upload(&input.upload_id)
            .await
            .map_err(err)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.store.bucket(&input.bucket).await.map_err(err)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads = self.store.list_uploads(&input.bucket).await.map_err(err)?;
        let max = usize::try_from(input.max_uploads.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let mut list: Vec<_> = uploads
            .into_iter()
            .filter(|(_, u)| u.key.starts_with(&prefix) && u.key > key_marker)
            .collect();
        let truncated = list.len() > max;
        list.truncate(max);
        let next_key = list.last().map(|(_, u)| u.key.clone());
        let next_id = list.last().map(|(id, _)| id.clone());
        let uploads = list
            .into_iter()
            .map(|(id, u)| MultipartUpload {
                key: Some(u.key),
                upload_id: Some(id),
                initiated: Some(ts(u.initiated_ms)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
            is_truncated: Some(truncated),
            next_key_marker: if truncated { next_key } else { None },
            next_upload_id_marker: if truncated { next_id } else { None },
            uploads: Some(uploads),
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multipart(sizes: &[u64]) -> ObjectMeta {
        let parts = crate::store::Parts::from_sizes(sizes.iter().copied());
        ObjectMeta {
            blob: String::new(),
            size: sizes.iter().sum(),
            etag: "x-3".into(),
            modified_ms: 0,
            headers: Headers::default(),
            parts: Some(parts.count),
            part_runs: Some(parts.runs),
            crc32: None,
            checksum: None,
        }
    }

    fn numbers(p: &GetObjectAttributesParts) -> Vec<(i32, i64)> {
        p.parts
            .iter()
            .flatten()
            .map(|p| (p.part_number.unwrap_or(0), p.size.unwrap_or(0)))
            .collect()
    }

    #[test]
    fn object_parts_page_like_list_parts() {
        let meta = multipart(&[5, 5, 5, 2]);
        let all = object_parts(&meta, None, None).unwrap().unwrap();
        assert_eq!(numbers(&all), vec![(1, 5), (2, 5), (3, 5), (4, 2)]);
        assert_eq!(all.total_parts_count, Some(4));
        assert_eq!(all.is_truncated, Some(false));
        assert_eq!(all.next_part_number_marker, None);

        let first = object_parts(&meta, None, Some(3)).unwrap().unwrap();
        assert_eq!(numbers(&first), vec![(1, 5), (2, 5), (3, 5)]);
        assert_eq!(first.is_truncated, Some(true));
        assert_eq!(first.next_part_number_marker, Some(3));
        let rest = object_parts(&meta, Some(3), Some(3)).unwrap().unwrap();
        assert_eq!(numbers(&rest), vec![(4, 2)]);
        assert_eq!(rest.is_truncated, Some(false));

        let past = object_parts(&meta, Some(9), None).unwrap().unwrap();
        assert!(numbers(&past).is_empty());
        assert!(object_parts(&meta, Some(-1), None).is_err());
        assert!(object_parts(&meta, None, Some(-1)).is_err());
    }

    #[test]
    fn object_parts_without_sizes_is_the_count_and_one_piece_is_none() {
        let mut meta = multipart(&[5, 5]);
        meta.part_runs = None;
        let p = object_parts(&meta, None, None).unwrap().unwrap();
        assert_eq!(p.total_parts_count, Some(2));
        assert!(p.parts.is_none() && p.is_truncated.is_none());
        meta.parts = None;
        assert!(object_parts(&meta, None, None).unwrap().is_none());
    }

    #[test]
    fn etag_unquoted_and_the_rest_kept() {
        let body = b"<R><ETag>\"abc-3\"</ETag><ObjectSize>3</ObjectSize></R>";
        assert_eq!(
            unquote_etag(body).unwrap(),
            b"<R><ETag>abc-3</ETag><ObjectSize>3</ObjectSize></R>".to_vec()
        );
        assert!(unquote_etag(b"<R><ObjectSize>3</ObjectSize></R>").is_none());
    }

    #[test]
    fn only_null_names_a_version() {
        assert!(!names_null_version(None).unwrap());
        assert!(names_null_version(Some("null")).unwrap());
        for bad in ["", "NULL", "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"] {
            let e = names_null_version(Some(bad)).unwrap_err();
            assert_eq!(*e.code(), S3ErrorCode::InvalidArgument, "{bad:?}");
        }
    }
}
