//! The `[state]` table of a bigstep TOML config file.
//!
//! Every key is optional and typed; unknown keys and bad values are errors
//! that name the key and the line (serde + toml spans). Secrets should come
//! from the environment: `requirepass_env` / `password_env` name a variable,
//! so the file can be committed and shown without leaking a password.

use std::ops::Range;
use std::path::PathBuf;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use toml::Spanned;

use crate::acl::UserConfig;
use crate::config::{parse_memory, Config, Fsync, Policy};

/// `[state]`: what `bigstep state --config FILE` reads. Flags and their
/// environment variables win over it.
///
/// ```toml
/// [state]
/// bind = "0.0.0.0"
/// dir = "/var/lib/bigstep/state"
/// appendfsync = "always"
/// requirepass_env = "BIGSTEP_STATE_PASSWORD"
///
/// [[state.users]]
/// name = "app"
/// password_env = "APP_REDIS_PASSWORD"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateToml {
    /// TCP port.
    pub port: Option<u16>,
    /// Address to bind.
    pub bind: Option<String>,
    /// Data directory for the append-only log.
    pub dir: Option<PathBuf>,
    /// `always`, `everysec` or `no`.
    #[serde(default, deserialize_with = "de_fsync")]
    pub appendfsync: Option<Fsync>,
    /// Password of the default user, in the file (prefer `requirepass_env`).
    pub requirepass: Option<Spanned<Secret>>,
    /// Name of the environment variable holding the default user's password.
    pub requirepass_env: Option<Spanned<String>>,
    /// Memory limit for data: bytes, or `512mb`, `2gb`.
    #[serde(default, deserialize_with = "de_size")]
    pub maxmemory: Option<u64>,
    /// Eviction policy at the limit.
    #[serde(default, deserialize_with = "de_policy")]
    pub maxmemory_policy: Option<Policy>,
    /// Keyspace notifications, as in Redis (`Ex`, `KEA`).
    #[serde(default, deserialize_with = "de_notify")]
    pub notify_keyspace_events: Option<String>,
    /// Number of databases.
    #[serde(default, deserialize_with = "de_positive")]
    pub databases: Option<usize>,
    /// Maximum simultaneous clients.
    #[serde(default, deserialize_with = "de_positive")]
    pub maxclients: Option<usize>,
    /// Prometheus metrics address.
    pub metrics_bind: Option<String>,
    /// Refuse non-loopback clients while some user needs no password.
    pub protected_mode: Option<bool>,
    /// Compact the log once it is at least this big (bytes or `64mb`)...
    #[serde(default, deserialize_with = "de_size")]
    pub auto_aof_rewrite_min_size: Option<u64>,
    /// ...and this many percent bigger than after the last compaction.
    pub auto_aof_rewrite_percentage: Option<u64>,
    /// On stop: how long clients with a command in flight get (`10s`, `500ms`).
    #[serde(default, with = "service::config::duration")]
    pub shutdown_grace: Option<std::time::Duration>,
    /// Per-client limits.
    #[serde(default)]
    pub limits: LimitsToml,
    /// ACL users besides `default`.
    #[serde(default)]
    pub users: Vec<UserToml>,
}

/// `[state.limits]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsToml {
    /// Largest bulk string a client may send (bytes or `512mb`).
    #[serde(default, deserialize_with = "de_size")]
    pub proto_max_bulk_len: Option<u64>,
    /// Largest unparsed input per client before it is disconnected.
    #[serde(default, deserialize_with = "de_size")]
    pub client_query_buffer_limit: Option<u64>,
    /// Output a pub/sub subscriber may fall behind by before it is
    /// disconnected (Redis `client-output-buffer-limit pubsub` hard limit; 0 = none).
    #[serde(default, deserialize_with = "de_size")]
    pub pubsub_output_buffer_limit: Option<u64>,
}

/// `[[state.users]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserToml {
    /// Login name.
    pub name: Spanned<String>,
    /// Password in the file (prefer `password_env`).
    pub password: Option<Spanned<Secret>>,
    /// Environment variable holding the password.
    pub password_env: Option<Spanned<String>>,
    /// Log in with any password (or none). Refused on non-loopback clients in protected mode.
    #[serde(default)]
    pub nopass: bool,
    /// Off = no new logins.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Key patterns (glob); default all keys.
    #[serde(default = "everything")]
    pub keys: Vec<String>,
    /// Pub/sub channel patterns (glob); default all channels.
    #[serde(default = "everything")]
    pub channels: Vec<String>,
    /// Command rules in ACL syntax, e.g. `+@all -@dangerous` or `-@all +@read`.
    #[serde(default = "all_commands")]
    pub commands: String,
}

/// A password written in the file. `Debug` never shows it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

fn yes() -> bool {
    true
}
fn everything() -> Vec<String> {
    vec!["*".into()]
}
fn all_commands() -> String {
    "+@all".into()
}

impl StateToml {
    /// Checks what serde cannot: user rules, duplicate names, one password
    /// source each. `src` is the whole file, to name lines.
    pub fn validate(&self, src: &str) -> Result<(), String> {
        if let (Some(_), Some(e)) = (&self.requirepass, &self.requirepass_env) {
            return Err(at(
                src,
                e.span(),
                "requirepass_env",
                "give requirepass or requirepass_env, not both",
            ));
        }
        let has_pass = self.requirepass.is_some() || self.requirepass_env.is_some();
        if let Some(d) = self.users.iter().find(|u| u.name.get_ref() == "default") {
            if has_pass {
                return Err(at(
                    src,
                    d.name.span(),
                    "users.default",
                    "the default user's password is requirepass; set it there or here, not both",
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for u in &self.users {
            let name = u.name.get_ref();
            let key = format!("users.{name}");
            if !seen.insert(name.clone()) {
                return Err(at(
                    src,
                    u.name.span(),
                    &key,
                    "the same user is defined twice",
                ));
            }
            match (&u.password, &u.password_env, u.nopass) {
                (Some(_), Some(e), _) => {
                    return Err(at(
                        src,
                        e.span(),
                        &key,
                        "give password or password_env, not both",
                    ))
                }
                (None, None, false) => {
                    return Err(at(
                        src,
                        u.name.span(),
                        &key,
                        "needs password_env (or password, or nopass = true)",
                    ))
                }
                (Some(_), _, true) | (_, Some(_), true) => {
                    return Err(at(
                        src,
                        u.name.span(),
                        &key,
                        "nopass = true and a password contradict each other",
                    ))
                }
                _ => {}
            }
            // Check the rules now, with a stand-in password: a bad rule is a file error.
            let mut probe = u.to_config(None);
            probe.password = None;
            crate::acl::Acl::from_config(None, &[probe])
                .map_err(|e| at(src, u.name.span(), &key, &e))?;
        }
        Ok(())
    }

    /// Applies the file's settings to `cfg`, reading password variables with
    /// `env`. Errors name the key, the line and the variable, never a value.
    pub fn apply(
        &self,
        cfg: &mut Config,
        src: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        self.validate(src)?;
        let from_env = |var: &Spanned<String>, key: &str| {
            env(var.get_ref()).filter(|v| !v.is_empty()).ok_or_else(|| {
                at(
                    src,
                    var.span(),
                    key,
                    &format!("environment variable {} is not set", var.get_ref()),
                )
            })
        };
        if let Some(p) = &self.port {
            cfg.port = *p;
        }
        if let Some(b) = &self.bind {
            cfg.bind = b.clone();
        }
        if let Some(d) = &self.dir {
            cfg.dir = Some(d.clone());
        }
        if let Some(f) = self.appendfsync {
            cfg.appendfsync = f;
        }
        if let Some(p) = &self.requirepass {
            cfg.requirepass = Some(p.get_ref().0.clone()).filter(|p| !p.is_empty());
        }
        if let Some(var) = &self.requirepass_env {
            cfg.requirepass = Some(from_env(var, "requirepass_env")?);
        }
        if let Some(m) = self.maxmemory {
            cfg.maxmemory = m;
        }
        if let Some(p) = self.maxmemory_policy {
            cfg.maxmemory_policy = p;
        }
        if let Some(n) = &self.notify_keyspace_events {
            cfg.notify_keyspace_events = n.clone();
        }
        if let Some(n) = self.databases {
            cfg.databases = n;
        }
        if let Some(n) = self.maxclients {
            cfg.maxclients = n;
        }
        if let Some(m) = &self.metrics_bind {
            cfg.metrics_bind = Some(m.clone());
        }
        if let Some(p) = self.protected_mode {
            cfg.protected_mode = p;
        }
        if let Some(n) = self.auto_aof_rewrite_min_size {
            cfg.auto_aof_rewrite_min_size = n;
        }
        if let Some(n) = self.auto_aof_rewrite_percentage {
            cfg.auto_aof_rewrite_percentage = n;
        }
        if let Some(g) = self.shutdown_grace {
            cfg.shutdown_grace = g;
        }
        let l = &self.limits;
        if let Some(n) = l.proto_max_bulk_len {
            cfg.proto_max_bulk_len = i64::try_from(n).unwrap_or(i64::MAX);
        }
        if let Some(n) = l.client_query_buffer_limit {
            cfg.client_query_buffer_limit = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = l.pubsub_output_buffer_limit {
            cfg.pubsub_output_limit = usize::try_from(n).unwrap_or(usize::MAX);
        }
        cfg.users = self
            .users
            .iter()
            .map(|u| {
                let pass = match &u.password_env {
                    Some(var) => Some(from_env(var, &format!("users.{}", u.name.get_ref()))?),
                    None => u.password.as_ref().map(|p| p.get_ref().0.clone()),
                };
                Ok(u.to_config(pass))
            })
            .collect::<Result<_, String>>()?;
        Ok(())
    }

    /// Whether the file holds a password in clear (worth a warning).
    pub fn has_inline_password(&self) -> bool {
        self.requirepass.is_some() || self.users.iter().any(|u| u.password.is_some())
    }
}

impl UserToml {
    fn to_config(&self, password: Option<String>) -> UserConfig {
        UserConfig {
            name: self.name.get_ref().clone(),
            password: password.or_else(|| self.password.as_ref().map(|p| p.get_ref().0.clone())),
            nopass: self.nopass,
            enabled: self.enabled,
            keys: self.keys.clone(),
            channels: self.channels.clone(),
            commands: self.commands.clone(),
        }
    }
}

/// "invalid `key` (line N): why", the shape `[balance]` errors have.
fn at(src: &str, span: Range<usize>, key: &str, why: &str) -> String {
    let line = src[..span.start.min(src.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1;
    format!("invalid `{key}` (line {line}): {why}")
}

fn de_fsync<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Fsync>, D::Error> {
    let s = String::deserialize(d)?;
    Fsync::parse(&s).map(Some).ok_or_else(|| {
        de::Error::custom(format!(
            "unknown appendfsync {s:?}: use always, everysec or no"
        ))
    })
}

fn de_policy<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Policy>, D::Error> {
    let s = String::deserialize(d)?;
    Policy::parse(&s).map(Some).ok_or_else(|| {
        de::Error::custom(format!(
            "unknown maxmemory_policy {s:?}: use noeviction, allkeys-lru, volatile-lru, volatile-ttl, allkeys-random or volatile-random"
        ))
    })
}

fn de_notify<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    crate::store::notify::parse(&s)
        .map(|_| Some(s.clone()))
        .ok_or_else(|| {
            de::Error::custom(format!(
                "invalid notify_keyspace_events {s:?}: use the letters of 'KEg$lshzxetmdA'"
            ))
        })
}

fn de_positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let n = usize::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom("must be at least 1"));
    }
    Ok(Some(n))
}

/// A size: an integer of bytes, or a string like `512mb`, `2gb` (Redis units).
fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct V;
    impl de::Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a size: bytes, or a string like \"512mb\" or \"2gb\"")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("a size cannot be negative"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            parse_memory(v)
                .ok_or_else(|| E::custom(format!("invalid size {v:?} (try \"512mb\" or \"2gb\")")))
        }
    }
    d.deserialize_any(V).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Whole {
        state: StateToml,
    }

    fn parse(src: &str) -> Result<StateToml, String> {
        let w: Whole = toml::from_str(src).map_err(|e| e.to_string())?;
        w.state.validate(src)?;
        Ok(w.state)
    }

    #[test]
    fn typed_values_and_lines() {
        let e = parse("[state]\nport = 1\nappendfsync = \"sometimes\"\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("appendfsync"), "{e}");
        let e = parse("[state]\n\n[state.limits]\nproto_max_bulk_len = \"9zb\"\n").unwrap_err();
        assert!(e.contains("line 4") && e.contains("9zb"), "{e}");
        let e = parse("[state]\nmaxmemroy = \"1gb\"\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("maxmemroy"), "{e}");
        let s = parse(
            "[state]\nmaxmemory = \"1gb\"\n[state.limits]\nclient_query_buffer_limit = 1024\n",
        )
        .unwrap();
        assert_eq!(s.maxmemory, Some(1 << 30));
        assert_eq!(s.limits.client_query_buffer_limit, Some(1024));
    }

    #[test]
    fn debug_output_never_shows_a_password() {
        let src = "[state]\nrequirepass = \"hunter2-default\"\n[[state.users]]\nname = \"app\"\npassword = \"hunter2-app\"\n";
        let s = parse(src).unwrap();
        let mut cfg = Config::default();
        s.apply(&mut cfg, src, |_| None).unwrap();
        for text in [format!("{s:?}"), format!("{cfg:?}")] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("app"), "{text}");
        }
    }

    #[test]
    fn users_need_one_password_source_from_the_environment() {
        let src = "[state]\n[[state.users]]\nname = \"app\"\npassword_env = \"APP_PW\"\ncommands = \"-@all +@read\"\n";
        let s = parse(src).unwrap();
        let mut cfg = Config::default();
        let e = s.apply(&mut cfg, src, |_| None).unwrap_err();
        assert!(e.contains("APP_PW") && e.contains("line 4"), "{e}");
        s.apply(&mut cfg, src, |v| (v == "APP_PW").then(|| "pw".into()))
            .unwrap();
        assert_eq!(cfg.users[0].password.as_deref(), Some("pw"));

        let e = parse("[state]\n[[state.users]]\nname = \"app\"\n").unwrap_err();
        assert!(e.contains("password_env") && e.contains("line 3"), "{e}");
        let e = parse(
            "[state]\n[[state.users]]\nname = \"a\"\nnopass = true\ncommands = \"+nosuch\"\n",
        )
        .unwrap_err();
        assert!(e.contains("nosuch") && e.contains("users.a"), "{e}");
        let e = parse("[state]\n[[state.users]]\nname = \"a\"\nnopass = true\n[[state.users]]\nname = \"a\"\nnopass = true\n")
            .unwrap_err();
        assert!(e.contains("twice") && e.contains("line 6"), "{e}");
    }
}
