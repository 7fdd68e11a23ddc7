//! Fuzzes the front door's path normalisation (what routes match on and what
//! the upstream server is sent). Properties: no panic; the output is normal
//! (normalising it again changes nothing and borrows); no dot or empty segment
//! survives, so no route guarding a prefix can be walked around.
#![no_main]

use std::borrow::Cow;

use frontdoor::route::path::normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(once) = normalize(text) {
        let twice = normalize(&once).expect("normal output is valid");
        assert!(matches!(twice, Cow::Borrowed(_)), "not idempotent: {text:?}");
        assert!(!once.contains("//"));
        assert!(once.split('/').all(|s| s != "." && s != ".."));
    }
});
