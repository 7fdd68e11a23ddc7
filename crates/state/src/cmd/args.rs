//! Argument parsing the handlers share: integers, floats read as C reads
//! them, keywords, the multi-pop tail, and the error replies for arguments
//! that do not parse.

use bytes::Bytes;

use crate::resp::{parse_i64, Reply};

/// Syntax error.
pub(crate) fn syntax() -> Reply {
    Reply::err("syntax error")
}
/// Not an integer.
pub(crate) fn not_int() -> Reply {
    Reply::err("value is not an integer or out of range")
}

/// Parses an integer argument.
pub(crate) fn int(b: &[u8]) -> Result<i64, Reply> {
    parse_i64(b).ok_or_else(not_int)
}

/// Parses a float as Redis's `getDoubleFromObject` does: the whole argument
/// as C `strtod` reads it (hex included), no leading or trailing space, no
/// NaN, and no overflow to infinity or underflow to zero.
pub(crate) fn parse_float(b: &[u8]) -> Option<f64> {
    if b.first().is_some_and(|c| c_space(*c)) {
        return None;
    }
    let (v, range_err) = strtod_all(b)?;
    (!range_err && !v.is_nan()).then_some(v)
}

/// Parses a score-range bound as Redis's `zslParseRange` does: plain
/// `strtod` over the whole argument, so leading space, overflow to
/// infinity and the empty string (0) are accepted; NaN is not.
pub(crate) fn parse_range_float(b: &[u8]) -> Option<f64> {
    // A C string: an embedded NUL ends it.
    let b = b.split(|&c| c == 0).next().unwrap_or_default();
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b.iter().position(|c| !c_space(*c))?;
    let (v, _) = strtod_all(&b[start..])?;
    (!v.is_nan()).then_some(v)
}

/// C `isspace`.
fn c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtod` that must consume all of `b` (no leading space): the value and
/// whether it is out of range (finite text overflowing to infinity, or
/// non-zero text underflowing to zero).
fn strtod_all(b: &[u8]) -> Option<(f64, bool)> {
    let s = std::str::from_utf8(b).ok()?;
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => {
            return Some((
                if neg {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                },
                false,
            ))
        }
        "nan" => return Some((f64::NAN, false)),
        _ => {
            if let Some(hex) = lower.strip_prefix("0x") {
                parse_hex_float(hex)?
            } else {
                // Rust's grammar is C's for decimals, minus inf/nan handled above.
                if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
                    return None;
                }
                body.parse::<f64>().ok()?
            }
        }
    };
    let nonzero_text = lower.split(['e', 'p']).next().is_some_and(|m| {
        m.trim_start_matches("0x")
            .bytes()
            .any(|c| c.is_ascii_hexdigit() && c != b'0')
    });
    let range_err = v.is_infinite() || (v == 0.0 && nonzero_text);
    Some((if neg { -v } else { v }, range_err))
}

/// The digits of a C hex float after `0x`: `h[.h][p[+-]d]`.
fn parse_hex_float(h: &str) -> Option<f64> {
    let (mant, exp) = match h.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (h, 0),
    };
    let (int_part, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int_part.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// Case-insensitive argument match.
pub(crate) fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Parsed `numkeys key... WHERE [COUNT n]` of the multi-pops.
pub(crate) struct MPop {
    /// The keys.
    pub(crate) keys: Vec<Bytes>,
    /// RIGHT / MAX.
    pub(crate) max: bool,
    /// How many.
    pub(crate) count: usize,
}

/// Parses LMPOP/ZMPOP arguments from `numkeys_idx`, in Redis's order.
pub(crate) fn parse_mpop(
    a: &[Bytes],
    numkeys_idx: usize,
    low: &str,
    high: &str,
) -> Result<MPop, Reply> {
    let numkeys = parse_i64(&a[numkeys_idx])
        .filter(|&n| n >= 1)
        .ok_or_else(|| Reply::err("numkeys should be greater than 0"))?;
    let where_idx = (numkeys_idx as i64)
        .saturating_add(numkeys)
        .saturating_add(1);
    if where_idx >= a.len() as i64 {
        return Err(syntax());
    }
    let where_idx = where_idx as usize;
    let max = if is(&a[where_idx], low) {
        false
    } else if is(&a[where_idx], high) {
        true
    } else {
        return Err(syntax());
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && is(&a[j], "count") && j + 1 < a.len() {
            j += 1;
            let c = parse_i64(&a[j])
                .filter(|&n| n >= 1)
                .ok_or_else(|| Reply::err("count should be greater than 0"))?;
            count = Some(c as usize);
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    Ok(MPop {
        keys: a[numkeys_idx + 1..where_idx].to_vec(),
        max,
        count: count.unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_parsing() {
        // getDoubleFromObject: strtod over the whole text, range errors refused.
        assert_eq!(parse_float(b"0x10"), Some(16.0));
        assert_eq!(parse_float(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(parse_float(b"1e308"), Some(1e308));
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        for bad in [
            &b"1e309"[..],
            b"1e-400",
            b" 1",
            b"1 ",
            b"",
            b"nan",
            b"0x",
            b"1x",
        ] {
            assert_eq!(parse_float(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        // zslParseRange: plain strtod.
        assert_eq!(parse_range_float(b""), Some(0.0));
        assert_eq!(parse_range_float(b" 1"), Some(1.0));
        assert_eq!(parse_range_float(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_range_float(b"2\0junk"), Some(2.0));
        assert_eq!(parse_range_float(b"1 "), None);
        assert_eq!(parse_range_float(b"nan"), None);
    }
}
