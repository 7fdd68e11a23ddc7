//! Golden outputs of `hash_key`: if this test fails, the function changed and
//! every hashed-sticky user of every deployment would move. Don't update the
//! constants; fix the change. (Cross-checked against an independent Python
//! implementation of FNV-1a 64 + murmur3 fmix64.)

use balance::hash_key;

#[test]
fn hash_key_is_pinned() {
    let golden: [(&[u8], u64); 6] = [
        (b"", 0xefd0_1f60_ba99_2926),
        (b"a", 0x82a2_a958_a9be_ce5b),
        (b"app-1#0", 0x2562_61f8_38d8_244e),
        (b"session-0", 0x9a41_b05c_7e6c_d6c3),
        (b"192.168.1.20", 0x60c8_d438_cc87_48f7),
        (
            b"4f1c2a9e-7d3b-4c8a-9e21-0b5d6f7a8c9d",
            0x01dd_0252_bcb6_19ab,
        ),
    ];
    for (key, want) in golden {
        assert_eq!(
            hash_key(key),
            want,
            "hash_key({:?})",
            String::from_utf8_lossy(key)
        );
    }
}

#[test]
fn similar_keys_spread_over_the_whole_range() {
    // Sequential keys must not cluster (plain FNV's weakness that fmix64
    // fixes): their top 4 bits should cover all 16 buckets evenly.
    let mut buckets = [0u32; 16];
    for i in 0..16_000 {
        buckets[(hash_key(format!("user-{i}").as_bytes()) >> 60) as usize] += 1;
    }
    for (b, &c) in buckets.iter().enumerate() {
        assert!((800..=1200).contains(&c), "bucket {b} has {c} of 16000");
    }
}
