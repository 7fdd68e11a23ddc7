//! LZF decompression (Redis compresses strings longer than 20 bytes in RDB
//! files and DUMP payloads with `rdbcompression yes`, the default).
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

#[cfg(test)]
mod tests {
    use super::decompress;

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
}
