//! The flags `COMMAND GETKEYSANDFLAGS` shows for each key of a request,
//! worked out from the command's key specs in [`crate::command_info`] (Redis
//! 7.0.15's, generated). The conformance test `command_getkeys` compares the
//! answers with a running `redis-server`.

/// The flags of `name`'s key specs (each joined by spaces, `RW access
/// delete`), empty if Redis gives it none.
pub(crate) fn key_flags(name: &str) -> Vec<&'static str> {
    crate::command_info::info(name)
        .map(|i| i.key_specs.iter().map(|k| k.flags).collect())
        .unwrap_or_default()
}

/// The flags Redis shows for the `n`th key of a request to `name`, whose
/// key specs' flags are `specs`: the first key's spec is the first, later
/// keys' the last. `incomplete` and `variable_flags` describe the spec, not
/// the key, and are dropped; the `variable_flags` commands (SET, BITFIELD)
/// get the flags Redis's `setGetKeys` / `bitfieldGetKeys` work out from the
/// arguments.
pub(crate) fn flags_for(
    name: &str,
    specs: &[&'static str],
    n: usize,
    argv: &[bytes::Bytes],
) -> Vec<&'static str> {
    let Some(spec) = (if n == 0 { specs.first() } else { specs.last() }) else {
        return Vec::new();
    };
    if spec.contains("variable_flags") {
        let is = |b: &bytes::Bytes, w: &str| b.eq_ignore_ascii_case(w.as_bytes());
        let rw = match name {
            // SET ... GET reads the old value.
            "set" => argv.iter().skip(3).any(|x| is(x, "get")),
            // BITFIELD with only GET (and OVERFLOW) subcommands is a read.
            _ => {
                let mut i = 2;
                let mut write = false;
                while i < argv.len() {
                    let rem = argv.len() - i - 1;
                    if is(&argv[i], "get") && rem >= 2 {
                        i += 3;
                    } else if is(&argv[i], "overflow") && rem >= 1 {
                        i += 2;
                    } else {
                        // SET / INCRBY, or a syntax error: Redis assumes a write.
                        write = true;
                        break;
                    }
                }
                return if write {
                    vec!["RW", "access", "update"]
                } else {
                    vec!["RO", "access"]
                };
            }
        };
        return if rw {
            vec!["RW", "access", "update"]
        } else {
            vec!["OW", "update"]
        };
    }
    spec.split(' ')
        .filter(|f| *f != "incomplete" && *f != "variable_flags")
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn from_the_command_table() {
        assert_eq!(super::key_flags("lmove"), ["RW access delete", "RW insert"]);
        assert!(super::key_flags("ping").is_empty());
    }
}
