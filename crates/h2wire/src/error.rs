//! HTTP/2 error codes (RFC 9113 §7) and a refused frame's verdict.

/// An HTTP/2 error code, as sent in RST_STREAM and GOAWAY. Unknown codes
/// received from a peer are kept as they are (§7: treat as INTERNAL_ERROR
/// only when acting on them).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The RFC's name, or `None` for a code it does not define.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        NAMES.get(self.0 as usize).copied()
    }
}

impl std::fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "ErrorCode({:#x})", self.0),
        }
    }
}

/// What an error ends (RFC 9113 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The connection: send GOAWAY with the code and close.
    Connection,
    /// One stream: send RST_STREAM with the code on it; the connection goes
    /// on (the frame's bytes are skipped: [`FrameError::frame_len`]).
    Stream(u32),
}

/// A frame refused by the parser: the code to send, what it ends, and a
/// short token for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    pub code: ErrorCode,
    pub scope: Scope,
    pub reason: &'static str,
    /// Bytes of the whole frame (header included): what to skip to go on
    /// after a stream error.
    pub frame_len: usize,
}

impl FrameError {
    pub(crate) fn conn(code: ErrorCode, reason: &'static str, frame_len: usize) -> Self {
        FrameError {
            code,
            scope: Scope::Connection,
            reason,
            frame_len,
        }
    }

    pub(crate) fn stream(code: ErrorCode, id: u32, reason: &'static str, frame_len: usize) -> Self {
        FrameError {
            code,
            scope: Scope::Stream(id),
            reason,
            frame_len,
        }
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?}, {:?})", self.reason, self.code, self.scope)
    }
}

impl std::error::Error for FrameError {}
