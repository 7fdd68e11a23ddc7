//! Properties of the frame parser and HPACK: what we encode decodes to the
//! same fields (over many blocks sharing one dynamic table, with table size
//! changes between them); random and mutated input never panics, never
//! keeps more than the header list limit, and parses the same whether it
//! arrives whole or in a prefix.

use h2wire::frame;
use h2wire::hpack::{Decoder, Encoder, HeaderList, Indexing};
use proptest::prelude::*;

fn indexing() -> impl Strategy<Value = Indexing> {
    prop_oneof![
        Just(Indexing::Incremental),
        Just(Indexing::Without),
        Just(Indexing::Never)
    ]
}

/// Names and values from a small alphabet (so the tables get hits) and
/// arbitrary bytes (so Huffman sees long codes and raw literals win).
fn field() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Indexing)> {
    let name = prop_oneof![
        prop::sample::select(vec![
            ":status",
            ":path",
            "server",
            "content-type",
            "set-cookie",
            "x-a",
            "accept-encoding",
        ])
        .prop_map(|n| n.as_bytes().to_vec()),
        "[a-z0-9-]{1,12}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..20),
    ];
    let value = prop_oneof![
        prop::sample::select(vec!["200", "/", "gzip, deflate", "bigstep", ""])
            .prop_map(|v| v.as_bytes().to_vec()),
        "[ -~]{0,40}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..300),
    ];
    (name, value, indexing())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn hpack_round_trips(
        blocks in prop::collection::vec(prop::collection::vec(field(), 0..12), 1..8),
        sizes in prop::collection::vec(prop::option::of(0usize..5000), 8),
    ) {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new(4096, usize::MAX);
        let mut list = HeaderList::new();
        let mut wire = Vec::new();
        for (block, size) in blocks.iter().zip(&sizes) {
            if let Some(size) = size {
                // The peer (our decoder) allows 4096; the encoder may use less.
                enc.set_peer_max_table_size((*size).min(4096));
            }
            wire.clear();
            enc.begin_block(&mut wire);
            for (n, v, how) in block {
                enc.encode(n, v, *how, &mut wire);
            }
            dec.decode(&wire, &mut list).unwrap();
            let got: Vec<_> = list.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
            let want: Vec<_> = block.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect();
            prop_assert_eq!(got, want);
            for (f, (_, _, how)) in list.fields().iter().zip(block) {
                prop_assert_eq!(f.never_index, *how == Indexing::Never);
            }
            prop_assert!(dec.table_size() <= 4096);
        }
    }

    #[test]
    fn random_blocks_never_panic_nor_exceed_the_limit(
        blocks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..6),
        limit in 0usize..2000,
    ) {
        let mut dec = Decoder::new(4096, limit);
        let mut list = HeaderList::new();
        for block in &blocks {
            if dec.decode(block, &mut list).is_ok() {
                check_limit(&list, limit)?;
            }
            prop_assert!(dec.table_size() <= 4096);
        }
    }

    #[test]
    fn mutated_blocks_never_panic_nor_exceed_the_limit(
        block in prop::collection::vec(field(), 1..10),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        limit in 0usize..3000,
    ) {
        let mut enc = Encoder::new();
        let mut wire = Vec::new();
        enc.begin_block(&mut wire);
        for (n, v, how) in &block {
            enc.encode(n, v, *how, &mut wire);
        }
        for (at, x) in flips {
            let i = at.index(wire.len());
            wire[i] ^= x;
        }
        wire.truncate(cut.index(wire.len() + 1));
        let mut dec = Decoder::new(4096, limit);
        let mut list = HeaderList::new();
        // Twice: the second block sees whatever the first left in the table.
        for _ in 0..2 {
            if dec.decode(&wire, &mut list).is_ok() {
                check_limit(&list, limit)?;
            }
        }
    }

    #[test]
    fn frames_parse_the_same_whole_or_in_part(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        max in prop::sample::select(vec![0u32, 5, 64, frame::DEFAULT_MAX_FRAME_SIZE]),
    ) {
        let mut pos = 0;
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            let whole = frame::parse(rest, max);
            // Every prefix shorter than the frame (or than all there is).
            let upto = match whole {
                Ok(Some((_, used))) => used,
                _ => rest.len(),
            };
            for cut in 0..upto {
                match frame::parse(&rest[..cut], max) {
                    Ok(None) => {}
                    Ok(Some(_)) => prop_assert!(false, "a prefix parsed"),
                    // Refused early only for the length in its header.
                    Err(e) => prop_assert_eq!(Some(e), whole.err()),
                }
            }
            match whole {
                Ok(Some((_, used))) => {
                    prop_assert!(used >= 9 && used <= rest.len());
                    pos += used;
                }
                Ok(None) => break,
                Err(e) => {
                    prop_assert!(e.frame_len >= 9);
                    break;
                }
            }
        }
    }
}

fn check_limit(list: &HeaderList, limit: usize) -> Result<(), TestCaseError> {
    let kept: usize = list.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
    prop_assert!(kept <= limit, "kept {} over {}", kept, limit);
    prop_assert_eq!(list.too_large(), list.list_size() > limit);
    prop_assert!(kept <= list.list_size());
    Ok(())
}

/// A block that expands without bound on decoding (one table entry,
/// referenced in every remaining byte) costs the limit, not the expansion.
#[test]
fn hpack_bomb_over_several_blocks() {
    let mut dec = Decoder::new(4096, 64 * 1024);
    let mut enc = Encoder::new();
    let mut first = Vec::new();
    enc.begin_block(&mut first);
    enc.encode(b"x-bomb", &[b'v'; 4000], Indexing::Incremental, &mut first);
    let mut list = HeaderList::new();
    dec.decode(&first, &mut list).unwrap();
    let bomb = vec![0xbe; 16 * 1024]; // 16 KiB of index-62 references: 64 MiB expanded
    for _ in 0..3 {
        dec.decode(&bomb, &mut list).unwrap();
        assert!(list.too_large());
        assert!(list.bytes().len() <= 64 * 1024);
        assert_eq!(list.list_size(), 16 * 1024 * (4006 + 32));
    }
}
