//! A request head: parsed once, checked, framed.
//!
//! The checks, in the order a refusal is decided (the first that fails names
//! the error; header order never matters):
//! 1. syntax (httparse: method token, target characters, version, header
//!    names and values, no obs-fold), limits (431 head and header count, 414
//!    target);
//! 2. the target's form for the method ([`rules::classify_target`]);
//! 3. `Host`: at most one line, exactly one on HTTP/1.1, within the grammar,
//!    and equal to an absolute-form target's authority;
//! 4. body framing: `Transfer-Encoding` (only `chunked`, last and once; never on
//!    HTTP/1.0; never with `Content-Length`), else `Content-Length` (one
//!    decimal value, repeated lines identical), else no body. CONNECT has no
//!    body.

use std::mem::MaybeUninit;

use crate::error::Error;
use crate::rules::{self, Target};
use crate::{ConnectionTokens, LengthHeaders, Limits, Span, Version, MAX_HEADERS};

/// One header line: both spans index the buffer the head was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderSpan {
    pub name: Span,
    pub value: Span,
}

/// How the request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// No body: the next request (if any) starts right after the head.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked: decode with [`ChunkedDecoder`](crate::ChunkedDecoder).
    Chunked,
}

/// A parsed, checked request head. Spans index the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Span,
    pub target: Span,
    /// The target's form; an absolute-form authority is a buffer span here.
    pub target_form: Target,
    pub version: Version,
    /// Every header line in order, names and values as received.
    pub headers: Vec<HeaderSpan>,
    /// The one `Host` value, if any.
    pub host: Option<Span>,
    pub body: RequestBody,
    /// Does the client's connection stay open after this exchange?
    pub keep_alive: bool,
    /// `Upgrade` with `Connection: upgrade` (HTTP/1.1 only): a tunnel if the
    /// server answers 101.
    pub upgrade: bool,
    /// CONNECT: a tunnel if the server answers 2xx.
    pub connect: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// Bytes of the head, final CRLF included: the body starts here.
    pub head_len: usize,
}

impl Default for RequestHead {
    fn default() -> Self {
        RequestHead {
            method: Span::default(),
            target: Span::default(),
            target_form: Target::Origin,
            version: Version::Http11,
            headers: Vec::new(),
            host: None,
            body: RequestBody::None,
            keep_alive: false,
            upgrade: false,
            connect: false,
            expect_continue: false,
            head_len: 0,
        }
    }
}

impl RequestHead {
    /// The first value of header `name` (case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value.get(buf))
    }

    pub fn is_head(&self, buf: &[u8]) -> bool {
        self.method.get(buf) == b"HEAD"
    }
}

/// Parse a request head at the start of `buf`. `Ok(None)`: incomplete, read
/// more (unless a limit is already exceeded, which is an error).
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>, Error> {
    let mut head = RequestHead::default();
    Ok(parse_request_into(buf, limits, &mut head)?.then_some(head))
}

/// As [`parse_request`], into `head` (its header vector is reused, so a
/// connection parses request after request without allocating). `Ok(true)`
/// when a whole head was parsed.
pub fn parse_request_into(
    buf: &[u8],
    limits: &Limits,
    head: &mut RequestHead,
) -> Result<bool, Error> {
    // Left uninitialised: httparse writes each slot it fills (writing 128
    // empty headers first cost a few hundred instructions per head).
    let mut scratch = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let max_headers = limits.max_headers.min(MAX_HEADERS);
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut scratch[..max_headers]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return partial_limits(buf, req.method.is_some(), req.path, limits).map(|()| false)
        }
        Err(httparse::Error::TooManyHeaders) => return Err(Error::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(Error::BadVersion),
        Err(_) => return Err(Error::BadSyntax),
    };
    if head_len > limits.max_head_bytes {
        return Err(Error::HeadTooLarge);
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(Error::BadSyntax);
    };
    if target.len() > limits.max_target_bytes {
        return Err(Error::TargetTooLong);
    }
    let version = if minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };
    let method_span = Span::of(buf, method.as_bytes());
    let target_span = Span::of(buf, target.as_bytes());
    let mut target_form = rules::classify_target(method.as_bytes(), target.as_bytes())?;
    if let Target::Absolute { authority, https } = target_form {
        target_form = Target::Absolute {
            authority: target_span.sub(authority.range()),
            https,
        };
    }

    head.headers.clear();
    let mut hosts = 0usize;
    let mut host = None;
    let mut conn = ConnectionTokens::default();
    let mut lengths = LengthHeaders::default();
    let mut has_upgrade = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = Span::of(buf, h.name.as_bytes());
        let value = Span::of(buf, h.value);
        head.headers.push(HeaderSpan { name, value });
        let n = h.name.as_bytes();
        if n.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            host = Some(value);
        } else if n.eq_ignore_ascii_case(b"content-length") {
            lengths.content_length(h.value);
        } else if n.eq_ignore_ascii_case(b"transfer-encoding") {
            lengths.transfer_encoding(h.value);
        } else if n.eq_ignore_ascii_case(b"connection") {
            conn.add(h.value);
        } else if n.eq_ignore_ascii_case(b"upgrade") {
            has_upgrade = true;
        } else if n.eq_ignore_ascii_case(b"expect") {
            expect_continue = h.value.eq_ignore_ascii_case(b"100-continue");
        }
    }

    // Host (RFC 9112 §3.2): one line at most, and one on HTTP/1.1.
    match hosts {
        0 if version == Version::Http11 => return Err(Error::MissingHost),
        0 | 1 => {}
        _ => return Err(Error::DuplicateHost),
    }
    if let Some(h) = host {
        let value = h.get(buf);
        if !rules::valid_host(value) {
            return Err(Error::BadHost);
        }
        if let Target::Absolute { authority, https } = target_form {
            if !rules::same_authority(authority.get(buf), value, https) {
                return Err(Error::HostMismatch);
            }
        }
    }

    let connect = method == "CONNECT";
    let body = request_body(&lengths, version, connect)?;

    head.method = method_span;
    head.target = target_span;
    head.target_form = target_form;
    head.version = version;
    head.host = host;
    head.body = body;
    head.keep_alive = conn.persistent(version);
    head.upgrade = has_upgrade && conn.upgrade && version == Version::Http11;
    head.connect = connect;
    head.expect_continue = expect_continue;
    head.head_len = head_len;
    Ok(true)
}

/// The request body's framing (RFC 9112 §6.3), refusing anything ambiguous.
fn request_body(l: &LengthHeaders, version: Version, connect: bool) -> Result<RequestBody, Error> {
    if l.transfer_encoding {
        if version == Version::Http10 {
            return Err(Error::TransferEncodingOnHttp10);
        }
        if l.content_length.is_some() || l.bad_length {
            return Err(Error::TransferEncodingWithLength);
        }
        // `chunked, gzip` (or `chunked,`) is a framing error (400) before it is
        // a coding we do not understand (501, RFC 9112 §6.1).
        if l.chunked_misplaced {
            return Err(Error::ChunkedNotLast);
        }
        if l.unknown_coding {
            return Err(Error::UnknownTransferEncoding);
        }
        if connect {
            return Err(Error::BodyOnConnect);
        }
        return Ok(RequestBody::Chunked);
    }
    if l.bad_length {
        return Err(Error::BadContentLength);
    }
    match l.content_length {
        None | Some(0) => Ok(RequestBody::None),
        Some(_) if connect => Err(Error::BodyOnConnect),
        Some(n) => Ok(RequestBody::Length(n)),
    }
}

/// Limits that an incomplete head can already break: more bytes than a head
/// may have (414 while still in the request line with a target over its
/// limit, else 431), or a target already over its limit.
fn partial_limits(
    buf: &[u8],
    have_method: bool,
    target: Option<&str>,
    limits: &Limits,
) -> Result<(), Error> {
    if let Some(t) = target {
        if t.len() > limits.max_target_bytes {
            return Err(Error::TargetTooLong);
        }
    } else if have_method {
        // httparse stops at the method when the target is incomplete: measure
        // the partial target from the first space.
        if let Some(sp) = buf.iter().position(|&b| b == b' ') {
            let rest = &buf[sp + 1..];
            let len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            if len > limits.max_target_bytes {
                return Err(Error::TargetTooLong);
            }
        }
    }
    if buf.len() > limits.max_head_bytes {
        return Err(Error::HeadTooLarge);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<RequestHead>, Error> {
        parse_request(s.as_bytes(), &Limits::default())
    }

    fn body(s: &str) -> Result<RequestBody, Error> {
        parse(s).map(|h| h.expect("complete").body)
    }

    #[test]
    fn simple_get() {
        let s = "GET /a?b HTTP/1.1\r\nHost: x.test\r\nAccept: */*\r\n\r\nrest";
        let h = parse(s).unwrap().unwrap();
        let b = s.as_bytes();
        assert_eq!(h.method.get(b), b"GET");
        assert_eq!(h.target.get(b), b"/a?b");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.host.unwrap().get(b), b"x.test");
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.header(b, "accept"), Some(&b"*/*"[..]));
        assert_eq!(h.body, RequestBody::None);
        assert!(h.keep_alive);
        assert_eq!(&b[h.head_len..], b"rest");
    }

    #[test]
    fn incomplete_is_not_an_error() {
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
        assert_eq!(parse("GE"), Ok(None));
    }

    #[test]
    fn framing() {
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"),
            Ok(RequestBody::Length(5))
        );
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
            Ok(RequestBody::Length(5))
        );
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            Err(Error::BadContentLength)
        );
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n"),
            Err(Error::BadContentLength)
        );
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n"),
            Err(Error::BadContentLength)
        );
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"),
            Ok(RequestBody::Chunked)
        );
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            Err(Error::TransferEncodingWithLength)
        );
        assert_eq!(
            body("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Error::TransferEncodingOnHttp10)
        );
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            Err(Error::ChunkedNotLast)
        );
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Error::ChunkedNotLast)
        );
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Err(Error::UnknownTransferEncoding)
        );
        assert_eq!(Error::UnknownTransferEncoding.status(), 501);
        assert_eq!(
            body("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked,\r\n\r\n"),
            Err(Error::ChunkedNotLast)
        );
        assert_eq!(
            body("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 2\r\n\r\n"),
            Err(Error::BodyOnConnect)
        );
    }

    #[test]
    fn host_rules() {
        assert_eq!(parse("GET / HTTP/1.1\r\n\r\n"), Err(Error::MissingHost));
        assert!(parse("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
            Err(Error::DuplicateHost)
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
            Err(Error::BadHost)
        );
        assert_eq!(
            parse("GET http://a.test/x HTTP/1.1\r\nHost: b.test\r\n\r\n"),
            Err(Error::HostMismatch)
        );
        let s = "GET http://a.test/x HTTP/1.1\r\nHost: A.test:80\r\n\r\n";
        let h = parse(s).unwrap().unwrap();
        match h.target_form {
            Target::Absolute { authority, .. } => {
                assert_eq!(authority.get(s.as_bytes()), b"a.test")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(parse("GET / HTTP/2.0\r\n\r\n"), Err(Error::BadVersion));
        assert_eq!(Error::BadVersion.status(), 505);
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
        assert_eq!(parse(&long), Err(Error::TargetTooLong));
        let long_partial = format!("GET /{}", "a".repeat(9000));
        assert_eq!(parse(&long_partial), Err(Error::TargetTooLong));
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(17000)
        );
        assert_eq!(parse(&big), Err(Error::HeadTooLarge));
        assert_eq!(parse(&big[..17000]), Err(Error::HeadTooLarge));
        let many: String = (0..101).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            Err(Error::TooManyHeaders)
        );
    }

    #[test]
    fn connection_and_upgrade() {
        let h = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let h = parse(
            "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.upgrade);
        let h = parse("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.connect);
        assert_eq!(h.target_form, Target::Authority);
    }
}
