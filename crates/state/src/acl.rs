//! ACL users: who may log in, with which password, and what they may run.
//!
//! A subset of Redis 7 ACLs that covers what applications and operators use:
//! users `on`/`off`, passwords (`>pw`, `<pw`, `#sha256`, `!sha256`, `nopass`,
//! `resetpass`), key patterns (`~pat`, `allkeys`, `resetkeys`), channel patterns
//! (`&pat`, `allchannels`, `resetchannels`) and command rules by category or name
//! (`+@all`, `-@dangerous`, `+get`, `-config|set`). Not supported (refused with
//! an error, never ignored): selectors `(...)` and `%R~`/`%W~` key permissions.
//!
//! Passwords are kept only as SHA-256 digests (as Redis does, so `ACL LIST`
//! shows the same `#hex`), and a login compares digests in constant time. No
//! password is ever logged.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::cmd::{table, Spec};

/// A user as configured (the `[[state.users]]` table of the config file).
#[derive(Clone)]
pub struct UserConfig {
    /// Login name.
    pub name: String,
    /// Password; None with `nopass = false` means nobody can log in as this user.
    pub password: Option<String>,
    /// Any password (or none) logs in.
    pub nopass: bool,
    /// Off = no new logins as this user.
    pub enabled: bool,
    /// Key patterns (`*` = all keys).
    pub keys: Vec<String>,
    /// Channel patterns (`*` = all channels).
    pub channels: Vec<String>,
    /// Command rules, ACL syntax: `+@all`, `+@all -@dangerous`, `-@all +@read`.
    pub commands: String,
}

impl UserConfig {
    /// A user with full access and the given password.
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> UserConfig {
        UserConfig {
            name: name.into(),
            password: Some(password.into()),
            nopass: false,
            enabled: true,
            keys: vec!["*".into()],
            channels: vec!["*".into()],
            commands: "+@all".into(),
        }
    }

    /// The ACL SETUSER rules this configuration stands for (after `reset`).
    fn rules(&self) -> Vec<Vec<u8>> {
        let mut r: Vec<Vec<u8>> = vec![if self.enabled { "on" } else { "off" }.into()];
        if self.nopass {
            r.push(b"nopass".to_vec());
        }
        if let Some(p) = &self.password {
            r.push([b">", p.as_bytes()].concat());
        }
        for k in &self.keys {
            r.push([b"~", k.as_bytes()].concat());
        }
        for c in &self.channels {
            r.push([b"&", c.as_bytes()].concat());
        }
        r.extend(
            self.commands
                .split_whitespace()
                .map(|w| w.as_bytes().to_vec()),
        );
        r
    }
}

// Never print a password, not even in a debug log line.
impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("nopass", &self.nopass)
            .field("enabled", &self.enabled)
            .field("keys", &self.keys)
            .field("channels", &self.channels)
            .field("commands", &self.commands)
            .finish()
    }
}

/// One user, ready for logins and permission checks.
#[derive(Clone, Debug)]
pub(crate) struct User {
    enabled: bool,
    nopass: bool,
    sanitize_payload: bool,
    passwords: Vec<[u8; 32]>,
    /// Key patterns; `allkeys` short-cuts the common `~*`.
    keys: Vec<Vec<u8>>,
    allkeys: bool,
    channels: Vec<Vec<u8>>,
    allchannels: bool,
    /// Command rules as given since the last `+@all`/`-@all`, for ACL LIST.
    rules: Vec<String>,
    /// Names (`get`, `config|set`) this user may run.
    allowed: HashSet<&'static str>,
    /// `+@all` with nothing taken away: skip the per-command lookup.
    allcommands: bool,
}

impl User {
    fn new() -> User {
        User {
            enabled: false,
            nopass: false,
            sanitize_payload: false,
            passwords: Vec::new(),
            keys: Vec::new(),
            allkeys: false,
            channels: Vec::new(),
            allchannels: false,
            rules: vec!["-@all".into()],
            allowed: HashSet::new(),
            allcommands: false,
        }
    }

    /// May run anything on any key and channel: no checks needed per command.
    pub(crate) fn unrestricted(&self) -> bool {
        self.allcommands && self.allkeys && self.allchannels
    }

    fn password_ok(&self, pass: &[u8]) -> bool {
        let h = digest(pass);
        // Check every stored digest so the time does not tell which one matched.
        let mut ok = subtle::Choice::from(0u8);
        for p in &self.passwords {
            ok |= p.ct_eq(&h);
        }
        self.nopass || bool::from(ok)
    }

    /// Applies one ACL SETUSER rule.
    fn apply(&mut self, rule: &[u8]) -> Result<(), String> {
        let s = String::from_utf8_lossy(rule);
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.apply(b"~*")?,
            "resetkeys" => {
                self.keys.clear();
                self.allkeys = false;
            }
            "allchannels" => self.apply(b"&*")?,
            "resetchannels" => {
                self.channels.clear();
                self.allchannels = false;
            }
            "allcommands" => self.apply(b"+@all")?,
            "nocommands" => self.apply(b"-@all")?,
            "sanitize-payload" => self.sanitize_payload = true,
            "skip-sanitize-payload" => self.sanitize_payload = false,
            "reset" => {
                *self = User::new();
                self.sanitize_payload = true;
            }
            _ => return self.apply_prefixed(rule, &s),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &[u8], s: &str) -> Result<(), String> {
        let rest = &rule[1.min(rule.len())..];
        match rule.first() {
            Some(b'>') => {
                let h = digest(rest);
                if !self.passwords.contains(&h) {
                    self.passwords.push(h);
                }
                self.nopass = false;
            }
            Some(b'<') => {
                let h = digest(rest);
                let before = self.passwords.len();
                self.passwords.retain(|p| *p != h);
                if self.passwords.len() == before {
                    return Err(
                        "The password you are trying to remove from the user does not exist".into(),
                    );
                }
            }
            Some(b'#') | Some(b'!') => {
                let h = parse_hex_digest(rest).ok_or(
                    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
                )?;
                if rule[0] == b'#' {
                    if !self.passwords.contains(&h) {
                        self.passwords.push(h);
                    }
                    self.nopass = false;
                } else {
                    let before = self.passwords.len();
                    self.passwords.retain(|p| *p != h);
                    if self.passwords.len() == before {
                        return Err(
                            "The password you are trying to remove from the user does not exist"
                                .into(),
                        );
                    }
                }
            }
            Some(b'~') => {
                if rest == b"*" {
                    self.allkeys = true;
                    self.keys = vec![b"*".to_vec()];
                } else if !self.allkeys && !self.keys.iter().any(|k| k == rest) {
                    self.keys.push(rest.to_vec());
                }
            }
            Some(b'&') => {
                if rest == b"*" {
                    self.allchannels = true;
                    self.channels = vec![b"*".to_vec()];
                } else if !self.allchannels && !self.channels.iter().any(|c| c == rest) {
                    self.channels.push(rest.to_vec());
                }
            }
            Some(b'%') | Some(b'(') => {
                return Err(
                    "bigstep state does not support ACL selectors or %R/%W key permissions".into(),
                )
            }
            Some(&sign @ (b'+' | b'-')) => self.apply_command_rule(sign == b'+', s)?,
            _ => return Err("Syntax error".into()),
        }
        Ok(())
    }

    fn apply_command_rule(&mut self, add: bool, rule: &str) -> Result<(), String> {
        let name = rule[1..].to_ascii_lowercase();
        let names: Vec<&'static str> = if let Some(cat) = name.strip_prefix('@') {
            if cat == "all" {
                self.rules.clear();
                self.allowed.clear();
                self.allcommands = add;
                if add {
                    self.allowed.extend(all_names());
                }
                self.rules
                    .push(format!("{}@all", if add { '+' } else { '-' }));
                return Ok(());
            }
            category(cat).ok_or("Unknown command or category name in ACL")?
        } else {
            let found: Vec<&'static str> = all_names()
                .filter(|n| *n == name || n.split('|').next() == Some(name.as_str()))
                .collect();
            if found.is_empty() {
                return Err("Unknown command or category name in ACL".into());
            }
            found
        };
        for n in names {
            if add {
                self.allowed.insert(n);
            } else {
                self.allowed.remove(n);
                self.allcommands = false;
            }
        }
        self.rules.push(format!(
            "{}{}",
            if add { '+' } else { '-' },
            &rule[1..].to_ascii_lowercase()
        ));
        Ok(())
    }

    /// The `ACL LIST` line after `user <name> `.
    fn describe(&self) -> String {
        let mut v: Vec<String> = vec![if self.enabled { "on" } else { "off" }.into()];
        if self.sanitize_payload {
            v.push("sanitize-payload".into());
        }
        if self.nopass {
            v.push("nopass".into());
        }
        for p in &self.passwords {
            v.push(format!("#{}", hex(p)));
        }
        for k in &self.keys {
            v.push(format!("~{}", String::from_utf8_lossy(k)));
        }
        if self.allchannels {
            v.push("&*".into());
        } else {
            v.push("resetchannels".into());
            for c in &self.channels {
                v.push(format!("&{}", String::from_utf8_lossy(c)));
            }
        }
        // Redis lists category rules before single-command rules.
        let (cats, cmds): (Vec<&String>, Vec<&String>) =
            self.rules.iter().partition(|r| r[1..].starts_with('@'));
        v.extend(cats.into_iter().chain(cmds).cloned());
        v.join(" ")
    }

    /// Whether this user may run `spec` with `argv` (keys and channels included).
    fn check(&self, spec: &Spec, argv: &[bytes::Bytes]) -> Result<(), Denied> {
        if !self.allcommands && !self.allowed.contains(spec.name) {
            return Err(Denied::Command);
        }
        if !self.allkeys {
            let keys = crate::cmd::key_indexes(spec, argv);
            let script_keys = match spec.name {
                "eval" | "evalsha" => {
                    let n = argv
                        .get(2)
                        .and_then(|n| crate::resp::parse_i64(n))
                        .unwrap_or(0)
                        .max(0) as usize;
                    (3..(3 + n).min(argv.len())).collect()
                }
                _ => Vec::new(),
            };
            for i in keys.into_iter().chain(script_keys) {
                if !self
                    .keys
                    .iter()
                    .any(|p| crate::glob::matches(p, &argv[i], false))
                {
                    return Err(Denied::Key);
                }
            }
        }
        if !self.allchannels {
            let (chans, literal): (&[bytes::Bytes], bool) = match spec.name {
                "publish" => (&argv[1..2], false),
                "subscribe" => (&argv[1..], false),
                "psubscribe" => (&argv[1..], true),
                _ => (&[], false),
            };
            for ch in chans {
                let ok = self.channels.iter().any(|p| {
                    if literal {
                        p == ch
                    } else {
                        crate::glob::matches(p, ch, false)
                    }
                });
                if !ok {
                    return Err(Denied::Channel);
                }
            }
        }
        Ok(())
    }
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Denied {
    /// The command (or subcommand) is not allowed.
    Command,
    /// A key argument matches none of the user's key patterns.
    Key,
    /// A channel argument matches none of the user's channel patterns.
    Channel,
}

impl Denied {
    /// The error for a `redis.call` from a script (Redis adds the script's sha).
    pub(crate) fn in_script(&self) -> String {
        let why = match self {
            Denied::Command => "run this command or subcommand",
            Denied::Key => "access at least one of the keys mentioned in the command arguments",
            Denied::Channel => {
                "access at least one of the channels mentioned in the command arguments"
            }
        };
        format!("ERR The user executing the script can't {why}")
    }

    /// The error for a queued command the user lost the right to before EXEC.
    pub(crate) fn in_exec(&self) -> String {
        let why = match self {
            Denied::Command => "no permission to execute the command or subcommand",
            Denied::Key => "no permission to touch the specified keys",
            Denied::Channel => "no permission to access one of the channels used as arguments",
        };
        format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {why}")
    }

    /// The error Redis 7.0 replies with.
    pub(crate) fn message(&self, cmd: &str) -> String {
        match self {
            Denied::Command => {
                format!("NOPERM this user has no permissions to run the '{cmd}' command")
            }
            Denied::Key => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
            Denied::Channel => {
                "NOPERM this user has no permissions to access one of the channels used as arguments"
                    .into()
            }
        }
    }
}

/// All users. Every change bumps `generation`, so connections re-read their
/// user's permissions only when something changed.
#[derive(Debug)]
pub(crate) struct Acl {
    users: BTreeMap<String, User>,
    pub(crate) generation: u64,
}

impl Acl {
    /// From the server config: the default user gets `requirepass` (or
    /// nopass); configured users follow. When users are configured and neither
    /// `requirepass` nor a `default` entry is, the default user is off: whoever
    /// sets up users with passwords means "log in first".
    pub(crate) fn from_config(
        requirepass: Option<&str>,
        users: &[UserConfig],
    ) -> Result<Acl, String> {
        let mut acl = Acl {
            users: BTreeMap::new(),
            generation: 1,
        };
        let mut default = User::new();
        for r in ["on", "~*", "&*", "+@all"] {
            default.apply(r.as_bytes()).expect("valid rule");
        }
        match requirepass {
            Some(p) => default.apply(&[b">", p.as_bytes()].concat())?,
            None if users.is_empty() => default.apply(b"nopass")?,
            None => {
                default.apply(b"nopass")?;
                default.apply(b"off")?;
            }
        }
        acl.users.insert("default".into(), default);
        for u in users {
            if !valid_user_name(&u.name) {
                return Err(format!(
                    "user name {:?}: Usernames can't contain spaces or null characters",
                    u.name
                ));
            }
            let mut user = User::new();
            for r in u.rules() {
                user.apply(&r)
                    .map_err(|e| format!("user {:?}: rule '{}': {e}", u.name, redact(&r)))?;
            }
            acl.users.insert(u.name.clone(), user);
        }
        // `requirepass` (e.g. a command-line flag over a file's `default` entry)
        // is the default user's password, whoever else configured that user.
        if let (Some(p), true) = (requirepass, users.iter().any(|u| u.name == "default")) {
            acl.set_requirepass(Some(p));
        }
        Ok(acl)
    }

    /// The user, if it exists.
    pub(crate) fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// True when `user` exists, is on, and `pass` is one of its passwords (or it is nopass).
    pub(crate) fn authenticate(&self, user: &[u8], pass: &[u8]) -> bool {
        let name = String::from_utf8_lossy(user);
        match self.users.get(name.as_ref()) {
            Some(u) => u.enabled && u.password_ok(pass),
            None => {
                // Same work as a real check, so timing does not reveal which names exist.
                let _ = digest(pass);
                false
            }
        }
    }

    /// New connections are logged in as `default` without AUTH.
    pub(crate) fn default_auto_login(&self) -> bool {
        self.users
            .get("default")
            .is_some_and(|u| u.enabled && u.nopass)
    }

    /// Some enabled user needs no password: protected mode then refuses
    /// clients that are not on loopback.
    pub(crate) fn passwordless(&self) -> bool {
        self.users.values().any(|u| u.enabled && u.nopass)
    }

    /// `AUTH <password>` (one argument) is an error when the default user has no password.
    pub(crate) fn default_nopass(&self) -> bool {
        self.users.get("default").is_some_and(|u| u.nopass)
    }

    /// `CONFIG SET requirepass`: replace the default user's passwords.
    pub(crate) fn set_requirepass(&mut self, pass: Option<&str>) {
        if let Some(d) = self.users.get_mut("default") {
            let _ = d.apply(b"resetpass");
            let _ = match pass {
                Some(p) => d.apply(&[b">", p.as_bytes()].concat()),
                None => d.apply(b"nopass"),
            };
        }
        self.generation += 1;
    }

    /// `ACL SETUSER name rules...`: all or nothing.
    pub(crate) fn setuser(&mut self, name: &[u8], rules: &[bytes::Bytes]) -> Result<(), String> {
        let name_s = String::from_utf8_lossy(name).into_owned();
        if !valid_user_name(&name_s) {
            return Err("Usernames can't contain spaces or null characters".into());
        }
        let mut user = self.users.get(&name_s).cloned().unwrap_or_else(User::new);
        for r in rules {
            user.apply(r).map_err(|e| {
                format!(
                    "Error in ACL SETUSER modifier '{}': {e}",
                    String::from_utf8_lossy(r)
                )
            })?;
        }
        self.users.insert(name_s, user);
        self.generation += 1;
        Ok(())
    }

    /// `ACL DELUSER`: how many existed. `default` cannot go.
    pub(crate) fn deluser(&mut self, names: &[bytes::Bytes]) -> Result<Vec<String>, String> {
        if names.iter().any(|n| n.as_ref() == b"default") {
            return Err("The 'default' user cannot be removed".into());
        }
        let mut gone = Vec::new();
        for n in names {
            let n = String::from_utf8_lossy(n).into_owned();
            if self.users.remove(&n).is_some() {
                gone.push(n);
            }
        }
        if !gone.is_empty() {
            self.generation += 1;
        }
        Ok(gone)
    }

    /// `ACL USERS`.
    pub(crate) fn names(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// `ACL LIST`.
    pub(crate) fn list(&self) -> Vec<String> {
        self.users
            .iter()
            .map(|(n, u)| format!("user {n} {}", u.describe()))
            .collect()
    }

    /// Checks `spec` with `argv` for `user`.
    pub(crate) fn check(
        &self,
        user: &str,
        spec: &Spec,
        argv: &[bytes::Bytes],
    ) -> Result<(), Denied> {
        match self.users.get(user) {
            // A deleted user's connections are closed; until then they run nothing.
            None => Err(Denied::Command),
            Some(u) => u.check(spec, argv),
        }
    }
}

fn valid_user_name(n: &str) -> bool {
    !n.is_empty() && !n.contains([' ', '\0'])
}

/// A rule for an error message, with any password hidden.
fn redact(rule: &[u8]) -> String {
    match rule.first() {
        Some(b'>') | Some(b'<') => format!("{}<redacted>", rule[0] as char),
        _ => String::from_utf8_lossy(rule).into_owned(),
    }
}

fn digest(pass: &[u8]) -> [u8; 32] {
    Sha256::digest(pass).into()
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex_digest(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let pair = std::str::from_utf8(&s[2 * i..2 * i + 2]).ok()?;
        *o = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// Every runnable command name: top-level commands and `parent|sub`.
fn all_names() -> impl Iterator<Item = &'static str> {
    table().iter().flat_map(|s| {
        let own = (s.run.is_some() || s.name == "command").then_some(s.name);
        own.into_iter().chain(s.subs.iter().map(|x| x.name))
    })
}

/// `ACL CAT`: the category names.
pub(crate) fn category_names() -> Vec<&'static str> {
    CATEGORIES.iter().map(|(n, _)| *n).collect()
}

/// `ACL CAT name`: our commands in that category.
pub(crate) fn category(name: &str) -> Option<Vec<&'static str>> {
    let name = name.to_ascii_lowercase();
    let (_, cmds) = CATEGORIES.iter().find(|(n, _)| *n == name)?;
    let ours: std::collections::HashSet<&str> = all_names().collect();
    Some(cmds.iter().copied().filter(|c| ours.contains(c)).collect())
}

/// Redis 7.0's categories, every command in each (generated from redis-server
/// 7.0.15 with `ACL CAT <name>`). [`category`] keeps those we implement, so a
/// new command lands in its categories without editing this table; the
/// conformance test `acl::categories_are_a_subset_of_redis` checks both ways.
static CATEGORIES: &[(&str, &[&str])] = &[
    (
        "keyspace",
        &[
            "copy",
            "dbsize",
            "del",
            "dump",
            "exists",
            "expire",
            "expireat",
            "expiretime",
            "flushall",
            "flushdb",
            "keys",
            "migrate",
            "move",
            "object|encoding",
            "object|freq",
            "object|help",
            "object|idletime",
            "object|refcount",
            "persist",
            "pexpire",
            "pexpireat",
            "pexpiretime",
            "pttl",
            "randomkey",
            "rename",
            "renamenx",
            "restore",
            "restore-asking",
            "scan",
            "swapdb",
            "touch",
            "ttl",
            "type",
            "unlink",
        ],
    ),
    (
        "read",
        &[
            "bitcount",
            "bitfield_ro",
            "bitpos",
            "dbsize",
            "dump",
            "exists",
            "expiretime",
            "geodist",
            "geohash",
            "geopos",
            "georadius_ro",
            "georadiusbymember_ro",
            "geosearch",
            "get",
            "getbit",
            "getrange",
            "hexists",
            "hget",
            "hgetall",
            "hkeys",
            "hlen",
            "hmget",
            "hrandfield",
            "hscan",
            "hstrlen",
            "hvals",
            "keys",
            "lcs",
            "lindex",
            "llen",
            "lolwut",
            "lpos",
            "lrange",
            "memory|usage",
            "mget",
            "object|encoding",
            "object|freq",
            "object|idletime",
            "object|refcount",
            "pexpiretime",
            "pfcount",
            "pttl",
            "randomkey",
            "scan",
            "scard",
            "sdiff",
            "sinter",
            "sintercard",
            "sismember",
            "smembers",
            "smismember",
            "sort_ro",
            "srandmember",
            "sscan",
            "strlen",
            "substr",
            "sunion",
            "touch",
            "ttl",
            "type",
            "xinfo|consumers",
            "xinfo|groups",
            "xinfo|stream",
            "xlen",
            "xpending",
            "xrange",
            "xread",
            "xrevrange",
            "zcard",
            "zcount",
            "zdiff",
            "zinter",
            "zintercard",
            "zlexcount",
            "zmscore",
            "zrandmember",
            "zrange",
            "zrangebylex",
            "zrangebyscore",
            "zrank",
            "zrevrange",
            "zrevrangebylex",
            "zrevrangebyscore",
            "zrevrank",
            "zscan",
            "zscore",
            "zunion",
        ],
    ),
    (
        "write",
        &[
            "append",
            "bitfield",
            "bitop",
            "blmove",
            "blmpop",
            "blpop",
            "brpop",
            "brpoplpush",
            "bzmpop",
            "bzpopmax",
            "bzpopmin",
            "copy",
            "decr",
            "decrby",
            "del",
            "expire",
            "expireat",
            "flushall",
            "flushdb",
            "function|delete",
            "function|flush",
            "function|load",
            "function|restore",
            "geoadd",
            "georadius",
            "georadiusbymember",
            "geosearchstore",
            "getdel",
            "getex",
            "getset",
            "hdel",
            "hincrby",
            "hincrbyfloat",
            "hmset",
            "hset",
            "hsetnx",
            "incr",
            "incrby",
            "incrbyfloat",
            "linsert",
            "lmove",
            "lmpop",
            "lpop",
            "lpush",
            "lpushx",
            "lrem",
            "lset",
            "ltrim",
            "migrate",
            "move",
            "mset",
            "msetnx",
            "persist",
            "pexpire",
            "pexpireat",
            "pfadd",
            "pfdebug",
            "pfmerge",
            "psetex",
            "rename",
            "renamenx",
            "restore",
            "restore-asking",
            "rpop",
            "rpoplpush",
            "rpush",
            "rpushx",
            "sadd",
            "sdiffstore",
            "set",
            "setbit",
            "setex",
            "setnx",
            "setrange",
            "sinterstore",
            "smove",
            "sort",
            "spop",
            "srem",
            "sunionstore",
            "swapdb",
            "unlink",
            "xack",
            "xadd",
            "xautoclaim",
            "xclaim",
            "xdel",
            "xgroup|create",
            "xgroup|createconsumer",
            "xgroup|delconsumer",
            "xgroup|destroy",
            "xgroup|setid",
            "xreadgroup",
            "xsetid",
            "xtrim",
            "zadd",
            "zdiffstore",
            "zincrby",
            "zinterstore",
            "zmpop",
            "zpopmax",
            "zpopmin",
            "zrangestore",
            "zrem",
            "zremrangebylex",
            "zremrangebyrank",
            "zremrangebyscore",
            "zunionstore",
        ],
    ),
    (
        "set",
        &[
            "sadd",
            "scard",
            "sdiff",
            "sdiffstore",
            "sinter",
            "sintercard",
            "sinterstore",
            "sismember",
            "smembers",
            "smismember",
            "smove",
            "sort",
            "sort_ro",
            "spop",
            "srandmember",
            "srem",
            "sscan",
            "sunion",
            "sunionstore",
        ],
    ),
    (
        "sortedset",
        &[
            "bzmpop",
            "bzpopmax",
            "bzpopmin",
            "sort",
            "sort_ro",
            "zadd",
            "zcard",
            "zcount",
            "zdiff",
            "zdiffstore",
            "zincrby",
            "zinter",
            "zintercard",
            "zinterstore",
            "zlexcount",
            "zmpop",
            "zmscore",
            "zpopmax",
            "zpopmin",
            "zrandmember",
            "zrange",
            "zrangebylex",
            "zrangebyscore",
            "zrangestore",
            "zrank",
            "zrem",
            "zremrangebylex",
            "zremrangebyrank",
            "zremrangebyscore",
            "zrevrange",
            "zrevrangebylex",
            "zrevrangebyscore",
            "zrevrank",
            "zscan",
            "zscore",
            "zunion",
            "zunionstore",
        ],
    ),
    (
        "list",
        &[
            "blmove",
            "blmpop",
            "blpop",
            "brpop",
            "brpoplpush",
            "lindex",
            "linsert",
            "llen",
            "lmove",
            "lmpop",
            "lpop",
            "lpos",
            "lpush",
            "lpushx",
            "lrange",
            "lrem",
            "lset",
            "ltrim",
            "rpop",
            "rpoplpush",
            "rpush",
            "rpushx",
            "sort",
            "sort_ro",
        ],
    ),
    (
        "hash",
        &[
            "hdel",
            "hexists",
            "hget",
            "hgetall",
            "hincrby",
            "hincrbyfloat",
            "hkeys",
            "hlen",
            "hmget",
            "hmset",
            "hrandfield",
            "hscan",
            "hset",
            "hsetnx",
            "hstrlen",
            "hvals",
        ],
    ),
    (
        "string",
        &[
            "append",
            "decr",
            "decrby",
            "get",
            "getdel",
            "getex",
            "getrange",
            "getset",
            "incr",
            "incrby",
            "incrbyfloat",
            "lcs",
            "mget",
            "mset",
            "msetnx",
            "psetex",
            "set",
            "setex",
            "setnx",
            "setrange",
            "strlen",
            "substr",
        ],
    ),
    (
        "bitmap",
        &[
            "bitcount",
            "bitfield",
            "bitfield_ro",
            "bitop",
            "bitpos",
            "getbit",
            "setbit",
        ],
    ),
    (
        "hyperloglog",
        &["pfadd", "pfcount", "pfdebug", "pfmerge", "pfselftest"],
    ),
    (
        "geo",
        &[
            "geoadd",
            "geodist",
            "geohash",
            "geopos",
            "georadius",
            "georadius_ro",
            "georadiusbymember",
            "georadiusbymember_ro",
            "geosearch",
            "geosearchstore",
        ],
    ),
    (
        "stream",
        &[
            "xack",
            "xadd",
            "xautoclaim",
            "xclaim",
            "xdel",
            "xgroup|create",
            "xgroup|createconsumer",
            "xgroup|delconsumer",
            "xgroup|destroy",
            "xgroup|help",
            "xgroup|setid",
            "xinfo|consumers",
            "xinfo|groups",
            "xinfo|help",
            "xinfo|stream",
            "xlen",
            "xpending",
            "xrange",
            "xread",
            "xreadgroup",
            "xrevrange",
            "xsetid",
            "xtrim",
        ],
    ),
    (
        "pubsub",
        &[
            "psubscribe",
            "publish",
            "pubsub|channels",
            "pubsub|numpat",
            "pubsub|numsub",
            "pubsub|shardchannels",
            "pubsub|shardnumsub",
            "punsubscribe",
            "spublish",
            "ssubscribe",
            "subscribe",
            "sunsubscribe",
            "unsubscribe",
        ],
    ),
    (
        "admin",
        &[
            "acl|deluser",
            "acl|dryrun",
            "acl|getuser",
            "acl|list",
            "acl|load",
            "acl|log",
            "acl|save",
            "acl|setuser",
            "acl|users",
            "bgrewriteaof",
            "bgsave",
            "client|kill",
            "client|list",
            "client|no-evict",
            "client|pause",
            "client|unblock",
            "client|unpause",
            "cluster|addslots",
            "cluster|addslotsrange",
            "cluster|bumpepoch",
            "cluster|count-failure-reports",
            "cluster|delslots",
            "cluster|delslotsrange",
            "cluster|failover",
            "cluster|flushslots",
            "cluster|forget",
            "cluster|meet",
            "cluster|replicas",
            "cluster|replicate",
            "cluster|reset",
            "cluster|saveconfig",
            "cluster|set-config-epoch",
            "cluster|setslot",
            "cluster|slaves",
            "config|get",
            "config|resetstat",
            "config|rewrite",
            "config|set",
            "debug",
            "failover",
            "lastsave",
            "latency|doctor",
            "latency|graph",
            "latency|histogram",
            "latency|history",
            "latency|latest",
            "latency|reset",
            "module|list",
            "module|load",
            "module|loadex",
            "module|unload",
            "monitor",
            "pfdebug",
            "pfselftest",
            "psync",
            "replconf",
            "replicaof",
            "role",
            "save",
            "shutdown",
            "slaveof",
            "slowlog|get",
            "slowlog|len",
            "slowlog|reset",
            "sync",
        ],
    ),
    (
        "fast",
        &[
            "append",
            "asking",
            "auth",
            "bitfield_ro",
            "bzpopmax",
            "bzpopmin",
            "dbsize",
            "decr",
            "decrby",
            "discard",
            "echo",
            "exists",
            "expire",
            "expireat",
            "expiretime",
            "get",
            "getbit",
            "getdel",
            "getex",
            "getset",
            "hdel",
            "hello",
            "hexists",
            "hget",
            "hincrby",
            "hincrbyfloat",
            "hlen",
            "hmget",
            "hmset",
            "hset",
            "hsetnx",
            "hstrlen",
            "incr",
            "incrby",
            "incrbyfloat",
            "lastsave",
            "llen",
            "lolwut",
            "lpop",
            "lpush",
            "lpushx",
            "mget",
            "move",
            "multi",
            "persist",
            "pexpire",
            "pexpireat",
            "pexpiretime",
            "pfadd",
            "ping",
            "pttl",
            "publish",
            "quit",
            "readonly",
            "readwrite",
            "renamenx",
            "reset",
            "role",
            "rpop",
            "rpush",
            "rpushx",
            "sadd",
            "scard",
            "select",
            "setnx",
            "sismember",
            "smismember",
            "smove",
            "spop",
            "spublish",
            "srem",
            "strlen",
            "swapdb",
            "time",
            "touch",
            "ttl",
            "type",
            "unlink",
            "unwatch",
            "watch",
            "xack",
            "xadd",
            "xautoclaim",
            "xclaim",
            "xdel",
            "xlen",
            "xsetid",
            "zadd",
            "zcard",
            "zcount",
            "zincrby",
            "zlexcount",
            "zmscore",
            "zpopmax",
            "zpopmin",
            "zrank",
            "zrem",
            "zrevrank",
            "zscore",
        ],
    ),
    (
        "slow",
        &[
            "acl",
            "acl|cat",
            "acl|deluser",
            "acl|dryrun",
            "acl|genpass",
            "acl|getuser",
            "acl|help",
            "acl|list",
            "acl|load",
            "acl|log",
            "acl|save",
            "acl|setuser",
            "acl|users",
            "acl|whoami",
            "bgrewriteaof",
            "bgsave",
            "bitcount",
            "bitfield",
            "bitop",
            "bitpos",
            "blmove",
            "blmpop",
            "blpop",
            "brpop",
            "brpoplpush",
            "bzmpop",
            "client",
            "client|caching",
            "client|getname",
            "client|getredir",
            "client|help",
            "client|id",
            "client|info",
            "client|kill",
            "client|list",
            "client|no-evict",
            "client|pause",
            "client|reply",
            "client|setname",
            "client|tracking",
            "client|trackinginfo",
            "client|unblock",
            "client|unpause",
            "cluster",
            "cluster|addslots",
            "cluster|addslotsrange",
            "cluster|bumpepoch",
            "cluster|count-failure-reports",
            "cluster|countkeysinslot",
            "cluster|delslots",
            "cluster|delslotsrange",
            "cluster|failover",
            "cluster|flushslots",
            "cluster|forget",
            "cluster|getkeysinslot",
            "cluster|help",
            "cluster|info",
            "cluster|keyslot",
            "cluster|links",
            "cluster|meet",
            "cluster|myid",
            "cluster|nodes",
            "cluster|replicas",
            "cluster|replicate",
            "cluster|reset",
            "cluster|saveconfig",
            "cluster|set-config-epoch",
            "cluster|setslot",
            "cluster|shards",
            "cluster|slaves",
            "cluster|slots",
            "command",
            "command|count",
            "command|docs",
            "command|getkeys",
            "command|getkeysandflags",
            "command|help",
            "command|info",
            "command|list",
            "config",
            "config|get",
            "config|help",
            "config|resetstat",
            "config|rewrite",
            "config|set",
            "copy",
            "debug",
            "del",
            "dump",
            "eval",
            "eval_ro",
            "evalsha",
            "evalsha_ro",
            "exec",
            "failover",
            "fcall",
            "fcall_ro",
            "flushall",
            "flushdb",
            "function",
            "function|delete",
            "function|dump",
            "function|flush",
            "function|help",
            "function|kill",
            "function|list",
            "function|load",
            "function|restore",
            "function|stats",
            "geoadd",
            "geodist",
            "geohash",
            "geopos",
            "georadius",
            "georadius_ro",
            "georadiusbymember",
            "georadiusbymember_ro",
            "geosearch",
            "geosearchstore",
            "getrange",
            "hgetall",
            "hkeys",
            "hrandfield",
            "hscan",
            "hvals",
            "info",
            "keys",
            "latency",
            "latency|doctor",
            "latency|graph",
            "latency|help",
            "latency|histogram",
            "latency|history",
            "latency|latest",
            "latency|reset",
            "lcs",
            "lindex",
            "linsert",
            "lmove",
            "lmpop",
            "lpos",
            "lrange",
            "lrem",
            "lset",
            "ltrim",
            "memory",
            "memory|doctor",
            "memory|help",
            "memory|malloc-stats",
            "memory|purge",
            "memory|stats",
            "memory|usage",
            "migrate",
            "module",
            "module|help",
            "module|list",
            "module|load",
            "module|loadex",
            "module|unload",
            "monitor",
            "mset",
            "msetnx",
            "object",
            "object|encoding",
            "object|freq",
            "object|help",
            "object|idletime",
            "object|refcount",
            "pfcount",
            "pfdebug",
            "pfmerge",
            "pfselftest",
            "psetex",
            "psubscribe",
            "psync",
            "pubsub",
            "pubsub|channels",
            "pubsub|help",
            "pubsub|numpat",
            "pubsub|numsub",
            "pubsub|shardchannels",
            "pubsub|shardnumsub",
            "punsubscribe",
            "randomkey",
            "rename",
            "replconf",
            "replicaof",
            "restore",
            "restore-asking",
            "rpoplpush",
            "save",
            "scan",
            "script",
            "script|debug",
            "script|exists",
            "script|flush",
            "script|help",
            "script|kill",
            "script|load",
            "sdiff",
            "sdiffstore",
            "set",
            "setbit",
            "setex",
            "setrange",
            "shutdown",
            "sinter",
            "sintercard",
            "sinterstore",
            "slaveof",
            "slowlog",
            "slowlog|get",
            "slowlog|help",
            "slowlog|len",
            "slowlog|reset",
            "smembers",
            "sort",
            "sort_ro",
            "srandmember",
            "sscan",
            "ssubscribe",
            "subscribe",
            "substr",
            "sunion",
            "sunionstore",
            "sunsubscribe",
            "sync",
            "unsubscribe",
            "wait",
            "xgroup",
            "xgroup|create",
            "xgroup|createconsumer",
            "xgroup|delconsumer",
            "xgroup|destroy",
            "xgroup|help",
            "xgroup|setid",
            "xinfo",
            "xinfo|consumers",
            "xinfo|groups",
            "xinfo|help",
            "xinfo|stream",
            "xpending",
            "xrange",
            "xread",
            "xreadgroup",
            "xrevrange",
            "xtrim",
            "zdiff",
            "zdiffstore",
            "zinter",
            "zintercard",
            "zinterstore",
            "zmpop",
            "zrandmember",
            "zrange",
            "zrangebylex",
            "zrangebyscore",
            "zrangestore",
            "zremrangebylex",
            "zremrangebyrank",
            "zremrangebyscore",
            "zrevrange",
            "zrevrangebylex",
            "zrevrangebyscore",
            "zscan",
            "zunion",
            "zunionstore",
        ],
    ),
    (
        "blocking",
        &[
            "blmove",
            "blmpop",
            "blpop",
            "brpop",
            "brpoplpush",
            "bzmpop",
            "bzpopmax",
            "bzpopmin",
            "xread",
            "xreadgroup",
        ],
    ),
    (
        "dangerous",
        &[
            "acl|deluser",
            "acl|dryrun",
            "acl|getuser",
            "acl|list",
            "acl|load",
            "acl|log",
            "acl|save",
            "acl|setuser",
            "acl|users",
            "bgrewriteaof",
            "bgsave",
            "client|kill",
            "client|list",
            "client|no-evict",
            "client|pause",
            "client|unblock",
            "client|unpause",
            "cluster|addslots",
            "cluster|addslotsrange",
            "cluster|bumpepoch",
            "cluster|count-failure-reports",
            "cluster|delslots",
            "cluster|delslotsrange",
            "cluster|failover",
            "cluster|flushslots",
            "cluster|forget",
            "cluster|meet",
            "cluster|replicas",
            "cluster|replicate",
            "cluster|reset",
            "cluster|saveconfig",
            "cluster|set-config-epoch",
            "cluster|setslot",
            "cluster|slaves",
            "config|get",
            "config|resetstat",
            "config|rewrite",
            "config|set",
            "debug",
            "failover",
            "flushall",
            "flushdb",
            "info",
            "keys",
            "lastsave",
            "latency|doctor",
            "latency|graph",
            "latency|histogram",
            "latency|history",
            "latency|latest",
            "latency|reset",
            "migrate",
            "module|list",
            "module|load",
            "module|loadex",
            "module|unload",
            "monitor",
            "pfdebug",
            "pfselftest",
            "psync",
            "replconf",
            "replicaof",
            "restore",
            "restore-asking",
            "role",
            "save",
            "shutdown",
            "slaveof",
            "slowlog|get",
            "slowlog|len",
            "slowlog|reset",
            "sort",
            "sort_ro",
            "swapdb",
            "sync",
        ],
    ),
    (
        "connection",
        &[
            "asking",
            "auth",
            "client|caching",
            "client|getname",
            "client|getredir",
            "client|help",
            "client|id",
            "client|info",
            "client|kill",
            "client|list",
            "client|no-evict",
            "client|pause",
            "client|reply",
            "client|setname",
            "client|tracking",
            "client|trackinginfo",
            "client|unblock",
            "client|unpause",
            "command",
            "command|count",
            "command|docs",
            "command|getkeys",
            "command|getkeysandflags",
            "command|help",
            "command|info",
            "command|list",
            "echo",
            "hello",
            "ping",
            "quit",
            "readonly",
            "readwrite",
            "reset",
            "select",
            "wait",
        ],
    ),
    (
        "transaction",
        &["discard", "exec", "multi", "unwatch", "watch"],
    ),
    (
        "scripting",
        &[
            "eval",
            "eval_ro",
            "evalsha",
            "evalsha_ro",
            "fcall",
            "fcall_ro",
            "function|delete",
            "function|dump",
            "function|flush",
            "function|help",
            "function|kill",
            "function|list",
            "function|load",
            "function|restore",
            "function|stats",
            "script|debug",
            "script|exists",
            "script|flush",
            "script|help",
            "script|kill",
            "script|load",
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_digests_and_compare_exactly() {
        let acl = Acl::from_config(None, &[UserConfig::new("app", "s3cret")]).unwrap();
        assert!(acl.authenticate(b"app", b"s3cret"));
        assert!(!acl.authenticate(b"app", b"s3cre"));
        assert!(!acl.authenticate(b"nobody", b"s3cret"));
        // Configured users switch the passwordless default user off.
        assert!(!acl.default_auto_login());
        assert!(!acl.passwordless());
        let line = acl.list().join("\n");
        assert!(!line.contains("s3cret"), "{line}");
    }

    #[test]
    fn requirepass_wins_over_a_configured_default_user() {
        let acl = Acl::from_config(Some("flag"), &[UserConfig::new("default", "file")]).unwrap();
        assert!(acl.authenticate(b"default", b"flag"));
        assert!(!acl.authenticate(b"default", b"file"));
        assert!(!acl.passwordless());
    }

    #[test]
    fn unsupported_rules_are_errors() {
        let mut acl = Acl::from_config(None, &[]).unwrap();
        assert!(acl.setuser(b"x", &["%R~a".into()]).is_err());
        assert!(acl.setuser(b"x", &["+nosuch".into()]).is_err());
        assert!(acl
            .setuser(b"x", &["on".into(), ">p".into(), "+@read".into()])
            .is_ok());
    }
}
