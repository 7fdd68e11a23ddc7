//! `cmsgpack`: lua-cmsgpack's pack/unpack.

use mlua::{Lua, MultiValue, Table, Value as LV};

use super::values::{err, int_keys};

/// Array length if `t` is a Lua array (keys exactly 1..n), else None: the
/// lua-cmsgpack rule.
fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    Ok(int_keys(t)?.and_then(|(count, max)| (count == max).then_some(max)))
}

pub(super) fn lib(lua: &Lua) -> mlua::Result<Table> {
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
