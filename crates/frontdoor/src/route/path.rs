//! The one normalisation of a request path that routes match on and that the
//! upstream server is sent, so a route meant to guard `/admin` cannot be walked
//! around with `/a/../admin`, `/%61dmin` or `//admin`.
//!
//! The rules, in order (RFC 3986 §6.2.2 where it has one):
//! 1. The path must start with `/`. A `%` must be followed by two hex digits.
//! 2. Percent-encoded *unreserved* characters (`A-Z a-z 0-9 - . _ ~`) are decoded
//!    (`%7E` → `~`, `%2e` → `.`); other encodings keep their meaning and get
//!    upper-case hex (`%c3%a9` → `%C3%A9`).
//! 3. An encoded `/` (`%2F`), `\` (`%5C`) or NUL (`%00`) is refused: whether a
//!    server decodes them differs between servers, so no route decision made on
//!    the encoded form could be trusted (Envoy's `REJECT_REQUEST` choice).
//! 4. Runs of `/` become one.
//! 5. Dot segments `.` and `..` are removed (`..` at the root stays at the root).
//!
//! The query string is not part of the path and is left as it is. A path that
//! is already normal comes back borrowed: the common case costs one scan.

use std::borrow::Cow;

/// Why a path was refused (the client gets a 400 naming it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// It does not start with `/`.
    #[error("the path must start with /")]
    NotAbsolute,
    /// A `%` without two hex digits after it.
    #[error("bad percent-encoding in the path")]
    BadEscape,
    /// `%2F`, `%5C` or `%00`, which servers disagree on.
    #[error("encoded slash, backslash or NUL in the path")]
    AmbiguousEscape,
}

/// Normalises `path` (without its query) by the rules in this module's doc.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(b)? {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(b)?;
    Ok(Cow::Owned(remove_dot_segments(&decoded)))
}

/// One scan: true when no rule would change the path; errors found on the way
/// are returned at once.
fn is_normal(b: &[u8]) -> Result<bool, PathError> {
    let mut normal = true;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (hi, lo) = escape_at(b, i)?;
                let byte = hi << 4 | lo;
                if matches!(byte, b'/' | b'\\' | 0) {
                    return Err(PathError::AmbiguousEscape);
                }
                if is_unreserved(byte)
                    || b[i + 1].is_ascii_lowercase()
                    || b[i + 2].is_ascii_lowercase()
                {
                    normal = false;
                }
                i += 3;
                continue;
            }
            b'/' => {
                let rest = &b[i + 1..];
                if rest.first() == Some(&b'/')
                    || rest == b"."
                    || rest.starts_with(b"./")
                    || rest == b".."
                    || rest.starts_with(b"../")
                {
                    normal = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(normal)
}

fn escape_at(b: &[u8], i: usize) -> Result<(u8, u8), PathError> {
    let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16)).map(|d| d as u8);
    match (hex(b.get(i + 1)), hex(b.get(i + 2))) {
        (Some(hi), Some(lo)) => Ok((hi, lo)),
        _ => Err(PathError::BadEscape),
    }
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Rule 2 and 3: decode unreserved escapes, upper-case the others.
fn decode_unreserved(b: &[u8]) -> Result<String, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let (hi, lo) = escape_at(b, i)?;
            let byte = hi << 4 | lo;
            if matches!(byte, b'/' | b'\\' | 0) {
                return Err(PathError::AmbiguousEscape);
            }
            if is_unreserved(byte) {
                out.push(byte as char);
            } else {
                out.push('%');
                out.push(HEX[hi as usize] as char);
                out.push(HEX[lo as usize] as char);
            }
            i += 3;
        } else {
            // Copy the run up to the next escape in one go (keeps UTF-8 whole).
            let end = b[i..]
                .iter()
                .position(|&c| c == b'%')
                .map_or(b.len(), |p| i + p);
            out.push_str(
                std::str::from_utf8(&b[i..end]).expect("a slice of a str between ASCII bytes"),
            );
            i = end;
        }
    }
    Ok(out)
}

/// Rules 4 and 5 on a path that starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in path.split('/').skip(1) {
        trailing_slash = false;
        match seg {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(p: &str) -> Result<String, PathError> {
        normalize(p).map(Cow::into_owned)
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for p in ["/", "/a", "/a/b/", "/a.b/c..d/.e", "/%C3%A9", "/a-b_c~d"] {
            assert!(
                matches!(normalize(p), Ok(Cow::Borrowed(q)) if q == p),
                "{p}"
            );
        }
    }

    #[test]
    fn bypass_attempts_normalise_to_the_guarded_path() {
        for p in [
            "/admin",
            "//admin",
            "/./admin",
            "/x/../admin",
            "/%61dmin",
            "/%2e/admin",
            "/%2E%2E/admin",
            "/x/%2e%2e/admin",
            "/../../admin",
            "///x//..//admin",
        ] {
            assert_eq!(n(p).as_deref(), Ok("/admin"), "{p}");
        }
    }

    #[test]
    fn trailing_slashes_and_dots() {
        assert_eq!(n("/a/b/.").as_deref(), Ok("/a/b/"));
        assert_eq!(n("/a/b/..").as_deref(), Ok("/a/"));
        assert_eq!(n("/..").as_deref(), Ok("/"));
        assert_eq!(n("/a//").as_deref(), Ok("/a/"));
        assert_eq!(n("/a/%c3%a9").as_deref(), Ok("/a/%C3%A9"));
    }

    #[test]
    fn ambiguous_and_broken_escapes_are_refused() {
        assert_eq!(n("/admin%2Fx"), Err(PathError::AmbiguousEscape));
        assert_eq!(n("/admin%2fx"), Err(PathError::AmbiguousEscape));
        assert_eq!(n("/a%5C..%5Cadmin"), Err(PathError::AmbiguousEscape));
        assert_eq!(n("/a%00"), Err(PathError::AmbiguousEscape));
        assert_eq!(n("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(n("/a%4"), Err(PathError::BadEscape));
        assert_eq!(n("a/b"), Err(PathError::NotAbsolute));
        assert_eq!(n(""), Err(PathError::NotAbsolute));
    }

    proptest! {
        /// Normalising is idempotent, and its output never holds a dot segment,
        /// an empty segment inside, or a decodable unreserved escape.
        #[test]
        fn idempotent_and_clean(p in "/[a-zA-Z0-9./%_~-]{0,40}") {
            if let Ok(once) = normalize(&p) {
                let twice = normalize(&once).expect("normal output is valid");
                prop_assert_eq!(&*twice, &*once);
                prop_assert!(matches!(twice, Cow::Borrowed(_)));
                prop_assert!(!once.contains("//"));
                for seg in once.split('/') {
                    prop_assert!(seg != "." && seg != "..");
                }
            }
        }

        /// Never panics on any input.
        #[test]
        fn total(p in any::<String>()) {
            let _ = normalize(&p);
        }
    }
}
