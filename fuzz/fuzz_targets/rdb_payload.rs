//! Fuzzes the RDB value decoder behind RESTORE (and the `dump.rdb` reader).
//! Properties: no panic, no allocation sized by a claimed length; whatever
//! decodes re-encodes to a payload that decodes to the same bytes again
//! (checked inside `fuzz_payload`). The input is tried as a whole payload and
//! as a value body with a valid version and CRC footer added, so the fuzzer
//! gets past the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    state::rdb::fuzz_payload(data);
});
