//! MIGRATE: moves keys to another Redis-protocol server (Redis, Valkey, a
//! Redis Cluster node, another bigstep state) with DUMP payloads and
//! RESTORE, as Redis's own MIGRATE does; `redis-cli --cluster import` is
//! built on it.
//!
//! Like Redis's, it is synchronous: the server waits for the target (at most
//! `timeout` ms per step) with the keyspace locked, so the keys cannot change
//! between being sent and being deleted here. Unlike Redis we open a fresh
//! connection per call instead of caching one for 10 s: the cost is one
//! connect per call, and there is no idle socket to a server to manage.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::args::{int, is, syntax};
use super::ctx::{Ctx, R};
use crate::rdb;
use crate::resp::{encode_command, Reply};
use crate::store::notify;

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

    let mut out = BytesMut::new();
    if let Some(auth) = &auth {
        let mut argv = vec![Bytes::from_static(b"AUTH")];
        argv.extend(auth.iter().cloned());
        encode_command(&argv, &mut out);
    }
    encode_command(
        &[Bytes::from_static(b"SELECT"), Bytes::from(dbid.to_string())],
        &mut out,
    );
    for (k, payload, ttl) in &found {
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

    let host = String::from_utf8_lossy(&a[1]).into_owned();
    let port = String::from_utf8_lossy(&a[2]).into_owned();
    let stream = match connect(&host, &port, timeout) {
        Ok(s) => s,
        // Redis connects without blocking and sees a refusal only when it
        // writes: that is the error it gives.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(ioerr("writing"))
        }
        Err(_) => {
            return Err(Reply::Error(
                "IOERR error or timeout connecting to the client".into(),
            ))
        }
    };
    let mut w = &stream;
    if stream.set_write_timeout(Some(timeout)).is_err() || w.write_all(&out).is_err() {
        return Err(ioerr("writing"));
    }
    let mut reader = BufReader::new(&stream);
    let mut read_line = |deadline_from: Instant| -> Option<String> {
        let left = timeout
            .checked_sub(deadline_from.elapsed())
            .filter(|d| !d.is_zero())?;
        stream.set_read_timeout(Some(left)).ok()?;
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with('\n') => {
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            }
            _ => None,
        }
    };
    // Each reply may take up to `timeout`, as each of Redis's reads may.
    // An AUTH or SELECT error fails every key; a RESTORE error fails its
    // own key (the first error is the reply), as in Redis.
    let mut first_error: Option<String> = None;
    let pre = usize::from(auth.is_some()) + 1;
    for _ in 0..pre {
        let Some(line) = read_line(Instant::now()) else {
            return Err(ioerr("reading"));
        };
        if line.starts_with('-') && first_error.is_none() {
            first_error = Some(line);
        }
    }
    let pre_failed = first_error.is_some();
    let mut moved = Vec::new();
    let mut socket_error = false;
    for (k, _, _) in &found {
        let Some(line) = read_line(Instant::now()) else {
            socket_error = true;
            break;
        };
        if line.starts_with('-') {
            first_error.get_or_insert(line);
        } else if !pre_failed && !copy {
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
        return Err(Reply::err(format!(
            "Target instance replied with error: {}",
            &e[1..]
        )));
    }
    if socket_error {
        return Err(ioerr("reading"));
    }
    Ok(Reply::Ok)
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
