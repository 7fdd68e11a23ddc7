//! The Lua 5.1 interpreter scripts run in, and the scripts compiled so far.
//!
//! It knows nothing of commands: the sandbox, the `redis` helpers that need
//! no server (`sha1hex`, `status_reply`, `REDIS_VERSION`...), and the
//! libraries Redis bundles ([`lualib`]). EVAL and friends (`cmd::script`)
//! add `redis.call` for the duration of a run.

use std::collections::HashMap;

use mlua::{Function, Lua, MultiValue};

pub(crate) mod library;
mod lualib;

/// The interpreter and compiled scripts.
pub(crate) struct Engine {
    /// The interpreter, its globals frozen after setup.
    pub(crate) lua: Lua,
    /// Compiled scripts by SHA1 (a cache of the store's script bodies).
    fns: HashMap<String, Function>,
}

/// Everything scripting keeps between commands: the EVAL interpreter, the
/// script bodies by SHA1 (SCRIPT LOAD, EVALSHA) and the function libraries.
/// It sits beside the keyspace under the same lock (`shared::Locked`), not
/// inside it: the store knows nothing of Lua.
#[derive(Default)]
pub(crate) struct Scripting {
    /// The EVAL interpreter (created on first use; SCRIPT FLUSH drops it).
    pub(crate) lua: Option<Engine>,
    /// sha1 → script body.
    pub(crate) scripts: HashMap<String, bytes::Bytes>,
    /// Function libraries (FUNCTION LOAD, FCALL).
    pub(crate) functions: library::Functions,
    /// The running script as other connections see it (busy, kill
    /// requests); shared with them outside the lock.
    pub(crate) watch: std::sync::Arc<crate::busy::ScriptWatch>,
}

/// An EVAL script's shebang (`#!lua flags=no-writes,allow-oom` on its first
/// line), read as Redis 7.0's `evalExtractShebangFlags` does: `Ok(None)` for
/// a script without one (Redis's compatibility mode, where the command's own
/// flags apply), else its flags ([`library::fflags`]) and the shebang's
/// length (the code starts after it). The error is Redis's text.
pub(crate) fn shebang(body: &[u8]) -> Result<Option<(u32, usize)>, String> {
    if !body.starts_with(b"#!") {
        return Ok(None);
    }
    let Some(len) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let parts = match crate::resp::split_args(&body[..len]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid engine in script shebang".into()),
    };
    if parts[0].as_ref() != b"#!lua" {
        return Err(format!(
            "Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut flags = 0;
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&b| b == b',') {
            let Some((bit, _)) = library::fflags::NAMES
                .iter()
                .find(|(_, n)| n.as_bytes() == name)
            else {
                return Err(format!(
                    "Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(name)
                ));
            };
            flags |= bit;
        }
    }
    Ok(Some((flags, len)))
}

/// SHA1 hex of a script body.
pub(crate) fn sha1hex(b: &[u8]) -> String {
    sha1_smol::Sha1::from(b).digest().to_string()
}

const PRELUDE: &str = r#"
dofile = nil
loadfile = nil
io = nil
local clock = os and os.clock
os = { clock = clock }
setmetatable(_G, {
  __index = function(t, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
  __newindex = function(t, k, v)
    error("Attempt to modify a readonly table", 2)
  end,
})
"#;

impl Engine {
    /// A fresh interpreter: sandboxed, with the `redis` helpers that need no
    /// server and the bundled libraries.
    pub(crate) fn new() -> mlua::Result<Engine> {
        let lua = Lua::new();
        let redis = lua.create_table()?;
        redis.set(
            "sha1hex",
            lua.create_function(|_, s: mlua::String| Ok(sha1hex(&s.as_bytes())))?,
        )?;
        redis.set(
            "error_reply",
            lua.create_function(|lua, s: mlua::String| {
                let t = lua.create_table()?;
                t.set("err", s)?;
                Ok(t)
            })?,
        )?;
        redis.set(
            "status_reply",
            lua.create_function(|lua, s: mlua::String| {
                let t = lua.create_table()?;
                t.set("ok", s)?;
                Ok(t)
            })?,
        )?;
        redis.set("log", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
        redis.set("setresp", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
        redis.set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
        redis.set("set_repl", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
        for (i, n) in ["LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"]
            .iter()
            .enumerate()
        {
            redis.set(*n, i as i64)?;
        }
        redis.set("REPL_ALL", 3)?;
        // Scripts gate features on these (Redis 7 sets them).
        redis.set("REDIS_VERSION", crate::config::REDIS_VERSION)?;
        let num = crate::config::REDIS_VERSION
            .split('.')
            .fold(0i64, |acc, p| (acc << 8) | p.parse::<i64>().unwrap_or(0));
        redis.set("REDIS_VERSION_NUM", num)?;
        lua.globals().set("redis", redis)?;
        lua.globals().set("KEYS", lua.create_table()?)?;
        lua.globals().set("ARGV", lua.create_table()?)?;
        lualib::install(&lua)?;
        lua.load(PRELUDE).exec()?;
        Ok(Engine {
            lua,
            fns: HashMap::new(),
        })
    }

    /// The compiled script `body` (SHA1 `sha`), compiled on first use. The
    /// error is Redis's compile error text.
    pub(crate) fn compile(&mut self, sha: &str, body: &[u8]) -> Result<Function, String> {
        if let Some(f) = self.fns.get(sha) {
            return Ok(f.clone());
        }
        // The shebang is not Lua: the code starts at its newline, so line
        // numbers in errors stay those of the whole body.
        let start = shebang(body)?.map_or(0, |(_, len)| len);
        let f = self
            .lua
            .load(&body[start..])
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                // Lua's own message (mlua's display adds "syntax error: ").
                let e = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    e => e.to_string(),
                };
                format!(
                    "Error compiling script (new function): {}",
                    e.lines()
                        .next()
                        .unwrap_or("")
                        .replace("[string \"@user_script\"]", "user_script")
                )
            })?;
        self.fns.insert(sha.to_string(), f.clone());
        Ok(f)
    }
}
