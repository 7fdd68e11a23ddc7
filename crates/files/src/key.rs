//! Validation of bucket names and object keys.
//!
//! Object keys never become file paths (see [`crate::store`]: data files are named by
//! random ids), so a hostile key cannot escape the data directory even if it slipped
//! through here. We still refuse keys that S3 clients and tools handle badly or that
//! only an attacker would send: `..` or `.` path segments, a leading `/`, backslashes,
//! NUL and other control characters, and keys longer than S3's 1024 bytes.

/// S3's limit on the UTF-8 length of an object key.
pub const MAX_KEY_LEN: usize = 1024;

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is empty.
    #[error("the key is empty")]
    Empty,
    /// The key is longer than 1024 bytes.
    #[error("the key is longer than 1024 bytes")]
    TooLong,
    /// The key contains a NUL, a control character or a backslash.
    #[error("the key contains a control character or a backslash")]
    BadChar,
    /// The key starts with `/` or has a `.` or `..` segment.
    #[error("the key is an absolute path or has a `.` or `..` segment")]
    Traversal,
}

/// Checks an object key; `Ok` keys are safe to store and list.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong);
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return Err(KeyError::BadChar);
    }
    if key.starts_with('/') || key.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(KeyError::Traversal);
    }
    Ok(())
}

/// Checks a bucket name against S3's rules for new buckets: 3 to 63 characters of
/// lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit,
/// no `..`, not shaped like an IP address. Bucket names become directory names, so
/// these rules are also what keeps them inside the data directory.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return false;
    }
    if !b
        .iter()
        .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) || name.contains("..") {
        return false;
    }
    name.parse::<std::net::Ipv4Addr>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert!(validate_key("photos/2024/cat.jpg").is_ok());
        assert!(validate_key("a..b/c...d").is_ok());
        assert!(validate_key("ünïcödé ✓").is_ok());
        assert_eq!(validate_key(""), Err(KeyError::Empty));
        assert_eq!(validate_key("../etc/passwd"), Err(KeyError::Traversal));
        assert_eq!(validate_key("a/../../b"), Err(KeyError::Traversal));
        assert_eq!(validate_key("a/./b"), Err(KeyError::Traversal));
        assert_eq!(validate_key("/etc/passwd"), Err(KeyError::Traversal));
        assert_eq!(validate_key("a\\b"), Err(KeyError::BadChar));
        assert_eq!(validate_key("a\0b"), Err(KeyError::BadChar));
        assert_eq!(validate_key("a\nb"), Err(KeyError::BadChar));
        assert_eq!(validate_key(&"k".repeat(1025)), Err(KeyError::TooLong));
        assert!(validate_key(&"k".repeat(1024)).is_ok());
        assert!(valid_bucket_name("my-bucket.example"));
        assert!(!valid_bucket_name(".bigstep"));
        assert!(!valid_bucket_name(".."));
        assert!(!valid_bucket_name("Upper"));
        assert!(!valid_bucket_name("192.168.0.1"));
        assert!(!valid_bucket_name("a/b"));
    }

    proptest! {
        #[test]
        fn accepted_keys_have_no_escape(key in "\\PC{0,40}") {
            if validate_key(&key).is_ok() {
                prop_assert!(!key.starts_with('/'));
                prop_assert!(!key.split('/').any(|s| s == ".."));
                prop_assert!(!key.contains('\0') && !key.contains('\\'));
            }
        }

        #[test]
        fn accepted_bucket_names_are_plain_dir_names(name in "[a-z0-9.\\-/]{0,70}") {
            if valid_bucket_name(&name) {
                prop_assert!(!name.contains('/') && name != "." && name != ".." && !name.starts_with('.'));
            }
        }
    }
}
