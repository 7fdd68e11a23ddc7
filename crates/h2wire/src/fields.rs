//! The field rules of RFC 9113 §8.2 that a decoded field must pass before
//! a proxy acts on it or forwards it. A field that fails makes the request
//! malformed (§8.1.1): a stream error of type PROTOCOL_ERROR.
//!
//! Pseudo-header rules (which ones a request must carry, their order, no
//! duplicates) belong to the request, not to a field: the connection driver
//! checks them with [`is_pseudo`] and the list in order.

/// Why a field is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldError {
    EmptyName,
    /// An uppercase letter in a name (HTTP/2 names are lowercase).
    UppercaseName,
    /// A control, space, DEL, non-ASCII byte, or a colon past the first
    /// byte, in a name.
    BadNameByte,
    /// `connection`, `keep-alive`, `proxy-connection`, `transfer-encoding`,
    /// `upgrade` (§8.2.2).
    ConnectionSpecific,
    /// `te` with a value other than `trailers`.
    BadTe,
    /// NUL, CR or LF in a value, or whitespace at either end (§8.2.1).
    BadValue,
}

impl FieldError {
    /// A short token for the `x-bigstep-reason` header and logs.
    pub fn reason(self) -> &'static str {
        match self {
            FieldError::EmptyName => "h2-empty-field-name",
            FieldError::UppercaseName => "h2-uppercase-field-name",
            FieldError::BadNameByte => "h2-bad-field-name",
            FieldError::ConnectionSpecific => "h2-connection-specific-field",
            FieldError::BadTe => "h2-bad-te",
            FieldError::BadValue => "h2-bad-field-value",
        }
    }
}

/// Does `name` start a pseudo-header (`:method`, `:path`, ...)?
pub fn is_pseudo(name: &[u8]) -> bool {
    name.first() == Some(&b':')
}

/// Check a field name (§8.2.1).
pub fn check_name(name: &[u8]) -> Result<(), FieldError> {
    let rest = match name {
        [] => return Err(FieldError::EmptyName),
        [b':', rest @ ..] => rest,
        _ => name,
    };
    for &b in rest {
        match b {
            b'A'..=b'Z' => return Err(FieldError::UppercaseName),
            0x00..=0x20 | 0x7f..=0xff | b':' => return Err(FieldError::BadNameByte),
            _ => {}
        }
    }
    Ok(())
}

/// Check a field value (§8.2.1).
pub fn check_value(value: &[u8]) -> Result<(), FieldError> {
    if value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return Err(FieldError::BadValue);
    }
    let ws = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if ws(value.first()) || ws(value.last()) {
        return Err(FieldError::BadValue);
    }
    Ok(())
}

/// Check one field: its name, its value, and the connection-specific fields
/// HTTP/2 forbids (§8.2.2).
pub fn check_field(name: &[u8], value: &[u8]) -> Result<(), FieldError> {
    check_name(name)?;
    check_value(value)?;
    match name {
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade" => {
            Err(FieldError::ConnectionSpecific)
        }
        b"te" if value != b"trailers" => Err(FieldError::BadTe),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        assert_eq!(check_field(b"content-type", b"text/html"), Ok(()));
        assert_eq!(check_field(b":path", b"/"), Ok(()));
        assert_eq!(
            check_field(b"Content-Type", b"x"),
            Err(FieldError::UppercaseName)
        );
        assert_eq!(check_field(b"a b", b"x"), Err(FieldError::BadNameByte));
        assert_eq!(check_field(b"a:b", b"x"), Err(FieldError::BadNameByte));
        assert_eq!(check_field(b"::a", b"x"), Err(FieldError::BadNameByte));
        assert_eq!(check_field(b"", b"x"), Err(FieldError::EmptyName));
        assert_eq!(
            check_field(b"caf\xc3\xa9", b"x"),
            Err(FieldError::BadNameByte)
        );
        assert_eq!(check_field(b"x", b"a\r\nb"), Err(FieldError::BadValue));
        assert_eq!(check_field(b"x", b" a"), Err(FieldError::BadValue));
        assert_eq!(check_field(b"x", b"a\t"), Err(FieldError::BadValue));
        assert_eq!(check_field(b"x", b"a b"), Ok(()));
        assert_eq!(check_field(b"x", b""), Ok(()));
        assert_eq!(
            check_field(b"connection", b"close"),
            Err(FieldError::ConnectionSpecific)
        );
        assert_eq!(
            check_field(b"upgrade", b"h2c"),
            Err(FieldError::ConnectionSpecific)
        );
        assert_eq!(check_field(b"te", b"trailers"), Ok(()));
        assert_eq!(check_field(b"te", b"gzip"), Err(FieldError::BadTe));
        assert!(is_pseudo(b":authority"));
        assert!(!is_pseudo(b"host"));
    }
}
