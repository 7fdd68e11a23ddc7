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

use crate::acl_categories::CATEGORIES;
use crate::spec::{flags, numkeys_at, Spec};

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
    /// `sanitize-payload` (`Some(true)`) or `skip-sanitize-payload`
    /// (`Some(false)`), whichever was given last; a new user has neither.
    sanitize_payload: Option<bool>,
    passwords: Vec<[u8; 32]>,
    /// Key patterns; `allkeys` short-cuts the common `~*`.
    keys: Vec<Vec<u8>>,
    allkeys: bool,
    channels: Vec<Vec<u8>>,
    allchannels: bool,
    /// Set by `+@all`, cleared by `-@all` only: ACL LIST then starts from
    /// `+@all` (Redis's reserved "future commands" bit).
    future: bool,
    /// Names (`get`, `config|set`, and containers such as `config`) this
    /// user may run, over the ACL universe (see [`Acl`]).
    allowed: HashSet<&'static str>,
    /// `+@all` with nothing taken away: skip the per-command lookup.
    allcommands: bool,
}

impl User {
    fn new() -> User {
        User {
            enabled: false,
            nopass: false,
            sanitize_payload: None,
            passwords: Vec::new(),
            keys: Vec::new(),
            allkeys: false,
            channels: Vec::new(),
            allchannels: false,
            future: false,
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
    fn apply(&mut self, rule: &[u8], commands: &[&'static str]) -> Result<(), String> {
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
            "allkeys" => self.apply(b"~*", commands)?,
            "resetkeys" => {
                self.keys.clear();
                self.allkeys = false;
            }
            "allchannels" => self.apply(b"&*", commands)?,
            "resetchannels" => {
                self.channels.clear();
                self.allchannels = false;
            }
            "allcommands" => self.apply(b"+@all", commands)?,
            "nocommands" => self.apply(b"-@all", commands)?,
            "sanitize-payload" => self.sanitize_payload = Some(true),
            "skip-sanitize-payload" => self.sanitize_payload = Some(false),
            "reset" => {
                *self = User::new();
                self.sanitize_payload = Some(true);
            }
            _ => return self.apply_prefixed(rule, &s, commands),
        }
        Ok(())
    }

    fn apply_prefixed(
        &mut self,
        rule: &[u8],
        s: &str,
        commands: &[&'static str],
    ) -> Result<(), String> {
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
            Some(&sign @ (b'+' | b'-')) => self.apply_command_rule(sign == b'+', s, commands)?,
            _ => return Err("Syntax error".into()),
        }
        Ok(())
    }

    fn apply_command_rule(
        &mut self,
        add: bool,
        rule: &str,
        commands: &[&'static str],
    ) -> Result<(), String> {
        let name = rule[1..].to_ascii_lowercase();
        let names: Vec<&'static str> = if let Some(cat) = name.strip_prefix('@') {
            if cat == "all" {
                self.allowed.clear();
                self.allcommands = add;
                self.future = add;
                if add {
                    self.allowed.extend(commands.iter().copied());
                }
                return Ok(());
            }
            with_subcommands(
                commands,
                category(commands, cat).ok_or("Unknown command or category name in ACL")?,
            )
        } else {
            let found: Vec<&'static str> = commands
                .iter()
                .copied()
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
        Ok(())
    }

    /// The command rules as Redis 7.0's `ACLDescribeSelectorCommandRules`
    /// works them out from the permission bits, not from the rules given:
    /// `+@all` or `-@all`, then the categories that fit best (fewest
    /// differences first), then single commands for what is left. Redis
    /// lists those in its command table's hash order, seeded afresh at each
    /// start; here a container comes before its subcommands, in name order.
    fn describe_commands(&self, universe: &[&'static str]) -> String {
        let additive = !self.future;
        let mut out = vec![if additive { "-@all" } else { "+@all" }.to_string()];
        let mut fake: HashSet<&'static str> = if additive {
            HashSet::new()
        } else {
            universe.iter().copied().collect()
        };
        let mut temp = self.allowed.clone();
        let mut applied = vec![false; CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, (_, cmds)) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let on = cmds.iter().filter(|c| temp.contains(*c)).count();
                let off = cmds.len() - on;
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            let (name, cmds) = CATEGORIES[j];
            for c in with_subcommands(universe, cmds.to_vec()) {
                if additive {
                    fake.insert(c);
                    temp.remove(c);
                } else {
                    fake.remove(c);
                    temp.insert(c);
                }
            }
            out.push(format!("{}@{name}", if additive { '+' } else { '-' }));
            applied[j] = true;
        }
        // Single commands; a container's rule covers its subcommands, so it
        // comes first (`universe` is sorted: `config` before `config|get`).
        for &c in universe {
            let user = self.allowed.contains(c);
            if user == fake.contains(c) {
                continue;
            }
            out.push(format!("{}{c}", if user { '+' } else { '-' }));
            for n in with_subcommands(universe, vec![c]) {
                if user {
                    fake.insert(n);
                } else {
                    fake.remove(n);
                }
            }
        }
        out.join(" ")
    }

    /// The `ACL LIST` line after `user <name> `.
    fn describe(&self, universe: &[&'static str]) -> String {
        let mut v: Vec<String> = self.flags().into_iter().map(String::from).collect();
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
        v.push(self.describe_commands(universe));
        v.join(" ")
    }

    /// The user's flags in Redis's order (its `ACLUserFlags` table): `on`
    /// or `off`, `nopass`, `skip-sanitize-payload`, `sanitize-payload`.
    fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize_payload {
            Some(false) => flags.push("skip-sanitize-payload"),
            Some(true) => flags.push("sanitize-payload"),
            None => {}
        }
        flags
    }

    /// Whether this user may run `spec` with `argv` (keys and channels
    /// included); when not, why and the refused argument's index (0 for
    /// the command itself).
    fn check<H>(&self, spec: &Spec<H>, argv: &[bytes::Bytes]) -> Result<(), (Denied, usize)> {
        if !self.allcommands && !self.allowed.contains(spec.name) {
            return Err((Denied::Command, 0));
        }
        if !self.allkeys {
            let keys = spec.key_indexes(argv);
            let script_keys = if spec.has(flags::SCRIPT_KEYS) {
                numkeys_at(argv, 2)
            } else {
                Vec::new()
            };
            for i in keys.into_iter().chain(script_keys) {
                if !self
                    .keys
                    .iter()
                    .any(|p| crate::glob::matches(p, &argv[i], false))
                {
                    return Err((Denied::Key, i));
                }
            }
        }
        if !self.allchannels {
            let (chans, literal): (&[bytes::Bytes], bool) = if spec.has(flags::CHANNEL_ARG) {
                (&argv[1..2], false)
            } else if spec.has(flags::CHANNEL_ARGS) {
                (&argv[1..], false)
            } else if spec.has(flags::PATTERN_ARGS) {
                (&argv[1..], true)
            } else {
                (&[], false)
            };
            // Channels start at argument 1 (PUBLISH, SUBSCRIBE, ...).
            for (n, ch) in chans.iter().enumerate() {
                let ok = self.channels.iter().any(|p| {
                    if literal {
                        p == ch
                    } else {
                        crate::glob::matches(p, ch, false)
                    }
                });
                if !ok {
                    return Err((Denied::Channel, 1 + n));
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
    /// Every runnable command name (`get`, `config|set`), from the command
    /// table: what ACL CAT lists.
    commands: &'static [&'static str],
    /// What the rules range over (`+@all`, `+name`, `+@cat`): the runnable
    /// commands, their containers, and every other command Redis 7.0 has
    /// (they cannot run here, but Redis keeps their permission bits, and
    /// ACL LIST's best-fit description counts them). Sorted.
    universe: Vec<&'static str>,
}

impl Acl {
    /// From the server config, over the runnable command names `commands`
    /// (the command layer's `Acl::from_config` passes its table's): the
    /// default user gets `requirepass` (or nopass); configured users follow.
    /// When users are configured and neither `requirepass` nor a `default`
    /// entry is, the default user is off: whoever sets up users with passwords
    /// means "log in first".
    pub(crate) fn new(
        commands: &'static [&'static str],
        requirepass: Option<&str>,
        users: &[UserConfig],
    ) -> Result<Acl, String> {
        let mut universe: Vec<&'static str> = commands.to_vec();
        universe.extend(CATEGORIES.iter().flat_map(|(_, c)| c.iter().copied()));
        universe.extend(
            commands
                .iter()
                .filter_map(|c| c.split_once('|').map(|(p, _)| p)),
        );
        universe.sort_unstable();
        universe.dedup();
        let mut acl = Acl {
            users: BTreeMap::new(),
            generation: 1,
            commands,
            universe,
        };
        let commands = &acl.universe[..];
        let mut default = User::new();
        for r in ["on", "~*", "&*", "+@all"] {
            default.apply(r.as_bytes(), commands).expect("valid rule");
        }
        match requirepass {
            Some(p) => default.apply(&[b">", p.as_bytes()].concat(), commands)?,
            None if users.is_empty() => default.apply(b"nopass", commands)?,
            None => {
                default.apply(b"nopass", commands)?;
                default.apply(b"off", commands)?;
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
                user.apply(&r, commands)
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
            let _ = d.apply(b"resetpass", &self.universe);
            let _ = match pass {
                Some(p) => d.apply(&[b">", p.as_bytes()].concat(), &self.universe),
                None => d.apply(b"nopass", &self.universe),
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
            user.apply(r, &self.universe).map_err(|e| {
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
            .map(|(n, u)| format!("user {n} {}", u.describe(&self.universe)))
            .collect()
    }

    /// `ACL CAT name`: our commands in that category.
    pub(crate) fn category(&self, name: &str) -> Option<Vec<&'static str>> {
        category(self.commands, name)
    }

    /// Checks `spec` with `argv` for `user`; when refused, why and the
    /// index of the refused argument (0 for the command itself), which ACL
    /// LOG and ACL DRYRUN name.
    pub(crate) fn check_at<H>(
        &self,
        user: &str,
        spec: &Spec<H>,
        argv: &[bytes::Bytes],
    ) -> Result<(), (Denied, usize)> {
        match self.users.get(user) {
            // A deleted user's connections are closed; until then they run nothing.
            None => Err((Denied::Command, 0)),
            Some(u) => u.check(spec, argv),
        }
    }

    /// `ACL GETUSER`'s fields for `name`, if the user exists.
    pub(crate) fn getuser(&self, name: &str) -> Option<UserInfo> {
        let u = self.users.get(name)?;
        let flags = u.flags();
        let join = |prefix: char, v: &[Vec<u8>]| {
            v.iter()
                .map(|p| format!("{prefix}{}", String::from_utf8_lossy(p)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        Some(UserInfo {
            flags,
            passwords: u.passwords.iter().map(hex).collect(),
            commands: u.describe_commands(&self.universe),
            keys: join('~', &u.keys),
            channels: join('&', &u.channels),
        })
    }
}

/// One user as `ACL GETUSER` shows it (Redis 7.0's fields, without
/// selectors, which are not supported here).
pub(crate) struct UserInfo {
    /// `on`/`off`, then `nopass`, `skip-sanitize-payload` or
    /// `sanitize-payload` if set.
    pub(crate) flags: Vec<&'static str>,
    /// SHA-256 digests in hex.
    pub(crate) passwords: Vec<String>,
    /// The command rules, categories first, as ACL LIST shows them.
    pub(crate) commands: String,
    /// Key patterns, each with its `~`, space-separated.
    pub(crate) keys: String,
    /// Channel patterns, each with its `&`, space-separated.
    pub(crate) channels: String,
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

/// `ACL CAT`: the category names.
pub(crate) fn category_names() -> Vec<&'static str> {
    CATEGORIES.iter().map(|(n, _)| *n).collect()
}

/// `names` and, for each container among them, its subcommands in
/// `universe` (a container's permission covers them, as in Redis).
fn with_subcommands(universe: &[&'static str], mut names: Vec<&'static str>) -> Vec<&'static str> {
    let subs: Vec<&'static str> = universe
        .iter()
        .copied()
        .filter(|u| u.split_once('|').is_some_and(|(p, _)| names.contains(&p)))
        .collect();
    names.extend(subs);
    names
}

/// The commands of `commands` in category `name`, in Redis's order.
fn category(commands: &[&'static str], name: &str) -> Option<Vec<&'static str>> {
    let name = name.to_ascii_lowercase();
    let (_, cmds) = CATEGORIES.iter().find(|(n, _)| *n == name)?;
    let ours: HashSet<&str> = commands.iter().copied().collect();
    Some(cmds.iter().copied().filter(|c| ours.contains(c)).collect())
}

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
