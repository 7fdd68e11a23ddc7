//! Our HTTP/1.1 client to the servers: one exchange on one connection, driven
//! inline by the client's task (no connection task, no channel hand-off).
//!
//! The request head is written in one write; a body streams behind it while the
//! response head is read at the same time, so a server that answers before it
//! has read the whole body (a 413, say) is heard. The response body is an
//! [`UpstreamBody`] that owns the connection and gives it back to its server's
//! pool the moment the body ends cleanly.
//!
//! Framing follows RFC 9112 through the `h1` crate, strictly: a response head
//! it cannot frame is the server's fault (502), never guessed at.

use std::io::{self, IoSlice};

use bytes::{Buf, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode, Version};
use http_body_util::BodyExt;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::body::{BodyTooLarge, BoxError, RequestBody};
use crate::error::{ErrorKind, ProxyError};
use crate::pool::Connection;
use crate::scratch::Scratch;
use crate::upstream_body::{Framing, Home, RawHead, UpstreamBody};
use crate::upstream_tls::{dial, Stream, UpstreamTls};

/// Response heads may be larger than requests (cookies, CSP); bounded all the same.
const RESPONSE_LIMITS: h1::Limits = h1::Limits {
    max_head_bytes: 64 * 1024,
    max_headers: h1::MAX_HEADERS,
    max_target_bytes: 0,
};
/// Read size while waiting for a head.
const HEAD_READ: usize = 8 * 1024;

/// Why an exchange failed, and whether the request can still go elsewhere.
pub(crate) struct Failed<'a> {
    pub(crate) error: ProxyError,
    /// The body, untouched: nothing of the request reached the server.
    pub(crate) unsent: Option<RequestBody<'a>>,
}

/// Send `parts` + `body` on `conn` and read the response head. `raw_head`:
/// nothing on the response's way needs its headers as a map, so they stay as
/// received ([`RawHead`]) and the map is left empty.
pub(crate) async fn exchange<'a>(
    mut conn: Box<Connection>,
    parts: &Parts,
    body: RequestBody<'a>,
    home: Home,
    raw_head: bool,
) -> Result<Response<UpstreamBody>, Failed<'a>> {
    let streams = !matches!(body, RequestBody::Empty);
    let length = content_length(&parts.headers);
    let chunked = streams && length.is_none();
    let mut head = Scratch::take();
    encode_head(parts, chunked, &mut head);
    // The flush is free on plain TCP; over TLS it sends what rustls still holds.
    let wrote = match conn.stream.write_all(&head).await {
        Ok(()) => conn.stream.flush().await,
        Err(e) => Err(e),
    };
    drop(head);
    if let Err(e) = wrote {
        // Nothing the server could act on was sent (a head cut short is not a
        // request): the request may go elsewhere, body and all.
        let kind = if conn.reused {
            ErrorKind::UpstreamClosed
        } else {
            ErrorKind::ConnectFailed
        };
        return Err(Failed {
            error: ProxyError::with_detail(kind, format!("writing the request head: {e}")),
            unsent: Some(body),
        });
    }
    let kind = h1::RequestKind {
        head: parts.method == Method::HEAD,
        connect: parts.method == Method::CONNECT,
    };
    let Connection { stream, buf, .. } = &mut *conn;
    let (head, body_sent) = if streams {
        // Read and write at once: TCP splits into borrowed halves for free; a
        // TLS session is one state machine, so its halves share it through
        // tokio's split (a small allocation, on the TLS path only). Boxed:
        // the client's per-request future would otherwise carry room for
        // both, and it is copied whole into its box for every request, body
        // or not.
        match stream {
            Stream::Plain(tcp) => {
                let (rd, wr) = tcp.split();
                Box::pin(send_while_reading(rd, wr, buf, body, chunked, length, kind)).await?
            }
            Stream::Tls(tls) => {
                let (rd, wr) = tokio::io::split(&mut **tls);
                Box::pin(send_while_reading(rd, wr, buf, body, chunked, length, kind)).await?
            }
        }
    } else {
        (read_head(stream, buf, kind).await, true)
    };
    let head = head.map_err(|error| Failed {
        error,
        unsent: None,
    })?;
    // A response that came before the whole request body was sent leaves the
    // connection mid-request: never reused.
    let keep_alive = head.head.keep_alive && body_sent;
    build_response(conn, head, keep_alive, home, raw_head).map_err(|error| Failed {
        error,
        unsent: None,
    })
}

type Head = Result<Box<RawHead>, ProxyError>;

/// Stream the body to the server while reading its response head, so a server
/// that answers early (a 413) is heard. Returns the head and whether the whole
/// body was sent.
async fn send_while_reading<'a, R, W>(
    mut rd: R,
    mut wr: W,
    buf: &mut BytesMut,
    body: RequestBody<'a>,
    chunked: bool,
    length: Option<u64>,
    kind: h1::RequestKind,
) -> Result<(Head, bool), Failed<'a>>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let send = send_body(&mut wr, body, chunked, length);
    let read = read_head(&mut rd, buf, kind);
    tokio::pin!(send, read);
    let mut sent = false;
    let mut write_error = None;
    let head = loop {
        tokio::select! {
            biased;
            head = &mut read => break head,
            r = &mut send, if !sent && write_error.is_none() => match r {
                Ok(()) => sent = true,
                // The client's fault: no point waiting for the server.
                Err(e) if e.fault() == crate::error::Fault::Client => {
                    return Err(Failed { error: e, unsent: None });
                }
                // The server stopped reading; it may still have answered.
                Err(e) => write_error = Some(e),
            },
        }
    };
    match (head, write_error) {
        (Err(_), Some(e)) => Err(Failed {
            error: e,
            unsent: None,
        }),
        (head, _) => Ok((head, sent)),
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| h1::rules::parse_decimal(v.as_bytes()))
}

/// The request line and headers into `out`, ready to write in one go.
/// HTTP/1.1 always: we speak our own version to servers whatever the client
/// spoke.
fn encode_head(parts: &Parts, chunked: bool, out: &mut Vec<u8>) {
    let mut size = parts.method.as_str().len() + 64;
    for (name, value) in &parts.headers {
        size += name.as_str().len() + value.len() + 4;
    }
    out.reserve(size);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    if parts.method == Method::CONNECT {
        if let Some(a) = parts.uri.authority() {
            out.extend_from_slice(a.as_str().as_bytes());
        }
    } else {
        // Origin-form: servers need not understand absolute-form.
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        out.extend_from_slice(if target.is_empty() {
            b"/"
        } else {
            target.as_bytes()
        });
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Stream the client's body to the server, re-framed as `chunked` when its
/// length is not known ahead.
async fn send_body<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut body: RequestBody<'_>,
    chunked: bool,
    length: Option<u64>,
) -> Result<(), ProxyError> {
    let upstream = |e: io::Error| {
        ProxyError::with_detail(
            ErrorKind::UpstreamClosed,
            format!("writing the request body: {e}"),
        )
    };
    let mut sent: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(client_body_error)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers: not forwarded
        };
        if data.is_empty() {
            continue;
        }
        sent += data.len() as u64;
        if length.is_some_and(|n| sent > n) {
            return Err(ProxyError::with_detail(
                ErrorKind::ClientBodyFailed,
                "the request body is longer than its Content-Length",
            ));
        }
        if chunked {
            let size = h1::chunked::ChunkHeader::new(data.len() as u64);
            write_all_vectored(
                w,
                &mut [
                    IoSlice::new(size.as_bytes()),
                    IoSlice::new(&data),
                    IoSlice::new(b"\r\n"),
                ],
            )
            .await
            .map_err(upstream)?;
        } else {
            w.write_all(&data).await.map_err(upstream)?;
        }
        // Over TLS the last record may sit in rustls until flushed; a server
        // waiting for it must not wait for the client's next chunk.
        w.flush().await.map_err(upstream)?;
    }
    if let Some(n) = length {
        if sent != n {
            return Err(ProxyError::with_detail(
                ErrorKind::ClientBodyFailed,
                "the request body ended before its Content-Length",
            ));
        }
    }
    if chunked {
        w.write_all(b"0\r\n\r\n").await.map_err(upstream)?;
        w.flush().await.map_err(upstream)?;
    }
    Ok(())
}

fn client_body_error(e: BoxError) -> ProxyError {
    if e.is::<BodyTooLarge>() {
        ProxyError::new(ErrorKind::BodyTooLarge)
    } else {
        ProxyError::with_detail(ErrorKind::ClientBodyFailed, e.to_string())
    }
}

/// Write every slice, in as few `writev`s as the socket takes. Empty slices
/// are skipped (all empty: nothing is written).
pub(crate) async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut bufs: &mut [IoSlice<'_>],
) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = w.write_vectored(bufs).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

/// Read until a final response head is complete; interim 1xx heads (other
/// than 101) are read past. Returns the head with its bytes, split off `buf`.
async fn read_head<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    kind: h1::RequestKind,
) -> Result<Box<RawHead>, ProxyError> {
    let mut raw = RawHead::take();
    loop {
        if !buf.is_empty() {
            match h1::parse_response_into(buf, &RESPONSE_LIMITS, kind, &mut raw.head) {
                Ok(true) if raw.head.informational => {
                    buf.advance(raw.head.head_len);
                    continue;
                }
                Ok(true) => {
                    raw.bytes = buf.split_to(raw.head.head_len).freeze();
                    return Ok(raw);
                }
                Ok(false) => {}
                Err(e) => {
                    return Err(ProxyError::with_detail(
                        ErrorKind::UpstreamProtocol,
                        e.to_string(),
                    ))
                }
            }
        }
        buf.reserve(HEAD_READ);
        let n = r.read_buf(buf).await.map_err(|e| {
            ProxyError::with_detail(
                ErrorKind::UpstreamClosed,
                format!("reading the response: {e}"),
            )
        })?;
        if n == 0 {
            let detail = if buf.is_empty() {
                "the server closed the connection before responding"
            } else {
                "the server closed the connection in the middle of the response head"
            };
            return Err(ProxyError::with_detail(ErrorKind::UpstreamClosed, detail));
        }
    }
}

fn build_response(
    conn: Box<Connection>,
    raw: Box<RawHead>,
    keep_alive: bool,
    home: Home,
    raw_head: bool,
) -> Result<Response<UpstreamBody>, ProxyError> {
    let bad = |what: &str| ProxyError::with_detail(ErrorKind::UpstreamProtocol, what.to_string());
    let (head, bytes) = (&raw.head, &raw.bytes);
    let status = StatusCode::from_u16(head.status).map_err(|_| bad("status code"))?;
    // A tunnel's head is rewritten (`Upgrade` kept): that takes the map.
    let raw_head = raw_head && !matches!(head.body, h1::ResponseBody::Tunnel);
    let headers = if raw_head {
        // httparse checked names (tokens) and values (no CR, LF or NUL):
        // what HeaderName and HeaderValue would refuse, it refused.
        HeaderMap::new()
    } else {
        let mut headers = crate::scratch::header_map(head.headers.len());
        for h in &head.headers {
            let name =
                HeaderName::from_bytes(h.name.get(bytes)).map_err(|_| bad("a header name"))?;
            // Shares the head's bytes: no copy per value.
            let value = HeaderValue::from_maybe_shared(bytes.slice(h.value.range()))
                .map_err(|_| bad("a header value"))?;
            headers.append(name, value);
        }
        headers
    };
    let version = match head.version {
        h1::Version::Http10 => Version::HTTP_10,
        h1::Version::Http11 => Version::HTTP_11,
    };
    let framing = match head.body {
        h1::ResponseBody::None => Framing::Done,
        h1::ResponseBody::Length(0) => Framing::Done,
        h1::ResponseBody::Length(n) => Framing::Length(n),
        h1::ResponseBody::Chunked => Framing::Chunked(Box::default()),
        h1::ResponseBody::Close => Framing::Close,
        h1::ResponseBody::Tunnel => Framing::Tunnel,
    };
    let mut body = UpstreamBody::new(conn, framing, keep_alive, home);
    if raw_head {
        body = body.with_raw_head(raw);
    } else {
        raw.give_back();
    }
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.version_mut() = version;
    *resp.headers_mut() = headers;
    Ok(resp)
}

/// Open a new connection to `address` (over TLS when `tls` is given); TCP
/// and the TLS handshake together must finish within `timeout`. A refused
/// connection or a bad certificate is a connect failure: nothing was sent, so
/// the request may go to another server.
/// Boxed: it moves between the pool and response bodies, which stay small.
pub(crate) async fn connect(
    address: &str,
    tls: Option<&UpstreamTls>,
    timeout: Duration,
) -> Result<Box<Connection>, ProxyError> {
    let stream = match tokio::time::timeout(timeout, dial(address, tls)).await {
        Err(_) => {
            return Err(ProxyError::with_detail(
                ErrorKind::ConnectTimeout,
                address.to_string(),
            ))
        }
        Ok(Err(e)) => return Err(ProxyError::with_detail(ErrorKind::ConnectFailed, e)),
        Ok(Ok(s)) => s,
    };
    Ok(Box::new(Connection {
        stream,
        buf: BytesMut::new(),
        reused: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn encode_head(parts: &Parts, chunked: bool) -> Vec<u8> {
        let mut out = Vec::new();
        super::encode_head(parts, chunked, &mut out);
        out
    }

    #[test]
    fn the_head_is_origin_form_http11_with_every_header() {
        let p = parts(
            "GET",
            "http://example.com/a/b?x=1",
            &[("host", "example.com"), ("x-a", "1")],
        );
        let head = String::from_utf8(encode_head(&p, false)).unwrap();
        assert_eq!(
            head,
            "GET /a/b?x=1 HTTP/1.1\r\nhost: example.com\r\nx-a: 1\r\n\r\n"
        );
        let p = parts("POST", "/up", &[("host", "h")]);
        let head = String::from_utf8(encode_head(&p, true)).unwrap();
        assert_eq!(
            head,
            "POST /up HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let p = parts("OPTIONS", "*", &[("host", "h")]);
        assert!(String::from_utf8(encode_head(&p, false))
            .unwrap()
            .starts_with("OPTIONS * HTTP/1.1\r\n"));
    }
}
