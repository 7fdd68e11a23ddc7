//! Bit commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD.
//!
//! Bits are numbered from the most significant bit of the first byte, as in
//! Redis, so `SETBIT k 0 1` makes the string `"\x80"`.

use bytes::Bytes;

use super::args::{int, is, syntax};
use super::ctx::{Ctx, R};
use crate::resp::{parse_i64, Reply};
use crate::store::{notify, Value};

/// Redis's proto-max-bulk-len: a string never grows past 512 MB.
const MAX_BYTES: u64 = 512 * 1024 * 1024;

fn bad_offset() -> Reply {
    Reply::err("bit offset is not an integer or out of range")
}

/// A bit offset argument; `#N` counts in units of `width` bits (BITFIELD).
fn bit_offset(b: &[u8], width: Option<u64>) -> Result<u64, Reply> {
    let (hash, digits) = match (width, b.first()) {
        (Some(_), Some(b'#')) => (true, &b[1..]),
        _ => (false, b),
    };
    let v = parse_i64(digits).ok_or_else(bad_offset)?;
    let v = if hash {
        v.checked_mul(width.unwrap_or(1) as i64)
            .ok_or_else(bad_offset)?
    } else {
        v
    };
    if v < 0 || (v as u64 >> 3) >= MAX_BYTES {
        return Err(bad_offset());
    }
    Ok(v as u64)
}

fn get_bit(s: &[u8], off: u64) -> u8 {
    s.get((off >> 3) as usize)
        .map_or(0, |b| (b >> (7 - (off & 7))) & 1)
}

fn set_bit(s: &mut [u8], off: u64, on: bool) {
    let b = &mut s[(off >> 3) as usize];
    let mask = 1 << (7 - (off & 7));
    if on {
        *b |= mask;
    } else {
        *b &= !mask;
    }
}

/// The string at `key` grown to hold `bits` bits, created if missing.
/// Returns whether it was created or grown.
fn string_for_write(ctx: &mut Ctx<'_>, key: &[u8], bits: u64) -> Result<bool, Reply> {
    let need = bits.div_ceil(8) as usize;
    match ctx.get_str(key)? {
        Some(s) => {
            if s.len() < need {
                s.resize(need, 0);
                return Ok(true);
            }
            Ok(false)
        }
        None => {
            ctx.set_key(key, Value::Str(vec![0; need]), true);
            Ok(true)
        }
    }
}

pub(super) fn setbit(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let off = bit_offset(&a[2], None)?;
    let on = match &a[3][..] {
        b"0" => false,
        b"1" => true,
        _ => return Err(Reply::err("bit is not an integer or out of range")),
    };
    string_for_write(ctx, &a[1], off + 1)?;
    let s = ctx.get_str(&a[1])?.expect("just written");
    let old = get_bit(s, off);
    set_bit(s, off, on);
    ctx.dirty(1);
    ctx.notify(notify::STRING, "setbit", &a[1]);
    Ok(Reply::Int(old as i64))
}

pub(super) fn getbit(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let off = bit_offset(&a[2], None)?;
    Ok(Reply::Int(
        ctx.get_str(&a[1])?.map_or(0, |s| get_bit(s, off)) as i64,
    ))
}

/// Resolves a BITCOUNT / BITPOS range to inclusive bit indexes, with Redis's
/// negative-index rules. None = empty range.
fn bit_range(len_bytes: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits {
        len_bytes as i64 * 8
    } else {
        len_bytes as i64
    };
    let (mut s, mut e) = (start, end);
    if s < 0 && e < 0 && s > e {
        return None;
    }
    if s < 0 {
        s += total;
    }
    if e < 0 {
        e += total;
    }
    s = s.max(0);
    e = e.max(0);
    if e >= total {
        e = total - 1;
    }
    if s > e {
        return None;
    }
    Some(if in_bits {
        (s as u64, e as u64)
    } else {
        (s as u64 * 8, e as u64 * 8 + 7)
    })
}

fn unit(b: &[u8]) -> Result<bool, Reply> {
    if is(b, "bit") {
        Ok(true)
    } else if is(b, "byte") {
        Ok(false)
    } else {
        Err(syntax())
    }
}

fn count_bits(s: &[u8], lo: u64, hi: u64) -> u64 {
    let (lb, hb) = ((lo >> 3) as usize, (hi >> 3) as usize);
    let mut n: u64 = s[lb..=hb].iter().map(|b| b.count_ones() as u64).sum();
    // Take off the bits of the edge bytes that lie outside the range.
    if lo & 7 != 0 {
        n -= (s[lb] >> (8 - (lo & 7))).count_ones() as u64;
    }
    n -= (s[hb] & ((1u16 << (7 - (hi & 7))) - 1) as u8).count_ones() as u64;
    n
}

pub(super) fn bitcount(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let range = match a.len() {
        2 => None,
        4 | 5 => {
            let (s, e) = (int(&a[2])?, int(&a[3])?);
            let bits = if a.len() == 5 { unit(&a[4])? } else { false };
            Some((s, e, bits))
        }
        _ => return Err(syntax()),
    };
    let Some(s) = ctx.get_str(&a[1])? else {
        return Ok(Reply::Int(0));
    };
    let (s0, e0, bits) = range.unwrap_or((0, -1, false));
    Ok(Reply::Int(match bit_range(s.len(), s0, e0, bits) {
        Some((lo, hi)) => count_bits(s, lo, hi) as i64,
        None => 0,
    }))
}

/// First bit equal to `want` in the inclusive bit range, skipping whole
/// bytes that cannot hold it (a 512 MB string is 4 G bits).
fn first_bit(s: &[u8], lo: u64, hi: u64, want: u8) -> Option<u64> {
    let skip = if want == 1 { 0x00 } else { 0xff };
    let mut i = lo;
    while i <= hi {
        if i & 7 == 0 && i + 7 <= hi && s[(i >> 3) as usize] == skip {
            i += 8;
            continue;
        }
        if get_bit(s, i) == want {
            return Some(i);
        }
        i += 1;
    }
    None
}

pub(super) fn bitpos(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let want = int(&a[2])?;
    if want != 0 && want != 1 {
        return Err(Reply::err("The bit argument must be 1 or 0."));
    }
    let want = want as u8;
    // A missing key is an infinite run of zeros.
    let Some(s) = ctx.get_str(&a[1])? else {
        return Ok(Reply::Int(if want == 1 { -1 } else { 0 }));
    };
    if a.len() > 6 {
        return Err(syntax());
    }
    let start = if a.len() >= 4 { int(&a[3])? } else { 0 };
    let bits = if a.len() == 6 { unit(&a[5])? } else { false };
    let end_given = a.len() >= 5;
    let end = if end_given { int(&a[4])? } else { -1 };
    let Some((lo, hi)) = bit_range(s.len(), start, end, bits) else {
        return Ok(Reply::Int(-1));
    };
    if let Some(p) = first_bit(s, lo, hi, want) {
        return Ok(Reply::Int(p as i64));
    }
    // No clear bit in the string: without an explicit end the zeros past the
    // end count, so the answer is the first bit after it.
    Ok(Reply::Int(if want == 0 && !end_given {
        hi as i64 + 1
    } else {
        -1
    }))
}

pub(super) fn bitop(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let op = &a[1];
    let kind = ["and", "or", "xor", "not"]
        .into_iter()
        .find(|k| is(op, k))
        .ok_or_else(syntax)?;
    let srcs = &a[3..];
    if kind == "not" && srcs.len() != 1 {
        return Err(Reply::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let mut vals = Vec::with_capacity(srcs.len());
    for k in srcs {
        vals.push(ctx.get_str(k)?.cloned().unwrap_or_default());
    }
    let len = vals.iter().map(|v| v.len()).max().unwrap_or(0);
    let byte = |v: &Vec<u8>, i: usize| v.get(i).copied().unwrap_or(0);
    let out: Vec<u8> = (0..len)
        .map(|i| match kind {
            "not" => !byte(&vals[0], i),
            _ => vals[1..]
                .iter()
                .fold(byte(&vals[0], i), |acc, v| match kind {
                    "and" => acc & byte(v, i),
                    "or" => acc | byte(v, i),
                    _ => acc ^ byte(v, i),
                }),
        })
        .collect();
    let dst = &a[2];
    if out.is_empty() {
        if ctx.del_key(dst) {
            ctx.notify(notify::GENERIC, "del", dst);
        }
    } else {
        ctx.set_key(dst, Value::Str(out), false);
        ctx.notify(notify::STRING, "set", dst);
    }
    ctx.dirty(1);
    Ok(Reply::Int(len as i64))
}

// === BITFIELD ===

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy)]
struct Field {
    signed: bool,
    bits: u32,
    offset: u64,
}

enum Op {
    Get(Field),
    Set(Field, i64, Overflow),
    Incr(Field, i64, Overflow),
}

fn field_type(b: &[u8]) -> Result<(bool, u32), Reply> {
    let bad = || {
        Reply::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match b.first() {
        Some(b'i' | b'I') => true,
        Some(b'u' | b'U') => false,
        _ => return Err(bad()),
    };
    let bits = std::str::from_utf8(&b[1..])
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or_else(bad)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(bad());
    }
    Ok((signed, bits))
}

fn read_field(s: &[u8], f: Field) -> i64 {
    let mut v: u64 = 0;
    for i in 0..f.bits as u64 {
        v = (v << 1) | get_bit(s, f.offset + i) as u64;
    }
    if f.signed && f.bits < 64 && v >> (f.bits - 1) & 1 == 1 {
        v |= u64::MAX << f.bits;
    }
    v as i64
}

fn write_field(s: &mut [u8], f: Field, v: i64) {
    for i in 0..f.bits as u64 {
        let bit = (v as u64 >> (f.bits as u64 - 1 - i)) & 1;
        set_bit(s, f.offset + i, bit == 1);
    }
}

/// The value to store for `v` in field `f`, or None when FAIL refuses it.
fn fit(f: Field, v: i128, ow: Overflow) -> Option<i64> {
    let (min, max): (i128, i128) = if f.signed {
        (-(1i128 << (f.bits - 1)), (1i128 << (f.bits - 1)) - 1)
    } else {
        (0, (1i128 << f.bits) - 1)
    };
    if (min..=max).contains(&v) {
        return Some(v as i64);
    }
    match ow {
        Overflow::Fail => None,
        Overflow::Sat => Some(if v > max { max } else { min } as i64),
        Overflow::Wrap => {
            let m = v.rem_euclid(1i128 << f.bits);
            Some(if f.signed && m > max {
                (m - (1i128 << f.bits)) as i64
            } else {
                m as i64
            })
        }
    }
}

fn bitfield_generic(ctx: &mut Ctx<'_>, a: &[Bytes], read_only: bool) -> R {
    let mut ops = Vec::new();
    let mut ow = Overflow::Wrap;
    let mut j = 2;
    while j < a.len() {
        let sub = &a[j];
        let left = a.len() - j - 1;
        if is(sub, "get") && left >= 2 {
            let (signed, bits) = field_type(&a[j + 1])?;
            let offset = bit_offset(&a[j + 2], Some(bits as u64))?;
            ops.push(Op::Get(Field {
                signed,
                bits,
                offset,
            }));
            j += 3;
        } else if (is(sub, "set") || is(sub, "incrby")) && left >= 3 {
            let (signed, bits) = field_type(&a[j + 1])?;
            let offset = bit_offset(&a[j + 2], Some(bits as u64))?;
            let v = int(&a[j + 3])?;
            let f = Field {
                signed,
                bits,
                offset,
            };
            ops.push(if is(sub, "set") {
                Op::Set(f, v, ow)
            } else {
                Op::Incr(f, v, ow)
            });
            j += 4;
        } else if is(sub, "overflow") && left >= 1 {
            let o = &a[j + 1];
            ow = if is(o, "wrap") {
                Overflow::Wrap
            } else if is(o, "sat") {
                Overflow::Sat
            } else if is(o, "fail") {
                Overflow::Fail
            } else {
                return Err(Reply::err("Invalid OVERFLOW type specified"));
            };
            j += 2;
        } else {
            return Err(syntax());
        }
    }
    let writes_to = ops
        .iter()
        .filter_map(|op| match op {
            Op::Set(f, ..) | Op::Incr(f, ..) => Some(f.offset + f.bits as u64),
            Op::Get(_) => None,
        })
        .max();
    if read_only && writes_to.is_some() {
        return Err(Reply::err("BITFIELD_RO only supports the GET subcommand"));
    }
    let Some(end) = writes_to else {
        let s = ctx.get_str(&a[1])?.cloned().unwrap_or_default();
        return Ok(Reply::Array(
            ops.iter()
                .map(|op| match op {
                    Op::Get(f) => Reply::Int(read_field(&s, *f)),
                    // Unreachable by construction: `writes_to` is None only
                    // when no op is a SET or INCRBY.
                    _ => unreachable!("no writes"),
                })
                .collect(),
        ));
    };
    let mut changed = string_for_write(ctx, &a[1], end)?;
    let s = ctx.get_str(&a[1])?.expect("just written");
    let mut out = Vec::with_capacity(ops.len());
    for op in &ops {
        out.push(match *op {
            Op::Get(f) => Reply::Int(read_field(s, f)),
            Op::Set(f, v, ow) => {
                let old = read_field(s, f);
                // Redis reads an unsigned SET value as a u64 (-1 is 2^64-1).
                let v = if f.signed {
                    v as i128
                } else {
                    v as u64 as i128
                };
                match fit(f, v, ow) {
                    Some(n) => {
                        write_field(s, f, n);
                        changed = true;
                        Reply::Int(old)
                    }
                    None => Reply::Nil,
                }
            }
            Op::Incr(f, by, ow) => {
                let old = read_field(s, f);
                let old = if f.signed {
                    old as i128
                } else {
                    old as u64 as i128
                };
                match fit(f, old + by as i128, ow) {
                    Some(n) => {
                        write_field(s, f, n);
                        changed = true;
                        Reply::Int(n)
                    }
                    None => Reply::Nil,
                }
            }
        });
    }
    if changed {
        ctx.dirty(1);
        ctx.notify(notify::STRING, "setbit", &a[1]);
    }
    Ok(Reply::Array(out))
}

pub(super) fn bitfield(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    bitfield_generic(ctx, a, false)
}

pub(super) fn bitfield_ro(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    bitfield_generic(ctx, a, true)
}
