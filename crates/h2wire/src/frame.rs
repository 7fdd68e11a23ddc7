//! Reading frames (RFC 9113 §4, §6): the client preface, the 9-byte frame
//! header, and every frame type a server receives, each refused the way the
//! RFC says when it is malformed.
//!
//! [`parse`] takes the bytes read so far and returns a complete frame
//! borrowed from them and how many bytes it took, or `None` while the frame
//! is incomplete. A frame longer than our SETTINGS_MAX_FRAME_SIZE is refused
//! as soon as its header is in, before its payload is buffered.
//!
//! What depends on connection state is not checked here: which streams are
//! open, CONTINUATION following its HEADERS, flow-control windows, even
//! stream ids from a client, and a HEADERS frame whose priority names its own
//! stream (a stream error, but only after its field block has been decoded:
//! HPACK state is per connection). [`Frame::Headers`] hands the priority out
//! for that check.

use crate::error::{ErrorCode, FrameError};

/// The client connection preface (§3.4), before its SETTINGS frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The 9-byte frame header.
pub const HEADER_LEN: usize = 9;

/// SETTINGS_MAX_FRAME_SIZE's initial value and lowest allowed value.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// SETTINGS_MAX_FRAME_SIZE's highest allowed value.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;
/// The largest flow-control window (§6.9.1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;
/// SETTINGS_INITIAL_WINDOW_SIZE's initial value.
pub const DEFAULT_WINDOW: u32 = 65_535;

/// Frame flags (§6).
pub mod flags {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameter identifiers (§6.5.2; 0x8 from RFC 8441, 0x9 from RFC 9218).
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
    pub const NO_RFC7540_PRIORITIES: u16 = 0x9;
}

/// Is `buf` (the first bytes from a client) the preface so far?
/// `Ok(true)`: all 24 bytes are in (frames follow them); `Ok(false)`: a
/// correct prefix, read more; `Err`: not HTTP/2 with prior knowledge
/// (a connection error of type PROTOCOL_ERROR; nothing to send but close).
pub fn check_preface(buf: &[u8]) -> Result<bool, FrameError> {
    let n = buf.len().min(PREFACE.len());
    if buf[..n] != PREFACE[..n] {
        return Err(FrameError::conn(
            ErrorCode::PROTOCOL_ERROR,
            "bad-preface",
            0,
        ));
    }
    Ok(n == PREFACE.len())
}

/// Frame types (§6, §11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    /// A type we do not know: ignored (§4.1), except inside a field block.
    Unknown(u8),
}

impl FrameType {
    pub fn from_u8(t: u8) -> FrameType {
        match t {
            0x0 => FrameType::Data,
            0x1 => FrameType::Headers,
            0x2 => FrameType::Priority,
            0x3 => FrameType::RstStream,
            0x4 => FrameType::Settings,
            0x5 => FrameType::PushPromise,
            0x6 => FrameType::Ping,
            0x7 => FrameType::GoAway,
            0x8 => FrameType::WindowUpdate,
            0x9 => FrameType::Continuation,
            other => FrameType::Unknown(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            FrameType::Data => 0x0,
            FrameType::Headers => 0x1,
            FrameType::Priority => 0x2,
            FrameType::RstStream => 0x3,
            FrameType::Settings => 0x4,
            FrameType::PushPromise => 0x5,
            FrameType::Ping => 0x6,
            FrameType::GoAway => 0x7,
            FrameType::WindowUpdate => 0x8,
            FrameType::Continuation => 0x9,
            FrameType::Unknown(t) => t,
        }
    }
}

/// The 9-byte frame header (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub len: u32,
    pub kind: FrameType,
    pub flags: u8,
    /// The stream identifier, reserved bit cleared.
    pub stream: u32,
}

impl FrameHeader {
    /// The header at the start of `buf`, if 9 bytes are there.
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        let h: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: FrameType::from_u8(h[3]),
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & MAX_WINDOW,
        })
    }

    fn has(self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A stream's priority as RFC 7540 defined it (§5.3 of 9113 deprecates the
/// scheme; we parse it to check it and otherwise ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    pub exclusive: bool,
    pub dependency: u32,
    /// The weight on the wire (0–255 for 1–256).
    pub weight: u8,
}

impl Priority {
    fn parse(b: &[u8]) -> Priority {
        let dep = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        Priority {
            exclusive: dep & 0x8000_0000 != 0,
            dependency: dep & MAX_WINDOW,
            weight: b[4],
        }
    }
}

/// A complete frame, borrowing its payload from the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    Data {
        stream: u32,
        /// The data, padding removed.
        data: &'a [u8],
        end_stream: bool,
        /// The whole payload length, padding included: what flow control
        /// counts (§6.9).
        flow_len: u32,
    },
    Headers {
        stream: u32,
        /// The field block fragment, padding and priority removed.
        block: &'a [u8],
        end_stream: bool,
        end_headers: bool,
        priority: Option<Priority>,
    },
    Priority {
        stream: u32,
        priority: Priority,
    },
    RstStream {
        stream: u32,
        code: ErrorCode,
    },
    Settings {
        ack: bool,
        params: SettingsParams<'a>,
    },
    Ping {
        ack: bool,
        data: [u8; 8],
    },
    GoAway {
        last_stream: u32,
        code: ErrorCode,
        debug: &'a [u8],
    },
    WindowUpdate {
        stream: u32,
        increment: u32,
    },
    Continuation {
        stream: u32,
        block: &'a [u8],
        end_headers: bool,
    },
    /// A frame type we do not know: skip it (§4.1), unless a field block is
    /// in progress (then it is a PROTOCOL_ERROR, §6.10).
    Unknown {
        kind: u8,
        stream: u32,
    },
}

impl Frame<'_> {
    /// The stream the frame is on (0 for connection frames).
    pub fn stream(&self) -> u32 {
        match *self {
            Frame::Data { stream, .. }
            | Frame::Headers { stream, .. }
            | Frame::Priority { stream, .. }
            | Frame::RstStream { stream, .. }
            | Frame::WindowUpdate { stream, .. }
            | Frame::Continuation { stream, .. }
            | Frame::Unknown { stream, .. } => stream,
            Frame::Settings { .. } | Frame::Ping { .. } | Frame::GoAway { .. } => 0,
        }
    }
}

/// The parameters of a SETTINGS frame, already checked: every known
/// parameter's value is in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingsParams<'a>(&'a [u8]);

impl<'a> SettingsParams<'a> {
    /// (identifier, value) in the order sent, unknown identifiers included.
    pub fn iter(self) -> impl Iterator<Item = (u16, u32)> + 'a {
        self.0.chunks_exact(6).map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
            )
        })
    }
}

/// A peer's settings (§6.5.2), starting at the RFC's initial values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub header_table_size: u32,
    pub enable_push: bool,
    /// `None`: unlimited (the initial value).
    pub max_concurrent_streams: Option<u32>,
    pub initial_window_size: u32,
    pub max_frame_size: u32,
    /// `None`: unlimited (the initial value).
    pub max_header_list_size: Option<u32>,
    pub enable_connect_protocol: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            header_table_size: 4096,
            enable_push: true,
            max_concurrent_streams: None,
            initial_window_size: DEFAULT_WINDOW,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
            enable_connect_protocol: false,
        }
    }
}

impl Settings {
    /// Apply a SETTINGS frame's parameters in order (later ones win).
    pub fn apply(&mut self, params: SettingsParams<'_>) {
        for (id, value) in params.iter() {
            match id {
                setting::HEADER_TABLE_SIZE => self.header_table_size = value,
                setting::ENABLE_PUSH => self.enable_push = value == 1,
                setting::MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(value),
                setting::INITIAL_WINDOW_SIZE => self.initial_window_size = value,
                setting::MAX_FRAME_SIZE => self.max_frame_size = value,
                setting::MAX_HEADER_LIST_SIZE => self.max_header_list_size = Some(value),
                setting::ENABLE_CONNECT_PROTOCOL => self.enable_connect_protocol = value == 1,
                _ => {}
            }
        }
    }
}

/// Parse the frame at the start of `buf`: `Ok(Some((frame, bytes used)))`,
/// `Ok(None)` until the whole frame is in, or the RFC's verdict on it.
/// `max_frame_size` is our SETTINGS_MAX_FRAME_SIZE (16,384 until the peer
/// has acknowledged a larger one).
pub fn parse(buf: &[u8], max_frame_size: u32) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    let Some(h) = FrameHeader::parse(buf) else {
        return Ok(None);
    };
    let total = HEADER_LEN + h.len as usize;
    if h.len > max_frame_size {
        // A connection error for every type: the frame may carry a field
        // block or change connection state (§4.2), and we will not buffer it.
        return Err(FrameError::conn(
            ErrorCode::FRAME_SIZE_ERROR,
            "frame-too-large",
            total,
        ));
    }
    let Some(payload) = buf.get(HEADER_LEN..total) else {
        return Ok(None);
    };
    parse_payload(h, payload).map(|f| Some((f, total)))
}

/// Check and take apart one payload whose header is `h`.
pub fn parse_payload(h: FrameHeader, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    use ErrorCode as E;
    let total = HEADER_LEN + payload.len();
    let conn = |code, reason| FrameError::conn(code, reason, total);
    let needs_stream = |reason| {
        if h.stream == 0 {
            Err(FrameError::conn(E::PROTOCOL_ERROR, reason, total))
        } else {
            Ok(())
        }
    };
    let no_stream = |reason| {
        if h.stream != 0 {
            Err(FrameError::conn(E::PROTOCOL_ERROR, reason, total))
        } else {
            Ok(())
        }
    };
    let frame = match h.kind {
        FrameType::Data => {
            needs_stream("data-on-stream-0")?;
            let data = unpad(h, payload, total)?;
            Frame::Data {
                stream: h.stream,
                data,
                end_stream: h.has(flags::END_STREAM),
                flow_len: h.len,
            }
        }
        FrameType::Headers => {
            needs_stream("headers-on-stream-0")?;
            let mut block = unpad(h, payload, total)?;
            let mut priority = None;
            if h.has(flags::PRIORITY) {
                if block.len() < 5 {
                    return Err(conn(E::FRAME_SIZE_ERROR, "headers-priority-short"));
                }
                priority = Some(Priority::parse(block));
                block = &block[5..];
            }
            Frame::Headers {
                stream: h.stream,
                block,
                end_stream: h.has(flags::END_STREAM),
                end_headers: h.has(flags::END_HEADERS),
                priority,
            }
        }
        FrameType::Priority => {
            needs_stream("priority-on-stream-0")?;
            if payload.len() != 5 {
                return Err(FrameError::stream(
                    E::FRAME_SIZE_ERROR,
                    h.stream,
                    "priority-size",
                    total,
                ));
            }
            let priority = Priority::parse(payload);
            if priority.dependency == h.stream {
                return Err(FrameError::stream(
                    E::PROTOCOL_ERROR,
                    h.stream,
                    "priority-self-dependency",
                    total,
                ));
            }
            Frame::Priority {
                stream: h.stream,
                priority,
            }
        }
        FrameType::RstStream => {
            needs_stream("rst-on-stream-0")?;
            let code: [u8; 4] = payload
                .try_into()
                .map_err(|_| conn(E::FRAME_SIZE_ERROR, "rst-size"))?;
            Frame::RstStream {
                stream: h.stream,
                code: ErrorCode(u32::from_be_bytes(code)),
            }
        }
        FrameType::Settings => {
            no_stream("settings-on-stream")?;
            let ack = h.has(flags::ACK);
            if ack && !payload.is_empty() {
                return Err(conn(E::FRAME_SIZE_ERROR, "settings-ack-with-payload"));
            }
            if !payload.len().is_multiple_of(6) {
                return Err(conn(E::FRAME_SIZE_ERROR, "settings-size"));
            }
            let params = SettingsParams(payload);
            for (id, value) in params.iter() {
                check_setting(id, value).map_err(|(code, reason)| conn(code, reason))?;
            }
            Frame::Settings { ack, params }
        }
        FrameType::PushPromise => {
            // §8.4: only servers push; a client that sends one is broken.
            return Err(conn(E::PROTOCOL_ERROR, "push-promise-from-client"));
        }
        FrameType::Ping => {
            no_stream("ping-on-stream")?;
            let data: [u8; 8] = payload
                .try_into()
                .map_err(|_| conn(E::FRAME_SIZE_ERROR, "ping-size"))?;
            Frame::Ping {
                ack: h.has(flags::ACK),
                data,
            }
        }
        FrameType::GoAway => {
            no_stream("goaway-on-stream")?;
            if payload.len() < 8 {
                return Err(conn(E::FRAME_SIZE_ERROR, "goaway-size"));
            }
            Frame::GoAway {
                last_stream: u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                    & MAX_WINDOW,
                code: ErrorCode(u32::from_be_bytes([
                    payload[4], payload[5], payload[6], payload[7],
                ])),
                debug: &payload[8..],
            }
        }
        FrameType::WindowUpdate => {
            let inc: [u8; 4] = payload
                .try_into()
                .map_err(|_| conn(E::FRAME_SIZE_ERROR, "window-update-size"))?;
            let increment = u32::from_be_bytes(inc) & MAX_WINDOW;
            if increment == 0 {
                return Err(if h.stream == 0 {
                    conn(E::PROTOCOL_ERROR, "window-update-zero")
                } else {
                    FrameError::stream(E::PROTOCOL_ERROR, h.stream, "window-update-zero", total)
                });
            }
            Frame::WindowUpdate {
                stream: h.stream,
                increment,
            }
        }
        FrameType::Continuation => {
            needs_stream("continuation-on-stream-0")?;
            Frame::Continuation {
                stream: h.stream,
                block: payload,
                end_headers: h.has(flags::END_HEADERS),
            }
        }
        FrameType::Unknown(kind) => Frame::Unknown {
            kind,
            stream: h.stream,
        },
    };
    Ok(frame)
}

/// The payload of a DATA or HEADERS frame without its padding (§6.1, §6.2).
fn unpad(h: FrameHeader, payload: &[u8], total: usize) -> Result<&[u8], FrameError> {
    if !h.has(flags::PADDED) {
        return Ok(payload);
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return Err(FrameError::conn(
            ErrorCode::FRAME_SIZE_ERROR,
            "padded-empty",
            total,
        ));
    };
    let pad = usize::from(pad);
    if pad > rest.len() {
        return Err(FrameError::conn(
            ErrorCode::PROTOCOL_ERROR,
            "padding-too-long",
            total,
        ));
    }
    Ok(&rest[..rest.len() - pad])
}

/// §6.5.2: values out of range for the known parameters.
fn check_setting(id: u16, value: u32) -> Result<(), (ErrorCode, &'static str)> {
    match id {
        setting::ENABLE_PUSH if value > 1 => {
            Err((ErrorCode::PROTOCOL_ERROR, "settings-enable-push"))
        }
        setting::INITIAL_WINDOW_SIZE if value > MAX_WINDOW => {
            Err((ErrorCode::FLOW_CONTROL_ERROR, "settings-window-too-large"))
        }
        setting::MAX_FRAME_SIZE
            if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) =>
        {
            Err((ErrorCode::PROTOCOL_ERROR, "settings-max-frame-size"))
        }
        setting::ENABLE_CONNECT_PROTOCOL | setting::NO_RFC7540_PRIORITIES if value > 1 => {
            Err((ErrorCode::PROTOCOL_ERROR, "settings-boolean"))
        }
        _ => Ok(()),
    }
}
