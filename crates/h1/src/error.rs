//! Why a message was refused, and the response that says so.

/// A refused message. [`Error::status`] is the status the client gets (for a
/// response head: 502, the server's fault); [`Error::reason`] is the short
/// token for `x-bigstep-reason` and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // --- request line and head ---
    /// Bad method token, request line or header syntax.
    BadSyntax,
    /// A version other than HTTP/1.0 or HTTP/1.1.
    BadVersion,
    /// The head is larger than the limit, or has too many header lines.
    HeadTooLarge,
    TooManyHeaders,
    /// The request-target is longer than the limit.
    TargetTooLong,
    /// A character outside the request-target grammar, a fragment, userinfo,
    /// or a scheme we do not serve.
    BadTarget,
    /// Authority-form (`host:port`) on a method other than CONNECT, or CONNECT
    /// without it.
    AuthorityFormNotConnect,
    /// `*` on a method other than OPTIONS.
    AsteriskNotOptions,
    /// More than one `Host` line.
    DuplicateHost,
    /// No `Host` on HTTP/1.1.
    MissingHost,
    /// A `Host` value outside `uri-host [ ":" port ]`.
    BadHost,
    /// An absolute-form target whose authority is not the `Host`.
    HostMismatch,
    // --- body framing ---
    /// `Content-Length` not a decimal number, or lines that disagree.
    BadContentLength,
    /// Both `Transfer-Encoding` and `Content-Length`.
    TransferEncodingWithLength,
    /// `Transfer-Encoding` on an HTTP/1.0 message.
    TransferEncodingOnHttp10,
    /// `chunked` not the last coding, or more than once.
    ChunkedNotLast,
    /// A transfer coding other than `chunked` (501 on a request).
    UnknownTransferEncoding,
    /// A body on CONNECT.
    BodyOnConnect,
    // --- chunked body ---
    /// A chunk-size line that is not hex digits (optionally `;extensions`) + CRLF.
    BadChunkSize,
    /// A chunk size beyond `u64`.
    ChunkSizeOverflow,
    /// Chunk extensions over the limit.
    ChunkExtensionsTooLong,
    /// Data not followed by CRLF, or a bare LF/CR where CRLF belongs.
    BadChunkDelimiter,
    /// A trailer line that is not a field, or trailers over the limit.
    BadTrailer,
    TrailersTooLarge,
    // --- response head ---
    /// A response head we cannot frame (the server's fault: 502).
    BadResponse,
}

impl Error {
    /// The status to answer with.
    pub fn status(self) -> u16 {
        use Error::*;
        match self {
            HeadTooLarge | TooManyHeaders => 431,
            TargetTooLong => 414,
            BadVersion => 505,
            UnknownTransferEncoding => 501,
            BadResponse => 502,
            _ => 400,
        }
    }

    /// A short token for `x-bigstep-reason` and logs.
    pub fn reason(self) -> &'static str {
        use Error::*;
        match self {
            BadSyntax => "bad-request-syntax",
            BadVersion => "bad-version",
            HeadTooLarge => "head-too-large",
            TooManyHeaders => "too-many-headers",
            TargetTooLong => "uri-too-long",
            BadTarget => "bad-target",
            AuthorityFormNotConnect => "authority-form-not-connect",
            AsteriskNotOptions => "asterisk-form-not-options",
            DuplicateHost => "duplicate-host",
            MissingHost => "missing-host",
            BadHost => "bad-host",
            HostMismatch => "host-mismatch",
            BadContentLength => "bad-content-length",
            TransferEncodingWithLength => "transfer-encoding-with-length",
            TransferEncodingOnHttp10 => "transfer-encoding-on-http10",
            ChunkedNotLast => "chunked-not-last",
            UnknownTransferEncoding => "unknown-transfer-encoding",
            BodyOnConnect => "body-on-connect",
            BadChunkSize => "bad-chunk-size",
            ChunkSizeOverflow => "chunk-size-overflow",
            ChunkExtensionsTooLong => "chunk-extensions-too-long",
            BadChunkDelimiter => "bad-chunk-delimiter",
            BadTrailer => "bad-trailer",
            TrailersTooLarge => "trailers-too-large",
            BadResponse => "upstream-bad-response",
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for Error {}
