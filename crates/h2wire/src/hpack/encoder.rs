//! The HPACK encoder: fields in, a field block out.

use bytes::BufMut;

use super::huffman;
use super::table::{static_name_index, static_pair_index, DynamicTable};

/// How a field may use the dynamic table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// Added to the dynamic table (and found there next time): for fields
    /// that repeat on a connection (`server`, `content-type`).
    Incremental,
    /// Sent as a literal, the table untouched: for values that change on
    /// every response (`date`, `content-length`).
    Without,
    /// Never indexed, by us or any intermediary (§6.2.3): for secrets
    /// (`set-cookie`, `authorization`) or fields that arrived that way.
    Never,
}

/// The most dynamic table we keep for our encoder, whatever the peer
/// allows: a few repeated response fields fit in it, and it is memory per
/// connection.
pub const MAX_ENCODER_TABLE: usize = 4096;

/// An HPACK encoder: one per connection (it holds the dynamic table the
/// peer's decoder mirrors).
#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable,
    /// Size updates owed at the start of the next block: the smallest size
    /// since the last block, then the final one (§4.2).
    pending_min: Option<usize>,
    pending_final: Option<usize>,
    /// The last `date` field sent without indexing, and its encoding.
    date: DateCache,
}

/// A `date` changes once a second while a connection sends many responses:
/// its Huffman coding is done once per value, as nginx does per second, and
/// copied after that. Inline, no allocation: an IMF-fixdate is 29 bytes,
/// its field at most 32 (2 for the name's index, 1 for the length).
#[derive(Debug, Default)]
struct DateCache {
    value: [u8; 32],
    value_len: u8,
    coded: [u8; 32],
    coded_len: u8,
}

impl DateCache {
    fn get(&self, value: &[u8]) -> Option<&[u8]> {
        (self.coded_len > 0 && &self.value[..usize::from(self.value_len)] == value)
            .then(|| &self.coded[..usize::from(self.coded_len)])
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            table: DynamicTable::new(super::DEFAULT_TABLE_SIZE.min(MAX_ENCODER_TABLE)),
            pending_min: None,
            pending_final: None,
            date: DateCache::default(),
        }
    }
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: we use up to that
    /// much (capped at [`MAX_ENCODER_TABLE`]) and say so at the start of the
    /// next block.
    pub fn set_peer_max_table_size(&mut self, size: usize) {
        let size = size.min(MAX_ENCODER_TABLE);
        if size == self.table.max() && self.pending_final.is_none() {
            return;
        }
        self.pending_min = Some(self.pending_min.map_or(size, |m| m.min(size)));
        self.pending_final = Some(size);
        self.table.set_max(size);
    }

    /// Start a field block: writes any size update owed. Call once per block,
    /// before its first field.
    pub fn begin_block<B: BufMut>(&mut self, dst: &mut B) {
        if let Some(last) = self.pending_final.take() {
            let min = self.pending_min.take().unwrap_or(last);
            if min < last {
                integer(dst, 0x20, 5, min);
            }
            integer(dst, 0x20, 5, last);
        }
    }

    /// Encode `:status` (the static table has 200, 204, 206, 304, 400, 404
    /// and 500; the rest are three digits after index 8).
    pub fn encode_status<B: BufMut>(&mut self, status: u16, dst: &mut B) {
        let digits = [
            b'0' + (status / 100 % 10) as u8,
            b'0' + (status / 10 % 10) as u8,
            b'0' + (status % 10) as u8,
        ];
        self.encode(b":status", &digits, Indexing::Without, dst);
    }

    /// Encode one field. `name` must already be lowercase (RFC 9113 §8.2.1).
    pub fn encode<B: BufMut>(&mut self, name: &[u8], value: &[u8], how: Indexing, dst: &mut B) {
        if name == b"date" && how == Indexing::Without && value.len() <= 29 {
            return self.encode_date(value, dst);
        }
        let static_name = static_name_index(name);
        if how != Indexing::Never {
            if let Some(idx) = static_name.and_then(|n| static_pair_index(n, value)) {
                integer(dst, 0x80, 7, idx);
                return;
            }
        }
        // The dynamic table only for what the caller wants indexed: a scan of
        // a few entries, not worth it for one-off values.
        let mut name_idx = static_name.unwrap_or(0);
        if how == Indexing::Incremental {
            match self.table.find(name, value) {
                Ok(i) => {
                    integer(dst, 0x80, 7, 62 + i);
                    return;
                }
                Err(Some(i)) if name_idx == 0 => name_idx = 62 + i,
                Err(_) => {}
            }
        }
        match how {
            Indexing::Incremental => integer(dst, 0x40, 6, name_idx),
            Indexing::Without => integer(dst, 0x00, 4, name_idx),
            Indexing::Never => integer(dst, 0x10, 4, name_idx),
        }
        if name_idx == 0 {
            string(dst, name);
        }
        string(dst, value);
        if how == Indexing::Incremental {
            self.table.insert(name, value);
        }
    }
}

impl Encoder {
    /// `date` without indexing (static name 33), from the cache when the
    /// value is the last one.
    fn encode_date<B: BufMut>(&mut self, value: &[u8], dst: &mut B) {
        if let Some(coded) = self.date.get(value) {
            dst.put_slice(coded);
            return;
        }
        let mut coded = [0u8; 32];
        let n = {
            let mut w = &mut coded[..];
            integer(&mut w, 0x00, 4, 33);
            string(&mut w, value);
            32 - w.len()
        };
        dst.put_slice(&coded[..n]);
        self.date = DateCache {
            value: [0; 32],
            value_len: value.len() as u8,
            coded,
            coded_len: n as u8,
        };
        self.date.value[..value.len()].copy_from_slice(value);
    }
}

/// Write a prefixed integer (§5.1): `flags` are the bits above the prefix.
pub(crate) fn integer<B: BufMut>(dst: &mut B, flags: u8, prefix_bits: u32, value: usize) {
    let max = (1usize << prefix_bits) - 1;
    if value < max {
        dst.put_u8(flags | value as u8);
        return;
    }
    dst.put_u8(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        dst.put_u8(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.put_u8(rest as u8);
}

/// Write a string literal, Huffman-coded where that is shorter.
fn string<B: BufMut>(dst: &mut B, s: &[u8]) {
    let coded = huffman::encoded_len(s);
    if coded < s.len() {
        integer(dst, 0x80, 7, coded);
        huffman::encode(s, dst);
    } else {
        integer(dst, 0x00, 7, s.len());
        dst.put_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Decoder, HeaderList};
    use super::*;

    #[test]
    fn c4_first_request_byte_for_byte() {
        // RFC 7541 C.4.1, with :authority indexed as the RFC's encoder did.
        let mut e = Encoder::new();
        let mut out = Vec::new();
        e.begin_block(&mut out);
        e.encode(b":method", b"GET", Indexing::Incremental, &mut out);
        e.encode(b":scheme", b"http", Indexing::Incremental, &mut out);
        e.encode(b":path", b"/", Indexing::Incremental, &mut out);
        e.encode(
            b":authority",
            b"www.example.com",
            Indexing::Incremental,
            &mut out,
        );
        assert_eq!(
            out,
            [
                0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab,
                0x90, 0xf4, 0xff
            ]
        );
        // C.4.2: the second request finds :authority in the table (0xbe).
        out.clear();
        e.begin_block(&mut out);
        e.encode(b":method", b"GET", Indexing::Incremental, &mut out);
        e.encode(b":scheme", b"http", Indexing::Incremental, &mut out);
        e.encode(b":path", b"/", Indexing::Incremental, &mut out);
        e.encode(
            b":authority",
            b"www.example.com",
            Indexing::Incremental,
            &mut out,
        );
        e.encode(
            b"cache-control",
            b"no-cache",
            Indexing::Incremental,
            &mut out,
        );
        assert_eq!(
            out,
            [0x82, 0x86, 0x84, 0xbe, 0x58, 0x86, 0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]
        );
    }

    #[test]
    fn c2_literal_forms() {
        let mut out = Vec::new();
        let mut e = Encoder::new();
        // C.2.2 without indexing (name from the static table, no Huffman gain).
        e.encode(b":path", b"/sample/path", Indexing::Without, &mut out);
        let mut huff = Vec::new();
        string(&mut huff, b"/sample/path");
        let mut want = vec![0x04];
        want.extend_from_slice(&huff);
        assert_eq!(out, want);
        // C.2.3 never indexed: the literal form even for a static pair.
        out.clear();
        e.encode(b":method", b"GET", Indexing::Never, &mut out);
        assert_eq!(out[0], 0x12);
    }

    #[test]
    fn a_repeated_date_is_copied_from_its_first_encoding() {
        let one = b"Fri, 04 Dec 2026 20:00:00 GMT";
        let two = b"Fri, 04 Dec 2026 20:00:01 GMT";
        // What the general path writes (a fresh encoder, a name it does not cache).
        let reference = |value: &[u8]| {
            let mut out = Vec::new();
            integer(&mut out, 0x00, 4, 33);
            string(&mut out, value);
            out
        };
        let mut e = Encoder::new();
        let mut d = Decoder::new(4096, 1 << 16);
        let mut list = HeaderList::new();
        for value in [&one[..], one, two, two, one, b"", b"x"] {
            let mut out = Vec::new();
            e.encode(b"date", value, Indexing::Without, &mut out);
            assert_eq!(out, reference(value), "{value:?}");
            d.decode(&out, &mut list).unwrap();
            assert_eq!(list.iter().collect::<Vec<_>>(), [(&b"date"[..], value)]);
            assert!(e.date.get(value).is_some());
        }
        // Not cached: too long for it, or to be indexed.
        let long = [b'a'; 30];
        let mut out = Vec::new();
        e.encode(b"date", &long, Indexing::Without, &mut out);
        assert_eq!(out, reference(&long));
        assert!(e.date.get(&long).is_none());
    }

    #[test]
    fn size_updates_then_round_trip() {
        let mut e = Encoder::new();
        let mut d = Decoder::new(4096, 1 << 16);
        let mut list = HeaderList::new();
        let mut out = Vec::new();
        for round in 0..3 {
            if round == 1 {
                e.set_peer_max_table_size(0);
                e.set_peer_max_table_size(100);
            }
            out.clear();
            e.begin_block(&mut out);
            e.encode_status(200, &mut out);
            e.encode_status(302, &mut out);
            e.encode(b"server", b"bigstep", Indexing::Incremental, &mut out);
            e.encode(
                b"content-type",
                b"text/html",
                Indexing::Incremental,
                &mut out,
            );
            e.encode(b"x-custom", b"a value", Indexing::Incremental, &mut out);
            e.encode(b"set-cookie", b"a=b", Indexing::Never, &mut out);
            if round == 1 {
                assert_eq!(&out[..2], [0x20, 0x3f]);
            }
            d.decode(&out, &mut list).unwrap();
            let got: Vec<_> = list.iter().collect();
            let want: [(&[u8], &[u8]); 6] = [
                (b":status", b"200"),
                (b":status", b"302"),
                (b"server", b"bigstep"),
                (b"content-type", b"text/html"),
                (b"x-custom", b"a value"),
                (b"set-cookie", b"a=b"),
            ];
            assert_eq!(got, want);
            assert!(list.fields()[5].never_index);
        }
        // The table (100 bytes) holds the two newest entries: a repeat of
        // one is a single byte.
        out.clear();
        e.begin_block(&mut out);
        e.encode(b"x-custom", b"a value", Indexing::Incremental, &mut out);
        assert_eq!(out.len(), 1);
    }
}
