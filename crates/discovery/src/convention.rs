//! The key layout and the encoding of entries (see the crate docs for the
//! table). Decoding is strict about the values it uses and ignores fields it
//! does not know, so a newer writer can add fields without breaking older
//! front doors.

use std::collections::HashMap;

/// The default key prefix: keys are `bigstep:svc:<name>`, `bigstep:admin:<name>`.
pub const DEFAULT_PREFIX: &str = "bigstep";

/// The largest weight an entry may carry.
pub const MAX_WEIGHT: u32 = 10_000;

/// The key names under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`: letters, digits and `._:-` (no glob characters, so
    /// `SCAN MATCH` patterns built from it match literally).
    pub fn new(prefix: &str) -> Result<Keys, EntryError> {
        if prefix.is_empty()
            || prefix.len() > 100
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        {
            return Err(EntryError::BadPrefix(prefix.to_string()));
        }
        Ok(Keys {
            prefix: prefix.to_string(),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>:svc:<name>`: the instance's own entry, with a TTL.
    pub fn instance(&self, name: &str) -> String {
        format!("{}:svc:{name}", self.prefix)
    }

    /// `<prefix>:admin:<name>`: drain state and weight set by operators.
    pub fn admin(&self, name: &str) -> String {
        format!("{}:admin:{name}", self.prefix)
    }

    /// `<prefix>:events`: the channel announcing changes.
    pub fn events(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// `SCAN MATCH` pattern for every instance entry.
    pub fn instance_pattern(&self) -> String {
        format!("{}:svc:*", self.prefix)
    }

    /// `SCAN MATCH` pattern for every admin record.
    pub fn admin_pattern(&self) -> String {
        format!("{}:admin:*", self.prefix)
    }

    /// The name in an instance key, if `key` is one.
    pub fn instance_name<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(self.prefix.as_str())?
            .strip_prefix(":svc:")
    }

    /// The name in an admin key, if `key` is one.
    pub fn admin_name<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(self.prefix.as_str())?
            .strip_prefix(":admin:")
    }
}

impl Default for Keys {
    fn default() -> Keys {
        Keys {
            prefix: DEFAULT_PREFIX.to_string(),
        }
    }
}

/// Why a name, prefix or entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Names are server ids in logs, metrics, cookies and keys.
    #[error("`{0}` is not a valid instance name: use 1 to 128 letters, digits, `.`, `_` or `-`")]
    BadName(String),
    /// See [`Keys::new`].
    #[error("`{0}` is not a valid key prefix: use letters, digits, `.`, `_`, `:` or `-`")]
    BadPrefix(String),
    /// A required field is absent.
    #[error("field `{0}` is missing")]
    Missing(&'static str),
    /// A field has a value that cannot be used.
    #[error("field `{field}` = {value:?}: {why}")]
    BadField {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        why: &'static str,
    },
}

/// Check an instance (or pool) name.
pub fn check_name(name: &str) -> Result<(), EntryError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(EntryError::BadName(name.to_string()));
    }
    Ok(())
}

/// One registered instance: what `<prefix>:svc:<name>` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `host:port` the front doors forward to.
    pub address: String,
    /// The path the instance answers health checks on, if it says.
    pub health: Option<String>,
    /// Relative share of traffic (default 1; 0 takes it out of rotation).
    pub weight: u32,
    /// The pool it serves (absent: the default pool).
    pub pool: Option<String>,
}

impl Entry {
    /// An entry with weight 1, no health path, the default pool.
    pub fn new(address: impl Into<String>) -> Entry {
        Entry {
            address: address.into(),
            health: None,
            weight: 1,
            pool: None,
        }
    }

    /// Check every field (what decoding checks, for entries built in code).
    pub fn validate(&self) -> Result<(), EntryError> {
        Entry::decode(self.fields().into_iter().map(|(k, v)| (k.to_string(), v))).map(drop)
    }

    /// The hash fields to `HSET`.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("address", self.address.clone()),
            ("weight", self.weight.to_string()),
        ];
        if let Some(h) = &self.health {
            f.push(("health", h.clone()));
        }
        if let Some(p) = &self.pool {
            f.push(("pool", p.clone()));
        }
        f
    }

    /// Decode the fields of `HGETALL`. Unknown fields are ignored.
    pub fn decode(fields: impl IntoIterator<Item = (String, String)>) -> Result<Entry, EntryError> {
        let fields: HashMap<String, String> = fields.into_iter().collect();
        let address = fields
            .get("address")
            .ok_or(EntryError::Missing("address"))?;
        if !is_address(address) {
            return Err(EntryError::BadField {
                field: "address",
                value: address.clone(),
                why: "expected host:port",
            });
        }
        let weight = match fields.get("weight").map(|w| w.trim()) {
            None | Some("") => 1,
            Some(w) => parse_weight(w)?,
        };
        let health = match fields.get("health") {
            None => None,
            Some(h)
                if h.starts_with('/')
                    && !h
                        .bytes()
                        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) =>
            {
                Some(h.clone())
            }
            Some(h) => {
                return Err(EntryError::BadField {
                    field: "health",
                    value: h.clone(),
                    why: "expected a path starting with `/`",
                })
            }
        };
        let pool = match fields.get("pool").map(|p| p.as_str()) {
            None | Some("") => None,
            Some(p) => {
                check_name(p).map_err(|_| EntryError::BadField {
                    field: "pool",
                    value: p.to_string(),
                    why: "expected letters, digits, `.`, `_` or `-`",
                })?;
                Some(p.to_string())
            }
        };
        Ok(Entry {
            address: address.clone(),
            health,
            weight,
            pool,
        })
    }
}

/// Operator-set state of a server, shared by every front door.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdminState {
    /// Takes traffic.
    #[default]
    Active,
    /// Keeps its sticky users, takes no new ones.
    Draining,
    /// Takes no traffic.
    Maintenance,
}

impl AdminState {
    /// The value stored in the `state` field.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Active => "active",
            AdminState::Draining => "draining",
            AdminState::Maintenance => "maintenance",
        }
    }

    /// Parse a `state` field.
    pub fn parse(s: &str) -> Option<AdminState> {
        match s.trim() {
            "active" | "ready" => Some(AdminState::Active),
            "draining" | "drain" => Some(AdminState::Draining),
            "maintenance" => Some(AdminState::Maintenance),
            _ => None,
        }
    }
}

/// What `<prefix>:admin:<name>` holds: the operator's word on a server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminRecord {
    /// Drain or maintenance (absent: active).
    pub state: Option<AdminState>,
    /// A weight that overrides the instance's own.
    pub weight: Option<u32>,
}

impl AdminRecord {
    /// Decode the fields of `HGETALL`. Unknown fields are ignored.
    pub fn decode(
        fields: impl IntoIterator<Item = (String, String)>,
    ) -> Result<AdminRecord, EntryError> {
        let mut rec = AdminRecord::default();
        for (k, v) in fields {
            match k.as_str() {
                "state" => {
                    rec.state = Some(AdminState::parse(&v).ok_or(EntryError::BadField {
                        field: "state",
                        value: v,
                        why: "expected active, draining or maintenance",
                    })?)
                }
                "weight" => rec.weight = Some(parse_weight(v.trim())?),
                _ => {}
            }
        }
        Ok(rec)
    }

    /// The hash fields to `HSET` (only those that are set).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut f = Vec::new();
        if let Some(s) = self.state {
            f.push(("state", s.as_str().to_string()));
        }
        if let Some(w) = self.weight {
            f.push(("weight", w.to_string()));
        }
        f
    }
}

fn parse_weight(w: &str) -> Result<u32, EntryError> {
    match w.parse::<u32>() {
        Ok(n) if n <= MAX_WEIGHT => Ok(n),
        _ => Err(EntryError::BadField {
            field: "weight",
            value: w.to_string(),
            why: "expected a whole number from 0 to 10000",
        }),
    }
}

/// `host:port`: a non-empty host without spaces or slashes, a non-zero port.
pub fn is_address(addr: &str) -> bool {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !host.is_empty()
        && !host
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'/')
        && port.parse::<u16>().is_ok_and(|p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn entry_round_trips_and_defaults() {
        let e = Entry {
            address: "10.0.0.17:8080".into(),
            health: Some("/healthz".into()),
            weight: 3,
            pool: Some("api".into()),
        };
        let back = Entry::decode(e.fields().into_iter().map(|(k, v)| (k.to_string(), v)));
        assert_eq!(back, Ok(e));
        let min = Entry::decode(f(&[("address", "h:1"), ("extra", "ignored")])).unwrap();
        assert_eq!(min, Entry::new("h:1"));
    }

    #[test]
    fn bad_entries_say_which_field() {
        assert_eq!(Entry::decode(f(&[])), Err(EntryError::Missing("address")));
        for (pairs, field) in [
            (&[("address", "nohost")][..], "address"),
            (&[("address", "h:0")][..], "address"),
            (&[("address", "h:1"), ("weight", "-1")][..], "weight"),
            (&[("address", "h:1"), ("weight", "10001")][..], "weight"),
            (&[("address", "h:1"), ("health", "healthz")][..], "health"),
            (&[("address", "h:1"), ("pool", "a b")][..], "pool"),
        ] {
            match Entry::decode(f(pairs)) {
                Err(EntryError::BadField { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn keys_and_names() {
        let k = Keys::default();
        assert_eq!(k.instance("web-7"), "bigstep:svc:web-7");
        assert_eq!(k.instance_name("bigstep:svc:web-7"), Some("web-7"));
        assert_eq!(k.admin_name("bigstep:admin:web-7"), Some("web-7"));
        assert_eq!(k.instance_name("bigstep:admin:web-7"), None);
        assert!(Keys::new("app*").is_err());
        assert!(check_name("web-7.a_b").is_ok());
        assert!(
            check_name("web 7").is_err() && check_name("").is_err() && check_name("a:b").is_err()
        );
    }

    #[test]
    fn admin_record() {
        let r = AdminRecord::decode(f(&[("state", "draining"), ("weight", "5")])).unwrap();
        assert_eq!(r.state, Some(AdminState::Draining));
        assert_eq!(r.weight, Some(5));
        assert!(AdminRecord::decode(f(&[("state", "asleep")])).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(fields in proptest::collection::vec((".{0,8}", ".{0,24}"), 0..6)) {
            let _ = Entry::decode(fields.clone());
            let _ = AdminRecord::decode(fields);
        }
    }
}
