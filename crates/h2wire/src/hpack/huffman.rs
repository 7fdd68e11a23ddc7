//! The Huffman code of RFC 7541 Appendix B: an encoder, and a decoder that
//! refuses what §5.2 says a decoder must refuse (the EOS symbol inside a
//! string, padding longer than 7 bits, padding that is not the EOS prefix).
//!
//! Decoding reads codes of up to 8 bits with one table lookup (they cover the
//! characters headers are mostly made of); longer codes use the code's
//! canonical layout: the codes of one length are consecutive numbers, so one
//! subtraction per length finds the symbol. Both tables are built at compile
//! time from the RFC's code list.

/// The code of each symbol (0–255, then EOS = 256), right-aligned.
const CODES: [u32; 257] = [
    0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7, 0xfffffe8,
    0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec, 0xfffffed,
    0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3, 0xffffff4,
    0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb, 0x14, 0x3f8,
    0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa, 0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
    0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb,
    0x3fc, 0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0,
    0x1ffc, 0x3ffc, 0x22, 0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26, 0x27, 0x6, 0x74, 0x75,
    0x28, 0x29, 0x2a, 0x7, 0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7ffe,
    0x7fc, 0x3ffd, 0x1ffd, 0xffffffc, 0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4,
    0x3fffd5, 0x7fffd9, 0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb,
    0x7fffdf, 0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
    0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef, 0x3fffda,
    0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde, 0x7fffea, 0x3fffdd,
    0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec, 0x1fffe0, 0x1fffe1, 0x3fffe0,
    0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef, 0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4,
    0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1, 0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7,
    0x7ffff2, 0x3fffe8, 0x1ffffec, 0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf,
    0x3ffffe5, 0xfffff1, 0x1ffffed, 0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7,
    0x7ffffe2, 0xfffff2, 0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4,
    0x7ffffe5, 0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
    0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4, 0x3ffffeb,
    0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea, 0x7ffffeb,
    0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee, 0x3fffffff,
];

/// The length in bits of each symbol's code.
const LENS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS: u16 = 256;

/// Codes of up to 8 bits, indexed by the next 8 input bits:
/// `len << 9 | symbol`, or 0 where the code is longer than 8 bits.
static SHORT: [u16; 256] = build_short();

/// Canonical layout of the longer codes, per length `l` (9..=30): the first
/// code of that length, how many there are, and where their symbols start in
/// the symbol list (sorted by code).
static LONG: LongTables = build_long();

const fn build_short() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut s = 0;
    while s < 257 {
        let len = LENS[s] as u32;
        if len <= 8 {
            let base = (CODES[s] << (8 - len)) as usize;
            let mut i = 0;
            while i < (1usize << (8 - len)) {
                t[base + i] = ((len as u16) << 9) | s as u16;
                i += 1;
            }
        }
        s += 1;
    }
    t
}

type LongTables = ([u32; 31], [u16; 31], [u16; 31], [u16; 257]);

const fn build_long() -> LongTables {
    let mut first = [u32::MAX; 31];
    let mut count = [0u16; 31];
    let mut offset = [0u16; 31];
    let mut syms = [0u16; 257];
    let mut n = 0usize;
    let mut len = 9;
    while len <= 30 {
        offset[len] = n as u16;
        let mut s = 0;
        while s < 257 {
            if LENS[s] as usize == len {
                if count[len] == 0 {
                    first[len] = CODES[s];
                }
                // Canonical: within a length, codes are consecutive in symbol
                // order (checked here, at compile time).
                assert!(CODES[s] == first[len] + count[len] as u32);
                syms[n] = s as u16;
                n += 1;
                count[len] += 1;
            }
            s += 1;
        }
        len += 1;
    }
    (first, count, offset, syms)
}

/// A Huffman-coded string that §5.2 says to refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HuffmanError {
    /// The EOS symbol inside the string.
    Eos,
    /// More than 7 bits of padding, or padding that is not all ones.
    BadPadding,
}

/// Decode `src` onto the end of `out`.
pub(crate) fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    // The next `nbits` input bits, most significant first.
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    let mut i = 0;
    out.reserve(src.len() + src.len() / 2);
    loop {
        while nbits <= 56 && i < src.len() {
            acc |= u64::from(src[i]) << (56 - nbits);
            nbits += 8;
            i += 1;
        }
        if nbits == 0 {
            return Ok(());
        }
        let e = SHORT[(acc >> 56) as usize];
        let (sym, len) = if e != 0 {
            (e & 0x1ff, u32::from(e >> 9))
        } else {
            match long(acc, nbits) {
                Some(found) => found,
                None => break,
            }
        };
        if len > nbits {
            // Only at the end of the input (refilled above otherwise).
            break;
        }
        if sym == EOS {
            return Err(HuffmanError::Eos);
        }
        out.push(sym as u8);
        acc <<= len;
        nbits -= len;
    }
    // What is left is padding: fewer than 8 bits, all ones (a prefix of EOS).
    if nbits == 0 {
        return Ok(());
    }
    let mask = !0u64 << (64 - nbits);
    if nbits >= 8 || acc & mask != mask {
        return Err(HuffmanError::BadPadding);
    }
    Ok(())
}

/// A code longer than 8 bits at the top of `acc`, if `nbits` hold one.
fn long(acc: u64, nbits: u32) -> Option<(u16, u32)> {
    let mut len = 9;
    while len <= 30 && len <= nbits {
        let code = (acc >> (64 - len)) as u32;
        let k = code.wrapping_sub(LONG.0[len as usize]);
        if k < u32::from(LONG.1[len as usize]) {
            let sym = LONG.3[(u32::from(LONG.2[len as usize]) + k) as usize];
            return Some((sym, len));
        }
        len += 1;
    }
    None
}

/// The length of `src` Huffman-coded, in bytes.
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| usize::from(LENS[usize::from(b)])).sum();
    bits.div_ceil(8)
}

/// Huffman-code `src` onto `dst`, padded with ones to a byte.
pub(crate) fn encode<B: bytes::BufMut>(src: &[u8], dst: &mut B) {
    // Up to 31 pending bits plus one code of up to 30 fit in 64; written 32
    // bits at a time (the bits above the pending ones are stale, never read).
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    for &b in src {
        let len = u32::from(LENS[usize::from(b)]);
        acc = (acc << len) | u64::from(CODES[usize::from(b)]);
        nbits += len;
        if nbits >= 32 {
            nbits -= 32;
            dst.put_u32((acc >> nbits) as u32);
        }
    }
    while nbits >= 8 {
        nbits -= 8;
        dst.put_u8((acc >> nbits) as u8);
    }
    if nbits > 0 {
        dst.put_u8(((acc << (8 - nbits)) as u8) | (0xff >> nbits));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(s, &mut v);
        assert_eq!(v.len(), encoded_len(s));
        v
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        decode(&enc(&all), &mut out).unwrap();
        assert_eq!(out, all);
        for b in 0..=255u8 {
            out.clear();
            decode(&enc(&[b, b, b]), &mut out).unwrap();
            assert_eq!(out, [b, b, b]);
        }
    }

    #[test]
    fn rfc_c4_strings() {
        // RFC 7541 C.4.1.
        assert_eq!(
            enc(b"www.example.com"),
            [0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff]
        );
        assert_eq!(enc(b"no-cache"), [0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]);
    }

    #[test]
    fn padding_and_eos_refused() {
        let mut out = Vec::new();
        // 'a' is 00011 (5 bits): padding 111 is fine, 000 is not.
        assert_eq!(decode(&[0b0001_1111], &mut out), Ok(()));
        assert_eq!(out, b"a");
        assert_eq!(
            decode(&[0b0001_1000], &mut out),
            Err(HuffmanError::BadPadding)
        );
        // A whole byte of ones is padding of 8 bits.
        assert_eq!(
            decode(&[0b0001_1111, 0xff], &mut out),
            Err(HuffmanError::BadPadding)
        );
        assert_eq!(decode(&[0xff], &mut out), Err(HuffmanError::BadPadding));
        // EOS (30 ones) coded explicitly.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xfc], &mut out),
            Err(HuffmanError::Eos)
        );
        out.clear();
        assert_eq!(decode(&[], &mut out), Ok(()));
        assert!(out.is_empty());
    }
}
