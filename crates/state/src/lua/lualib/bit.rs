//! `bit`: LuaBitOp on 32-bit integers.

use mlua::{Lua, Table};

use super::values::err;

/// LuaBitOp's argument normalisation: the number modulo 2^32 as an int32.
fn tobit(v: f64) -> i32 {
    let r = v.round_ties_even();
    (r.rem_euclid(4_294_967_296.0) as u64 as u32) as i32
}

pub(super) fn lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let fold = |lua: &Lua, name: &str, f: fn(i32, i32) -> i32| -> mlua::Result<()> {
        t.set(
            name,
            lua.create_function(move |_, args: mlua::Variadic<f64>| {
                let mut it = args.iter();
                let first = it
                    .next()
                    .ok_or_else(|| err("bad argument #1 (number expected, got no value)"))?;
                Ok(it.fold(tobit(*first), |a, &b| f(a, tobit(b))) as f64)
            })?,
        )
    };
    fold(lua, "band", |a, b| a & b)?;
    fold(lua, "bor", |a, b| a | b)?;
    fold(lua, "bxor", |a, b| a ^ b)?;
    t.set(
        "tobit",
        lua.create_function(|_, x: f64| Ok(tobit(x) as f64))?,
    )?;
    t.set(
        "bnot",
        lua.create_function(|_, x: f64| Ok(!tobit(x) as f64))?,
    )?;
    t.set(
        "bswap",
        lua.create_function(|_, x: f64| Ok(tobit(x).swap_bytes() as f64))?,
    )?;
    let shift = |lua: &Lua, name: &str, f: fn(i32, u32) -> i32| -> mlua::Result<()> {
        t.set(
            name,
            lua.create_function(move |_, (x, n): (f64, f64)| {
                Ok(f(tobit(x), (tobit(n) & 31) as u32) as f64)
            })?,
        )
    };
    shift(lua, "lshift", |x, n| ((x as u32) << n) as i32)?;
    shift(lua, "rshift", |x, n| ((x as u32) >> n) as i32)?;
    shift(lua, "arshift", |x, n| x >> n)?;
    shift(lua, "rol", |x, n| (x as u32).rotate_left(n) as i32)?;
    shift(lua, "ror", |x, n| (x as u32).rotate_right(n) as i32)?;
    t.set(
        "tohex",
        lua.create_function(|_, (x, n): (f64, Option<f64>)| {
            let n = n.map_or(8, tobit);
            let (upper, w) = if n < 0 {
                (true, (-n).min(8))
            } else {
                (false, n.min(8))
            };
            let v = tobit(x) as u32 as u64;
            let s = format!("{:08x}", v);
            let s = &s[8 - w as usize..];
            Ok(if upper {
                s.to_uppercase()
            } else {
                s.to_string()
            })
        })?,
    )?;
    Ok(t)
}
