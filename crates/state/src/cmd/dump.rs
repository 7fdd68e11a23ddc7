//! DUMP, RESTORE and the snapshot commands (SAVE, BGSAVE, LASTSAVE): values
//! and the whole keyspace in Redis's own RDB format ([`crate::rdb`]), so data
//! moves to Redis or Valkey with their own tools.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::args::{int, is, syntax};
use super::ctx::{Ctx, R};
use crate::config::REDIS_VERSION;
use crate::rdb;
use crate::rdbfile::{self, SaveStatus};
use crate::resp::Reply;
use crate::store::{notify, now_ms, Db, Store};

/// `rdbcompression` (default yes): LZF for strings over 20 bytes in DUMP
/// payloads and `dump.rdb`, as Redis.
pub(super) fn compression(s: &Store) -> bool {
    s.params.get("rdbcompression").is_none_or(|v| v == "yes")
}

pub(super) fn dump(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let lzf = compression(ctx.s);
    Ok(match ctx.lookup(&a[1]) {
        Some(v) => Reply::Bulk(Bytes::from(rdb::dump(v, lzf))),
        None => Reply::Nil,
    })
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`,
/// checked in Redis's order: options, existing key, TTL, payload.
pub(super) fn restore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None, None);
    let mut j = 4;
    while j < a.len() {
        let more = j + 1 < a.len();
        if is(&a[j], "replace") {
            replace = true;
        } else if is(&a[j], "absttl") {
            absttl = true;
        } else if is(&a[j], "idletime") && more && freq.is_none() {
            j += 1;
            let v = int(&a[j])?;
            if v < 0 {
                return Err(Reply::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
        } else if is(&a[j], "freq") && more && idle.is_none() {
            j += 1;
            let v = int(&a[j])?;
            if !(0..=255).contains(&v) {
                return Err(Reply::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(v);
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let key = &a[1];
    if !replace && ctx.exists(key) {
        return Err(Reply::Error(
            "BUSYKEY Target key name already exists.".into(),
        ));
    }
    let ttl = int(&a[2])?;
    if ttl < 0 {
        return Err(Reply::err("Invalid TTL value, must be >= 0"));
    }
    let value = rdb::restore(&a[3]).map_err(|e| Reply::err(e.message()))?;
    let deleted = replace && ctx.exists(key) && ctx.del_key(key);
    let at = match ttl {
        0 => None,
        t if absttl => Some(t),
        t => Some(t.saturating_add(ctx.now as i64)),
    };
    if at.is_some_and(|at| at <= ctx.now as i64) && !ctx.s.loading {
        // Already expired: nothing is stored; a replaced key is gone.
        if deleted {
            ctx.dirty(1);
            ctx.propagate(vec![Bytes::from_static(b"DEL"), key.clone()]);
            ctx.notify(notify::GENERIC, "del", key);
        }
        return Ok(Reply::Ok);
    }
    ctx.set_key(key, value, false);
    if let Some(at) = at {
        ctx.set_expire(key, at.max(0) as u64);
        if !absttl {
            // The log gets the absolute time, as Redis propagates it.
            let mut argv = a.to_vec();
            argv[2] = Bytes::from(at.to_string());
            argv.push(Bytes::from_static(b"ABSTTL"));
            ctx.propagate(argv);
        }
    }
    ctx.dirty(1);
    ctx.signal_ready(key);
    ctx.notify(notify::GENERIC, "restore", key);
    Ok(Reply::Ok)
}

fn save_status(ctx: &Ctx<'_>) -> Arc<SaveStatus> {
    ctx.s.save.clone()
}

fn dbfilename(ctx: &Ctx<'_>) -> String {
    ctx.s
        .params
        .get("dbfilename")
        .cloned()
        .unwrap_or_else(|| rdbfile::DEFAULT_NAME.into())
}

fn no_dir() -> Reply {
    Reply::err(
        "bigstep state runs without a data directory (--dir); there is nowhere to save dump.rdb",
    )
}

/// Writes `dump.rdb` now, under the lock (SAVE, SHUTDOWN SAVE).
fn save_now(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let status = save_status(ctx);
    let Some(dir) = ctx.s.cfg.dir.clone() else {
        return Err("no data directory (--dir): there is nowhere to save dump.rdb".into());
    };
    let name = dbfilename(ctx);
    let now = now_ms();
    let functions = ctx.sc.functions.codes();
    let meta = rdb::FileMeta {
        functions: &functions,
        now_ms: now,
        redis_ver: REDIS_VERSION,
        lzf: compression(ctx.s),
    };
    let data = rdb::encode_file(&ctx.s.dbs, &meta);
    match rdbfile::write_atomic(&dir, &name, &data) {
        Ok(path) => {
            tracing::info!(path = %path.display(), bytes = data.len(), "DB saved on disk");
            status.finish(true, ctx.s.dirty, now / 1000);
            Ok(())
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "SAVE failed");
            status.finish(false, ctx.s.dirty, now / 1000);
            Err(format!("saving {name} in {}: {e}", dir.display()))
        }
    }
}

/// SAVE: writes `dump.rdb` in the data directory, blocking like Redis's.
pub(super) fn save(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    if save_status(ctx).in_progress.load(Ordering::SeqCst) {
        return Err(Reply::err("Background save already in progress"));
    }
    if ctx.s.cfg.dir.is_none() {
        return Err(no_dir());
    }
    save_now(ctx).map(|()| Reply::Ok).map_err(Reply::err)
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`, as Redis 7.0 answers it.
///
/// What is saved follows the persistence settings: the append-only log (on
/// with `--dir`) is always flushed and fsynced as the server stops (NOSAVE
/// does not skip it, in Redis either); `dump.rdb` is written only with SAVE,
/// since no `save` points are ever configured here. A failed save refuses
/// the shutdown unless FORCE. On success there is no reply: the server
/// closes every client at once (as Redis does) and [`crate::Server::run`]
/// returns once the log is on disk. NOW and ABORT concern waiting for
/// replicas, of which there are none: NOW changes nothing, ABORT finds no
/// shutdown in progress.
pub(super) fn shutdown(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (mut save, mut nosave, mut now, mut force, mut abort) = (false, false, false, false, false);
    for arg in &a[1..] {
        let flag = if is(arg, "nosave") {
            &mut nosave
        } else if is(arg, "save") {
            &mut save
        } else if is(arg, "now") {
            &mut now
        } else if is(arg, "force") {
            &mut force
        } else if is(arg, "abort") {
            &mut abort
        } else {
            return Err(syntax());
        };
        *flag = true;
    }
    if (abort && (save || nosave || now || force)) || (save && nosave) {
        return Err(syntax());
    }
    if abort {
        return Err(Reply::err("No shutdown in progress."));
    }
    if let Some(why) = &ctx.s.cfg.shutdown_refused {
        return Err(Reply::err(format!("SHUTDOWN refused: {why}")));
    }
    tracing::warn!(client = ctx.c.id, save, force, "user requested shutdown");
    if save {
        // Redis kills its BGSAVE child; a thread cannot be killed, and two
        // writers must not share the temporary file: let it finish (it
        // never takes the store lock, so holding it here cannot deadlock).
        let status = save_status(ctx);
        while status.in_progress.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if let Err(e) = save_now(ctx) {
            tracing::warn!(error = %e, force, "error trying to save the DB before shutdown");
            if !force {
                return Err(Reply::err("Errors trying to SHUTDOWN. Check logs."));
            }
        }
    }
    // From here no command runs: what the log holds now is what it keeps.
    ctx.s.shutting_down = true;
    ctx.c.close = true;
    ctx.s.stop.notify_one();
    Ok(Reply::None)
}

/// BGSAVE [SCHEDULE]: copies the keyspace under the lock (the only pause)
/// and writes it from a thread.
pub(super) fn bgsave(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    match a.len() {
        1 => {}
        2 if is(&a[1], "schedule") => {}
        _ => return Err(syntax()),
    }
    let status = save_status(ctx);
    let Some(dir) = ctx.s.cfg.dir.clone() else {
        return Err(no_dir());
    };
    if status.in_progress.swap(true, Ordering::SeqCst) {
        return Err(Reply::err("Background save already in progress"));
    }
    let name = dbfilename(ctx);
    let dbs: Vec<Db> = ctx.s.dbs.clone();
    let functions = ctx.sc.functions.codes();
    let lzf = compression(ctx.s);
    let dirty = ctx.s.dirty;
    let spawned = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || {
            let now = now_ms();
            let meta = rdb::FileMeta {
                functions: &functions,
                now_ms: now,
                redis_ver: REDIS_VERSION,
                lzf,
            };
            let data = rdb::encode_file(&dbs, &meta);
            drop(dbs);
            let ok = match rdbfile::write_atomic(&dir, &name, &data) {
                Ok(path) => {
                    tracing::info!(path = %path.display(), bytes = data.len(), "background saving terminated with success");
                    true
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "background save failed");
                    false
                }
            };
            status.finish(ok, dirty, now / 1000);
            status.in_progress.store(false, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        ctx.s.save.in_progress.store(false, Ordering::SeqCst);
        return Err(Reply::err(format!(
            "could not start the background save: {e}"
        )));
    }
    Ok(Reply::Status("Background saving started".into()))
}

pub(super) fn lastsave(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Int(
        ctx.s.save.last_save.load(Ordering::SeqCst) as i64
    ))
}
