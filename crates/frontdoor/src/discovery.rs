//! The front door's side of discovery: watch the registry and turn what it
//! says into [`Change`]s on the one change path (source `discovery`), and write
//! drains and weights set here (admin API) to the registry so every front door
//! applies them.
//!
//! One task per front door. Each round it writes pending admin records, reads
//! the whole registry, diffs the view it asks for against the view last
//! applied (`discovery::diff`) and applies the operations. A round runs every
//! `poll`, at once when the events channel announces a change, and at once when
//! the admin API changes a server.
//!
//! When the registry cannot be read, nothing changes: the last membership keeps
//! serving, `bigstep_discovery_registry_up` drops to 0, the log says so once,
//! and `/api/status` shows the error. When it is back, leaves are held for
//! [`LEAVE_HOLD`], so a registry that restarted empty (instances re-register
//! within a third of their TTL) removes nobody.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::control::DiscoveryStatus;
use discovery::{AdminRecord, Keys, Op, Registry, View};
use tokio::sync::{mpsc, Notify};

use crate::clock::now_ms;
use crate::config::{self, Config, ServerConfig};
use crate::control::{Change, ChangeError, Control};
use crate::stats::Counter;
use crate::upstream::AdminState;
use crate::Shared;

/// Who applies registry changes, in the change log.
pub(crate) const SOURCE: &str = "discovery";

/// After the registry was unreachable, leaves wait this long: time for
/// instances to re-register with a registry that restarted empty.
pub(crate) const LEAVE_HOLD: Duration = Duration::from_secs(10);

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// Discovery's state inside one front door (inert when not configured).
pub(crate) struct Link {
    /// The registry URL with any password hidden; `None`: discovery is off.
    registry: Option<String>,
    /// Server ids discovery added (the rest came from the file or the API).
    members: Mutex<BTreeSet<String>>,
    /// The weights the file gives its servers, by id: where a server goes back
    /// to when its admin weight leaves the registry.
    file_weights: Mutex<BTreeMap<String, u32>>,
    /// A file reload put the file's weights back: the registry's admin weights
    /// are applied again at the next round (woken by `wake`).
    reloaded: std::sync::atomic::AtomicBool,
    wake: Arc<Notify>,
    outbox: mpsc::UnboundedSender<(String, AdminRecord)>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<(String, AdminRecord)>>>,
    up: AtomicU8,
    reads: Counter,
    read_errors: Counter,
    last_read_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Link {
    pub(crate) fn new(cfg: &Config) -> Link {
        let (outbox, inbox) = mpsc::unbounded_channel();
        Link {
            registry: cfg
                .discovery
                .as_ref()
                .map(|d| discovery::registry::redact(&d.registry)),
            members: Mutex::new(BTreeSet::new()),
            file_weights: Mutex::new(file_weights(cfg)),
            reloaded: std::sync::atomic::AtomicBool::new(false),
            wake: Arc::new(Notify::new()),
            outbox,
            inbox: Mutex::new(Some(inbox)),
            up: AtomicU8::new(UNKNOWN),
            reads: Counter::default(),
            read_errors: Counter::default(),
            last_read_ms: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// After a change applied by someone else than discovery: a drain or weight
    /// set here goes to the registry, so every front door applies it; after a
    /// reload, the registry's weights are applied again over the file's.
    pub(crate) fn announce(&self, change: &Change, source: &str) {
        if self.registry.is_none() || source == SOURCE {
            return;
        }
        let (id, rec) = match change {
            // A reload that applied: the file's weights are back.
            Change::Reload(cfg) => {
                *self.file_weights.lock().expect("weights lock") = file_weights(cfg);
                self.reloaded.store(true, Relaxed);
                self.wake.notify_one();
                return;
            }
            Change::SetAdminState(id, state) => (
                id,
                AdminRecord {
                    state: Some(to_registry(*state)),
                    weight: None,
                },
            ),
            Change::SetWeight(id, w) => (
                id,
                AdminRecord {
                    state: None,
                    weight: Some(*w),
                },
            ),
            _ => return,
        };
        let _ = self.outbox.send((id.clone(), rec));
    }

    /// A file reload replaces the server list: keep the servers discovery
    /// added, unless the file now names one of them itself (the file wins).
    pub(crate) fn keep_members(&self, current: &Config, new: &mut Config) {
        let mut members = self.members.lock().expect("members lock");
        members.retain(|id| !new.servers.iter().any(|s| s.get_ref().id() == id));
        for s in &current.servers {
            if members.contains(s.get_ref().id()) {
                new.servers.push(s.clone());
            }
        }
    }

    /// What `/api/status` shows.
    pub(crate) fn status(&self) -> Option<DiscoveryStatus> {
        let registry = self.registry.clone()?;
        let last = self.last_read_ms.load(Relaxed);
        Some(DiscoveryStatus {
            registry,
            up: self.up.load(Relaxed) == UP,
            members: self
                .members
                .lock()
                .expect("members lock")
                .iter()
                .cloned()
                .collect(),
            last_read_s_ago: (last > 0).then(|| now_ms().saturating_sub(last) as f64 / 1000.0),
            last_error: self.last_error.lock().expect("error lock").clone(),
        })
    }

    /// What the discovery metrics report (`None` when discovery is off).
    pub(crate) fn figures(&self) -> Option<Figures> {
        self.registry.as_ref()?;
        Some(Figures {
            up: self.up.load(Relaxed) == UP,
            members: self.members.lock().expect("members lock").len(),
            reads: self.reads.get(),
            read_errors: self.read_errors.get(),
        })
    }
}

/// Discovery's figures for `/metrics`.
pub(crate) struct Figures {
    pub(crate) up: bool,
    pub(crate) members: usize,
    pub(crate) reads: u64,
    pub(crate) read_errors: u64,
}

/// The weight of each server a configuration names (the first, when one id
/// is in several pools).
fn file_weights(cfg: &Config) -> BTreeMap<String, u32> {
    let mut weights = BTreeMap::new();
    let pools = cfg.pools.iter().map(|p| &p.get_ref().servers);
    for s in std::iter::once(&cfg.servers).chain(pools).flatten() {
        let s = s.get_ref();
        weights.entry(s.id().to_string()).or_insert(s.weight);
    }
    weights
}

fn to_registry(s: AdminState) -> discovery::AdminState {
    match s {
        AdminState::Active => discovery::AdminState::Active,
        AdminState::Draining => discovery::AdminState::Draining,
        AdminState::Maintenance => discovery::AdminState::Maintenance,
    }
}

fn from_registry(s: discovery::AdminState) -> AdminState {
    match s {
        discovery::AdminState::Active => AdminState::Active,
        discovery::AdminState::Draining => AdminState::Draining,
        discovery::AdminState::Maintenance => AdminState::Maintenance,
    }
}

/// Start the discovery task (once, when the front door starts serving).
pub(crate) fn spawn(shared: &Arc<Shared>, cfg: config::Discovery) {
    let Some(inbox) = shared.discovery.inbox.lock().expect("inbox lock").take() else {
        return;
    };
    let weak = Arc::downgrade(shared);
    let stop = shared.stop.clone();
    shared.tasks.spawn(async move {
        tokio::select! {
            () = run(weak, cfg, inbox) => {}
            () = stop.cancelled() => {}
        }
    });
}

async fn run(
    weak: Weak<Shared>,
    cfg: config::Discovery,
    mut inbox: mpsc::UnboundedReceiver<(String, AdminRecord)>,
) {
    // Validated with the configuration.
    let Ok(keys) = Keys::new(&cfg.prefix) else {
        return;
    };
    let timeout = cfg.poll.min(Duration::from_secs(2));
    let mut reg = match Registry::open(&cfg.registry, keys, timeout) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(target: "bigstep::discovery", error = %e, "discovery is off");
            return;
        }
    };
    let shown = discovery::registry::redact(&cfg.registry);
    // Woken by the events channel's watcher and by a reload.
    let announced = match weak.upgrade() {
        Some(shared) => shared.discovery.wake.clone(),
        None => return,
    };
    let mut watcher: Option<Watcher> = None;
    let mut applied = View::new();
    let mut pending: BTreeMap<String, AdminRecord> = BTreeMap::new();
    let mut rejected_seen: BTreeSet<String> = BTreeSet::new();
    let mut hold_leaves_until: Option<Instant> = None;
    tracing::info!(target: "bigstep::discovery", registry = %shown, prefix = %cfg.prefix, poll = ?cfg.poll, "watching the registry");
    loop {
        while let Ok((id, rec)) = inbox.try_recv() {
            merge(&mut pending, id, rec);
        }
        let result = round(&mut reg, &mut pending).await;
        let Some(shared) = weak.upgrade() else { return };
        let link = &shared.discovery;
        match result {
            Ok(snap) => {
                link.reads.inc();
                link.last_read_ms.store(now_ms(), Relaxed);
                let was = link.up.swap(UP, Relaxed);
                if was == DOWN {
                    tracing::info!(target: "bigstep::discovery", registry = %shown, "registry reachable again");
                    if !applied.is_empty() {
                        hold_leaves_until = Some(Instant::now() + LEAVE_HOLD);
                    }
                }
                *link.last_error.lock().expect("error lock") = None;
                for (key, why) in &snap.rejected {
                    if rejected_seen.insert(key.clone()) {
                        tracing::warn!(target: "bigstep::discovery", key = %key, reason = %why, "registry entry ignored");
                    }
                }
                rejected_seen.retain(|k| snap.rejected.iter().any(|(r, _)| r == k));
                let hold = hold_leaves_until.is_some_and(|t| Instant::now() < t);
                applied = apply(&shared, &cfg, &snap, applied, hold);
                if watcher.as_ref().is_none_or(|w| w.0.is_finished()) {
                    watcher = watch(&reg, announced.clone()).await;
                }
            }
            Err(e) => {
                link.read_errors.inc();
                let was = link.up.swap(DOWN, Relaxed);
                if was != DOWN {
                    tracing::warn!(target: "bigstep::discovery", registry = %shown, error = %e, members = applied.len(), "registry unreachable: keeping the last membership");
                }
                *link.last_error.lock().expect("error lock") = Some(e.to_string());
                // A silent link leaves the subscription hanging: start afresh once back.
                watcher = None;
            }
        }
        drop(shared);
        tokio::select! {
            () = tokio::time::sleep(cfg.poll) => {}
            () = announced.notified() => {}
            Some((id, rec)) = inbox.recv() => merge(&mut pending, id, rec),
        }
    }
}

fn merge(pending: &mut BTreeMap<String, AdminRecord>, id: String, rec: AdminRecord) {
    let slot = pending.entry(id).or_default();
    slot.state = rec.state.or(slot.state);
    slot.weight = rec.weight.or(slot.weight);
}

/// Write what the admin API changed here, then read everything.
async fn round(
    reg: &mut Registry,
    pending: &mut BTreeMap<String, AdminRecord>,
) -> Result<discovery::Snapshot, discovery::RegistryError> {
    while let Some((id, rec)) = pending.first_key_value() {
        reg.set_admin(id, rec).await?;
        pending.pop_first();
    }
    reg.read().await
}

/// The task following the events channel; stopped when dropped (the
/// discovery task ends at shutdown, and takes it along).
struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Subscribe to the events channel; each message wakes the loop.
async fn watch(reg: &Registry, wake: Arc<Notify>) -> Option<Watcher> {
    use futures_util::StreamExt as _;
    match reg.watch().await {
        Ok(stream) => Some(Watcher(tokio::spawn(async move {
            tokio::pin!(stream);
            while stream.next().await.is_some() {
                wake.notify_one();
            }
        }))),
        Err(e) => {
            tracing::debug!(target: "bigstep::discovery", error = %e, "cannot subscribe to the events channel; polling only");
            None
        }
    }
}

/// Apply the registry's view; returns the view now applied.
fn apply(
    shared: &Arc<Shared>,
    cfg: &config::Discovery,
    snap: &discovery::Snapshot,
    mut applied: View,
    hold_leaves: bool,
) -> View {
    let control = Control(shared.clone());
    // Discovered servers join the default pool (`[balance]`'s own servers).
    let live: BTreeSet<String> = shared.snapshot.load().pools[0]
        .servers
        .iter()
        .map(|s| s.id.to_string())
        .collect();
    let members = shared
        .discovery
        .members
        .lock()
        .expect("members lock")
        .clone();
    // A member someone removed by hand comes back: the registry is the truth.
    applied.retain(|id, m| m.entry.is_none() || live.contains(id));
    // A reload gave the file's servers the file's weights: the registry's
    // admin weights count as not applied, so they are applied again.
    if shared.discovery.reloaded.swap(false, Relaxed) {
        for m in applied.values_mut().filter(|m| m.entry.is_none()) {
            m.admin.weight = None;
        }
    }
    let fixed: BTreeSet<String> = live.difference(&members).cloned().collect();
    let pool = cfg.pool.as_deref().filter(|p| *p != "default");
    let mut next = discovery::view(
        snap,
        |e| e.pool.as_deref().filter(|p| *p != "default") == pool,
        &fixed,
    );
    if hold_leaves {
        for (id, m) in &applied {
            if m.entry.is_some() && next.get(id).is_none_or(|n| n.entry.is_none()) {
                tracing::info!(target: "bigstep::discovery", server = %id, "left the registry just after it came back: kept for now");
                next.insert(id.clone(), m.clone());
            }
        }
    }
    for op in discovery::diff(&applied, &next) {
        let (change, name) = match op {
            Op::Add {
                name,
                address,
                weight,
                health,
            } => (
                Change::AddServer(ServerConfig {
                    health_path: health,
                    ..ServerConfig::plain(Some(name.clone()), address, weight)
                }),
                name,
            ),
            Op::Remove { name } => (Change::RemoveServer(name.clone()), name),
            Op::SetWeight { name, weight } => (Change::SetWeight(name.clone(), weight), name),
            Op::ResetWeight { name } => {
                let weights = shared.discovery.file_weights.lock().expect("weights lock");
                match weights.get(&name) {
                    Some(&w) => (Change::SetWeight(name.clone(), w), name),
                    // Not in the file (added through the API): it keeps its weight.
                    None => continue,
                }
            }
            Op::SetState { name, state } => (
                Change::SetAdminState(name.clone(), from_registry(state)),
                name,
            ),
        };
        let adds = matches!(change, Change::AddServer(_));
        let removes = matches!(change, Change::RemoveServer(_));
        match control.apply(change, SOURCE) {
            Ok(_) => {
                let mut m = shared.discovery.members.lock().expect("members lock");
                if adds {
                    m.insert(name);
                } else if removes {
                    m.remove(&name);
                }
            }
            // An admin record for a server this front door does not have.
            Err(ChangeError::UnknownServer(_)) => {}
            Err(_) => {
                // Refused (logged by the change path): try again next round.
                next.remove(&name);
            }
        }
    }
    next
}
