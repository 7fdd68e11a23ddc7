//! A plain SigV4 reference for tests and fuzzing: what s3s, the general path,
//! accepts for a body-less request, written from its `sig_v4/` and
//! `ops/signature.rs` (0.14) as directly as possible — its decoders
//! (`urlencoding`, `serde_urlencoded`), its grammar, stable sorts, owned
//! strings, no caching. The fast verifier ([`crate::sigv4`]) must never accept
//! what this refuses: that is the property the proptests and the `sigv4`
//! fuzz target check. It also signs, so tests can make requests the fast path
//! should accept.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A request head as hyper hands it to s3s: names lower-cased, values that
/// are not UTF-8 left out (s3s's `OrderedHeaders::from_headers`).
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) method: String,
    /// The target's path, raw.
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    /// Parses a complete HTTP/1.1 request head.
    pub(crate) fn parse(raw: &[u8]) -> Option<Head> {
        let mut h = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut h);
        let httparse::Status::Complete(_) = req.parse(raw).ok()? else {
            return None;
        };
        // The path and query as hyper's `Uri` gives them to s3s.
        let uri: http::Uri = req.path?.parse().ok()?;
        Some(Head {
            method: req.method?.to_owned(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: req
                .headers
                .iter()
                .filter_map(|h| {
                    let v = std::str::from_utf8(h.value).ok()?;
                    Some((h.name.to_ascii_lowercase(), v.to_owned()))
                })
                .collect(),
        })
    }

    /// The head as bytes again.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {}", self.method, self.path);
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        out.push_str(" HTTP/1.1\r\n");
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// A header's value if it is there exactly once (s3s's `get_unique`).
    fn unique(&self, name: &str) -> Option<&str> {
        let mut it = self.headers.iter().filter(|(k, _)| k == name);
        let (_, v) = it.next()?;
        it.next().is_none().then_some(v.as_str())
    }

    /// The query decoded and stably sorted by name (s3s's `OrderedQs`).
    fn query_pairs(&self) -> Option<Vec<(String, String)>> {
        let Some(q) = &self.query else {
            return Some(Vec::new());
        };
        let mut v: Vec<(String, String)> = serde_urlencoded::from_str(q).ok()?;
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Some(v)
    }
}

/// The fields of a signature, wherever it was carried.
struct Auth {
    access_key: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

/// Whether s3s would accept `head` as signed by (`access`, `secret`) at `now`
/// (Unix seconds), with an empty body.
pub(crate) fn accepts(head: &Head, access: &str, secret: &str, now: i64) -> bool {
    check(head, access, secret, now).is_some()
}

fn check(head: &Head, access: &str, secret: &str, now: i64) -> Option<()> {
    let decoded_path = urlencoding::decode(&head.path).ok()?.into_owned();
    let qs = head.query_pairs()?;
    let unique_q = |name: &str| {
        let mut it = qs.iter().filter(|(k, _)| k == name);
        let (_, v) = it.next()?;
        it.next().is_none().then_some(v.as_str())
    };
    let presigned = qs.iter().any(|(k, _)| k == "X-Amz-Signature");
    let (auth, amz_date, payload) = if presigned {
        if unique_q("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
            return None;
        }
        let (access_key, date, region, service) = credential(unique_q("X-Amz-Credential")?)?;
        let amz_date = unique_q("X-Amz-Date")?.to_owned();
        let t = amz_time(&amz_date)?;
        let expires: u32 = unique_q("X-Amz-Expires")?.parse().ok()?;
        let signed = unique_q("X-Amz-SignedHeaders")?;
        if !signed.is_ascii() {
            return None;
        }
        let signature = unique_q("X-Amz-Signature")?;
        if !is_lower_hex_64(signature) {
            return None;
        }
        if now - t < -900 || now - t > i64::from(expires) {
            return None;
        }
        // A payload hash on a presigned GET is checked against the (empty) body.
        if let Some(h) = head.unique("x-amz-content-sha256") {
            if h != EMPTY_SHA256 && h != "UNSIGNED-PAYLOAD" {
                return None;
            }
        }
        let auth = Auth {
            access_key,
            date,
            region,
            service,
            // Not sorted: s3s takes a presigned URL's list as it comes.
            signed_headers: signed.split(';').map(str::to_owned).collect(),
            signature: signature.to_owned(),
        };
        (auth, amz_date, "UNSIGNED-PAYLOAD".to_owned())
    } else {
        let mut auth = authorization(head.unique("authorization")?)?;
        auth.signed_headers.sort_unstable();
        let amz_date = head.unique("x-amz-date")?.to_owned();
        let t = amz_time(&amz_date)?;
        if amz_date.get(..8)? != auth.date || (now - t).abs() > 900 {
            return None;
        }
        let payload = head.unique("x-amz-content-sha256")?;
        // The body (empty here) is checked against a hash; the streaming
        // forms need a body this reference does not model.
        if payload != EMPTY_SHA256 && payload != "UNSIGNED-PAYLOAD" {
            return None;
        }
        (auth, amz_date, payload.to_owned())
    };
    if !matches!(auth.service.as_str(), "s3" | "sts") || auth.access_key != access {
        return None;
    }
    // The scope's date is s3s's x-amz-date's, reformatted: the same digits.
    if presigned && amz_date.get(..8)? != auth.date {
        return None;
    }
    let canonical = canonical_request(head, &decoded_path, &qs, &auth, presigned, &payload);
    let expected = signature(secret, &amz_date, &auth, &canonical);
    (expected == auth.signature).then_some(())
}

/// Signs `head` as an SDK would, by header: adds `x-amz-date`,
/// `x-amz-content-sha256` (empty body) and `authorization` over every header
/// it has (sorted names, once each).
pub(crate) fn sign_header(
    head: &mut Head,
    access: &str,
    secret: &str,
    amz_date: &str,
    region: &str,
) {
    head.headers.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "authorization" | "x-amz-date" | "x-amz-content-sha256"
        )
    });
    head.headers.push(("x-amz-date".into(), amz_date.into()));
    head.headers
        .push(("x-amz-content-sha256".into(), EMPTY_SHA256.into()));
    let mut names: Vec<String> = head.headers.iter().map(|(k, _)| k.clone()).collect();
    names.sort_unstable();
    names.dedup();
    let auth = Auth {
        access_key: access.into(),
        date: amz_date[..8].into(),
        region: region.into(),
        service: "s3".into(),
        signed_headers: names,
        signature: String::new(),
    };
    let decoded = urlencoding::decode(&head.path)
        .expect("a valid path")
        .into_owned();
    let qs = head.query_pairs().expect("a valid query");
    let canonical = canonical_request(head, &decoded, &qs, &auth, false, EMPTY_SHA256);
    let sig = signature(secret, amz_date, &auth, &canonical);
    head.headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={access}/{}/{region}/s3/aws4_request, SignedHeaders={}, Signature={sig}",
            &amz_date[..8],
            auth.signed_headers.join(";")
        ),
    ));
}

/// Signs `head` as a presigned URL (signed headers: `host`), valid for
/// `expires` seconds; the query keeps what it had.
pub(crate) fn sign_query(
    head: &mut Head,
    access: &str,
    secret: &str,
    amz_date: &str,
    region: &str,
    expires: u32,
) {
    let date = &amz_date[..8];
    let mut q = head.query.take().unwrap_or_default();
    if !q.is_empty() {
        q.push('&');
    }
    q.push_str(&format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={access}%2F{date}%2F{region}%2Fs3%2Faws4_request\
         &X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
    ));
    head.query = Some(q);
    let auth = Auth {
        access_key: access.into(),
        date: date.into(),
        region: region.into(),
        service: "s3".into(),
        signed_headers: vec!["host".into()],
        signature: String::new(),
    };
    let decoded = urlencoding::decode(&head.path)
        .expect("a valid path")
        .into_owned();
    let qs = head.query_pairs().expect("a valid query");
    let canonical = canonical_request(head, &decoded, &qs, &auth, true, "UNSIGNED-PAYLOAD");
    let sig = signature(secret, amz_date, &auth, &canonical);
    if let Some(q) = &mut head.query {
        q.push_str(&format!("&X-Amz-Signature={sig}"));
    }
}

/// `AWS4-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…` as s3s's nom
/// grammar reads it (it does not check the algorithm's name).
fn authorization(v: &str) -> Option<Auth> {
    let nom_space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let algo_end = v.find(|c: char| c.is_ascii_whitespace())?;
    if algo_end == 0 {
        return None;
    }
    let rest = &v[algo_end..];
    let after = rest.trim_start_matches(nom_space);
    if after.len() == rest.len() {
        return None;
    }
    let rest = after.strip_prefix("Credential=")?;
    // The credential is parsed up to `aws4_request`, then a comma must follow.
    let (cred, rest) = split_credential(rest)?;
    let rest = rest.strip_prefix(',')?.trim_start_matches(nom_space);
    let rest = rest.strip_prefix("SignedHeaders=")?;
    // The list runs to the first comma.
    let (list, rest) = rest.split_at(rest.find(',')?);
    let rest = rest.strip_prefix(',')?.trim_start_matches(nom_space);
    let rest = rest.strip_prefix("Signature=")?;
    let sig_end = rest
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let (signature, rest) = rest.split_at(sig_end);
    if !rest.trim_start_matches(nom_space).is_empty() {
        return None;
    }
    let (access_key, date, region, service) = cred;
    Some(Auth {
        access_key,
        date,
        region,
        service,
        signed_headers: list.split(';').map(str::to_owned).collect(),
        signature: signature.to_owned(),
    })
}

type Cred = (String, String, String, String);

/// `AK/YYYYMMDD/region/service/aws4_request` at the start of `s`, and what follows.
fn split_credential(s: &str) -> Option<(Cred, &str)> {
    let (access, s) = s.split_once('/')?;
    let (date, s) = s.split_once('/')?;
    let (region, s) = s.split_once('/')?;
    let (service, s) = s.split_once('/')?;
    let rest = s.strip_prefix("aws4_request")?;
    if date.is_empty() || service.is_empty() || !valid_date(date) {
        return None;
    }
    Some((
        (access.into(), date.into(), region.into(), service.into()),
        rest,
    ))
}

/// A whole credential string.
fn credential(s: &str) -> Option<Cred> {
    let (c, rest) = split_credential(s)?;
    rest.is_empty().then_some(c)
}

fn valid_date(d: &str) -> bool {
    d.len() == 8
        && d.bytes().all(|b| b.is_ascii_digit())
        && amz_time(&format!("{d}T000000Z")).is_some()
}

/// `YYYYMMDDTHHMMSSZ` → Unix seconds, if it is a real time.
fn amz_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = &b[r];
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(d).ok()?.parse().ok()
    };
    let date = time::Date::from_calendar_date(
        i32::try_from(digits(0..4)?).ok()?,
        time::Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?,
        u8::try_from(digits(6..8)?).ok()?,
    )
    .ok()?;
    let t = date
        .with_hms(
            u8::try_from(digits(9..11)?).ok()?,
            u8::try_from(digits(11..13)?).ok()?,
            u8::try_from(digits(13..15)?).ok()?,
        )
        .ok()?;
    Some(t.assume_utc().unix_timestamp())
}

fn is_lower_hex_64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// SigV4's URI encoding (s3s's `uri_encode`).
fn encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'-' | b'~' | b'.')
            || (b == b'/' && !encode_slash)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// s3s's `create_canonical_request` / `create_presigned_canonical_request`.
fn canonical_request(
    head: &Head,
    decoded_path: &str,
    qs: &[(String, String)],
    auth: &Auth,
    presigned: bool,
    payload: &str,
) -> String {
    let mut out = format!("{}\n{}\n", head.method, encode(decoded_path, false));
    let mut pairs: Vec<(String, String)> = qs
        .iter()
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| (encode(k, true), encode(v, true)))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.push_str(&q.join("&"));
    out.push('\n');
    // `find_multiple`: every value of each listed name, in list order (the
    // request's own order among one name's values); a missing one is left out.
    let mut sorted = head.headers.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut found: Vec<(&str, &str)> = Vec::new();
    for name in &auth.signed_headers {
        for (k, v) in &sorted {
            if k == name {
                found.push((k, v));
            }
        }
    }
    found.retain(|(k, _)| *k != "authorization");
    let mut names: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < found.len() {
        let name = found[i].0;
        let mut values = Vec::new();
        while i < found.len() && found[i].0 == name {
            values.push(found[i].1.split_whitespace().collect::<Vec<_>>().join(" "));
            i += 1;
        }
        out.push_str(&format!("{name}:{}\n", values.join(",")));
        names.push(name);
    }
    out.push('\n');
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(payload);
    out
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn signature(secret: &str, amz_date: &str, auth: &Auth, canonical: &str) -> String {
    let date = &amz_date[..8];
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{}/{}/aws4_request\n{}",
        auth.region,
        auth.service,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k = hmac(&k, &auth.region);
    let k = hmac(&k, &auth.service);
    let k = hmac(&k, "aws4_request");
    hex::encode(hmac(&k, &to_sign))
}

// === The fuzz harness ===

/// The key the harness signs with (the committed corpus uses it too).
const FUZZ_ACCESS: &str = "AKID";
const FUZZ_SECRET: &str = "SECRET";

/// Fuzzing entry point (the `sigv4` target): `data` is a request head.
/// Properties: the fast verifier never panics, and never accepts what the
/// reference (s3s) refuses — for the head as given; signed by the reference
/// by header and by presigned query; and each of those with one byte changed
/// (positions and values taken from the input). Panics on a violation.
pub(crate) fn fuzz(data: &[u8]) {
    let now_of = |h: &Head| {
        let q = h.query_pairs().unwrap_or_default();
        let date = h.unique("x-amz-date").or_else(|| {
            q.iter()
                .find(|(k, _)| k == "X-Amz-Date")
                .map(|(_, v)| v.as_str())
        });
        date.and_then(amz_time).unwrap_or(1_796_335_211)
    };
    let Some(head) = Head::parse(data) else {
        agrees(data, 1_796_335_211);
        return;
    };
    let now = now_of(&head);
    agrees(data, now);
    let date = head
        .unique("x-amz-date")
        .filter(|d| amz_time(d).is_some())
        .unwrap_or("20261203T220011Z")
        .to_owned();
    let Some(t) = amz_time(&date) else { return };
    let mut signed = Vec::new();
    if urlencoding::decode(&head.path).is_ok() && head.query_pairs().is_some() {
        let mut h = head.clone();
        sign_header(&mut h, FUZZ_ACCESS, FUZZ_SECRET, &date, "us-east-1");
        signed.push(h.to_bytes());
        let mut h = head.clone();
        h.headers.retain(|(k, _)| k != "authorization");
        sign_query(&mut h, FUZZ_ACCESS, FUZZ_SECRET, &date, "us-east-1", 3600);
        signed.push(h.to_bytes());
    }
    for raw in &signed {
        agrees(raw, t);
        // One byte changed: where and to what, from the input.
        for pair in data.chunks_exact(3).take(8) {
            let mut m = raw.clone();
            let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % m.len();
            if m[at] == pair[2] {
                continue;
            }
            m[at] = pair[2];
            agrees(&m, t);
        }
    }
}

/// Asserts that whatever the fast path accepts of `raw` at `now` — through
/// [`crate::fast::classify`] as it runs, and through the verifier alone with
/// the carrier s3s would pick — the reference accepts too. Returns whether
/// the fast path accepted.
pub(crate) fn agrees(raw: &[u8], now: i64) -> bool {
    let mut h = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut h);
    let Ok(httparse::Status::Complete(_)) = req.parse(raw) else {
        return false;
    };
    let mut verifier = crate::sigv4::Verifier::new(FUZZ_ACCESS, FUZZ_SECRET);
    let classified = crate::fast::classify(
        &req,
        None,
        &std::collections::HashSet::new(),
        &mut verifier,
        now,
    )
    .is_some_and(|f| f.signed);
    let direct = verify_alone(&req, &mut verifier, now);
    if classified || direct {
        let head = Head::parse(raw);
        let ok = head
            .as_ref()
            .is_some_and(|h| accepts(h, FUZZ_ACCESS, FUZZ_SECRET, now));
        assert!(
            ok,
            "fast path accepted (classify {classified}, verifier {direct}) what s3s refuses: {:?}",
            String::from_utf8_lossy(raw)
        );
    }
    classified || direct
}

/// The verifier on its own, with the carrier s3s would check and the
/// header values it would take (each only if it is there once).
fn verify_alone(
    req: &httparse::Request<'_, '_>,
    verifier: &mut crate::sigv4::Verifier,
    now: i64,
) -> bool {
    use crate::sigv4::{Carrier, Signed};
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return false;
    };
    // Origin-form only, as the fast path takes.
    if !target.starts_with('/') {
        return false;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let unique = |name: &str| {
        let mut it = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name));
        let v = std::str::from_utf8(it.next()?.value).ok()?;
        it.next().is_none().then_some(v)
    };
    let carrier = if query.is_some_and(|q| q.split('&').any(|p| p.starts_with("X-Amz-Signature=")))
    {
        Carrier::Query
    } else if let Some(authorization) = unique("authorization") {
        Carrier::Header {
            authorization,
            amz_date: unique("x-amz-date"),
            content_sha256: unique("x-amz-content-sha256"),
        }
    } else {
        return false;
    };
    verifier.verify(
        &Signed {
            method,
            path,
            query,
            headers: req.headers,
            carrier,
        },
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DATE: &str = "20261203T220011Z";

    fn now() -> i64 {
        amz_time(DATE).expect("date")
    }

    /// Whether the fast verifier alone accepts `raw` (and the harness's
    /// agreement assertion holds).
    fn fast_accepts(raw: &[u8]) -> bool {
        agrees(raw, now());
        let mut h = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut h);
        assert!(req.parse(raw).expect("parses").is_complete());
        let mut v = crate::sigv4::Verifier::new(FUZZ_ACCESS, FUZZ_SECRET);
        verify_alone(&req, &mut v, now())
    }

    /// An SDK-shaped GET or HEAD: a key with spaces, non-ASCII and slashes
    /// (percent-encoded as the SDKs do), perhaps `x-id`, a range, the
    /// checksum mode and a user agent with runs of spaces.
    fn sdk_head() -> impl Strategy<Value = Head> {
        (
            prop_oneof![Just("GET"), Just("HEAD")],
            "[a-zA-Z0-9 é/._~!*'()-]{1,24}",
            proptest::option::of(Just("x-id=GetObject")),
            proptest::option::of(0u32..1000),
            any::<bool>(),
            "[a-zA-Z0-9/. ]{0,30}",
        )
            .prop_map(|(method, key, xid, range, mode, agent)| {
                let mut headers = vec![("host".to_owned(), "127.0.0.1:9000".to_owned())];
                if let Some(r) = range {
                    if method == "GET" {
                        headers.push(("range".into(), format!("bytes=0-{r}")));
                    }
                }
                if mode {
                    headers.push(("x-amz-checksum-mode".into(), "ENABLED".into()));
                }
                headers.push(("user-agent".into(), format!("sdk/1  {agent}")));
                Head {
                    method: method.into(),
                    path: format!("/b/{}", encode(&key, false)),
                    query: xid.map(str::to_owned),
                    headers,
                }
            })
    }

    proptest! {
        /// Any bytes: the harness (fast path and reference side by side) never
        /// panics and never finds the fast path accepting what s3s refuses.
        #[test]
        fn any_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            fuzz(&data);
        }

        /// Any printable head with a signature-shaped header or query.
        #[test]
        fn any_head(target in "/[!-~]{0,40}", auth in "[ -~]{0,100}", extra in "[a-z-]{1,12}: [ -~]{0,20}") {
            let raw = format!("GET {target} HTTP/1.1\r\nhost: x\r\nauthorization: {auth}\r\n{extra}\r\nx-amz-date: {DATE}\r\n\r\n");
            fuzz(raw.as_bytes());
        }

        /// What the reference signs, by header or presigned, the fast
        /// verifier accepts.
        #[test]
        fn reference_signed_verifies(head in sdk_head(), presigned in any::<bool>()) {
            let mut h = head;
            if presigned {
                sign_query(&mut h, FUZZ_ACCESS, FUZZ_SECRET, DATE, "us-east-1", 600);
            } else {
                sign_header(&mut h, FUZZ_ACCESS, FUZZ_SECRET, DATE, "us-east-1");
            }
            let raw = h.to_bytes();
            prop_assert!(accepts(&Head::parse(&raw).expect("parses"), FUZZ_ACCESS, FUZZ_SECRET, now()));
            prop_assert!(fast_accepts(&raw), "{}", String::from_utf8_lossy(&raw));
        }

        /// Any single byte of the signature, the date or a signed header's
        /// value changed (to another visible character): refused by both.
        #[test]
        fn one_byte_changed_fails(head in sdk_head(), which in any::<prop::sample::Index>(), to in 0x21u8..0x7f) {
            let mut h = head;
            sign_header(&mut h, FUZZ_ACCESS, FUZZ_SECRET, DATE, "us-east-1");
            // The spans that matter: each signed header's value (the date
            // and the signature among them), as byte ranges of the head.
            let raw = h.to_bytes();
            let text = String::from_utf8(raw.clone()).expect("utf-8");
            let mut spans = Vec::new();
            let mut at = text.find("\r\n").expect("request line") + 2;
            for line in text[at..].split("\r\n").take_while(|l| !l.is_empty()) {
                let colon = line.find(": ").expect("header") + 2;
                let (name, value) = (&line[..colon - 2], &line[colon..]);
                let start = at + colon;
                if name == "authorization" {
                    let s = value.find("Signature=").expect("signature") + "Signature=".len();
                    spans.extend(start + s..start + value.len());
                } else {
                    spans.extend((start..start + value.len()).filter(|&i| raw[i] != b' '));
                }
                at += line.len() + 2;
            }
            let i = spans[which.index(spans.len())];
            prop_assume!(raw[i] != to);
            let mut m = raw.clone();
            m[i] = to;
            let lossy = String::from_utf8_lossy(&m).into_owned();
            prop_assert!(!fast_accepts(&m), "{}", lossy);
            if let Some(mh) = Head::parse(&m) {
                prop_assert!(!accepts(&mh, FUZZ_ACCESS, FUZZ_SECRET, now()), "{}", lossy);
            }
        }
    }

    /// Shapes s3s refuses, which the fast verifier once took: an upper-case
    /// signature, fields out of order, an unsorted or repeated header list,
    /// `authorization` listed, a second (encoded) `X-Amz-Signature`.
    #[test]
    fn what_s3s_refuses_is_not_verified() {
        let mut h = Head {
            method: "GET".into(),
            path: "/b/k".into(),
            query: None,
            headers: vec![("host".into(), "x".into())],
        };
        sign_header(&mut h, FUZZ_ACCESS, FUZZ_SECRET, DATE, "us-east-1");
        let raw = String::from_utf8(h.to_bytes()).expect("utf-8");
        assert!(fast_accepts(raw.as_bytes()));
        let auth_line = raw
            .lines()
            .find(|l| l.starts_with("authorization"))
            .expect("auth")
            .to_owned();
        let sig = auth_line.rsplit('=').next().expect("sig").to_owned();
        let upper = raw.replace(&sig, &sig.to_ascii_uppercase());
        assert!(!fast_accepts(upper.as_bytes()));
        let (cred, rest) = auth_line
            .strip_prefix("authorization: AWS4-HMAC-SHA256 ")
            .expect("prefix")
            .split_once(", ")
            .expect("fields");
        let reordered = raw.replace(
            &auth_line,
            &format!(
                "authorization: AWS4-HMAC-SHA256 {}, {cred}",
                rest.replace(", Signature", ", X").replace("X", "Signature")
            ),
        );
        assert!(!fast_accepts(reordered.as_bytes()));
        // A presigned URL with an unsorted list, signed the way our verifier
        // canonicalised it before (sorted) — s3s uses the list's order.
        let mut p = Head {
            method: "GET".into(),
            path: "/b/k".into(),
            query: None,
            headers: vec![("host".into(), "x".into()), ("x-a".into(), "1".into())],
        };
        sign_query(&mut p, FUZZ_ACCESS, FUZZ_SECRET, DATE, "us-east-1", 600);
        let presigned = String::from_utf8(p.to_bytes()).expect("utf-8");
        assert!(fast_accepts(presigned.as_bytes()));
        let doubled =
            presigned.replace("&X-Amz-Signature=", "&X-Amz-Signatur%65=0&X-Amz-Signature=");
        assert!(!fast_accepts(doubled.as_bytes()));
        let listed = presigned.replace(
            "X-Amz-SignedHeaders=host",
            "X-Amz-SignedHeaders=host%3Bhost",
        );
        assert!(!fast_accepts(listed.as_bytes()));
        let authz = presigned.replace(
            "X-Amz-SignedHeaders=host",
            "X-Amz-SignedHeaders=authorization%3Bhost",
        );
        assert!(!fast_accepts(authz.as_bytes()));
    }
}
