//! What a handler sees: the execution context ([`Ctx`]) with its keyspace
//! helpers, the handler and spec types, and the command table as a type
//! parameter for the few handlers that look commands up.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::resp::Reply;
use crate::store::{notify, Client, Db, Key, Map, Set, Store, Value, ZSet};

/// A handler's result: `Err` is an error reply, so `?` works on argument parsing.
pub(crate) type R = Result<Reply, Reply>;
/// Runs one command.
pub(crate) type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> R;
/// A command's description, with its handler.
pub(crate) type Spec = crate::spec::Spec<Handler>;

/// The command table, for the handlers that look commands up (COMMAND,
/// EXEC, EVAL's `redis.call`). The table names those handlers, so they take
/// it as a type parameter instead of importing it back; it costs nothing at
/// run time (static dispatch).
pub(crate) trait Commands {
    /// All top-level commands.
    fn all() -> &'static [Spec];
    /// Finds the spec for a request.
    fn lookup(argv: &[Bytes]) -> Result<&'static Spec, Unresolved>;
}

/// Why a request names no runnable command. [`Unresolved::reply`] is the
/// error Redis gives; scripts word some of them differently.
#[derive(Debug)]
pub(crate) enum Unresolved {
    /// No such command (the message shows the request).
    UnknownCommand(String),
    /// No such subcommand of a container.
    UnknownSubcommand(String),
    /// The argument count does not fit the arity (the command's name).
    WrongArity(&'static str),
}

impl Unresolved {
    /// The error reply Redis gives a client.
    pub(crate) fn reply(self) -> Reply {
        match self {
            Unresolved::UnknownCommand(m) | Unresolved::UnknownSubcommand(m) => Reply::err(m),
            Unresolved::WrongArity(name) => {
                Reply::err(format!("wrong number of arguments for '{name}' command"))
            }
        }
    }
}

/// Execution context: the locked store, the calling client, and the clock.
pub(crate) struct Ctx<'a> {
    /// The store (lock held).
    pub(crate) s: &'a mut Store,
    /// Scripting, beside the store under the same lock.
    pub(crate) sc: &'a mut crate::lua::Scripting,
    /// The calling client.
    pub(crate) c: &'a mut Client,
    /// Command time in ms (frozen for a script).
    pub(crate) now: u64,
    /// Running inside a script.
    pub(crate) in_script: bool,
    /// Running inside EXEC.
    pub(crate) in_exec: bool,
    /// The handler propagated its own effects to the log.
    pub(crate) custom_prop: bool,
}

/// The WRONGTYPE error.
pub(crate) fn wrongtype() -> Reply {
    Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into())
}

macro_rules! typed {
    ($get:ident, $variant:ident, $t:ty) => {
        /// Typed lookup: `Err(WRONGTYPE)` if the key holds another type.
        pub(crate) fn $get(&mut self, key: &[u8]) -> Result<Option<&mut $t>, Reply> {
            match self.lookup(key) {
                None => Ok(None),
                Some(Value::$variant(x)) => Ok(Some(&mut **x)),
                Some(_) => Err(wrongtype()),
            }
        }
    };
}

macro_rules! typed_or_new {
    ($get:ident, $variant:ident, $t:ty) => {
        /// Typed lookup that stores an empty value under a missing key:
        /// `Err(WRONGTYPE)` if the key holds another type.
        pub(crate) fn $get(&mut self, key: &[u8]) -> Result<&mut $t, Reply> {
            let db = self.c.db;
            self.s.expire_before_write(db, key, self.now);
            let keys = &mut self.s.dbs[db].keys;
            // One probe when the key exists, the common case for HSET, LPUSH, ZADD.
            let i = match keys.get_index_of(key) {
                Some(i) => i,
                None => {
                    keys.insert_full(Key::new(key), Value::$variant(Box::default()))
                        .0
                }
            };
            match &mut keys[i] {
                Value::$variant(x) => Ok(&mut **x),
                _ => Err(wrongtype()),
            }
        }
    };
}

impl Ctx<'_> {
    /// The selected database.
    pub(crate) fn db(&mut self) -> &mut Db {
        &mut self.s.dbs[self.c.db]
    }

    /// Looks a key up, expiring it first if due (an expired key a pause
    /// keeps is missing too).
    pub(crate) fn lookup(&mut self, key: &[u8]) -> Option<&mut Value> {
        let db = self.c.db;
        if self.s.expire_if_needed(db, key, self.now) {
            return None;
        }
        self.s.dbs[db].keys.get_mut(key)
    }

    /// Whether a key exists (after expiry).
    pub(crate) fn exists(&mut self, key: &[u8]) -> bool {
        self.lookup(key).is_some()
    }

    /// Typed lookup: `Err(WRONGTYPE)` if the key holds another type.
    /// An integer-encoded string becomes plain bytes here, since the caller may
    /// change them.
    pub(crate) fn get_str(&mut self, key: &[u8]) -> Result<Option<&mut Vec<u8>>, Reply> {
        let Some(v) = self.lookup(key) else {
            return Ok(None);
        };
        if let Value::Int(i) = *v {
            *v = Value::Str(itoa::Buffer::new().format(i).as_bytes().to_vec());
        }
        match v {
            Value::Str(x) => Ok(Some(x)),
            _ => Err(wrongtype()),
        }
    }
    typed!(get_list, List, VecDeque<Bytes>);
    typed!(get_hash, Hash, Map<Key, Bytes>);
    typed!(get_set, Set, Set<Bytes>);
    typed!(get_zset, ZSet, ZSet);
    typed!(get_stream, Stream, crate::stream::Stream);

    /// Checks a key's type without borrowing it.
    pub(crate) fn check_type(&mut self, key: &[u8], want: &str) -> Result<bool, Reply> {
        match self.lookup(key) {
            None => Ok(false),
            Some(v) if v.type_name() == want => Ok(true),
            Some(_) => Err(wrongtype()),
        }
    }

    typed_or_new!(list_or_new, List, VecDeque<Bytes>);
    typed_or_new!(hash_or_new, Hash, Map<Key, Bytes>);
    typed_or_new!(set_or_new, Set, Set<Bytes>);
    typed_or_new!(zset_or_new, ZSet, ZSet);
    typed_or_new!(stream_or_new, Stream, crate::stream::Stream);

    /// Sets a key (new value replaces any old one). Keeps the TTL only if asked.
    pub(crate) fn set_key(&mut self, key: &[u8], v: Value, keep_ttl: bool) {
        let db = self.c.db;
        let d = &mut self.s.dbs[db];
        d.keys.insert(Key::new(key), v);
        if !keep_ttl && !d.expires.is_empty() {
            d.expires.swap_remove(key);
        }
    }

    /// Deletes a key; true if it existed.
    pub(crate) fn del_key(&mut self, key: &[u8]) -> bool {
        let db = self.c.db;
        let d = &mut self.s.dbs[db];
        if !d.expires.is_empty() {
            d.expires.swap_remove(key);
        }
        d.keys.swap_remove(key).is_some()
    }

    /// Deletes a collection key left empty; true if deleted.
    pub(crate) fn del_if_empty(&mut self, key: &[u8]) -> bool {
        let db = self.c.db;
        let empty = match self.s.dbs[db].keys.get(key) {
            Some(Value::List(l)) => l.is_empty(),
            Some(Value::Hash(h)) => h.is_empty(),
            Some(Value::Set(s)) => s.is_empty(),
            Some(Value::ZSet(z)) => z.is_empty(),
            _ => false,
        };
        if empty {
            self.del_key(key);
            self.notify(notify::GENERIC, "del", key);
        }
        empty
    }

    /// Absolute expiry of a key, if any.
    pub(crate) fn get_expire(&mut self, key: &[u8]) -> Option<u64> {
        let db = self.c.db;
        self.s.dbs[db].expires.get(key).copied()
    }

    /// Sets a key's absolute expiry.
    pub(crate) fn set_expire(&mut self, key: &[u8], at: u64) {
        let db = self.c.db;
        self.s.dbs[db].expires.insert(Key::new(key), at);
    }

    /// Removes a key's expiry; true if it had one.
    pub(crate) fn persist(&mut self, key: &[u8]) -> bool {
        let db = self.c.db;
        self.s.dbs[db].expires.swap_remove(key).is_some()
    }

    /// Keyspace notification in the current db.
    pub(crate) fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.c.db;
        self.s.notify(db, class, event, key);
    }

    /// A list got elements: wake clients blocked on it.
    pub(crate) fn signal_ready(&mut self, key: &[u8]) {
        if self.s.blocking_keys.is_empty() {
            return;
        }
        let k = (self.c.db, Bytes::copy_from_slice(key));
        if self.s.blocking_keys.contains_key(&k) && !self.s.ready.contains(&k) {
            self.s.ready.push(k);
        }
    }

    /// Counts a change.
    pub(crate) fn dirty(&mut self, n: u64) {
        self.s.dirty += n;
    }

    /// Logs `argv` instead of the command as sent.
    pub(crate) fn propagate(&mut self, argv: Vec<Bytes>) {
        self.custom_prop = true;
        if !self.s.loading && self.s.aof.is_some() {
            self.s.prop.push((self.c.db, argv));
        }
    }

    /// Whether blocking commands may block (not in MULTI or scripts).
    pub(crate) fn can_block(&self) -> bool {
        !self.in_exec && !self.in_script
    }
}
