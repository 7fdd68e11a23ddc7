//! The libraries Redis preloads into its Lua: `cjson`, `cmsgpack`, `bit` and
//! `struct`.
//!
//! Queue libraries ship scripts that depend on them (BullMQ unpacks its job
//! options with `cmsgpack.unpack` and writes events with `cjson.encode`), so a
//! script that works on Redis must find them here too. Written against the
//! behaviour of Redis's bundled lua-cjson, lua-cmsgpack, LuaBitOp and
//! lua_struct, and checked against redis-server in tests/commands.rs.

use mlua::{Lua, MultiValue, Table, Value as LV};

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;
mod values;

/// Installs the libraries as globals (before the globals are frozen).
pub(super) fn install(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set("cjson", positioned(lua, cjson::lib(lua)?)?)?;
    g.set("cmsgpack", positioned(lua, cmsgpack::lib(lua)?)?)?;
    g.set("bit", positioned(lua, bit::lib(lua)?)?)?;
    g.set("struct", positioned(lua, structlib::lib(lua)?)?)?;
    Ok(())
}

/// Lua side of [`positioned`]: raises a failure as a string error, at the
/// caller's line, as `luaL_error` does in the C libraries.
const RAISE: &str = r#"
local guard = ...
local function finish(ok, ...)
  if ok then return ... end
  -- Level 3: the wrapper below tail-calls finish, so its caller is two up.
  error((...), 3)
end
return function(...) return finish(guard(...)) end
"#;

/// Wraps a library's functions so a failure reaches the script as a plain
/// string ("user_script:LINE: ..."), not a Rust error object: `pcall(cjson.decode,
/// s)` must hand back a message the script can concatenate, as on Redis.
fn positioned(lua: &Lua, t: Table) -> mlua::Result<Table> {
    let make: mlua::Function = lua.load(RAISE).set_name("=lualib").into_function()?;
    let fns: Vec<(LV, mlua::Function)> = t
        .clone()
        .pairs::<LV, LV>()
        .filter_map(|p| match p {
            Ok((k, LV::Function(f))) => Some(Ok((k, f))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<mlua::Result<_>>()?;
    for (k, f) in fns {
        // The Rust function never raises: it reports (ok, values...) or
        // (false, message) and the Lua wrapper raises.
        let guard = lua.create_function(move |lua, args: MultiValue| {
            let mut out = MultiValue::new();
            match f.call::<MultiValue>(args) {
                Ok(v) => {
                    out.push_back(LV::Boolean(true));
                    out.extend(v);
                }
                Err(e) => {
                    out.push_back(LV::Boolean(false));
                    out.push_back(LV::String(lua.create_string(root_message(&e))?));
                }
            }
            Ok(out)
        })?;
        t.raw_set(k, make.call::<mlua::Function>(guard)?)?;
    }
    Ok(t)
}

fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(s) => s.clone(),
        other => other.to_string(),
    }
}
