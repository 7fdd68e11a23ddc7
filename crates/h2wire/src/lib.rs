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
//! - [`conn`]: a server connection's state as a pure machine (bytes in,
//!   events and frames out): preface and SETTINGS, stream states and ids,
//!   flow-control windows both ways, field blocks over CONTINUATION,
//!   requests checked, the concurrent stream limit and the flood counters
//!   (rapid reset, CONTINUATION, control frames, HPACK bomb).
//!
//! Not here: I/O. The driver (the client connection's task in the front
//! door, still to be written) owns the socket and the buffers, calls
//! [`conn::Connection::recv`] on what it read and writes what comes out.
#![forbid(unsafe_code)]

pub mod conn;
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
