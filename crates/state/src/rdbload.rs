//! Loading a `dump.rdb` at start: how data written by `redis-server` (or by
//! our own SAVE) comes in, function libraries included.
//!
//! Only into an empty server: the append-only log is what this server
//! trusts, so a `dump.rdb` is read only when there is no log yet (or an
//! empty one), and what it held is then written as the log (by
//! [`crate::server`]), so the next start needs the file no more. Above
//! `store` and `rdb`, which it fills and uses.

use std::path::Path;

use crate::lua::Scripting;
use crate::rdb;
use crate::store::{now_ms, Key, Store};

/// What was loaded.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// Keys kept (expired ones are skipped, as Redis skips them).
    pub(crate) keys: usize,
    /// Function libraries.
    pub(crate) libraries: usize,
}

/// Reads `path` into `store`; the error says what is wrong with the file.
pub(crate) fn load(
    store: &mut Store,
    scripting: &mut Scripting,
    path: &Path,
) -> Result<Loaded, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let file = rdb::decode_file(&data).map_err(|b| format!("not a readable RDB file: {}", b.0))?;
    let mut loaded = Loaded {
        libraries: file.functions.len(),
        ..Loaded::default()
    };
    if !file.functions.is_empty() {
        // Compiled as FUNCTION RESTORE does: one bad library refuses the file.
        let libs = scripting
            .functions
            .compile_all(&file.functions)
            .map_err(|e| format!("function library: {e}"))?;
        scripting.functions.libs = libs;
    }
    let now = now_ms();
    let databases = store.dbs.len();
    for e in file.entries {
        if e.expire_ms.is_some_and(|at| at <= now) {
            continue;
        }
        let db = store.dbs.get_mut(e.db).ok_or_else(|| {
            format!(
                "key in database {} but only {databases} databases are configured (--databases)",
                e.db
            )
        })?;
        let key = Key::new(&e.key);
        if let Some(at) = e.expire_ms {
            db.expires.insert(key.clone(), at);
        }
        db.keys.insert(key, e.value);
        loaded.keys += 1;
    }
    Ok(loaded)
}
