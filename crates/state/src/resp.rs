//! RESP2/RESP3 codec.
//!
//! Two parsers live here:
//! - [`parse_request`]: a request, as the log replay reads it. A request is a
//!   multibulk array of bulk strings, or an inline command line. It enforces
//!   Redis's limits and reports protocol errors in Redis's words.
//!   [`Argv::take`] is the same parse as the server runs it: arguments as
//!   slices of the read buffer, nothing allocated or copied.
//! - [`parse_frame`]: a general RESP3 frame parser, used by tests and clients.
//!
//! Both are incremental: `Ok(None)` means "incomplete, read more", never an error.
//!
//! [`Reply`] is what commands produce; it is encoded for the client's protocol
//! version (RESP2 flattens maps, turns doubles into bulk strings, and so on).

use bytes::{BufMut, Bytes, BytesMut};

/// Limits on what a client may send.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest bulk string accepted (`proto-max-bulk-len`).
    pub max_bulk_len: i64,
    /// Largest multibulk element count.
    pub max_multibulk_len: i64,
    /// Longest inline command line or count line.
    pub max_inline: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as i64,
            max_inline: 64 * 1024,
        }
    }
}

/// A malformed request. The text is what Redis sends after `-ERR `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

/// One parsed request: its arguments and the number of bytes consumed.
pub type Request = (Vec<Bytes>, usize);

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    memchr_crlf(&buf[from..]).map(|i| i + from)
}

fn memchr_crlf(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(i) = buf[start..].iter().position(|&b| b == b'\r') {
        let at = start + i;
        if at + 1 < buf.len() {
            if buf[at + 1] == b'\n' {
                return Some(at);
            }
            start = at + 1;
        } else {
            return None;
        }
    }
    None
}

/// Redis's strict integer parse for protocol counts (string2ll).
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Parses one request from the front of `buf`.
///
/// `Ok(None)`: incomplete. `Ok(Some((args, n)))`: consumed `n` bytes; `args` may be
/// empty (an empty inline line or a `*0`), which the caller skips.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<Request>, ProtocolError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'*' {
        parse_multibulk(buf, limits)
    } else {
        parse_inline(buf, limits)
    }
}

fn parse_inline(buf: &[u8], limits: &Limits) -> Result<Option<Request>, ProtocolError> {
    let nl = match buf.iter().position(|&b| b == b'\n') {
        Some(i) => i,
        None => {
            if buf.len() > limits.max_inline {
                return Err(ProtocolError("too big inline request".into()));
            }
            return Ok(None);
        }
    };
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let args =
        split_args(line).ok_or_else(|| ProtocolError("unbalanced quotes in request".into()))?;
    Ok(Some((args, nl + 1)))
}

/// C's `isspace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Splits an inline command line like `sdssplitargs`: spaces separate
/// arguments, double quotes allow escapes, single quotes are literal.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut inq = false;
        let mut insq = false;
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && is_hex(line[i + 2])
                    && is_hex(line[i + 3])
                {
                    cur.push(hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]));
                    i += 3;
                } else if line[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if line[i] == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    inq = false;
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if line[i] == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    insq = false;
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    c if is_space(c) => break,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        let _ = (inq, insq);
        out.push(Bytes::from(cur));
    }
}

fn parse_multibulk(buf: &[u8], limits: &Limits) -> Result<Option<Request>, ProtocolError> {
    let mut args = Vec::new();
    let used = scan_multibulk(buf, limits, |start, len| {
        // Copy: stored values must not pin the whole read buffer.
        args.push(Bytes::copy_from_slice(&buf[start..start + len]));
    })?;
    Ok(used.map(|used| (args, used)))
}

/// The common form of a count line's number at `buf[at..]`: digits without
/// a sign or a leading zero (or one `0`), at most 18 of them, then CRLF.
/// Returns the number and where the next line starts; None for anything
/// else, incomplete input included, which [`parse_i64`] after
/// [`find_crlf`] then judges (this only saves the second pass over the
/// digits, and the search for CR, in the usual case).
#[inline]
fn plain_count(buf: &[u8], at: usize) -> Option<(i64, usize)> {
    let first = *buf.get(at)?;
    if first == b'0' {
        return (buf.get(at + 1..at + 3)? == b"\r\n").then_some((0, at + 3));
    }
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v = i64::from(first - b'0');
    let mut i = at + 1;
    loop {
        let c = *buf.get(i)?;
        if c.is_ascii_digit() {
            if i - at >= 18 {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
            i += 1;
        } else {
            return (c == b'\r' && *buf.get(i + 1)? == b'\n').then_some((v, i + 2));
        }
    }
}

/// Finds one multibulk request at the front of `buf`: calls `arg(start, len)`
/// for each argument in order and returns the bytes the request takes, or
/// None (incomplete: some arguments may have been reported already).
#[inline]
fn scan_multibulk(
    buf: &[u8],
    limits: &Limits,
    mut arg: impl FnMut(usize, usize),
) -> Result<Option<usize>, ProtocolError> {
    let (count, mut pos) = match plain_count(buf, 1) {
        Some((c, next)) if c <= limits.max_multibulk_len => (c, next),
        _ => {
            let Some(end) = find_crlf(buf, 1) else {
                if buf.len() > limits.max_inline {
                    return Err(ProtocolError("too big mbulk count string".into()));
                }
                return Ok(None);
            };
            match parse_i64(&buf[1..end]) {
                Some(c) if c <= limits.max_multibulk_len => (c, end + 2),
                _ => return Err(ProtocolError("invalid multibulk length".into())),
            }
        }
    };
    if count <= 0 {
        return Ok(Some(pos));
    }
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] == b'$' {
            if let Some((len, start)) = plain_count(buf, pos + 1) {
                if len <= limits.max_bulk_len {
                    let len = len as usize;
                    if buf.len() < start + len + 2 {
                        return Ok(None);
                    }
                    arg(start, len);
                    pos = start + len + 2;
                    continue;
                }
            }
        }
        let Some(end) = find_crlf(buf, pos) else {
            if buf.len() - pos > limits.max_inline {
                return Err(ProtocolError("too big bulk count string".into()));
            }
            return Ok(None);
        };
        if buf[pos] != b'$' {
            return Err(ProtocolError(format!(
                "expected '$', got '{}'",
                buf[pos] as char
            )));
        }
        let len = match parse_i64(&buf[pos + 1..end]) {
            Some(l) if l >= 0 && l <= limits.max_bulk_len => l as usize,
            _ => return Err(ProtocolError("invalid bulk length".into())),
        };
        let start = end + 2;
        if buf.len() < start + len + 2 {
            return Ok(None);
        }
        arg(start, len);
        pos = start + len + 2;
    }
    Ok(Some(pos))
}

/// A connection's argument vector, reused from request to request so that
/// parsing a request allocates nothing (see [`Argv::take`]).
#[derive(Default)]
pub struct Argv {
    /// Where each argument lies in the request (start, length).
    spans: Vec<(usize, usize)>,
    /// The arguments of the last request taken.
    pub args: Vec<Bytes>,
}

impl Argv {
    /// Takes one request off the front of `buf` into [`Argv::args`]. A
    /// multibulk request (what clients send) is split off `buf` and each
    /// argument is a slice of it: a reference count, no allocation and no
    /// copy. Such slices pin the read buffer's allocation, so whoever keeps an
    /// argument past the request must copy it (see the `BORROWS_ARGS` flag of
    /// the command table, and `cmd::execute`).
    ///
    /// `Ok(true)`: a request was taken (`args` may be empty, for `*0` or a
    /// blank inline line, which the caller skips). `Ok(false)`: incomplete,
    /// nothing taken. An error leaves `buf` as it was.
    pub fn take(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<bool, ProtocolError> {
        self.args.clear();
        if buf.is_empty() {
            return Ok(false);
        }
        if buf[0] != b'*' {
            // Inline commands (telnet, tests): rare, parsed by copy.
            return Ok(match parse_inline(buf, limits)? {
                Some((args, used)) => {
                    self.args = args;
                    bytes::Buf::advance(buf, used);
                    true
                }
                None => false,
            });
        }
        self.spans.clear();
        let spans = &mut self.spans;
        let Some(used) = scan_multibulk(buf, limits, |start, len| spans.push((start, len)))? else {
            return Ok(false);
        };
        let req = buf.split_to(used).freeze();
        self.args.extend(
            self.spans
                .iter()
                .map(|&(start, len)| req.slice(start..start + len)),
        );
        Ok(true)
    }
}

/// A RESP3 frame as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+text`
    Simple(String),
    /// `-text`
    Error(String),
    /// `:n`
    Integer(i64),
    /// `$n` bulk string
    Bulk(Bytes),
    /// `$-1`, `*-1` or `_`
    Null,
    /// `*n`
    Array(Vec<Frame>),
    /// `%n`
    Map(Vec<(Frame, Frame)>),
    /// `~n`
    Set(Vec<Frame>),
    /// `>n`
    Push(Vec<Frame>),
    /// `,d` (kept as text so comparisons are exact)
    Double(String),
    /// `#t` / `#f`
    Boolean(bool),
    /// `(n`
    BigNumber(String),
    /// `=n fmt:text`
    Verbatim(String, Bytes),
}

/// Maximum nesting accepted by [`parse_frame`].
const MAX_DEPTH: usize = 64;

/// Parses one RESP3 frame; `Ok(None)` when incomplete.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    parse_frame_at(buf, 0, 0)
}

fn line_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let end = find_crlf(buf, pos)?;
    Some((&buf[pos..end], end + 2))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse_frame_at(
    buf: &[u8],
    pos: usize,
    depth: usize,
) -> Result<Option<(Frame, usize)>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError("too deep".into()));
    }
    if pos >= buf.len() {
        return Ok(None);
    }
    let Some((line, next)) = line_at(buf, pos + 1) else {
        return Ok(None);
    };
    let int = |l: &[u8]| parse_i64(l).ok_or_else(|| ProtocolError("invalid integer".into()));
    let f = match buf[pos] {
        b'+' => (Frame::Simple(text(line)), next),
        b'-' => (Frame::Error(text(line)), next),
        b':' => (Frame::Integer(int(line)?), next),
        b'_' => (Frame::Null, next),
        b',' => (Frame::Double(text(line)), next),
        b'(' => (Frame::BigNumber(text(line)), next),
        b'#' => (Frame::Boolean(line == b"t"), next),
        b'$' | b'=' | b'!' => {
            let len = int(line)?;
            if len < 0 {
                return Ok(Some((Frame::Null, next)));
            }
            let len = len as usize;
            if buf.len() < next + len + 2 {
                return Ok(None);
            }
            let data = &buf[next..next + len];
            let end = next + len + 2;
            match buf[pos] {
                b'$' => (Frame::Bulk(Bytes::copy_from_slice(data)), end),
                b'!' => (Frame::Error(text(data)), end),
                _ => {
                    if data.len() < 4 {
                        return Err(ProtocolError("bad verbatim".into()));
                    }
                    (
                        Frame::Verbatim(text(&data[..3]), Bytes::copy_from_slice(&data[4..])),
                        end,
                    )
                }
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = int(line)?;
            if n < 0 {
                return Ok(Some((Frame::Null, next)));
            }
            let items = if buf[pos] == b'%' { n * 2 } else { n };
            let mut p = next;
            let mut v = Vec::with_capacity(items.min(1024) as usize);
            for _ in 0..items {
                match parse_frame_at(buf, p, depth + 1)? {
                    Some((f, np)) => {
                        v.push(f);
                        p = np;
                    }
                    None => return Ok(None),
                }
            }
            let f = match buf[pos] {
                b'*' => Frame::Array(v),
                b'~' => Frame::Set(v),
                b'>' => Frame::Push(v),
                _ => {
                    let mut m = Vec::with_capacity(v.len() / 2);
                    let mut it = v.into_iter();
                    while let (Some(k), Some(val)) = (it.next(), it.next()) {
                        m.push((k, val));
                    }
                    Frame::Map(m)
                }
            };
            (f, p)
        }
        c => {
            return Err(ProtocolError(format!("unexpected byte {c:#x}")));
        }
    };
    Ok(Some(f))
}

// === Replies ===

/// What a command answers. Encoded per protocol version by [`Reply::encode`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Ok,
    /// `+text`
    Status(String),
    /// `-text` (text includes the prefix, e.g. `ERR ...`)
    Error(String),
    /// `:n`
    Int(i64),
    /// Bulk string.
    Bulk(Bytes),
    /// Null bulk string (`$-1` / `_`).
    Nil,
    /// Null array (`*-1` / `_`).
    NilArray,
    /// Array.
    Array(Vec<Reply>),
    /// Map (RESP2: flat array).
    Map(Vec<(Reply, Reply)>),
    /// Set (RESP2: array).
    Set(Vec<Reply>),
    /// Double (RESP2: bulk string).
    Double(f64),
    /// A double already formatted by its command (GEOPOS's `%.17Lf`
    /// trimmed); RESP2: bulk string.
    DoubleText(String),
    /// Boolean (RESP2: integer 1/0).
    Bool(bool),
    /// Out-of-band push (RESP2: array).
    Push(Vec<Reply>),
    /// Verbatim string (RESP2: bulk string).
    Verbatim(&'static str, Bytes),
    /// Several top-level replies (SUBSCRIBE to many channels).
    Multi(Vec<Reply>),
    /// No reply at all.
    None,
}

impl Reply {
    /// A bulk string from anything byte-like.
    pub fn bulk(b: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b.as_ref()))
    }
    /// `-ERR text`
    pub fn err(s: impl std::fmt::Display) -> Reply {
        Reply::Error(format!("ERR {s}"))
    }
    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the wire form for protocol `proto` (2 or 3).
    pub fn encode(&self, proto: u8, out: &mut BytesMut) {
        match self {
            Reply::Ok => out.put_slice(b"+OK\r\n"),
            Reply::Status(s) => {
                out.put_u8(b'+');
                out.put_slice(s.as_bytes());
                out.put_slice(b"\r\n");
            }
            Reply::Error(s) => {
                out.put_u8(b'-');
                for &c in s.as_bytes() {
                    out.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
                }
                out.put_slice(b"\r\n");
            }
            Reply::Int(n) => {
                out.put_u8(b':');
                put_int(out, *n);
                out.put_slice(b"\r\n");
            }
            Reply::Bulk(b) => put_bulk(out, b),
            Reply::Nil => out.put_slice(if proto >= 3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => out.put_slice(if proto >= 3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Array(v) => put_agg(out, b'*', v, proto),
            Reply::Set(v) => put_agg(out, if proto >= 3 { b'~' } else { b'*' }, v, proto),
            Reply::Push(v) => put_agg(out, if proto >= 3 { b'>' } else { b'*' }, v, proto),
            Reply::Map(m) => {
                if proto >= 3 {
                    out.put_u8(b'%');
                    put_int(out, m.len() as i64);
                } else {
                    out.put_u8(b'*');
                    put_int(out, (m.len() * 2) as i64);
                }
                out.put_slice(b"\r\n");
                for (k, v) in m {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Reply::Double(d) => {
                let s = fmt_double(*d);
                if proto >= 3 {
                    out.put_u8(b',');
                    out.put_slice(s.as_bytes());
                    out.put_slice(b"\r\n");
                } else {
                    put_bulk(out, s.as_bytes());
                }
            }
            Reply::DoubleText(s) => {
                if proto >= 3 {
                    out.put_u8(b',');
                    out.put_slice(s.as_bytes());
                    out.put_slice(b"\r\n");
                } else {
                    put_bulk(out, s.as_bytes());
                }
            }
            Reply::Bool(b) => {
                if proto >= 3 {
                    out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" });
                }
            }
            Reply::Verbatim(fmt, b) => {
                if proto >= 3 {
                    out.put_u8(b'=');
                    put_int(out, (b.len() + 4) as i64);
                    out.put_slice(b"\r\n");
                    out.put_slice(fmt.as_bytes());
                    out.put_u8(b':');
                    out.put_slice(b);
                    out.put_slice(b"\r\n");
                } else {
                    put_bulk(out, b);
                }
            }
            Reply::Multi(v) => {
                for r in v {
                    r.encode(proto, out);
                }
            }
            Reply::None => {}
        }
    }
}

fn put_int(out: &mut BytesMut, n: i64) {
    let mut b = itoa_buf(n);
    out.put_slice(b.as_bytes_mut());
}

struct IntBuf {
    buf: [u8; 20],
    start: usize,
}

impl IntBuf {
    fn as_bytes_mut(&mut self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(n: i64) -> IntBuf {
    let mut buf = [0u8; 20];
    let mut i = 20;
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    IntBuf { buf, start: i }
}

fn put_bulk(out: &mut BytesMut, b: &[u8]) {
    out.reserve(b.len() + 16);
    out.put_u8(b'$');
    put_int(out, b.len() as i64);
    out.put_slice(b"\r\n");
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

fn put_agg(out: &mut BytesMut, kind: u8, v: &[Reply], proto: u8) {
    out.put_u8(kind);
    put_int(out, v.len() as i64);
    out.put_slice(b"\r\n");
    for r in v {
        r.encode(proto, out);
    }
}

/// Formats a double like Redis's reply code (`%.17g`, `inf`, `-inf`).
pub fn fmt_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    fmt_g(d, 17)
}

/// C's `%.{prec}g`.
pub fn fmt_g(d: f64, prec: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{:.*e}", prec - 1, d);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mut m = mant.to_string();
        if m.contains('.') {
            while m.ends_with('0') {
                m.pop();
            }
            if m.ends_with('.') {
                m.pop();
            }
        }
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        let mut s = format!("{:.*}", decimals, d);
        if s.contains('.') {
            while s.ends_with('0') {
                s.pop();
            }
            if s.ends_with('.') {
                s.pop();
            }
        }
        s
    }
}

/// Encodes a command as a RESP array of bulk strings (for the log and clients).
pub fn encode_command(args: &[impl AsRef<[u8]>], out: &mut BytesMut) {
    out.put_u8(b'*');
    put_int(out, args.len() as i64);
    out.put_slice(b"\r\n");
    for a in args {
        put_bulk(out, a.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &[u8]) -> Result<Option<Request>, ProtocolError> {
        parse_request(s, &Limits::default())
    }

    /// `Argv::take` reads what `parse_request` reads, one request at a
    /// time, without copying: each argument points into the read buffer.
    #[test]
    fn argv_take_slices_the_buffer() {
        let input: &[u8] = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*0\r\nPING  x\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv";
        let mut buf = BytesMut::with_capacity(256);
        buf.extend_from_slice(input);
        let base = buf.as_ptr() as usize;
        let mut argv = Argv::default();
        let limits = Limits::default();
        let mut rest = input;
        let mut taken = Vec::new();
        while argv.take(&mut buf, &limits).expect("valid") {
            let (want, used) = req(rest).expect("valid").expect("complete");
            assert_eq!(argv.args, want);
            rest = &rest[used..];
            taken.push(argv.args.clone());
        }
        assert_eq!(taken.len(), 3, "GET, the empty *0, the inline PING");
        assert!(taken[1].is_empty());
        // The multibulk arguments are views of the buffer, not copies.
        let at = taken[0][1].as_ptr() as usize;
        assert!((base..base + input.len()).contains(&at));
        // The incomplete SET is left in the buffer, whole.
        assert_eq!(&buf[..], rest);
        assert!(argv.args.is_empty());
        buf.extend_from_slice(b"\r\n");
        assert!(argv.take(&mut buf, &limits).expect("valid"));
        assert_eq!(argv.args, [&b"SET"[..], b"k", b"v"]);
        assert!(buf.is_empty());
        // A malformed request takes nothing.
        buf.extend_from_slice(b"*1\r\n+x\r\n");
        assert!(argv.take(&mut buf, &limits).is_err());
        assert_eq!(&buf[..], b"*1\r\n+x\r\n");
    }

    #[test]
    fn incomplete_is_not_an_error() {
        let full = b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n";
        for i in 0..full.len() {
            assert_eq!(req(&full[..i]).unwrap(), None, "prefix {i}");
        }
        let (args, n) = req(full).unwrap().unwrap();
        assert_eq!(n, full.len());
        assert_eq!(args, vec![Bytes::from("GET"), Bytes::from("foo")]);
    }

    #[test]
    fn inline() {
        let (args, n) = req(b"set a \"b c\\x41\" 'd'\r\nrest").unwrap().unwrap();
        assert_eq!(n, 21);
        assert_eq!(args, vec!["set", "a", "b cA", "d"]);
        assert!(req(b"set \"a\r\n").is_err());
    }

    #[test]
    fn errors_match_redis() {
        assert_eq!(
            req(b"*2\r\n:3\r\n").unwrap_err().to_string(),
            "Protocol error: expected '$', got ':'"
        );
        assert_eq!(
            req(b"*x\r\n").unwrap_err().to_string(),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            req(b"*1\r\n$999999999999\r\n").unwrap_err().to_string(),
            "Protocol error: invalid bulk length"
        );
    }

    #[test]
    fn g17() {
        assert_eq!(fmt_double(1.1), "1.1000000000000001");
        assert_eq!(fmt_double(1.5), "1.5");
        assert_eq!(fmt_double(3.0), "3");
        assert_eq!(fmt_double(1e20), "1e+20");
        assert_eq!(fmt_double(0.0001), "0.0001");
        assert_eq!(fmt_double(0.00001), "1.0000000000000001e-05");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = req(&data);
            let _ = parse_frame(&data);
        }

        /// The fast count parse accepts only what the slow one reads the same.
        #[test]
        fn plain_count_agrees(line in "[-+0-9a ]{0,22}(\r\n)?") {
            let b = line.as_bytes();
            if let Some((v, next)) = plain_count(b, 0) {
                let end = find_crlf(b, 0).expect("a CRLF");
                proptest::prop_assert_eq!(next, end + 2);
                proptest::prop_assert_eq!(parse_i64(&b[..end]), Some(v));
            }
        }

        #[test]
        fn roundtrip(args in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 1..8)) {
            let mut out = BytesMut::new();
            encode_command(&args, &mut out);
            let (parsed, n) = req(&out).unwrap().unwrap();
            proptest::prop_assert_eq!(n, out.len());
            let parsed: Vec<Vec<u8>> = parsed.iter().map(|b| b.to_vec()).collect();
            proptest::prop_assert_eq!(parsed, args);
        }
    }
}
