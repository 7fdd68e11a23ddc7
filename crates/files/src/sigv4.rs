//! AWS Signature Version 4 checks for the read fast path, without I/O: does a
//! body-less request carry a valid signature by our one key, in an
//! `Authorization` header or in a presigned URL's query?
//!
//! s3s verifies every signature on the general path, but its verifier is
//! private to it. This one answers only "valid" or "not sure": a request it
//! is not sure of (a wrong or stale signature, an expired URL, a payload hash
//! other than `UNSIGNED-PAYLOAD` or the empty body's, a query it does not
//! expect) goes the general way, where s3s says what is wrong with S3's own
//! error. So the two can never disagree on a refusal: only the general path
//! refuses. The canonical forms follow s3s (`sig_v4/methods.rs`) and AWS's
//! SigV4 documentation; the tests check AWS's published examples and requests
//! captured from boto3 and aws-cli, and `sigv4_ref.rs` (a plain reference
//! written from s3s) backs proptests and the `sigv4` fuzz target: whatever
//! this accepts, s3s must accept too.

use std::sync::{Arc, Mutex, PoisonError};

use ring::{digest, hmac};
use subtle::ConstantTimeEq;

/// SHA-256 of the empty body, the payload hash the SDKs send on GET/HEAD.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How far a header-signed request's `x-amz-date` may be from our clock, and a
/// presigned URL's date ahead of it: s3s's setting in `server.rs`.
pub(crate) const MAX_SKEW_SECS: i64 = 900;

/// The longest validity a presigned URL may claim (seven days, as S3 says).
const MAX_EXPIRES_SECS: i64 = 604_800;

/// Signing keys kept: one per (date, region) clients sign with, so a few.
const KEYS_MAX: usize = 8;

/// Verified requests remembered (see [`Shared::verified`]); a full memo
/// starts over. At a few hundred bytes each, about half a MiB.
const MEMO_MAX: usize = 1024;

/// The longest text the memo keeps (an SDK's GET is 300–500 bytes).
const MEMO_TEXT_MAX: usize = 2048;

/// The names of a presigned URL's query parameters.
const PRESIGNED_PARAMS: [&str; 6] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
];

/// Whether the query pair `p` (`name=value`) is one of a presigned URL's.
pub(crate) fn is_presigned_param(p: &str) -> bool {
    p.split_once('=')
        .is_some_and(|(k, _)| PRESIGNED_PARAMS.contains(&k))
}

/// Where a request's signature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carrier<'a> {
    /// The `Authorization` header's value, with the `x-amz-date` and
    /// `x-amz-content-sha256` header values.
    Header {
        authorization: &'a str,
        amz_date: Option<&'a str>,
        content_sha256: Option<&'a str>,
    },
    /// `X-Amz-*` parameters in the query (all of it is passed).
    Query,
}

/// The parts of a request a signature covers.
pub(crate) struct Signed<'r, 'h> {
    pub(crate) method: &'r str,
    /// The path as sent, percent-encoded, without the query.
    pub(crate) path: &'r str,
    pub(crate) query: Option<&'r str>,
    pub(crate) headers: &'r [httparse::Header<'h>],
    pub(crate) carrier: Carrier<'r>,
}

/// Our key pair, and what the checks of earlier requests left to reuse. Its
/// clones (one per connection) share that; the secret is one per verifier,
/// so it is not part of the caches' keys.
#[derive(Clone)]
pub(crate) struct Verifier {
    access_key: Arc<str>,
    secret_key: Arc<str>,
    shared: Arc<Mutex<Shared>>,
    /// The text being checked (see [`Verifier::try_verify`]), reused between
    /// requests.
    scratch: String,
}

/// What verifications leave behind for the next ones.
#[derive(Default)]
struct Shared {
    /// (date, region) → `kSigning` as ring's HMAC key: deriving it costs four
    /// HMACs, and ring's key holds its two padded blocks already hashed,
    /// which saves two SHA-256 blocks per request. Derived once per scope
    /// for every connection, as AWS's SDKs do on their side.
    keys: Vec<(String, String, hmac::Key)>,
    /// Requests verified before: their text (see [`Verifier::try_verify`]:
    /// the string to sign with the canonical request in place of its hash)
    /// → the signature that matched. A signature is a function of exactly
    /// that text (the secret is fixed), so the same text with the same
    /// signature is valid again, and with another is not, with no SHA-256
    /// at all: the check costs a hash-table lookup. A presigned link that
    /// many browsers fetch, or a client that reads again within the second,
    /// sends the same text. The clock checks run before, on every request.
    /// Only verified requests go in, so nothing a client without our key
    /// sends can grow it or shape its buckets; hence FxHash, for speed.
    verified: rustc_hash::FxHashMap<Box<str>, [u8; 32]>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub(crate) fn new(access_key: &str, secret_key: &str) -> Verifier {
        Verifier {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            shared: Arc::default(),
            scratch: String::with_capacity(512),
        }
    }

    /// True when `req` is signed by our key, unexpired, for an empty payload,
    /// at `now` (Unix seconds). False means "not sure", never "refused".
    pub(crate) fn verify(&mut self, req: &Signed<'_, '_>, now: i64) -> bool {
        self.try_verify(req, now).is_some()
    }

    fn try_verify(&mut self, req: &Signed<'_, '_>, now: i64) -> Option<()> {
        let (fields, amz_date, payload) = match req.carrier {
            Carrier::Header {
                authorization,
                amz_date,
                content_sha256,
            } => {
                let payload = content_sha256?;
                if payload != "UNSIGNED-PAYLOAD" && payload != EMPTY_SHA256 {
                    return None;
                }
                let fields = parse_authorization(authorization)?;
                let amz_date = amz_date?;
                let t = parse_amz_date(amz_date)?;
                if (now - t).abs() > MAX_SKEW_SECS {
                    return None;
                }
                (fields, amz_date, payload)
            }
            Carrier::Query => {
                let q = Presigned::parse(req.query?)?;
                let t = parse_amz_date(q.fields.amz_date_or_empty)?;
                let expires: i64 = q.expires.parse().ok()?;
                if !(1..=MAX_EXPIRES_SECS).contains(&expires)
                    || t - now > MAX_SKEW_SECS
                    || now - t > expires
                {
                    return None;
                }
                // A presigned URL signs no payload; a hash header would be
                // checked against the body by s3s.
                if header(req.headers, "x-amz-content-sha256").is_some() {
                    return None;
                }
                let amz_date = q.fields.amz_date_or_empty;
                (q.fields, amz_date, "UNSIGNED-PAYLOAD")
            }
        };
        let scope = &fields.credential;
        if scope.access_key != &*self.access_key
            || scope.service != "s3"
            || amz_date.get(..8) != Some(scope.date)
            // Never sent (httparse refuses it in a header, a query cannot
            // hold it): with it the text below could split two ways.
            || scope.region.contains('\n')
        {
            return None;
        }
        let mut given = [0u8; 32];
        hex::decode_to_slice(fields.signature, &mut given).ok()?;
        // One buffer, no other allocation: the string to sign up to the
        // hash (`amz-date \n scope \n`), then the canonical request, whose
        // hash completes the string to sign.
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        for part in [
            amz_date,
            "\n",
            scope.date,
            "/",
            scope.region,
            "/s3/aws4_request\n",
        ] {
            text.push_str(part);
        }
        let canonical_at = text.len();
        let built = canonical_request(&mut text, req, &fields.signed_headers, payload);
        let valid = built.is_some() && self.check(&text, canonical_at, scope, &given);
        self.scratch = text;
        valid.then_some(())
    }

    /// Whether `given` signs `text` (see [`Verifier::try_verify`]; its
    /// canonical request starts at `canonical_at`).
    fn check(&self, text: &str, canonical_at: usize, scope: &Scope<'_>, given: &[u8; 32]) -> bool {
        if let Some(known) = self
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .verified
            .get(text)
        {
            // Constant time, as below.
            return bool::from(known.ct_eq(given));
        }
        let key = self.key(scope.date, scope.region);
        let hashed = digest::digest(&digest::SHA256, &text.as_bytes()[canonical_at..]);
        let mut hex_hash = [0u8; 64];
        if hex::encode_to_slice(hashed.as_ref(), &mut hex_hash).is_err() {
            return false;
        }
        let mut mac = hmac::Context::with_key(&key);
        mac.update(b"AWS4-HMAC-SHA256\n");
        mac.update(&text.as_bytes()[..canonical_at]);
        mac.update(&hex_hash);
        // Constant time, so timing says nothing about how much of a guess was right.
        let valid = bool::from(mac.sign().as_ref().ct_eq(given));
        // A longer text (many signed headers) is checked anew each time, so
        // the memo stays within MEMO_MAX × MEMO_TEXT_MAX bytes.
        if valid && text.len() <= MEMO_TEXT_MAX {
            let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            if shared.verified.len() >= MEMO_MAX {
                shared.verified.clear();
            }
            shared.verified.insert(text.into(), *given);
        }
        valid
    }

    /// The signing key for `date` and `region`, derived on first use.
    fn key(&self, date: &str, region: &str) -> hmac::Key {
        let known = self
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .iter()
            .find(|(d, r, _)| d == date && r == region)
            .map(|(_, _, k)| k.clone());
        if let Some(k) = known {
            return k;
        }
        let k = hmac::Key::new(
            hmac::HMAC_SHA256,
            &signing_key(&self.secret_key, date, region, "s3"),
        );
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if shared.keys.len() == KEYS_MAX {
            shared.keys.remove(0);
        }
        shared
            .keys
            .push((date.to_owned(), region.to_owned(), k.clone()));
        k
    }
}

/// `kSigning` of SigV4: the secret, HMAC-chained through the scope.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_once(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_once(&k_date, region.as_bytes());
    let k_service = hmac_once(&k_region, service.as_bytes());
    hmac_once(&k_service, b"aws4_request")
}

fn hmac_once(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// `Credential=AK/20130524/us-east-1/s3/aws4_request`, split.
#[derive(Debug, PartialEq, Eq)]
struct Scope<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

/// The region a credential scope names (`AK/DATE/REGION/s3/aws4_request`,
/// its `/` plain or escaped as a presigned URL's `%2F`).
pub(crate) fn scope_region(credential: &str) -> Option<&str> {
    let separator = if credential.contains('/') { "/" } else { "%2F" };
    parse_scope(credential, separator).map(|scope| scope.region)
}

fn parse_scope<'a>(s: &'a str, separator: &str) -> Option<Scope<'a>> {
    if s.contains('%') && separator == "/" {
        return None;
    }
    let mut it = s.split(separator);
    let scope = Scope {
        access_key: it.next()?,
        date: it.next()?,
        region: it.next()?,
        service: it.next()?,
    };
    let whole = it.next()? == "aws4_request" && it.next().is_none();
    // Any other escape left in a part is something no SDK sends.
    let plain = [scope.access_key, scope.date, scope.region, scope.service]
        .iter()
        .all(|p| !p.contains('%'));
    (whole && plain).then_some(scope)
}

struct Fields<'a> {
    credential: Scope<'a>,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
    /// The presigned URL's `X-Amz-Date` (empty for header auth, which has
    /// its own header).
    amz_date_or_empty: &'a str,
}

/// `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=a;b, Signature=hex`, in
/// s3s's grammar (`authorization_v4.rs`): the three fields in that order,
/// whitespace only after the algorithm and the commas. A header s3s would
/// refuse to parse must not be one we serve.
fn parse_authorization(v: &str) -> Option<Fields<'_>> {
    let rest = v.strip_prefix("AWS4-HMAC-SHA256")?;
    let trimmed = rest.trim_start_matches(is_nom_space);
    if trimmed.len() == rest.len() {
        return None;
    }
    let (credential, rest) = trimmed.strip_prefix("Credential=")?.split_once(',')?;
    let rest = rest.trim_start_matches(is_nom_space);
    let (signed, rest) = rest.strip_prefix("SignedHeaders=")?.split_once(',')?;
    let rest = rest.trim_start_matches(is_nom_space);
    let signature = rest
        .strip_prefix("Signature=")?
        .trim_end_matches(is_nom_space);
    Some(Fields {
        credential: parse_scope(credential, "/")?,
        signed_headers: signed_headers(signed, ";")?,
        signature: lower_hex_64(signature)?,
        amz_date_or_empty: "",
    })
}

/// The whitespace s3s's parser skips (nom's `multispace`).
fn is_nom_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// A signature as s3s compares it: 64 lower-case hex digits (it compares
/// text, so an upper-case digit that decodes the same is still refused).
fn lower_hex_64(s: &str) -> Option<&str> {
    (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(s)
}

/// Signed header names, as the SDKs send them: sorted, each once, lower-case,
/// never `authorization`. s3s sorts a header signature's list but not a
/// presigned URL's, repeats a listed name's values and skips `authorization`:
/// a list of any other shape could make the two canonical requests differ.
fn signed_headers<'a>(s: &'a str, separator: &str) -> Option<Vec<&'a str>> {
    let names: Vec<&str> = s.split(separator).collect();
    let plain = names.iter().all(|n| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let ascending = names.windows(2).all(|w| w[0] < w[1]);
    (plain && ascending && !names.contains(&"authorization")).then_some(names)
}

struct Presigned<'a> {
    fields: Fields<'a>,
    expires: &'a str,
}

impl<'a> Presigned<'a> {
    /// The `X-Amz-*` parameters of a presigned URL's query; any of them
    /// missing, repeated or percent-encoded beyond what is needed goes the
    /// general way.
    fn parse(query: &'a str) -> Option<Presigned<'a>> {
        let mut v: [Option<&str>; 6] = [None; 6];
        for pair in query.split('&') {
            let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
            if let Some(i) = PRESIGNED_PARAMS.iter().position(|n| *n == k) {
                if v[i].replace(val).is_some() {
                    return None;
                }
            }
        }
        let [Some(algorithm), Some(credential), Some(date), Some(expires), Some(signed), Some(signature)] =
            v
        else {
            return None;
        };
        if algorithm != "AWS4-HMAC-SHA256" {
            return None;
        }
        // The SDKs encode the credential's `/` and the header list's `;`
        // (and nothing else there): split on the escapes rather than decode.
        let credential = parse_scope(
            credential,
            if credential.contains('/') { "/" } else { "%2F" },
        )?;
        let separator = if signed.contains(';') { ";" } else { "%3B" };
        Some(Presigned {
            fields: Fields {
                credential,
                signed_headers: signed_headers(signed, separator)?,
                signature: lower_hex_64(signature)?,
                amz_date_or_empty: date,
            },
            expires,
        })
    }
}

/// `20130524T000000Z` → Unix seconds.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = s.get(r)?;
        d.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| d.parse().ok())?
    };
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        month,
        u8::try_from(num(6..8)?).ok()?,
    )
    .ok()?;
    let t = date
        .with_hms(
            u8::try_from(num(9..11)?).ok()?,
            u8::try_from(num(11..13)?).ok()?,
            u8::try_from(num(13..15)?).ok()?,
        )
        .ok()?;
    Some(t.assume_utc().unix_timestamp())
}

fn header<'h>(headers: &[httparse::Header<'h>], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Appends the canonical request to `out`: method, URI, query, headers,
/// signed header list, payload hash.
fn canonical_request(
    out: &mut String,
    req: &Signed<'_, '_>,
    signed: &[&str],
    payload: &str,
) -> Option<()> {
    out.push_str(req.method);
    out.push('\n');
    // The path decoded, then encoded the SigV4 way (s3s does the same).
    let decoded = percent_encoding::percent_decode_str(req.path)
        .decode_utf8()
        .ok()?;
    uri_encode(out, &decoded, false);
    out.push('\n');
    canonical_query(
        out,
        req.query.unwrap_or(""),
        matches!(req.carrier, Carrier::Query),
    )?;
    out.push('\n');
    for name in signed {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for h in req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
        {
            if !first {
                out.push(',');
            }
            first = false;
            let v = std::str::from_utf8(h.value).ok()?;
            // Trimmed, runs of spaces as one.
            let mut words = v.split_whitespace();
            if let Some(w) = words.next() {
                out.push_str(w);
                for w in words {
                    out.push(' ');
                    out.push_str(w);
                }
            }
        }
        if first {
            // A signed header the request lacks: s3s decides what that means.
            return None;
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in signed.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(payload);
    Some(())
}

/// The canonical query: every parameter (but a presigned URL's signature)
/// decoded, encoded again, sorted by name. Repeated names (after decoding),
/// and a `+` (which decoders disagree on), go the general way; so does a
/// header-signed request with an `X-Amz-Signature` parameter, which s3s
/// would check as a presigned URL.
fn canonical_query(out: &mut String, query: &str, presigned: bool) -> Option<()> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut signatures = 0;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if pair.contains('+') {
            return None;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_encoding::percent_decode_str(k).decode_utf8().ok()?;
        if k == "X-Amz-Signature" {
            signatures += 1;
            if !presigned || signatures > 1 {
                return None;
            }
            continue;
        }
        let mut name = String::new();
        uri_encode(&mut name, &k, true);
        let mut value = String::new();
        uri_encode(
            &mut value,
            &percent_encoding::percent_decode_str(v).decode_utf8().ok()?,
            true,
        );
        if pairs.iter().any(|(n, _)| *n == name) {
            return None;
        }
        pairs.push((name, value));
    }
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    Some(())
}

/// SigV4's URI encoding: unreserved characters as they are, everything else
/// `%XX` upper-case; `/` kept in paths.
fn uri_encode(out: &mut String, s: &str, encode_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'~' | b'.' => {
                out.push(char::from(b));
            }
            b'/' if !encode_slash => out.push('/'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// AWS's example credentials (S3 SigV4 documentation).
    pub(crate) const AWS_ACCESS: &str = "AKIAIOSFODNN7EXAMPLE";
    pub(crate) const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    /// Verifies the raw request head `raw` at `now`.
    fn check(raw: &str, access: &str, secret: &str, now: &str) -> bool {
        let now = parse_amz_date(now).expect("date");
        verify_with(&mut Verifier::new(access, secret), raw.as_bytes(), now)
    }

    /// The GET Object example of "Signature Calculations for the Authorization
    /// Header: Transferring Payload in a Single Chunk".
    pub(crate) const AWS_GET: &str = "GET /test.txt HTTP/1.1\r\n\
        Host: examplebucket.s3.amazonaws.com\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n\
        Range: bytes=0-9\r\n\
        x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
        x-amz-date: 20130524T000000Z\r\n\r\n";

    /// The same document's GET Bucket (list objects) example: a query.
    const AWS_LIST: &str = "GET /?max-keys=2&prefix=J HTTP/1.1\r\n\
        Host: examplebucket.s3.amazonaws.com\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7\r\n\
        x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
        x-amz-date: 20130524T000000Z\r\n\r\n";

    /// "Authenticating Requests: Using Query Parameters": the presigned example,
    /// valid for 86400 s from its date.
    pub(crate) const AWS_PRESIGNED: &str = "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\r\n\
        Host: examplebucket.s3.amazonaws.com\r\n\r\n";

    /// boto3 1.43 `get_object` of key `k a/é` (captured; secret `SECRET`).
    const BOTO3_GET: &str = "GET /b/k%20a/%C3%A9 HTTP/1.1\r\n\
        Accept-Encoding: identity\r\n\
        x-amz-checksum-mode: ENABLED\r\n\
        User-Agent: Boto3/1.43.11 md/Botocore#1.43.11 md/awscrt#0.38.1 ua/2.1 os/linux#6.18.44-fc-v1147 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/N,Z,D,b,g cfg/retry-mode#legacy Botocore/1.43.11\r\n\
        host: 127.0.0.1:38271\r\n\
        X-Amz-Date: 20261203T220011Z\r\n\
        x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date, Signature=da73d6479a9af2ae3df19465584bf5e0d16e526f026ef48dcf0b1dedfa927154\r\n\
        amz-sdk-invocation-id: 5f1a08b7-6dd0-4c6b-97bb-17306edf1fb2\r\n\
        amz-sdk-request: attempt=1\r\n\r\n";

    /// boto3 `get_object` with `Range` (captured).
    const BOTO3_RANGE: &str = "GET /b/k HTTP/1.1\r\n\
        Accept-Encoding: identity\r\n\
        Range: bytes=0-0\r\n\
        x-amz-checksum-mode: ENABLED\r\n\
        host: 127.0.0.1:38271\r\n\
        X-Amz-Date: 20261203T220011Z\r\n\
        x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date, Signature=348badbea8eb13496914b714d09d80f9db34ad5f04112a4be63dbcbb1b6fbd3d\r\n\r\n";

    /// aws-cli 1.45 `s3 cp` download: its HEAD (captured).
    const AWSCLI_HEAD: &str = "HEAD /b/k HTTP/1.1\r\n\
        Accept-Encoding: identity\r\n\
        User-Agent: aws-cli/1.45.11 md/Botocore#1.43.11\r\n\
        host: 127.0.0.1:38271\r\n\
        X-Amz-Date: 20261203T220012Z\r\n\
        x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261203/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=4bbb2d3a38b782509d2b2ccf0f29a0b475afc4b73f1d9ba9bc2819cd5ce7ac6b\r\n\r\n";

    #[test]
    fn aws_published_examples() {
        let at = "20130524T000100Z";
        assert!(check(AWS_GET, AWS_ACCESS, AWS_SECRET, at));
        assert!(check(AWS_LIST, AWS_ACCESS, AWS_SECRET, at));
        assert!(check(AWS_PRESIGNED, AWS_ACCESS, AWS_SECRET, at));
        assert!(check(
            AWS_PRESIGNED,
            AWS_ACCESS,
            AWS_SECRET,
            "20130524T235959Z"
        ));
    }

    #[test]
    fn derived_signing_key_matches_aws_example() {
        // "Examples of how to derive a signing key for Signature Version 4".
        let k = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn captured_sdk_requests() {
        let at = "20261203T220030Z";
        assert!(check(BOTO3_GET, "AKID", "SECRET", at));
        assert!(check(BOTO3_RANGE, "AKID", "SECRET", at));
        assert!(check(AWSCLI_HEAD, "AKID", "SECRET", at));
    }

    #[test]
    fn anything_off_is_not_verified() {
        let at = "20130524T000100Z";
        // Wrong secret, wrong access key.
        assert!(!check(AWS_GET, AWS_ACCESS, "wrong", at));
        assert!(!check(AWS_GET, "AKIAOTHER", AWS_SECRET, at));
        // One signed thing changed: the range, the path, the method.
        assert!(!check(
            &AWS_GET.replace("0-9", "0-8"),
            AWS_ACCESS,
            AWS_SECRET,
            at
        ));
        assert!(!check(
            &AWS_GET.replace("/test.txt", "/test.txu"),
            AWS_ACCESS,
            AWS_SECRET,
            at
        ));
        assert!(!check(
            &AWS_GET.replacen("GET", "HEAD", 1),
            AWS_ACCESS,
            AWS_SECRET,
            at
        ));
        // The signature itself, one digit off.
        assert!(!check(
            &AWS_GET.replace("bdb41", "bdb42"),
            AWS_ACCESS,
            AWS_SECRET,
            at
        ));
        // Too far from our clock either way.
        assert!(!check(AWS_GET, AWS_ACCESS, AWS_SECRET, "20130524T001600Z"));
        assert!(!check(AWS_GET, AWS_ACCESS, AWS_SECRET, "20130523T234400Z"));
        // A presigned URL past its expiry, or dated far ahead.
        assert!(!check(
            AWS_PRESIGNED,
            AWS_ACCESS,
            AWS_SECRET,
            "20130525T000001Z"
        ));
        assert!(!check(
            AWS_PRESIGNED,
            AWS_ACCESS,
            AWS_SECRET,
            "20130523T234000Z"
        ));
        // Another parameter in a presigned query is signed too.
        let extra = AWS_PRESIGNED.replace("?X-Amz-Algorithm", "?a=b&X-Amz-Algorithm");
        assert!(!check(&extra, AWS_ACCESS, AWS_SECRET, at));
        // A real payload hash is for the general path, which reads the body.
        let sha = AWS_GET.replace(
            "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "x-amz-content-sha256: 0000000000000000000000000000000000000000000000000000000000000000",
        );
        assert!(!check(&sha, AWS_ACCESS, AWS_SECRET, at));
        // A signed header the request lacks.
        let no_range = AWS_GET.replace("Range: bytes=0-9\r\n", "");
        assert!(!check(&no_range, AWS_ACCESS, AWS_SECRET, at));
    }

    /// Verifies `raw` with `v` (a clone shares its caches) at the Unix time `now`.
    fn verify_with(v: &mut Verifier, raw: &[u8], now: i64) -> bool {
        let mut h = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut h);
        assert!(req.parse(raw).expect("parses").is_complete());
        let (path, query) = match req.path.expect("path").split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (req.path.expect("path"), None),
        };
        let get = |n: &str| header(req.headers, n).map(|v| std::str::from_utf8(v).expect("utf-8"));
        let carrier = match get("authorization") {
            Some(authorization) => Carrier::Header {
                authorization,
                amz_date: get("x-amz-date"),
                content_sha256: get("x-amz-content-sha256"),
            },
            None => Carrier::Query,
        };
        let signed = Signed {
            method: req.method.expect("method"),
            path,
            query,
            headers: req.headers,
            carrier,
        };
        v.verify(&signed, now)
    }

    /// The signing key is cached per (date, region) and shared by a
    /// verifier's clones: a key cached for one scope must never check a
    /// request of another. Each request here is signed (by the reference,
    /// `sigv4_ref.rs`) after another scope's key is in the cache, so a cache
    /// keyed on less than both would verify it with the wrong key and fail.
    #[test]
    fn cached_signing_keys_are_per_scope() {
        use crate::sigv4_ref::{sign_header, sign_query, Head};
        let signed = |date: &str, region: &str, secret: &str, presigned: bool| {
            let mut h = Head {
                method: "GET".into(),
                path: "/b/k".into(),
                query: None,
                headers: vec![("host".into(), "127.0.0.1:9000".into())],
            };
            if presigned {
                sign_query(&mut h, "AKID", secret, date, region, 3600);
            } else {
                sign_header(&mut h, "AKID", secret, date, region);
            }
            (h.to_bytes(), parse_amz_date(date).expect("date"))
        };
        let first = Verifier::new("AKID", "SECRET");
        for presigned in [false, true] {
            // Each case on a fresh clone of `first`: the caches are shared.
            let cases = [
                ("20261203T235959Z", "us-east-1", "SECRET", true),
                // The next day, same region.
                ("20261204T000001Z", "us-east-1", "SECRET", true),
                // The same day, another region.
                ("20261204T000002Z", "eu-west-1", "SECRET", true),
                // Back to the first scope, still right.
                ("20261203T235958Z", "us-east-1", "SECRET", true),
                // Another secret, scopes already cached: refused.
                ("20261204T000003Z", "us-east-1", "OTHER", false),
                ("20261203T235957Z", "eu-west-1", "OTHER", false),
            ];
            for (date, region, secret, want) in cases {
                let (raw, now) = signed(date, region, secret, presigned);
                let mut v = first.clone();
                assert_eq!(
                    verify_with(&mut v, &raw, now),
                    want,
                    "{date} {region} {secret} presigned {presigned}"
                );
                // A verifier with the other secret and caches of its own
                // agrees the other way round.
                let mut other = Verifier::new("AKID", "OTHER");
                assert_eq!(verify_with(&mut other, &raw, now), !want);
            }
        }
        let keys = first.shared.lock().expect("lock").keys.len();
        assert_eq!(keys, 4, "one key per (date, region) seen");
    }

    /// The memo of verified requests answers only for the same text with the
    /// same signature, after the clock checks: a memo keyed on less (the
    /// signature alone), or consulted before the clock, fails this.
    #[test]
    fn memo_answers_only_the_same_request_in_time() {
        let now = parse_amz_date("20130524T000100Z").expect("date");
        let v = Verifier::new(AWS_ACCESS, AWS_SECRET);
        let memo = |v: &Verifier| v.shared.lock().expect("lock").verified.len();
        assert!(verify_with(&mut v.clone(), AWS_GET.as_bytes(), now));
        assert_eq!(memo(&v), 1);
        // Again, on another connection: from the memo.
        assert!(verify_with(&mut v.clone(), AWS_GET.as_bytes(), now));
        // The same signature on another path, range, method or region.
        for (from, to) in [
            ("/test.txt", "/test.txu"),
            ("0-9", "0-8"),
            ("GET", "HEAD"),
            ("/us-east-1/", "/us-west-2/"),
        ] {
            let changed = AWS_GET.replacen(from, to, 1);
            assert!(
                !verify_with(&mut v.clone(), changed.as_bytes(), now),
                "{to}"
            );
        }
        // The same request with a signature one digit off.
        let wrong = AWS_GET.replace("bdb41", "bdb42");
        assert!(!verify_with(&mut v.clone(), wrong.as_bytes(), now));
        // The same request replayed past the allowed skew.
        let late = now + MAX_SKEW_SECS + 60;
        assert!(!verify_with(&mut v.clone(), AWS_GET.as_bytes(), late));
        // A presigned URL from the memo, then after its expiry.
        assert!(verify_with(&mut v.clone(), AWS_PRESIGNED.as_bytes(), now));
        assert!(verify_with(&mut v.clone(), AWS_PRESIGNED.as_bytes(), now));
        let expired = parse_amz_date("20130525T000001Z").expect("date");
        assert!(!verify_with(
            &mut v.clone(),
            AWS_PRESIGNED.as_bytes(),
            expired
        ));
        assert_eq!(memo(&v), 2, "only the two verified requests");
    }

    #[test]
    fn amz_dates() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(1_369_353_600));
        for bad in [
            "2013052T000000Z",
            "20131324T000000Z",
            "20130524 000000Z",
            "2013O524T000000Z",
            "+0130524T000000Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// Any Authorization value or query: no panic, and never verified.
        #[test]
        fn any_input_is_refused_without_panic(auth in "[ -~]{0,120}", query in "[!-~]{0,120}") {
            let raw = format!(
                "GET /b/k?{query} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nx-amz-date: 20130524T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n"
            );
            let mut h = [httparse::EMPTY_HEADER; 8];
            let mut req = httparse::Request::new(&mut h);
            if let Ok(httparse::Status::Complete(_)) = req.parse(raw.as_bytes()) {
                let (path, q) = req.path.unwrap_or("/").split_once('?').unwrap_or(("/", ""));
                for carrier in [
                    Carrier::Header { authorization: &auth, amz_date: Some("20130524T000000Z"), content_sha256: Some("UNSIGNED-PAYLOAD") },
                    Carrier::Query,
                ] {
                    let s = Signed { method: "GET", path, query: Some(q), headers: req.headers, carrier };
                    proptest::prop_assert!(!Verifier::new(AWS_ACCESS, AWS_SECRET).verify(&s, 1_369_353_600));
                }
            }
        }
    }
}
