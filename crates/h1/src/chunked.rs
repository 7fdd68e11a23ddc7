//! The chunked transfer coding (RFC 9112 §7.1): an incremental decoder and the
//! pieces of an encoder.
//!
//! The decoder is a byte-at-a-time state machine except for chunk data, which
//! it hands back as ranges of the caller's input (no copy). Feeding the same
//! bytes in any split gives the same data and the same verdict. It is strict
//! where leniency lets two parsers disagree about where a body ends: the size
//! is one or more hex digits, then `;extensions` or CRLF (no whitespace), every
//! line ends in CRLF (never a bare LF), data is followed by CRLF, trailer lines
//! are `name:value` fields. Extensions (counted over the whole body) and
//! trailers are bounded; both are checked and dropped, not returned.

use std::ops::Range;

use crate::error::Error;

/// Bounds on what a chunked body may spend outside its data.
#[derive(Debug, Clone, Copy)]
pub struct ChunkedLimits {
    /// Chunk-extension bytes over the whole body (`;` included).
    pub max_extension_bytes: usize,
    /// Trailer section bytes (every trailer line, CRLFs included).
    pub max_trailer_bytes: usize,
    /// Trailer field lines.
    pub max_trailers: usize,
}

impl Default for ChunkedLimits {
    fn default() -> Self {
        ChunkedLimits {
            max_extension_bytes: 4096,
            max_trailer_bytes: 8192,
            max_trailers: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The first hex digit of a chunk size.
    SizeStart,
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// The start of a trailer line, or the CR of the final empty line.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
}

/// What one [`ChunkedDecoder::decode`] call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Input bytes used (data included); the caller drops them.
    pub consumed: usize,
    /// Body data within the input, if this step reached some.
    pub data: Option<Range<usize>>,
    /// The body ended (last chunk and trailers read); the next message starts
    /// at `consumed`.
    pub done: bool,
}

/// Decodes one chunked body, fed in whatever pieces the socket gives.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// The size being read, then the data left in the current chunk.
    size: u64,
    extension_bytes: usize,
    trailer_bytes: usize,
    trailers: usize,
    limits: ChunkedLimits,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new(ChunkedLimits::default())
    }
}

impl ChunkedDecoder {
    pub fn new(limits: ChunkedLimits) -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            size: 0,
            extension_bytes: 0,
            trailer_bytes: 0,
            trailers: 0,
            limits,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decode from the start of `input` until some data is reached, the body
    /// ends, or the input runs out. Call again with the unconsumed rest (and
    /// more bytes as they arrive) until `done`.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, Error> {
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Data {
                let n = (input.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                return Ok(Step {
                    consumed: i + n,
                    data: Some(i..i + n),
                    done: false,
                });
            }
            if self.state == State::Done {
                break;
            }
            let b = input[i];
            i += 1;
            self.state = self.step(b)?;
            if self.state == State::Done {
                break;
            }
        }
        Ok(Step {
            consumed: i,
            data: None,
            done: self.state == State::Done,
        })
    }

    /// Decode as much of `input` as possible, appending data to `out`. Returns
    /// the bytes consumed and whether the body ended.
    pub fn decode_into(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), Error> {
        let mut pos = 0;
        loop {
            let step = self.decode(&input[pos..])?;
            if let Some(r) = step.data {
                out.extend_from_slice(&input[pos + r.start..pos + r.end]);
            }
            pos += step.consumed;
            if step.done || step.consumed == 0 || pos == input.len() {
                return Ok((pos, step.done));
            }
        }
    }

    fn step(&mut self, b: u8) -> Result<State, Error> {
        use State::*;
        Ok(match self.state {
            SizeStart => {
                self.size = u64::from(hex(b).ok_or(Error::BadChunkSize)?);
                Size
            }
            Size => match (b, hex(b)) {
                (_, Some(d)) => {
                    if self.size > u64::MAX >> 4 {
                        return Err(Error::ChunkSizeOverflow);
                    }
                    self.size = self.size << 4 | u64::from(d);
                    Size
                }
                (b';', _) => {
                    self.extension(1)?;
                    Extension
                }
                (b'\r', _) => SizeLf,
                _ => return Err(Error::BadChunkSize),
            },
            Extension => match b {
                b'\r' => SizeLf,
                b'\t' | b' '..=b'~' | 0x80.. => {
                    self.extension(1)?;
                    Extension
                }
                _ => return Err(Error::BadChunkSize),
            },
            SizeLf => match b {
                b'\n' if self.size == 0 => TrailerStart,
                b'\n' => Data,
                _ => return Err(Error::BadChunkDelimiter),
            },
            // Data never reaches here: `decode` hands it back as a range.
            Data => Data,
            DataCr => match b {
                b'\r' => DataLf,
                _ => return Err(Error::BadChunkDelimiter),
            },
            DataLf => match b {
                b'\n' => SizeStart,
                _ => return Err(Error::BadChunkDelimiter),
            },
            TrailerStart => match b {
                b'\r' => EndLf,
                _ if is_tchar(b) => {
                    self.trailer_byte()?;
                    TrailerName
                }
                _ => return Err(Error::BadTrailer),
            },
            TrailerName => {
                self.trailer_byte()?;
                match b {
                    b':' => TrailerValue,
                    _ if is_tchar(b) => TrailerName,
                    _ => return Err(Error::BadTrailer),
                }
            }
            TrailerValue => {
                self.trailer_byte()?;
                match b {
                    b'\r' => TrailerLf,
                    b'\t' | b' '..=b'~' | 0x80.. => TrailerValue,
                    _ => return Err(Error::BadTrailer),
                }
            }
            TrailerLf => match b {
                b'\n' => {
                    self.trailer_byte()?;
                    self.trailers += 1;
                    if self.trailers > self.limits.max_trailers {
                        return Err(Error::TrailersTooLarge);
                    }
                    TrailerStart
                }
                _ => return Err(Error::BadChunkDelimiter),
            },
            EndLf => match b {
                b'\n' => Done,
                _ => return Err(Error::BadChunkDelimiter),
            },
            Done => Done,
        })
    }

    fn extension(&mut self, n: usize) -> Result<(), Error> {
        self.extension_bytes += n;
        if self.extension_bytes > self.limits.max_extension_bytes {
            return Err(Error::ChunkExtensionsTooLong);
        }
        Ok(())
    }

    fn trailer_byte(&mut self) -> Result<(), Error> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > self.limits.max_trailer_bytes {
            return Err(Error::TrailersTooLarge);
        }
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `tchar` (RFC 9110 §5.6.2): the characters of a field name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

// === encoder ===

/// The size line that precedes a chunk of data: `{hex size}\r\n`. Written in
/// the same `writev` as the data and [`CHUNK_END`], so encoding copies nothing.
#[derive(Debug, Clone, Copy)]
pub struct ChunkHeader {
    buf: [u8; 18],
    len: u8,
}

impl ChunkHeader {
    /// The header for `size` bytes of data. `size` must not be 0: a zero-size
    /// chunk is [`LAST_CHUNK`], the end of the body.
    pub fn new(size: u64) -> Self {
        debug_assert!(size > 0, "a zero-size chunk ends the body");
        let mut buf = [0u8; 18];
        let digits = (64 - size.leading_zeros()).div_ceil(4).max(1) as usize;
        for (i, slot) in buf[..digits].iter_mut().enumerate() {
            let shift = 4 * (digits - 1 - i);
            *slot = b"0123456789abcdef"[((size >> shift) & 0xf) as usize];
        }
        buf[digits] = b'\r';
        buf[digits + 1] = b'\n';
        ChunkHeader {
            buf,
            len: (digits + 2) as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// Follows every chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";
/// Ends a chunked body (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Append `data` as one chunk (nothing for empty data: that would end the body).
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(ChunkHeader::new(data.len() as u64).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(CHUNK_END);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize, bool), Error> {
        let mut out = Vec::new();
        let (n, done) = ChunkedDecoder::default().decode_into(input, &mut out)?;
        Ok((out, n, done))
    }

    #[test]
    fn decodes() {
        let input = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (data, n, done) = decode_all(input).unwrap();
        assert_eq!(data, b"hello world");
        assert!(done);
        assert_eq!(&input[n..], b"NEXT");
    }

    #[test]
    fn incomplete_is_not_done() {
        let (data, n, done) = decode_all(b"5\r\nhel").unwrap();
        assert_eq!((data.as_slice(), n, done), (&b"hel"[..], 6, false));
    }

    #[test]
    fn strict() {
        for (bad, why) in [
            (&b"5 \r\nhello\r\n0\r\n\r\n"[..], Error::BadChunkSize),
            (b"\r\n", Error::BadChunkSize),
            (b"5\nhello\r\n0\r\n\r\n", Error::BadChunkSize),
            (b"5\r\nhelloX\r\n", Error::BadChunkDelimiter),
            (b"5\r\nhello\n0\r\n\r\n", Error::BadChunkDelimiter),
            (b"0\r\n\n", Error::BadTrailer),
            (b"0\r\n\r\r", Error::BadChunkDelimiter),
            (b"0\r\n: x\r\n\r\n", Error::BadTrailer),
            (b"0\r\n x: y\r\n\r\n", Error::BadTrailer),
            (b"0\r\nx y: z\r\n\r\n", Error::BadTrailer),
            (b"-1\r\n", Error::BadChunkSize),
            (b"0x5\r\n", Error::BadChunkSize),
            (b"10000000000000000\r\n", Error::ChunkSizeOverflow),
            (b"1;a\x00b\r\n", Error::BadChunkSize),
        ] {
            assert_eq!(
                decode_all(bad).err(),
                Some(why),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(decode_all(b"ffffffffffffffff\r\n").is_ok());
    }

    #[test]
    fn limits() {
        let long_ext = format!("1;{}\r\nx\r\n0\r\n\r\n", "a".repeat(5000));
        assert_eq!(
            decode_all(long_ext.as_bytes()).err(),
            Some(Error::ChunkExtensionsTooLong)
        );
        let many_ext: String =
            (0..600).map(|_| "1;abcdefg\r\nx\r\n").collect::<String>() + "0\r\n\r\n";
        assert_eq!(
            decode_all(many_ext.as_bytes()).err(),
            Some(Error::ChunkExtensionsTooLong),
            "extensions count over the whole body"
        );
        let trailers: String = (0..65).map(|i| format!("t{i}: v\r\n")).collect();
        assert_eq!(
            decode_all(format!("0\r\n{trailers}\r\n").as_bytes()).err(),
            Some(Error::TrailersTooLarge)
        );
        let big = format!("0\r\nt: {}\r\n\r\n", "v".repeat(9000));
        assert_eq!(
            decode_all(big.as_bytes()).err(),
            Some(Error::TrailersTooLarge)
        );
    }

    #[test]
    fn chunk_headers() {
        assert_eq!(ChunkHeader::new(1).as_bytes(), b"1\r\n");
        assert_eq!(ChunkHeader::new(255).as_bytes(), b"ff\r\n");
        assert_eq!(ChunkHeader::new(4096).as_bytes(), b"1000\r\n");
        assert_eq!(
            ChunkHeader::new(u64::MAX).as_bytes(),
            b"ffffffffffffffff\r\n"
        );
        let mut out = Vec::new();
        encode_chunk(b"", &mut out);
        assert!(out.is_empty());
        encode_chunk(b"abc", &mut out);
        out.extend_from_slice(LAST_CHUNK);
        assert_eq!(out, b"3\r\nabc\r\n0\r\n\r\n");
    }
}
