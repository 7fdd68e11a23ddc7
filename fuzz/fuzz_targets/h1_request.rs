//! Fuzzes the front door's own HTTP/1 framing (`h1`): the request-head parser,
//! the chunked decoder and the response-head parser. Properties: no panic;
//! spans stay inside the head; parsing is incremental (a prefix is incomplete,
//! or the same head, and is refused only if the whole input is); the chunked
//! decoder gives the same data and verdict whether fed at once or in two
//! pieces (the cut chosen by the input's first byte), and never claims more
//! bytes than it was given.
#![no_main]

use h1::{parse_request, parse_response, ChunkedDecoder, Limits, RequestKind};
use libfuzzer_sys::fuzz_target;

/// Decode `input` in pieces cut at `cut`: (data, consumed, done) or the error.
fn decode(input: &[u8], cut: usize) -> Result<(Vec<u8>, usize, bool), h1::Error> {
    let mut dec = ChunkedDecoder::default();
    let mut out = Vec::new();
    let mut pos = 0;
    for end in [cut.min(input.len()), input.len()] {
        while pos < end {
            let step = dec.decode(&input[pos..end])?;
            assert!(step.consumed <= end - pos);
            if let Some(r) = step.data {
                assert!(r.end <= step.consumed);
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

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_head_bytes: 4096,
        max_headers: 32,
        max_target_bytes: 1024,
    };
    let full = parse_request(data, &limits);
    if let Ok(Some(head)) = &full {
        assert!(head.head_len <= data.len());
        for h in &head.headers {
            assert!(h.name.end as usize <= head.head_len && h.value.end as usize <= head.head_len);
        }
        assert!(head.target.end as usize <= head.head_len);
    }
    let cut = data.first().map_or(0, |&b| usize::from(b) * data.len() / 256);
    match parse_request(&data[..cut], &limits) {
        Ok(None) => {}
        Ok(Some(prefix)) => assert_eq!(Ok(Some(prefix)), full, "prefix parsed differently"),
        Err(_) => assert!(full.is_err(), "prefix refused, whole accepted"),
    }
    // The chunked decoder on whatever follows the head (or on everything).
    let body = match &full {
        Ok(Some(head)) => &data[head.head_len..],
        _ => data,
    };
    let whole = decode(body, body.len());
    assert_eq!(decode(body, cut.min(body.len())), whole, "split changed the result");
    if let Ok((_, consumed, _)) = &whole {
        assert!(*consumed <= body.len());
    }
    let _ = parse_response(data, &limits, RequestKind::default());
});
