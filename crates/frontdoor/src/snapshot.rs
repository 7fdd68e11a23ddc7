//! The routing snapshot: servers, weights, the selector and settings, immutable
//! once built and published through one `ArcSwap`. Requests load it once and use
//! that view throughout, so a reload never changes the rules mid-request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use balance::{HashRing, SmoothWeightedRoundRobin};
use http::request::Parts;

use crate::clock::now_ms;
use crate::config::{Algorithm, Config, HashKey, StickyMode};
use crate::headers::cookie_value;
use crate::server::{AdminState, Health, Server};
use crate::sticky::{StickyCtx, StickyRuntime};

pub(crate) struct Snapshot {
    pub(crate) config: Config,
    pub(crate) servers: Vec<Arc<Server>>,
    pub(crate) weights: Vec<u32>,
    selector: Selector,
    /// Whether servers with no passed check yet may take traffic.
    unknown_ok: bool,
    pub(crate) sticky: Option<StickyRuntime>,
    /// The ring for hashed stickiness.
    sticky_ring: Option<HashRing>,
    by_id: HashMap<Arc<str>, usize>,
    slow_start_ms: u64,
    rng: AtomicU64,
}

/// Where a request goes, and how stickiness played into it.
pub(crate) struct Choice {
    pub(crate) idx: usize,
    /// The user's own server took the request.
    pub(crate) sticky_hit: bool,
    /// The user's own server could not take it (down, maintenance, …).
    pub(crate) rerouted_from: Option<usize>,
}

enum Selector {
    RoundRobin(Mutex<SmoothWeightedRoundRobin>),
    LeastInFlight(AtomicU64),
    PowerOfTwo(AtomicU64),
    Hash { ring: HashRing, key: HashKey },
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
                _ => {
                    let fresh = Server::new(s.id(), &s.address, initial);
                    if !existing.is_empty() {
                        // Joined a running front door: slow start applies.
                        fresh.mark_available();
                    }
                    fresh
                }
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
                }
            }
        };
        let sticky = config.sticky.as_ref().map(StickyRuntime::new);
        let sticky_ring = match &sticky {
            Some(st) if st.mode != StickyMode::Cookie => {
                let ids: Vec<(&str, u32)> = servers
                    .iter()
                    .zip(&weights)
                    .map(|(s, w)| (&*s.id, *w))
                    .collect();
                Some(HashRing::new(&ids))
            }
            _ => None,
        };
        let by_id = servers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let slow_start_ms = config.slow_start.as_millis() as u64;
        Self {
            config,
            servers,
            weights,
            selector,
            unknown_ok,
            sticky,
            sticky_ring,
            by_id,
            slow_start_ms,
            rng: AtomicU64::new(seed()),
        }
    }

    /// Choose a server for a request, skipping those in `exclude` (already tried),
    /// honouring stickiness (see `sticky.rs`), admin states and slow start.
    pub(crate) fn choose(
        &self,
        req: &Parts,
        client_ip: IpAddr,
        exclude: &[usize],
        ctx: &StickyCtx,
    ) -> Option<Choice> {
        let now = now_ms();
        let usable = |i: usize| {
            self.weights[i] > 0
                && !exclude.contains(&i)
                && self.servers[i].admin_state() != AdminState::Maintenance
                && self.servers[i].is_available(now, self.unknown_ok)
        };
        let mut rerouted_from = None;
        if let Some(st) = &self.sticky {
            if let Some((id, _)) = &ctx.cookie {
                match self.by_id.get(id.as_str()) {
                    Some(&i) if usable(i) => {
                        return Some(Choice {
                            idx: i,
                            sticky_hit: true,
                            rerouted_from: None,
                        })
                    }
                    Some(&i) => rerouted_from = Some(i),
                    None => {}
                }
            }
            if let (Some(ring), Some(hash)) = (&self.sticky_ring, ctx.key_hash) {
                let eligible = |i: usize| {
                    usable(i)
                        && match self.servers[i].admin_state() {
                            AdminState::Active => true,
                            AdminState::Draining => {
                                self.servers[i].has_sticky_user(hash, now, st.idle_ms)
                            }
                            AdminState::Maintenance => false,
                        }
                };
                let home = ring.lookup(hash, |i| self.weights[i] > 0);
                let idx = self.bounded(ring, hash, &eligible)?;
                let home_down =
                    home.is_some_and(|h| h != idx && !usable(h) && !exclude.contains(&h));
                return Some(Choice {
                    idx,
                    sticky_hit: Some(idx) == home,
                    rerouted_from: if home_down { home } else { None },
                });
            }
        }
        let takes_new = |i: usize| usable(i) && self.servers[i].admin_state() == AdminState::Active;
        let mut idx = self.select(req, client_ip, &takes_new)?;
        if self.slow_start_ms > 0 {
            let ramp = self.servers[idx].ramp(now, self.slow_start_ms);
            if ramp < 1.0 && (splitmix(&self.rng) >> 11) as f64 / (1u64 << 53) as f64 >= ramp {
                if let Some(other) = self.select(req, client_ip, &|i| i != idx && takes_new(i)) {
                    idx = other;
                }
            }
        }
        Some(Choice {
            idx,
            sticky_hit: false,
            rerouted_from,
        })
    }

    /// Bounded-loads lookup with the floor: the first eligible server clockwise
    /// takes the key while it has fewer than `hash_balance_floor` in flight.
    fn bounded(
        &self,
        ring: &HashRing,
        hash: u64,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let first = ring.lookup(hash, eligible)?;
        if self.servers[first].in_flight() < self.config.hash_balance_floor {
            return Some(first);
        }
        ring.lookup_bounded(
            hash,
            eligible,
            |i| self.servers[i].in_flight(),
            self.config.hash_balance,
        )
    }

    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn unknown_ok(&self) -> bool {
        self.unknown_ok
    }

    /// The configured algorithm over the servers `eligible` admits.
    fn select(
        &self,
        req: &Parts,
        client_ip: IpAddr,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.servers.len();
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
            Selector::Hash { ring, key, .. } => {
                let hash = match key_bytes(key, req, client_ip) {
                    Some(k) => balance::hash_key(&k),
                    // No key on this request (no cookie yet): spread by source address.
                    None => balance::hash_key(client_ip.to_string().as_bytes()),
                };
                self.bounded(ring, hash, eligible)
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
