//! The read fast path's rules, without I/O: which requests it may answer, and
//! the response head it writes for them.
//!
//! A request qualifies when answering it needs nothing s3s does: a `GET` or
//! `HEAD` of an object, HTTP/1.1, no body, no query (but the SDKs' `x-id` and a
//! presigned URL's `X-Amz-*`), and only the headers listed in [`classify`];
//! either anonymous, of an object in a public bucket, or SigV4-signed by our
//! key (header or presigned) with a signature [`sigv4`] verifies. Anything
//! else — a signature it is not sure of, CORS, a failed `If-Match`, a multi-range — goes the general way
//! (`server.rs`), which also answers every error: the fast path only ever says
//! 200, 206 or 304, and hands a request whose answer would be another status
//! back untouched. The two paths must agree byte for byte on what they both
//! answer; `tests/py/fast_path.py` checks that against the general path.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;

use s3s::dto::{ETagCondition, Range, Timestamp, TimestampFormat};

use crate::checksum::{Algorithm, Kind};
use crate::sigv4::{self, Carrier, Signed, Verifier};
use crate::store::ObjectView;
use crate::vhost;

/// A request the fast path may answer.
#[derive(Debug)]
pub(crate) struct FastGet<'a> {
    /// `HEAD` rather than `GET`.
    pub(crate) head_only: bool,
    /// The bucket (public).
    pub(crate) bucket: Cow<'a, str>,
    /// The key, percent-decoded.
    pub(crate) key: Cow<'a, str>,
    /// `Range`, if any (GET only).
    pub(crate) range: Option<Range>,
    /// `If-None-Match`.
    pub(crate) if_none_match: Option<ETagCondition>,
    /// `If-Match` (s3transfer sends it with each part of a download).
    pub(crate) if_match: Option<ETagCondition>,
    /// `If-Modified-Since`.
    pub(crate) if_modified_since: Option<Timestamp>,
    /// `x-amz-checksum-mode: ENABLED`.
    pub(crate) checksum_mode: bool,
    /// The client asked to close after this response.
    pub(crate) close: bool,
    /// Signed by our key (and verified), rather than anonymous.
    pub(crate) signed: bool,
}

/// Decides whether the parsed request `req` is one for the fast path: `None`
/// sends it the general way. A signed request is verified with `verifier` at
/// `now` (Unix seconds).
pub(crate) fn classify<'a>(
    req: &httparse::Request<'_, 'a>,
    domain: Option<&str>,
    public: &HashSet<String>,
    verifier: &mut Verifier,
    now: i64,
) -> Option<FastGet<'a>> {
    let head_only = match req.method? {
        "GET" => false,
        "HEAD" => true,
        _ => return None,
    };
    if req.version? != 1 {
        return None;
    }
    let target = req.path?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    // The only query the fast path takes is the operation name some SDKs add,
    // and a presigned URL's signature.
    let mut presigned = false;
    if let Some(q) = query {
        for p in q.split('&') {
            if sigv4::is_presigned_param(p) {
                presigned = true;
            } else if !(p.starts_with("x-id=") || p.is_empty()) {
                return None;
            }
        }
    }
    let mut authorization = None;
    let mut amz_date = None;
    let mut content_sha256 = None;
    let mut host = None;
    let mut range = None;
    let mut if_none_match = None;
    let mut if_match = None;
    let mut if_modified_since = None;
    let mut checksum_mode = false;
    let mut close = false;
    for h in req.headers.iter() {
        let name = h.name;
        let value = std::str::from_utf8(h.value).ok()?;
        if name.eq_ignore_ascii_case("host") {
            if host.replace(value).is_some() {
                return None;
            }
        } else if name.eq_ignore_ascii_case("range") {
            if head_only || range.is_some() {
                return None;
            }
            range = Some(Range::parse(value.trim()).ok()?);
        } else if name.eq_ignore_ascii_case("if-none-match") {
            if if_none_match.is_some() {
                return None;
            }
            if_none_match = Some(ETagCondition::parse_http_header(value.trim().as_bytes()).ok()?);
        } else if name.eq_ignore_ascii_case("if-match") {
            if if_match.is_some() {
                return None;
            }
            if_match = Some(ETagCondition::parse_http_header(value.trim().as_bytes()).ok()?);
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            if if_modified_since.is_some() {
                return None;
            }
            if_modified_since =
                Some(Timestamp::parse(TimestampFormat::HttpDate, value.trim()).ok()?);
        } else if name.eq_ignore_ascii_case("x-amz-checksum-mode") {
            checksum_mode = value.trim() == "ENABLED";
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if !token.eq_ignore_ascii_case("keep-alive") && !token.is_empty() {
                    return None;
                }
            }
        } else if name.eq_ignore_ascii_case("authorization") {
            if authorization.replace(value).is_some() {
                return None;
            }
        } else if name.eq_ignore_ascii_case("x-amz-date") {
            if amz_date.replace(value).is_some() {
                return None;
            }
        } else if name.eq_ignore_ascii_case("x-amz-content-sha256") {
            if content_sha256.replace(value).is_some() {
                return None;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            if value.trim() != "0" {
                return None;
            }
        } else if !harmless(name) {
            return None;
        }
    }
    // With If-Match, S3's order of precedence among several conditions
    // matters: leave combinations to the general path.
    if if_match.is_some() && (if_none_match.is_some() || if_modified_since.is_some()) {
        return None;
    }
    let carrier = match (authorization, presigned) {
        (Some(authorization), false) => Some(Carrier::Header {
            authorization,
            amz_date,
            content_sha256,
        }),
        (None, true) => Some(Carrier::Query),
        (None, false) if amz_date.is_none() && content_sha256.is_none() => None,
        // Signed twice, or half a header signature: s3s says what is wrong.
        _ => return None,
    };
    let host = host?;
    let decoded = percent_encoding::percent_decode_str(path.strip_prefix('/')?)
        .decode_utf8()
        .ok()?;
    let (bucket, key) = match domain.and_then(|d| vhost::bucket_in_host(d, host)) {
        Some(b) => (Cow::Owned(b.to_ascii_lowercase()), decoded),
        None => match decoded {
            Cow::Borrowed(p) => {
                let (b, k) = p.split_once('/')?;
                (Cow::Borrowed(b), Cow::Borrowed(k))
            }
            Cow::Owned(p) => {
                let (b, k) = p.split_once('/')?;
                (Cow::Owned(b.to_owned()), Cow::Owned(k.to_owned()))
            }
        },
    };
    if crate::key::validate_key(&key).is_err() {
        return None;
    }
    match carrier {
        None if !public.contains(bucket.as_ref()) => return None,
        None => {}
        Some(carrier) => {
            let signed = Signed {
                method: req.method?,
                path,
                query,
                headers: req.headers,
                carrier,
            };
            // Last, as it is the costliest check.
            if !verifier.verify(&signed, now) {
                return None;
            }
        }
    }
    Some(FastGet {
        head_only,
        bucket,
        key,
        range,
        if_none_match,
        if_match,
        if_modified_since,
        checksum_mode,
        close,
        signed: carrier.is_some(),
    })
}

/// Request headers that change nothing in the answer: a client's description
/// of itself and what it accepts. Any other header (an `Origin`, `If-Match`,
/// an `x-amz-*` not named in [`classify`]) sends the request the general way.
fn harmless(name: &str) -> bool {
    const NAMES: [&str; 12] = [
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "pragma",
        "referer",
        "dnt",
        "x-forwarded-for",
        "x-request-id",
        // The AWS SDKs' retry bookkeeping.
        "amz-sdk-invocation-id",
        "amz-sdk-request",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
        || name
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("sec-"))
}

/// What to send after the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Body {
    /// First byte of the data file.
    pub(crate) start: u64,
    /// Bytes to send (0 for HEAD and 304).
    pub(crate) len: u64,
}

/// Writes the response head for `req` on the object `obj` into `out` and says
/// what body follows, or `None` when the answer is not 200/206/304 (a failed
/// precondition, an unsatisfiable range): the general path answers those.
pub(crate) fn respond(
    req: &FastGet<'_>,
    obj: &ObjectView<'_>,
    date: &[u8],
    out: &mut Vec<u8>,
) -> Option<Body> {
    out.clear();
    let modified = modified_time(obj.modified_ms);
    let matches = match &req.if_match {
        None | Some(ETagCondition::Any) => true,
        Some(ETagCondition::ETag(t)) => t.value() == obj.etag,
    };
    if !matches {
        // 412: the general path's answer.
        return None;
    }
    let not_modified = match &req.if_none_match {
        Some(ETagCondition::Any) => true,
        Some(ETagCondition::ETag(t)) => t.value() == obj.etag,
        // HTTP dates have whole seconds: compare at that precision, as the general path does.
        None => req.if_modified_since.as_ref().is_some_and(|t| {
            modified.unix_timestamp() <= time::OffsetDateTime::from(t.clone()).unix_timestamp()
        }),
    };
    let (status, body, range) = if not_modified {
        (&b"304 Not Modified"[..], Body { start: 0, len: 0 }, None)
    } else if let Some(r) = &req.range {
        let r = r.check(obj.size).ok().filter(|r| !r.is_empty())?;
        let b = Body {
            start: r.start,
            len: r.end - r.start,
        };
        (&b"206 Partial Content"[..], b, Some(r))
    } else {
        let len = if req.head_only { 0 } else { obj.size };
        (&b"200 OK"[..], Body { start: 0, len }, None)
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status);
    out.extend_from_slice(b"\r\n");
    if !not_modified {
        header(out, "accept-ranges", "bytes");
        let h = &obj.headers;
        opt(out, "cache-control", h.cache_control.as_deref());
        if req.checksum_mode && range.is_none() {
            obj.checksum_header(&mut |a: Algorithm, k: Kind, v: &str| {
                header(out, a.header(), v);
                header(
                    out,
                    "x-amz-checksum-type",
                    match k {
                        Kind::FullObject => "FULL_OBJECT",
                        Kind::Composite => "COMPOSITE",
                    },
                );
            });
        }
        opt(out, "content-disposition", h.content_disposition.as_deref());
        opt(out, "content-encoding", h.content_encoding.as_deref());
        opt(out, "content-language", h.content_language.as_deref());
        let len = match range {
            Some(_) => body.len,
            None => obj.size,
        };
        let _ = write!(out, "content-length: {len}\r\n");
        if let Some(r) = &range {
            let _ = write!(
                out,
                "content-range: bytes {}-{}/{}\r\n",
                r.start,
                r.end - 1,
                obj.size
            );
        }
        header(
            out,
            "content-type",
            h.content_type
                .as_deref()
                .unwrap_or(crate::store::DEFAULT_CONTENT_TYPE),
        );
    }
    out.extend_from_slice(b"etag: \"");
    out.extend_from_slice(obj.etag.as_bytes());
    out.extend_from_slice(b"\"\r\n");
    out.extend_from_slice(b"last-modified: ");
    write_http_date(out, modified);
    out.extend_from_slice(b"\r\n");
    if !not_modified {
        for (k, v) in &obj.headers.user {
            out.extend_from_slice(b"x-amz-meta-");
            header(out, k, v);
        }
        if let Some(n) = obj.parts {
            let _ = write!(out, "x-amz-mp-parts-count: {n}\r\n");
        }
        if !obj.headers.tags.is_empty() {
            let _ = write!(out, "x-amz-tagging-count: {}\r\n", obj.headers.tags.len());
        }
    }
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n\r\n");
    // A stored value that cannot go in a header as it is (it never should)
    // is left to the general path's own checks.
    if out
        .iter()
        .any(|&b| b < b' ' && b != b'\r' && b != b'\n' && b != b'\t')
    {
        return None;
    }
    Some(body)
}

fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    // CR and LF would end the header early: never copy them.
    out.extend(
        value
            .bytes()
            .map(|b| if b == b'\r' || b == b'\n' { 0 } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

fn opt(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        header(out, name, v);
    }
}

fn modified_time(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Writes an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) without allocating.
pub(crate) fn write_http_date(out: &mut Vec<u8>, t: time::OffsetDateTime) {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // Digits by hand: `write!` cost as much as the rest of the head (callgrind).
    fn two(out: &mut Vec<u8>, n: u8) {
        out.extend_from_slice(&[b'0' + n / 10 % 10, b'0' + n % 10]);
    }
    let t = t.to_offset(time::UtcOffset::UTC);
    out.extend_from_slice(DAYS[usize::from(t.weekday().number_days_from_monday())].as_bytes());
    out.extend_from_slice(b", ");
    two(out, t.day());
    out.push(b' ');
    out.extend_from_slice(MONTHS[usize::from(u8::from(t.month()) - 1)].as_bytes());
    out.push(b' ');
    let year = u16::try_from(t.year().clamp(0, 9999)).unwrap_or(0);
    two(out, u8::try_from(year / 100).unwrap_or(0));
    two(out, u8::try_from(year % 100).unwrap_or(0));
    out.push(b' ');
    two(out, t.hour());
    out.push(b':');
    two(out, t.minute());
    out.push(b':');
    two(out, t.second());
    out.extend_from_slice(b" GMT");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'h, 'b>(
        raw: &'b [u8],
        headers: &'h mut [httparse::Header<'b>],
    ) -> httparse::Request<'h, 'b> {
        let mut req = httparse::Request::new(headers);
        assert!(req.parse(raw).expect("parses").is_complete());
        req
    }

    fn public() -> HashSet<String> {
        ["pub".to_owned()].into_iter().collect()
    }

    /// Classifies with a key no test request is signed with.
    fn classify<'a>(
        req: &httparse::Request<'_, 'a>,
        domain: Option<&str>,
        public: &HashSet<String>,
    ) -> Option<FastGet<'a>> {
        super::classify(req, domain, public, &mut Verifier::new("AK", "SK"), 0)
    }

    #[test]
    fn signed_requests_of_any_bucket_qualify_when_verified() {
        use crate::sigv4::tests::{AWS_ACCESS, AWS_GET, AWS_PRESIGNED, AWS_SECRET};
        // 2013-05-24 00:01:00, a minute after the examples were signed.
        let now = 1_369_353_660;
        for (raw, range) in [(AWS_GET, true), (AWS_PRESIGNED, false)] {
            let mut h = [httparse::EMPTY_HEADER; 16];
            let req = parse(raw.as_bytes(), &mut h);
            let mut v = Verifier::new(AWS_ACCESS, AWS_SECRET);
            let f = super::classify(&req, Some("s3.amazonaws.com"), &public(), &mut v, now)
                .expect("verified");
            assert_eq!(
                (f.bucket.as_ref(), f.key.as_ref()),
                ("examplebucket", "test.txt")
            );
            assert!(f.signed);
            assert_eq!(f.range.is_some(), range);
            // Another key, or a day later: the general path's to answer.
            let mut v = Verifier::new(AWS_ACCESS, "other");
            assert!(
                super::classify(&req, Some("s3.amazonaws.com"), &public(), &mut v, now).is_none()
            );
            let mut v = Verifier::new(AWS_ACCESS, AWS_SECRET);
            let later = now + 86_400;
            assert!(
                super::classify(&req, Some("s3.amazonaws.com"), &public(), &mut v, later).is_none()
            );
        }
    }

    #[test]
    fn what_qualifies() {
        let cases: [(&[u8], bool); 17] = [
            (b"GET /pub/a/b.txt HTTP/1.1\r\nHost: x\r\n\r\n", true),
            (
                b"HEAD /pub/k HTTP/1.1\r\nHost: x\r\nUser-Agent: curl\r\n\r\n",
                true,
            ),
            (
                b"GET /pub/k?x-id=GetObject HTTP/1.1\r\nHost: x\r\n\r\n",
                true,
            ),
            (
                b"GET /pub/k HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n",
                true,
            ),
            (b"GET /priv/k HTTP/1.1\r\nHost: x\r\n\r\n", false),
            (b"GET /pub/k HTTP/1.0\r\nHost: x\r\n\r\n", false),
            (b"GET /pub/k HTTP/1.1\r\n\r\n", false),
            (b"PUT /pub/k HTTP/1.1\r\nHost: x\r\n\r\n", false),
            (
                b"GET /pub/k?response-content-type=a HTTP/1.1\r\nHost: x\r\n\r\n",
                false,
            ),
            (
                b"GET /pub/k HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4 x\r\n\r\n",
                false,
            ),
            (
                b"GET /pub/k HTTP/1.1\r\nHost: x\r\nOrigin: https://a\r\n\r\n",
                false,
            ),
            (
                b"GET /pub/k HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,3-4\r\n\r\n",
                false,
            ),
            (
                b"GET /pub/k HTTP/1.1\r\nHost: x\r\nIf-Match: \"a\"\r\n\r\n",
                true,
            ),
            (
                b"GET /pub/k HTTP/1.1\r\nHost: x\r\nIf-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n\r\n",
                false,
            ),
            (b"GET /pub/../k HTTP/1.1\r\nHost: x\r\n\r\n", false),
            (
                b"GET /pub/k HTTP/1.1\r\nHost: x\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n",
                false,
            ),
            (
                b"GET /pub/k HTTP/1.1\r\nHost: x\r\namz-sdk-request: attempt=1\r\n\r\n",
                true,
            ),
        ];
        for (raw, want) in cases {
            let mut h = [httparse::EMPTY_HEADER; 16];
            let req = parse(raw, &mut h);
            let got = classify(&req, None, &public()).is_some();
            assert_eq!(got, want, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn keys_are_decoded_and_hosts_name_buckets() {
        let mut h = [httparse::EMPTY_HEADER; 4];
        let req = parse(b"GET /pub/a%20b/%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n", &mut h);
        let f = classify(&req, None, &public()).expect("fast");
        assert_eq!((f.bucket.as_ref(), f.key.as_ref()), ("pub", "a b/é"));
        let mut h = [httparse::EMPTY_HEADER; 4];
        let req = parse(
            b"GET /k/x HTTP/1.1\r\nHost: PUB.localhost:9000\r\n\r\n",
            &mut h,
        );
        let f = classify(&req, Some("localhost"), &public()).expect("fast");
        assert_eq!((f.bucket.as_ref(), f.key.as_ref()), ("pub", "k/x"));
    }

    proptest::proptest! {
        /// Any request head: classifying never panics, and what qualifies is a
        /// GET/HEAD of a valid key in the public bucket.
        #[test]
        fn any_head(path in "/[ -~]{0,40}", extra in "[ -~]{0,40}", name in "[A-Za-z-]{1,20}") {
            let raw = format!("GET {} HTTP/1.1\r\nHost: x\r\n{}: {}\r\n\r\n", path.replace(' ', "%20"), name, extra);
            let mut h = [httparse::EMPTY_HEADER; 8];
            let mut req = httparse::Request::new(&mut h);
            if let Ok(httparse::Status::Complete(_)) = req.parse(raw.as_bytes()) {
                if let Some(f) = classify(&req, Some("localhost"), &public()) {
                    proptest::prop_assert_eq!(f.bucket.as_ref(), "pub");
                    proptest::prop_assert!(crate::key::validate_key(&f.key).is_ok());
                }
            }
        }
    }

    #[test]
    fn dates() {
        let mut out = Vec::new();
        write_http_date(&mut out, modified_time(784_111_777_000));
        assert_eq!(out, b"Sun, 06 Nov 1994 08:49:37 GMT");
        // Against `time`'s own formatting, over days of several years.
        let fmt = time::format_description::well_known::Rfc2822;
        for day in 0..2000i64 {
            let t = modified_time(day * 86_400_000 * 7 + 3_723_000);
            out.clear();
            write_http_date(&mut out, t);
            let want = t.format(&fmt).expect("format");
            // RFC 2822 writes "+0000" where HTTP writes "GMT".
            let want = want.replace(" +0000", " GMT");
            assert_eq!(String::from_utf8_lossy(&out), want);
        }
    }
}
