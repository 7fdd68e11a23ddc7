//! The libraries Redis preloads into its Lua: `cjson`, `cmsgpack`, `bit` and
//! `struct`.
//!
//! Queue libraries ship scripts that depend on them (BullMQ unpacks its job
//! options with `cmsgpack.unpack` and writes events with `cjson.encode`), so a
//! script that works on Redis must find them here too. Written against the
//! behaviour of Redis's bundled lua-cjson, lua-cmsgpack, LuaBitOp and
//! lua_struct, and checked against redis-server in tests/commands.rs.

use mlua::{Lua, Table, Value as LV};

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

/// Installs the libraries as globals (before the globals are frozen).
pub(super) fn install(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set("cjson", cjson::lib(lua)?)?;
    g.set("cmsgpack", cmsgpack::lib(lua)?)?;
    g.set("bit", bit::lib(lua)?)?;
    g.set("struct", structlib::lib(lua)?)?;
    Ok(())
}

fn err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

fn number(v: &LV) -> Option<f64> {
    match v {
        LV::Integer(n) => Some(*n as f64),
        LV::Number(n) => Some(*n),
        _ => None,
    }
}

/// `(count, largest)` of a table's keys if all are positive integers (an
/// array, perhaps with holes), else None.
fn int_keys(t: &Table) -> mlua::Result<Option<(usize, usize)>> {
    let (mut count, mut max) = (0usize, 0usize);
    for pair in t.clone().pairs::<LV, LV>() {
        let (k, _) = pair?;
        match number(&k) {
            Some(n) if n >= 1.0 && n.fract() == 0.0 && n < 1e15 => {
                count += 1;
                max = max.max(n as usize);
            }
            _ => return Ok(None),
        }
    }
    Ok(Some((count, max)))
}
