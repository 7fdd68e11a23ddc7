//! A server's response head and how its body is framed (RFC 9112 §6.3).
//!
//! Refused (502, the server's fault): a head httparse rejects, a bad or
//! conflicting `Content-Length`, `Transfer-Encoding` with `Content-Length` or on
//! HTTP/1.0. A `Transfer-Encoding` whose last coding is not `chunked` makes the
//! body close-delimited, as the RFC says.

use std::mem::MaybeUninit;

use crate::error::Error;
use crate::request::HeaderSpan;
use crate::{ConnectionTokens, LengthHeaders, Limits, Span, Version, MAX_HEADERS};

/// What the request was, as far as the response's framing cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestKind {
    /// HEAD: the response never has a body, whatever it declares.
    pub head: bool,
    /// CONNECT: a 2xx starts a tunnel.
    pub connect: bool,
}

/// How the response's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body (1xx, 204, 304, any answer to HEAD).
    None,
    Length(u64),
    Chunked,
    /// Ends when the server closes the connection. A proxy answering an
    /// HTTP/1.1 client re-frames it as chunked (see
    /// [`chunked::ChunkHeader`](crate::chunked::ChunkHeader)).
    Close,
    /// 101, or 2xx to CONNECT: bytes both ways from here on.
    Tunnel,
}

/// A parsed response head. Spans index the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The version the server spoke (a proxy answers with its own).
    pub version: Version,
    pub status: u16,
    pub reason: Span,
    pub headers: Vec<HeaderSpan>,
    pub body: ResponseBody,
    /// 1xx other than 101: another head follows for the same request.
    pub informational: bool,
    /// May the server's connection be reused after this body?
    pub keep_alive: bool,
    /// Bit `i` set: `headers[i]` describes the server's connection, not the
    /// message (RFC 9110 §7.6.1), so a proxy drops it: `Connection`,
    /// `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, any
    /// `Proxy-*`, and every header `Connection` names. Lets a proxy copy the
    /// rest of the head without building a header map.
    pub hop_by_hop: u128,
    pub head_len: usize,
}

impl Default for ResponseHead {
    fn default() -> Self {
        ResponseHead {
            version: Version::Http11,
            status: 200,
            reason: Span::default(),
            headers: Vec::new(),
            body: ResponseBody::None,
            informational: false,
            keep_alive: false,
            hop_by_hop: 0,
            head_len: 0,
        }
    }
}

/// Parse a response head at the start of `buf`, for a request of `kind`.
/// `Ok(None)`: incomplete (an error once over `limits.max_head_bytes`).
pub fn parse_response(
    buf: &[u8],
    limits: &Limits,
    kind: RequestKind,
) -> Result<Option<ResponseHead>, Error> {
    let mut head = ResponseHead::default();
    Ok(parse_response_into(buf, limits, kind, &mut head)?.then_some(head))
}

/// As [`parse_response`], into `head` (its header vector is reused, so
/// response after response parses without allocating). `Ok(true)` when a
/// whole head was parsed; `head` is meaningful only then.
pub fn parse_response_into(
    buf: &[u8],
    limits: &Limits,
    kind: RequestKind,
    out: &mut ResponseHead,
) -> Result<bool, Error> {
    // Left uninitialised, as for requests (`parse_request_into`).
    let mut scratch = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let max_headers = limits.max_headers.min(MAX_HEADERS);
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut scratch[..max_headers],
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) if n <= limits.max_head_bytes => n,
        Ok(httparse::Status::Partial) if buf.len() <= limits.max_head_bytes => return Ok(false),
        _ => return Err(Error::BadResponse),
    };
    let (Some(minor), Some(status), Some(reason)) = (resp.version, resp.code, resp.reason) else {
        return Err(Error::BadResponse);
    };
    if !(100..=999).contains(&status) {
        return Err(Error::BadResponse);
    }
    let version = if minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };
    let mut headers = std::mem::take(&mut out.headers);
    headers.clear();
    let mut conn = ConnectionTokens::default();
    let mut lengths = LengthHeaders::default();
    let mut hop_by_hop = 0u128;
    for (i, h) in resp.headers.iter().enumerate() {
        headers.push(HeaderSpan {
            name: Span::of(buf, h.name.as_bytes()),
            value: Span::of(buf, h.value),
        });
        let n = h.name.as_bytes();
        if is_hop_by_hop(n) {
            hop_by_hop |= 1 << i;
        }
        if n.eq_ignore_ascii_case(b"content-length") {
            lengths.content_length(h.value);
        } else if n.eq_ignore_ascii_case(b"transfer-encoding") {
            lengths.transfer_encoding(h.value);
        } else if n.eq_ignore_ascii_case(b"connection") {
            conn.add(h.value);
        }
    }
    if conn.close || conn.other {
        // Rare: `Connection` names headers (`close` is one, as a name too).
        hop_by_hop |= named_by_connection(resp.headers);
    }
    let informational = (100..200).contains(&status) && status != 101;
    let body = response_body(status, &lengths, version, kind);
    let keep_alive =
        conn.persistent(version) && body.is_ok_and(|b| !matches!(b, ResponseBody::Close));
    // The vector goes back to `out` either way, to be reused.
    *out = ResponseHead {
        version,
        status,
        reason: Span::of(buf, reason.as_bytes()),
        headers,
        body: ResponseBody::None,
        informational,
        keep_alive,
        hop_by_hop,
        head_len,
    };
    out.body = body?;
    Ok(true)
}

// One bit per header line in `hop_by_hop`.
const _: () = assert!(MAX_HEADERS <= 128);

/// A header that is hop-by-hop whatever `Connection` says.
fn is_hop_by_hop(name: &[u8]) -> bool {
    // Dispatch on length first: most names are none of these.
    let fixed = match name.len() {
        2 => name.eq_ignore_ascii_case(b"te"),
        7 => name.eq_ignore_ascii_case(b"trailer") || name.eq_ignore_ascii_case(b"upgrade"),
        10 => name.eq_ignore_ascii_case(b"connection") || name.eq_ignore_ascii_case(b"keep-alive"),
        17 => name.eq_ignore_ascii_case(b"transfer-encoding"),
        _ => false,
    };
    fixed || (name.len() >= 6 && name[..6].eq_ignore_ascii_case(b"proxy-"))
}

/// Bits of the headers that some `Connection` line names.
fn named_by_connection(headers: &[httparse::Header<'_>]) -> u128 {
    let mut bits = 0u128;
    for c in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
    {
        for token in crate::rules::list_elements(c.value) {
            for (i, h) in headers.iter().enumerate() {
                if h.name.as_bytes().eq_ignore_ascii_case(token) {
                    bits |= 1 << i;
                }
            }
        }
    }
    bits
}

fn response_body(
    status: u16,
    l: &LengthHeaders,
    version: Version,
    kind: RequestKind,
) -> Result<ResponseBody, Error> {
    if status == 101 || (kind.connect && (200..300).contains(&status)) {
        return Ok(ResponseBody::Tunnel);
    }
    if kind.head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(ResponseBody::None);
    }
    if l.transfer_encoding {
        if version == Version::Http10 || l.content_length.is_some() || l.bad_length {
            return Err(Error::BadResponse);
        }
        return Ok(if l.chunked_last && !l.chunked_misplaced {
            ResponseBody::Chunked
        } else {
            ResponseBody::Close
        });
    }
    if l.bad_length {
        return Err(Error::BadResponse);
    }
    Ok(match l.content_length {
        Some(n) => ResponseBody::Length(n),
        None => ResponseBody::Close,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str, kind: RequestKind) -> Result<ResponseBody, Error> {
        parse_response(s.as_bytes(), &Limits::default(), kind).map(|h| h.expect("complete").body)
    }

    const GET: RequestKind = RequestKind {
        head: false,
        connect: false,
    };

    #[test]
    fn framing() {
        use ResponseBody::*;
        assert_eq!(
            body("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", GET),
            Ok(Length(3))
        );
        assert_eq!(
            body(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                RequestKind {
                    head: true,
                    connect: false
                }
            ),
            Ok(None)
        );
        assert_eq!(body("HTTP/1.1 204 No Content\r\n\r\n", GET), Ok(None));
        assert_eq!(
            body(
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                GET
            ),
            Ok(None)
        );
        assert_eq!(body("HTTP/1.1 100 Continue\r\n\r\n", GET), Ok(None));
        assert_eq!(
            body("HTTP/1.1 101 Switching Protocols\r\n\r\n", GET),
            Ok(Tunnel)
        );
        assert_eq!(
            body(
                "HTTP/1.1 200 OK\r\n\r\n",
                RequestKind {
                    head: false,
                    connect: true
                }
            ),
            Ok(Tunnel)
        );
        assert_eq!(
            body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", GET),
            Ok(Chunked)
        );
        assert_eq!(
            body("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", GET),
            Ok(Close)
        );
        assert_eq!(body("HTTP/1.0 200 OK\r\n\r\n", GET), Ok(Close));
        assert_eq!(
            body(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                GET
            ),
            Err(Error::BadResponse)
        );
        assert_eq!(
            body(
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                GET
            ),
            Err(Error::BadResponse)
        );
    }

    #[test]
    fn version_and_keep_alive() {
        let s = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        let h = parse_response(s.as_bytes(), &Limits::default(), GET)
            .unwrap()
            .unwrap();
        assert_eq!(h.version, Version::Http10);
        assert!(!h.keep_alive);
        let s = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        let h = parse_response(s.as_bytes(), &Limits::default(), GET)
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let s = "HTTP/1.1 200 OK\r\n\r\n";
        let h = parse_response(s.as_bytes(), &Limits::default(), GET)
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive, "close-delimited");
        let s = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
        let h = parse_response(s.as_bytes(), &Limits::default(), GET)
            .unwrap()
            .unwrap();
        assert!(h.informational);
        assert_eq!(h.reason.get(s.as_bytes()), b"Early Hints");
    }

    #[test]
    fn hop_by_hop_headers_are_marked() {
        let s = "HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive, X-Trace\r\n\
                 Keep-Alive: timeout=5\r\nX-Trace: 1\r\nTE: trailers\r\nTrailer: A\r\n\
                 Upgrade: h2c\r\nProxy-Authenticate: B\r\nProxy-Thing: c\r\n\
                 Content-Type: text/plain\r\nclose: x\r\nContent-Length: 0\r\n\r\n";
        let h = parse_response(s.as_bytes(), &Limits::default(), GET)
            .unwrap()
            .unwrap();
        let dropped: Vec<&[u8]> = (0..h.headers.len())
            .filter(|i| h.hop_by_hop & (1 << i) != 0)
            .map(|i| h.headers[i].name.get(s.as_bytes()))
            .collect();
        let want: [&[u8]; 8] = [
            b"Connection",
            b"Keep-Alive",
            b"X-Trace",
            b"TE",
            b"Trailer",
            b"Upgrade",
            b"Proxy-Authenticate",
            b"Proxy-Thing",
        ];
        assert_eq!(dropped, want);
        // A header named `close` goes only when `Connection: close` names it.
        let s = "HTTP/1.1 200 OK\r\nclose: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let h = parse_response(s.as_bytes(), &Limits::default(), GET)
            .unwrap()
            .unwrap();
        assert_eq!(h.hop_by_hop, 0b011);
        let s = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nServer: y\r\n\r\n";
        let h = parse_response(s.as_bytes(), &Limits::default(), GET)
            .unwrap()
            .unwrap();
        assert_eq!(h.hop_by_hop, 0);
    }

    #[test]
    fn incomplete_and_too_large() {
        let l = Limits::default();
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n", &l, GET),
            Ok(Option::None)
        );
        let big = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(20000));
        assert_eq!(
            parse_response(big.as_bytes(), &l, GET),
            Err(Error::BadResponse)
        );
    }
}
