//! The HTTP/2 wire format for the front door, as pure functions and small
//! state over byte buffers: no I/O, no runtime, no `unsafe`.
//!
//! - [`frame`]: the connection preface, the frame header, every frame type a
//!   server receives ([`frame::parse`]), each checked as RFC 9113 §4 and §6
//!   say, a refusal naming the error code and whether it ends the connection
//!   or one stream ([`FrameError`]).
//! - [`write`]: encoders for every frame a server sends, into any
//!   [`bytes::BufMut`] (`Vec<u8>`, `BytesMut`), with no allocation per frame;
//!   a field block too big for one frame is split into CONTINUATIONs.
//! - [`hpack`]: RFC 7541 header compression: a decoder into a reused
//!   [`hpack::HeaderList`] (spans into one buffer), bounded by the dynamic
//!   table size we advertise and by the header list size we accept (counted
//!   while decoding: the HPACK bomb defence); an encoder using the static
//!   table, Huffman where shorter, and the dynamic table where asked.
//! - [`fields`]: the field rules of RFC 9113 §8.2 a decoded name or value
//!   must pass (lowercase names, no connection-specific fields, no CR/LF/NUL).
//!
//! Not here (the connection driver's job, next): stream states, flow-control
//! windows, SETTINGS acknowledgement timing, CONTINUATION sequencing across
//! frames, the flood counters (rapid reset, CONTINUATION, SETTINGS/PING),
//! pseudo-header rules per request. The frame parser hands out borrowed
//! frames; the driver owns the buffers.
#![forbid(unsafe_code)]

mod error;
pub mod fields;
pub mod frame;
pub mod hpack;
pub mod write;

pub use error::{ErrorCode, FrameError, Scope};
pub use frame::{Frame, FrameHeader, FrameType, Priority, Settings};

use std::ops::Range;

/// A byte range in a buffer the caller keeps (a [`hpack::HeaderList`]'s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes this span covers in `buf`.
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
}
