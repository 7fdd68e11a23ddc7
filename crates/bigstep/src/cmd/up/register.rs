//! `up` registers its running instances in the shared state under the
//! discovery convention (`bigstep:svc:<name>` with a TTL, announced on
//! `bigstep:events`, see `crates/discovery`), so a second front door started
//! with `[balance.discovery] registry = "redis://…"` pointed at `up`'s state
//! server finds them with no file edited. Stopped and removed instances are
//! deregistered; on stop, all of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use discovery::convention::{Entry, Keys};
use discovery::registry::Registry;
use tokio::sync::watch;

use super::fleet::Fleet;
use super::supervisor::Stop;

/// An entry expires this long after its last heartbeat (if `up` dies unseen).
const TTL: Duration = Duration::from_secs(10);
/// How often the instances are looked at and the entries renewed: joins and
/// leaves reach the registry within this.
const PERIOD: Duration = Duration::from_secs(1);

/// Keep the registry at `url` in step with `fleet` until `stop` leaves
/// `Running`, then deregister everything registered.
pub(crate) async fn run(
    fleet: Arc<Fleet>,
    url: String,
    health: Option<String>,
    mut stop: watch::Receiver<Stop>,
) {
    let mut reg = match Registry::open(&url, Keys::default(), Duration::from_secs(2)) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "instances not registered in shared state");
            return;
        }
    };
    // name → address, as registered.
    let mut registered: BTreeMap<String, String> = BTreeMap::new();
    let mut warned = false;
    loop {
        let want: BTreeMap<String, String> = fleet
            .instances()
            .iter()
            .filter(|i| i.process().state == "running")
            .map(|i| (i.spec.name.clone(), format!("127.0.0.1:{}", i.spec.port)))
            .collect();
        let result = sync(&mut reg, &mut registered, &want, health.as_deref()).await;
        match result {
            Ok(()) if warned => {
                tracing::info!("shared state reachable again: instances registered");
                warned = false;
            }
            Ok(()) => {}
            Err(e) if !warned => {
                tracing::warn!(error = %e, "cannot register the instances in shared state; retrying");
                warned = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(PERIOD) => {}
            _ = stop.wait_for(|s| *s != Stop::Running) => break,
        }
    }
    for name in registered.keys() {
        if let Err(e) = reg.deregister(name).await {
            tracing::warn!(instance = %name, error = %e, "not deregistered; the entry expires within {TTL:?}");
        }
    }
}

/// One round: deregister what left, register what joined (or moved), renew the rest.
async fn sync(
    reg: &mut Registry,
    registered: &mut BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
    health: Option<&str>,
) -> Result<(), discovery::registry::RegistryError> {
    let gone: Vec<String> = registered
        .iter()
        .filter(|(name, addr)| want.get(*name) != Some(addr))
        .map(|(name, _)| name.clone())
        .collect();
    for name in gone {
        reg.deregister(&name).await?;
        registered.remove(&name);
        tracing::info!(instance = %name, "deregistered from shared state");
    }
    for (name, addr) in want {
        // A heartbeat that finds no entry (expired, or the state was flushed)
        // registers again.
        if registered.contains_key(name) && reg.heartbeat(name, TTL).await? {
            continue;
        }
        let mut entry = Entry::new(addr.clone());
        entry.health = health.map(str::to_string);
        reg.register(name, &entry, TTL).await?;
        registered.insert(name.clone(), addr.clone());
        tracing::info!(instance = %name, address = %addr, "registered in shared state");
    }
    Ok(())
}
