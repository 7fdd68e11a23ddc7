//! HTTP/1 framing for the front door, as pure functions over byte buffers: no
//! I/O, no runtime, no per-header allocation.
//!
//! - [`parse_request`]: a request head (on `httparse`), checked against the
//!   RFC 9112 / RFC 9110 rules a proxy must enforce before any server sees the
//!   request, and the decision how its body is framed ([`RequestBody`]).
//! - [`parse_response`]: a server's response head and how its body is framed
//!   ([`ResponseBody`]), given what the request was.
//! - [`chunked`]: an incremental chunked decoder (any byte split gives the same
//!   result) and the encoder that turns a close-delimited body into chunks.
//! - [`rules`]: the Host and request-target grammar on their own, so the hyper
//!   front door of today and the core of tomorrow refuse the same requests.
//!
//! Heads are returned as [`Span`]s into the caller's buffer: the caller keeps
//! the bytes, we keep offsets. Every refusal is an [`Error`] that names the
//! status to answer with and a short reason for the `x-bigstep-reason` header.
//!
//! We are stricter than the RFC allows a recipient to be wherever leniency would
//! let two parsers disagree about where a message ends (request smuggling):
//! `Transfer-Encoding` with `Content-Length` is refused, not resolved; only the
//! `chunked` transfer coding is understood; a chunk-size line takes no
//! whitespace; line ends inside chunked bodies are strict CRLF.
#![forbid(unsafe_code)]

pub mod chunked;
mod error;
mod request;
mod response;
pub mod rules;

pub use chunked::{ChunkedDecoder, ChunkedLimits};
pub use error::Error;
pub use request::{parse_request, parse_request_into, HeaderSpan, RequestBody, RequestHead};
pub use response::{parse_response, parse_response_into, RequestKind, ResponseBody, ResponseHead};
pub use rules::Target;

use std::ops::Range;

/// A byte range in the caller's buffer. `u32` keeps a head's index small; a
/// head is bounded by [`Limits::max_head_bytes`], far below 4 GiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The bytes this span covers in `buf` (the buffer the head was parsed from).
    pub fn get(self, buf: &[u8]) -> &[u8] {
        &buf[self.range()]
    }

    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The span of `part`, a subslice of `buf` (as httparse hands them out).
    fn of(buf: &[u8], part: &[u8]) -> Span {
        // Address arithmetic on two slices of the same allocation: safe, no
        // deref. An empty slice that does not point into `buf` becomes an
        // empty span at 0 rather than a wild offset.
        let start = (part.as_ptr() as usize)
            .checked_sub(buf.as_ptr() as usize)
            .filter(|s| s + part.len() <= buf.len());
        match start {
            Some(start) => Span {
                start: start as u32,
                end: (start + part.len()) as u32,
            },
            None => {
                debug_assert!(part.is_empty(), "a non-empty part outside the buffer");
                Span::default()
            }
        }
    }

    /// A sub-span `r` (relative to this span's start).
    fn sub(self, r: Range<usize>) -> Span {
        Span {
            start: self.start + r.start as u32,
            end: self.start + r.end as u32,
        }
    }
}

/// The protocol version a peer spoke. HTTP/1.x only: anything else is refused
/// with 505 by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// Bounds on what a head may cost us.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Request line or status line plus every header line (431 beyond).
    pub max_head_bytes: usize,
    /// Header lines (431 beyond). Capped at [`MAX_HEADERS`].
    pub max_headers: usize,
    /// Request-target bytes (414 beyond).
    pub max_target_bytes: usize,
}

/// The most header lines any head may have, whatever the limits say: the
/// parser's scratch array lives on the stack.
pub const MAX_HEADERS: usize = 128;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_target_bytes: 8 * 1024,
        }
    }
}

/// `Connection` tokens we act on, gathered over every `Connection` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ConnectionTokens {
    close: bool,
    keep_alive: bool,
    upgrade: bool,
    /// Some other token: a header the message's sender names as hop-by-hop.
    other: bool,
}

impl ConnectionTokens {
    fn add(&mut self, value: &[u8]) {
        for token in rules::list_elements(value) {
            if token.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            } else if token.eq_ignore_ascii_case(b"upgrade") {
                self.upgrade = true;
            } else {
                self.other = true;
            }
        }
    }

    /// Does the connection stay open after this message (RFC 9112 §9.3)?
    fn persistent(self, version: Version) -> bool {
        !self.close && (version == Version::Http11 || self.keep_alive)
    }
}

/// `Content-Length` / `Transfer-Encoding` as seen over every header line; the
/// framing is decided once all lines are in, so header order never matters.
#[derive(Debug, Default)]
struct LengthHeaders {
    content_length: Option<u64>,
    /// A `Content-Length` line that was not one decimal number, or two lines
    /// that disagree.
    bad_length: bool,
    transfer_encoding: bool,
    /// `chunked` seen, and nothing after it so far.
    chunked_last: bool,
    /// `chunked` more than once, or another coding after it.
    chunked_misplaced: bool,
    /// A coding other than `chunked` (we understand no other).
    unknown_coding: bool,
}

impl LengthHeaders {
    fn content_length(&mut self, value: &[u8]) {
        // One value per line; repeated identical lines are accepted (RFC 9112
        // §6.3 item 5). A comma list in one line is refused: not every parser
        // downstream reads it the same way.
        match rules::parse_decimal(value) {
            Some(n) if self.content_length.is_none_or(|prev| prev == n) => {
                self.content_length = Some(n)
            }
            _ => self.bad_length = true,
        }
    }

    fn transfer_encoding(&mut self, value: &[u8]) {
        self.transfer_encoding = true;
        for coding in value.split(|&b| b == b',') {
            let coding = rules::trim_ows(coding);
            if self.chunked_last {
                self.chunked_misplaced = true;
            }
            if coding.eq_ignore_ascii_case(b"chunked") {
                self.chunked_last = true;
            } else {
                // Empty elements included: `chunked,` must not pass as chunked.
                self.chunked_last = false;
                self.unknown_coding = true;
            }
        }
    }
}
