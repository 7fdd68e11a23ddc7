//! Lua values as the bundled C libraries read them: numbers, array-like
//! tables, and the errors they raise.

use mlua::{Table, Value as LV};

pub(super) fn err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

pub(super) fn number(v: &LV) -> Option<f64> {
    match v {
        LV::Integer(n) => Some(*n as f64),
        LV::Number(n) => Some(*n),
        _ => None,
    }
}

/// `(count, largest)` of a table's keys if all are positive integers (an
/// array, perhaps with holes), else None.
pub(super) fn int_keys(t: &Table) -> mlua::Result<Option<(usize, usize)>> {
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
