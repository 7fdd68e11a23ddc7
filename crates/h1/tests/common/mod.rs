//! Request streams for the property and differential tests: well-formed
//! requests built from parts (some of them nasty), then mutated byte by byte.
#![allow(dead_code)]

use proptest::prelude::*;

const METHODS: &[&str] = &["GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH"];
const NASTY_METHODS: &[&str] = &["CONNECT", "G ET", "GET\t", "get", "M-SEARCH"];

const TARGETS: &[&str] = &[
    "/",
    "/a/b?c=d&e=f",
    "/a%20b",
    "//double",
    "/q?a[]=1&b=|",
    "/~user/;p=1/@x:y",
    "http://site.test/x",
];
const NASTY_TARGETS: &[&str] = &[
    "*",
    "http://site.test/x",
    "http://site.test:80/x?y",
    "http://other.test/",
    "https://site.test/",
    "site.test:443",
    "index.html",
    "a/b",
    "?q",
    "/a#frag",
    "/\"quote",
    "/{brace}",
    "/a\\b",
    "http://u@site.test/",
];

const VERSIONS: &[&str] = &["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0"];
const NASTY_VERSIONS: &[&str] = &["HTTP/2.0", "HTTP/1.2", "http/1.1", "HTTP/1.1 "];

const HEADERS: &[&str] = &[
    "Content-Length: 5",
    "Content-Length: 3",
    "Content-Length: 0",
    "Transfer-Encoding: chunked",
    "Connection: keep-alive",
    "Expect: 100-continue",
    "Accept: */*",
    "Cookie: a=b; c=d",
    "X-Empty:",
    "X-Tab:\tvalue",
];
const NASTY_HEADERS: &[&str] = &[
    "Host: site.test",
    "Host: site.test:80",
    "Host: other.test",
    "Host: a b",
    "Host: [::1]:8080",
    "Host: ",
    "Content-Length: 0",
    "Content-Length: 3",
    "Content-Length: 5",
    "Content-Length: 5, 5",
    "Content-Length: +5",
    "Content-Length: 05",
    "Content-Length: 99999999999999999999999",
    "Transfer-Encoding: chunked",
    "Transfer-Encoding: chunked",
    "Transfer-Encoding: Chunked",
    "Transfer-Encoding: gzip, chunked",
    "Transfer-Encoding: chunked, gzip",
    "Transfer-Encoding: chunked,",
    "Transfer-Encoding: identity",
    "Connection: close",
    "Connection: keep-alive",
    "Connection: upgrade",
    "Upgrade: websocket",
    "Expect: 100-continue",
    "Accept: */*",
    "X-Empty:",
    "X-Tab:\tvalue",
    "X A: b",
    " X-Folded: b",
    "X-Obs-Text: caf\u{e9}",
    "Cookie: a=b; c=d",
];

/// A chunked body: data pieces, each maybe with an extension, maybe trailers.
fn chunked_body() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(
            (
                prop::collection::vec(any::<u8>(), 1..40),
                prop::bool::ANY,
                prop::bool::ANY,
            ),
            0..4,
        ),
        prop::collection::vec(
            prop::sample::select(&["X-T: 1", "Checksum: abc", "bad trailer", ": x"][..]),
            0..2,
        ),
    )
        .prop_map(|(pieces, trailers)| {
            let mut out = Vec::new();
            for (data, ext, upper) in pieces {
                let size = if upper {
                    format!("{:X}", data.len())
                } else {
                    format!("{:x}", data.len())
                };
                out.extend_from_slice(size.as_bytes());
                if ext {
                    out.extend_from_slice(b";name=value");
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n");
            for t in trailers {
                out.extend_from_slice(t.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out
        })
}

/// One request: head from the parts above, body sized by the headers it has
/// (or not: a mismatch is part of the game).
pub(crate) fn request() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![9 => prop::sample::select(METHODS), 1 => prop::sample::select(NASTY_METHODS)],
        prop_oneof![8 => prop::sample::select(TARGETS), 2 => prop::sample::select(NASTY_TARGETS)],
        prop_oneof![9 => prop::sample::select(VERSIONS), 1 => prop::sample::select(NASTY_VERSIONS)],
        prop::collection::vec(
            prop_oneof![4 => prop::sample::select(HEADERS), 1 => prop::sample::select(NASTY_HEADERS)],
            0..5,
        ),
        prop::bool::weighted(0.8),
        chunked_body(),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(method, target, version, headers, add_host, chunked, raw)| {
            let mut out = format!("{method} {target} {version}\r\n").into_bytes();
            if add_host && !headers.iter().any(|h| h.starts_with("Host")) {
                out.extend_from_slice(b"Host: site.test\r\n");
            }
            for h in &headers {
                out.extend_from_slice(h.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            if headers.iter().any(|h| h.starts_with("Transfer-Encoding")) {
                out.extend_from_slice(&chunked);
            } else if headers.contains(&"Content-Length: 5") {
                out.extend_from_slice(b"hello");
            } else if headers.contains(&"Content-Length: 3") {
                out.extend_from_slice(b"abc");
            } else {
                out.extend_from_slice(&raw[..raw.len().min(2)]);
            }
            out
        })
}

/// Bytes that matter to HTTP/1 framing, for mutations.
const INTERESTING: &[u8] = b"\r\n\t :;,=/?#*%@[]0123456789aAfFxX\x00\x7f\x80\xff-+\"";

/// A mutation: replace, insert or delete one byte at a relative position.
pub(crate) fn mutations() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(INTERESTING)), 1..3),
    ]
}

pub(crate) fn mutate(mut bytes: Vec<u8>, muts: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    for (at, op, b) in muts {
        if bytes.is_empty() {
            bytes.push(*b);
            continue;
        }
        let i = at.index(bytes.len());
        match op {
            0 => bytes[i] = *b,
            1 => bytes.insert(i, *b),
            _ => {
                bytes.remove(i);
            }
        }
    }
    bytes
}

/// One to three requests back to back, then mutated.
pub(crate) fn stream() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(request(), 1..4), mutations())
        .prop_map(|(reqs, muts)| mutate(reqs.concat(), &muts))
}

/// What our parser makes of a stream: each complete request as (method,
/// target, version minor, body); stops at a refusal, at an incomplete
/// request, or after a request that ends the connection or switches protocols.
#[derive(Debug)]
pub(crate) struct Ours {
    pub(crate) requests: Vec<(String, String, u8, Vec<u8>)>,
    pub(crate) refused: Option<h1::Error>,
}

pub(crate) fn ours(input: &[u8]) -> Ours {
    let limits = h1::Limits::default();
    let mut requests = Vec::new();
    let mut pos = 0;
    loop {
        let buf = &input[pos..];
        if buf.is_empty() {
            break;
        }
        let head = match h1::parse_request(buf, &limits) {
            Err(e) => {
                return Ours {
                    requests,
                    refused: Some(e),
                }
            }
            Ok(None) => break,
            Ok(Some(h)) => h,
        };
        let mut at = head.head_len;
        let body = match head.body {
            h1::RequestBody::None => Vec::new(),
            h1::RequestBody::Length(n) => {
                let n = n as usize;
                if buf.len() - at < n {
                    break;
                }
                at += n;
                buf[at - n..at].to_vec()
            }
            h1::RequestBody::Chunked => {
                let mut dec = h1::ChunkedDecoder::default();
                let mut body = Vec::new();
                match dec.decode_into(&buf[at..], &mut body) {
                    Err(e) => {
                        return Ours {
                            requests,
                            refused: Some(e),
                        }
                    }
                    Ok((_, false)) => break,
                    Ok((n, true)) => {
                        at += n;
                        body
                    }
                }
            }
        };
        requests.push((
            String::from_utf8(head.method.get(buf).to_vec()).expect("method is a token"),
            String::from_utf8(head.target.get(buf).to_vec()).expect("target is ASCII"),
            match head.version {
                h1::Version::Http10 => 0,
                h1::Version::Http11 => 1,
            },
            body,
        ));
        pos += at;
        let any_upgrade = head.header(buf, "upgrade").is_some();
        if !head.keep_alive || head.upgrade || head.connect || any_upgrade {
            break;
        }
    }
    Ours {
        requests,
        refused: None,
    }
}

/// Cases per property: 1024, or `PROPTEST_CASES` for a longer run.
pub(crate) fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}
