//! Fuzzes the front door's HTTP/2 wire layer (`h2wire`): the frame parser and
//! the HPACK decoder, as a connection would drive them. Properties: no panic;
//! a frame never claims more bytes than it was given, and a prefix of the
//! input is incomplete or parses to the same frame; field blocks (HEADERS +
//! CONTINUATIONs, and the raw input as one block) decode within the header
//! list limit; whatever decodes re-encodes with our encoder and decodes to
//! the same fields.
#![no_main]

use h2wire::frame::{self, Frame};
use h2wire::hpack::{Decoder, Encoder, HeaderList, Indexing};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

fn check(list: &HeaderList) {
    let kept: usize = list.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
    assert!(kept <= LIMIT);
    assert_eq!(list.too_large(), list.list_size() > LIMIT);
}

fn round_trip(list: &HeaderList) {
    let mut enc = Encoder::new();
    let mut wire = Vec::new();
    enc.begin_block(&mut wire);
    for (f, (n, v)) in list.fields().iter().zip(list.iter()) {
        let how = if f.never_index {
            Indexing::Never
        } else {
            Indexing::Incremental
        };
        enc.encode(n, v, how, &mut wire);
    }
    let mut dec = Decoder::new(4096, usize::MAX);
    let mut again = HeaderList::new();
    dec.decode(&wire, &mut again)
        .expect("our own block decodes");
    assert!(again.iter().eq(list.iter()));
}

fuzz_target!(|data: &[u8]| {
    // The input as one field block, on a fresh decoder.
    let mut dec = Decoder::new(4096, LIMIT);
    let mut list = HeaderList::new();
    if dec.decode(data, &mut list).is_ok() {
        check(&list);
        if !list.too_large() {
            round_trip(&list);
        }
    }
    // The input as a stream of frames; field blocks assembled and decoded
    // on one connection decoder.
    // The first byte picks our SETTINGS_MAX_FRAME_SIZE; frames follow it.
    let max = if data.first().is_some_and(|b| b & 1 == 1) {
        64
    } else {
        frame::DEFAULT_MAX_FRAME_SIZE
    };
    let data = data.get(1..).unwrap_or_default();
    let mut dec = Decoder::new(256, LIMIT);
    let mut block = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        let parsed = frame::parse(rest, max);
        let cut = rest.len() / 2;
        match (frame::parse(&rest[..cut], max), &parsed) {
            (Ok(None), _) => {}
            (Ok(Some(p)), Ok(Some(w))) => assert_eq!(&p, w),
            (Err(a), Err(b)) => assert_eq!(&a, b),
            (other, _) => panic!("prefix parsed as {other:?}, whole as {parsed:?}"),
        }
        let Ok(Some((f, used))) = parsed else { break };
        assert!((9..=rest.len()).contains(&used));
        let (fragment, end) = match f {
            Frame::Headers {
                block, end_headers, ..
            } => {
                list.clear();
                (Some(block), end_headers)
            }
            Frame::Continuation {
                block, end_headers, ..
            } => (Some(block), end_headers),
            _ => (None, false),
        };
        if let Some(fragment) = fragment {
            block.extend_from_slice(fragment);
            if end {
                if dec.decode(&block, &mut list).is_ok() {
                    check(&list);
                }
                block.clear();
            }
        }
        pos += used;
    }
});
