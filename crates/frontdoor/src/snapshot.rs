//! The routing snapshot: servers, weights, the selector and settings, immutable
//! once built and published through one `ArcSwap`. Requests load it once and use
//! that view throughout, so a reload never changes the rules mid-request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use balance::{HashRing, SmoothWeightedRoundRobin};
use http::request::Parts;

use crate::config::{Algorithm, Config, HashKey};
use crate::server::{now_ms, Health, Server};

pub(crate) struct Snapshot {
    pub(crate) config: Config,
    pub(crate) servers: Vec<Arc<Server>>,
    pub(crate) weights: Vec<u32>,
    selector: Selector,
    /// Whether servers with no passed check yet may take traffic.
    unknown_ok: bool,
}

enum Selector {
    RoundRobin(Mutex<SmoothWeightedRoundRobin>),
    LeastInFlight(AtomicU64),
    PowerOfTwo(AtomicU64),
    Hash {
        ring: HashRing,
        key: HashKey,
        epsilon: f64,
    },
}

impl Snapshot {
    /// Build from `config`, reusing live state from `existing` for servers that stay.
    pub(crate) fn build(config: Config, existing: &HashMap<Arc<str>, Arc<Server>>) -> Self {
        let unknown_ok = config
            .health
            .as_ref()
            .is_none_or(|h| !h.wait_for_first_check);
        let initial = if config.health.is_some() {
            Health::Unknown
        } else {
            Health::Up
        };
        let mut servers = Vec::with_capacity(config.servers.len());
        let mut weights = Vec::with_capacity(config.servers.len());
        for s in &config.servers {
            let s = s.get_ref();
            let server = match existing.get(s.id()) {
                Some(live) if live.address == s.address => live.clone(),
                _ => Server::new(s.id(), &s.address, initial),
            };
            servers.push(server);
            weights.push(s.weight);
        }
        let selector = match config.algorithm {
            Algorithm::RoundRobin => {
                Selector::RoundRobin(Mutex::new(SmoothWeightedRoundRobin::new(&weights)))
            }
            Algorithm::LeastInFlight => Selector::LeastInFlight(AtomicU64::new(0)),
            Algorithm::PowerOfTwo => Selector::PowerOfTwo(AtomicU64::new(seed())),
            Algorithm::Hash => {
                let ids: Vec<(&str, u32)> = servers
                    .iter()
                    .zip(&weights)
                    .map(|(s, w)| (&*s.id, *w))
                    .collect();
                Selector::Hash {
                    ring: HashRing::new(&ids),
                    key: HashKey::parse(config.hash_key.as_deref().unwrap_or("source-ip"))
                        .unwrap_or(HashKey::SourceIp),
                    epsilon: config.hash_balance,
                }
            }
        };
        Self {
            config,
            servers,
            weights,
            selector,
            unknown_ok,
        }
    }

    pub(crate) fn unknown_ok(&self) -> bool {
        self.unknown_ok
    }

    /// Choose a server for a request, skipping those in `exclude` (already tried).
    pub(crate) fn select(
        &self,
        req: &Parts,
        client_ip: IpAddr,
        exclude: &[usize],
    ) -> Option<usize> {
        let now = now_ms();
        let n = self.servers.len();
        let eligible = |i: usize| {
            self.weights[i] > 0
                && !exclude.contains(&i)
                && self.servers[i].is_available(now, self.unknown_ok)
        };
        let in_flight = |i: usize| self.servers[i].in_flight();
        match &self.selector {
            Selector::RoundRobin(swrr) => swrr.lock().expect("swrr lock").next(eligible),
            Selector::LeastInFlight(rotor) => {
                let start = rotor.fetch_add(1, Relaxed) as usize;
                balance::least_in_flight(n, eligible, in_flight, |i| self.weights[i], start)
            }
            Selector::PowerOfTwo(state) => {
                let a = splitmix(state);
                let b = splitmix(state);
                balance::power_of_two_choices(n, eligible, in_flight, a, b)
            }
            Selector::Hash { ring, key, epsilon } => {
                let hash = match key_bytes(key, req, client_ip) {
                    Some(k) => balance::hash_key(&k),
                    // No key on this request (no cookie yet): spread by source address.
                    None => balance::hash_key(client_ip.to_string().as_bytes()),
                };
                ring.lookup_bounded(hash, eligible, in_flight, *epsilon)
            }
        }
    }
}

fn key_bytes(key: &HashKey, req: &Parts, client_ip: IpAddr) -> Option<Vec<u8>> {
    match key {
        HashKey::SourceIp => Some(client_ip.to_string().into_bytes()),
        HashKey::Path => Some(req.uri.path().as_bytes().to_vec()),
        HashKey::Header(name) => req.headers.get(name).map(|v| v.as_bytes().to_vec()),
        HashKey::Cookie(name) => cookie_value(&req.headers, name).map(|v| v.as_bytes().to_vec()),
    }
}

/// The value of cookie `name` in the request's Cookie headers.
pub(crate) fn cookie_value<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(now_ms())
}

/// splitmix64 over a shared atomic state: cheap, lock-free randomness for p2c.
fn splitmix(state: &AtomicU64) -> u64 {
    let mut z = state
        .fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
