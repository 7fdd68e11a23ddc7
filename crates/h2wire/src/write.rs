//! Writing frames: each function appends one frame (or a HEADERS frame and
//! its CONTINUATIONs) to `dst`, any [`BufMut`] (`Vec<u8>`, `BytesMut`). No
//! allocation beyond what `dst` needs to grow; a connection reuses one write
//! buffer for every frame it sends.
//!
//! The caller keeps to the peer's limits (SETTINGS_MAX_FRAME_SIZE for DATA,
//! the flow-control windows): these encoders write what they are given.

use bytes::BufMut;

use crate::error::ErrorCode;
use crate::frame::{flags, FrameType, Priority, HEADER_LEN, MAX_WINDOW};

/// The 9-byte frame header.
pub fn frame_header<B: BufMut>(dst: &mut B, len: usize, kind: FrameType, flags: u8, stream: u32) {
    debug_assert!(len < 1 << 24);
    let len = len as u32;
    dst.put_slice(&len.to_be_bytes()[1..]);
    dst.put_u8(kind.as_u8());
    dst.put_u8(flags);
    dst.put_u32(stream & MAX_WINDOW);
}

/// A DATA frame.
pub fn data<B: BufMut>(dst: &mut B, stream: u32, data: &[u8], end_stream: bool) {
    let f = if end_stream { flags::END_STREAM } else { 0 };
    frame_header(dst, data.len(), FrameType::Data, f, stream);
    dst.put_slice(data);
}

/// A DATA frame with `pad` bytes of padding (zeros) after the data.
pub fn data_padded<B: BufMut>(dst: &mut B, stream: u32, data: &[u8], pad: u8, end_stream: bool) {
    let f = flags::PADDED | if end_stream { flags::END_STREAM } else { 0 };
    frame_header(
        dst,
        1 + data.len() + usize::from(pad),
        FrameType::Data,
        f,
        stream,
    );
    dst.put_u8(pad);
    dst.put_slice(data);
    dst.put_bytes(0, usize::from(pad));
}

/// A field block as HEADERS, then as many CONTINUATION frames as it takes
/// for no frame to exceed `max_frame_size` (the peer's setting).
pub fn headers<B: BufMut>(
    dst: &mut B,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
) {
    let max = (max_frame_size as usize).max(1);
    let mut chunks = block.chunks(max);
    let first = chunks.next().unwrap_or_default();
    let mut f = if end_stream { flags::END_STREAM } else { 0 };
    if first.len() == block.len() {
        f |= flags::END_HEADERS;
    }
    frame_header(dst, first.len(), FrameType::Headers, f, stream);
    dst.put_slice(first);
    let mut sent = first.len();
    for chunk in chunks {
        sent += chunk.len();
        let f = if sent == block.len() {
            flags::END_HEADERS
        } else {
            0
        };
        frame_header(dst, chunk.len(), FrameType::Continuation, f, stream);
        dst.put_slice(chunk);
    }
}

/// A HEADERS frame with a priority and padding (clients send these; for
/// tests of our parser).
pub fn headers_with_priority<B: BufMut>(
    dst: &mut B,
    stream: u32,
    block: &[u8],
    priority: Priority,
    pad: u8,
    end_stream: bool,
) {
    let mut f = flags::END_HEADERS | flags::PRIORITY;
    if end_stream {
        f |= flags::END_STREAM;
    }
    if pad > 0 {
        f |= flags::PADDED;
    }
    let pad_len = if pad > 0 { 1 + usize::from(pad) } else { 0 };
    frame_header(
        dst,
        pad_len + 5 + block.len(),
        FrameType::Headers,
        f,
        stream,
    );
    if pad > 0 {
        dst.put_u8(pad);
    }
    put_priority(dst, priority);
    dst.put_slice(block);
    dst.put_bytes(0, usize::from(pad));
}

fn put_priority<B: BufMut>(dst: &mut B, p: Priority) {
    let excl = if p.exclusive { 0x8000_0000 } else { 0 };
    dst.put_u32(excl | (p.dependency & MAX_WINDOW));
    dst.put_u8(p.weight);
}

/// A PRIORITY frame.
pub fn priority<B: BufMut>(dst: &mut B, stream: u32, p: Priority) {
    frame_header(dst, 5, FrameType::Priority, 0, stream);
    put_priority(dst, p);
}

/// An RST_STREAM frame.
pub fn rst_stream<B: BufMut>(dst: &mut B, stream: u32, code: ErrorCode) {
    frame_header(dst, 4, FrameType::RstStream, 0, stream);
    dst.put_u32(code.0);
}

/// A SETTINGS frame with these (identifier, value) parameters.
pub fn settings<B: BufMut>(dst: &mut B, params: &[(u16, u32)]) {
    frame_header(dst, 6 * params.len(), FrameType::Settings, 0, 0);
    for &(id, value) in params {
        dst.put_u16(id);
        dst.put_u32(value);
    }
}

/// A SETTINGS frame acknowledging the peer's.
pub fn settings_ack<B: BufMut>(dst: &mut B) {
    frame_header(dst, 0, FrameType::Settings, flags::ACK, 0);
}

/// A PING (or its acknowledgement, echoing the peer's 8 bytes).
pub fn ping<B: BufMut>(dst: &mut B, ack: bool, data: [u8; 8]) {
    frame_header(dst, 8, FrameType::Ping, if ack { flags::ACK } else { 0 }, 0);
    dst.put_slice(&data);
}

/// A GOAWAY frame: the last stream we will process, why, and a debug text.
pub fn goaway<B: BufMut>(dst: &mut B, last_stream: u32, code: ErrorCode, debug: &[u8]) {
    frame_header(dst, 8 + debug.len(), FrameType::GoAway, 0, 0);
    dst.put_u32(last_stream & MAX_WINDOW);
    dst.put_u32(code.0);
    dst.put_slice(debug);
}

/// A WINDOW_UPDATE frame (`increment` 1..=2^31-1; 0 is a protocol error).
pub fn window_update<B: BufMut>(dst: &mut B, stream: u32, increment: u32) {
    debug_assert!(increment > 0 && increment <= MAX_WINDOW);
    frame_header(dst, 4, FrameType::WindowUpdate, 0, stream);
    dst.put_u32(increment & MAX_WINDOW);
}

/// Bytes [`headers`] writes for a block of `block_len` bytes: for sizing a
/// buffer up front.
pub fn headers_len(block_len: usize, max_frame_size: u32) -> usize {
    let frames = block_len.div_ceil((max_frame_size as usize).max(1)).max(1);
    block_len + frames * HEADER_LEN
}
