//! What a command is, apart from the code that runs it: its name, arity,
//! flags and where its keys are.
//!
//! This is a leaf: ACLs, eviction and the command layer all read specs, and
//! none of them has to import the others for it. The handler type is a
//! parameter (`H`), so this module knows nothing of the execution context;
//! the command layer fixes it (`cmd::Spec`).

use bytes::Bytes;

use crate::resp::parse_i64;

/// Finds a request's key positions (commands with movable keys).
pub(crate) type KeysFn = fn(&[Bytes]) -> Vec<usize>;

/// Command flags: behaviour that depends on the command is decided by these,
/// never by its name.
pub(crate) mod flags {
    /// Writes the keyspace.
    pub(crate) const WRITE: u32 = 1;
    /// May grow memory.
    pub(crate) const DENYOOM: u32 = 1 << 1;
    /// Not from scripts.
    pub(crate) const NOSCRIPT: u32 = 1 << 2;
    /// Allowed before AUTH.
    pub(crate) const NOAUTH: u32 = 1 << 3;
    /// Allowed in RESP2 subscribed context.
    pub(crate) const PUBSUB: u32 = 1 << 4;
    /// May block.
    pub(crate) const BLOCKING: u32 = 1 << 5;
    /// A write that does not invalidate WATCH (Redis's group bookkeeping
    /// commands do not signal the key as modified).
    pub(crate) const NOTOUCH: u32 = 1 << 6;
    /// Runs at once inside MULTI instead of being queued (EXEC, DISCARD,
    /// MULTI, WATCH, QUIT, RESET).
    pub(crate) const NOQUEUE: u32 = 1 << 7;
    /// Runs other commands (EXEC, EVAL): the memory estimate is recounted
    /// after it, since its own keys say nothing of what it touched.
    pub(crate) const RUNS_OTHERS: u32 = 1 << 8;
    /// May log several records for one call (EXEC, EVAL, the stream group
    /// reads and claims); they are wrapped so a replay is all-or-nothing, as
    /// Redis wraps them in MULTI/EXEC.
    pub(crate) const MULTI_RECORD: u32 = 1 << 9;
    /// A script call: `numkeys` (argument 2) keys follow it, and ACL key
    /// patterns apply to them.
    pub(crate) const SCRIPT_KEYS: u32 = 1 << 10;
    /// Argument 1 is a channel name (PUBLISH): ACL channel patterns apply.
    pub(crate) const CHANNEL_ARG: u32 = 1 << 11;
    /// Every argument is a channel name (SUBSCRIBE): ACL channel patterns
    /// apply.
    pub(crate) const CHANNEL_ARGS: u32 = 1 << 12;
    /// Every argument is a channel pattern (PSUBSCRIBE): ACL channel rules
    /// must name it literally.
    pub(crate) const PATTERN_ARGS: u32 = 1 << 13;
    /// A CLIENT subcommand: the CLIENT CACHING flag survives it (Redis
    /// clears that flag after any command but CLIENT).
    pub(crate) const KEEPS_CACHING: u32 = 1 << 14;
    /// Refused inside MULTI (Redis's `no-multi`: SHUTDOWN), which aborts the
    /// transaction.
    pub(crate) const NO_MULTI: u32 = 1 << 15;
    /// The handler keeps none of the argument `Bytes` it is given past the
    /// call (it copies what it stores), so a client's request may hand them
    /// over as slices of the connection's read buffer. Without the flag they
    /// are copied first: a stored slice would pin the whole read buffer.
    pub(crate) const BORROWS_ARGS: u32 = 1 << 16;
    /// Redis's `admin` commands (CONFIG, CLIENT LIST, ACL SETUSER, SAVE,
    /// ...): MONITOR never shows them, since they may carry secrets.
    pub(crate) const ADMIN: u32 = 1 << 17;
    /// Shown to MONITOR before it runs rather than after, so the commands it
    /// runs follow it (EVAL, FCALL: Redis's `skip_monitor` commands, which
    /// feed the monitors themselves first). EXEC is shown after its commands.
    pub(crate) const MONITOR_FIRST: u32 = 1 << 18;
    /// Never kept in the SLOWLOG (EXEC: the commands it ran are, each on its own).
    pub(crate) const SKIP_SLOWLOG: u32 = 1 << 19;
    /// Does not write keys itself but may be propagated (Redis's
    /// `may_replicate`: EVAL, FCALL, PUBLISH, PFCOUNT, ...): waits out a
    /// CLIENT PAUSE WRITE as writes do.
    pub(crate) const MAY_REPLICATE: u32 = 1 << 20;
    /// Argument 1 is a Lua script body (EVAL, EVAL_RO): its shebang may
    /// declare `no-writes`.
    pub(crate) const SCRIPT_BODY_ARG: u32 = 1 << 21;
    /// Argument 1 is a loaded script's SHA1 (EVALSHA, EVALSHA_RO).
    pub(crate) const SCRIPT_SHA_ARG: u32 = 1 << 22;
    /// Argument 1 is a function name (FCALL, FCALL_RO).
    pub(crate) const FUNCTION_ARG: u32 = 1 << 23;
}

/// What a command does while a script runs past `busy-reply-threshold`
/// (Redis's `allow-busy` commands; every other command is refused with
/// `-BUSY`). The store is locked by the script then, so only the first
/// three are answered at once; the others wait for the script to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WhileBusy {
    /// Refused with `-BUSY` (most commands).
    Refuse,
    /// SCRIPT KILL.
    KillScript,
    /// FUNCTION KILL.
    KillFunction,
    /// SHUTDOWN: with NOSAVE it stops the script and the server; without,
    /// it is refused with `-BUSY`, as in Redis.
    Shutdown,
    /// QUIT: answered and closed at once.
    Quit,
    /// Allowed by Redis, but needs the store here (AUTH, HELLO, MULTI,
    /// WATCH, FUNCTION STATS, ...): runs once the script ends.
    Wait,
}

/// A command's static description; `H` is the handler type.
pub(crate) struct Spec<H: 'static> {
    /// Lowercase name (`client|setname` for subcommands).
    pub(crate) name: &'static str,
    /// Redis arity: positive = exact, negative = at least.
    pub(crate) arity: i32,
    /// See [`flags`].
    pub(crate) flags: u32,
    /// First key index (0 = no keys).
    pub(crate) first: i32,
    /// Last key index (negative counts from the end).
    pub(crate) last: i32,
    /// Key step.
    pub(crate) step: i32,
    /// Handler (None for containers whose subcommands do the work).
    pub(crate) run: Option<H>,
    /// Subcommands (non-empty for containers).
    pub(crate) subs: &'static [Spec<H>],
    /// Finds the keys of commands whose key positions depend on the
    /// arguments (`numkeys`, `STREAMS`); COMMAND shows them as movablekeys.
    pub(crate) keys_fn: Option<KeysFn>,
    /// What it does while a script is busy.
    pub(crate) while_busy: WhileBusy,
}

impl<H> Spec<H> {
    /// A command with fixed key positions `(first, last, step)`.
    pub(crate) const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        run: H,
    ) -> Spec<H> {
        Spec {
            name,
            arity,
            flags,
            first: keys.0,
            last: keys.1,
            step: keys.2,
            run: Some(run),
            subs: &[],
            keys_fn: None,
            while_busy: WhileBusy::Refuse,
        }
    }

    /// A command whose keys `keys_fn` finds.
    pub(crate) const fn movable(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys_fn: KeysFn,
        run: H,
    ) -> Spec<H> {
        Spec {
            name,
            arity,
            flags,
            first: 0,
            last: 0,
            step: 0,
            run: Some(run),
            subs: &[],
            keys_fn: Some(keys_fn),
            while_busy: WhileBusy::Refuse,
        }
    }

    /// A command with subcommands (`client`, `xgroup`).
    pub(crate) const fn container(
        name: &'static str,
        arity: i32,
        flags: u32,
        subs: &'static [Spec<H>],
    ) -> Spec<H> {
        Spec {
            name,
            arity,
            flags,
            first: 0,
            last: 0,
            step: 0,
            run: None,
            subs,
            keys_fn: None,
            while_busy: WhileBusy::Refuse,
        }
    }

    /// A container that also runs bare (COMMAND).
    pub(crate) const fn container_run(
        name: &'static str,
        arity: i32,
        flags: u32,
        subs: &'static [Spec<H>],
        run: H,
    ) -> Spec<H> {
        Spec {
            name,
            arity,
            flags,
            first: 0,
            last: 0,
            step: 0,
            run: Some(run),
            subs,
            keys_fn: None,
            while_busy: WhileBusy::Refuse,
        }
    }

    /// The same movable-keys command, showing `keys` as its legacy
    /// (first, last, step) in COMMAND INFO, as Redis shows the range of its
    /// first key spec (SORT: 1 1 1). Its keys are still found by its
    /// `keys_fn`.
    pub(crate) const fn shown_keys(mut self, keys: (i32, i32, i32)) -> Spec<H> {
        self.first = keys.0;
        self.last = keys.1;
        self.step = keys.2;
        self
    }

    /// The same command, with what it does while a script is busy.
    pub(crate) const fn while_busy(mut self, w: WhileBusy) -> Spec<H> {
        self.while_busy = w;
        self
    }

    /// Whether any flag of `f` is set.
    #[inline]
    pub(crate) fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Key positions of a request.
    pub(crate) fn key_indexes(&self, argv: &[Bytes]) -> Vec<usize> {
        if let Some(f) = self.keys_fn {
            return f(argv);
        }
        let argc = argv.len();
        if self.first <= 0 {
            return Vec::new();
        }
        let last = if self.last < 0 {
            argc as i32 + self.last
        } else {
            self.last.min(argc as i32 - 1)
        };
        let mut v = Vec::new();
        let mut i = self.first;
        while i <= last {
            v.push(i as usize);
            i += self.step.max(1);
        }
        v
    }

    /// Every runnable name: its own (unless it only holds subcommands), then
    /// its subcommands' `parent|sub`.
    pub(crate) fn runnable_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        let own = self.run.is_some().then_some(self.name);
        own.into_iter().chain(self.subs.iter().map(|x| x.name))
    }
}

// === key finders ===

fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Keys after `STREAMS` (XREAD, XREADGROUP): the first half of the rest.
/// Options are skipped with their arguments, so a group named "streams"
/// is not taken for the keyword (Redis's `xreadGetKeys`).
pub(crate) fn streams_keys(a: &[Bytes]) -> Vec<usize> {
    let mut i = 1;
    while i < a.len() {
        if is(&a[i], "block") || is(&a[i], "count") {
            i += 2;
        } else if is(&a[i], "group") {
            i += 3;
        } else if is(&a[i], "noack") {
            i += 1;
        } else if is(&a[i], "streams") {
            let first = i + 1;
            let n = (a.len() - first) / 2;
            return (first..first + n).collect();
        } else {
            // Redis finds the STREAMS keyword by searching for it (a key
            // spec), past words it does not know: so do we, or COMMAND
            // GETKEYS and the ACL key check would see no keys where it sees some.
            i += 1;
        }
    }
    vec![]
}

/// The `numkeys` keys after argument `at`; none if `numkeys` is not a
/// positive integer or counts past the end of the request. That is Redis's
/// `keynum` key spec: such a request has no keys (its ACL key check passes
/// and the command itself refuses it; COMMAND GETKEYS calls it invalid).
pub(crate) fn numkeys_at(a: &[Bytes], at: usize) -> Vec<usize> {
    let n = a
        .get(at)
        .and_then(|x| parse_i64(x))
        .filter(|&n| n > 0)
        .unwrap_or(0) as usize;
    let end = (at + 1).saturating_add(n);
    if n == 0 || end > a.len() {
        return Vec::new();
    }
    (at + 1..end).collect()
}

/// LMPOP / ZMPOP: `numkeys` is argument 1.
pub(crate) fn numkeys1(a: &[Bytes]) -> Vec<usize> {
    numkeys_at(a, 1)
}

/// BLMPOP / BZMPOP: `numkeys` is argument 2.
pub(crate) fn numkeys2(a: &[Bytes]) -> Vec<usize> {
    numkeys_at(a, 2)
}

/// ZUNIONSTORE and friends: the destination, then `numkeys` at argument 2
/// (no keys at all when `numkeys` is invalid, as in Redis).
pub(crate) fn dest_numkeys2(a: &[Bytes]) -> Vec<usize> {
    let rest = numkeys_at(a, 2);
    if rest.is_empty() {
        return rest;
    }
    let mut keys = vec![1];
    keys.extend(rest);
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|x| Bytes::copy_from_slice(x.as_bytes()))
            .collect()
    }

    #[test]
    fn movable_keys() {
        let a = argv("XREADGROUP GROUP streams c COUNT 5 STREAMS k1 k2 > >");
        assert_eq!(streams_keys(&a), vec![7, 8]);
        assert_eq!(streams_keys(&argv("XREAD STREAMS k 0")), vec![2]);
        assert_eq!(numkeys2(&argv("BLMPOP 0 2 a b LEFT")), vec![3, 4]);
        assert_eq!(numkeys1(&argv("ZMPOP 2 a b MIN")), vec![2, 3]);
        // More keys than the request holds: none, as in Redis.
        assert!(numkeys1(&argv("ZMPOP 5 a MIN")).is_empty());
        assert!(numkeys1(&argv("ZMPOP x a MIN")).is_empty());
        assert!(numkeys1(&argv("ZMPOP 9223372036854775807 a MIN")).is_empty());
        assert!(numkeys1(&argv("ZMPOP 4 a b MIN")).is_empty());
        assert!(dest_numkeys2(&argv("ZUNIONSTORE d 0 a")).is_empty());
        assert_eq!(dest_numkeys2(&argv("ZUNIONSTORE d 1 a")), vec![1, 3]);
    }
}
