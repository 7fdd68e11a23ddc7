//! Header rewriting at the proxy boundary: hop-by-hop headers are removed (RFC
//! 9110 §7.6.1) in both directions, forwarding headers are added to requests.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::scratch::Scratch;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
/// A header named like `Connection`'s most common option.
const CLOSE: HeaderName = HeaderName::from_static("close");

/// Headers that describe one connection, never the message (RFC 9110
/// §7.6.1), in the order they are removed.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    KEEP_ALIVE,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

/// Which hop-by-hop header `name` is whatever `Connection` says: bit `i` for
/// `HOP_BY_HOP[i]`, bit 8 for any `Proxy-*`, bit 9 for a header named `close`. A comparison or two on the
/// name's text, no hashing.
fn hop_bits(name: &HeaderName) -> u16 {
    let s = name.as_str();
    let proxy = if s.starts_with("proxy-") { 1 << 8 } else { 0 };
    let fixed = match s {
        "connection" => 1 << 0,
        "keep-alive" => 1 << 1,
        "te" => 1 << 2,
        "trailer" => 1 << 3,
        "transfer-encoding" => 1 << 4,
        "upgrade" => 1 << 5,
        "proxy-authenticate" => 1 << 6,
        "proxy-authorization" => 1 << 7,
        // Not hop-by-hop, but `Connection: close` names it: removed only
        // when there (see `strip_hop_by_hop`).
        "close" => 1 << 9,
        _ => 0,
    };
    proxy | fixed
}

/// Remove hop-by-hop headers, including every header `Connection` names and any
/// `Proxy-*`. Returns the `Upgrade` value when `keep_upgrade` and the message asks
/// for one, so the caller can re-add it for a tunnel.
///
/// One pass over the names finds which are there (usually none, or just
/// `Connection`); only those are removed, in the order and way the obvious
/// lookup-per-name version removes them, so the headers left keep their order.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) -> Option<HeaderValue> {
    let upgrade = if keep_upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    };
    let present = headers
        .keys()
        .fold(0u16, |bits, name| bits | hop_bits(name));
    if present & !(1 << 9) == 0 {
        return upgrade;
    }
    if present & 1 != 0 {
        // `close` and `keep-alive`, the usual tokens, need no name parsed,
        // and no removal unless such a header is there (removing an absent
        // name changes nothing, so the order of what is left is the same).
        let named: smallvec::SmallVec<[HeaderName; 4]> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| {
                let t = t.trim();
                if t.eq_ignore_ascii_case("close") {
                    (present & (1 << 9) != 0).then_some(CLOSE)
                } else if t.eq_ignore_ascii_case("keep-alive") {
                    (present & (1 << 1) != 0).then_some(KEEP_ALIVE)
                } else {
                    HeaderName::from_bytes(t.as_bytes()).ok()
                }
            })
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    if present & (1 << 8) != 0 {
        headers.remove(PROXY_CONNECTION);
        let proxy: smallvec::SmallVec<[HeaderName; 4]> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("proxy-"))
            .cloned()
            .collect();
        for name in proxy {
            headers.remove(name);
        }
    }
    upgrade
}

/// An HTTP/2 request as HTTP/1.1 servers expect it (RFC 9113 §8.3.1, §8.2.3):
/// `Host` from `:authority`, an origin-form target, cookies in one field.
pub(crate) fn from_http2(req: &mut http::request::Parts) -> Result<(), crate::error::ProxyError> {
    use crate::error::{ErrorKind, ProxyError};
    // Our engine decodes into a pooled map with that room already, Host from
    // `:authority` being one of the added (moving it again cost a second map
    // per request); hyper's is just big enough.
    if req.headers.capacity() < req.headers.len() + ADDED_HEADERS - 1 {
        req.headers = with_room(std::mem::take(&mut req.headers));
    }
    let host = match (req.uri.authority(), req.headers.get(header::HOST)) {
        (Some(a), Some(h)) if !a.as_str().as_bytes().eq_ignore_ascii_case(h.as_bytes()) => {
            return Err(ProxyError::new(ErrorKind::MissingHost));
        }
        (Some(a), None) => Some(
            HeaderValue::from_str(a.as_str())
                .map_err(|_| ProxyError::new(ErrorKind::MissingHost))?,
        ),
        (None, None) => return Err(ProxyError::new(ErrorKind::MissingHost)),
        _ => None,
    };
    if let Some(v) = host {
        req.headers.insert(header::HOST, v);
    }
    if req.uri.scheme().is_some() || req.uri.authority().is_some() {
        let pq = req
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        req.uri = http::Uri::from(pq);
    }
    let headers = &mut req.headers;
    if headers.get_all(header::COOKIE).iter().nth(1).is_some() {
        let joined = headers
            .get_all(header::COOKIE)
            .iter()
            .map(|v| v.as_bytes())
            .collect::<Vec<_>>()
            .join(&b"; "[..]);
        if let Ok(v) = HeaderValue::from_bytes(&joined) {
            headers.insert(header::COOKIE, v);
        }
    }
    Ok(())
}

/// Headers the front door adds to a request (`Host` from `:authority`, the
/// forwarding headers, the request id).
pub(crate) const ADDED_HEADERS: usize = 7;

/// h2 decodes a request's headers into a map just big enough for them; the
/// headers added on the way (`add_forwarding`) would make it grow, a rehash
/// and a reallocation per request. They move into a pooled map with room
/// instead (the same maps the HTTP/1 core parses into; `attempt` gives them
/// back once the head is sent).
fn with_room(decoded: HeaderMap) -> HeaderMap {
    let mut map = crate::scratch::header_map(decoded.len() + ADDED_HEADERS);
    let mut values = decoded.into_iter().peekable();
    // `None` as a name: another value of the name before it.
    let mut name = None;
    while let Some((n, value)) = values.next() {
        if n.is_some() {
            name = n;
        }
        let more = matches!(values.peek(), Some((None, _)));
        let key = if more { name.clone() } else { name.take() };
        if let Some(key) = key {
            map.append(key, value);
        }
    }
    map
}

/// Does a `TE` value name `trailers` (RFC 9110 §10.1.4)?
pub(crate) fn accepts_trailers(te: &HeaderValue) -> bool {
    te.to_str().is_ok_and(|v| {
        v.split(',').any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("trailers")
        })
    })
}

/// Does this request ask to switch protocols (`Connection: upgrade` + `Upgrade`)?
pub(crate) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Put `Connection: upgrade` and `Upgrade: <proto>` back after stripping.
pub(crate) fn restore_upgrade(headers: &mut HeaderMap, upgrade: HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, upgrade);
}

/// A client's forwarding values, formatted once per connection.
pub(crate) struct ClientHeaders {
    /// The client's address: the `X-Forwarded-For` value we add.
    ip: HeaderValue,
    /// `for=…;proto=…` without the host.
    forwarded: Box<[u8]>,
    proto: &'static str,
}

impl ClientHeaders {
    pub(crate) fn new(client_ip: IpAddr, proto: &'static str) -> Self {
        // Formatted by hand for IPv4 (every connection pays for this once;
        // `Display` costs several times more).
        let mut forwarded = Scratch::take();
        let ip = match client_ip {
            IpAddr::V4(v4) => {
                forwarded.extend_from_slice(b"for=");
                write_ipv4(&mut forwarded, v4);
                4..forwarded.len()
            }
            IpAddr::V6(v6) => {
                forwarded.extend_from_slice(b"for=\"[");
                forwarded.extend_from_slice(v6.to_string().as_bytes());
                forwarded.extend_from_slice(b"]\"");
                6..forwarded.len() - 2
            }
        };
        let ip =
            HeaderValue::from_bytes(&forwarded[ip]).expect("an IP address is a valid header value");
        forwarded.extend_from_slice(b";proto=");
        forwarded.extend_from_slice(proto.as_bytes());
        Self {
            ip,
            forwarded: forwarded.as_slice().into(),
            proto,
        }
    }
}

impl ClientHeaders {
    /// The values for a new connection from `client_ip`: shared with the
    /// previous connection on this thread when it came from the same address
    /// and scheme (a browser's parallel connections, clients behind one NAT,
    /// a connection per request), formatted anew otherwise.
    pub(crate) fn for_connection(client_ip: IpAddr, proto: &'static str) -> Arc<Self> {
        thread_local! {
            static LAST: RefCell<Option<(IpAddr, Arc<ClientHeaders>)>> = const { RefCell::new(None) };
        }
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            if let Some((ip, headers)) = last.as_ref() {
                if *ip == client_ip && headers.proto == proto {
                    return headers.clone();
                }
            }
            let headers = Arc::new(ClientHeaders::new(client_ip, proto));
            *last = Some((client_ip, headers.clone()));
            headers
        })
    }
}

/// `a.b.c.d`, as `Ipv4Addr`'s `Display` writes it.
fn write_ipv4(out: &mut Vec<u8>, ip: std::net::Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if octet >= 100 {
            out.push(b'0' + octet / 100);
        }
        if octet >= 10 {
            out.push(b'0' + octet / 10 % 10);
        }
        out.push(b'0' + octet % 10);
    }
}

/// Add X-Forwarded-For/-Proto/-Host, `Forwarded` and (when absent) X-Request-Id.
/// Returns the request id.
pub(crate) fn add_forwarding(headers: &mut HeaderMap, client: &ClientHeaders) -> HeaderValue {
    // Which of the headers we extend did the client send? One pass over the
    // names; usually none, and then no lookup is made for them.
    let (mut has_xff, mut has_forwarded, mut has_id) = (false, false, false);
    for name in headers.keys() {
        if *name == X_FORWARDED_FOR {
            has_xff = true;
        } else if *name == FORWARDED {
            has_forwarded = true;
        } else if *name == X_REQUEST_ID {
            has_id = true;
        }
    }
    let prev_xff = if has_xff {
        headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok())
    } else {
        None
    };
    let xff = match prev_xff {
        Some(prev) if !prev.is_empty() => {
            let ip = client.ip.to_str().unwrap_or_default();
            HeaderValue::from_str(&format!("{prev}, {ip}")).ok()
        }
        _ => Some(client.ip.clone()),
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(client.proto));
    let host = headers.get(header::HOST).cloned();
    let mut forwarded = Scratch::take();
    if has_forwarded {
        if let Some(prev) = headers.get(&FORWARDED).and_then(|v| v.to_str().ok()) {
            forwarded.extend_from_slice(prev.as_bytes());
            forwarded.extend_from_slice(b", ");
        }
    }
    forwarded.extend_from_slice(&client.forwarded);
    if let Some(host) = &host {
        headers.insert(X_FORWARDED_HOST, host.clone());
        if let Ok(h) = host.to_str() {
            if h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            {
                forwarded.extend_from_slice(b";host=");
                forwarded.extend_from_slice(h.as_bytes());
            } else {
                forwarded.extend_from_slice(b";host=\"");
                forwarded.extend_from_slice(h.replace(['"', '\\'], "").as_bytes());
                forwarded.push(b'"');
            }
        }
    }
    // Every byte came from a visible-ASCII value or from us: as `from_str`.
    if let Ok(v) = HeaderValue::from_maybe_shared(crate::scratch::small_bytes(&forwarded)) {
        headers.insert(FORWARDED, v);
    }
    drop(forwarded);
    let id = if has_id {
        headers.get(&X_REQUEST_ID).cloned()
    } else {
        None
    };
    match id {
        Some(id) => id,
        None => {
            let id = new_request_id();
            headers.insert(X_REQUEST_ID, id.clone());
            id
        }
    }
}

/// 32 hex digits, unique per process (random prefix, counter mixed in).
fn new_request_id() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(std::process::id())
    });
    let n = COUNTER.fetch_add(1, Relaxed);
    let mixed = fmix64(prefix ^ n.rotate_left(32)) ^ n;
    let mut buf = [0u8; 32];
    for (i, byte) in prefix
        .to_be_bytes()
        .iter()
        .chain(mixed.to_be_bytes().iter())
        .enumerate()
    {
        buf[2 * i] = HEX[usize::from(byte >> 4)];
        buf[2 * i + 1] = HEX[usize::from(byte & 0xf)];
    }
    HeaderValue::from_maybe_shared(crate::scratch::small_bytes(&buf))
        .expect("hex is a valid header value")
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The value of cookie `name` in the request's Cookie headers.
pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .find_map(|v| cookie_in(v, name))
}

/// The value of cookie `name` in one Cookie header.
pub(crate) fn cookie_in<'a>(cookie_header: &'a HeaderValue, name: &str) -> Option<&'a str> {
    cookie_header.to_str().ok()?.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http2_request_keeps_every_header_value_in_order_with_room_to_add() {
        let mut req = http::Request::builder()
            .uri("https://example.com:8443/a?b")
            .header("accept", "text/html")
            .header("x-multi", "1")
            .header("x-multi", "2")
            .header("x-multi", "3")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .header("x-last", "z")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        from_http2(&mut req).unwrap();
        let multi: Vec<_> = req.headers.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["1", "2", "3"]);
        assert_eq!(req.headers["cookie"], "a=1; b=2");
        assert_eq!(req.headers["accept"], "text/html");
        assert_eq!(req.headers["x-last"], "z");
        assert_eq!(req.headers[header::HOST], "example.com:8443");
        assert_eq!(req.uri, "/a?b");
        assert_eq!(req.headers.keys_len(), 5);
        assert!(req.headers.capacity() >= req.headers.len() + ADDED_HEADERS - 1);
    }

    #[test]
    fn strips_hop_by_hop_and_connection_named() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, X-Secret".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert(header::TE, "trailers".parse().unwrap());
        h.insert("proxy-foo", "1".parse().unwrap());
        h.insert("x-keep", "1".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn forwarding_appends() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "example.com".parse().unwrap());
        h.insert("x-forwarded-for", "10.0.0.1".parse().unwrap());
        add_forwarding(
            &mut h,
            &ClientHeaders::new("127.0.0.1".parse().unwrap(), "http"),
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-host"], "example.com");
        assert_eq!(h["forwarded"], "for=127.0.0.1;proto=http;host=example.com");
        assert_eq!(h["x-request-id"].len(), 32);
    }

    #[test]
    fn a_connection_from_the_last_address_shares_its_values() {
        let a: IpAddr = "10.0.0.7".parse().unwrap();
        let b: IpAddr = "10.0.0.8".parse().unwrap();
        let first = ClientHeaders::for_connection(a, "http");
        assert!(Arc::ptr_eq(
            &first,
            &ClientHeaders::for_connection(a, "http")
        ));
        let tls = ClientHeaders::for_connection(a, "https");
        assert!(!Arc::ptr_eq(&first, &tls));
        assert_eq!(&*tls.forwarded, b"for=10.0.0.7;proto=https");
        let other = ClientHeaders::for_connection(b, "https");
        assert_eq!(other.ip, "10.0.0.8");
        assert_eq!(&*other.forwarded, b"for=10.0.0.8;proto=https");
    }

    #[test]
    fn client_values_are_formatted_as_display_does() {
        for ip in [
            "127.0.0.1",
            "0.0.0.0",
            "10.200.9.255",
            "192.168.100.10",
            "255.255.255.255",
            "::1",
            "2001:db8::8:800:200c:417a",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            let c = ClientHeaders::new(addr, "https");
            assert_eq!(c.ip, ip);
            let want = match addr {
                IpAddr::V4(_) => format!("for={ip};proto=https"),
                IpAddr::V6(_) => format!("for=\"[{ip}]\";proto=https"),
            };
            assert_eq!(std::str::from_utf8(&c.forwarded).unwrap(), want);
        }
    }

    #[test]
    fn forwarding_keeps_a_client_request_id_and_quotes_an_odd_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "a b".parse().unwrap());
        h.insert(X_REQUEST_ID, "abc".parse().unwrap());
        h.insert(FORWARDED, "for=10.0.0.1".parse().unwrap());
        let id = add_forwarding(&mut h, &ClientHeaders::new("::1".parse().unwrap(), "https"));
        assert_eq!(id, "abc");
        assert_eq!(h["x-request-id"], "abc");
        assert_eq!(h["x-forwarded-for"], "::1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(
            h["forwarded"],
            "for=10.0.0.1, for=\"[::1]\";proto=https;host=\"a b\""
        );
    }

    #[test]
    fn request_ids_differ() {
        assert_ne!(new_request_id(), new_request_id());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever `Connection` names, no hop-by-hop header survives stripping.
        #[test]
        fn nothing_hop_by_hop_survives(tokens in proptest::collection::vec("[a-z-]{1,12}", 0..6)) {
            let mut h = HeaderMap::new();
            h.insert(header::CONNECTION, HeaderValue::from_str(&tokens.join(", ")).unwrap());
            for t in &tokens {
                if let Ok(name) = HeaderName::from_bytes(t.as_bytes()) {
                    h.insert(name, HeaderValue::from_static("1"));
                }
            }
            h.insert(header::TE, HeaderValue::from_static("trailers"));
            h.insert("proxy-x", HeaderValue::from_static("1"));
            strip_hop_by_hop(&mut h, false);
            for t in &tokens {
                prop_assert!(!h.contains_key(t.as_str()));
            }
            for name in &HOP_BY_HOP {
                prop_assert!(!h.contains_key(name));
            }
            prop_assert!(h.keys().all(|k| !k.as_str().starts_with("proxy-")));
        }

        /// The one-pass strip removes exactly what the obvious one does (every
        /// name `Connection` lists, the fixed list, any `Proxy-*`), and leaves
        /// the rest in the same order.
        #[test]
        fn strip_matches_the_obvious_one(
            names in proptest::collection::vec(
                "(connection|keep-alive|te|trailer|trailers|transfer-encoding|upgrade|proxy-[a-z]{1,4}|proxy|x-[a-z]{1,3}|close|content-length|cookie|host)",
                0..10,
            ),
            listed in proptest::collection::vec("(X-[a-z]{1,3}|close|keep-alive|Cookie|upgrade| x-a |[a-z]{1,3})", 0..4),
            keep_upgrade in any::<bool>(),
        ) {
            let mut h = HeaderMap::new();
            for (i, n) in names.iter().enumerate() {
                h.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from(i));
            }
            if names.iter().any(|n| n == "connection") {
                h.insert(header::CONNECTION, HeaderValue::from_str(&listed.join(",")).unwrap());
            }
            let mut expected = h.clone();
            let want_upgrade = obvious_strip(&mut expected, keep_upgrade);
            let got_upgrade = strip_hop_by_hop(&mut h, keep_upgrade);
            prop_assert_eq!(got_upgrade, want_upgrade);
            let got: Vec<_> = h.iter().collect();
            let want: Vec<_> = expected.iter().collect();
            prop_assert_eq!(got, want);
        }
    }

    /// The strip as first written: a lookup per fixed name.
    fn obvious_strip(headers: &mut HeaderMap, keep_upgrade: bool) -> Option<HeaderValue> {
        let upgrade = if keep_upgrade {
            headers.get(header::UPGRADE).cloned()
        } else {
            None
        };
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
        for name in &HOP_BY_HOP {
            headers.remove(name);
        }
        headers.remove(PROXY_CONNECTION);
        let proxy: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("proxy-"))
            .cloned()
            .collect();
        for name in proxy {
            headers.remove(name);
        }
        upgrade
    }
}
