//! The routing snapshot: the route table and every pool's servers, weights,
//! selector and settings, immutable once built and published through one
//! `ArcSwap`. Requests load it once and use that view throughout, so a reload
//! never changes the rules mid-request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use balance::{HashRing, SmoothWeightedRoundRobin};
use http::request::Parts;

use crate::clock::now_ms;
use crate::config::{Algorithm, Config, HashKey, StickyMode};
use crate::headers::cookie_value;
use crate::routing::Routes;
use crate::stats::ServerStats;
use crate::sticky::{self, Choice, Route, ServerSticky, Sticky, User};
use crate::upstream::{AdminState, Health, Server};
use crate::upstream_tls::{Settings, UpstreamTls};

/// Live state that outlives snapshots: servers by (pool, id), and counters of
/// pools and routes by name. A reload keeps whatever keeps its name.
#[derive(Default)]
pub(crate) struct Live {
    pub(crate) servers: HashMap<(Arc<str>, Arc<str>), Arc<Server>>,
    pub(crate) pools: HashMap<Arc<str>, Arc<ServerStats>>,
    pub(crate) routes: HashMap<Arc<str>, Arc<crate::routing::RouteLive>>,
    /// The shared rate-limit store by URL (its connections and error count).
    pub(crate) limit_store: Option<(String, Arc<crate::limit_store::Store>)>,
}

pub(crate) struct Snapshot {
    /// The whole `[balance]` configuration as given.
    pub(crate) config: Config,
    /// The default pool first, then `[[pools]]` in order.
    pub(crate) pools: Vec<ServerPool>,
    pub(crate) routes: Routes,
}

impl Snapshot {
    /// Build from `config`, reusing live state from `live` for what stays.
    pub(crate) fn build(config: Config, live: &Live) -> Self {
        let effective = config.effective_pools();
        let default_cookie = config
            .sticky
            .as_ref()
            .filter(|s| s.mode == StickyMode::Cookie)
            .map(|s| s.cookie.clone());
        let pools = effective
            .into_iter()
            .enumerate()
            .map(|(i, (name, mut cfg))| {
                // Two pools must not share a sticky cookie: each would read the
                // other's server id as unknown and re-stick the user every time.
                if let Some(st) = cfg.sticky.as_mut() {
                    if i > 0 && Some(&st.cookie) == default_cookie.as_ref() {
                        st.cookie = format!("{}-{name}", st.cookie);
                    }
                }
                let name: Arc<str> = Arc::from(name);
                let stats = live.pools.get(&name).cloned().unwrap_or_default();
                ServerPool::build(name, cfg, &live.servers, stats)
            })
            .collect();
        let store = config.rate_limit_store.as_ref().map(|url| {
            match &live.limit_store {
                Some((old, s)) if old == url => s.clone(),
                // Validated with the config.
                _ => Arc::new(crate::limit_store::Store::new(url).expect("validated store URL")),
            }
        });
        let routes = Routes::build(&config, &live.routes, store);
        Snapshot {
            config,
            pools,
            routes,
        }
    }

    /// Every server of every pool.
    pub(crate) fn servers(&self) -> impl Iterator<Item = &Arc<Server>> {
        self.pools.iter().flat_map(|p| p.servers.iter())
    }

    /// The pool `server` belongs to.
    pub(crate) fn pool_of(&self, server: &Server) -> Option<&ServerPool> {
        self.pools.iter().find(|p| p.name == server.pool_name)
    }

    /// `server`'s weight in its pool, as this snapshot has it.
    pub(crate) fn weight_of(&self, server: &Server) -> Option<u32> {
        let pool = self.pool_of(server)?;
        pool.by_id.get(&*server.id).map(|&i| pool.weights[i])
    }

    /// The state that must outlive this snapshot.
    pub(crate) fn live(&self) -> Live {
        Live {
            servers: self
                .servers()
                .map(|s| ((s.pool_name.clone(), s.id.clone()), s.clone()))
                .collect(),
            pools: self
                .pools
                .iter()
                .map(|p| (p.name.clone(), p.stats.clone()))
                .collect(),
            routes: self.routes.live(),
            limit_store: self
                .config
                .rate_limit_store
                .clone()
                .zip(self.routes.store.clone()),
        }
    }
}

/// One pool: its servers and how it chooses among them.
pub(crate) struct ServerPool {
    pub(crate) name: Arc<str>,
    /// The pool's effective configuration (`[balance]` with the pool's settings over it).
    pub(crate) config: Config,
    pub(crate) servers: Vec<Arc<Server>>,
    /// Responses of the whole pool, for the dashboard and metrics.
    pub(crate) stats: Arc<ServerStats>,
    pub(crate) weights: Vec<u32>,
    selector: Selector,
    /// Whether servers with no passed check yet may take traffic.
    unknown_ok: bool,
    /// Sticky rules (see `sticky/`).
    pub(crate) sticky: Sticky,
    by_id: HashMap<Arc<str>, usize>,
    slow_start_ms: u64,
    rng: AtomicU64,
}

enum Selector {
    RoundRobin(Mutex<SmoothWeightedRoundRobin>),
    LeastInFlight(AtomicU64),
    PowerOfTwo(AtomicU64),
    Hash { ring: HashRing, key: HashKey },
}

impl ServerPool {
    /// Build from the pool's effective `config`, reusing live servers that stay.
    fn build(
        name: Arc<str>,
        config: Config,
        existing: &HashMap<(Arc<str>, Arc<str>), Arc<Server>>,
        stats: Arc<ServerStats>,
    ) -> Self {
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
            let key = (name.clone(), Arc::from(s.id()));
            let server = match existing.get(&key) {
                Some(live)
                    if live.address == s.address
                        && live.health_path.as_deref() == s.health_path.as_deref()
                        && live.protocol == s.protocol
                        && live.tls.as_ref().map(|t| t.settings()) == Settings::of(s).as_ref() =>
                {
                    live.clone()
                }
                _ => {
                    let fresh = Server::new(
                        &name,
                        s.id(),
                        &s.address,
                        s.health_path.as_deref(),
                        UpstreamTls::for_server(s),
                        s.protocol,
                        initial,
                    );
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
        let members: Vec<(&str, u32)> = servers
            .iter()
            .zip(&weights)
            .map(|(s, w)| (&*s.id, *w))
            .collect();
        let sticky = Sticky::new(&config, &members);
        drop(members);
        let by_id = servers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let slow_start_ms = config.slow_start.as_millis() as u64;
        Self {
            name,
            config,
            servers,
            stats,
            weights,
            selector,
            unknown_ok,
            sticky,
            by_id,
            slow_start_ms,
            rng: AtomicU64::new(seed()),
        }
    }

    /// Choose a server for a request, skipping those in `exclude` (already tried),
    /// honouring stickiness (asked first, see `sticky/`), admin states and slow start.
    pub(crate) fn choose(
        &self,
        req: &Parts,
        client_ip: IpAddr,
        exclude: &[usize],
        user: &User,
    ) -> Option<Choice> {
        let now = now_ms();
        let usable = |i: usize| {
            self.weights[i] > 0
                && !exclude.contains(&i)
                && self.servers[i].admin_state() != AdminState::Maintenance
                && self.servers[i].is_available(now, self.unknown_ok)
        };
        let rerouted_from = match self.sticky.choose(user, self, &usable, exclude, now) {
            Route::Decided(choice) => return choice,
            Route::Open { rerouted_from } => rerouted_from,
        };
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

impl sticky::Servers for ServerPool {
    fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }
    fn id(&self, i: usize) -> &str {
        &self.servers[i].id
    }
    fn weight(&self, i: usize) -> u32 {
        self.weights[i]
    }
    fn is_draining(&self, i: usize) -> bool {
        self.servers[i].admin_state() == AdminState::Draining
    }
    fn sticky_state(&self, i: usize) -> &ServerSticky {
        &self.servers[i].sticky
    }
    fn bounded(
        &self,
        ring: &HashRing,
        hash: u64,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        ServerPool::bounded(self, ring, hash, eligible)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Servers `a` and `b`, no health checks (both up).
    fn pair(head: &str) -> ServerPool {
        let cfg = Config::from_toml(&format!(
            "{head}\n[[servers]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n\
             [[servers]]\nname = \"b\"\naddress = \"127.0.0.1:2\"\n"
        ))
        .unwrap();
        Snapshot::build(cfg, &Live::default()).pools.remove(0)
    }

    /// Of `n` requests from new users, how many go to server `idx`.
    fn share(snap: &ServerPool, idx: usize, n: usize) -> usize {
        let (parts, ()) = http::Request::new(()).into_parts();
        let ip = IpAddr::from([127, 0, 0, 1]);
        let user = User::default();
        (0..n)
            .filter(|_| snap.choose(&parts, ip, &[], &user).unwrap().idx == idx)
            .count()
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_ramps_a_returning_server_up() {
        let snap = pair("slow_start = \"3s\"");
        assert_eq!(share(&snap, 1, 40), 20, "servers present at start: no ramp");
        // b comes back (from down or maintenance): it starts at a tenth of its share.
        snap.servers[1].mark_available();
        let early = share(&snap, 1, 40);
        assert!(
            early < 16,
            "right after coming up b should get well under half: {early}/40"
        );
        tokio::time::advance(Duration::from_millis(3200)).await;
        assert_eq!(
            share(&snap, 1, 40),
            20,
            "after the ramp, round robin is even again"
        );
    }
}
