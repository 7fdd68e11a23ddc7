//! The sticky rules compiled for the request path: reading a request's sticky
//! identity, and issuing and verifying our signed cookie (strong mode).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hmac::{Hmac, Mac};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;

use super::User;
use crate::config::{Sticky, StickyMode};
use crate::headers::cookie_value;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in the cookie (128 bits).
const MAC_LEN: usize = 16;

/// Sticky settings compiled for the request path.
pub(crate) struct Rules {
    pub(crate) mode: StickyMode,
    cookie_name: String,
    mac: Option<HmacSha256>,
    app_cookie: Option<String>,
    header: Option<HeaderName>,
    /// `; Path=/; HttpOnly; …` appended to every Set-Cookie we send.
    attributes: String,
    pub(crate) idle_ms: u64,
    next_user: AtomicU64,
    /// Cookie values already verified, as tags under a process-secret SipHash
    /// key: a returning cookie skips the HMAC. Direct-mapped; a miss or a
    /// collision only costs one HMAC. A forged value would need to hit a stored
    /// 64-bit keyed tag, which it cannot compute.
    verified: Box<[AtomicU64]>,
    tag_key: std::hash::RandomState,
}

/// Slots in the verified-cookie cache (a power of two).
const VERIFIED_SLOTS: usize = 4096;

impl Rules {
    pub(crate) fn new(cfg: &Sticky) -> Self {
        let mac = cfg.key.as_deref().map(|k| {
            HmacSha256::new_from_slice(k.as_bytes()).expect("HMAC takes keys of any length")
        });
        let mut attributes = format!("; Path={}", cfg.path);
        if let Some(d) = &cfg.domain {
            attributes.push_str(&format!("; Domain={d}"));
        }
        if let Some(age) = cfg.max_age {
            attributes.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        if cfg.secure || cfg.same_site == "None" {
            attributes.push_str("; Secure");
        }
        if cfg.http_only {
            attributes.push_str("; HttpOnly");
        }
        attributes.push_str(&format!("; SameSite={}", cfg.same_site));
        let seed = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(std::process::id())
        };
        Self {
            mode: cfg.mode,
            cookie_name: cfg.cookie.clone(),
            mac,
            app_cookie: cfg.app_cookie.clone(),
            header: cfg
                .header
                .as_deref()
                .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
            attributes,
            idle_ms: cfg.idle.as_millis() as u64,
            next_user: AtomicU64::new(seed),
            verified: (0..VERIFIED_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            tag_key: std::hash::RandomState::new(),
        }
    }

    /// Read the request's sticky identity.
    pub(crate) fn user(&self, headers: &HeaderMap, client_ip: IpAddr) -> User {
        match self.mode {
            StickyMode::Cookie => User {
                cookie: cookie_value(headers, &self.cookie_name).and_then(|v| self.verify(v)),
                key_hash: None,
            },
            StickyMode::AppCookie => {
                let name = self.app_cookie.as_deref().unwrap_or_default();
                // Before the app has set its cookie, the client address keeps a
                // user's parallel first requests together.
                let hash = match cookie_value(headers, name) {
                    Some(v) if !v.is_empty() => balance::hash_key(v.as_bytes()),
                    _ => hash_ip(client_ip),
                };
                User {
                    cookie: None,
                    key_hash: Some(hash),
                }
            }
            StickyMode::SourceIp => User {
                cookie: None,
                key_hash: Some(hash_ip(client_ip)),
            },
            StickyMode::Header => User {
                cookie: None,
                key_hash: self
                    .header
                    .as_ref()
                    .and_then(|h| headers.get(h))
                    .map(|v| balance::hash_key(v.as_bytes())),
            },
        }
    }

    /// A fresh user id for a user without a valid cookie.
    pub(crate) fn new_user(&self) -> u64 {
        let n = self.next_user.fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed);
        let mut z = n;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn mac_of(&self, server: &str, user: u64) -> Option<[u8; MAC_LEN]> {
        let mut mac = self.mac.clone()?;
        mac.update(b"bigstep-sticky-v1\0");
        mac.update(server.as_bytes());
        mac.update(b"\0");
        mac.update(&user.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        Some(out)
    }

    /// `{server}.{user}.{mac}`, verified in constant time. `None` if forged or malformed.
    pub(crate) fn verify(&self, value: &str) -> Option<(String, u64)> {
        let (rest, mac_hex) = value.rsplit_once('.')?;
        let (server, user_hex) = rest.rsplit_once('.')?;
        let user = u64::from_str_radix(user_hex, 16).ok()?;
        let tag = {
            use std::hash::BuildHasher;
            self.tag_key.hash_one(value.as_bytes()) | 1
        };
        let slot = &self.verified[tag as usize & (VERIFIED_SLOTS - 1)];
        if slot.load(Relaxed) == tag {
            return Some((server.to_string(), user));
        }
        let given = hex::decode(mac_hex).ok()?;
        let mut mac = self.mac.clone()?;
        mac.update(b"bigstep-sticky-v1\0");
        mac.update(server.as_bytes());
        mac.update(b"\0");
        mac.update(&user.to_be_bytes());
        if given.len() != MAC_LEN {
            return None;
        }
        mac.verify_truncated_left(&given).ok()?;
        slot.store(tag, Relaxed);
        Some((server.to_string(), user))
    }

    /// The Set-Cookie header that sticks `user` to `server`.
    pub(crate) fn set_cookie(&self, server: &str, user: u64) -> Option<HeaderValue> {
        let mac = self.mac_of(server, user)?;
        let v = format!(
            "{}={server}.{user:016x}.{}{}",
            self.cookie_name,
            hex::encode(mac),
            self.attributes
        );
        HeaderValue::from_str(&v).ok()
    }
}

fn hash_ip(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => balance::hash_key(&v4.octets()),
        IpAddr::V6(v6) => balance::hash_key(&v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(key: &str) -> Rules {
        let cfg: Sticky = toml::from_str(&format!("mode = \"cookie\"\nkey = \"{key}\"\n")).unwrap();
        Rules::new(&cfg)
    }

    #[test]
    fn cookie_round_trip_and_forgery() {
        let rt = runtime("0123456789abcdef0123");
        let set = rt.set_cookie("app-1", 42).unwrap();
        let set = set.to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
            "{set}"
        );
        let value = set.split(';').next().unwrap().split_once('=').unwrap().1;
        assert_eq!(rt.verify(value), Some(("app-1".into(), 42)));
        // Second time from the verified-cookie cache: the same answer.
        assert_eq!(rt.verify(value), Some(("app-1".into(), 42)));
        // Same key, another front door: same answer. Other key: refused.
        assert_eq!(
            runtime("0123456789abcdef0123").verify(value),
            Some(("app-1".into(), 42))
        );
        assert_eq!(runtime("another-key-entirely").verify(value), None);
        // Pointing the cookie at another server breaks the MAC.
        let forged = value.replacen("app-1", "app-2", 1);
        assert_eq!(rt.verify(&forged), None);
        assert_eq!(rt.verify("app-1.2a.00"), None);
        assert_eq!(rt.verify("garbage"), None);
    }

    #[test]
    fn server_ids_with_dots_survive() {
        let rt = runtime("0123456789abcdef0123");
        let set = rt.set_cookie("10.0.0.1:8080", 7).unwrap();
        let value = set
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_string();
        assert_eq!(rt.verify(&value), Some(("10.0.0.1:8080".into(), 7)));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn runtime() -> Rules {
        let cfg: Sticky =
            toml::from_str("mode = \"cookie\"\nkey = \"0123456789abcdef0123\"\n").unwrap();
        Rules::new(&cfg)
    }

    proptest! {
        /// Arbitrary cookie values never panic and never verify (no forgery by luck).
        #[test]
        fn arbitrary_cookies_are_refused(value in "\\PC{0,80}") {
            prop_assert_eq!(runtime().verify(&value), None);
        }

        /// Every cookie we issue verifies to what we put in, for any server id and user.
        #[test]
        fn issued_cookies_verify(server in "[a-zA-Z0-9:._-]{1,40}", user: u64) {
            let rt = runtime();
            let set = rt.set_cookie(&server, user).unwrap();
            let value = set.to_str().unwrap().split(';').next().unwrap().split_once('=').unwrap().1.to_string();
            prop_assert_eq!(rt.verify(&value), Some((server, user)));
        }
    }
}
