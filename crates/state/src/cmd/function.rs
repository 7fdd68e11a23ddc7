//! Redis 7 functions: FUNCTION LOAD / LIST / DELETE / FLUSH / DUMP /
//! RESTORE / STATS / KILL / HELP, FCALL and FCALL_RO.
//!
//! Libraries live in the store (`Store::functions`, compiled by
//! `lua::library`); running one goes through the same `run_job` as EVAL, so
//! `redis.call`, ACLs and the log behave alike. The writing subcommands are
//! `WRITE` rows, so the log records them as sent and replays them on start;
//! its rewrite loads every library first (`aof::write_snapshot`).

use bytes::Bytes;

use super::args::is;
use super::ctx::{Commands, Ctx, R};
use super::script::{run_job, Job};
use crate::funcdump;
use crate::lua::library::fflags;
use crate::resp::{parse_i64, Reply};

fn subcommand_syntax(a: &[Bytes]) -> Reply {
    Reply::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(&a[1])
    ))
}

/// FUNCTION LOAD [REPLACE] code
pub(super) fn load(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut replace = false;
    for opt in &a[2..a.len() - 1] {
        if is(opt, "replace") {
            replace = true;
        } else {
            return Err(Reply::err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    // Replaying the log must not time out what was accepted once.
    let timeout = !ctx.c.replay;
    let name = ctx
        .sc
        .functions
        .load(&a[a.len() - 1], replace, timeout)
        .map_err(Reply::err)?;
    ctx.dirty(1);
    Ok(Reply::bulk(name))
}

/// FUNCTION DELETE library
pub(super) fn delete(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if !ctx.sc.functions.libs.delete(&a[2]) {
        return Err(Reply::err("Library not found"));
    }
    ctx.dirty(1);
    Ok(Reply::Ok)
}

/// FUNCTION FLUSH [ASYNC|SYNC]
pub(super) fn flush(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 3 {
        return Err(subcommand_syntax(a));
    }
    if a.len() == 3 && !is(&a[2], "sync") && !is(&a[2], "async") {
        return Err(Reply::err("FUNCTION FLUSH only supports SYNC|ASYNC option"));
    }
    ctx.sc.functions.flush();
    ctx.dirty(1);
    Ok(Reply::Ok)
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
pub(super) fn list(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < a.len() {
        if !with_code && is(&a[i], "withcode") {
            with_code = true;
        } else if pattern.is_none() && is(&a[i], "libraryname") {
            if i >= a.len() - 1 {
                return Err(Reply::err("library name argument was not given"));
            }
            i += 1;
            pattern = Some(&a[i]);
        } else {
            return Err(Reply::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(&a[i])
            )));
        }
        i += 1;
    }
    let mut out = Vec::new();
    for lib in ctx.sc.functions.libs.iter() {
        if let Some(p) = pattern {
            if !crate::glob::matches(p, lib.name.as_bytes(), true) {
                continue;
            }
        }
        let functions = lib
            .functions
            .iter()
            .map(|f| {
                let flags = fflags::NAMES
                    .iter()
                    .filter(|(bit, _)| f.flags & bit != 0)
                    .map(|(_, n)| Reply::Status((*n).into()))
                    .collect();
                Reply::Map(vec![
                    (Reply::bulk("name"), Reply::bulk(&f.name)),
                    (
                        Reply::bulk("description"),
                        f.desc.clone().map_or(Reply::Nil, Reply::Bulk),
                    ),
                    (Reply::bulk("flags"), Reply::Set(flags)),
                ])
            })
            .collect();
        let mut m = vec![
            (Reply::bulk("library_name"), Reply::bulk(&lib.name)),
            (Reply::bulk("engine"), Reply::bulk("LUA")),
            (Reply::bulk("functions"), Reply::Array(functions)),
        ];
        if with_code {
            m.push((Reply::bulk("library_code"), Reply::Bulk(lib.code.clone())));
        }
        out.push(Reply::Map(m));
    }
    Ok(Reply::Array(out))
}

/// FUNCTION DUMP: every library, in Redis's payload format.
pub(super) fn dump(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    let codes = ctx.sc.functions.codes();
    Ok(Reply::Bulk(Bytes::from(funcdump::encode(
        codes.iter().map(|c| &c[..]),
    ))))
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]
pub(super) fn restore(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if a.len() > 4 {
        return Err(subcommand_syntax(a));
    }
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy = match a.get(3) {
        None => Policy::Append,
        Some(p) if is(p, "append") => Policy::Append,
        Some(p) if is(p, "replace") => Policy::Replace,
        Some(p) if is(p, "flush") => Policy::Flush,
        Some(_) => {
            return Err(Reply::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    let codes = funcdump::decode(&a[2]).map_err(|e| Reply::err(e.message()))?;
    // Everything compiles into a fresh set first: a bad library refuses
    // the whole payload and changes nothing.
    let fresh = ctx.sc.functions.compile_all(&codes).map_err(Reply::err)?;
    if policy == Policy::Flush {
        ctx.sc.functions.libs = fresh;
    } else {
        ctx.sc
            .functions
            .libs
            .join(fresh, policy == Policy::Replace)
            .map_err(Reply::err)?;
    }
    ctx.dirty(1);
    Ok(Reply::Ok)
}

/// FUNCTION STATS. Nothing is ever running when another command can ask
/// (a function runs under the store lock), so `running_script` is nil.
pub(super) fn stats(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    let libs = &ctx.sc.functions.libs;
    Ok(Reply::Map(vec![
        (Reply::bulk("running_script"), Reply::Nil),
        (
            Reply::bulk("engines"),
            Reply::Map(vec![(
                Reply::bulk("LUA"),
                Reply::Map(vec![
                    (
                        Reply::bulk("libraries_count"),
                        Reply::Int(libs.len() as i64),
                    ),
                    (
                        Reply::bulk("functions_count"),
                        Reply::Int(libs.function_count() as i64),
                    ),
                ]),
            )]),
        ),
    ]))
}

/// FUNCTION KILL with the store lock in hand: then no script is running
/// (a busy one is killed through `cmd::busy`, without the lock).
pub(super) fn kill(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Err(Reply::Error(crate::busy::NOTBUSY.into()))
}

/// FUNCTION HELP
pub(super) fn help(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    const LINES: &[&str] = &[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        LINES.iter().map(|l| Reply::Status((*l).into())).collect(),
    ))
}

/// FCALL function numkeys key... arg...
pub(super) fn fcall<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    call_function::<T>(ctx, a, false)
}

/// FCALL_RO: only functions flagged `no-writes`.
pub(super) fn fcall_ro<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    call_function::<T>(ctx, a, true)
}

fn call_function<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes], ro: bool) -> R {
    let Some(f) = ctx.sc.functions.libs.function(&a[1]) else {
        return Err(Reply::err("Function not found"));
    };
    let (callback, flags, name) = (f.callback.clone(), f.flags, f.name.clone());
    let Some(n) = parse_i64(&a[2]) else {
        return Err(Reply::err("Bad number of keys provided"));
    };
    if n > (a.len() - 3) as i64 {
        return Err(Reply::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(Reply::err("Number of keys can't be negative"));
    }
    let read_only = super::script::prepare_declared(ctx, flags, ro)?;
    let n = n as usize;
    let (keys, args) = (&a[3..3 + n], &a[3 + n..]);
    // Out of the store while it runs, so the run can borrow the store; a
    // function cannot reach FUNCTION (NOSCRIPT), so nothing misses it.
    let Some(eng) = ctx.sc.functions.engine.take() else {
        return Err(Reply::err("Function not found"));
    };
    let job = Job {
        f: callback,
        name: &name,
        source: "user_function",
        as_args: true,
        read_only,
        kind: crate::busy::Kind::Function,
    };
    let result = run_job::<T>(&eng.eng, ctx, job, keys, args);
    ctx.sc.functions.engine = Some(eng);
    result
}
