//! MIGRATE: moves keys to another Redis-protocol server (Redis, Valkey, a
//! Redis Cluster node, another bigstep state) with DUMP payloads and
//! RESTORE, as Redis's own MIGRATE does; `redis-cli --cluster import` is
//! built on it.
//!
//! Like Redis's, it is synchronous: the server waits for the target (at most
//! `timeout` ms per step) with the keyspace locked, so the keys cannot change
//! between being sent and being deleted here. Also like Redis's, the
//! connection to each target is kept for the next MIGRATE (`SELECT` only
//! when the database changes; an AUTH given once stays in force on it) and
//! closed after 10 s unused (`INFO stats` `migrate_cached_sockets`).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::args::{int, is, syntax};
use super::ctx::{Ctx, R};
use crate::rdb;
use crate::resp::{encode_command, Reply};
use crate::store::{notify, MigrateSocket};

/// Key positions: argument 3, or everything after `KEYS` (Redis's
/// `migrateGetKeys`, skipping the arguments of AUTH and AUTH2).
pub(crate) fn migrate_keys(a: &[Bytes]) -> Vec<usize> {
    let mut i = 6;
    while i < a.len() {
        if is(&a[i], "keys") {
            if !a[3].is_empty() {
                return Vec::new();
            }
            return (i + 1..a.len()).collect();
        }
        if is(&a[i], "auth") {
            i += 1;
        } else if is(&a[i], "auth2") {
            i += 2;
        }
        i += 1;
    }
    if a.len() > 3 && !a[3].is_empty() {
        vec![3]
    } else {
        Vec::new()
    }
}

fn ioerr(what: &str) -> Reply {
    Reply::Error(format!("IOERR error or timeout {what} to target instance"))
}

/// `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS k...]`
pub(super) fn migrate(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<Vec<Bytes>> = None;
    let mut keys: Vec<Bytes> = vec![a[3].clone()];
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if is(&a[j], "copy") {
            copy = true;
        } else if is(&a[j], "replace") {
            replace = true;
        } else if is(&a[j], "auth") {
            if more < 1 {
                return Err(syntax());
            }
            auth = Some(vec![a[j + 1].clone()]);
            j += 1;
        } else if is(&a[j], "auth2") {
            if more < 2 {
                return Err(syntax());
            }
            auth = Some(vec![a[j + 1].clone(), a[j + 2].clone()]);
            j += 2;
        } else if is(&a[j], "keys") {
            if !a[3].is_empty() {
                return Err(Reply::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys = a[j + 1..].to_vec();
            break;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let timeout = int(&a[5])?;
    let dbid = int(&a[4])?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });

    // The keys that exist, with their payloads and remaining TTLs; a key
    // whose TTL ran out meanwhile is skipped, as Redis skips it.
    let mut found: Vec<(Bytes, Vec<u8>, i64)> = Vec::new();
    let lzf = super::dump::compression(ctx.s);
    for k in &keys {
        let Some(v) = ctx.lookup(k) else { continue };
        let payload = rdb::dump(v, lzf);
        let ttl = match ctx.get_expire(k) {
            Some(at) => {
                let left = at as i64 - ctx.now as i64;
                if left < 0 {
                    continue;
                }
                left.max(1)
            }
            None => 0,
        };
        found.push((k.clone(), payload, ttl));
    }
    if found.is_empty() {
        return Ok(Reply::Status("NOKEY".into()));
    }

    let host = String::from_utf8_lossy(&a[1]).into_owned();
    let port = String::from_utf8_lossy(&a[2]).into_owned();
    let name = format!("{host}:{port}");
    // As Redis's migrateCommand: a broken cached connection (not a
    // timeout) is retried once on a fresh one, unless the RESTORE replies
    // had begun.
    let mut may_retry = true;
    loop {
        let mut cs = match ctx.s.migrate_sockets.remove(&name) {
            Some(cs) => cs,
            None => match connect(&host, &port, timeout) {
                Ok(stream) => MigrateSocket {
                    stream,
                    last_dbid: -1,
                    last_use: Instant::now(),
                },
                // Redis connects without blocking and sees a refusal only
                // when it writes: that is the error it gives.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    if std::mem::take(&mut may_retry) {
                        continue;
                    }
                    return Err(ioerr("writing"));
                }
                Err(_) => {
                    return Err(Reply::Error(
                        "IOERR error or timeout connecting to the client".into(),
                    ))
                }
            },
        };
        cs.last_use = Instant::now();
        let select = cs.last_dbid != dbid;
        let out = requests(auth.as_deref(), select.then_some(dbid), &found, replace);
        let step = exchange(
            &cs.stream,
            &out,
            auth.is_some(),
            select,
            found.len(),
            timeout,
        );
        let replies = match step {
            Exchange::Replies(r) | Exchange::Partial(r) => r,
            Exchange::Failed { writing, timed_out } => {
                // The connection is dropped (closed): SELECT next time.
                if !timed_out && std::mem::take(&mut may_retry) {
                    continue;
                }
                return Err(ioerr(if writing { "writing" } else { "reading" }));
            }
        };
        let complete = replies.len() == found.len();
        // An AUTH or SELECT error fails every key; a RESTORE error fails its
        // own key (the first error is the reply), as in Redis.
        let mut first_error: Option<String> = None;
        let mut moved = Vec::new();
        for ((k, _, _), line) in found.iter().zip(&replies) {
            let failed = line
                .pre_error
                .as_ref()
                .or(line.restore.starts_with('-').then_some(&line.restore));
            if let Some(e) = failed {
                first_error.get_or_insert_with(|| e.clone());
            } else if !copy {
                moved.push(k.clone());
            }
        }
        // Keys the target acknowledged leave here (and the log gets a DEL).
        if !moved.is_empty() {
            for k in &moved {
                ctx.del_key(k);
                ctx.notify(notify::GENERIC, "del", k);
            }
            ctx.dirty(moved.len() as u64);
            let mut argv = vec![Bytes::from_static(b"DEL")];
            argv.extend(moved);
            ctx.propagate(argv);
        }
        if let Some(e) = first_error {
            // After an error the selected database is not known.
            cs.last_dbid = -1;
            keep(ctx, name, cs);
            return Err(Reply::err(format!(
                "Target instance replied with error: {}",
                &e[1..]
            )));
        }
        if !complete {
            // A socket error once the replies had begun: not retried.
            return Err(ioerr("reading"));
        }
        cs.last_dbid = dbid;
        keep(ctx, name, cs);
        return Ok(Reply::Ok);
    }
}

/// Puts a connection back in the cache; at Redis's limit of 64 one other
/// is closed first.
fn keep(ctx: &mut Ctx<'_>, name: String, cs: MigrateSocket) {
    let cache = &mut ctx.s.migrate_sockets;
    if cache.len() >= 64 {
        if let Some(old) = cache.keys().next().cloned() {
            cache.remove(&old);
        }
    }
    cache.insert(name, cs);
}

/// AUTH (if given), SELECT (if the connection is not on `db` already) and
/// one RESTORE per key, as one write.
fn requests(
    auth: Option<&[Bytes]>,
    db: Option<i64>,
    found: &[(Bytes, Vec<u8>, i64)],
    replace: bool,
) -> BytesMut {
    let mut out = BytesMut::new();
    if let Some(auth) = auth {
        let mut argv = vec![Bytes::from_static(b"AUTH")];
        argv.extend(auth.iter().cloned());
        encode_command(&argv, &mut out);
    }
    if let Some(db) = db {
        encode_command(
            &[Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())],
            &mut out,
        );
    }
    for (k, payload, ttl) in found {
        let mut argv = vec![
            Bytes::from_static(b"RESTORE"),
            k.clone(),
            Bytes::from(ttl.to_string()),
            Bytes::from(payload.clone()),
        ];
        if replace {
            argv.push(Bytes::from_static(b"REPLACE"));
        }
        encode_command(&argv, &mut out);
    }
    out
}

/// One key's answer: the AUTH or SELECT error that fails it, and its
/// RESTORE reply line.
struct KeyReply {
    pre_error: Option<String>,
    restore: String,
}

/// What came back from the target.
enum Exchange {
    /// Every RESTORE answered.
    Replies(Vec<KeyReply>),
    /// The write, or the AUTH/SELECT replies, failed.
    Failed { writing: bool, timed_out: bool },
    /// Some RESTORE replies, then the connection failed.
    Partial(Vec<KeyReply>),
}

/// Writes the requests and reads the replies, each step within `timeout`
/// as each of Redis's blocking reads is.
fn exchange(
    stream: &TcpStream,
    out: &[u8],
    auth: bool,
    select: bool,
    keys: usize,
    timeout: Duration,
) -> Exchange {
    let mut w = stream;
    if stream.set_write_timeout(Some(timeout)).is_err() {
        return Exchange::Failed {
            writing: true,
            timed_out: false,
        };
    }
    if let Err(e) = w.write_all(out) {
        return Exchange::Failed {
            writing: true,
            timed_out: is_timeout(&e),
        };
    }
    let mut reader = BufReader::new(stream);
    let mut read_line = || -> Result<String, bool> {
        stream.set_read_timeout(Some(timeout)).map_err(|_| false)?;
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with('\n') => {
                Ok(line.trim_end_matches(['\r', '\n']).to_string())
            }
            Ok(_) => Err(false),
            Err(e) => Err(is_timeout(&e)),
        }
    };
    let mut pre_error = None;
    for _ in 0..usize::from(auth) + usize::from(select) {
        match read_line() {
            Ok(line) => {
                if line.starts_with('-') && pre_error.is_none() {
                    pre_error = Some(line);
                }
            }
            Err(timed_out) => {
                return Exchange::Failed {
                    writing: false,
                    timed_out,
                }
            }
        }
    }
    let mut replies = Vec::with_capacity(keys);
    for _ in 0..keys {
        match read_line() {
            Ok(restore) => replies.push(KeyReply {
                pre_error: pre_error.clone(),
                restore,
            }),
            Err(_) => return Exchange::Partial(replies),
        }
    }
    Exchange::Replies(replies)
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn connect(host: &str, port: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    use std::io::{Error, ErrorKind};
    let port: u16 = port
        .parse()
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "bad port"))?;
    let mut last = Error::new(ErrorKind::NotFound, "no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}
