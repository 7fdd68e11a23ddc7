//! The set of instances `up` supervises, and the operator's controls over it:
//! add, stop, restart, remove — what the admin API's `/api/instances` routes
//! (and so `bigstep ctl` and the dashboard) call.
//!
//! Every control takes the instance out of the front door's rotation before its
//! process goes: the server goes into maintenance (no new requests, sticky users
//! included), its in-flight requests finish (within the grace period), and only
//! then does the process get SIGTERM. A request that raced the switch finds the
//! port closed, which the front door retries on another instance before anything
//! was sent. So a stop under load fails no request. A new or restarted instance
//! joins the rotation once it accepts connections. One control runs at a time.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use frontdoor::admin::{InstanceError, InstanceFuture, InstanceInfo, Instances};
use frontdoor::{AdminState, Change, Control};
use tokio::sync::watch;
use tokio::time::Instant;

use super::supervisor::{Instance, Settings, Spec, Stop};

/// Most instances `up` runs (as `-n` allows).
pub(crate) const MAX_INSTANCES: usize = 100;

/// Who asked, in the front door's change log.
const SOURCE: &str = "bigstep-up";

/// Builds the [`Spec`] of the instance with a given number and port.
pub(crate) type Template = Box<dyn Fn(usize, u16) -> anyhow::Result<Spec> + Send + Sync>;

/// The supervised instances and how to make more.
pub(crate) struct Fleet {
    members: Mutex<Members>,
    settings: Arc<Settings>,
    stop: watch::Receiver<Stop>,
    template: Template,
    /// Set once the front door is bound (controls arrive only after that).
    control: OnceLock<Control>,
    ready_timeout: Duration,
    /// One control at a time: two restarts of one instance must not interleave.
    ops: tokio::sync::Mutex<()>,
}

struct Members {
    list: Vec<Arc<Instance>>,
    /// The number of the next instance added (`app-N`); numbers are never reused.
    next: usize,
}

impl Fleet {
    /// Start `n` instances (numbered 1..=n) on `ports`.
    pub(crate) fn start(
        ports: &[u16],
        template: Template,
        settings: Arc<Settings>,
        stop: watch::Receiver<Stop>,
        ready_timeout: Duration,
    ) -> anyhow::Result<Arc<Fleet>> {
        let mut list = Vec::with_capacity(ports.len());
        for (i, &port) in ports.iter().enumerate() {
            let spec = template(i + 1, port)?;
            list.push(Arc::new(Instance::start(
                spec,
                settings.clone(),
                stop.clone(),
            )));
        }
        Ok(Arc::new(Fleet {
            members: Mutex::new(Members {
                next: ports.len() + 1,
                list,
            }),
            settings,
            stop,
            template,
            control: OnceLock::new(),
            ready_timeout,
            ops: tokio::sync::Mutex::new(()),
        }))
    }

    /// The front door the controls act on.
    pub(crate) fn attach(&self, control: Control) {
        let _ = self.control.set(control);
    }

    /// The instances now, in order.
    pub(crate) fn instances(&self) -> Vec<Arc<Instance>> {
        self.members().list.clone()
    }

    fn members(&self) -> std::sync::MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn find(&self, id: &str) -> Result<Arc<Instance>, InstanceError> {
        self.members()
            .list
            .iter()
            .find(|i| i.spec.name == id)
            .cloned()
            .ok_or_else(|| InstanceError::Unknown(id.to_string()))
    }

    fn control(&self) -> Result<&Control, InstanceError> {
        self.control
            .get()
            .ok_or_else(|| InstanceError::Refused("the front door is not running yet".into()))
    }

    fn running(&self) -> Result<(), InstanceError> {
        if *self.stop.borrow() != Stop::Running {
            return Err(InstanceError::Refused("bigstep up is stopping".into()));
        }
        Ok(())
    }

    /// Wait until every instance's supervisor has finished (after the stop).
    pub(crate) async fn finished(&self) {
        for i in self.instances() {
            i.finished().await;
        }
    }

    fn info(i: &Instance) -> InstanceInfo {
        let p = i.process();
        InstanceInfo {
            id: i.spec.name.clone(),
            address: format!("127.0.0.1:{}", i.spec.port),
            pid: p.pid,
            process: p.state.to_string(),
            starts: p.starts,
            exits: p.exits,
        }
    }

    /// Out of rotation, then wait (within the grace period) for its in-flight
    /// requests to finish.
    async fn take_out(&self, id: &str) -> Result<(), InstanceError> {
        let control = self.control()?;
        // Unknown to the front door (an add that failed half-way) is fine: nothing to drain.
        if control
            .apply(
                Change::SetAdminState(id.to_string(), AdminState::Maintenance),
                SOURCE,
            )
            .is_err()
        {
            return Ok(());
        }
        let deadline = Instant::now() + self.settings.grace;
        loop {
            let busy = control
                .status()
                .servers
                .iter()
                .find(|s| s.id == id)
                .map_or(0, |s| s.in_flight);
            if busy == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                tracing::warn!(instance = %id, in_flight = busy, "{id} still has requests in flight after the grace period: stopping it anyway");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Park the instance's process and wait for it to be gone.
    async fn park(&self, inst: &Instance) -> Result<(), InstanceError> {
        inst.set_running(false);
        // SIGKILL comes after the grace; allow a little more for the reaping.
        let deadline = Instant::now() + self.settings.grace + Duration::from_secs(5);
        while !inst.parked() {
            if Instant::now() >= deadline {
                return Err(InstanceError::Failed(format!(
                    "{} did not stop in time",
                    inst.spec.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    async fn stop_instance(&self, id: String) -> Result<InstanceInfo, InstanceError> {
        let _one = self.ops.lock().await;
        self.running()?;
        let inst = self.find(&id)?;
        self.take_out(&id).await?;
        self.park(&inst).await?;
        tracing::info!(instance = %id, "{id} stopped (bigstep ctl restart {id} starts it again)");
        Ok(Self::info(&inst))
    }

    async fn restart_instance(&self, id: String) -> Result<InstanceInfo, InstanceError> {
        let _one = self.ops.lock().await;
        self.running()?;
        let inst = self.find(&id)?;
        if !inst.parked() {
            self.take_out(&id).await?;
            self.park(&inst).await?;
        }
        let exits = inst.exits();
        inst.set_running(true);
        inst.wait_ready_after(exits, Instant::now() + self.ready_timeout)
            .await
            .map_err(|e| InstanceError::Failed(format!("{e:#}")))?;
        self.control()?
            .apply(
                Change::SetAdminState(id.clone(), AdminState::Active),
                SOURCE,
            )
            .map_err(|e| InstanceError::Failed(e.to_string()))?;
        tracing::info!(instance = %id, "{id} restarted and back in rotation");
        Ok(Self::info(&inst))
    }

    async fn add_instance(&self) -> Result<InstanceInfo, InstanceError> {
        let _one = self.ops.lock().await;
        self.running()?;
        let control = self.control()?.clone();
        let (inst, index) = {
            let mut m = self.members();
            if m.list.len() >= MAX_INSTANCES {
                return Err(InstanceError::Refused(format!(
                    "bigstep up runs at most {MAX_INSTANCES} instances"
                )));
            }
            let port =
                super::pick_ports(1, None).map_err(|e| InstanceError::Failed(format!("{e:#}")))?[0];
            let index = m.next;
            let spec = (self.template)(index, port)
                .map_err(|e| InstanceError::Failed(format!("{e:#}")))?;
            let inst = Arc::new(Instance::start(
                spec,
                self.settings.clone(),
                self.stop.clone(),
            ));
            m.next += 1;
            m.list.push(inst.clone());
            (inst, index)
        };
        let id = inst.spec.name.clone();
        let ready = inst
            .wait_ready(Instant::now() + self.ready_timeout)
            .await
            .map_err(|e| InstanceError::Failed(format!("{e:#}")));
        let added = ready.and_then(|()| {
            control
                .apply(
                    Change::AddServer(frontdoor::config::ServerConfig::plain(
                        Some(id.clone()),
                        format!("127.0.0.1:{}", inst.spec.port),
                        1,
                    )),
                    SOURCE,
                )
                .map_err(|e| InstanceError::Failed(e.to_string()))
        });
        if let Err(e) = added {
            inst.remove();
            inst.finished().await;
            self.members().list.retain(|i| !Arc::ptr_eq(i, &inst));
            return Err(e);
        }
        tracing::info!(instance = %id, index, "{id} added and in rotation");
        Ok(Self::info(&inst))
    }

    async fn remove_instance(&self, id: String) -> Result<(), InstanceError> {
        let _one = self.ops.lock().await;
        self.running()?;
        let inst = self.find(&id)?;
        self.take_out(&id).await?;
        match self
            .control()?
            .apply(Change::RemoveServer(id.clone()), SOURCE)
        {
            Ok(_) | Err(frontdoor::ChangeError::UnknownServer(_)) => {}
            Err(e) => return Err(InstanceError::Failed(e.to_string())),
        }
        inst.remove();
        inst.finished().await;
        self.members().list.retain(|i| !Arc::ptr_eq(i, &inst));
        tracing::info!(instance = %id, "{id} stopped and removed");
        Ok(())
    }
}

/// The admin API's handle on the fleet.
pub(crate) struct Hook(pub(crate) Arc<Fleet>);

impl Instances for Hook {
    fn list(&self) -> Vec<InstanceInfo> {
        self.0.instances().iter().map(|i| Fleet::info(i)).collect()
    }

    fn add(&self) -> InstanceFuture<InstanceInfo> {
        let f = self.0.clone();
        detached(async move { f.add_instance().await })
    }

    fn stop(&self, id: String) -> InstanceFuture<InstanceInfo> {
        let f = self.0.clone();
        detached(async move { f.stop_instance(id).await })
    }

    fn restart(&self, id: String) -> InstanceFuture<InstanceInfo> {
        let f = self.0.clone();
        detached(async move { f.restart_instance(id).await })
    }

    fn remove(&self, id: String) -> InstanceFuture<()> {
        let f = self.0.clone();
        detached(async move { f.remove_instance(id).await })
    }
}

/// Run a control in its own task: a client that hangs up half-way must not
/// leave an instance parked and out of rotation.
fn detached<T: Send + 'static>(
    op: impl std::future::Future<Output = Result<T, InstanceError>> + Send + 'static,
) -> InstanceFuture<T> {
    let task = tokio::spawn(op);
    Box::pin(async move {
        task.await
            .unwrap_or_else(|e| Err(InstanceError::Failed(format!("the control failed: {e}"))))
    })
}
