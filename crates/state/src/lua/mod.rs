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
        let f = self
            .lua
            .load(body)
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                format!(
                    "Error compiling script (new function): {}",
                    e.to_string()
                        .lines()
                        .next()
                        .unwrap_or("")
                        .replace("[string \"@user_script\"]", "user_script")
                )
            })?;
        self.fns.insert(sha.to_string(), f.clone());
        Ok(f)
    }
}
