//! The HPACK decoder: field blocks in, a [`HeaderList`] of spans out.

use super::huffman::{self, HuffmanError};
use super::table::{DynamicTable, ENTRY_OVERHEAD, STATIC};
use crate::Span;

/// Why a field block could not be decoded. Each is a connection error of
/// type COMPRESSION_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// An integer or string runs past the end of the block.
    Truncated,
    /// An integer beyond what any field or table could need (2^32).
    IntegerOverflow,
    /// Index 0, or an index past the static and dynamic tables.
    BadIndex,
    /// The EOS symbol inside a Huffman-coded string.
    HuffmanEos,
    /// Huffman padding longer than 7 bits or not all ones.
    HuffmanPadding,
    /// A dynamic table size update above the size we advertised.
    SizeUpdateTooLarge,
    /// A dynamic table size update after the block's first field.
    SizeUpdateNotAtStart,
    /// We lowered SETTINGS_HEADER_TABLE_SIZE and the next block did not
    /// start with a size update that honours it.
    SizeUpdateMissing,
}

impl DecodeError {
    /// A short token for logs.
    pub fn reason(self) -> &'static str {
        match self {
            DecodeError::Truncated => "hpack-truncated",
            DecodeError::IntegerOverflow => "hpack-integer-overflow",
            DecodeError::BadIndex => "hpack-bad-index",
            DecodeError::HuffmanEos => "hpack-huffman-eos",
            DecodeError::HuffmanPadding => "hpack-huffman-padding",
            DecodeError::SizeUpdateTooLarge => "hpack-size-update-too-large",
            DecodeError::SizeUpdateNotAtStart => "hpack-size-update-not-at-start",
            DecodeError::SizeUpdateMissing => "hpack-size-update-missing",
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for DecodeError {}

impl From<HuffmanError> for DecodeError {
    fn from(e: HuffmanError) -> Self {
        match e {
            HuffmanError::Eos => DecodeError::HuffmanEos,
            HuffmanError::BadPadding => DecodeError::HuffmanPadding,
        }
    }
}

/// One decoded field: spans into [`HeaderList::bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField {
    pub name: Span,
    pub value: Span,
    /// Sent as "never indexed" (§6.2.3): a proxy must forward it the same way.
    pub never_index: bool,
}

/// The fields of one decoded block, in order, in one reused buffer.
#[derive(Debug, Default, Clone)]
pub struct HeaderList {
    buf: Vec<u8>,
    fields: Vec<HeaderField>,
    size: usize,
    too_large: bool,
}

impl HeaderList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget the fields, keep the buffers.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.fields.clear();
        self.size = 0;
        self.too_large = false;
    }

    /// The bytes the spans point into.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn fields(&self) -> &[HeaderField] {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// (name, value) of each field, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|f| (f.name.get(&self.buf), f.value.get(&self.buf)))
    }

    /// The decoded list size as RFC 9113 counts it (name + value + 32 per
    /// field), including fields dropped for being past the limit.
    pub fn list_size(&self) -> usize {
        self.size
    }

    /// The block decoded past the list-size limit: the fields kept are a
    /// prefix only. The connection is fine (the table is in step); the
    /// request gets 431 or a stream error.
    pub fn too_large(&self) -> bool {
        self.too_large
    }

    /// Count a field of `len` name+value bytes; false once past `limit`.
    fn admit(&mut self, len: usize, limit: usize) -> bool {
        self.size = self.size.saturating_add(len + ENTRY_OVERHEAD);
        if self.size > limit {
            self.too_large = true;
        }
        !self.too_large
    }

    fn push(&mut self, name: &[u8], value: &[u8], never_index: bool, limit: usize) {
        if !self.admit(name.len() + value.len(), limit) {
            return;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(name);
        self.buf.extend_from_slice(value);
        self.commit(start, start + name.len(), never_index);
    }

    fn commit(&mut self, start: usize, name_end: usize, never_index: bool) {
        let end = self.buf.len();
        self.fields.push(HeaderField {
            name: Span::new(start, name_end),
            value: Span::new(name_end, end),
            never_index,
        });
    }
}

/// An HPACK decoder: one per connection (it holds the dynamic table).
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// SETTINGS_HEADER_TABLE_SIZE as we advertised it: no size update may
    /// go above it.
    limit: usize,
    max_list_size: usize,
    update_required: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(super::DEFAULT_TABLE_SIZE, 16 * 1024)
    }
}

impl Decoder {
    /// A decoder for a connection where we advertise `max_table_size`
    /// (SETTINGS_HEADER_TABLE_SIZE; the peer starts at 4096 until it has
    /// seen our SETTINGS, so pass 4096 until they are acknowledged) and
    /// refuse header lists over `max_list_size` (SETTINGS_MAX_HEADER_LIST_SIZE).
    pub fn new(max_table_size: usize, max_list_size: usize) -> Self {
        Decoder {
            table: DynamicTable::new(max_table_size),
            limit: max_table_size,
            max_list_size,
            update_required: false,
        }
    }

    /// Our SETTINGS_HEADER_TABLE_SIZE changed (call when the peer has
    /// acknowledged it). Lowering it obliges the peer to start its next block
    /// with a size update at or below the new value.
    pub fn set_max_table_size(&mut self, size: usize) {
        if size < self.table.max() {
            self.update_required = true;
        }
        self.limit = size;
    }

    pub fn set_max_list_size(&mut self, size: usize) {
        self.max_list_size = size;
    }

    /// The dynamic table's size as the RFC counts it.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decode one complete field block (HEADERS plus its CONTINUATIONs,
    /// concatenated) into `out` (cleared first).
    pub fn decode(&mut self, block: &[u8], out: &mut HeaderList) -> Result<(), DecodeError> {
        out.clear();
        let limit = self.max_list_size;
        let mut pos = 0;
        let mut at_start = true;
        while pos < block.len() {
            let b = block[pos];
            if b & 0x80 != 0 {
                // §6.1 indexed field.
                let idx = integer(block, &mut pos, 7)?;
                let (name, value) = self.lookup(idx)?;
                out.push(name, value, false, limit);
            } else if b & 0xe0 == 0x20 {
                // §6.3 dynamic table size update.
                if !at_start {
                    return Err(DecodeError::SizeUpdateNotAtStart);
                }
                let size = integer(block, &mut pos, 5)?;
                if size > self.limit {
                    return Err(DecodeError::SizeUpdateTooLarge);
                }
                self.table.set_max(size);
                self.update_required = false;
                continue;
            } else {
                // §6.2 literals: with incremental indexing (01), without (0000)
                // or never indexed (0001).
                let (prefix, incremental) = if b & 0x40 != 0 { (6, true) } else { (4, false) };
                let never_index = !incremental && b & 0x10 != 0;
                let idx = integer(block, &mut pos, prefix)?;
                let start = out.buf.len();
                if idx == 0 {
                    string(block, &mut pos, &mut out.buf)?;
                } else {
                    let (name, _) = self.lookup(idx)?;
                    out.buf.extend_from_slice(name);
                }
                let name_end = out.buf.len();
                string(block, &mut pos, &mut out.buf)?;
                if incremental {
                    self.table
                        .insert(&out.buf[start..name_end], &out.buf[name_end..]);
                }
                if out.admit(out.buf.len() - start, limit) {
                    out.commit(start, name_end, never_index);
                } else {
                    out.buf.truncate(start);
                }
            }
            if self.update_required {
                return Err(DecodeError::SizeUpdateMissing);
            }
            at_start = false;
        }
        if self.update_required {
            return Err(DecodeError::SizeUpdateMissing);
        }
        Ok(())
    }

    fn lookup(&self, idx: usize) -> Result<(&[u8], &[u8]), DecodeError> {
        match idx {
            0 => Err(DecodeError::BadIndex),
            1..=61 => Ok(STATIC[idx - 1]),
            _ => self.table.get(idx - 62).ok_or(DecodeError::BadIndex),
        }
    }
}

/// Read a prefixed integer (§5.1) whose first byte is `block[*pos]`.
fn integer(block: &[u8], pos: &mut usize, prefix_bits: u32) -> Result<usize, DecodeError> {
    let mask = ((1u32 << prefix_bits) - 1) as u8;
    let first = block.get(*pos).ok_or(DecodeError::Truncated)? & mask;
    *pos += 1;
    if first < mask {
        return Ok(usize::from(first));
    }
    let mut value = u64::from(mask);
    let mut shift = 0;
    loop {
        let b = *block.get(*pos).ok_or(DecodeError::Truncated)?;
        *pos += 1;
        value += u64::from(b & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(DecodeError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            return Ok(value as usize);
        }
        shift += 7;
        if shift > 28 {
            // Only zero continuation bytes could follow without overflowing:
            // refuse such padding too.
            return Err(DecodeError::IntegerOverflow);
        }
    }
}

/// Read a string literal (§5.2) onto the end of `out`.
fn string(block: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let huffman = block.get(*pos).ok_or(DecodeError::Truncated)? & 0x80 != 0;
    let len = integer(block, pos, 7)?;
    let raw = block
        .get(*pos..)
        .and_then(|rest| rest.get(..len))
        .ok_or(DecodeError::Truncated)?;
    *pos += len;
    if huffman {
        huffman::decode(raw, out)?;
    } else {
        out.extend_from_slice(raw);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn fields(list: &HeaderList) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8(n.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn integers_c1() {
        // C.1.1: 10 in a 5-bit prefix; C.1.2: 1337; C.1.3: 42 at a byte boundary.
        let mut pos = 0;
        assert_eq!(integer(&[0b0000_1010], &mut pos, 5), Ok(10));
        pos = 0;
        assert_eq!(integer(&[0x1f, 0x9a, 0x0a], &mut pos, 5), Ok(1337));
        assert_eq!(pos, 3);
        pos = 0;
        assert_eq!(integer(&[42], &mut pos, 8), Ok(42));
        pos = 0;
        assert_eq!(
            integer(&[0x1f, 0x9a], &mut pos, 5),
            Err(DecodeError::Truncated)
        );
        pos = 0;
        assert_eq!(
            integer(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f], &mut pos, 5),
            Err(DecodeError::IntegerOverflow)
        );
        pos = 0;
        // Zero continuation bytes forever are refused too.
        assert_eq!(
            integer(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], &mut pos, 5),
            Err(DecodeError::IntegerOverflow)
        );
    }

    #[test]
    fn c2_literals_and_indexed() {
        // C.2.1 literal with indexing.
        let mut d = Decoder::default();
        let mut out = HeaderList::new();
        d.decode(
            &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
            &mut out,
        )
        .unwrap();
        assert_eq!(fields(&out), pairs(&[("custom-key", "custom-header")]));
        assert_eq!(d.table_size(), 55);
        // C.2.2 literal without indexing.
        let mut d = Decoder::default();
        d.decode(&hex("040c 2f73 616d 706c 652f 7061 7468"), &mut out)
            .unwrap();
        assert_eq!(fields(&out), pairs(&[(":path", "/sample/path")]));
        assert_eq!(d.table_size(), 0);
        // C.2.3 never indexed.
        d.decode(&hex("1008 7061 7373 776f 7264 0673 6563 7265 74"), &mut out)
            .unwrap();
        assert_eq!(fields(&out), pairs(&[("password", "secret")]));
        assert!(out.fields()[0].never_index);
        assert_eq!(d.table_size(), 0);
        // C.2.4 indexed.
        d.decode(&hex("82"), &mut out).unwrap();
        assert_eq!(fields(&out), pairs(&[(":method", "GET")]));
    }

    fn run(blocks: &[&str], expect: &[&[(&str, &str)]], sizes: &[usize], table: usize) {
        let mut d = Decoder::new(table, 64 * 1024);
        let mut out = HeaderList::new();
        for ((block, want), size) in blocks.iter().zip(expect).zip(sizes) {
            d.decode(&hex(block), &mut out).unwrap();
            assert_eq!(fields(&out), pairs(want));
            assert_eq!(d.table_size(), *size);
        }
    }

    const REQ1: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ];
    const REQ2: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
        ("cache-control", "no-cache"),
    ];
    const REQ3: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ];

    #[test]
    fn c3_requests_without_huffman() {
        run(
            &[
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "8286 84be 5808 6e6f 2d63 6163 6865",
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            ],
            &[REQ1, REQ2, REQ3],
            &[57, 110, 164],
            4096,
        );
    }

    #[test]
    fn c4_requests_with_huffman() {
        run(
            &[
                "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                "8286 84be 5886 a8eb 1064 9cbf",
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ],
            &[REQ1, REQ2, REQ3],
            &[57, 110, 164],
            4096,
        );
    }

    const RESP1: &[(&str, &str)] = &[
        (":status", "302"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    const RESP2: &[(&str, &str)] = &[
        (":status", "307"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    const RESP3: &[(&str, &str)] = &[
        (":status", "200"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ("location", "https://www.example.com"),
        ("content-encoding", "gzip"),
        (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
    ];

    #[test]
    fn c5_responses_without_huffman_table_256() {
        run(
            &[
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230
                 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65
                 7861 6d70 6c65 2e63 6f6d",
                "4803 3330 37c1 c0bf",
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220
                 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157
                 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076
                 6572 7369 6f6e 3d31",
            ],
            &[RESP1, RESP2, RESP3],
            &[222, 222, 215],
            256,
        );
    }

    #[test]
    fn c6_responses_with_huffman_table_256() {
        run(
            &[
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0
                 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                "4883 640e ffc1 c0bf",
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b
                 d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27
                 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ],
            &[RESP1, RESP2, RESP3],
            &[222, 222, 215],
            256,
        );
    }

    #[test]
    fn size_updates() {
        let mut d = Decoder::new(4096, 1 << 16);
        let mut out = HeaderList::new();
        // Update to 0 then 4096 at the start: fine.
        d.decode(&[0x20, 0x3f, 0xe1, 0x1f, 0x82], &mut out).unwrap();
        // Above our limit.
        assert_eq!(
            d.decode(&[0x3f, 0xe2, 0x1f], &mut out),
            Err(DecodeError::SizeUpdateTooLarge)
        );
        // After a field.
        assert_eq!(
            d.decode(&[0x82, 0x20], &mut out),
            Err(DecodeError::SizeUpdateNotAtStart)
        );
        // We lowered the limit: the next block must say so first.
        let mut d = Decoder::new(4096, 1 << 16);
        d.set_max_table_size(100);
        assert_eq!(
            d.decode(&[0x82], &mut out),
            Err(DecodeError::SizeUpdateMissing)
        );
        let mut d = Decoder::new(4096, 1 << 16);
        d.set_max_table_size(100);
        d.decode(&[0x3f, 0x45, 0x82], &mut out).unwrap();
        assert_eq!(fields(&out), pairs(&[(":method", "GET")]));
    }

    #[test]
    fn bad_indices() {
        let mut d = Decoder::default();
        let mut out = HeaderList::new();
        assert_eq!(d.decode(&[0x80], &mut out), Err(DecodeError::BadIndex));
        assert_eq!(d.decode(&[0xbe], &mut out), Err(DecodeError::BadIndex));
        assert_eq!(
            d.decode(&[0x7e, 0x01, b'a'], &mut out),
            Err(DecodeError::BadIndex)
        );
        assert_eq!(
            d.decode(&[0x40, 0x05, b'a'], &mut out),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn hpack_bomb_is_counted_not_stored() {
        // One 4,000-byte entry, then 10,000 one-byte references to it.
        let mut d = Decoder::new(4096, 16 * 1024);
        let mut block = vec![0x40, 0x01, b'x', 0x7f, 0xa1, 0x1e];
        block.extend(std::iter::repeat_n(b'v', 4000));
        block.extend(std::iter::repeat_n(0xbe, 10_000));
        let mut out = HeaderList::new();
        d.decode(&block, &mut out).unwrap();
        assert!(out.too_large());
        assert!(out.bytes().len() <= 16 * 1024);
        // 4 fields of 4,033 fit in 16 KiB, the fifth does not.
        assert_eq!(out.len(), 4);
        assert_eq!(out.list_size(), 10_001 * (4001 + 32));
        // The table is still in step: the next block decodes.
        d.decode(&[0xbe], &mut out).unwrap();
        assert_eq!(out.iter().next().unwrap().1.len(), 4000);
    }
}
