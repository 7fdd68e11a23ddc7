//! Properties of the parsers: incremental parsing agrees with parsing at once
//! (any split of the same bytes gives the same result), and chunked encoding
//! round-trips.

mod common;

use h1::chunked::{encode_chunk, ChunkedDecoder, LAST_CHUNK};
use h1::{parse_request, Limits};
use proptest::prelude::*;

/// Feed `input` to a fresh decoder in pieces cut at `cuts`; return the data,
/// the bytes consumed and whether the body ended, or the error.
fn decode_in_pieces(
    input: &[u8],
    cuts: &[prop::sample::Index],
) -> Result<(Vec<u8>, usize, bool), h1::Error> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut dec = ChunkedDecoder::default();
    let mut out = Vec::new();
    let mut pos = 0;
    for end in points {
        // A piece is what arrived so far and has not been consumed.
        while pos < end {
            let step = dec.decode(&input[pos..end])?;
            if let Some(r) = step.data {
                out.extend_from_slice(&input[pos + r.start..pos + r.end]);
            }
            pos += step.consumed;
            if step.done {
                return Ok((out, pos, true));
            }
            if step.consumed == 0 {
                break;
            }
        }
    }
    Ok((out, pos, false))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases()))]

    /// Every prefix of a request stream parses as "incomplete" or as the very
    /// head the whole stream gives; a prefix is refused only if the whole is.
    #[test]
    fn request_heads_parse_the_same_in_any_split(input in common::stream(), cut in any::<prop::sample::Index>()) {
        let limits = Limits::default();
        let full = parse_request(&input, &limits);
        let cut = cut.index(input.len() + 1);
        match parse_request(&input[..cut], &limits) {
            Ok(None) => {}
            Ok(Some(head)) => prop_assert_eq!(Ok(Some(head)), full),
            Err(_) => prop_assert!(full.is_err(), "prefix refused, whole accepted: {:?}", full),
        }
    }

    /// The chunked decoder gives the same data, the same end and the same
    /// verdict whatever pieces the bytes arrive in.
    #[test]
    fn chunked_decodes_the_same_in_any_split(
        input in common::stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        // Any bytes: mostly refusals, sometimes bodies (the stream holds chunked ones).
        let body_start = input.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
        let body = &input[body_start..];
        let whole = decode_in_pieces(body, &[]);
        prop_assert_eq!(decode_in_pieces(body, &cuts), whole);
    }

    /// Encoding data as chunks and decoding gives the data back, in any split,
    /// and ends exactly at the last chunk.
    #[test]
    fn chunked_round_trips(
        pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        next in prop::collection::vec(any::<u8>(), 0..10),
    ) {
        let mut wire = Vec::new();
        for p in &pieces {
            encode_chunk(p, &mut wire);
        }
        wire.extend_from_slice(LAST_CHUNK);
        let end = wire.len();
        wire.extend_from_slice(&next);
        let (data, consumed, done) = decode_in_pieces(&wire, &cuts).expect("our own encoding decodes");
        prop_assert!(done);
        prop_assert_eq!(consumed, end);
        prop_assert_eq!(data, pieces.concat());
    }
}
