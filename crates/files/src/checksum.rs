//! Object checksums as S3 knows them: CRC32, CRC32C, CRC64NVME, SHA-1 and SHA-256.
//!
//! No I/O here: the algorithms (from `s3s::crypto`, which already builds them on
//! `crc-fast`, `sha1` and `sha2`), their S3 names and headers, and the two kinds of
//! checksum a multipart object can have:
//!
//! - **full object**: the algorithm over every byte of the object, whatever the
//!   parts were. Single-part objects always have this kind; multipart objects may
//!   have it for the CRC algorithms (the store hashes the parts while joining them).
//! - **composite**: the algorithm over the concatenated raw checksums of the parts,
//!   written `BASE64-N` for N parts, as S3 does. A client cannot check a download
//!   against it (botocore skips values with a `-`), but it proves which parts made
//!   the object.

use base64::Engine;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use serde::{Deserialize, Serialize};

/// A checksum algorithm S3 clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// CRC-32 (ISO-HDLC, as zlib).
    #[serde(rename = "CRC32")]
    Crc32,
    /// CRC-32C (Castagnoli).
    #[serde(rename = "CRC32C")]
    Crc32c,
    /// CRC-64/NVME, the default of recent AWS SDKs.
    #[serde(rename = "CRC64NVME")]
    Crc64Nvme,
    /// SHA-1.
    #[serde(rename = "SHA1")]
    Sha1,
    /// SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
}

impl Algorithm {
    /// Every algorithm, in the order S3 lists them.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// Parses S3's name (`CRC32`, `crc64nvme`, ...), in any case.
    pub fn parse(name: &str) -> Option<Algorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// S3's name: `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The header (or aws-chunked trailer) that carries the value.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Length of the raw digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    /// Whether a multipart object can have a full-object checksum of this
    /// algorithm: only the CRCs, as in S3 (a hash of hashes is all SHA allows).
    pub fn full_object_capable(self) -> bool {
        matches!(
            self,
            Algorithm::Crc32 | Algorithm::Crc32c | Algorithm::Crc64Nvme
        )
    }

    /// The kind a multipart upload gets when the client names none: full object
    /// for CRC64NVME (the only kind S3 allows for it), composite for the others.
    pub fn default_multipart_kind(self) -> Kind {
        if self == Algorithm::Crc64Nvme {
            Kind::FullObject
        } else {
            Kind::Composite
        }
    }
}

/// Whether a checksum covers the object's bytes or its parts' checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Over every byte of the object.
    #[serde(rename = "FULL_OBJECT")]
    FullObject,
    /// Over the parts' checksums; the value ends in `-N`.
    #[serde(rename = "COMPOSITE")]
    Composite,
}

impl Kind {
    /// S3's name: `FULL_OBJECT` or `COMPOSITE`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::FullObject => "FULL_OBJECT",
            Kind::Composite => "COMPOSITE",
        }
    }

    /// Parses S3's name, in any case.
    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::FullObject, Kind::Composite]
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// A checksum kept with an object or a part: what GET/HEAD return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// What it covers.
    pub kind: Kind,
    /// Base64 of the raw digest, as on the wire; composite values end in `-N`.
    pub value: String,
}

impl Stored {
    /// A full-object checksum from a raw digest.
    pub fn full(algorithm: Algorithm, raw: &[u8]) -> Stored {
        Stored {
            algorithm,
            kind: Kind::FullObject,
            value: b64(raw),
        }
    }

    /// The raw digest of a full-object value (`None` for composite ones).
    pub fn raw(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.value)
            .ok()
    }
}

/// Why a checksum value a client sent cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the value of {header} is not a base64 {name} digest")]
pub struct InvalidValue {
    /// The header it came in.
    pub header: &'static str,
    /// The algorithm's name.
    pub name: &'static str,
}

/// Decodes a client's base64 value for `algorithm`, checking its length.
pub fn decode(algorithm: Algorithm, value: &str) -> Result<Vec<u8>, InvalidValue> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()
        .filter(|raw| raw.len() == algorithm.digest_len())
        .ok_or(InvalidValue {
            header: algorithm.header(),
            name: algorithm.name(),
        })
}

/// Base64, as S3 writes checksums.
pub fn b64(raw: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// One algorithm's running state over a stream of bytes.
pub enum Hasher {
    /// CRC32.
    Crc32(Crc32),
    /// CRC32C.
    Crc32c(Crc32c),
    /// CRC64NVME.
    Crc64Nvme(Crc64Nvme),
    /// SHA-1.
    Sha1(Sha1),
    /// SHA-256.
    Sha256(Sha256),
}

impl Hasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Crc32 => Hasher::Crc32(Crc32::new()),
            Algorithm::Crc32c => Hasher::Crc32c(Crc32c::new()),
            Algorithm::Crc64Nvme => Hasher::Crc64Nvme(Crc64Nvme::new()),
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Crc32(_) => Algorithm::Crc32,
            Hasher::Crc32c(_) => Algorithm::Crc32c,
            Hasher::Crc64Nvme(_) => Algorithm::Crc64Nvme,
            Hasher::Sha1(_) => Algorithm::Sha1,
            Hasher::Sha256(_) => Algorithm::Sha256,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(h) => h.update(data),
            Hasher::Crc64Nvme(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The raw digest.
    pub fn finalize(self) -> Vec<u8> {
        match self {
            Hasher::Crc32(h) => h.finalize().to_vec(),
            Hasher::Crc32c(h) => h.finalize().to_vec(),
            Hasher::Crc64Nvme(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }

    /// The full-object checksum of what was fed.
    pub fn finish(self) -> Stored {
        let algorithm = self.algorithm();
        Stored::full(algorithm, &self.finalize())
    }
}

/// The composite checksum of parts whose raw digests are `parts`, in order:
/// the algorithm over their concatenation, then `-N`.
pub fn composite(algorithm: Algorithm, parts: &[Vec<u8>]) -> Stored {
    let mut h = Hasher::new(algorithm);
    for p in parts {
        h.update(p);
    }
    Stored {
        algorithm,
        kind: Kind::Composite,
        value: format!("{}-{}", b64(&h.finalize()), parts.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: Algorithm, data: &[u8]) -> String {
        let mut h = Hasher::new(a);
        h.update(data);
        h.finish().value
    }

    /// Known answers (the check values of each CRC's catalogue entry, and the
    /// digests `hashlib` gives) for "123456789".
    #[test]
    fn known_answers() {
        let data = b"123456789";
        let hex = |a| hex::encode(decode(a, &sum(a, data)).expect("decode"));
        assert_eq!(hex(Algorithm::Crc32), "cbf43926");
        assert_eq!(hex(Algorithm::Crc32c), "e3069283");
        assert_eq!(hex(Algorithm::Crc64Nvme), "ae8b14860a799888");
        assert_eq!(
            hex(Algorithm::Sha1),
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441"
        );
        assert_eq!(
            hex(Algorithm::Sha256),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
    }

    #[test]
    fn split_updates_equal_one_update() {
        for a in Algorithm::ALL {
            let mut h = Hasher::new(a);
            h.update(b"1234");
            h.update(b"");
            h.update(b"56789");
            assert_eq!(h.finish().value, sum(a, b"123456789"), "{a:?}");
        }
    }

    #[test]
    fn names_headers_and_serde_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::parse(&a.name().to_lowercase()), Some(a));
            assert_eq!(
                a.header(),
                format!("x-amz-checksum-{}", a.name().to_lowercase())
            );
            let json = serde_json::to_string(&a).expect("json");
            assert_eq!(json, format!("\"{}\"", a.name()));
        }
        assert_eq!(Algorithm::parse("md5"), None);
        assert_eq!(Kind::parse("full_object"), Some(Kind::FullObject));
    }

    proptest::proptest! {
        /// However a body is cut into chunks, every algorithm gives one answer.
        #[test]
        fn chunking_does_not_change_the_sum(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..3000),
            cuts in proptest::collection::vec(0usize..3000, 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            for a in Algorithm::ALL {
                let mut h = Hasher::new(a);
                let mut at = 0;
                for &c in &cuts {
                    h.update(&data[at..c]);
                    at = c;
                }
                h.update(&data[at..]);
                proptest::prop_assert_eq!(h.finish().value, sum(a, &data));
            }
        }
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(decode(Algorithm::Crc32, "not base64!").is_err());
        // Valid base64 of the wrong length.
        assert!(decode(Algorithm::Crc32, &b64(&[0; 8])).is_err());
        assert!(decode(Algorithm::Crc64Nvme, &b64(&[0; 8])).is_ok());
    }

    #[test]
    fn composite_is_hash_of_part_digests_with_count() {
        let parts: Vec<Vec<u8>> = [b"ab".as_slice(), b"cd"]
            .iter()
            .map(|p| {
                let mut h = Hasher::new(Algorithm::Sha256);
                h.update(p);
                h.finalize()
            })
            .collect();
        let c = composite(Algorithm::Sha256, &parts);
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(&[parts[0].clone(), parts[1].clone()].concat());
        assert_eq!(c.value, format!("{}-2", b64(&h.finalize())));
        assert_eq!(c.kind, Kind::Composite);
    }
}
