//! HPACK (RFC 7541): header compression for HTTP/2.
//!
//! - [`Decoder`]: decodes a complete field block into a reused [`HeaderList`]
//!   (one byte buffer plus spans: no allocation per field once the buffers
//!   have grown). The decoded list size (§4.1 of RFC 9113's
//!   SETTINGS_MAX_HEADER_LIST_SIZE: name + value + 32 per field) is counted
//!   as fields are decoded; past the limit the block is still decoded, to
//!   keep the dynamic table in step with the peer's encoder, but no more
//!   fields are kept (the HPACK bomb: a few bytes referencing a large table
//!   entry many times costs a counter, not memory).
//! - [`Encoder`]: encodes response (or request) fields: static-table indices
//!   where the static table has the pair or the name, Huffman where shorter,
//!   and the dynamic table for fields the caller marks as worth indexing.
//!
//! Every decoding error is a connection error of type COMPRESSION_ERROR
//! (RFC 9113 §4.3): the peer's encoder and our decoder no longer agree.

mod decoder;
mod encoder;
pub(crate) mod huffman;
mod table;

pub use decoder::{DecodeError, Decoder, HeaderField, HeaderList};
pub use encoder::{Encoder, Indexing, MAX_ENCODER_TABLE};

/// The dynamic table size both sides assume until SETTINGS say otherwise
/// (SETTINGS_HEADER_TABLE_SIZE's initial value).
pub const DEFAULT_TABLE_SIZE: usize = 4096;
