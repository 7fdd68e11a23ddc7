//! Fuzzes the RESP request parser (what the server reads from sockets) and the
//! general RESP3 frame parser. Properties: no panic; a request never claims to
//! consume more than it was given; parsing is incremental (every prefix of a
//! complete request is "incomplete" or the same request, never an error that the
//! full input does not also produce).
#![no_main]

use libfuzzer_sys::fuzz_target;
use state::resp::{parse_frame, parse_request, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_bulk_len: 1 << 20,
        max_multibulk_len: 1 << 16,
        max_inline: 1 << 16,
    };
    let full = parse_request(data, &limits);
    if let Ok(Some((_, n))) = &full {
        assert!(*n <= data.len());
        assert!(*n > 0);
    }
    // Incremental: a prefix is never an error unless the whole input errors.
    if data.len() > 1 {
        let cut = data.len() / 2;
        if parse_request(&data[..cut], &limits).is_err() {
            assert!(full.is_err(), "prefix errored but full input did not");
        }
    }
    if let Ok(Some((_, n))) = parse_frame(data) {
        assert!(n <= data.len());
    }
});
