//! The grammar a proxy checks before forwarding: `Host` (RFC 9110 §7.2,
//! RFC 3986 §3.2.2), request-target forms (RFC 9112 §3.2), and the small
//! token helpers the head parsers share. Pure functions on bytes, so the hyper
//! front door and our own parser apply one set of rules.
//!
//! Absolute-form targets: the authority must name the same host and port as the
//! `Host` header, or the request is refused ([`Error::HostMismatch`]). RFC 9112
//! §3.2.2 also allows replacing `Host` with the authority; we refuse instead, so
//! that nothing downstream (a route on `Host`, an app on the target) can read
//! the request as addressed to two different sites.

use crate::error::Error;
use crate::Span;

/// The request-target's form (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `/path?query`: the common case.
    Origin,
    /// `http://authority/path?query`. `authority` is relative to the start of
    /// the target as classified by [`classify_target`]; in a parsed
    /// [`RequestHead`](crate::RequestHead) it is relative to the buffer.
    Absolute { authority: Span, https: bool },
    /// `host:port`, CONNECT only.
    Authority,
    /// `*`, OPTIONS only.
    Asterisk,
}

/// Classify `target` for `method` and check its characters. Refuses a form the
/// method may not use, a fragment, userinfo, a scheme other than http(s), and
/// any byte outside RFC 3986's sets (non-ASCII included: clients percent-encode).
pub fn classify_target(method: &[u8], target: &[u8]) -> Result<Target, Error> {
    classify(method, target, true)
}

/// The form rules of [`classify_target`] alone: which form, allowed for this
/// method, and an absolute-form authority within the grammar; path and query
/// characters are not judged (for a caller whose URI parser already did).
pub fn target_form(method: &[u8], target: &[u8]) -> Result<Target, Error> {
    classify(method, target, false)
}

fn classify(method: &[u8], target: &[u8], chars: bool) -> Result<Target, Error> {
    if target == b"*" {
        return if method == b"OPTIONS" {
            Ok(Target::Asterisk)
        } else {
            Err(Error::AsteriskNotOptions)
        };
    }
    if method == b"CONNECT" {
        return if authority_form(target) {
            Ok(Target::Authority)
        } else {
            Err(Error::AuthorityFormNotConnect)
        };
    }
    match target.first() {
        None => Err(Error::BadTarget),
        Some(b'/') => {
            if chars {
                path_and_query(target)?;
            }
            Ok(Target::Origin)
        }
        Some(_) => {
            if let Some(t) = absolute_form(target, chars)? {
                return Ok(t);
            }
            if authority_form(target) {
                Err(Error::AuthorityFormNotConnect)
            } else {
                Err(Error::BadTarget)
            }
        }
    }
}

/// `absolute-path [ "?" query ]`.
fn path_and_query(t: &[u8]) -> Result<(), Error> {
    let (path, query) = match t.iter().position(|&b| b == b'?') {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    if !path.iter().all(|&b| b == b'/' || is_pchar(b)) {
        return Err(Error::BadTarget);
    }
    if let Some(q) = query {
        // `[`, `]` and `|` are outside RFC 3986's query, but PHP-style
        // `a[]=1` and `a|b` are common and every parser downstream reads them
        // the same way (they cannot end a message or a field).
        if !q
            .iter()
            .all(|&b| b == b'/' || b == b'?' || b == b'[' || b == b']' || b == b'|' || is_pchar(b))
        {
            return Err(Error::BadTarget);
        }
    }
    Ok(())
}

/// `http(s)://authority[/path][?query]`; `Ok(None)` when `t` has no scheme.
fn absolute_form(t: &[u8], chars: bool) -> Result<Option<Target>, Error> {
    let Some(colon) = t.iter().position(|&b| b == b':') else {
        return Ok(None);
    };
    let scheme = &t[..colon];
    let valid_scheme = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !valid_scheme || !t[colon..].starts_with(b"://") {
        return Ok(None);
    }
    let https = if scheme.eq_ignore_ascii_case(b"http") {
        false
    } else if scheme.eq_ignore_ascii_case(b"https") {
        true
    } else {
        return Err(Error::BadTarget);
    };
    let start = colon + 3;
    let rest = &t[start..];
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    // No userinfo (RFC 9110 §4.2.4), no empty host (§4.2.1), a real port, and no
    // percent-encoding in a host that names a site.
    let (host, port) = split_host_port(authority).ok_or(Error::BadTarget)?;
    if host.is_empty()
        || authority.contains(&b'%')
        || !valid_host(authority)
        || port.is_some_and(|p| parse_port(p).is_none())
    {
        return Err(Error::BadTarget);
    }
    let tail = &rest[end..];
    if chars && !tail.is_empty() {
        let with_slash;
        let pq = if tail[0] == b'?' {
            // `http://h?q`: check the query as if the path were `/`.
            with_slash = [b"/", tail].concat();
            &with_slash[..]
        } else {
            tail
        };
        path_and_query(pq)?;
    }
    Ok(Some(Target::Absolute {
        authority: Span {
            start: start as u32,
            end: (start + end) as u32,
        },
        https,
    }))
}

/// `uri-host ":" port` with a non-empty host and a port (RFC 9112 §3.2.3).
fn authority_form(t: &[u8]) -> bool {
    match split_host_port(t) {
        Some((host, Some(port))) => {
            !host.is_empty() && parse_port(port).is_some() && valid_host(t) && !t.contains(&b'%')
        }
        _ => false,
    }
}

/// Is `v` a valid `Host` value: `uri-host [ ":" port ]` (RFC 9110 §7.2)? An
/// empty value is valid (a target without authority). The port must fit in 16
/// bits.
pub fn valid_host(v: &[u8]) -> bool {
    let Some((host, port)) = split_host_port(v) else {
        return false;
    };
    if let Some(p) = port {
        if !p.is_empty() && parse_port(p).is_none() {
            return false;
        }
    }
    if host.first() == Some(&b'[') {
        return ip_literal(host);
    }
    reg_name(host)
}

/// Do an absolute-form authority and a `Host` value name the same host and
/// port? Hosts compare case-insensitively; a missing or empty port is the
/// scheme's default.
pub fn same_authority(authority: &[u8], host: &[u8], https: bool) -> bool {
    let default = if https { 443 } else { 80 };
    let port_of = |p: Option<&[u8]>| match p {
        None | Some(b"") => Some(default),
        Some(p) => parse_port(p),
    };
    match (split_host_port(authority), split_host_port(host)) {
        (Some((ah, ap)), Some((hh, hp))) => {
            ah.eq_ignore_ascii_case(hh) && port_of(ap).is_some() && port_of(ap) == port_of(hp)
        }
        _ => false,
    }
}

/// Split `host[:port]`, IPv6 literals in brackets included. `None` when a
/// bracket is unclosed or followed by something other than `:port`.
fn split_host_port(v: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    if v.first() == Some(&b'[') {
        let close = v.iter().position(|&b| b == b']')?;
        let (host, rest) = v.split_at(close + 1);
        return match rest {
            [] => Some((host, None)),
            [b':', port @ ..] => Some((host, Some(port))),
            _ => None,
        };
    }
    match v.iter().position(|&b| b == b':') {
        Some(i) => Some((&v[..i], Some(&v[i + 1..]))),
        None => Some((v, None)),
    }
}

fn parse_port(p: &[u8]) -> Option<u16> {
    if p.is_empty() || p.len() > 5 {
        return None;
    }
    let n = parse_decimal(p)?;
    u16::try_from(n).ok()
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )` (IPv4 addresses are
/// reg-names by their characters).
fn reg_name(h: &[u8]) -> bool {
    let mut i = 0;
    while i < h.len() {
        let b = h[i];
        if b == b'%' {
            if i + 2 >= h.len() || !(h[i + 1].is_ascii_hexdigit() && h[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(is_unreserved(b) || is_sub_delim(b)) {
            return false;
        }
        i += 1;
    }
    true
}

/// `"[" ( IPv6address / IPvFuture ) "]"`.
fn ip_literal(h: &[u8]) -> bool {
    let Some(inner) = h.strip_prefix(b"[").and_then(|r| r.strip_suffix(b"]")) else {
        return false;
    };
    if let [b'v' | b'V', rest @ ..] = inner {
        // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
        let Some(dot) = rest.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (ver, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !ver.is_empty()
            && ver.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
    }
    std::str::from_utf8(inner).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~".contains(&b)
}

fn is_sub_delim(b: u8) -> bool {
    b"!$&'()*+,;=".contains(&b)
}

/// `pchar` less the pct-encoding check (`%` is allowed; the front door's path
/// normaliser judges escapes with its own reason).
fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || b == b':' || b == b'@' || b == b'%'
}

/// `1*DIGIT` as a `u64`; `None` on anything else (a sign, a space, overflow).
pub fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Trim optional whitespace (SP / HTAB) from both ends.
pub fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&b| b != b' ' && b != b'\t');
    let Some(start) = start else {
        return &[];
    };
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |e| e + 1);
    &v[start..end]
}

/// The non-empty elements of a comma-separated list, trimmed.
pub fn list_elements(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            &b"example.com"[..],
            b"example.com:8080",
            b"127.0.0.1",
            b"[::1]",
            b"[::1]:80",
            b"[v1.fe80::a+en1]",
            b"",
            b"ex%41mple.com",
            b"a-b_c~d.e!$&'()*+,;=",
            b"host:",
        ] {
            assert!(valid_host(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"exa mple.com"[..],
            b"example.com/",
            b"a@b",
            b"a\"b",
            b"host:port",
            b"host:99999",
            b"host:80:80",
            b"[::1",
            b"[::1]x",
            b"[zz::]",
            b"ex%4",
            b"ex%zz",
            b"h\xc3\xa9",
            b"a,b\\",
        ] {
            assert!(!valid_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn target_forms() {
        use Target::*;
        assert_eq!(classify_target(b"GET", b"/a?b=c[]"), Ok(Origin));
        assert_eq!(classify_target(b"GET", b"/a\"b"), Err(Error::BadTarget));
        assert_eq!(target_form(b"GET", b"/a\"b"), Ok(Origin), "form only");
        assert_eq!(target_form(b"GET", b"a/b"), Err(Error::BadTarget));
        assert_eq!(classify_target(b"OPTIONS", b"*"), Ok(Asterisk));
        assert_eq!(
            classify_target(b"GET", b"*"),
            Err(Error::AsteriskNotOptions)
        );
        assert_eq!(classify_target(b"CONNECT", b"h:443"), Ok(Authority));
        assert_eq!(
            classify_target(b"CONNECT", b"/"),
            Err(Error::AuthorityFormNotConnect)
        );
        assert_eq!(
            classify_target(b"GET", b"h:443"),
            Err(Error::AuthorityFormNotConnect)
        );
        assert_eq!(
            classify_target(b"GET", b"foo"),
            Err(Error::BadTarget),
            "origin-form must start with /"
        );
        assert_eq!(
            classify_target(b"GET", b"http://h.test:81/x?y"),
            Ok(Absolute {
                authority: Span { start: 7, end: 16 },
                https: false
            })
        );
        for bad in [
            &b"http://u@h/"[..],
            b"http:///x",
            b"ftp://h/",
            b"/a#frag",
            b"/a b",
            b"/\xff",
            b"/a\"",
            b"http://h:x/",
        ] {
            assert!(
                classify_target(b"GET", bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn authorities_compare_with_default_ports() {
        assert!(same_authority(b"Example.com", b"example.COM:80", false));
        assert!(same_authority(b"example.com:443", b"example.com", true));
        assert!(!same_authority(b"example.com:443", b"example.com", false));
        assert!(!same_authority(b"a.test", b"b.test", false));
        assert!(same_authority(b"[::1]:8080", b"[::1]:8080", false));
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"0042"), Some(42));
        assert_eq!(parse_decimal(b"+1"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
    }
}
