//! Fuzzes the decoding of registry entries and admin records (what any app may
//! write under `bigstep:svc:*` / `bigstep:admin:*`). Input: `field=value`
//! lines. Properties: no panic; a decoded entry encodes to fields that decode
//! to the same entry.
#![no_main]

use discovery::{AdminRecord, Entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fields: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Ok(e) = Entry::decode(fields.clone()) {
        let again = Entry::decode(e.fields().into_iter().map(|(k, v)| (k.to_string(), v)));
        assert_eq!(again.as_ref(), Ok(&e));
    }
    if let Ok(r) = AdminRecord::decode(fields) {
        let again = AdminRecord::decode(r.fields().into_iter().map(|(k, v)| (k.to_string(), v)));
        assert_eq!(again.as_ref(), Ok(&r));
    }
});
