//! The append-only log: every write, as RESP commands, in `DIR/appendonly.aof`.
//!
//! Life of a write: the command runs under the store lock and appends its
//! effects (relative expiries made absolute, random pops made explicit) to an
//! in-memory buffer. The writer thread takes the buffer, writes it, and —
//! with `appendfsync always` — fsyncs before publishing the new durable
//! offset; connections hold their replies until the offset passes their
//! write (group commit: one fsync covers every client waiting at that moment).
//!
//! Replay: a truncated last record (or an unfinished MULTI) is cut off with a
//! warning; anything unparsable before the end is refused, naming the offset.
//!
//! Compaction: when the log doubles (and is past a minimum size), or on
//! BGREWRITEAOF, the writer clones the keyspace under the lock, a helper thread
//! writes the clone as a fresh log, and the writes made meanwhile are appended
//! before it atomically replaces the old file.

pub(crate) mod error;

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::config::Fsync;
use crate::lua::Scripting;
use crate::resp::{encode_command, fmt_double, parse_request, Limits};
use crate::shared::Shared;
use crate::store::{now_ms, Client, Db, Store, Value};

pub use error::AofError;

/// File name inside the data directory.
pub const FILE_NAME: &str = "appendonly.aof";

/// What loading found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Commands replayed.
    pub commands: u64,
    /// Bytes cut from a truncated tail.
    pub truncated: u64,
    /// Size after load.
    pub size: u64,
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> AofError + '_ {
    move |source| AofError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Replays the log at `path` into `store` (creating an empty one if missing).
pub(crate) fn load(
    store: &mut Store,
    scripting: &mut Scripting,
    path: &Path,
) -> Result<LoadReport, AofError> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(path)(e)),
    };
    let limits = Limits {
        max_bulk_len: i64::MAX / 4,
        max_multibulk_len: i64::MAX / 4,
        max_inline: usize::MAX / 4,
    };
    let mut report = LoadReport::default();
    let (mut client, _rx) = Client::new(0);
    client.authed = true;
    client.replay = true;
    store.loading = true;
    let mut pos = 0;
    let mut good = 0;
    let mut tx: Option<Vec<Vec<Bytes>>> = None;
    let corrupt = |offset: usize, reason: String| AofError::Corrupt {
        path: path.to_path_buf(),
        offset,
        len: data.len(),
        reason,
    };
    let run = |store: &mut Store,
               scripting: &mut Scripting,
               client: &mut Client,
               argv: Vec<Bytes>,
               at: usize|
     -> Result<(), AofError> {
        let spec =
            crate::cmd::resolve(&argv).map_err(|e| corrupt(at, format!("bad command: {e:?}")))?;
        let mut ctx = crate::cmd::Ctx {
            s: store,
            sc: scripting,
            c: client,
            now: now_ms(),
            in_script: false,
            in_exec: false,
            custom_prop: false,
        };
        crate::cmd::call(&mut ctx, spec, &argv);
        Ok(())
    };
    while pos < data.len() {
        if data[pos] != b'*' {
            store.loading = false;
            return Err(corrupt(
                pos,
                format!("expected '*', found byte {:#04x}", data[pos]),
            ));
        }
        match parse_request(&data[pos..], &limits) {
            Ok(Some((argv, n))) => {
                let at = pos;
                pos += n;
                if argv.is_empty() {
                    continue;
                }
                report.commands += 1;
                let name = argv[0].to_ascii_lowercase();
                if name == b"multi" {
                    tx = Some(Vec::new());
                } else if name == b"exec" {
                    for c in tx.take().unwrap_or_default() {
                        run(store, scripting, &mut client, c, at)?;
                    }
                    good = pos;
                } else if let Some(t) = tx.as_mut() {
                    t.push(argv);
                } else {
                    run(store, scripting, &mut client, argv, at)?;
                    good = pos;
                }
            }
            Ok(None) => break,
            Err(e) => {
                store.loading = false;
                return Err(corrupt(pos, e.to_string()));
            }
        }
    }
    store.loading = false;
    store.prop.clear();
    if good < data.len() {
        report.truncated = (data.len() - good) as u64;
        tracing::warn!(
            path = %path.display(),
            kept = good,
            cut = report.truncated,
            "append-only log ends with an incomplete record (crash during a write?); truncating it"
        );
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        f.set_len(good as u64).map_err(io_err(path))?;
        f.sync_all().map_err(io_err(path))?;
    }
    report.size = good as u64;
    Ok(report)
}

/// Writes a snapshot of `dbs` as a log file, after a `FUNCTION LOAD` for
/// each function library (as Redis's rewrite does).
pub(crate) fn write_snapshot(functions: &[Bytes], dbs: &[Db], path: &Path) -> io::Result<u64> {
    let f = File::create(path)?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut buf = BytesMut::with_capacity(1 << 16);
    let mut total = 0u64;
    for code in functions {
        encode_command(&[b"FUNCTION".as_slice(), b"LOAD", &code[..]], &mut buf);
    }
    for (i, d) in dbs.iter().enumerate() {
        if d.keys.is_empty() {
            continue;
        }
        encode_command(&[b"SELECT".to_vec(), i.to_string().into_bytes()], &mut buf);
        for (k, v) in &d.keys {
            encode_value(k, v, &mut buf);
            if let Some(at) = d.expires.get(&k[..]) {
                encode_command(
                    &[b"PEXPIREAT".as_slice(), &k[..], at.to_string().as_bytes()],
                    &mut buf,
                );
            }
            if buf.len() > 1 << 16 {
                w.write_all(&buf)?;
                total += buf.len() as u64;
                buf.clear();
            }
        }
    }
    w.write_all(&buf)?;
    total += buf.len() as u64;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    Ok(total)
}

fn encode_value(k: &[u8], v: &Value, buf: &mut BytesMut) {
    const CHUNK: usize = 128;
    match v {
        Value::Str(s) => encode_command(&[b"SET".as_slice(), k, &s[..]], buf),
        Value::Int(i) => encode_command(
            &[
                b"SET".as_slice(),
                k,
                itoa::Buffer::new().format(*i).as_bytes(),
            ],
            buf,
        ),
        Value::List(l) => {
            let items: Vec<&Bytes> = l.iter().collect();
            for c in items.chunks(CHUNK) {
                let mut a: Vec<&[u8]> = vec![b"RPUSH", k];
                a.extend(c.iter().map(|b| &b[..]));
                encode_command(&a, buf);
            }
        }
        Value::Hash(h) => {
            let items: Vec<_> = h.iter().collect();
            for c in items.chunks(CHUNK) {
                let mut a: Vec<&[u8]> = vec![b"HSET", k];
                for (f, v) in c {
                    a.push(&f[..]);
                    a.push(&v[..]);
                }
                encode_command(&a, buf);
            }
        }
        Value::Set(s) => {
            let items: Vec<&Bytes> = s.iter().collect();
            for c in items.chunks(CHUNK) {
                let mut a: Vec<&[u8]> = vec![b"SADD", k];
                a.extend(c.iter().map(|b| &b[..]));
                encode_command(&a, buf);
            }
        }
        Value::Stream(s) => {
            for c in crate::cmd::stream::rewrite_commands(&Bytes::copy_from_slice(k), s) {
                encode_command(&c, buf);
            }
        }
        Value::ZSet(z) => {
            let items: Vec<_> = z.tree.iter().collect();
            for c in items.chunks(CHUNK) {
                let scores: Vec<String> = c.iter().map(|(s, _)| fmt_double(s.0)).collect();
                let mut a: Vec<&[u8]> = vec![b"ZADD", k];
                for (i, (_, m)) in c.iter().enumerate() {
                    a.push(scores[i].as_bytes());
                    a.push(&m[..]);
                }
                encode_command(&a, buf);
            }
        }
    }
}

/// The writer thread's state.
pub(crate) struct Writer {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) base: u64,
}

impl Writer {
    fn failed(&self, op: &'static str, error: io::Error) -> AofError {
        AofError::Failed {
            path: self.path.clone(),
            op,
            error,
        }
    }
}

struct Rewrite {
    done: mpsc::Receiver<io::Result<PathBuf>>,
    diff: Vec<u8>,
}

fn lock(shared: &Shared) -> crate::shared::StoreGuard<'_> {
    shared.lock()
}

/// Runs until `shared.stopping` is set and everything is on disk.
pub(crate) fn writer_loop(shared: Arc<Shared>, mut w: Writer) {
    let mut last_fsync = Instant::now();
    let mut unsynced = false;
    let mut rewriting: Option<Rewrite> = None;
    loop {
        let stopping = shared.stopping.load(Ordering::SeqCst);
        let (buf, end, fsync, want_rewrite, min, pct) = {
            let mut s = lock(&shared);
            s.aof_current_size = w.size;
            s.aof_base_size = w.base;
            let rr = std::mem::take(&mut s.rewrite_requested);
            let a = s.aof.as_mut().expect("writer runs only with a log");
            let buf = a.buf.split();
            let end = a.offset;
            (
                buf,
                end,
                s.cfg.appendfsync,
                rr,
                s.cfg.auto_aof_rewrite_min_size,
                s.cfg.auto_aof_rewrite_percentage,
            )
        };
        if !buf.is_empty() {
            if let Err(source) = w.file.write_all(&buf) {
                // Nothing sane to do but stop: acknowledging writes we could not
                // log would be a lie. The server stops and returns the error.
                shared.fail(w.failed("write", source));
                return;
            }
            w.size += buf.len() as u64;
            unsynced = true;
            if let Some(r) = rewriting.as_mut() {
                r.diff.extend_from_slice(&buf);
            }
        }
        let sync_now = match fsync {
            Fsync::Always => unsynced,
            Fsync::Everysec => unsynced && last_fsync.elapsed() >= Duration::from_secs(1),
            Fsync::No => false,
        } || (stopping && unsynced);
        if sync_now {
            if let Err(source) = w.file.sync_data() {
                shared.fail(w.failed("fsync", source));
                return;
            }
            unsynced = false;
            last_fsync = Instant::now();
        }
        shared.synced.send_replace(end);

        if rewriting.is_none()
            && !stopping
            && (want_rewrite || (pct > 0 && w.size >= min && w.size >= w.base + w.base * pct / 100))
        {
            match start_rewrite(&shared, &mut w) {
                Ok(r) => rewriting = Some(r),
                Err(source) => {
                    shared.fail(w.failed("write", source));
                    return;
                }
            }
        }
        if let Some(r) = rewriting.as_ref() {
            match r.done.try_recv() {
                Ok(res) => {
                    let r = rewriting.take().expect("some");
                    finish_rewrite(&mut w, res, r.diff);
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => rewriting = None,
            }
        }
        if stopping && buf.is_empty() && !unsynced {
            if let Some(r) = rewriting.take() {
                if let Ok(res) = r.done.recv() {
                    finish_rewrite(&mut w, res, r.diff);
                }
            }
            let _ = w.file.sync_all();
            return;
        }
        if buf.is_empty() {
            let wait = if rewriting.is_some() {
                Duration::from_millis(20)
            } else if fsync == Fsync::Everysec && unsynced {
                Duration::from_millis(100)
            } else {
                Duration::from_millis(500)
            };
            std::thread::park_timeout(wait);
        }
    }
}

/// Starts a compaction; an error is a failed write of the pending entries.
fn start_rewrite(shared: &Shared, w: &mut Writer) -> io::Result<Rewrite> {
    let started = Instant::now();
    let (pending, snapshot, functions) = {
        let mut s = lock(shared);
        let a = s.aof.as_mut().expect("log on");
        let pending = a.buf.split();
        // The next write after the snapshot must say which db it is for.
        a.selected_db = None;
        (pending, s.dbs.clone(), s.scripting.functions.codes())
    };
    tracing::info!(
        pause_ms = started.elapsed().as_millis() as u64,
        "append-only log rewrite started"
    );
    if !pending.is_empty() {
        w.file.write_all(&pending)?;
        w.size += pending.len() as u64;
        let _ = w.file.sync_data();
    }
    let (tx, rx) = mpsc::channel();
    let tmp = w
        .path
        .with_extension(format!("rewrite-{}", std::process::id()));
    std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || {
            let r = write_snapshot(&functions, &snapshot, &tmp).map(|_| tmp);
            let _ = tx.send(r);
        })
        .expect("spawn rewrite thread");
    Ok(Rewrite {
        done: rx,
        diff: Vec::new(),
    })
}

fn finish_rewrite(w: &mut Writer, res: io::Result<PathBuf>, diff: Vec<u8>) {
    let tmp = match res {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "append-only log rewrite failed; keeping the old log");
            return;
        }
    };
    let result = (|| -> io::Result<File> {
        let mut f = OpenOptions::new().append(true).open(&tmp)?;
        f.write_all(&diff)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &w.path)?;
        if let Some(dir) = w.path.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        OpenOptions::new().append(true).open(&w.path)
    })();
    match result {
        Ok(f) => {
            w.file = f;
            w.size = std::fs::metadata(&w.path).map(|m| m.len()).unwrap_or(0);
            w.base = w.size;
            tracing::info!(size = w.size, "append-only log rewritten");
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            tracing::error!(error = %e, "append-only log rewrite failed; keeping the old log");
        }
    }
}
