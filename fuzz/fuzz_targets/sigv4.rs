//! Fuzzes the read fast path's SigV4 checks (`files/src/sigv4.rs`): the
//! `Authorization` header, the presigned query and the canonical request.
//! Input: a request head. Properties (checked inside `fuzz_sigv4` against a
//! plain reference written from s3s, the general path): no panic; the fast
//! path never accepts what s3s would refuse — for the head as given, for the
//! head signed by the reference (by header and by presigned query), and for
//! each of those with one byte changed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    files::fuzz_sigv4(data);
});
