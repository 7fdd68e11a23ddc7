//! The pure half of discovery: what a registry snapshot asks of one front
//! door ([`View`]) and the changes that take it from the last view it applied
//! to the next ([`diff`]). No I/O: the front door feeds it snapshots and
//! applies the [`Op`]s through its own change path.
//!
//! Diffing against the last *applied view*, not against the front door's live
//! state, matters: a front door also changes servers by itself (a drain
//! deadline turns `draining` into `maintenance`), and a level-triggered copy of
//! the registry would fight it every poll. Only a change in the registry
//! produces an operation.

use std::collections::{BTreeMap, BTreeSet};

use crate::convention::{AdminRecord, AdminState, Entry, EntryError};

/// Everything one full read of the registry found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Valid instance entries by name.
    pub instances: BTreeMap<String, Entry>,
    /// Valid admin records by name.
    pub admin: BTreeMap<String, AdminRecord>,
    /// Keys that could not be used, and why (logged; they change nothing).
    pub rejected: Vec<(String, EntryError)>,
}

/// What the registry asks of one server id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// `Some`: the registry runs this server (its instance entry). `None`: only
    /// an admin record names it (a server from the front door's own file).
    pub entry: Option<Entry>,
    /// The operator's state and weight override (`state: None` means active).
    pub admin: AdminRecord,
}

impl Member {
    /// The admin state asked for.
    pub fn state(&self) -> AdminState {
        self.admin.state.unwrap_or_default()
    }

    /// The weight asked for: the admin override, else the instance's own.
    pub fn weight(&self) -> Option<u32> {
        self.admin.weight.or(self.entry.as_ref().map(|e| e.weight))
    }
}

/// What the registry asks of one front door, by server id. Ids with nothing to
/// ask (no entry, no admin record beyond the defaults) are absent.
pub type View = BTreeMap<String, Member>;

/// The view of `snap` for a front door that serves entries where `serves`
/// holds (its pool) and has `fixed` servers of its own (from its file): an
/// instance entry under a fixed server's name is ignored (the file wins), but
/// admin records apply to fixed servers too.
pub fn view(snap: &Snapshot, serves: impl Fn(&Entry) -> bool, fixed: &BTreeSet<String>) -> View {
    let mut v = View::new();
    for (name, entry) in &snap.instances {
        if serves(entry) && !fixed.contains(name) {
            v.insert(
                name.clone(),
                Member {
                    entry: Some(entry.clone()),
                    admin: AdminRecord::default(),
                },
            );
        }
    }
    for (name, rec) in &snap.admin {
        let rec = AdminRecord {
            state: rec.state.filter(|s| *s != AdminState::Active),
            weight: rec.weight,
        };
        match v.get_mut(name) {
            Some(m) => m.admin = rec,
            None if rec != AdminRecord::default() => {
                v.insert(
                    name.clone(),
                    Member {
                        entry: None,
                        admin: rec,
                    },
                );
            }
            None => {}
        }
    }
    v
}

/// One change for the front door's change path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Start forwarding to a registered instance.
    Add {
        /// Server id.
        name: String,
        /// host:port.
        address: String,
        /// Its weight.
        weight: u32,
        /// The health-check path it registered, if any.
        health: Option<String>,
    },
    /// Stop forwarding to it (in-flight requests finish).
    Remove {
        /// Server id.
        name: String,
    },
    /// Change a server's weight.
    SetWeight {
        /// Server id.
        name: String,
        /// New weight.
        weight: u32,
    },
    /// The admin weight on a server of the front door's own file was removed:
    /// back to the weight its file gives (which only the front door knows).
    ResetWeight {
        /// Server id.
        name: String,
    },
    /// Drain, undrain or put into maintenance.
    SetState {
        /// Server id.
        name: String,
        /// New state.
        state: AdminState,
    },
}

/// The operations that take a front door from `old` (the view it last applied)
/// to `new`. Removals come first, so an address change is a remove then an add.
///
/// An admin weight removed from a server of the front door's own file is a
/// [`Op::ResetWeight`]: the file's value is not known here.
pub fn diff(old: &View, new: &View) -> Vec<Op> {
    let blank = Member::default();
    let ids: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut removes = Vec::new();
    let mut rest = Vec::new();
    for id in ids {
        let o = old.get(id).unwrap_or(&blank);
        let n = new.get(id).unwrap_or(&blank);
        let name = || id.clone();
        match (&o.entry, &n.entry) {
            (Some(_), None) => removes.push(Op::Remove { name: name() }),
            (old_entry, Some(e)) => {
                let same = old_entry
                    .as_ref()
                    .is_some_and(|a| a.address == e.address && a.health == e.health);
                if !same {
                    if old_entry.is_some() {
                        removes.push(Op::Remove { name: name() });
                    }
                    rest.push(Op::Add {
                        name: name(),
                        address: e.address.clone(),
                        weight: n.weight().unwrap_or(1),
                        health: e.health.clone(),
                    });
                    if n.state() != AdminState::Active {
                        rest.push(Op::SetState {
                            name: name(),
                            state: n.state(),
                        });
                    }
                    continue;
                }
                if o.weight() != n.weight() {
                    rest.push(Op::SetWeight {
                        name: name(),
                        weight: n.weight().unwrap_or(1),
                    });
                }
                if o.state() != n.state() {
                    rest.push(Op::SetState {
                        name: name(),
                        state: n.state(),
                    });
                }
            }
            (None, None) => {
                match (o.admin.weight, n.admin.weight) {
                    (was, Some(w)) if was != Some(w) => rest.push(Op::SetWeight {
                        name: name(),
                        weight: w,
                    }),
                    (Some(_), None) => rest.push(Op::ResetWeight { name: name() }),
                    _ => {}
                }
                if o.state() != n.state() {
                    rest.push(Op::SetState {
                        name: name(),
                        state: n.state(),
                    });
                }
            }
        }
    }
    removes.extend(rest);
    removes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A front door as far as discovery can see: server id → (address if
    /// discovered, weight, state).
    type Model = BTreeMap<String, (Option<String>, u32, AdminState)>;

    const FIXED: [&str; 2] = ["f0", "f1"];
    const NAMES: [&str; 6] = ["a", "b", "c", "d", "f0", "f1"];

    fn fixed() -> BTreeSet<String> {
        FIXED.iter().map(|s| s.to_string()).collect()
    }

    /// The weight the front door's file gives its own servers.
    const FILE_WEIGHT: u32 = 7;

    fn start() -> Model {
        FIXED
            .iter()
            .map(|f| (f.to_string(), (None, FILE_WEIGHT, AdminState::Active)))
            .collect()
    }

    /// What the front door's change path does with each op.
    fn apply(model: &mut Model, ops: &[Op]) {
        for op in ops {
            match op {
                Op::Add {
                    name,
                    address,
                    weight,
                    ..
                } => {
                    assert!(!model.contains_key(name), "add of present {name}: {ops:?}");
                    model.insert(
                        name.clone(),
                        (Some(address.clone()), *weight, AdminState::Active),
                    );
                }
                Op::Remove { name } => {
                    assert!(!FIXED.contains(&name.as_str()), "removed a fixed server");
                    assert!(model.remove(name).is_some(), "remove of absent {name}");
                }
                Op::SetWeight { name, weight } => {
                    if let Some(s) = model.get_mut(name) {
                        s.1 = *weight;
                    }
                }
                // Only a server of the file has a file weight to go back to
                // (an admin record may name a server this front door lacks).
                Op::ResetWeight { name } => {
                    if let Some(s) = model.get_mut(name) {
                        assert!(FIXED.contains(&name.as_str()), "reset of {name}: {ops:?}");
                        s.1 = FILE_WEIGHT;
                    }
                }
                Op::SetState { name, state } => {
                    if let Some(s) = model.get_mut(name) {
                        s.2 = *state;
                    }
                }
            }
        }
    }

    fn state() -> impl Strategy<Value = Option<AdminState>> {
        prop_oneof![
            Just(None),
            Just(Some(AdminState::Active)),
            Just(Some(AdminState::Draining)),
            Just(Some(AdminState::Maintenance)),
        ]
    }

    fn snapshot() -> impl Strategy<Value = Snapshot> {
        let entry = (0..3u8, 0..3u32, prop::bool::ANY).prop_map(|(a, weight, api)| Entry {
            address: format!("10.0.0.{a}:80"),
            health: None,
            weight,
            pool: api.then(|| "api".to_string()),
        });
        let admin = (state(), prop::option::of(0..3u32))
            .prop_map(|(state, weight)| AdminRecord { state, weight });
        (
            prop::collection::btree_map(prop::sample::select(&NAMES[..]), entry, 0..6),
            prop::collection::btree_map(prop::sample::select(&NAMES[..]), admin, 0..6),
        )
            .prop_map(|(i, a)| Snapshot {
                instances: i.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                admin: a.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                rejected: vec![],
            })
    }

    fn default_pool(e: &Entry) -> bool {
        e.pool.is_none()
    }

    proptest! {
        /// Whatever sequence of registry snapshots a front door sees, applying
        /// the diffs leaves it serving exactly what the last one asks.
        #[test]
        fn diffs_converge_on_the_registry(snaps in prop::collection::vec(snapshot(), 1..8)) {
            let mut model = start();
            let mut applied = View::new();
            for snap in &snaps {
                let next = view(snap, default_pool, &fixed());
                let ops = diff(&applied, &next);
                apply(&mut model, &ops);
                prop_assert!(diff(&next, &next).is_empty());
                for (id, (address, weight, st)) in &model {
                    let m = next.get(id).cloned().unwrap_or_default();
                    prop_assert_eq!(*st, m.state(), "state of {}", id);
                    match m.weight() {
                        Some(w) => prop_assert_eq!(*weight, w, "weight of {}", id),
                        // A server of the file with no admin weight (any more).
                        None if FIXED.contains(&id.as_str()) => {
                            prop_assert_eq!(*weight, FILE_WEIGHT, "file weight of {}", id)
                        }
                        None => {}
                    }
                    if FIXED.contains(&id.as_str()) {
                        prop_assert!(address.is_none());
                    } else {
                        let e = m.entry.as_ref();
                        prop_assert_eq!(address.as_ref(), e.map(|e| &e.address), "{} should not be served", id);
                    }
                }
                for (id, m) in &next {
                    if m.entry.is_some() {
                        prop_assert!(model.contains_key(id), "{} registered but not served", id);
                        prop_assert!(snap.instances[id].pool.is_none(), "{} from another pool", id);
                    }
                }
                applied = next;
            }
        }

        /// A server goes away only because its own entry went away (or moved).
        #[test]
        fn only_missing_entries_are_removed(a in snapshot(), b in snapshot()) {
            let (va, vb) = (view(&a, default_pool, &fixed()), view(&b, default_pool, &fixed()));
            for op in diff(&va, &vb) {
                if let Op::Remove { name } = op {
                    let before = va[&name].entry.as_ref().map(|e| &e.address);
                    let after = vb.get(&name).and_then(|m| m.entry.as_ref()).map(|e| &e.address);
                    prop_assert!(before.is_some() && before != after);
                }
            }
        }
    }

    #[test]
    fn a_drain_in_the_registry_is_one_op() {
        let mut snap = Snapshot::default();
        snap.instances
            .insert("web-1".into(), Entry::new("10.0.0.1:80"));
        let before = view(&snap, default_pool, &fixed());
        snap.admin.insert(
            "web-1".into(),
            AdminRecord {
                state: Some(AdminState::Draining),
                weight: None,
            },
        );
        let after = view(&snap, default_pool, &fixed());
        assert_eq!(
            diff(&before, &after),
            vec![Op::SetState {
                name: "web-1".into(),
                state: AdminState::Draining
            }]
        );
    }
}
