//! `struct`: Roberto Ierusalimschy's lua_struct, as bundled by Redis:
//! pack/unpack/size of binary records with endianness and alignment.

use mlua::{Lua, MultiValue, Table, Value as LV};

use super::values::{err, number};

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

pub(super) fn lib(lua: &Lua) -> mlua::Result<Table> {
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
                    // Unreachable by construction: padding `continue`s at the
                    // top of the loop, before an argument is taken.
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
