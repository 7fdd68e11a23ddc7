//! Command-handler fuzzing: every command in our table gets a bounded number
//! of random argument vectors (fixed seeds), drawn from a pool of existing keys
//! of every type, missing keys, edge-case numbers, stream ids and the keywords
//! the handlers parse. After every request a reply must arrive within
//! [`REPLY_TIMEOUT`] and the connection must stay open; every
//! [`CHECK_EVERY`] requests `PING` must answer and the keys are reseeded.
//!
//! A second pass sends the same vectors of the deterministic commands to
//! redis-server and requires our reply to be an error iff redis-server's is
//! (see [`allowed_mismatch`] for the documented exceptions).
//!
//! A failure prints the base seed, the command and the argument vector;
//! `FUZZ_SEED=<hex> FUZZ_ONLY='<command>'` re-runs that command alone, and
//! `FUZZ_N=<count>` changes the vectors per command (for longer local runs).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{start_ours, start_redis};
use state::resp::{encode_command, parse_frame, Frame};

/// Random vectors per command (and per subcommand).
const PER_CMD: usize = 400;
/// A reply must arrive within this.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// PING and reseed this often.
const CHECK_EVERY: usize = 50;
const SEED: u64 = 0x5eed_b165_7e90;

/// splitmix64: tiny, stable across crate versions, good enough here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &'a [&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

/// `FUZZ_SEED` (hex) or the fixed seed.
fn base_seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(SEED)
}

/// `FUZZ_N` or the default vectors per command.
fn per_cmd(default: usize) -> usize {
    std::env::var("FUZZ_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn seed_for(name: &str, base: u64) -> u64 {
    // FNV-1a of the name, so each command's vectors do not depend on the
    // table order.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h ^ base
}

const KEYS: &[&str] = &[
    "str", "int", "flt", "list", "hash", "set", "iset", "zset", "lex", "stream", "exp", "bits",
    "missing", "nokey", "{t}a", "{t}b", "bigz", "bigl", "bigh", "bigs", "bigx",
];

/// Builds the big keys (past the small encodings, several stream nodes) in
/// one request.
const BIG_SEED: &str = "for i = 1, 300 do \
    redis.call('zadd', 'bigz', i, 'm' .. i) \
    redis.call('rpush', 'bigl', i) \
    redis.call('hset', 'bigh', 'f' .. i, i) \
    redis.call('sadd', 'bigs', i) \
    redis.call('xadd', 'bigx', i .. '-1', 'f', i) \
  end \
  redis.call('xgroup', 'create', 'bigx', 'g', '0') \
  redis.call('xreadgroup', 'group', 'g', 'c', 'count', 50, 'streams', 'bigx', '>') \
  return 1";

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "5",
    "10",
    "100",
    "-100",
    "1000",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "99999999999999999999999",
    "1e308",
    "-1e308",
    "1e309",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "0x10",
    " 1",
    "1 ",
    "",
    "0.5",
    "-0.5",
    "1.5",
    "-0",
    "00",
    "+1",
    "1e3",
    "3.0",
    "(1",
    "(2.5",
    "[a",
    "(a",
    "[",
    "(",
    "+",
    "-",
    "0.01",
    "17179869184",
    "536870912",
];

const IDS: &[&str] = &[
    "0-0",
    "0",
    "*",
    "$",
    ">",
    "+",
    "-",
    "1-1",
    "2-1",
    "3-1",
    "2",
    "1-*",
    "1-18446744073709551615",
    "18446744073709551615-18446744073709551615",
    "18446744073709551615-0",
    "18446744073709551615",
    "18446744073709551616-0",
    "(1-1",
    "(18446744073709551615-18446744073709551615",
    "(0-0",
    "-1-1",
    "1-",
    "-1",
    "1-x",
];

const KEYWORDS: &[&str] = &[
    "COUNT",
    "LIMIT",
    "WITHSCORES",
    "WITHSCORE",
    "BYSCORE",
    "BYLEX",
    "REV",
    "MATCH",
    "TYPE",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "GET",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "STREAMS",
    "GROUP",
    "BLOCK",
    "NOACK",
    "MAXLEN",
    "MINID",
    "~",
    "=",
    "IDLE",
    "TIME",
    "RETRYCOUNT",
    "FORCE",
    "JUSTID",
    "WEIGHTS",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "ALPHA",
    "DESC",
    "ASC",
    "BY",
    "STORE",
    "OVERFLOW",
    "WRAP",
    "SAT",
    "FAIL",
    "u8",
    "i64",
    "i65",
    "u63",
    "u64",
    "i1",
    "u0",
    "#1",
    "#0",
    "#-1",
    "SET",
    "INCRBY",
    "BIT",
    "BYTE",
    "AND",
    "OR",
    "XOR",
    "NOT",
    "WITHVALUES",
    "RANK",
    "MAXLEN",
    "LEN",
    "FULL",
    "ENTRIESREAD",
    "MKSTREAM",
    "NOMKSTREAM",
    "REPLACE",
    "DB",
    "PERSIST",
    "string",
    "list",
    "hash",
    "zset",
    "stream",
    "none",
    "STREAM",
    "GROUPS",
    "CONSUMERS",
    "CREATE",
    "SETID",
    "DESTROY",
    "CREATECONSUMER",
    "DELCONSUMER",
    "HELP",
    "ENCODING",
    "REFCOUNT",
    "IDLETIME",
    "FREQ",
    "USAGE",
    "SAMPLES",
    "LOAD",
    "EXISTS",
    "FLUSH",
    "ASYNC",
    "SYNC",
    "CHANNELS",
    "NUMSUB",
    "NUMPAT",
    "SETNAME",
    "GETNAME",
    "ID",
    "SETINFO",
    "LIST",
    "INFO",
    "KILL",
    "NO-EVICT",
    "NO-TOUCH",
    "ON",
    "OFF",
    "lib-name",
    "lib-ver",
    "USER",
    "ADDR",
    "LADDR",
    "SKIPME",
    "yes",
    "normal",
    "pubsub",
    "master",
    "replica",
    "AUTH",
    "default",
    "WHOAMI",
    "USERS",
    "SETUSER",
    "DELUSER",
    "CAT",
    "RESETSTAT",
    "REWRITE",
    "DOCS",
    "maxmemory",
    "maxmemory-policy",
    "allkeys-lru",
    "notify-keyspace-events",
    "KEA",
    "appendfsync",
    "always",
    "timeout",
    "maxclients",
    "requirepass",
    "save",
    "appendonly",
    "on",
    "off",
    ">pw",
    "<pw",
    "nopass",
    "resetpass",
    "+@all",
    "-@all",
    "+get",
    "-get",
    "+@read",
    "~*",
    "%R~*",
    "&*",
    "allkeys",
    "allchannels",
    "allcommands",
    "resetkeys",
    "reset",
    "+client|id",
    "GETKEYS",
    "server",
    "all",
    "keyspace",
    "clients",
    "memory",
    "stats",
    "everything",
    "*",
    "?",
    "h*",
    "[a-c]",
    "\\",
];

const OTHER: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "f",
    "v",
    "n",
    "fl",
    "g",
    "c2",
    "ch",
    "x",
    "hello",
    "\u{00e9}",
    "\x00",
    "a b",
    "return 1",
    "return redis.call('get', KEYS[1])",
    "return redis.pcall(unpack(ARGV))",
    "return redis.call(unpack(ARGV))",
    "return {KEYS[1], ARGV[1], redis.pcall('type', KEYS[1])}",
    "return redis.error_reply('x')",
    "return redis.status_reply(ARGV[1])",
    "error('boom')",
    "return {1, 2, {3, 'x', {err = 'e'}}}",
    "return tonumber(ARGV[1]) / 0",
    "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0",
    "ffffffffffffffffffffffffffffffffffffffff",
    "nosuchsub",
];

fn token(rng: &mut Rng) -> String {
    let r = rng.below(100);
    let t = if r < 30 {
        rng.pick(KEYS)
    } else if r < 55 {
        rng.pick(NUMBERS)
    } else if r < 62 {
        rng.pick(IDS)
    } else if r < 85 {
        rng.pick(KEYWORDS)
    } else {
        rng.pick(OTHER)
    };
    // Case-insensitive parsing: sometimes lowercase.
    if rng.below(4) == 0 {
        t.to_ascii_lowercase()
    } else {
        t.to_string()
    }
}

/// A blocking read with a deadline; distinguishes a hang from a close.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

#[derive(Debug)]
enum Got {
    Reply(Frame),
    Closed,
    Hang,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Client { s, buf: Vec::new() }
    }

    fn send(&mut self, argv: &[String]) -> bool {
        let mut out = bytes::BytesMut::new();
        encode_command(argv, &mut out);
        self.s.write_all(&out).is_ok()
    }

    fn read(&mut self, wait: Duration) -> Got {
        let deadline = Instant::now() + wait;
        loop {
            match parse_frame(&self.buf) {
                Ok(Some((f, n))) => {
                    self.buf.drain(..n);
                    return Got::Reply(f);
                }
                Ok(None) => {}
                Err(e) => panic!("invalid RESP from server: {e}"),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Got::Hang;
            }
            self.s.set_read_timeout(Some(left)).expect("timeout");
            let mut tmp = [0u8; 65536];
            match self.s.read(&mut tmp) {
                Ok(0) => return Got::Closed,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Got::Closed,
            }
        }
    }

    fn call(&mut self, argv: &[String]) -> Got {
        if !self.send(argv) {
            return Got::Closed;
        }
        self.read(REPLY_TIMEOUT)
    }

    /// A setup command that must work.
    fn must(&mut self, line: &str) -> Frame {
        let argv = words(line);
        match self.call(&argv) {
            Got::Reply(f) => f,
            other => panic!("setup `{line}`: {other:?}"),
        }
    }
}

fn words(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_string).collect()
}

fn is_err(f: &Frame) -> bool {
    matches!(f, Frame::Error(_))
}

const SEED_CMDS: &[&str] = &[
    "SET str hello",
    "SET int 42",
    "SET flt 3.5",
    "RPUSH list a b c 1 2 3 a",
    "HSET hash f v n 7 fl 1.5",
    "SADD set a b c 1 2",
    "SADD iset 1 2 3 100",
    "ZADD zset 1 a 2 b 3 c 4 d -5 e",
    "ZADD lex 0 a 0 b 0 c 0 d",
    "XADD stream 1-1 f v",
    "XADD stream 2-1 f v g w",
    "XADD stream 3-1 f v",
    "XGROUP CREATE stream g 0",
    "XREADGROUP GROUP g c COUNT 2 STREAMS stream >",
    "XGROUP CREATECONSUMER stream g c2",
    "SET exp v EX 100000",
    "SETBIT bits 7 1",
    "SET {t}a 1",
    "SADD {t}b x",
];

/// A command to fuzz: its name words and its Redis arity.
type Cmd = (Vec<String>, i64);

/// Every command name (subcommands as `container sub`) and arity, from `COMMAND`.
fn command_names(c: &mut Client) -> Vec<Cmd> {
    let Frame::Array(all) = c.must("COMMAND") else {
        panic!("COMMAND is not an array")
    };
    let mut out = Vec::new();
    for info in all {
        let Frame::Array(fields) = info else {
            panic!("COMMAND entry")
        };
        let name = match &fields[0] {
            Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            f => panic!("name {f:?}"),
        };
        let subs = match fields.get(9) {
            Some(Frame::Array(s)) => s.clone(),
            _ => vec![],
        };
        let arity = match &fields[1] {
            Frame::Integer(n) => *n,
            f => panic!("arity {f:?}"),
        };
        if subs.is_empty() {
            out.push((vec![name.clone()], arity));
        }
        for s in subs {
            let Frame::Array(sf) = s else { continue };
            if let (Frame::Bulk(b), Frame::Integer(arity)) = (&sf[0], &sf[1]) {
                let full = String::from_utf8_lossy(b).into_owned();
                let sub = full.split('|').nth(1).unwrap_or("").to_string();
                out.push((vec![name.clone(), sub], *arity));
            }
        }
    }
    out.sort();
    out
}

/// A number as redis-server's `strtold` reads a timeout (hex included).
fn is_num(t: &str) -> Option<f64> {
    let (neg, u) = match t.strip_prefix('-') {
        Some(u) => (true, u),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let hex = u.strip_prefix("0x").or_else(|| u.strip_prefix("0X"));
    let v = match hex {
        Some(h) => u64::from_str_radix(h, 16).ok()? as f64,
        None => u.parse::<f64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Bounds what must be bounded: blocking timeouts, and CLIENT KILL of the
/// fuzzing connection itself.
fn sanitize(argv: &mut [String], own_id: &str) {
    let name = argv[0].to_ascii_lowercase();
    let fix_secs = |t: &mut String| {
        if let Some(x) = is_num(t.trim()) {
            if x.is_finite() && (x == 0.0 || x > 0.05) {
                *t = "0.01".into();
            }
        }
    };
    let fix_ms = |t: &mut String| {
        if let Some(x) = is_num(t.trim()) {
            if x.is_finite() && (x == 0.0 || x > 50.0) {
                *t = "10".into();
            }
        }
    };
    let n = argv.len();
    match name.as_str() {
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" | "brpoplpush" | "blmove" if n > 1 => {
            fix_secs(&mut argv[n - 1])
        }
        "blmpop" | "bzmpop" if n > 1 => fix_secs(&mut argv[1]),
        "wait" if n > 2 => fix_ms(&mut argv[2]),
        "xread" | "xreadgroup" => {
            for i in 1..n {
                if argv[i - 1].eq_ignore_ascii_case("block") {
                    fix_ms(&mut argv[i]);
                }
            }
        }
        "client" if n > 1 && argv[1].eq_ignore_ascii_case("kill") => {
            for t in argv.iter_mut().skip(2) {
                if t.trim() == own_id || t.eq_ignore_ascii_case("no") {
                    *t = "999999".into();
                }
            }
        }
        _ => {}
    }
}

fn gen_argv(rng: &mut Rng, base: &[String], arity: i64, own_id: &str) -> Vec<String> {
    let mut argv = base.to_vec();
    // Mostly an argument count the arity check lets through, so the
    // handler's own parsing runs; sometimes anything from 0 to 10.
    let fixed = (arity.unsigned_abs() as usize).saturating_sub(base.len());
    let n = if rng.below(10) < 3 {
        rng.below(11)
    } else if arity > 0 {
        fixed
    } else {
        fixed + rng.below(8)
    };
    // One vector in four leans on edge numbers (counts, offsets, ranks).
    let numeric = rng.below(4) == 0;
    for i in 0..n {
        // The first argument is a key most of the time.
        if i == 0 && rng.below(10) < 6 {
            argv.push(rng.pick(KEYS).to_string());
        } else if numeric && rng.below(10) < 6 {
            argv.push(rng.pick(NUMBERS).to_string());
        } else {
            argv.push(token(rng));
        }
    }
    sanitize(&mut argv, own_id);
    argv
}

/// Well-formed command lines from the conformance suites, to mutate.
const CORPUS_SOURCES: &[&str] = &[
    include_str!("commands.rs"),
    include_str!("conformance.rs"),
    include_str!("streams.rs"),
    include_str!("acl.rs"),
];

/// Corpus lines per command (`name` or `container sub`, lowercase).
type Corpus = std::collections::HashMap<String, Vec<Vec<String>>>;

fn corpus(cmds: &[Cmd]) -> Corpus {
    let known: std::collections::HashSet<String> = cmds.iter().map(|(b, _)| b.join(" ")).collect();
    let mut out = Corpus::new();
    let mut add = |line: &str| {
        let line = line.trim().trim_start_matches(['~', '%', '?', '!']).trim();
        let Some(args) = state::resp::split_args(line.as_bytes()) else {
            return;
        };
        let argv: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some(first) = argv.first() else { return };
        let one = first.to_ascii_lowercase();
        let two = argv
            .get(1)
            .map(|s| format!("{one} {}", s.to_ascii_lowercase()));
        let name = if known.contains(&one) {
            one
        } else if let Some(t) = two.filter(|t| known.contains(t)) {
            t
        } else {
            return;
        };
        out.entry(name).or_default().push(argv);
    };
    for src in CORPUS_SOURCES {
        for line in src.lines() {
            let mut rest = line;
            let mut found = false;
            while let Some(i) = rest.find("cmd(\"") {
                let tail = &rest[i + 5..];
                if let Some(j) = tail.find('"') {
                    add(&tail[..j]);
                    found = true;
                    rest = &tail[j..];
                } else {
                    break;
                }
            }
            if !found {
                add(line);
            }
        }
    }
    out
}

/// A corpus line with a few random edits: tokens replaced by pool tokens
/// (keys of every type at the key position), inserted, deleted, duplicated.
fn mutate(rng: &mut Rng, line: &[String], base: &[String], own_id: &str) -> Vec<String> {
    let fixed = base.len();
    let mut argv: Vec<String> = base.to_vec();
    argv.extend(line.iter().skip(fixed).cloned());
    // The key position usually names one of the seeded keys.
    if argv.len() > fixed && rng.below(10) < 7 {
        argv[fixed] = rng.pick(KEYS).to_string();
    }
    let edits = 1 + rng.below(3);
    for _ in 0..edits {
        let len = argv.len();
        match rng.below(6) {
            0 | 1 if len > fixed => {
                let i = fixed + rng.below(len - fixed);
                argv[i] = token(rng);
            }
            2 => {
                let i = fixed + rng.below(len - fixed + 1);
                argv.insert(i, token(rng));
            }
            3 if len > fixed => {
                let i = fixed + rng.below(len - fixed);
                argv.remove(i);
            }
            4 if len > fixed => {
                let i = fixed + rng.below(len - fixed);
                let t = argv[i].clone();
                argv.insert(i, t);
            }
            _ if len > fixed => {
                // An edge number in place of whatever was there.
                let i = fixed + rng.below(len - fixed);
                argv[i] = rng.pick(NUMBERS).to_string();
            }
            _ => argv.push(token(rng)),
        }
    }
    argv.truncate(fixed + 14);
    sanitize(&mut argv, own_id);
    argv
}

fn show(argv: &[String]) -> String {
    argv.iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Commands not fuzzed at all.
fn skipped(base: &[String]) -> bool {
    // QUIT closes the connection and SHUTDOWN stops the server, by design
    // (SHUTDOWN's refusals are in conformance.rs, its stops in
    // crates/bigstep/tests/state_shutdown.rs).
    base[0] == "quit"
        || base[0] == "shutdown"
        // CLIENT PAUSE stops every client for as long as a random timeout
        // says, CLIENT REPLY OFF / SKIP silences the fuzzing connection: both
        // compared with redis-server in client_control.rs.
        || (base[0] == "client" && base.get(1).is_some_and(|s| s == "pause" || s == "reply"))
}

/// Pub/sub context commands: run on their own connection, then RESET.
fn is_subscribe(base: &[String]) -> bool {
    matches!(
        base[0].as_str(),
        "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "ssubscribe" | "sunsubscribe"
    )
}

/// Commands after which the connection/user/config state is restored.
fn needs_restore(base: &[String]) -> bool {
    matches!(
        base[0].as_str(),
        "multi"
            | "exec"
            | "select"
            | "hello"
            | "auth"
            | "reset"
            | "acl"
            | "config"
            | "client"
            | "eval"
            | "evalsha"
            | "monitor"
    )
}

/// How a fuzzed request is sent.
#[derive(Clone, Copy)]
enum Wrap {
    Plain,
    /// `EVAL "return redis.pcall(unpack(ARGV))" 0 argv...`
    Script,
    /// `MULTI`, the request, `EXEC`.
    Multi,
}

/// Commands that may also run inside a script or MULTI in the fuzz.
fn wrappable(base: &[String]) -> bool {
    !needs_restore(base)
        && !is_subscribe(base)
        && !matches!(
            base[0].as_str(),
            "multi" | "exec" | "discard" | "watch" | "unwatch" | "quit" | "reset"
        )
}

struct Fuzz {
    addr: SocketAddr,
    proto: u8,
    c: Client,
    /// Authenticated as `fuzzadmin`, which the fuzz never names: restores
    /// the default user and the config.
    admin: Client,
    sub: Client,
    own_id: String,
    failures: Vec<String>,
    requests: usize,
    /// The command being fuzzed (for failure messages).
    current: String,
}

impl Fuzz {
    fn new(addr: SocketAddr, proto: u8) -> Fuzz {
        let mut admin = Client::connect(addr);
        admin.must("ACL SETUSER fuzzadmin on >adminpw ~* &* +@all");
        admin.must("AUTH fuzzadmin adminpw");
        admin.must("CLIENT SETNAME fuzzadmin");
        let mut f = Fuzz {
            addr,
            proto,
            c: Client::connect(addr),
            admin,
            sub: Client::connect(addr),
            own_id: String::new(),
            failures: Vec::new(),
            requests: 0,
            current: String::new(),
        };
        f.setup_main();
        f.hello_sub();
        f
    }

    fn setup_main(&mut self) {
        if self.proto == 3 {
            self.c.must("HELLO 3");
        }
        self.own_id = match self.c.must("CLIENT ID") {
            Frame::Integer(n) => n.to_string(),
            f => panic!("CLIENT ID: {f:?}"),
        };
    }

    fn hello_sub(&mut self) {
        if self.proto == 3 {
            self.sub.must("HELLO 3");
        }
    }

    /// A command on the admin connection, which CLIENT KILL may have closed
    /// (legitimately): reconnect once.
    fn admin_must(&mut self, line: &str) -> Frame {
        if let Got::Reply(f) = self.admin.call(&words(line)) {
            return f;
        }
        self.admin = Client::connect(self.addr);
        self.admin.must("AUTH fuzzadmin adminpw");
        self.admin.must(line)
    }

    fn reseed(&mut self) {
        self.admin_must("FLUSHALL");
        for line in SEED_CMDS {
            let f = self.admin_must(line);
            assert!(!is_err(&f), "seed `{line}`: {f:?}");
        }
        let big = ["EVAL".to_string(), BIG_SEED.to_string(), "0".to_string()];
        match self.admin.call(&big) {
            Got::Reply(f) if !is_err(&f) => {}
            other => panic!("big seed: {other:?}"),
        }
    }

    fn restore_server(&mut self) {
        // Users the fuzz created (a connection authenticated as one of them
        // is not ours to keep).
        if let Frame::Array(users) = self.admin_must("ACL USERS") {
            for u in users {
                if let Frame::Bulk(b) = u {
                    if b != "default" && b != "fuzzadmin" {
                        let name = String::from_utf8_lossy(&b).into_owned();
                        let _ = self.admin.call(&["ACL".into(), "DELUSER".into(), name]);
                    }
                }
            }
        }
        for line in [
            "ACL SETUSER default reset on nopass ~* &* +@all",
            "CONFIG SET maxmemory 0 maxmemory-policy noeviction notify-keyspace-events  appendfsync everysec timeout 0 maxclients 10000",
            "CONFIG SET requirepass ",
        ] {
            let f = self.admin_must(line);
            assert!(!is_err(&f), "restore `{line}`: {f:?}");
        }
    }

    /// Back to a fresh fuzzing connection state: RESET (out of MULTI,
    /// WATCH, db 0, RESP2, the default user), then the protocol under test.
    fn restore_conn(&mut self) -> Result<(), String> {
        self.admin_must("ACL SETUSER default reset on nopass ~* &* +@all");
        match self.c.call(&words("RESET")) {
            Got::Reply(Frame::Simple(s)) if s == "RESET" => {}
            other => return Err(format!("restore `RESET`: {other:?}")),
        }
        self.restore_server();
        if self.proto == 3 {
            match self.c.call(&words("HELLO 3")) {
                Got::Reply(f) if !is_err(&f) => {}
                other => return Err(format!("restore `HELLO 3`: {other:?}")),
            }
        }
        Ok(())
    }

    fn fail(&mut self, seed: u64, argv: &[String], what: &str) {
        let msg = format!(
            "RESP{} FUZZ_SEED={:x} FUZZ_ONLY='{}' (rng {seed:#x}): {} -> {what}",
            self.proto,
            base_seed(),
            self.current,
            show(argv)
        );
        eprintln!("FAIL {msg}");
        self.failures.push(msg);
    }

    /// The server must still answer a new connection; aborts the test if not.
    fn reconnect(&mut self) {
        let mut probe = Client::connect(self.addr);
        match probe.call(&words("PING")) {
            Got::Reply(Frame::Simple(s)) if s == "PONG" => {}
            other => panic!(
                "server no longer answers a new connection ({other:?}); failures so far:\n{}",
                self.failures.join("\n")
            ),
        }
        self.c = Client::connect(self.addr);
        self.setup_main();
        let _ = self.restore_conn();
    }

    fn run_subscribe(&mut self, seed: u64, argv: &[String]) {
        // One reply per channel argument (at least one).
        let want = argv.len().saturating_sub(1).max(1);
        if !self.sub.send(argv) {
            self.fail(seed, argv, "connection closed");
        }
        for i in 0..want {
            match self.sub.read(REPLY_TIMEOUT) {
                Got::Reply(Frame::Error(_)) if i == 0 => break,
                Got::Reply(_) => {}
                other => {
                    self.fail(seed, argv, &format!("reply {i} of {want}: {other:?}"));
                    self.sub = Client::connect(self.addr);
                    self.hello_sub();
                    return;
                }
            }
        }
        self.sub.send(&words("RESET"));
        loop {
            match self.sub.read(REPLY_TIMEOUT) {
                Got::Reply(Frame::Simple(s)) if s == "RESET" => break,
                Got::Reply(_) => {}
                other => {
                    self.fail(seed, argv, &format!("RESET after it: {other:?}"));
                    self.sub = Client::connect(self.addr);
                    break;
                }
            }
        }
        self.hello_sub();
    }

    fn ping_and_reseed(&mut self, seed: u64, last: &[String]) {
        match self.c.call(&words("PING")) {
            Got::Reply(Frame::Simple(s)) if s == "PONG" => {}
            other => {
                self.fail(seed, last, &format!("PING after it: {other:?}"));
                self.reconnect();
            }
        }
        self.reseed();
    }

    fn one(&mut self, seed: u64, base: &[String], argv: &[String], wrap: Wrap) {
        self.requests += 1;
        if is_subscribe(base) {
            self.run_subscribe(seed, argv);
            return;
        }
        // The request as sent: alone, through a script, or queued in MULTI.
        let sent: Vec<Vec<String>> = match wrap {
            Wrap::Plain => vec![argv.to_vec()],
            Wrap::Script => {
                let mut e = words("EVAL");
                e.push("return redis.pcall(unpack(ARGV))".into());
                e.push("0".into());
                e.extend(argv.iter().cloned());
                vec![e]
            }
            Wrap::Multi => vec![words("MULTI"), argv.to_vec(), words("EXEC")],
        };
        let shown: Vec<String> = match wrap {
            Wrap::Plain => argv.to_vec(),
            Wrap::Script => sent[0].clone(),
            Wrap::Multi => [words("MULTI ;"), argv.to_vec(), words("; EXEC")].concat(),
        };
        for req in &sent {
            if !self.c.send(req) {
                break;
            }
        }
        for _ in &sent {
            match self.c.read(REPLY_TIMEOUT) {
                Got::Reply(_) => {}
                Got::Closed => {
                    self.fail(seed, &shown, "connection closed (handler panic?)");
                    self.reconnect();
                    return;
                }
                Got::Hang => {
                    self.fail(seed, &shown, &format!("no reply within {REPLY_TIMEOUT:?}"));
                    self.reconnect();
                    return;
                }
            }
        }
        if needs_restore(base) {
            if let Err(e) = self.restore_conn() {
                self.fail(seed, &shown, &e);
                self.reconnect();
            }
        }
        if base[0] == "flushall" || base[0] == "flushdb" {
            self.reseed();
        }
    }

    fn run(&mut self, cmds: &[Cmd], per_cmd: usize) {
        let corpus = corpus(cmds);
        let empty = Vec::new();
        let only = std::env::var("FUZZ_ONLY").ok();
        let base_seed = base_seed();
        for (base, arity) in cmds {
            let name = base.join(" ");
            if skipped(base)
                || only
                    .as_ref()
                    .is_some_and(|o| !o.eq_ignore_ascii_case(&name))
            {
                continue;
            }
            let seed = seed_for(&name, base_seed) ^ self.proto as u64;
            self.current = name.clone();
            let mut rng = Rng(seed);
            if is_subscribe(base) {
                // CLIENT KILL TYPE pubsub and the like may have closed it.
                self.sub = Client::connect(self.addr);
                self.hello_sub();
            }
            self.reseed();
            let mut last = base.clone();
            for i in 0..per_cmd {
                let lines = corpus.get(&name).unwrap_or(&empty);
                let argv = if !lines.is_empty() && rng.below(2) == 0 {
                    let line = &lines[rng.below(lines.len())];
                    mutate(&mut rng, line, base, &self.own_id)
                } else {
                    gen_argv(&mut rng, base, *arity, &self.own_id)
                };
                // One in ten through EVAL's redis.pcall, one in ten in
                // MULTI/EXEC (not the commands that change the connection).
                let wrap = match rng.below(10) {
                    0 if wrappable(base) => Wrap::Script,
                    1 if wrappable(base) => Wrap::Multi,
                    _ => Wrap::Plain,
                };
                self.one(seed, base, &argv, wrap);
                last = argv;
                if (i + 1) % CHECK_EVERY == 0 {
                    self.ping_and_reseed(seed, &last);
                }
            }
            self.ping_and_reseed(seed, &last);
        }
    }
}

fn fuzz_mode(proto: u8) {
    let started = Instant::now();
    let ours = start_ours(state::Config::default());
    let mut f = Fuzz::new(ours.addr, proto);
    let cmds = command_names(&mut f.c);
    assert!(cmds.len() > 150, "command table: {}", cmds.len());
    f.run(&cmds, per_cmd(PER_CMD));
    eprintln!(
        "RESP{proto}: {} commands, {} requests in {:?}",
        cmds.len(),
        f.requests,
        started.elapsed()
    );
    assert!(
        f.failures.is_empty(),
        "{} failures (base seed {:#x}):\n{}",
        f.failures.len(),
        base_seed(),
        f.failures.join("\n")
    );
}

#[test]
fn fuzz_commands_resp2() {
    fuzz_mode(2);
}

#[test]
fn fuzz_commands_resp3() {
    fuzz_mode(3);
}

/// Vectors per command in the redis-server comparison.
const PER_CMD_COMPARE: usize = 200;

/// Commands left out of the comparison: they depend on time, randomness
/// that changes the keyspace, the connection or server configuration, or
/// write files in redis-server's working directory.
fn compare_skipped(base: &[String]) -> bool {
    let name = base.join(" ");
    matches!(
        name.as_str(),
        "quit"
            | "reset"
            | "hello"
            | "auth"
            | "spop"
            | "save"
            | "bgsave"
            | "bgrewriteaof"
            | "time"
            | "lastsave"
            | "config set"
            | "config rewrite"
            | "config resetstat"
            | "acl setuser"
            | "acl deluser"
            | "memory usage"
            // Its stream of lines is compared in conformance.rs `monitor`.
            | "monitor"
    ) || base[0] == "client"
        || is_subscribe(base)
}

/// Vectors redis-server itself cannot survive in a test: a random-members
/// count it would try to satisfy (we refuse counts past 100 million).
fn compare_unsafe(argv: &[String]) -> bool {
    let name = argv[0].to_ascii_lowercase();
    // redis-server's PFSELFTEST runs for 1.4 s of CPU on this machine when
    // it is busy, past the reply limit; its answer is OK on both (hll.rs).
    if name == "pfselftest" && argv.len() == 1 {
        return true;
    }
    matches!(name.as_str(), "srandmember" | "hrandfield" | "zrandmember")
        && argv
            .get(2)
            .and_then(|c| c.parse::<i64>().ok())
            .is_some_and(|c| c.unsigned_abs() > 1_000_000)
}

/// Documented error-vs-success differences from redis-server 7.0.15 that are
/// intended (7.2 behaviour) or unimportant.
fn allowed_mismatch(argv: &[String], redis: &Frame, ours: &Frame) -> bool {
    let name = argv[0].to_ascii_lowercase();
    let missing = |k: &str| matches!(k, "missing" | "nokey") || !KEYS.contains(&k);
    match name.as_str() {
        // Redis 7.2 (#11734): BITCOUNT / BITPOS on a missing key parse their
        // arguments and report errors; 7.0 answers 0 / -1 first.
        "bitcount" | "bitpos" => {
            missing(&argv[1]) && matches!(redis, Frame::Integer(_)) && is_err(ours)
        }
        _ => false,
    }
}

#[test]
fn compare_error_replies_with_redis() {
    let started = Instant::now();
    let redis = start_redis(&[]);
    let ours = start_ours(state::Config::default());
    let mut r = Client::connect(redis.addr);
    let mut o = Client::connect(ours.addr);
    let cmds = command_names(&mut o);
    let corpus = corpus(&cmds);
    let empty = Vec::new();
    let only = std::env::var("FUZZ_ONLY").ok();
    let reseed = |r: &mut Client, o: &mut Client| {
        for c in [&mut *r, &mut *o] {
            c.must("FLUSHALL");
            for line in SEED_CMDS {
                let f = c.must(line);
                assert!(!is_err(&f), "seed `{line}`: {f:?}");
            }
            let big = ["EVAL".to_string(), BIG_SEED.to_string(), "0".to_string()];
            match c.call(&big) {
                Got::Reply(f) if !is_err(&f) => {}
                other => panic!("big seed: {other:?}"),
            }
        }
    };
    let mut mismatches: Vec<String> = Vec::new();
    let mut requests = 0;
    for (base, arity) in &cmds {
        let name = base.join(" ");
        if skipped(base)
            || compare_skipped(base)
            || only
                .as_ref()
                .is_some_and(|x| !x.eq_ignore_ascii_case(&name))
        {
            continue;
        }
        let seed = seed_for(&name, base_seed()) ^ 0xc0;
        let mut rng = Rng(seed);
        reseed(&mut r, &mut o);
        let lines = corpus.get(&name).unwrap_or(&empty);
        for i in 0..per_cmd(PER_CMD_COMPARE) {
            let argv = if !lines.is_empty() && rng.below(2) == 0 {
                let line = &lines[rng.below(lines.len())];
                mutate(&mut rng, line, base, "999999")
            } else {
                gen_argv(&mut rng, base, *arity, "999999")
            };
            if compare_unsafe(&argv) {
                continue;
            }
            requests += 1;
            let a = match r.call(&argv) {
                Got::Reply(f) => f,
                other => panic!("redis-server: {} -> {other:?}", show(&argv)),
            };
            let b = match o.call(&argv) {
                Got::Reply(f) => f,
                other => panic!(
                    "FUZZ_SEED={:x} FUZZ_ONLY='{name}': ours: {} -> {other:?}",
                    base_seed(),
                    show(&argv)
                ),
            };
            if is_err(&a) != is_err(&b) && !allowed_mismatch(&argv, &a, &b) {
                let msg = format!(
                    "FUZZ_SEED={:x} FUZZ_ONLY='{name}': {}\n    redis-server: {a:?}\n    ours:         {b:?}",
                    base_seed(),
                    show(&argv)
                );
                eprintln!("MISMATCH {msg}");
                mismatches.push(msg);
            }
            for line in ["DISCARD", "SELECT 0"] {
                if matches!(base[0].as_str(), "multi" | "select" | "exec") {
                    r.must(line);
                    o.must(line);
                }
            }
            if matches!(base[0].as_str(), "flushall" | "flushdb") || (i + 1) % CHECK_EVERY == 0 {
                reseed(&mut r, &mut o);
            }
        }
    }
    eprintln!(
        "compare: {requests} requests in {:?}, {} mismatches",
        started.elapsed(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} error-vs-success mismatches with redis-server:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
