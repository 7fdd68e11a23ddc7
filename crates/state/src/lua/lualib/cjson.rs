//! `cjson`: lua-cjson's encode/decode, `cjson.null`.

use mlua::{LightUserData, Lua, Table, Value as LV};

use super::values::{err, int_keys, number};

/// `cjson.null`: a NULL light userdata, as in lua-cjson.
fn null() -> LV {
    LV::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// Array length for lua-cjson: positive integer keys only; holes allowed
/// (encoded as null) unless the array is "excessively sparse".
fn json_array_len(t: &Table) -> mlua::Result<Option<usize>> {
    let Some((count, max)) = int_keys(t)? else {
        return Ok(None);
    };
    if max > count * 2 && max > 10 {
        return Err(err("Cannot serialise table: excessively sparse array"));
    }
    Ok(Some(max))
}

pub(super) fn lib(lua: &Lua) -> mlua::Result<Table> {
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
