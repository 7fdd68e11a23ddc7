//! LZF compression and decompression (Redis compresses strings longer than
//! 20 bytes in RDB files and DUMP payloads with `rdbcompression yes`, the
//! default).
//!
//! The output grows as bytes are produced, never by the length the payload
//! claims: a lying header costs at most what the input can expand to, and
//! any output past the claimed length is refused at once.

/// Decompresses `input` into exactly `expect` bytes; None if the data is
/// malformed or does not produce exactly that many.
pub(crate) fn decompress(input: &[u8], expect: usize) -> Option<Vec<u8>> {
    // Each input byte yields at most ~32 output bytes on average for literals
    // and 264 per 2-byte back-reference: cap the first allocation by the input.
    let mut out: Vec<u8> = Vec::with_capacity(expect.min(input.len().saturating_mul(4)));
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            // Literal run of ctrl + 1 bytes.
            let n = ctrl + 1;
            let lit = input.get(i..i + n)?;
            if out.len() + n > expect {
                return None;
            }
            out.extend_from_slice(lit);
            i += n;
        } else {
            // Back-reference: length in the top 3 bits (7 = one more byte).
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            len += 2;
            let off = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            if off > out.len() || out.len() + len > expect {
                return None;
            }
            let start = out.len() - off;
            // Overlapping copies repeat the pattern, byte by byte as in lzf_d.c.
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == expect).then_some(out)
}

/// Longest back-reference LZF can say (2 + 7 + 255).
const MAX_REF: usize = 264;
/// Farthest back a reference reaches (13 bits of offset).
const MAX_OFF: usize = 1 << 13;
/// Longest literal run.
const MAX_LIT: usize = 32;
const HLOG: u32 = 14;

/// Compresses `input` the way liblzf's `lzf_compress` encodes (greedy
/// matching of 3-byte sequences through a hash table); None unless the
/// result is at most `max_out` bytes (Redis asks for `len - 4`, and stores
/// the string plain when it does not fit).
pub(crate) fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Vec::with_capacity(max_out.min(n));
    let mut table = vec![usize::MAX; 1 << HLOG];
    let hash = |i: usize| {
        let v = (input[i] as u32) << 16 | (input[i + 1] as u32) << 8 | input[i + 2] as u32;
        (v.wrapping_mul(2_654_435_761) >> (32 - HLOG)) as usize
    };
    let flush = |out: &mut Vec<u8>, lit: &[u8]| {
        for chunk in lit.chunks(MAX_LIT) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    let mut lit_start = 0;
    let mut ip = 0;
    while ip + 2 < n {
        let h = hash(ip);
        let r = table[h];
        table[h] = ip;
        if r != usize::MAX && ip - r <= MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
            let max = MAX_REF.min(n - ip);
            let mut len = 3;
            while len < max && input[r + len] == input[ip + len] {
                len += 1;
            }
            flush(&mut out, &input[lit_start..ip]);
            let off = ip - r - 1;
            let l = len - 2;
            if l < 7 {
                out.push(((l << 5) | (off >> 8)) as u8);
            } else {
                out.push(((7 << 5) | (off >> 8)) as u8);
                out.push((l - 7) as u8);
            }
            out.push((off & 0xff) as u8);
            // Index the positions the match covered, so later data can
            // refer into it.
            for k in ip + 1..(ip + len).min(n.saturating_sub(2)) {
                table[hash(k)] = k;
            }
            ip += len;
            lit_start = ip;
            if out.len() > max_out {
                return None;
            }
        } else {
            ip += 1;
        }
    }
    flush(&mut out, &input[lit_start..]);
    (out.len() <= max_out && !out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::{compress, decompress};

    #[test]
    fn literal_and_backref() {
        // "abcabcabc": literal "abc" (ctrl 2), then a back-reference of
        // length 6 (ctrl len 4 -> 4+2) at offset 3 (stored as 2).
        let data = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(decompress(&data, 9).as_deref(), Some(&b"abcabcabc"[..]));
        // Wrong claimed length, truncated input, offset before the start.
        assert!(decompress(&data, 8).is_none());
        assert!(decompress(&data, 10).is_none());
        assert!(decompress(&data[..5], 9).is_none());
        assert!(decompress(&[(1 << 5), 9], 3).is_none());
    }

    #[test]
    fn compresses_repetition_and_round_trips() {
        let data = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc hello hello hello".repeat(10);
        let c = compress(&data, data.len() - 4).expect("compressible");
        assert!(c.len() < data.len() / 4, "{} of {}", c.len(), data.len());
        assert_eq!(decompress(&c, data.len()).as_deref(), Some(&data[..]));
        // Random-looking bytes do not fit in len - 4.
        let noise: Vec<u8> = (0..100u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(compress(&noise, noise.len() - 4), None);
    }

    proptest::proptest! {
        #[test]
        fn compress_round_trips(data in proptest::collection::vec(0u8..4, 0..3000)) {
            if let Some(c) = compress(&data, data.len() + data.len() / 16 + 64) {
                proptest::prop_assert_eq!(decompress(&c, data.len()), Some(data));
            } else {
                proptest::prop_assert!(data.is_empty());
            }
        }
    }
}
