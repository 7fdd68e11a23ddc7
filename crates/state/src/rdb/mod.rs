//! Redis's RDB serialization: DUMP payloads, RESTORE, and `dump.rdb` files,
//! as redis-server 7.0 writes and reads them (RDB version 10).
//!
//! Pure: bytes in, values out and back, no I/O. The commands that use it
//! (`DUMP`, `RESTORE`, `MIGRATE`, `SAVE`) are in `cmd/dump.rs`; the file
//! written by SAVE is assembled by [`encode_file`].
//!
//! What we write, per type (Redis 7.0's choices for the same sizes, so
//! `OBJECT ENCODING` on the Redis side matches what it would have built):
//! strings as integers when canonical and 32-bit, else raw; lists as
//! quicklist 2 (listpack nodes of up to 8 KiB); sets as intsets (all integers,
//! at most 512) or plain sets; hashes and sorted sets as listpacks (at most
//! 128 entries of at most 64 bytes) or plain; streams as listpacks v2 with
//! their consumer groups. We read all of those plus what older Redis versions
//! and 7.2 write (ziplists, set listpacks, streams v3, LZF-compressed strings).
//!
//! Untrusted input: a payload is checked (version, CRC-64) before it is
//! parsed, every read is bounds-checked, and no buffer is sized by a length
//! the data claims before those bytes are there.

mod crc64;
mod decode;
mod encode;
mod listpack;
mod lzf;

pub(crate) use crc64::crc64;
pub(crate) use decode::{decode_file, decode_value};
pub(crate) use encode::{encode_file, encode_value, FileMeta};

use crate::store::Value;

/// The RDB version we write: Redis 7.0's. Redis refuses payloads of a newer
/// version than its own, so writing 7.2's 11 would lock 7.0 out.
pub(crate) const RDB_VERSION: u16 = 10;
/// The newest version we read (7.2's 11 adds set listpacks and stream v3).
const MAX_READ_VERSION: u16 = 11;

/// Value type bytes.
pub(crate) mod types {
    pub(crate) const STRING: u8 = 0;
    pub(crate) const LIST: u8 = 1;
    pub(crate) const SET: u8 = 2;
    pub(crate) const ZSET: u8 = 3;
    pub(crate) const HASH: u8 = 4;
    pub(crate) const ZSET_2: u8 = 5;
    pub(crate) const HASH_ZIPMAP: u8 = 9;
    pub(crate) const LIST_ZIPLIST: u8 = 10;
    pub(crate) const SET_INTSET: u8 = 11;
    pub(crate) const ZSET_ZIPLIST: u8 = 12;
    pub(crate) const HASH_ZIPLIST: u8 = 13;
    pub(crate) const LIST_QUICKLIST: u8 = 14;
    pub(crate) const STREAM_LISTPACKS: u8 = 15;
    pub(crate) const HASH_LISTPACK: u8 = 16;
    pub(crate) const ZSET_LISTPACK: u8 = 17;
    pub(crate) const LIST_QUICKLIST_2: u8 = 18;
    pub(crate) const STREAM_LISTPACKS_2: u8 = 19;
    pub(crate) const SET_LISTPACK: u8 = 20;
    pub(crate) const STREAM_LISTPACKS_3: u8 = 21;
}

/// File opcodes.
pub(crate) mod op {
    pub(crate) const FUNCTION2: u8 = 245;
    pub(crate) const FUNCTION_PRE_GA: u8 = 246;
    pub(crate) const MODULE_AUX: u8 = 247;
    pub(crate) const IDLE: u8 = 248;
    pub(crate) const FREQ: u8 = 249;
    pub(crate) const AUX: u8 = 250;
    pub(crate) const RESIZEDB: u8 = 251;
    pub(crate) const EXPIRETIME_MS: u8 = 252;
    pub(crate) const EXPIRETIME: u8 = 253;
    pub(crate) const SELECTDB: u8 = 254;
    pub(crate) const EOF: u8 = 255;
}

/// Malformed data: what was wrong (for logs; clients get Redis's words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bad(pub(crate) &'static str);

/// Why a RESTORE payload was refused; the replies are Redis's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Too short, a newer RDB version than we read, or a CRC mismatch.
    VersionOrChecksum,
    /// The value does not parse (the reason is for logs).
    BadFormat(&'static str),
}

impl PayloadError {
    /// The error message Redis replies with.
    pub fn message(self) -> &'static str {
        match self {
            PayloadError::VersionOrChecksum => "DUMP payload version or checksum are wrong",
            PayloadError::BadFormat(_) => "Bad data format",
        }
    }
}

/// The DUMP payload of a value: type, value, RDB version, CRC-64; strings
/// over 20 bytes LZF-compressed with `lzf` (`rdbcompression`), as Redis's.
pub(crate) fn dump(v: &Value, lzf: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(v, &mut out, lzf);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks a DUMP payload's footer (Redis's `verifyDumpPayload`) and decodes
/// its value. Bytes after the value are ignored, as Redis ignores them.
pub(crate) fn restore(payload: &[u8]) -> Result<Value, PayloadError> {
    if payload.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > MAX_READ_VERSION {
        return Err(PayloadError::VersionOrChecksum);
    }
    let crc = u64::from_le_bytes(footer[2..10].try_into().expect("8 bytes"));
    if crc64(0, &payload[..payload.len() - 8]) != crc {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut r = Reader::new(body);
    decode_value(&mut r).map_err(|b| PayloadError::BadFormat(b.0))
}

/// Fuzzing entry point: decodes `data` as a DUMP payload, both as sent and
/// with a correct footer added (so the fuzzer reaches the value decoder).
/// Whatever decodes must re-encode to a payload that decodes and re-encodes
/// to the same bytes. Panics on a violation; returns whether anything decoded.
#[doc(hidden)]
pub fn fuzz_payload(data: &[u8]) -> bool {
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &sealed);
    sealed.extend_from_slice(&crc.to_le_bytes());
    let mut any = false;
    for p in [data, &sealed[..]] {
        if let Ok(v) = restore(p) {
            for lzf in [false, true] {
                let once = dump(&v, lzf);
                let again = restore(&once).expect("our own payload decodes");
                assert_eq!(dump(&again, lzf), once, "re-encoding is not stable");
            }
            any = true;
        }
    }
    let _ = decode_file(data);
    any
}

/// A bounds-checked cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

/// A length field, or the marker of a specially encoded string.
enum Len {
    Plain(u64),
    Special(u8),
}

const TRUNCATED: Bad = Bad("truncated");

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b, p: 0 }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.p
    }

    /// Position from the start.
    pub(crate) fn pos(&self) -> usize {
        self.p
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        if n > self.remaining() {
            return Err(TRUNCATED);
        }
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Bad> {
        Ok(self.take(1)?[0])
    }

    fn len_or_special(&mut self) -> Result<Len, Bad> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Plain((b & 0x3f) as u64),
            1 => Len::Plain((((b & 0x3f) as u64) << 8) | self.u8()? as u64),
            2 => match b {
                0x80 => Len::Plain(u32::from_be_bytes(self.take(4)?.try_into().expect("4")) as u64),
                0x81 => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().expect("8"))),
                _ => return Err(Bad("unknown length encoding")),
            },
            _ => Len::Special(b & 0x3f),
        })
    }

    /// A length (a number, not a string).
    pub(crate) fn len(&mut self) -> Result<u64, Bad> {
        match self.len_or_special()? {
            Len::Plain(n) => Ok(n),
            Len::Special(_) => Err(Bad("length expected")),
        }
    }

    /// A count of items that each take at least one more byte: refused if
    /// the data cannot hold that many, so no loop or buffer trusts a huge count.
    pub(crate) fn count(&mut self) -> Result<usize, Bad> {
        let n = self.len()?;
        if n > self.remaining() as u64 {
            return Err(Bad("count larger than the data"));
        }
        Ok(n as usize)
    }

    /// A string: raw, integer-encoded or LZF-compressed.
    pub(crate) fn string(&mut self) -> Result<std::borrow::Cow<'a, [u8]>, Bad> {
        use std::borrow::Cow;
        match self.len_or_special()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| TRUNCATED)?;
                Ok(Cow::Borrowed(self.take(n)?))
            }
            Len::Special(0) => Ok(Cow::Owned(itoa_vec(self.u8()? as i8 as i64))),
            Len::Special(1) => {
                let b = self.take(2)?;
                Ok(Cow::Owned(
                    itoa_vec(i16::from_le_bytes([b[0], b[1]]) as i64),
                ))
            }
            Len::Special(2) => {
                let b = self.take(4)?;
                Ok(Cow::Owned(itoa_vec(
                    i32::from_le_bytes(b.try_into().expect("4")) as i64,
                )))
            }
            Len::Special(3) => {
                let clen = usize::try_from(self.len()?).map_err(|_| TRUNCATED)?;
                let len = usize::try_from(self.len()?).map_err(|_| TRUNCATED)?;
                let data = self.take(clen)?;
                lzf::decompress(data, len)
                    .map(Cow::Owned)
                    .ok_or(Bad("corrupt LZF string"))
            }
            Len::Special(_) => Err(Bad("unknown string encoding")),
        }
    }

    /// 8 bytes little-endian.
    pub(crate) fn u64_le(&mut self) -> Result<u64, Bad> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
}

fn itoa_vec(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

#[cfg(test)]
mod tests;
