//! Errors that carry decisions: whose fault, whether a retry is safe, and which
//! response the client gets. [`ProxyError::into_response`] is the one place a
//! failure becomes HTTP.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::body::ResponseBody;

/// Whose fault a failure is; drives logs, metrics and passive health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The client sent something we refuse.
    Client,
    /// The chosen server failed (counts against its passive health).
    Upstream,
    /// No server could be tried (all down, none configured).
    Capacity,
}

/// May the request be tried again on another server?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Nothing reached the server: any method may be retried.
    NothingSent,
    /// The request was sent but no response byte came back: idempotent requests only.
    BeforeResponse,
    /// Never.
    No,
}

/// What went wrong, precisely enough to pick a status and a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    NoServer,
    ConnectFailed,
    ConnectTimeout,
    UpstreamClosed,
    UpstreamTimeout,
    UpstreamProtocol,
    /// An HTTP/2 server declined the stream unprocessed (`REFUSED_STREAM`, or a
    /// graceful `GOAWAY` that left it out): safe to send elsewhere.
    UpstreamRefused,
    UriTooLong,
    BodyTooLarge,
    ClientBodyFailed,
    /// The path cannot be normalised safely (see `route::path`).
    BadPath,
    /// A route's rate limit refused the client.
    RateLimited,
    /// An HTTP/2 request without `:authority` or `Host`, or with two that disagree.
    MissingHost,
    /// A request head the HTTP/1 rules refuse (`strict.rs`); carries the status
    /// and reason.
    Malformed(h1::Error),
    /// An HTTP/2 extended CONNECT for another `:protocol` than `websocket`.
    UnsupportedProtocol,
    /// A server did not switch to WebSocket when asked over HTTP/2 (no `101`,
    /// or a `Sec-WebSocket-Accept` that does not match our key).
    WebSocketRefused,
}

#[derive(Debug)]
pub(crate) struct ProxyError {
    pub(crate) kind: ErrorKind,
    pub(crate) detail: Option<String>,
    /// Seconds the client should wait (`Retry-After`), for rate limits.
    pub(crate) retry_after: Option<u64>,
}

impl ProxyError {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            detail: None,
            retry_after: None,
        }
    }

    pub(crate) fn with_detail(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: Some(detail.into()),
            retry_after: None,
        }
    }

    pub(crate) fn fault(&self) -> Fault {
        use ErrorKind::*;
        match self.kind {
            NoServer => Fault::Capacity,
            ConnectFailed | ConnectTimeout | UpstreamClosed | UpstreamTimeout
            | UpstreamProtocol | UpstreamRefused | WebSocketRefused => Fault::Upstream,
            UriTooLong | BodyTooLarge | ClientBodyFailed | BadPath | RateLimited | MissingHost
            | Malformed(_) | UnsupportedProtocol => Fault::Client,
        }
    }

    pub(crate) fn retry(&self) -> Retry {
        use ErrorKind::*;
        match self.kind {
            // RFC 9113 §8.7: a refused stream was not processed at all.
            ConnectFailed | ConnectTimeout | UpstreamRefused => Retry::NothingSent,
            UpstreamClosed | UpstreamProtocol => Retry::BeforeResponse,
            // A stalled server is not retried: the client already waited the full timeout.
            UpstreamTimeout => Retry::No,
            NoServer | UriTooLong | BodyTooLarge | ClientBodyFailed | BadPath | RateLimited
            | MissingHost | Malformed(_) | UnsupportedProtocol | WebSocketRefused => Retry::No,
        }
    }

    /// Short machine-readable reason, sent as `X-Bigstep-Reason` and logged.
    pub(crate) fn reason(&self) -> &'static str {
        use ErrorKind::*;
        match self.kind {
            NoServer => "no-healthy-server",
            ConnectFailed => "upstream-connect-failed",
            ConnectTimeout => "upstream-connect-timeout",
            UpstreamClosed => "upstream-closed",
            UpstreamTimeout => "upstream-timeout",
            UpstreamProtocol => "upstream-bad-response",
            UpstreamRefused => "upstream-refused-stream",
            UriTooLong => "uri-too-long",
            BodyTooLarge => "body-too-large",
            ClientBodyFailed => "client-body-failed",
            BadPath => "bad-path",
            RateLimited => "rate-limited",
            MissingHost => "bad-authority",
            Malformed(e) => e.reason(),
            UnsupportedProtocol => "unsupported-protocol",
            WebSocketRefused => "upstream-refused-websocket",
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        use ErrorKind::*;
        match self.kind {
            NoServer => StatusCode::SERVICE_UNAVAILABLE,
            ConnectFailed | ConnectTimeout | UpstreamClosed | UpstreamProtocol
            | UpstreamRefused | WebSocketRefused => StatusCode::BAD_GATEWAY,
            UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            UriTooLong => StatusCode::URI_TOO_LONG,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ClientBodyFailed | BadPath | MissingHost => StatusCode::BAD_REQUEST,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            UnsupportedProtocol => StatusCode::NOT_IMPLEMENTED,
            Malformed(e) => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
        }
    }

    fn message(&self) -> &'static str {
        use ErrorKind::*;
        match self.kind {
            NoServer => {
                "No server is available to handle this request right now. Please try again shortly."
            }
            ConnectFailed => "The front door could not connect to any server for this request.",
            ConnectTimeout => "Connecting to the server timed out.",
            UpstreamClosed => "The server closed the connection before sending a response.",
            UpstreamTimeout => "The server did not answer in time.",
            UpstreamProtocol => "The server sent an invalid response.",
            UpstreamRefused => "The server refused the request without processing it.",
            UriTooLong => "The request target is too long.",
            BodyTooLarge => "The request body is larger than this site accepts.",
            ClientBodyFailed => "The request body could not be read.",
            BadPath => "The request path is malformed or ambiguous (an encoded slash, backslash or NUL, or bad percent-encoding).",
            RateLimited => "Too many requests. Please slow down and try again after the time in Retry-After.",
            MissingHost => "The request names no host, or its :authority and Host disagree.",
            Malformed(_) => "The request head is malformed (see the x-bigstep-reason header).",
            UnsupportedProtocol => "Extended CONNECT is offered for WebSocket only (:protocol = websocket).",
            WebSocketRefused => "The server did not accept the WebSocket connection.",
        }
    }

    /// The response the client sees: status, a one-line text body, a reason header.
    pub(crate) fn into_response(self) -> Response<ResponseBody> {
        let status = self.status();
        let body = format!("{} {}\n", status.as_u16(), self.message());
        let mut resp = Response::new(ResponseBody::full(Bytes::from(body)));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(REASON_HEADER, HeaderValue::from_static(self.reason()));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        // After a refused body or target the connection's framing is in doubt;
        // a refused path or a rate limit leaves it intact.
        if self.fault() == Fault::Client
            && !matches!(self.kind, ErrorKind::BadPath | ErrorKind::RateLimited)
        {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// Header naming why the front door, not the app, produced this response.
pub(crate) const REASON_HEADER: &str = "x-bigstep-reason";

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}
