//! Listpack and intset, the compact encodings Redis 7.0 puts inside RDB
//! strings (small hashes, sorted sets, list nodes, stream nodes; integer
//! sets). Byte layouts as in Redis's `listpack.c` and `intset.c`.
//!
//! Decoding validates as Redis's deep sanitization does (header length,
//! terminator, every entry's back-length, the element count) and works on
//! bytes that are already in memory: nothing is allocated by a count the
//! data claims.

use super::Bad;

/// One listpack element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elem<'a> {
    /// Integer-encoded.
    Int(i64),
    /// String-encoded.
    Str(&'a [u8]),
}

impl Elem<'_> {
    /// The element as Redis hands it to commands: integers as decimal digits.
    pub(crate) fn to_vec(self) -> Vec<u8> {
        match self {
            Elem::Int(v) => itoa::Buffer::new().format(v).as_bytes().to_vec(),
            Elem::Str(s) => s.to_vec(),
        }
    }
    /// As an integer (stream metadata fields are always integers).
    pub(crate) fn int(self) -> Result<i64, Bad> {
        match self {
            Elem::Int(v) => Ok(v),
            Elem::Str(s) => crate::resp::parse_i64(s).ok_or(Bad("listpack integer expected")),
        }
    }
}

/// Redis's `string2ll`: the strings a listpack (and an RDB string) stores as
/// integers. Canonical decimal only: no sign on zero, no leading zeros, no '+'.
pub(crate) fn as_int(b: &[u8]) -> Option<i64> {
    crate::resp::parse_i64(b)
}

// === Encoding ===

/// Builds a listpack.
pub(crate) struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; 6]);
        Builder { buf, count: 0 }
    }

    /// Bytes the listpack has so far (without the terminator).
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Elements so far.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Appends a string; canonical integers are stored as integers, as Redis does.
    pub(crate) fn push(&mut self, s: &[u8]) {
        match as_int(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    /// Appends an integer.
    pub(crate) fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        if (0..=127).contains(&v) {
            b.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            b.push(0xc0 | (u >> 8) as u8);
            b.push(u as u8);
        } else if (-32768..=32767).contains(&v) {
            b.push(0xf1);
            b.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8388608..=8388607).contains(&v) {
            b.push(0xf2);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            b.push(0xf3);
            b.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            b.push(0xf4);
            b.extend_from_slice(&v.to_le_bytes());
        }
        self.finish_entry(start);
    }

    /// Appends a string as a string.
    fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let b = &mut self.buf;
        let l = s.len();
        if l < 64 {
            b.push(0x80 | l as u8);
        } else if l < 4096 {
            b.push(0xe0 | (l >> 8) as u8);
            b.push(l as u8);
        } else {
            b.push(0xf0);
            b.extend_from_slice(&(l as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        self.finish_entry(start);
    }

    /// Writes the back-length of the entry that started at `start`.
    fn finish_entry(&mut self, start: usize) {
        let l = (self.buf.len() - start) as u64;
        let b = &mut self.buf;
        // lpEncodeBacklen: big-end first, every byte but the first has bit 7.
        if l <= 127 {
            b.push(l as u8);
        } else if l < 16383 {
            b.push((l >> 7) as u8);
            b.push((l & 127) as u8 | 128);
        } else if l < 2097151 {
            b.push((l >> 14) as u8);
            b.push(((l >> 7) & 127) as u8 | 128);
            b.push((l & 127) as u8 | 128);
        } else if l < 268435455 {
            b.push((l >> 21) as u8);
            b.push(((l >> 14) & 127) as u8 | 128);
            b.push(((l >> 7) & 127) as u8 | 128);
            b.push((l & 127) as u8 | 128);
        } else {
            b.push((l >> 28) as u8);
            b.push(((l >> 21) & 127) as u8 | 128);
            b.push(((l >> 14) & 127) as u8 | 128);
            b.push(((l >> 7) & 127) as u8 | 128);
            b.push((l & 127) as u8 | 128);
        }
        self.count += 1;
    }

    /// The finished listpack.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xff);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let n = if self.count < 65535 {
            self.count as u16
        } else {
            65535
        };
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

// === Decoding ===

/// Reads a back-length written right-to-left ending at `end` (exclusive);
/// returns (value, bytes used).
fn read_backlen(lp: &[u8], end: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    let mut shift = 0;
    let mut i = end;
    loop {
        i = i.checked_sub(1)?;
        let b = lp[i];
        v |= ((b & 127) as u64) << shift;
        if b & 128 == 0 {
            return Some((v, end - i));
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
}

/// Every element of a listpack, validated.
pub(crate) fn decode(lp: &[u8]) -> Result<Vec<Elem<'_>>, Bad> {
    const BAD: Bad = Bad("corrupt listpack");
    if lp.len() < 7 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes(lp[0..4].try_into().expect("4 bytes")) as usize;
    let claimed = u16::from_le_bytes([lp[4], lp[5]]) as usize;
    if total != lp.len() || lp[total - 1] != 0xff {
        return Err(BAD);
    }
    let end = total - 1;
    let mut out = Vec::new();
    let mut p = 6;
    while p < end {
        let start = p;
        let need = |n: usize| if start + n <= end { Ok(()) } else { Err(BAD) };
        let e = lp[p];
        let (elem, size) = if e & 0x80 == 0 {
            (Elem::Int((e & 0x7f) as i64), 1)
        } else if e & 0xc0 == 0x80 {
            let l = (e & 0x3f) as usize;
            need(1 + l)?;
            (Elem::Str(&lp[p + 1..p + 1 + l]), 1 + l)
        } else if e & 0xe0 == 0xc0 {
            need(2)?;
            let u = (((e & 0x1f) as u64) << 8) | lp[p + 1] as u64;
            let v = if u >= 1 << 12 {
                u as i64 - (1 << 13)
            } else {
                u as i64
            };
            (Elem::Int(v), 2)
        } else if e & 0xf0 == 0xe0 {
            need(2)?;
            let l = (((e & 0x0f) as usize) << 8) | lp[p + 1] as usize;
            need(2 + l)?;
            (Elem::Str(&lp[p + 2..p + 2 + l]), 2 + l)
        } else {
            match e {
                0xf0 => {
                    need(5)?;
                    let l = u32::from_le_bytes(lp[p + 1..p + 5].try_into().expect("4")) as usize;
                    need(5usize.checked_add(l).ok_or(BAD)?)?;
                    (Elem::Str(&lp[p + 5..p + 5 + l]), 5 + l)
                }
                0xf1 => {
                    need(3)?;
                    (
                        Elem::Int(i16::from_le_bytes([lp[p + 1], lp[p + 2]]) as i64),
                        3,
                    )
                }
                0xf2 => {
                    need(4)?;
                    let u = u32::from_le_bytes([lp[p + 1], lp[p + 2], lp[p + 3], 0]);
                    // Sign-extend 24 bits.
                    (Elem::Int(((u << 8) as i32 >> 8) as i64), 4)
                }
                0xf3 => {
                    need(5)?;
                    let v = i32::from_le_bytes(lp[p + 1..p + 5].try_into().expect("4"));
                    (Elem::Int(v as i64), 5)
                }
                0xf4 => {
                    need(9)?;
                    let v = i64::from_le_bytes(lp[p + 1..p + 9].try_into().expect("8"));
                    (Elem::Int(v), 9)
                }
                _ => return Err(BAD),
            }
        };
        p += size;
        // The back-length follows; it must say `size`.
        let bl = match size as u64 {
            0..=127 => 1,
            128..16383 => 2,
            16383..2097151 => 3,
            2097151..268435455 => 4,
            _ => 5,
        };
        if p + bl > end {
            return Err(BAD);
        }
        match read_backlen(lp, p + bl) {
            Some((v, used)) if v == size as u64 && used == bl => {}
            _ => return Err(BAD),
        }
        p += bl;
        out.push(elem);
    }
    if claimed != 65535 && claimed != out.len() {
        return Err(BAD);
    }
    Ok(out)
}

// === Intset ===

/// Encodes sorted, distinct integers as an intset.
pub(crate) fn intset(values: &[i64]) -> Vec<u8> {
    let width = values
        .iter()
        .map(|&v| {
            if i16::try_from(v).is_ok() {
                2
            } else if i32::try_from(v).is_ok() {
                4
            } else {
                8
            }
        })
        .max()
        .unwrap_or(2);
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

/// Decodes an intset: strictly ascending integers.
pub(crate) fn decode_intset(b: &[u8]) -> Result<Vec<i64>, Bad> {
    const BAD: Bad = Bad("corrupt intset");
    if b.len() < 8 {
        return Err(BAD);
    }
    let width = u32::from_le_bytes(b[0..4].try_into().expect("4")) as usize;
    let n = u32::from_le_bytes(b[4..8].try_into().expect("4")) as usize;
    if !matches!(width, 2 | 4 | 8) || (b.len() - 8) != n.checked_mul(width).ok_or(BAD)? || n == 0 {
        return Err(BAD);
    }
    let vals: Vec<i64> = b[8..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => i32::from_le_bytes(c.try_into().expect("4")) as i64,
            _ => i64::from_le_bytes(c.try_into().expect("8")),
        })
        .collect();
    if vals.windows(2).any(|w| w[0] >= w[1]) {
        return Err(BAD);
    }
    Ok(vals)
}

// === Ziplist (RDB files of Redis before 7.0) ===

/// Every element of a ziplist (`ziplist.c`), validated.
pub(crate) fn decode_ziplist(z: &[u8]) -> Result<Vec<Elem<'_>>, Bad> {
    const BAD: Bad = Bad("corrupt ziplist");
    if z.len() < 11 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes(z[0..4].try_into().expect("4")) as usize;
    let claimed = u16::from_le_bytes([z[8], z[9]]) as usize;
    if total != z.len() || z[total - 1] != 0xff {
        return Err(BAD);
    }
    let end = total - 1;
    let mut out = Vec::new();
    let mut p = 10;
    while p < end {
        // prevlen: 1 byte, or 0xfe and 4 bytes.
        p += if z[p] == 0xfe { 5 } else { 1 };
        let get = |from: usize, n: usize| z.get(from..from + n).filter(|_| from + n <= end);
        let e = *get(p, 1).ok_or(BAD)?.first().ok_or(BAD)?;
        let (elem, size) = match e >> 6 {
            0 => {
                let l = (e & 0x3f) as usize;
                (Elem::Str(get(p + 1, l).ok_or(BAD)?), 1 + l)
            }
            1 => {
                let b = get(p + 1, 1).ok_or(BAD)?[0];
                let l = (((e & 0x3f) as usize) << 8) | b as usize;
                (Elem::Str(get(p + 2, l).ok_or(BAD)?), 2 + l)
            }
            2 => {
                let lb = get(p + 1, 4).ok_or(BAD)?;
                let l = u32::from_be_bytes(lb.try_into().expect("4")) as usize;
                (Elem::Str(get(p + 5, l).ok_or(BAD)?), 5 + l)
            }
            _ => match e {
                0xc0 => {
                    let d = get(p + 1, 2).ok_or(BAD)?;
                    (Elem::Int(i16::from_le_bytes([d[0], d[1]]) as i64), 3)
                }
                0xd0 => {
                    let d = get(p + 1, 4).ok_or(BAD)?;
                    (
                        Elem::Int(i32::from_le_bytes(d.try_into().expect("4")) as i64),
                        5,
                    )
                }
                0xe0 => {
                    let d = get(p + 1, 8).ok_or(BAD)?;
                    (Elem::Int(i64::from_le_bytes(d.try_into().expect("8"))), 9)
                }
                0xf0 => {
                    let d = get(p + 1, 3).ok_or(BAD)?;
                    let u = u32::from_le_bytes([d[0], d[1], d[2], 0]);
                    (Elem::Int(((u << 8) as i32 >> 8) as i64), 4)
                }
                0xfe => {
                    let d = get(p + 1, 1).ok_or(BAD)?;
                    (Elem::Int(d[0] as i8 as i64), 2)
                }
                0xf1..=0xfd => (Elem::Int((e & 0x0f) as i64 - 1), 1),
                _ => return Err(BAD),
            },
        };
        p += size;
        out.push(elem);
    }
    if p != end || (claimed != 65535 && claimed != out.len()) {
        return Err(BAD);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn elem_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            (-5000i64..5000).prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..100),
            proptest::collection::vec(any::<u8>(), 4000..4200),
        ]
    }

    proptest! {
        #[test]
        fn listpack_roundtrip(items in proptest::collection::vec(elem_strategy(), 0..40)) {
            let mut b = Builder::new();
            for i in &items {
                b.push(i);
            }
            let lp = b.finish();
            let back: Vec<Vec<u8>> = decode(&lp).unwrap().into_iter().map(Elem::to_vec).collect();
            prop_assert_eq!(back, items);
        }

        #[test]
        fn intset_roundtrip(mut v in proptest::collection::vec(any::<i64>(), 1..50)) {
            v.sort();
            v.dedup();
            prop_assert_eq!(decode_intset(&intset(&v)).unwrap(), v);
        }

        #[test]
        fn listpack_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&data);
            let _ = decode_ziplist(&data);
            let _ = decode_intset(&data);
        }
    }

    #[test]
    fn integer_widths_match_redis() {
        // Encodings chosen by lpEncodeIntegerGetType.
        for (v, first) in [
            (5i64, 5u8),
            (-1, 0xdf),
            (4095, 0xcf),
            (30000, 0xf1),
            (-8388608, 0xf2),
            (1 << 30, 0xf3),
            (1 << 40, 0xf4),
        ] {
            let mut b = Builder::new();
            b.push_int(v);
            let lp = b.finish();
            assert_eq!(lp[6], first, "{v}");
            assert_eq!(decode(&lp).unwrap(), vec![Elem::Int(v)]);
        }
    }
}
