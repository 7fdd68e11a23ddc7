//! INCRBYFLOAT / HINCRBYFLOAT arithmetic exactly as Redis does it on x86-64:
//! both operands parsed with `strtold` into an 80-bit long double (64-bit
//! mantissa), added with one rounding, printed with `%.17Lf` and trailing
//! zeros trimmed. f64 would print `0.00619` as `0.006189999999999999` and
//! `1000000.7 + 0.1` as `1000000.8` where Redis says
//! `1000000.80000000000001137`; clients store and compare these strings.
//!
//! The emulation is exact: big integers, round-half-even at every step, as
//! the x87 unit and glibc's printf do.

use num_bigint::{BigInt, BigUint, Sign};

/// Redis refuses float arguments longer than this (MAX_LONG_DOUBLE_CHARS).
const MAX_CHARS: usize = 5 * 1024;
/// Long double's largest binary exponent (values below 2^16384).
const MAX_EXP2: i64 = 16384;

/// A finite long double: `(-1)^neg * m * 2^e`, `m` exactly 64 bits (or 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Ld {
    neg: bool,
    m: u64,
    e: i64,
}

impl Ld {
    fn zero(neg: bool) -> Ld {
        Ld { neg, m: 0, e: 0 }
    }

    /// Rounds a non-negative big integer times 2^e to 64 bits, half-even;
    /// `sticky` says nonzero bits were already dropped below `x`.
    fn round(neg: bool, x: &BigUint, e: i64, sticky: bool) -> Ld {
        let bits = x.bits() as i64;
        if bits == 0 {
            return Ld::zero(neg);
        }
        if bits <= 64 {
            let m = u64::try_from(x).expect("fits") << (64 - bits);
            return Ld {
                neg,
                m,
                e: e - (64 - bits),
            };
        }
        let shift = (bits - 64) as u64;
        let mut m = u64::try_from(x >> shift).expect("64 bits");
        let rest = x - (BigUint::from(m) << shift);
        let half = BigUint::from(1u8) << (shift - 1);
        let round_up = rest > half || (rest == half && (sticky || m & 1 == 1));
        let mut e = e + shift as i64;
        if round_up {
            m = m.wrapping_add(1);
            if m == 0 {
                m = 1 << 63;
                e += 1;
            }
        }
        Ld { neg, m, e }
    }

    fn too_big(&self) -> bool {
        self.m != 0 && self.e + 64 > MAX_EXP2
    }
}

/// A parsed argument: `strtold` also accepts infinities (which then make
/// the increment fail with a different error than a malformed number).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Num {
    Finite(Ld),
    Inf,
}

/// `strtold` with Redis's `string2ld` checks: no leading space, nothing after
/// the number, no NaN, not out of range. Decimal and hex (`0x1.8p3`) forms.
pub(super) fn parse(s: &[u8]) -> Option<Num> {
    if s.is_empty() || s.len() > MAX_CHARS {
        return None;
    }
    let (neg, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == b"inf" || lower == b"infinity" {
        return Some(Num::Inf);
    }
    let hex = lower.starts_with(b"0x");
    let body = if hex { &body[2..] } else { body };
    let (radix, exp_char) = if hex { (16u32, b'p') } else { (10, b'e') };
    let mut digits = BigUint::from(0u8);
    let mut frac_digits: i64 = 0;
    let (mut i, mut seen_digit, mut seen_dot) = (0, false, false);
    while i < body.len() {
        let c = body[i];
        if let Some(d) = (c as char).to_digit(radix) {
            digits = digits * radix + d;
            seen_digit = true;
            frac_digits += seen_dot as i64;
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    let mut exp: i64 = 0;
    if i < body.len() {
        let rest = &body[i + 1..];
        if body[i].to_ascii_lowercase() != exp_char
            || rest.is_empty()
            || !rest
                .iter()
                .enumerate()
                .all(|(j, c)| c.is_ascii_digit() || (j == 0 && (*c == b'-' || *c == b'+')))
        {
            return None;
        }
        exp = std::str::from_utf8(rest).ok()?.parse().ok()?;
    }
    if digits.bits() == 0 {
        return Some(Num::Finite(Ld::zero(neg)));
    }
    let ld = if hex {
        // Exact in binary: digits * 2^(exp - 4 * fraction digits).
        let e = exp.checked_sub(4 * frac_digits)?;
        if !(-20000..=20000).contains(&(e + digits.bits() as i64)) {
            return None;
        }
        Ld::round(neg, &digits, e, false)
    } else {
        let exp10 = exp.checked_sub(frac_digits)?;
        // Out of long double range (strtold's ERANGE): refused like Redis.
        let mag = exp10 + digits.to_string().len() as i64;
        if !(-4950..=4933).contains(&mag) {
            return None;
        }
        if exp10 >= 0 {
            Ld::round(
                neg,
                &(digits * BigUint::from(10u8).pow(exp10 as u32)),
                0,
                false,
            )
        } else {
            let den = BigUint::from(10u8).pow((-exp10) as u32);
            // Scale so the quotient has at least 66 bits before rounding.
            let s = (66 + den.bits() as i64 - digits.bits() as i64).max(0);
            let num = digits << s as u64;
            let q = &num / &den;
            let sticky = &q * &den != num;
            Ld::round(neg, &q, -s, sticky)
        }
    };
    (!ld.too_big()).then_some(Num::Finite(ld))
}

fn to_bigint(x: Ld, base_e: i64) -> BigInt {
    let mag = BigUint::from(x.m) << (x.e - base_e) as u64;
    BigInt::from_biguint(if x.neg { Sign::Minus } else { Sign::Plus }, mag)
}

/// `a + b` rounded to long double; None if the result is infinite.
pub(super) fn add(a: Ld, b: Ld) -> Option<Ld> {
    if a.m == 0 {
        return Some(b);
    }
    if b.m == 0 {
        return Some(a);
    }
    let base = a.e.min(b.e);
    let sum = to_bigint(a, base) + to_bigint(b, base);
    let (sign, mag) = sum.into_parts();
    // An exact zero sum is +0 in round-to-nearest.
    let r = Ld::round(sign == Sign::Minus, &mag, base, false);
    (!r.too_big()).then_some(r)
}

/// `%.17Lf` with trailing zeros (and a bare dot) removed; `-0` becomes `0`.
pub(super) fn format(x: Ld) -> String {
    let scale = BigUint::from(10u8).pow(17);
    let v = BigUint::from(x.m) * &scale;
    let q = if x.e >= 0 {
        v << x.e as u64
    } else {
        let sh = (-x.e) as u64;
        let q = &v >> sh;
        let rest = &v - (&q << sh);
        let half = BigUint::from(1u8) << (sh - 1);
        if rest > half || (rest == half && q.bit(0)) {
            q + 1u8
        } else {
            q
        }
    };
    let digits = q.to_string();
    let digits = format!("{digits:0>18}");
    let (int, frac) = digits.split_at(digits.len() - 17);
    let frac = frac.trim_end_matches('0');
    let mut out = String::with_capacity(digits.len() + 2);
    if x.neg {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if out == "-0" {
        out = "0".into();
    }
    out
}

/// INCRBYFLOAT: the stored value (None = missing) plus the argument.
pub(super) fn incr(cur: Option<&[u8]>, by: &[u8]) -> Result<String, &'static str> {
    let invalid = "value is not a valid float";
    let cur = match cur {
        Some(c) => parse(c).ok_or(invalid)?,
        None => Num::Finite(Ld::zero(false)),
    };
    let by = parse(by).ok_or(invalid)?;
    sum(cur, by)
}

/// HINCRBYFLOAT's argument, checked before the key is looked up (with its
/// own error for an infinity).
pub(super) fn hincr_arg(by: &[u8]) -> Result<Num, &'static str> {
    match parse(by) {
        None => Err("value is not a valid float"),
        Some(Num::Inf) => Err("value is NaN or Infinity"),
        Some(n) => Ok(n),
    }
}

/// HINCRBYFLOAT: the field's value (None = missing) plus the checked argument.
pub(super) fn hincr(cur: Option<&[u8]>, by: Num) -> Result<String, &'static str> {
    let cur = match cur {
        Some(c) => parse(c).ok_or("hash value is not a float")?,
        None => Num::Finite(Ld::zero(false)),
    };
    sum(cur, by)
}

fn sum(a: Num, b: Num) -> Result<String, &'static str> {
    let overflow = "increment would produce NaN or Infinity";
    match (a, b) {
        (Num::Finite(a), Num::Finite(b)) => add(a, b).map(format).ok_or(overflow),
        _ => Err(overflow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> String {
        incr(Some(a.as_bytes()), b.as_bytes()).expect("finite")
    }

    /// Results taken from redis-server 7.0 on x86-64.
    #[test]
    fn matches_redis() {
        assert_eq!(sum("100", "0.1"), "100.1");
        assert_eq!(sum("1000000.7", "0.1"), "1000000.80000000000001137");
        assert_eq!(sum("0.001474", "0.004716"), "0.00619");
        assert_eq!(sum("3.0e3", "1.5e-20"), "3000");
        assert_eq!(sum("12345678.9", "0.01"), "12345678.90999999999985448");
        assert_eq!(sum("10.50", "0.1"), "10.6");
        assert_eq!(sum("5.0e3", "2.0e2"), "5200");
        assert_eq!(sum("1", "-1"), "0");
        assert_eq!(sum("-0.1", "0.1"), "0");
        assert_eq!(sum("0", "-1.5"), "-1.5");
        assert!(sum("1", "1e300")
            .starts_with("100000000000000000000899732407955919387052394427329074793826"));
    }

    #[test]
    fn refuses_what_strtold_refuses() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "0x", "1.5.5", "nan", "1e99999", "1e-5000", ".", "1e+",
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert!(parse(b".5").is_some() && parse(b"5.").is_some() && parse(b"-0").is_some());
        assert_eq!(parse(b"-Infinity"), Some(Num::Inf));
        assert_eq!(incr(None, b"0x10"), Ok("16".into()));
        assert_eq!(incr(None, b"0x1.8p1"), Ok("3".into()));
        assert_eq!(incr(None, b"-0.0"), Ok("0".into()));
        assert_eq!(hincr_arg(b"inf"), Err("value is NaN or Infinity"));
        let one = hincr_arg(b"1").expect("valid");
        assert_eq!(
            hincr(Some(b"inf"), one),
            Err("increment would produce NaN or Infinity")
        );
        assert_eq!(hincr(Some(b"abc"), one), Err("hash value is not a float"));
    }
}
