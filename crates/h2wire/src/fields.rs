//! The field rules of RFC 9113 §8.2 that a decoded field must pass before
//! a proxy acts on it or forwards it. A field that fails makes the request
//! malformed (§8.1.1): a stream error of type PROTOCOL_ERROR.
//!
//! [`check_request`] checks a whole request head: every field, and the
//! pseudo-header rules of §8.3.1 (which ones, first, once each).

use crate::hpack::HeaderList;
use crate::Span;

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
    /// A pseudo-header after a regular field (§8.3).
    PseudoAfterRegular,
    /// A pseudo-header a request does not have (`:status`, `:foo`).
    UnknownPseudo,
    /// The same pseudo-header twice.
    DuplicatePseudo,
    /// `:method`, or `:scheme`/`:path` (`:authority` for CONNECT), missing;
    /// or an empty `:path`.
    MissingPseudo,
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
            FieldError::PseudoAfterRegular => "h2-pseudo-after-regular",
            FieldError::UnknownPseudo => "h2-unknown-pseudo",
            FieldError::DuplicatePseudo => "h2-duplicate-pseudo",
            FieldError::MissingPseudo => "h2-missing-pseudo",
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

/// Where a request's pseudo-headers are in its [`HeaderList`] (spans into
/// [`HeaderList::bytes`]), and where its regular fields start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestPseudo {
    pub method: Span,
    pub scheme: Option<Span>,
    pub authority: Option<Span>,
    pub path: Option<Span>,
    /// RFC 8441's `:protocol` (extended CONNECT, WebSocket over HTTP/2).
    pub protocol: Option<Span>,
    /// Index of the first regular field in [`HeaderList::fields`].
    pub regular_start: usize,
}

/// Check a request head: every field ([`check_field`]) and the pseudo-header
/// rules of RFC 9113 §8.3.1 (RFC 8441 §4 for `:protocol`). A failure makes
/// the request malformed: RST_STREAM with PROTOCOL_ERROR.
pub fn check_request(list: &HeaderList) -> Result<RequestPseudo, FieldError> {
    let bytes = list.bytes();
    let mut p = RequestPseudo::default();
    let mut method = None;
    let mut regular = false;
    for (i, f) in list.fields().iter().enumerate() {
        let (name, value) = (f.name.get(bytes), f.value.get(bytes));
        if !is_pseudo(name) {
            check_field(name, value)?;
            if !regular {
                regular = true;
                p.regular_start = i;
            }
            continue;
        }
        if regular {
            return Err(FieldError::PseudoAfterRegular);
        }
        check_value(value)?;
        let slot = match name {
            b":method" => &mut method,
            b":scheme" => &mut p.scheme,
            b":authority" => &mut p.authority,
            b":path" => &mut p.path,
            b":protocol" => &mut p.protocol,
            _ => return Err(FieldError::UnknownPseudo),
        };
        if slot.replace(f.value).is_some() {
            return Err(FieldError::DuplicatePseudo);
        }
    }
    if !regular {
        p.regular_start = list.len();
    }
    p.method = method.ok_or(FieldError::MissingPseudo)?;
    let connect = p.method.get(bytes) == b"CONNECT";
    let ok = if connect && p.protocol.is_none() {
        // §8.5: only :method and :authority.
        p.authority.is_some() && p.scheme.is_none() && p.path.is_none()
    } else {
        // :protocol only on CONNECT (RFC 8441 §4).
        (connect || p.protocol.is_none())
            && p.scheme.is_some()
            && p.path.is_some_and(|s| !s.is_empty())
            && (!connect || p.authority.is_some())
    };
    if !ok {
        return Err(FieldError::MissingPseudo);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpack::{Decoder, Encoder, Indexing};

    fn list(fields: &[(&str, &str)]) -> HeaderList {
        let mut enc = Encoder::new();
        let mut block = Vec::new();
        for (n, v) in fields {
            enc.encode(n.as_bytes(), v.as_bytes(), Indexing::Without, &mut block);
        }
        let mut out = HeaderList::new();
        Decoder::default().decode(&block, &mut out).unwrap();
        out
    }

    #[test]
    fn request_pseudo_headers() {
        let get = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a.test"),
            (":path", "/x"),
        ];
        let l = list(&[get[0], get[1], get[2], get[3], ("accept", "*/*")]);
        let p = check_request(&l).unwrap();
        assert_eq!(p.path.unwrap().get(l.bytes()), b"/x");
        assert_eq!(p.method.get(l.bytes()), b"GET");
        assert_eq!(p.regular_start, 4);
        assert_eq!(check_request(&list(&get)).unwrap().regular_start, 4);
        let bad = |fields: &[(&str, &str)]| check_request(&list(fields)).unwrap_err();
        assert_eq!(
            bad(&[get[0], get[1], ("accept", "*/*"), get[3]]),
            FieldError::PseudoAfterRegular
        );
        assert_eq!(
            bad(&[get[0], get[1], get[3], get[3]]),
            FieldError::DuplicatePseudo
        );
        assert_eq!(
            bad(&[get[0], get[1], get[3], (":status", "200")]),
            FieldError::UnknownPseudo
        );
        assert_eq!(bad(&[get[0], get[1]]), FieldError::MissingPseudo);
        assert_eq!(bad(&[get[1], get[3]]), FieldError::MissingPseudo);
        assert_eq!(
            bad(&[get[0], get[1], (":path", "")]),
            FieldError::MissingPseudo
        );
        assert_eq!(
            bad(&[get[0], get[1], get[3], ("connection", "close")]),
            FieldError::ConnectionSpecific
        );
        // CONNECT: :authority only; extended CONNECT: all four and :protocol.
        assert!(check_request(&list(&[(":method", "CONNECT"), (":authority", "a:443")])).is_ok());
        assert_eq!(
            bad(&[
                (":method", "CONNECT"),
                (":authority", "a:443"),
                (":path", "/")
            ]),
            FieldError::MissingPseudo
        );
        let ws = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":path", "/chat"),
            (":authority", "a"),
        ];
        assert!(check_request(&list(&ws)).unwrap().protocol.is_some());
        assert_eq!(
            bad(&[get[0], get[1], get[3], (":protocol", "websocket")]),
            FieldError::MissingPseudo
        );
    }

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
