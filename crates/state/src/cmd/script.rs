//! EVAL / EVALSHA / SCRIPT with Lua 5.1 (mlua).
//!
//! A script runs with the store lock held, like any command, so it is atomic.
//! `redis.call` re-enters the normal dispatcher through [`super::call::call`], which
//! also logs each write the script makes (effects replication), so the log
//! never needs to re-run Lua.
//!
//! A script that runs past `busy-reply-threshold` is marked busy from the
//! Lua instruction-count hook (`crate::busy`): other clients then get
//! `-BUSY` and may kill it until it writes. The hook also hands the
//! runtime's other work to another thread at that moment
//! ([`hand_off_runtime`]), since this thread is taken until the script ends.

use std::cell::RefCell;

use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value as LV};

use super::args::{int, is};
use super::call::{acl_check, call};
use super::ctx::{Commands, Ctx, Unresolved, R};
use crate::busy::{Admission, Ended, Kind};
use crate::lua::{sha1hex, Engine};
use crate::resp::Reply;
use crate::spec::flags::WRITE;

/// Lua instructions between two looks at the clock and the kill flag: a few
/// microseconds of Lua, so a command pays nothing and a kill lands at once.
const HOOK_EVERY: u32 = 10_000;

/// What the caller of a killed script gets (Redis's words; the position is
/// appended as for any script error).
const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// The error that stops a killed script, at `line`.
fn killed_error(line: i32) -> mlua::Error {
    mlua::Error::external(CallError {
        msg: KILLED.to_string(),
        line: (line > 0).then_some(line),
    })
}

/// Lets the runtime's other tasks go on while this thread runs a busy
/// script: they must answer BUSY and take SCRIPT KILL meanwhile.
///
/// `block_in_place` gives this worker's scheduler core to a new thread;
/// waiting inside it until a task spawned now has run means that thread has
/// the core, so it stays there when `block_in_place` returns and this thread
/// finishes the script on its own (then it leaves the runtime at the task's
/// next await). On a current-thread runtime nothing can take over: the
/// script is then not killable (the `bigstep state` binary always runs a
/// multi-thread runtime; `--threads` counts its workers).
fn hand_off_runtime() {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let Ok(handle) = Handle::try_current() else {
        return;
    };
    if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
        tracing::warn!("busy script on a current-thread runtime: other clients wait for it");
        return;
    }
    tokio::task::block_in_place(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(std::time::Duration::from_secs(1));
    });
}

fn to_lua(lua: &Lua, r: Reply) -> mlua::Result<LV> {
    Ok(match r {
        Reply::Ok => status_table(lua, "OK")?,
        Reply::Status(s) => status_table(lua, &s)?,
        Reply::Error(e) => {
            let t = lua.create_table()?;
            t.set("err", e)?;
            LV::Table(t)
        }
        Reply::Int(n) => LV::Integer(n),
        Reply::Bulk(b) | Reply::Verbatim(_, b) => LV::String(lua.create_string(&b[..])?),
        Reply::Nil | Reply::NilArray | Reply::None => LV::Boolean(false),
        Reply::Double(d) => LV::String(lua.create_string(crate::resp::fmt_double(d))?),
        Reply::DoubleText(s) => LV::String(lua.create_string(s)?),
        Reply::Bool(b) => LV::Integer(b as i64),
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) | Reply::Multi(v) => {
            let t = lua.create_table()?;
            for (i, x) in v.into_iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, x)?)?;
            }
            LV::Table(t)
        }
        Reply::Map(m) => {
            let t = lua.create_table()?;
            let mut i = 1;
            for (k, v) in m {
                t.raw_set(i, to_lua(lua, k)?)?;
                t.raw_set(i + 1, to_lua(lua, v)?)?;
                i += 2;
            }
            LV::Table(t)
        }
    })
}

fn status_table(lua: &Lua, s: &str) -> mlua::Result<LV> {
    let t = lua.create_table()?;
    t.set("ok", s)?;
    Ok(LV::Table(t))
}

fn from_lua(v: LV) -> Reply {
    match v {
        LV::Nil => Reply::Nil,
        LV::Boolean(true) => Reply::Int(1),
        LV::Boolean(false) => Reply::Nil,
        LV::Integer(n) => Reply::Int(n),
        LV::Number(n) => Reply::Int(n as i64),
        LV::String(s) => Reply::bulk(&s.as_bytes()[..]),
        LV::Table(t) => table_reply(&t),
        LV::Error(e) => Reply::Error(clean_err(&e.to_string())),
        _ => Reply::Nil,
    }
}

fn table_reply(t: &Table) -> Reply {
    if let Ok(LV::String(e)) = t.raw_get::<LV>("err") {
        return Reply::Error(e.to_string_lossy().to_string());
    }
    if let Ok(LV::String(s)) = t.raw_get::<LV>("ok") {
        return Reply::Status(s.to_string_lossy().to_string());
    }
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        match t.raw_get::<LV>(i) {
            Ok(LV::Nil) | Err(_) => break,
            Ok(v) => out.push(from_lua(v)),
        }
        i += 1;
    }
    Reply::Array(out)
}

fn clean_err(s: &str) -> String {
    let first = s.lines().next().unwrap_or(s).trim();
    let first = first.strip_prefix("runtime error: ").unwrap_or(first);
    if first.starts_with("ERR ")
        || first
            .split(' ')
            .next()
            .is_some_and(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase()))
    {
        first.to_string()
    } else {
        format!("ERR {first}")
    }
}

/// Runs one `redis.call` / `redis.pcall`.
fn redis_call<T: Commands>(
    ctx: &mut Ctx<'_>,
    lua: &Lua,
    args: MultiValue,
    raise: bool,
    read_only: bool,
) -> mlua::Result<LV> {
    let mut argv = Vec::with_capacity(args.len());
    for a in args {
        match a {
            LV::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            LV::Integer(n) => argv.push(Bytes::from(n.to_string())),
            LV::Number(n) => argv.push(Bytes::from(crate::resp::fmt_g(n, 17))),
            _ => {
                return fail(
                    lua,
                    raise,
                    "ERR Lua redis lib command arguments must be strings or integers",
                );
            }
        }
    }
    if argv.is_empty() {
        return fail(
            lua,
            raise,
            "ERR Please specify at least one argument for this redis lib call",
        );
    }
    let spec = match T::lookup(&argv) {
        Ok(s) => s,
        Err(Unresolved::UnknownCommand(_) | Unresolved::UnknownSubcommand(_)) => {
            return fail(lua, raise, "ERR Unknown Redis command called from script");
        }
        Err(Unresolved::WrongArity(_)) => {
            return fail(
                lua,
                raise,
                "ERR Wrong number of args calling Redis command from script",
            );
        }
    };
    if spec.has(crate::spec::flags::NOSCRIPT) {
        return fail(
            lua,
            raise,
            "ERR This Redis command is not allowed from script",
        );
    }
    if read_only && spec.has(WRITE) {
        return fail(
            lua,
            raise,
            "ERR Write commands are not allowed from read-only scripts.",
        );
    }
    // A script runs with its caller's permissions.
    if let Err(d) = acl_check(ctx, spec, &argv) {
        return fail(lua, raise, &d.in_script());
    }
    // The first write makes the script unkillable; a kill that won the race
    // stops it before the write.
    if spec.has(WRITE) && !ctx.sc.watch.may_write() {
        let line = lua.inspect_stack(1).map_or(0, |d| d.curr_line());
        return Err(killed_error(line));
    }
    let reply = call(ctx, spec, &argv);
    if let Reply::Error(e) = &reply {
        return fail(lua, raise, e);
    }
    to_lua(lua, reply)
}

/// A `redis.call` error raised into the script, with the script line that
/// made the call: Redis names it in the reply (`on @user_script:LINE.`).
#[derive(Debug)]
struct CallError {
    msg: String,
    line: Option<i32>,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for CallError {}

fn fail(lua: &Lua, raise: bool, msg: &str) -> mlua::Result<LV> {
    if raise {
        // Level 0 is this callback, level 1 the script line calling it.
        let line = lua
            .inspect_stack(1)
            .map(|d| d.curr_line())
            .filter(|&l| l > 0);
        Err(mlua::Error::external(CallError {
            msg: msg.to_string(),
            line,
        }))
    } else {
        let t = lua.create_table()?;
        t.set("err", msg)?;
        Ok(LV::Table(t))
    }
}

/// EVAL and EVALSHA, and with `read_only` their `_RO` forms, whose
/// `redis.call` refuses writes.
fn run<T: Commands>(
    ctx: &mut Ctx<'_>,
    sha: &str,
    body: &Bytes,
    rest: &[Bytes],
    read_only: bool,
) -> R {
    let n = int(&rest[0])?;
    if n < 0 {
        return Err(Reply::err("Number of keys can't be negative"));
    }
    if n as usize > rest.len() - 1 {
        return Err(Reply::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let keys = &rest[1..1 + n as usize];
    let argv = &rest[1 + n as usize..];
    let mut eng = match ctx.sc.lua.take() {
        Some(e) => e,
        None => Engine::new().map_err(|e| Reply::err(format!("Lua init failed: {e}")))?,
    };
    let result = eng.compile(sha, body).map_err(Reply::err).and_then(|f| {
        // A script with a shebang declared its flags (the compile above
        // checked them); one without runs as before Redis 7.0.
        let read_only = match crate::lua::shebang(body) {
            Ok(Some((flags, _))) => prepare_declared(ctx, flags, read_only)?,
            _ => read_only,
        };
        let job = Job {
            f,
            name: sha,
            source: "user_script",
            as_args: false,
            read_only,
            kind: Kind::Eval,
        };
        run_job::<T>(&eng, ctx, job, keys, argv)
    });
    ctx.sc.lua = Some(eng);
    result
}

/// Redis 7.0's `scriptPrepareForRun` for a script or function that declared
/// its flags: EVAL_RO / FCALL_RO refuse one that may write, and one that may
/// write without `allow-oom` is refused over maxmemory. Whether
/// `redis.call` must then refuse writes (`ro` or `no-writes`).
pub(super) fn prepare_declared(ctx: &mut Ctx<'_>, flags: u32, ro: bool) -> Result<bool, Reply> {
    use crate::lua::library::fflags;
    let no_writes = flags & fflags::NO_WRITES != 0;
    if ro && !no_writes {
        return Err(Reply::err(
            "Can not execute a script with write flag using *_ro command.",
        ));
    }
    if flags & (fflags::NO_WRITES | fflags::ALLOW_OOM) == 0
        && ctx.s.cfg.maxmemory > 0
        && !ctx.c.replay
        && !crate::evict::make_room(ctx.s)
    {
        return Err(Reply::Error(
            "OOM command not allowed when used memory > 'maxmemory'.".into(),
        ));
    }
    Ok(ro || no_writes)
}

/// Whether a script call (EVAL, EVALSHA, FCALL and their `_RO` forms) may
/// write, as Redis 7.0's `getCommandFlags` decides it for CLIENT PAUSE
/// WRITE: a script or function that declared `no-writes` does not; one
/// without declared flags (no shebang), or not found, is taken by the
/// command's own flags.
pub(super) fn declared_no_writes(ctx: &Ctx<'_>, spec_flags: u32, argv: &[Bytes]) -> bool {
    use crate::lua::library::fflags;
    use crate::spec::flags::{FUNCTION_ARG, SCRIPT_BODY_ARG, SCRIPT_SHA_ARG};
    let Some(arg) = argv.get(1) else {
        return false;
    };
    let flags = if spec_flags & FUNCTION_ARG != 0 {
        ctx.sc.functions.libs.function(arg).map(|f| f.flags)
    } else {
        let body = if spec_flags & SCRIPT_BODY_ARG != 0 {
            Some(arg.clone())
        } else if spec_flags & SCRIPT_SHA_ARG != 0 {
            let sha = String::from_utf8_lossy(arg).to_ascii_lowercase();
            ctx.sc.scripts.get(&sha).cloned()
        } else {
            None
        };
        body.and_then(|b| crate::lua::shebang(&b).ok().flatten().map(|(f, _)| f))
    };
    flags.is_some_and(|f| f & fflags::NO_WRITES != 0)
}

/// What runs: an EVAL script or a function.
pub(super) struct Job<'a> {
    /// The compiled script or the function's callback.
    pub(super) f: mlua::Function,
    /// The SHA1 or function name errors name (`script: NAME`).
    pub(super) name: &'a str,
    /// The chunk name positions are shown with (`@user_script:LINE`).
    pub(super) source: &'static str,
    /// Keys and arguments as the callback's two arguments (functions), not
    /// as the KEYS and ARGV globals (EVAL).
    pub(super) as_args: bool,
    /// `redis.call` refuses writes (FCALL_RO, `no-writes`).
    pub(super) read_only: bool,
    /// Script or function (which KILL stops it, which BUSY text).
    pub(super) kind: Kind,
}

/// Runs a script or function with `redis.call` bound to this client.
pub(super) fn run_job<T: Commands>(
    eng: &Engine,
    ctx: &mut Ctx<'_>,
    job: Job<'_>,
    keys: &[Bytes],
    argv: &[Bytes],
) -> R {
    let lua = &eng.lua;
    let mk = |v: &[Bytes]| -> mlua::Result<Table> {
        let t = lua.create_table()?;
        for (i, x) in v.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(&x[..])?)?;
        }
        Ok(t)
    };
    let g = lua.globals();
    let lua_err = |e: mlua::Error| Reply::err(format!("Lua error: {e}"));
    let keys_t = mk(keys).map_err(lua_err)?;
    let argv_t = mk(argv).map_err(lua_err)?;
    if !job.as_args {
        g.raw_set("KEYS", keys_t.clone()).map_err(lua_err)?;
        g.raw_set("ARGV", argv_t.clone()).map_err(lua_err)?;
    }
    let redis: Table = g.raw_get("redis").map_err(lua_err)?;
    let was = ctx.in_script;
    ctx.in_script = true;
    let watch = ctx.sc.watch.clone();
    watch.start_run(Admission {
        auto_login: ctx.s.acl.default_auto_login(),
        loopback_only: ctx.s.cfg.protected_mode && ctx.s.acl.passwordless(),
        shutdown_allowed: ctx.s.cfg.shutdown_refused.is_none(),
    });
    let prop_mark = ctx.s.prop.len();
    let threshold = std::time::Duration::from_millis(ctx.s.cfg.busy_reply_threshold_ms);
    let started = std::time::Instant::now();
    let kind = job.kind;
    let hook_watch = watch.clone();
    lua.set_hook(
        mlua::HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |lua, debug| {
            if hook_watch.killed() {
                // From now on at every instruction, as Redis does, so a
                // pcall around the loop cannot keep the script alive.
                lua.set_hook(
                    mlua::HookTriggers::new().every_nth_instruction(1),
                    |_, d| Err(killed_error(d.curr_line())),
                );
                return Err(killed_error(debug.curr_line()));
            }
            if !hook_watch.is_busy() && started.elapsed() >= threshold {
                tracing::warn!(
                    ms = started.elapsed().as_millis() as u64,
                    "a script is running past busy-reply-threshold; other clients get BUSY until it ends or is killed"
                );
                hook_watch.went_busy(kind);
                hand_off_runtime();
            }
            Ok(mlua::VmState::Continue)
        },
    );
    let read_only = job.read_only;
    let cell = RefCell::new(&mut *ctx);
    let out = lua.scope(|scope| {
        let c1 = scope.create_function_mut(|lua, args: MultiValue| {
            let mut c = cell.borrow_mut();
            redis_call::<T>(&mut c, lua, args, true, read_only)
        })?;
        let c2 = scope.create_function_mut(|lua, args: MultiValue| {
            let mut c = cell.borrow_mut();
            redis_call::<T>(&mut c, lua, args, false, read_only)
        })?;
        redis.raw_set("call", c1)?;
        redis.raw_set("pcall", c2)?;
        let r = if job.as_args {
            job.f.call::<LV>((keys_t, argv_t))
        } else {
            job.f.call::<LV>(())
        };
        let _ = redis.raw_set("call", LV::Nil);
        let _ = redis.raw_set("pcall", LV::Nil);
        Ok(match r {
            Ok(v) => from_lua(v),
            Err(e) => Reply::Error(script_error(&e, job.name, job.source)),
        })
    });
    lua.remove_hook();
    ctx.in_script = was;
    let was_busy = watch.is_busy();
    if watch.end_run() == Ended::Shutdown {
        // SHUTDOWN NOSAVE stopped it: what it wrote never reaches the log,
        // and no command runs after it.
        tracing::warn!(
            client = ctx.c.id,
            "SHUTDOWN NOSAVE stopped a busy script; shutting down"
        );
        ctx.s.prop.truncate(prop_mark);
        ctx.s.shutting_down = true;
        ctx.c.close = true;
        ctx.s.stop.notify_one();
        // Redis exits without answering the script's caller.
        return Ok(Reply::None);
    }
    if was_busy {
        for name in watch.take_refused() {
            ctx.s.stats.commands += 1;
            ctx.s.stats.cmd.reject(name);
            super::info::count_error(ctx.s, kind.busy_error());
        }
    }
    out.map_err(lua_err)
}

fn script_error(e: &mlua::Error, name: &str, source: &str) -> String {
    let (msg, line) = innermost(e);
    let msg = msg
        .lines()
        .next()
        .unwrap_or("")
        .replace(&format!("[string \"@{source}\"]"), source);
    // A Lua runtime error carries its position as "user_script:LINE: ...".
    let line = line.or_else(|| {
        let rest = msg.strip_prefix(source)?.strip_prefix(':')?;
        rest.split(':').next()?.parse::<i32>().ok()
    });
    let msg = clean_err(&msg);
    match line {
        Some(n) => format!("{msg} script: {name}, on @{source}:{n}."),
        None => format!("{msg} script: {name}, on @{source}."),
    }
}

/// The message (and line, for `redis.call` errors) under callback wrappers.
fn innermost(e: &mlua::Error) -> (String, Option<i32>) {
    match e {
        mlua::Error::CallbackError { cause, .. } => innermost(cause),
        mlua::Error::RuntimeError(s) => (s.clone(), None),
        mlua::Error::ExternalError(x) => match x.downcast_ref::<CallError>() {
            Some(c) => (c.msg.clone(), c.line),
            None => (x.to_string(), None),
        },
        other => (other.to_string(), None),
    }
}

pub(super) fn eval<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    eval_body::<T>(ctx, a, false)
}

pub(super) fn eval_ro<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    eval_body::<T>(ctx, a, true)
}

fn eval_body<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes], read_only: bool) -> R {
    let body = a[1].clone();
    let sha = sha1hex(&body);
    ctx.sc
        .scripts
        .entry(sha.clone())
        .or_insert_with(|| body.clone());
    run::<T>(ctx, &sha, &body, &a[2..], read_only)
}

pub(super) fn evalsha<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    evalsha_body::<T>(ctx, a, false)
}

pub(super) fn evalsha_ro<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    evalsha_body::<T>(ctx, a, true)
}

fn evalsha_body<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes], read_only: bool) -> R {
    let sha = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let Some(body) = ctx.sc.scripts.get(&sha).cloned() else {
        return Err(Reply::Error(
            "NOSCRIPT No matching script. Please use EVAL.".into(),
        ));
    };
    run::<T>(ctx, &sha, &body, &a[2..], read_only)
}

pub(super) fn load(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let sha = sha1hex(&a[2]);
    // Compile now so syntax errors surface at load time, as in Redis.
    let mut eng = match ctx.sc.lua.take() {
        Some(e) => e,
        None => Engine::new().map_err(|e| Reply::err(format!("Lua init failed: {e}")))?,
    };
    let res = eng.compile(&sha, &a[2]).map(drop).map_err(Reply::err);
    ctx.sc.lua = Some(eng);
    res?;
    ctx.sc.scripts.insert(sha.clone(), a[2].clone());
    Ok(Reply::bulk(sha))
}

/// SCRIPT KILL with the store lock in hand: then no script is running (a
/// busy one is killed through `cmd::busy`, without the lock).
pub(super) fn kill(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Err(Reply::Error(crate::busy::NOTBUSY.into()))
}

pub(super) fn exists(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Array(
        a[2..]
            .iter()
            .map(|s| {
                let sha = String::from_utf8_lossy(s).to_ascii_lowercase();
                Reply::Int(ctx.sc.scripts.contains_key(&sha) as i64)
            })
            .collect(),
    ))
}

pub(super) fn flush(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 3 || (a.len() == 3 && !is(&a[2], "async") && !is(&a[2], "sync")) {
        return Err(Reply::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    ctx.sc.scripts.clear();
    ctx.sc.lua = None;
    Ok(Reply::Ok)
}
