//! Object tags: S3's rules for a tag set, and the `x-amz-tagging` header's
//! form (`k1=v1&k2=v2`, URL-encoded). No I/O.

use std::collections::BTreeMap;

/// An object's tags, by key.
pub type TagSet = BTreeMap<String, String>;

/// Most tags an object may have.
pub const MAX_TAGS: usize = 10;
/// Most tags a bucket may have.
pub const MAX_BUCKET_TAGS: usize = 50;
/// Longest tag key, in Unicode characters.
pub const MAX_KEY_CHARS: usize = 128;
/// Longest tag value, in Unicode characters.
pub const MAX_VALUE_CHARS: usize = 256;

/// Why a tag set is refused (S3's `InvalidTag`, or `InvalidArgument` for a
/// header that does not parse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// More than [`MAX_TAGS`].
    #[error("Object tags cannot be greater than {MAX_TAGS}")]
    TooMany,
    /// More than [`MAX_BUCKET_TAGS`] on a bucket.
    #[error("Bucket tag count cannot be greater than {MAX_BUCKET_TAGS}")]
    TooManyForBucket,
    /// A key given twice.
    #[error("Cannot provide multiple Tags with the same key")]
    Duplicate,
    /// An empty key or one over [`MAX_KEY_CHARS`].
    #[error("The TagKey you have provided is invalid")]
    Key,
    /// A value over [`MAX_VALUE_CHARS`].
    #[error("The TagValue you have provided is invalid")]
    Value,
    /// A key in the `aws:` namespace, which only AWS may set.
    #[error("Your TagKey cannot be prefixed with aws:")]
    Reserved,
    /// The header is not `key=value` pairs joined by `&`, URL-encoded.
    #[error("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")]
    Header,
}

/// Builds an object's tag set from `(key, value)` pairs, with S3's checks.
pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<TagSet, TagError> {
    checked(pairs, MAX_TAGS, TagError::TooMany)
}

/// Builds a bucket's tag set: the same rules, up to [`MAX_BUCKET_TAGS`].
pub fn bucket_from_pairs(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<TagSet, TagError> {
    checked(pairs, MAX_BUCKET_TAGS, TagError::TooManyForBucket)
}

fn checked(
    pairs: impl IntoIterator<Item = (String, String)>,
    max: usize,
    too_many: TagError,
) -> Result<TagSet, TagError> {
    let mut set = TagSet::new();
    for (k, v) in pairs {
        let chars = k.chars().count();
        if chars == 0 || chars > MAX_KEY_CHARS {
            return Err(TagError::Key);
        }
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(TagError::Reserved);
        }
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(TagError::Value);
        }
        if set.insert(k, v).is_some() {
            return Err(TagError::Duplicate);
        }
        if set.len() > max {
            return Err(too_many);
        }
    }
    Ok(set)
}

/// Parses an `x-amz-tagging` header (`k1=v1&k2=v2`, as a URL query: `%XX` and `+`).
pub fn parse_header(header: &str) -> Result<TagSet, TagError> {
    let decode = |s: &str| -> Result<String, TagError> {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| TagError::Header)
    };
    let mut pairs = Vec::new();
    for part in header.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((decode(k)?, decode(v)?));
    }
    from_pairs(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_form() {
        let t = parse_header("a=1&b%20c=x+y&empty=").expect("parses");
        assert_eq!(t.get("a").map(String::as_str), Some("1"));
        assert_eq!(t.get("b c").map(String::as_str), Some("x y"));
        assert_eq!(t.get("empty").map(String::as_str), Some(""));
        assert_eq!(parse_header("").expect("empty"), TagSet::new());
        assert_eq!(parse_header("a=1&a=2"), Err(TagError::Duplicate));
        assert_eq!(parse_header("aws:x=1"), Err(TagError::Reserved));
        assert_eq!(parse_header("=1"), Err(TagError::Key));
        assert_eq!(parse_header("a=%FF"), Err(TagError::Header));
    }

    #[test]
    fn limits() {
        let ten: Vec<_> = (0..10).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(from_pairs(ten.clone()).is_ok());
        let mut eleven = ten;
        eleven.push(("k10".into(), "v".into()));
        assert_eq!(from_pairs(eleven.clone()), Err(TagError::TooMany));
        assert!(bucket_from_pairs(eleven).is_ok(), "a bucket takes 50");
        let fifty_one: Vec<_> = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(bucket_from_pairs(fifty_one[..50].to_vec()).is_ok());
        assert_eq!(
            bucket_from_pairs(fifty_one),
            Err(TagError::TooManyForBucket)
        );
        assert!(from_pairs([("é".repeat(128), "é".repeat(256))]).is_ok());
        assert_eq!(
            from_pairs([("k".repeat(129), String::new())]),
            Err(TagError::Key)
        );
        assert_eq!(
            from_pairs([("k".into(), "v".repeat(257))]),
            Err(TagError::Value)
        );
    }

    proptest! {
        /// Whatever the header, parsing never panics, and an accepted set obeys the limits.
        #[test]
        fn any_header(h in ".{0,200}") {
            if let Ok(t) = parse_header(&h) {
                prop_assert!(t.len() <= MAX_TAGS);
                prop_assert!(t.iter().all(|(k, v)| !k.is_empty()
                    && k.chars().count() <= MAX_KEY_CHARS
                    && v.chars().count() <= MAX_VALUE_CHARS));
            }
        }
    }
}
