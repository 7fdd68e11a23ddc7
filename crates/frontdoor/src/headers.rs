//! Header rewriting at the proxy boundary: hop-by-hop headers are removed (RFC
//! 9110 §7.6.1) in both directions, forwarding headers are added to requests.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers that describe one connection, never the message.
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

/// Remove hop-by-hop headers, including every header `Connection` names and any
/// `Proxy-*`. Returns the `Upgrade` value when `keep_upgrade` and the message asks
/// for one, so the caller can re-add it for a tunnel.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) -> Option<HeaderValue> {
    let upgrade = if keep_upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    };
    if headers.contains_key(header::CONNECTION) {
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
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(PROXY_CONNECTION);
    if headers.keys().any(|k| k.as_str().starts_with("proxy-")) {
        let proxy: Vec<HeaderName> = headers
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
    let authority = req.uri.authority().map(|a| a.as_str().to_owned());
    match (authority, req.headers.get(header::HOST)) {
        (Some(a), Some(h)) if !a.as_bytes().eq_ignore_ascii_case(h.as_bytes()) => {
            return Err(ProxyError::new(ErrorKind::MissingHost));
        }
        (Some(a), None) => {
            let v =
                HeaderValue::from_str(&a).map_err(|_| ProxyError::new(ErrorKind::MissingHost))?;
            req.headers.insert(header::HOST, v);
        }
        (None, None) => return Err(ProxyError::new(ErrorKind::MissingHost)),
        _ => {}
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
    ip: String,
    xff: HeaderValue,
    /// `for=…;proto=…` without the host.
    forwarded: String,
    proto: &'static str,
}

impl ClientHeaders {
    pub(crate) fn new(client_ip: IpAddr, proto: &'static str) -> Self {
        let ip = client_ip.to_string();
        let forwarded = match client_ip {
            IpAddr::V4(_) => format!("for={ip};proto={proto}"),
            IpAddr::V6(_) => format!("for=\"[{ip}]\";proto={proto}"),
        };
        let xff = HeaderValue::from_str(&ip).expect("an IP address is a valid header value");
        Self {
            ip,
            xff,
            forwarded,
            proto,
        }
    }
}

/// Add X-Forwarded-For/-Proto/-Host, `Forwarded` and (when absent) X-Request-Id.
/// Returns the request id.
pub(crate) fn add_forwarding(headers: &mut HeaderMap, client: &ClientHeaders) -> HeaderValue {
    let xff = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.is_empty() => {
            HeaderValue::from_str(&format!("{prev}, {}", client.ip)).ok()
        }
        _ => Some(client.xff.clone()),
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(client.proto));
    let host = headers.get(header::HOST).cloned();
    let mut forwarded = String::with_capacity(client.forwarded.len() + 48);
    if let Some(prev) = headers.get(&FORWARDED).and_then(|v| v.to_str().ok()) {
        forwarded.push_str(prev);
        forwarded.push_str(", ");
    }
    forwarded.push_str(&client.forwarded);
    if let Some(host) = &host {
        headers.insert(X_FORWARDED_HOST, host.clone());
        if let Ok(h) = host.to_str() {
            if h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            {
                forwarded.push_str(";host=");
                forwarded.push_str(h);
            } else {
                forwarded.push_str(";host=\"");
                forwarded.push_str(&h.replace(['"', '\\'], ""));
                forwarded.push('"');
            }
        }
    }
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        headers.insert(FORWARDED, v);
    }
    match headers.get(&X_REQUEST_ID) {
        Some(id) => id.clone(),
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
    HeaderValue::from_bytes(&buf).expect("hex is a valid header value")
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
    }
}
