//! The one typed path for every change to a running front door, whether it came
//! from the config file (SIGHUP, file watch), the admin API or `bigstep up`.
//!
//! A [`Change`] is validated, applied and logged here and nowhere else.
//! Membership changes (reload, add, remove, weight) become a new configuration,
//! diffed against the running snapshot: servers that keep their id and address
//! keep their live state (health, pool, counters, admin state); new servers start
//! fresh with their own health checks; removed servers finish their in-flight
//! requests on the old snapshot and are then dropped. Admin states (drain,
//! maintenance) live on the server and survive reloads. A change that fails
//! validation, or alters what cannot change live, is refused and nothing changes.

use std::sync::Arc;

use serde::Serialize;

use crate::clock::now_ms;
use crate::config::{Config, ServerConfig};
use crate::snapshot::Snapshot;
use crate::upstream::{AdminState, Health};
use crate::Shared;

/// A change to a running front door.
#[derive(Debug, Clone)]
pub enum Change {
    /// Replace the whole configuration (the file was edited).
    Reload(Box<Config>),
    /// Add one server to the default pool.
    AddServer(ServerConfig),
    /// Add one server to the named pool.
    AddPoolServer(String, ServerConfig),
    /// Remove a server by id (from every pool it serves in: an id names a host).
    RemoveServer(String),
    /// Change a server's weight (in every pool it serves in).
    SetWeight(String, u32),
    /// Drain, undrain (active) or put into maintenance (in every pool it serves in).
    SetAdminState(String, AdminState),
    /// Re-read the certificate and key files `[balance.tls]` names (they changed on disk).
    ReloadCertificates,
}

/// What a change did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeSummary {
    /// Servers added (ids).
    pub added: Vec<String>,
    /// Servers removed (ids).
    pub removed: Vec<String>,
    /// Servers whose live state was kept (ids).
    pub kept: Vec<String>,
    /// Servers whose admin state changed (`id: old -> new`).
    pub state_changes: Vec<String>,
    /// Servers that stayed with another weight (`id: weight old -> new`), from
    /// `PUT /api/servers/{id}/weight` or a reload: without it an answer read
    /// "kept 2 (a, b)" and did not say the weight had changed.
    pub weight_changes: Vec<String>,
    /// Advice the change gave rise to (`balance --check`'s warnings the
    /// configuration did not have before), e.g. a server added at an address
    /// its pool already sends to. The change is applied all the same.
    pub warnings: Vec<String>,
}

/// Why a change was refused. The running configuration is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The result would be an invalid configuration.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The change needs a restart.
    #[error("`{0}` cannot change while running; restart bigstep to change it")]
    NeedsRestart(&'static str),
    /// No server has that id.
    #[error("no server named `{0}`")]
    UnknownServer(String),
    /// No pool has that name.
    #[error("no pool named `{0}`")]
    UnknownPool(String),
}

/// Handle for observing and changing a running front door.
#[derive(Clone)]
pub struct Control(pub(crate) Arc<Shared>);

impl Control {
    /// Apply `change` (see the module docs). `source` names who asked, for the log.
    pub fn apply(&self, change: Change, source: &str) -> Result<ChangeSummary, ChangeError> {
        let result = self.apply_inner(change.clone());
        match &result {
            Ok(summary) => tracing::info!(
                target: "bigstep::frontdoor",
                source,
                change = %describe(&change),
                added = ?summary.added,
                removed = ?summary.removed,
                state_changes = ?summary.state_changes,
                weight_changes = ?summary.weight_changes,
                warnings = ?summary.warnings,
                "change applied"
            ),
            Err(e) => tracing::warn!(
                target: "bigstep::frontdoor",
                source,
                change = %describe(&change),
                error = %e,
                "change refused; the running configuration stays"
            ),
        }
        if result.is_ok() {
            self.0.discovery.announce(&change, source);
            self.0.metrics.config_changes.inc();
        } else {
            self.0.metrics.config_changes_refused.inc();
        }
        result
    }

    fn apply_inner(&self, change: Change) -> Result<ChangeSummary, ChangeError> {
        let current = self.0.snapshot.load().config.clone();
        // Every list of servers, the default pool's first.
        fn lists(cfg: &mut Config) -> impl Iterator<Item = &mut Vec<toml::Spanned<ServerConfig>>> {
            std::iter::once(&mut cfg.servers)
                .chain(cfg.pools.iter_mut().map(|p| &mut p.get_mut().servers))
        }
        // A reload re-reads the certificate files even when their names did not change.
        let reread_tls = matches!(change, Change::Reload(_) | Change::ReloadCertificates);
        let new = match change {
            Change::ReloadCertificates => {
                if current.tls.is_none() {
                    return Err(ChangeError::Invalid(
                        "no [balance.tls] is configured".into(),
                    ));
                }
                current
            }
            Change::Reload(cfg) => {
                let mut cfg = *cfg;
                self.0.discovery.keep_members(&current, &mut cfg);
                cfg
            }
            Change::AddServer(server) => {
                let mut cfg = current;
                cfg.servers.push(toml::Spanned::new(0..0, server));
                cfg
            }
            Change::AddPoolServer(pool, server) => {
                let mut cfg = current;
                if pool == crate::config::DEFAULT_POOL {
                    cfg.servers.push(toml::Spanned::new(0..0, server));
                } else {
                    let p = cfg
                        .pools
                        .iter_mut()
                        .find(|p| p.get_ref().name == pool)
                        .ok_or(ChangeError::UnknownPool(pool))?;
                    p.get_mut().servers.push(toml::Spanned::new(0..0, server));
                }
                cfg
            }
            Change::RemoveServer(id) => {
                let mut cfg = current;
                let mut found = false;
                for list in lists(&mut cfg) {
                    let before = list.len();
                    list.retain(|s| s.get_ref().id() != id);
                    found |= list.len() != before;
                }
                if !found {
                    return Err(ChangeError::UnknownServer(id));
                }
                cfg
            }
            Change::SetWeight(id, weight) => {
                let mut cfg = current;
                let mut found = false;
                for list in lists(&mut cfg) {
                    for s in list.iter_mut().filter(|s| s.get_ref().id() == id) {
                        let mut server = s.get_ref().clone();
                        server.weight = weight;
                        *s = toml::Spanned::new(0..0, server);
                        found = true;
                    }
                }
                if !found {
                    return Err(ChangeError::UnknownServer(id));
                }
                cfg
            }
            Change::SetAdminState(id, state) => {
                let snap = self.0.snapshot.load();
                let mut state_changes = Vec::new();
                for server in snap.servers().filter(|s| *s.id == id) {
                    let old = server.set_admin_state(state);
                    state_changes.push(format!(
                        "{}: {} -> {}",
                        label(server),
                        old.as_str(),
                        state.as_str()
                    ));
                }
                if state_changes.is_empty() {
                    return Err(ChangeError::UnknownServer(id));
                }
                return Ok(ChangeSummary {
                    state_changes,
                    ..Default::default()
                });
            }
        };
        self.swap(new, reread_tls)
    }

    /// Diff `new` against the running snapshot and publish it.
    fn swap(&self, mut new: Config, reread_tls: bool) -> Result<ChangeSummary, ChangeError> {
        new.validate(None)
            .map_err(|e| ChangeError::Invalid(e.message))?;
        let shared = &self.0;
        // One change at a time; requests keep reading the old snapshot meanwhile.
        let mut live = shared.live.lock().expect("live state lock");
        let old = shared.snapshot.load_full();
        if new.listen != old.config.listen {
            return Err(ChangeError::NeedsRestart("listen"));
        }
        if new.admin_listen != old.config.admin_listen {
            return Err(ChangeError::NeedsRestart("admin_listen"));
        }
        if new.admin_token != old.config.admin_token {
            return Err(ChangeError::NeedsRestart("admin_token"));
        }
        if new.max_connections != old.config.max_connections {
            return Err(ChangeError::NeedsRestart("max_connections"));
        }
        if new.discovery != old.config.discovery {
            return Err(ChangeError::NeedsRestart("discovery"));
        }
        // The TLS listener was bound at start: it can be neither added, removed nor moved.
        match (new.tls.as_mut(), old.config.tls.as_ref()) {
            (None, None) => {}
            (Some(n), Some(o)) if n.acme != o.acme => {
                return Err(ChangeError::NeedsRestart("tls.acme"))
            }
            (Some(n), Some(o)) if same_listen(n.listen, o.listen) => n.listen = o.listen,
            _ => return Err(ChangeError::NeedsRestart("tls.listen")),
        }
        let tls = match &new.tls {
            Some(t) if reread_tls || Some(t) != old.config.tls.as_ref() => {
                let (loaded, warnings) = crate::tls::load(t, true, shared.acme.as_ref())
                    .map_err(|e| ChangeError::Invalid(format!("tls: {e}")))?;
                for w in warnings {
                    tracing::warn!(target: "bigstep::tls", "{w}");
                }
                Some(Arc::new(loaded))
            }
            _ => None,
        };
        let before = old.config.warnings();
        let warnings = new
            .warnings()
            .into_iter()
            .filter(|w| !before.contains(w))
            .collect();
        let snapshot = Snapshot::build(new, &live);
        let mut summary = ChangeSummary {
            warnings,
            ..Default::default()
        };
        let mut fresh = Vec::new();
        for s in snapshot.servers() {
            let kept = live
                .servers
                .get(&(s.pool_name.clone(), s.id.clone()))
                .is_some_and(|old| Arc::ptr_eq(old, s));
            if kept {
                summary.kept.push(label(s));
                let (was, is) = (old.weight_of(s), snapshot.weight_of(s));
                if let (Some(was), Some(is)) = (was, is) {
                    if was != is {
                        summary
                            .weight_changes
                            .push(format!("{}: weight {was} -> {is}", label(s)));
                    }
                }
            } else {
                summary.added.push(label(s));
                fresh.push(s.clone());
            }
        }
        for ((pool, id), old) in &live.servers {
            let stays = snapshot
                .servers()
                .any(|s| s.pool_name == *pool && s.id == *id);
            if !stays {
                summary.removed.push(label(old));
            }
        }
        *live = snapshot.live();
        let checked: Vec<_> = fresh
            .into_iter()
            .filter(|s| {
                snapshot
                    .pool_of(s)
                    .is_some_and(|p| p.config.health.is_some())
            })
            .collect();
        shared.snapshot.store(Arc::new(snapshot));
        if let Some(tls) = tls {
            shared.tls.store(Some(tls));
        }
        drop(live);
        for s in checked {
            crate::health::spawn(shared, s);
        }
        Ok(summary)
    }

    /// The running configuration.
    pub fn config(&self) -> Config {
        self.0.snapshot.load().config.clone()
    }

    /// The text exposition (OpenMetrics) of the registry the front door's
    /// metrics are in (with the other roles' when the process shares one).
    pub fn metrics(&self) -> String {
        self.0.metrics.render()
    }

    /// The certificates being served, when `[balance.tls]` is set.
    pub fn certificates(&self) -> Vec<CertificateStatus> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut out: Vec<CertificateStatus> = self.0.tls.load_full().map_or_else(Vec::new, |tls| {
            tls.certs
                .iter()
                .map(|c| CertificateStatus {
                    name: c.name.clone(),
                    names: c.names.clone(),
                    file: c.file.display().to_string(),
                    expires_in_days: Some((c.not_after - now) as f64 / 86_400.0),
                    default: c.default,
                })
                .collect()
        });
        if let Some(acme) = &self.0.acme {
            let not_after = acme.config.stats.not_after_unix();
            out.push(CertificateStatus {
                name: format!(
                    "acme:{}",
                    acme.config.domains.first().map_or("", |d| d.as_str())
                ),
                names: acme.config.domains.clone(),
                file: acme.config.storage.display().to_string(),
                // Not obtained yet: the self-signed placeholder serves.
                expires_in_days: (not_after > 0).then(|| (not_after - now) as f64 / 86_400.0),
                default: out.is_empty(),
            });
        }
        out
    }

    /// Everything the admin API and dashboard show.
    pub fn status(&self) -> Status {
        let snap = self.0.snapshot.load();
        let now = now_ms();
        let drain_ms = snap.config.drain_timeout.as_millis() as u64;
        let mut servers = Vec::new();
        let mut pools = Vec::new();
        for pool in &snap.pools {
            let idle_ms = pool
                .config
                .sticky
                .as_ref()
                .map_or(0, |s| s.idle.as_millis() as u64);
            let mut available = 0;
            for (s, &weight) in pool.servers.iter().zip(&pool.weights) {
                let admin = s.admin_state();
                let sticky_users = if pool.config.sticky.is_some() {
                    s.sticky.live_users(now, idle_ms)
                } else {
                    0
                };
                let in_flight = s.in_flight();
                let draining_for = s.draining_for(now);
                let stats = s.stats.summary(now);
                let up = s.is_available(now, pool.unknown_ok()) && admin != AdminState::Maintenance;
                available += usize::from(up);
                servers.push(ServerStatus {
                    id: s.id.to_string(),
                    pool: pool.name.to_string(),
                    address: s.address.clone(),
                    weight,
                    admin_state: admin,
                    health: s.health(),
                    available: up,
                    ejected: s.is_ejected(now),
                    passive_failures: s.passive_failures(),
                    in_flight,
                    requests: stats.requests,
                    errors: stats.errors,
                    rate: stats.rate,
                    error_rate: stats.error_rate,
                    p50_ms: stats.p50_ms,
                    p99_ms: stats.p99_ms,
                    sticky_users,
                    sticky_hits: s.sticky.hits.get(),
                    sticky_reroutes: s.sticky.reroutes_out.get(),
                    session_losses: s.sticky.session_losses.get(),
                    drain_deadline_s: draining_for
                        .map(|d| drain_ms.saturating_sub(d) as f64 / 1000.0),
                    safe_to_remove: admin == AdminState::Maintenance
                        || (admin == AdminState::Draining && sticky_users == 0 && in_flight == 0),
                });
            }
            let stats = pool.stats.summary(now);
            pools.push(PoolStatus {
                name: pool.name.to_string(),
                algorithm: pool.config.algorithm.as_str().to_string(),
                servers: pool.servers.len(),
                available,
                requests: stats.requests,
                errors: stats.errors,
                rate: stats.rate,
                p99_ms: stats.p99_ms,
            });
        }
        let routes = snap
            .routes
            .all()
            .iter()
            .zip(&snap.config.routes)
            .map(|(r, cfg)| {
                let cfg = cfg.get_ref();
                let stats = r.live.stats.summary(now);
                RouteStatus {
                    name: r.name.to_string(),
                    matches: describe_match(cfg),
                    action: if let Some(p) = &cfg.pool {
                        format!("pool {p}")
                    } else if let Some(t) = &cfg.redirect {
                        format!("redirect {} {t}", cfg.status.unwrap_or(308))
                    } else {
                        format!("respond {}", cfg.respond.unwrap_or(200))
                    },
                    requests: stats.requests,
                    errors: stats.errors,
                    rate: stats.rate,
                    p99_ms: stats.p99_ms,
                    rate_limited: r.live.limited.get(),
                }
            })
            .collect();
        Status {
            listen: snap.config.listen.to_string(),
            algorithm: snap.config.algorithm.as_str().to_string(),
            sticky: snap
                .config
                .sticky
                .as_ref()
                .map(|s| s.mode.as_str().to_string()),
            servers,
            pools,
            routes,
            session_loss_paths: self.0.session_loss_paths(),
            discovery: self.0.discovery.status(),
            certificates: self.certificates(),
        }
    }
}

/// A route's conditions in one line, for the dashboard.
fn describe_match(r: &crate::config::RouteConfig) -> String {
    let mut parts = Vec::new();
    match &r.host {
        Some(crate::config::OneOrMany::One(h)) => parts.push(format!("host {h}")),
        Some(crate::config::OneOrMany::Many(h)) => parts.push(format!("host {}", h.join("|"))),
        None => {}
    }
    if let Some(p) = &r.path_prefix {
        parts.push(format!("prefix {p}"));
    }
    if let Some(p) = &r.path {
        parts.push(format!("path {p}"));
    }
    if !r.methods.is_empty() {
        parts.push(r.methods.join("|"));
    }
    for h in r.headers.keys() {
        parts.push(format!("header {h}"));
    }
    if parts.is_empty() {
        "everything".into()
    } else {
        parts.join(", ")
    }
}

/// The front door as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Data-plane address.
    pub listen: String,
    /// Selection algorithm.
    pub algorithm: String,
    /// Sticky mode, if any.
    pub sticky: Option<String>,
    /// Every server of every pool.
    pub servers: Vec<ServerStatus>,
    /// Every pool, the default one first.
    pub pools: Vec<PoolStatus>,
    /// The route table in order.
    pub routes: Vec<RouteStatus>,
    /// Session-loss events by `server path`, most frequent first.
    pub session_loss_paths: Vec<(String, u64)>,
    /// The registry, when `[balance.discovery]` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryStatus>,
    /// The certificates served, when `[balance.tls]` is set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateStatus>,
}

/// One certificate as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateStatus {
    /// The first name it serves.
    pub name: String,
    /// Every name it serves.
    pub names: Vec<String>,
    /// The certificate file.
    pub file: String,
    /// Days until it expires (negative: expired); none while an ACME
    /// certificate is still being obtained.
    pub expires_in_days: Option<f64>,
    /// Served to clients without SNI.
    pub default: bool,
}

/// One pool as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PoolStatus {
    /// Its name (`default` for `[balance]`'s own servers).
    pub name: String,
    /// Selection algorithm.
    pub algorithm: String,
    /// Servers in the pool.
    pub servers: usize,
    /// Servers that would take a request now.
    pub available: usize,
    /// Responses since start.
    pub requests: u64,
    /// 5xx responses since start.
    pub errors: u64,
    /// Requests per second over the last 10 seconds.
    pub rate: f64,
    /// 99th percentile latency (ms).
    pub p99_ms: f64,
}

/// One route as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RouteStatus {
    /// Its name (`route-N` unless named).
    pub name: String,
    /// What it matches, in one line.
    pub matches: String,
    /// What it does.
    pub action: String,
    /// Responses since start.
    pub requests: u64,
    /// 5xx responses since start.
    pub errors: u64,
    /// Requests per second over the last 10 seconds.
    pub rate: f64,
    /// 99th percentile latency (ms).
    pub p99_ms: f64,
    /// Requests refused by its rate limit.
    pub rate_limited: u64,
}

/// One server as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerStatus {
    /// Stable id.
    pub id: String,
    /// The pool it serves in.
    pub pool: String,
    /// host:port.
    pub address: String,
    /// Configured weight.
    pub weight: u32,
    /// Operator-set state.
    pub admin_state: AdminState,
    /// Active-check health.
    pub health: Health,
    /// Would take a request now (healthy, not ejected, not in maintenance).
    pub available: bool,
    /// Ejected by passive health checks.
    pub ejected: bool,
    /// Upstream faults in a row counted towards passive ejection.
    pub passive_failures: u32,
    /// Requests in flight.
    pub in_flight: u32,
    /// Responses since start.
    pub requests: u64,
    /// 5xx responses since start.
    pub errors: u64,
    /// Requests per second over the last 10 seconds.
    pub rate: f64,
    /// Share of 5xx over the last 10 seconds.
    pub error_rate: f64,
    /// Median latency (ms, from the histogram).
    pub p50_ms: f64,
    /// 99th percentile latency (ms, from the histogram).
    pub p99_ms: f64,
    /// Sticky users seen within the sticky idle window.
    pub sticky_users: usize,
    /// Requests that went to their sticky server.
    pub sticky_hits: u64,
    /// Sticky requests re-routed away from this server.
    pub sticky_reroutes: u64,
    /// Responses that replaced the session cookie the request carried.
    pub session_losses: u64,
    /// Seconds until a drain ends by itself.
    pub drain_deadline_s: Option<f64>,
    /// Nothing depends on this server any more.
    pub safe_to_remove: bool,
}

impl Serialize for Health {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A server as summaries name it: its id, prefixed by its pool outside the default one.
fn label(s: &crate::upstream::Server) -> String {
    if &*s.pool_name == crate::config::DEFAULT_POOL {
        s.id.to_string()
    } else {
        format!("{}/{}", s.pool_name, s.id)
    }
}

fn describe(c: &Change) -> String {
    match c {
        Change::Reload(cfg) => format!("reload ({} servers)", cfg.servers.len()),
        Change::AddServer(s) => format!("add {} at {}", s.id(), s.address),
        Change::AddPoolServer(p, s) => format!("add {} at {} to pool {p}", s.id(), s.address),
        Change::RemoveServer(id) => format!("remove {id}"),
        Change::SetWeight(id, w) => format!("weight {id} = {w}"),
        Change::SetAdminState(id, st) => format!("{id} -> {}", st.as_str()),
        Change::ReloadCertificates => "reload certificates".into(),
    }
}

/// Port 0 in a reloaded file means "whatever was bound at start".
fn same_listen(new: std::net::SocketAddr, old: std::net::SocketAddr) -> bool {
    new == old || (new.port() == 0 && new.ip() == old.ip())
}

/// Discovery as `/api/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryStatus {
    /// The registry URL (password hidden).
    pub registry: String,
    /// The last read succeeded.
    pub up: bool,
    /// Servers added from the registry.
    pub members: Vec<String>,
    /// Seconds since the last successful read.
    pub last_read_s_ago: Option<f64>,
    /// Why the last read failed, while it fails.
    pub last_error: Option<String>,
}
