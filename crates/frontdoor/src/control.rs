//! Live configuration changes. A reload is a diff against the running snapshot:
//! servers that keep their id and address keep their live state (health, pool,
//! counters); new servers start with fresh state and their own health checks;
//! removed servers finish their in-flight requests on the old snapshot and are
//! then dropped. A config that fails validation, or changes what cannot change
//! live, is refused and the running one stays.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::snapshot::Snapshot;
use crate::Shared;

/// What a reload changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Servers added (ids).
    pub added: Vec<String>,
    /// Servers removed (ids).
    pub removed: Vec<String>,
    /// Servers kept with their live state (ids).
    pub kept: Vec<String>,
}

/// Why a reload was refused. The running configuration is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new configuration is invalid.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The change needs a restart.
    #[error("`{0}` cannot change while running; restart bigstep to change it")]
    NeedsRestart(&'static str),
}

/// Handle for changing a running front door.
#[derive(Clone)]
pub struct Control(pub(crate) Arc<Shared>);

impl Control {
    /// Validate `new`, diff it against the running configuration and swap it in.
    pub fn apply(&self, new: Config) -> Result<ReloadSummary, ReloadError> {
        new.validate(None)
            .map_err(|e| ReloadError::Invalid(e.message))?;
        let shared = &self.0;
        // One reload at a time; requests keep reading the old snapshot meanwhile.
        let mut registry = shared.servers.lock().expect("registry lock");
        let old = shared.snapshot.load_full();
        if new.listen != old.config.listen {
            return Err(ReloadError::NeedsRestart("listen"));
        }
        if new.admin_listen != old.config.admin_listen {
            return Err(ReloadError::NeedsRestart("admin_listen"));
        }
        if new.max_connections != old.config.max_connections {
            return Err(ReloadError::NeedsRestart("max_connections"));
        }
        let snapshot = Snapshot::build(new, &registry);
        let mut summary = ReloadSummary::default();
        let fresh: Vec<_> = snapshot
            .servers
            .iter()
            .filter(|s| !registry.get(&s.id).is_some_and(|old| Arc::ptr_eq(old, s)))
            .cloned()
            .collect();
        for s in &snapshot.servers {
            if fresh.iter().any(|f| Arc::ptr_eq(f, s)) {
                summary.added.push(s.id.to_string());
            } else {
                summary.kept.push(s.id.to_string());
            }
        }
        for id in registry.keys() {
            if !snapshot.servers.iter().any(|s| &s.id == id) {
                summary.removed.push(id.to_string());
            }
        }
        let health = snapshot.config.health.clone();
        *registry = snapshot
            .servers
            .iter()
            .map(|s| (s.id.clone(), s.clone()))
            .collect::<HashMap<_, _>>();
        shared.snapshot.store(Arc::new(snapshot));
        drop(registry);
        if health.is_some() {
            for s in fresh {
                crate::health::spawn(shared, s);
            }
        }
        tracing::info!(
            target: "bigstep::frontdoor",
            added = ?summary.added,
            removed = ?summary.removed,
            kept = summary.kept.len(),
            "configuration reloaded"
        );
        Ok(summary)
    }

    /// Prometheus text exposition of the front door's metrics.
    pub fn metrics(&self) -> String {
        crate::metrics::render(&self.0.metrics, &self.0.snapshot.load())
    }
}
