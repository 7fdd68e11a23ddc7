//! The libraries Redis preloads into its Lua: `cjson`, `cmsgpack`, `bit` and
//! `struct`.
//!
//! Queue libraries ship scripts that depend on them (BullMQ unpacks its job
//! options with `cmsgpack.unpack` and writes events with `cjson.encode`), so a
//! script that works on Redis must find them here too. Written against the
//! behaviour of Redis's bundled lua-cjson, lua-cmsgpack and LuaBitOp.

use mlua::{LightUserData, Lua, MultiValue, Table, Value as LV};

/// Installs the libraries as globals (before the globals are frozen).
pub(super) fn install(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.set("cjson", cjson(lua)?)?;
    g.set("cmsgpack", cmsgpack(lua)?)?;
    g.set("bit", bit(lua)?)?;
    g.set("struct", struct_lib(lua)?)?;
    Ok(())
}

fn err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// `cjson.null`: a NULL light userdata, as in lua-cjson.
fn null() -> LV {
    LV::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn number(v: &LV) -> Option<f64> {
    match v {
        LV::Integer(n) => Some(*n as f64),
        LV::Number(n) => Some(*n),
        _ => None,
    }
}

/// Array length for lua-cjson: positive integer keys only; holes allowed
/// (encoded as null) unless the array is "excessively sparse".
fn json_array_len(t: &Table) -> mlua::Result<Option<usize>> {
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
    if max > count * 2 && max > 10 {
        return Err(err("Cannot serialise table: excessively sparse array"));
    }
    Ok(Some(max))
}

/// Array length if `t` is a Lua array (keys exactly 1..n), else None: the
/// lua-cmsgpack rule.
fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
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
    Ok((count == max).then_some(max))
}

// === cjson ===

fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|lua, v: LV| {
            let mut out = Vec::new();
            json_encode(&v, &mut out, 0)?;
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let b = s.as_bytes();
            let mut p = JsonParser { b: &b, i: 0, lua };
            let v = p.value(0)?;
            p.ws();
            if p.i != b.len() {
                return Err(p.fail("the end"));
            }
            Ok(v)
        })?,
    )?;
    t.set("null", null())?;
    Ok(t)
}

fn json_number(n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !n.is_finite() {
        return Err(err("Cannot serialise number: must not be NaN or Inf"));
    }
    // lua-cjson prints with "%.14g".
    out.extend_from_slice(crate::resp::fmt_g(n, 14).as_bytes());
    Ok(())
}

fn json_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn json_encode(v: &LV, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    if depth > 1000 {
        return Err(err("Cannot serialise, excessive nesting (1001)".to_string()));
    }
    match v {
        LV::Nil => out.extend_from_slice(b"null"),
        LV::LightUserData(u) if u.0.is_null() => out.extend_from_slice(b"null"),
        LV::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        LV::Integer(_) | LV::Number(_) => json_number(number(v).unwrap_or(0.0), out)?,
        LV::String(s) => json_string(&s.as_bytes(), out),
        LV::Table(t) => match json_array_len(t)? {
            Some(n) if n > 0 => {
                out.push(b'[');
                for i in 1..=n {
                    if i > 1 {
                        out.push(b',');
                    }
                    json_encode(&t.raw_get::<LV>(i)?, out, depth + 1)?;
                }
                out.push(b']');
            }
            _ => {
                out.push(b'{');
                let mut first = true;
                for pair in t.clone().pairs::<LV, LV>() {
                    let (k, val) = pair?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match &k {
                        LV::String(s) => json_string(&s.as_bytes(), out),
                        LV::Integer(_) | LV::Number(_) => {
                            out.push(b'"');
                            json_number(number(&k).unwrap_or(0.0), out)?;
                            out.push(b'"');
                        }
                        _ => {
                            return Err(err(
                                "Cannot serialise table: table key must be a number or string",
                            ))
                        }
                    }
                    out.push(b':');
                    json_encode(&val, out, depth + 1)?;
                }
                out.push(b'}');
            }
        },
        other => {
            return Err(err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    }
    Ok(())
}

struct JsonParser<'a> {
    b: &'a [u8],
    i: usize,
    lua: &'a Lua,
}

impl JsonParser<'_> {
    fn fail(&self, want: &str) -> mlua::Error {
        err(format!(
            "Expected {want} but found invalid token at character {}",
            self.i + 1
        ))
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &[u8], v: LV) -> mlua::Result<LV> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.fail("value"))
        }
    }

    fn value(&mut self, depth: usize) -> mlua::Result<LV> {
        if depth > 1000 {
            return Err(err("Found too many nested data structures (1001)"));
        }
        self.ws();
        let Some(&c) = self.b.get(self.i) else {
            return Err(self.fail("value"));
        };
        match c {
            b'{' => {
                self.i += 1;
                let t = self.lua.create_table()?;
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(LV::Table(t));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.fail("object key string"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.fail("colon"));
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    t.raw_set(self.lua.create_string(&k)?, v)?;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(LV::Table(t));
                        }
                        _ => return Err(self.fail("comma or object end")),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let t = self.lua.create_table()?;
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(LV::Table(t));
                }
                let mut n = 1;
                loop {
                    let v = self.value(depth + 1)?;
                    t.raw_set(n, v)?;
                    n += 1;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(LV::Table(t));
                        }
                        _ => return Err(self.fail("comma or array end")),
                    }
                }
            }
            b'"' => Ok(LV::String(self.lua.create_string(self.string()?)?)),
            b't' => self.lit(b"true", LV::Boolean(true)),
            b'f' => self.lit(b"false", LV::Boolean(false)),
            b'n' => self.lit(b"null", null()),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                std::str::from_utf8(&self.b[start..self.i])
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(LV::Number)
                    .ok_or_else(|| {
                        self.i = start;
                        self.fail("value")
                    })
            }
            _ => Err(self.fail("value")),
        }
    }

    fn hex4(&mut self) -> mlua::Result<u32> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.fail("unicode escape"))?;
        self.i += 4;
        Ok(h)
    }

    /// Parses a string at `"`; returns its bytes.
    fn string(&mut self) -> mlua::Result<Vec<u8>> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.fail("string end"));
            };
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(self.fail("escape"));
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp)
                                && self.b[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xd800) << 10)
                                    + (lo.wrapping_sub(0xdc00) & 0x3ff);
                            }
                            let ch =
                                char::from_u32(cp).ok_or_else(|| self.fail("unicode escape"))?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.fail("escape")),
                    }
                }
                c => out.push(c),
            }
        }
    }
}

// === cmsgpack ===

fn cmsgpack(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(err("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for a in args.iter() {
                mp_encode(a, &mut out, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let b = s.as_bytes();
            let mut d = MpDecoder { b: &b, i: 0, lua };
            let mut vals = Vec::new();
            while d.i < b.len() {
                vals.push(d.value(0)?);
            }
            Ok(MultiValue::from_iter(vals))
        })?,
    )?;
    Ok(t)
}

fn mp_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        let u = n as u64;
        if u < 128 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn mp_len(len: usize, small: (u8, usize), codes: [u8; 3], has8: bool, out: &mut Vec<u8>) {
    if len < small.1 {
        out.push(small.0 | len as u8);
    } else if has8 && len <= 0xff {
        out.extend_from_slice(&[codes[0], len as u8]);
    } else if len <= 0xffff {
        out.push(codes[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(codes[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn mp_encode(v: &LV, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    match v {
        LV::Nil => out.push(0xc0),
        LV::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        LV::Integer(n) => mp_int(*n, out),
        LV::Number(n) => {
            // lua-cmsgpack: integral values as integers, others as the
            // narrowest float that holds them exactly.
            if n.fract() == 0.0 && n.abs() < 9.2e18 {
                mp_int(*n as i64, out);
            } else if (*n as f32) as f64 == *n {
                out.push(0xca);
                out.extend_from_slice(&(*n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        LV::String(s) => {
            let b = s.as_bytes();
            mp_len(b.len(), (0xa0, 32), [0xd9, 0xda, 0xdb], true, out);
            out.extend_from_slice(&b);
        }
        // lua-cmsgpack stops descending at 16 levels and writes nil.
        LV::Table(_) if depth >= 16 => out.push(0xc0),
        LV::Table(t) => match array_len(t)? {
            Some(n) if n > 0 => {
                mp_len(n, (0x90, 16), [0, 0xdc, 0xdd], false, out);
                for i in 1..=n {
                    mp_encode(&t.raw_get::<LV>(i)?, out, depth + 1)?;
                }
            }
            _ => {
                let pairs: Vec<(LV, LV)> =
                    t.clone().pairs::<LV, LV>().collect::<mlua::Result<_>>()?;
                mp_len(pairs.len(), (0x80, 16), [0, 0xde, 0xdf], false, out);
                for (k, val) in &pairs {
                    mp_encode(k, out, depth + 1)?;
                    mp_encode(val, out, depth + 1)?;
                }
            }
        },
        _ => out.push(0xc0),
    }
    Ok(())
}

struct MpDecoder<'a> {
    b: &'a [u8],
    i: usize,
    lua: &'a Lua,
}

impl MpDecoder<'_> {
    fn take(&mut self, n: usize) -> mlua::Result<&[u8]> {
        let s = self
            .b
            .get(self.i..self.i + n)
            .ok_or_else(|| err("Missing bytes in input."))?;
        self.i += n;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> mlua::Result<u64> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }

    fn int(&mut self, n: usize) -> mlua::Result<i64> {
        let u = self.uint(n)?;
        let shift = 64 - 8 * n as u32;
        Ok(((u << shift) as i64) >> shift)
    }

    fn num(n: i64) -> LV {
        LV::Number(n as f64)
    }

    fn bytes(&mut self, n: usize) -> mlua::Result<LV> {
        let s = self.take(n)?.to_vec();
        Ok(LV::String(self.lua.create_string(&s)?))
    }

    fn array(&mut self, n: usize, depth: usize) -> mlua::Result<LV> {
        let t = self.lua.create_table()?;
        for i in 1..=n {
            let v = self.value(depth + 1)?;
            t.raw_set(i, v)?;
        }
        Ok(LV::Table(t))
    }

    fn map(&mut self, n: usize, depth: usize) -> mlua::Result<LV> {
        let t = self.lua.create_table()?;
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            let v = self.value(depth + 1)?;
            if !matches!(k, LV::Nil) {
                t.raw_set(k, v)?;
            }
        }
        Ok(LV::Table(t))
    }

    fn value(&mut self, depth: usize) -> mlua::Result<LV> {
        if depth > 1000 {
            return Err(err("Too many nested data structures."));
        }
        let c = self.take(1)?[0];
        Ok(match c {
            0x00..=0x7f => Self::num(c as i64),
            0x80..=0x8f => self.map((c & 0x0f) as usize, depth)?,
            0x90..=0x9f => self.array((c & 0x0f) as usize, depth)?,
            0xa0..=0xbf => self.bytes((c & 0x1f) as usize)?,
            0xc0 => LV::Nil,
            0xc2 => LV::Boolean(false),
            0xc3 => LV::Boolean(true),
            0xc4 | 0xd9 => {
                let n = self.uint(1)? as usize;
                self.bytes(n)?
            }
            0xc5 | 0xda => {
                let n = self.uint(2)? as usize;
                self.bytes(n)?
            }
            0xc6 | 0xdb => {
                let n = self.uint(4)? as usize;
                self.bytes(n)?
            }
            0xca => LV::Number(f32::from_be_bytes(self.take(4)?.try_into().expect("4")) as f64),
            0xcb => LV::Number(f64::from_be_bytes(self.take(8)?.try_into().expect("8"))),
            0xcc => Self::num(self.uint(1)? as i64),
            0xcd => Self::num(self.uint(2)? as i64),
            0xce => Self::num(self.uint(4)? as i64),
            0xcf => LV::Number(self.uint(8)? as f64),
            0xd0 => Self::num(self.int(1)?),
            0xd1 => Self::num(self.int(2)?),
            0xd2 => Self::num(self.int(4)?),
            0xd3 => Self::num(self.int(8)?),
            0xdc => {
                let n = self.uint(2)? as usize;
                self.array(n, depth)?
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                self.array(n, depth)?
            }
            0xde => {
                let n = self.uint(2)? as usize;
                self.map(n, depth)?
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                self.map(n, depth)?
            }
            0xe0..=0xff => Self::num(c as i8 as i64),
            _ => return Err(err("Bad data format in input.")),
        })
    }
}

// === bit (LuaBitOp) ===

/// LuaBitOp's argument normalisation: the number modulo 2^32 as an int32.
fn tobit(v: f64) -> i32 {
    let r = v.round_ties_even();
    (r.rem_euclid(4_294_967_296.0) as u64 as u32) as i32
}

fn bit(lua: &Lua) -> mlua::Result<Table> {
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

// === struct (Roberto Ierusalimschy's lua_struct, as bundled by Redis) ===

/// One parsed `struct` format item.
#[derive(Clone, Copy)]
enum Item {
    Int { size: usize, signed: bool },
    Float,
    Double,
    Chars(usize),
    Zstr,
    Pad,
}

/// Walks a format string, tracking endianness and alignment like lua_struct.
struct Fmt<'a> {
    f: &'a [u8],
    i: usize,
    little: bool,
    align: usize,
}

impl<'a> Fmt<'a> {
    fn new(f: &'a [u8]) -> Self {
        Fmt {
            f,
            i: 0,
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }

    fn num(&mut self, default: usize) -> usize {
        let start = self.i;
        while self.i < self.f.len() && self.f[self.i].is_ascii_digit() {
            self.i += 1;
        }
        std::str::from_utf8(&self.f[start..self.i])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    }

    /// Next item, or None at the end of the format.
    fn next(&mut self) -> mlua::Result<Option<Item>> {
        while let Some(&c) = self.f.get(self.i) {
            self.i += 1;
            let item = match c {
                b' ' => continue,
                b'>' => {
                    self.little = false;
                    continue;
                }
                b'<' => {
                    self.little = true;
                    continue;
                }
                b'!' => {
                    self.align = self.num(8);
                    continue;
                }
                b'x' => Item::Pad,
                b'b' => Item::Int {
                    size: 1,
                    signed: true,
                },
                b'B' => Item::Int {
                    size: 1,
                    signed: false,
                },
                b'h' => Item::Int {
                    size: 2,
                    signed: true,
                },
                b'H' => Item::Int {
                    size: 2,
                    signed: false,
                },
                b'l' => Item::Int {
                    size: 8,
                    signed: true,
                },
                b'L' | b'T' => Item::Int {
                    size: 8,
                    signed: false,
                },
                b'i' | b'I' => {
                    let size = self.num(4);
                    if !(1..=8).contains(&size) {
                        return Err(err(format!(
                            "integral size {size} is larger than limit of 8"
                        )));
                    }
                    Item::Int {
                        size,
                        signed: c == b'i',
                    }
                }
                b'f' => Item::Float,
                b'd' => Item::Double,
                b'c' => Item::Chars(self.num(1)),
                b's' => Item::Zstr,
                other => {
                    return Err(err(format!("invalid format option '{}'", other as char)));
                }
            };
            return Ok(Some(item));
        }
        Ok(None)
    }

    /// Padding before `it` at offset `pos` (strings are never aligned).
    fn pad(&self, it: Item, pos: usize) -> usize {
        if matches!(it, Item::Chars(_) | Item::Zstr) {
            return 0;
        }
        let a = item_size(it).min(self.align);
        if a <= 1 || !a.is_power_of_two() {
            return 0;
        }
        (a - (pos & (a - 1))) & (a - 1)
    }
}

fn item_size(it: Item) -> usize {
    match it {
        Item::Int { size, .. } => size,
        Item::Float => 4,
        Item::Double => 8,
        Item::Chars(n) => n,
        Item::Zstr => 0,
        Item::Pad => 1,
    }
}

fn put_int(out: &mut Vec<u8>, v: u64, size: usize, little: bool) {
    let bytes = v.to_le_bytes();
    if little {
        out.extend_from_slice(&bytes[..size]);
    } else {
        out.extend(bytes[..size].iter().rev());
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8], little: bool) {
    // `b` is little-endian.
    if little {
        out.extend_from_slice(b);
    } else {
        out.extend(b.iter().rev());
    }
}

fn struct_lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            let mut args = args.into_iter();
            let fmt = match args.next() {
                Some(LV::String(s)) => s.as_bytes().to_vec(),
                _ => return Err(err("bad argument #1 to 'pack' (string expected)")),
            };
            let mut f = Fmt::new(&fmt);
            let mut out = Vec::new();
            let mut argn = 1;
            while let Some(it) = f.next()? {
                let pad = f.pad(it, out.len());
                out.resize(out.len() + pad, 0);
                if matches!(it, Item::Pad) {
                    out.push(0);
                    continue;
                }
                argn += 1;
                let arg = args.next().unwrap_or(LV::Nil);
                let bad =
                    |what: &str| err(format!("bad argument #{argn} to 'pack' ({what} expected)"));
                match it {
                    Item::Int { size, .. } => {
                        let n = number(&arg).ok_or_else(|| bad("number"))?;
                        // lua_struct: negatives through long, others through unsigned long.
                        let v = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                        put_int(&mut out, v, size, f.little);
                    }
                    Item::Float => {
                        let n = number(&arg).ok_or_else(|| bad("number"))?;
                        put_bytes(&mut out, &(n as f32).to_le_bytes(), f.little);
                    }
                    Item::Double => {
                        let n = number(&arg).ok_or_else(|| bad("number"))?;
                        put_bytes(&mut out, &n.to_le_bytes(), f.little);
                    }
                    Item::Chars(n) => {
                        let s = match &arg {
                            LV::String(s) => s.as_bytes().to_vec(),
                            LV::Integer(_) | LV::Number(_) => {
                                crate::resp::fmt_g(number(&arg).unwrap_or(0.0), 14).into_bytes()
                            }
                            _ => return Err(bad("string")),
                        };
                        let n = if n == 0 { s.len() } else { n };
                        if s.len() < n {
                            return Err(err(format!(
                                "bad argument #{argn} to 'pack' (string too short)"
                            )));
                        }
                        out.extend_from_slice(&s[..n]);
                    }
                    Item::Zstr => {
                        let LV::String(s) = &arg else {
                            return Err(bad("string"));
                        };
                        let b = s.as_bytes();
                        if b.contains(&0) {
                            return Err(err(format!(
                                "bad argument #{argn} to 'pack' (string contains zeros)"
                            )));
                        }
                        out.extend_from_slice(&b);
                        out.push(0);
                    }
                    Item::Pad => unreachable!("handled above"),
                }
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(
            |lua, (fmt, data, init): (mlua::String, mlua::String, Option<i64>)| {
                let fmt = fmt.as_bytes().to_vec();
                let data = data.as_bytes().to_vec();
                let mut pos = match init {
                    Some(i) if i >= 1 => (i - 1) as usize,
                    Some(_) => {
                        return Err(err(
                            "bad argument #3 to 'unpack' (offset must be 1 or greater)",
                        ))
                    }
                    None => 0,
                };
                let mut f = Fmt::new(&fmt);
                let mut vals: Vec<LV> = Vec::new();
                let short = || err("bad argument #2 to 'unpack' (data string too short)");
                while let Some(it) = f.next()? {
                    let size = item_size(it);
                    pos += f.pad(it, pos);
                    match it {
                        Item::Pad => {
                            pos += 1;
                            continue;
                        }
                        Item::Int { size, signed } => {
                            let b = data.get(pos..pos + size).ok_or_else(short)?;
                            let mut le = [0u8; 8];
                            if f.little {
                                le[..size].copy_from_slice(b);
                            } else {
                                for (d, s) in le[..size].iter_mut().zip(b.iter().rev()) {
                                    *d = *s;
                                }
                            }
                            let u = u64::from_le_bytes(le);
                            let v = if signed && size < 8 {
                                let shift = 64 - 8 * size as u32;
                                (((u << shift) as i64) >> shift) as f64
                            } else if signed {
                                u as i64 as f64
                            } else {
                                u as f64
                            };
                            vals.push(LV::Number(v));
                            pos += size;
                        }
                        Item::Float | Item::Double => {
                            let b = data.get(pos..pos + size).ok_or_else(short)?;
                            let mut le = b.to_vec();
                            if !f.little {
                                le.reverse();
                            }
                            let v = if size == 4 {
                                f32::from_le_bytes(le.try_into().expect("4")) as f64
                            } else {
                                f64::from_le_bytes(le.try_into().expect("8"))
                            };
                            vals.push(LV::Number(v));
                            pos += size;
                        }
                        Item::Chars(n) => {
                            // `c0` takes its length from the number just read,
                            // which is consumed.
                            let n = if n == 0 {
                                match vals.pop().as_ref().and_then(number) {
                                    Some(len) => len as usize,
                                    None => return Err(err("format 'c0' needs a previous size")),
                                }
                            } else {
                                n
                            };
                            let b = data.get(pos..pos + n).ok_or_else(short)?;
                            vals.push(LV::String(lua.create_string(b)?));
                            pos += n;
                        }
                        Item::Zstr => {
                            let rest = data.get(pos..).ok_or_else(short)?;
                            let end = rest
                                .iter()
                                .position(|&c| c == 0)
                                .ok_or_else(|| err("unfinished string in data"))?;
                            vals.push(LV::String(lua.create_string(&rest[..end])?));
                            pos += end + 1;
                        }
                    }
                }
                vals.push(LV::Number((pos + 1) as f64));
                Ok(MultiValue::from_iter(vals))
            },
        )?,
    )?;
    t.set(
        "size",
        lua.create_function(|_, fmt: mlua::String| {
            let fmt = fmt.as_bytes().to_vec();
            let mut f = Fmt::new(&fmt);
            let mut pos = 0usize;
            while let Some(it) = f.next()? {
                let size = item_size(it);
                if matches!(it, Item::Zstr) || matches!(it, Item::Chars(0)) {
                    return Err(err("options 'c0' - 's' have undefined sizes"));
                }
                pos += f.pad(it, pos) + size;
            }
            Ok(pos as f64)
        })?,
    )?;
    Ok(t)
}
