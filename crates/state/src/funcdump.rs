//! FUNCTION DUMP / FUNCTION RESTORE payloads in Redis's own format, so a
//! payload dumped by `redis-server` 7 restores here and the reverse.
//!
//! Layout (Redis's `functionDumpCommand`): for each library the opcode
//! `RDB_OPCODE_FUNCTION2` (0xF5) and its code as an RDB string; then the RDB
//! version (2 bytes, little-endian) and the CRC64 (Jones, reflected, as
//! Redis's `crc64`) of everything before it (8 bytes, little-endian).
//!
//! Pure: no I/O, no server. Decoding never allocates more than the payload
//! can account for (an LZF string's claimed length is bounded by what its
//! compressed bytes can expand to), so a hostile payload costs nothing large.

/// The RDB version Redis 7.0 writes (and the newest it accepts).
pub(crate) const RDB_VERSION: u16 = 10;
/// A library in Redis 7 GA format.
const OPCODE_FUNCTION2: u8 = 0xF5;
/// The format Redis 7.0 release candidates wrote (name, engine, optional
/// description, then the code without its shebang); 7.0 still reads it.
const OPCODE_FUNCTION_PRE_GA: u8 = 0xF6;

/// Why a payload was refused; the text is Redis's error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DumpError {
    /// Too short, newer version, or checksum mismatch.
    VersionOrChecksum,
    /// Another opcode where a library should be.
    NotAFunction,
    /// A field of a library could not be read (Redis's words for which).
    Field(&'static str),
}

impl DumpError {
    /// Redis's error text (without the `ERR ` prefix).
    pub(crate) fn message(&self) -> &'static str {
        match self {
            DumpError::VersionOrChecksum => "DUMP payload version or checksum are wrong",
            DumpError::NotAFunction => "given type is not a function",
            DumpError::Field(what) => what,
        }
    }
}

/// CRC-64/Jones as Redis computes it (reflected polynomial 0x95ac9329ac4bc9b5,
/// init 0, no final xor).
pub(crate) fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u64;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x95ac_9329_ac4b_c9b5
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    for &b in data {
        crc = table[((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// Appends an RDB length.
fn put_len(out: &mut Vec<u8>, n: usize) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as usize {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
}

/// The payload for these library codes (uncompressed strings, which Redis
/// reads like any other).
pub(crate) fn encode<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        put_len(&mut out, code.len());
        out.extend_from_slice(code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes in a payload, in order.
pub(crate) fn decode(p: &[u8]) -> Result<Vec<Vec<u8>>, DumpError> {
    if p.len() < 10 {
        return Err(DumpError::VersionOrChecksum);
    }
    let footer = &p[p.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(DumpError::VersionOrChecksum);
    }
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if crc64(0, &p[..p.len() - 8]) != crc {
        return Err(DumpError::VersionOrChecksum);
    }
    // Like Redis, read until the last 10 bytes; a string may run into the
    // footer (the reader sees the whole payload), never past it.
    let mut r = Reader { p, pos: 0 };
    let mut codes = Vec::new();
    while p.len() - r.pos > 10 {
        match r.byte().ok_or(DumpError::NotAFunction)? {
            OPCODE_FUNCTION2 => codes.push(r.field("Failed loading library payload")?),
            OPCODE_FUNCTION_PRE_GA => codes.push(r.pre_ga()?),
            _ => return Err(DumpError::NotAFunction),
        }
    }
    Ok(codes)
}

struct Reader<'a> {
    p: &'a [u8],
    pos: usize,
}

/// What an RDB length field holds.
enum Len {
    Plain(u64),
    /// A special string encoding (int8/16/32, LZF).
    Encoded(u8),
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.p.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: u64) -> Option<&[u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.pos.checked_add(n)?;
        let s = self.p.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn len(&mut self) -> Option<Len> {
        let b = self.byte()?;
        Some(match b >> 6 {
            0 => Len::Plain((b & 0x3f) as u64),
            1 => Len::Plain((((b & 0x3f) as u64) << 8) | self.byte()? as u64),
            2 if b == 0x80 => Len::Plain(u32::from_be_bytes(self.take(4)?.try_into().ok()?) as u64),
            2 if b == 0x81 => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            2 => return None,
            _ => Len::Encoded(b & 0x3f),
        })
    }

    fn plain_len(&mut self) -> Option<u64> {
        match self.len()? {
            Len::Plain(n) => Some(n),
            Len::Encoded(_) => None,
        }
    }

    fn field(&mut self, what: &'static str) -> Result<Vec<u8>, DumpError> {
        self.string().ok_or(DumpError::Field(what))
    }

    /// A pre-GA library, turned into the code with its shebang.
    fn pre_ga(&mut self) -> Result<Vec<u8>, DumpError> {
        let name = self.field("Failed loading library name")?;
        let engine = self.field("Failed loading engine name")?;
        let desc = "Failed loading library description";
        if self.plain_len().ok_or(DumpError::Field(desc))? != 0 {
            self.field(desc)?;
        }
        let blob = self.field("Failed loading library blob")?;
        let mut code = b"#!".to_vec();
        code.extend_from_slice(&engine);
        code.extend_from_slice(b" name=");
        code.extend_from_slice(&name);
        code.push(b'\n');
        code.extend_from_slice(&blob);
        Ok(code)
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        match self.len()? {
            Len::Plain(n) => Some(self.take(n)?.to_vec()),
            Len::Encoded(0) => Some((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(1) => {
                let v = i16::from_le_bytes(self.take(2)?.try_into().ok()?);
                Some(v.to_string().into_bytes())
            }
            Len::Encoded(2) => {
                let v = i32::from_le_bytes(self.take(4)?.try_into().ok()?);
                Some(v.to_string().into_bytes())
            }
            Len::Encoded(3) => {
                let clen = self.plain_len()?;
                let ulen = self.plain_len()?;
                let src = self.take(clen)?;
                lzf_decompress(src, ulen)
            }
            Len::Encoded(_) => None,
        }
    }
}

/// LZF decompression (liblzf's format, as Redis writes it). `ulen` is the
/// claimed output size: refused if the input could not expand to it, so a
/// lying header allocates nothing large.
pub(crate) fn lzf_decompress(src: &[u8], ulen: u64) -> Option<Vec<u8>> {
    // A 3-byte back-reference yields at most 264 bytes.
    if ulen == 0 || ulen > (src.len() as u64).saturating_mul(88) {
        return None;
    }
    let ulen = ulen as usize;
    let mut out: Vec<u8> = Vec::with_capacity(ulen);
    let mut i = 0;
    while i < src.len() {
        let ctrl = src[i] as usize;
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let n = ctrl + 1;
            let lit = src.get(i..i + n)?;
            if out.len() + n > ulen {
                return None;
            }
            out.extend_from_slice(lit);
            i += n;
        } else {
            // A back-reference: length in the top 3 bits (7 = one more byte).
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *src.get(i)? as usize;
                i += 1;
            }
            n += 2;
            let off = ((ctrl & 0x1f) << 8) + *src.get(i)? as usize + 1;
            i += 1;
            if off > out.len() || out.len() + n > ulen {
                return None;
            }
            let start = out.len() - off;
            // Byte by byte: the copy may overlap what it writes.
            for k in 0..n {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == ulen).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_check_value() {
        // Redis's crc64.c test vector.
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn round_trip() {
        let a = b"#!lua name=a\nredis.register_function('f', function() return 1 end)".to_vec();
        let big = vec![b'x'; 20000];
        let p = encode([&a[..], &big[..]]);
        assert_eq!(decode(&p).unwrap(), vec![a, big]);
        assert_eq!(decode(&encode([])).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn redis_payload_decodes() {
        // FUNCTION DUMP from redis-server 7.0.15 for one small library.
        let mut p = vec![0xf5, 0x40, 0x42];
        p.extend_from_slice(b"#!lua name=s\nredis.register_function('a', function() return 1 end)");
        p.extend_from_slice(&[0x0a, 0x00, 0x1d, 0x7c, 0xfc, 0x3b, 0x86, 0x53, 0x60, 0xc4]);
        let codes = decode(&p).unwrap();
        assert_eq!(codes.len(), 1);
        assert!(codes[0].starts_with(b"#!lua name=s\n"));
    }

    #[test]
    fn bad_payloads_are_refused() {
        assert_eq!(decode(b"short"), Err(DumpError::VersionOrChecksum));
        let mut p = encode([&b"abc"[..]]);
        let n = p.len();
        p[n - 1] ^= 1;
        assert_eq!(decode(&p), Err(DumpError::VersionOrChecksum));
        // A newer version is refused even with a good checksum.
        let mut body = vec![0xf5, 3, b'a', b'b', b'c'];
        body.extend_from_slice(&11u16.to_le_bytes());
        let crc = crc64(0, &body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&body), Err(DumpError::VersionOrChecksum));
        let with = |b: &[u8]| {
            let mut v = b.to_vec();
            v.extend_from_slice(&RDB_VERSION.to_le_bytes());
            let crc = crc64(0, &v);
            v.extend_from_slice(&crc.to_le_bytes());
            v
        };
        assert_eq!(
            decode(&with(&[0xf6, 1, b'a'])),
            Err(DumpError::Field("Failed loading engine name"))
        );
        let mut pre = vec![
            0xf6, 2, b'p', b'g', 3, b'L', b'U', b'A', 1, 1, b'd', 1, b'x',
        ];
        assert_eq!(
            decode(&with(&pre)).unwrap(),
            vec![b"#!LUA name=pg\nx".to_vec()]
        );
        pre[8] = 0;
        assert!(decode(&with(&pre)).is_err());
        assert_eq!(
            decode(&with(&[0x00, 1, b'a'])),
            Err(DumpError::NotAFunction)
        );
        // A length past the end, and an LZF string claiming 4 GiB.
        assert_eq!(
            decode(&with(&[0xf5, 0x80, 0xff, 0xff, 0xff, 0xff])),
            Err(DumpError::Field("Failed loading library payload"))
        );
        assert_eq!(
            decode(&with(&[
                0xf5, 0xc3, 2, 0x80, 0xff, 0xff, 0xff, 0xff, 0, b'a'
            ])),
            Err(DumpError::Field("Failed loading library payload"))
        );
    }

    proptest::proptest! {
        /// Any bytes: an answer, never a panic, and never more output than
        /// the input could hold.
        #[test]
        fn decode_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let mut p = body.clone();
            p.extend_from_slice(&RDB_VERSION.to_le_bytes());
            let crc = crc64(0, &p);
            p.extend_from_slice(&crc.to_le_bytes());
            for input in [&body[..], &p[..]] {
                if let Ok(codes) = decode(input) {
                    let total: usize = codes.iter().map(|c| c.len()).sum();
                    proptest::prop_assert!(total <= input.len() * 88 + 64);
                }
            }
        }

        #[test]
        fn encode_decode_round_trip(codes in proptest::collection::vec(
            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20000), 0..4)) {
            let p = encode(codes.iter().map(|c| &c[..]));
            proptest::prop_assert_eq!(decode(&p).unwrap(), codes);
        }

        #[test]
        fn lzf_never_panics(src in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), ulen in 0u64..20000) {
            if let Some(out) = lzf_decompress(&src, ulen) {
                proptest::prop_assert_eq!(out.len() as u64, ulen);
            }
        }
    }

    #[test]
    fn lzf_literals_and_backrefs() {
        // "aaaaaaaaaa": literal 'a', then a back-reference of 9 at offset 1.
        let src = [0x00, b'a', 0xe0, 0x00, 0x00];
        assert_eq!(lzf_decompress(&src, 10).unwrap(), vec![b'a'; 10]);
        assert_eq!(lzf_decompress(&src, 11), None);
        assert_eq!(lzf_decompress(&[0x20, 0x00], 3), None);
    }
}
