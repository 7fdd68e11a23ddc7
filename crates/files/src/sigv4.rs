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

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 of the empty body, the payload hash the SDKs send on GET/HEAD.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How far a header-signed request's `x-amz-date` may be from our clock, and a
/// presigned URL's date ahead of it: s3s's setting in `server.rs`.
pub(crate) const MAX_SKEW_SECS: i64 = 900;

/// The longest validity a presigned URL may claim (seven days, as S3 says).
const MAX_EXPIRES_SECS: i64 = 604_800;

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

/// Our key pair, and the signing key derived for the last date and region seen
/// (one per connection: deriving costs four HMACs, and a client signs with the
/// same scope all day).
#[derive(Clone)]
pub(crate) struct Verifier {
    access_key: std::sync::Arc<str>,
    secret_key: std::sync::Arc<str>,
    /// (date, region) → signing key.
    cached: Option<(String, String, [u8; 32])>,
    /// The canonical request, reused between requests.
    scratch: String,
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
            cached: None,
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
        {
            return None;
        }
        let mut canonical = std::mem::take(&mut self.scratch);
        let built = canonical_request(&mut canonical, req, &fields.signed_headers, payload);
        let hashed = built.map(|()| hex::encode(Sha256::digest(canonical.as_bytes())));
        self.scratch = canonical;
        let hashed = hashed?;
        let key = self.signing_key(scope.date, scope.region);
        let mut mac = HmacSha256::new_from_slice(&key).ok()?;
        for part in [
            "AWS4-HMAC-SHA256\n",
            amz_date,
            "\n",
            scope.date,
            "/",
            scope.region,
            "/s3/aws4_request\n",
            &hashed,
        ] {
            mac.update(part.as_bytes());
        }
        let given = hex::decode(fields.signature).ok()?;
        // Constant time, so timing says nothing about how much of a guess was right.
        mac.verify_slice(&given).ok()
    }

    fn signing_key(&mut self, date: &str, region: &str) -> [u8; 32] {
        if let Some((d, r, k)) = &self.cached {
            if d == date && r == region {
                return *k;
            }
        }
        let k = signing_key(&self.secret_key, date, region, "s3");
        self.cached = Some((date.to_owned(), region.to_owned(), k));
        k
    }
}

/// `kSigning` of SigV4: the secret, HMAC-chained through the scope.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `Credential=AK/20130524/us-east-1/s3/aws4_request`, split.
#[derive(Debug, PartialEq, Eq)]
struct Scope<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
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

/// Writes the canonical request into `out`: method, URI, query, headers,
/// signed header list, payload hash.
fn canonical_request(
    out: &mut String,
    req: &Signed<'_, '_>,
    signed: &[&str],
    payload: &str,
) -> Option<()> {
    out.clear();
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
        let mut h = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut h);
        assert!(req.parse(raw.as_bytes()).expect("parses").is_complete());
        let target = req.path.expect("path");
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
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
        let now = parse_amz_date(now).expect("date");
        Verifier::new(access, secret).verify(&signed, now)
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
