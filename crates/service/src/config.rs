//! Config read once, typed: one read of the file, one parse into the caller's
//! type (whose tables use `deny_unknown_fields`), errors that name the file,
//! the key and the line. Plus the duration syntax every role shares
//! (`500ms`, `10s`, `1m`, or plain seconds).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

/// A config file, read once: the parsed value and the text (for roles that
/// name lines after parsing, e.g. a missing environment variable).
#[derive(Debug)]
pub struct Loaded<T> {
    /// The parsed file.
    pub value: T,
    /// The file's text.
    pub source: String,
    /// Where it was read from.
    pub path: PathBuf,
}

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not readable.
    #[error("cannot read config file {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (in the message, not a `source`, so error chains say it once).
        error: std::io::Error,
    },
    /// Not valid, or an unknown key: the message names the key and the line.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// Reads `path` and parses it as `T`.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>, ConfigError> {
    let source = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let value = parse(&source).map_err(|message| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(Loaded {
        value,
        source,
        path: path.to_path_buf(),
    })
}

/// Parses TOML text as `T`; the error names the key and the line.
pub fn parse<T: DeserializeOwned>(src: &str) -> Result<T, String> {
    toml::from_str(src).map_err(|e| in_words(e.to_string().trim_end()))
}

/// serde names the Rust type it wanted ("expected u16"); an operator reads
/// what to write instead. Also used for JSON bodies (the admin API).
pub fn in_words(message: &str) -> String {
    const WORDS: [(&str, &str); 12] = [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number, 0 or more"),
        ("usize", "a whole number, 0 or more"),
        ("i8", "a whole number"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("isize", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
    ];
    let mut out = message.to_string();
    // serde's words for TOML's shapes: a `servers = "..."` read "expected a
    // sequence", a `health = 5` "expected struct HealthCheck".
    out = out.replace(
        "expected a sequence",
        "expected a list: [\"a\", \"b\"], or [[table]] entries",
    );
    while let Some(i) = out.find("expected struct ") {
        let name = i + "expected struct ".len();
        let end = out[name..]
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .map_or(out.len(), |e| name + e);
        out.replace_range(i..end, "expected a table ([name] or { key = value })");
    }
    out = out.replace(
        "expected a map",
        "expected a table ([name] or { key = value })",
    );
    out = out.replace("invalid type: sequence,", "invalid type: a list,");
    out = out.replace("invalid type: map,", "invalid type: a table,");
    for (ty, words) in WORDS {
        let from = format!("expected {ty}");
        let mut at = 0;
        while let Some(i) = out[at..].find(&from).map(|i| i + at) {
            let end = i + from.len();
            if out[end..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                at = end;
                continue;
            }
            out.replace_range(i..end, &format!("expected {words}"));
            at = i + "expected ".len() + words.len();
        }
    }
    out
}

/// `500ms`, `2s`, `1m`, or a plain number of seconds (fractions allowed).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("`{s}` is not a duration like 500ms, 10s or 1m");
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

/// `#[serde(with = "service::config::duration")]` for an `Option<Duration>`
/// written as `"10s"` (or a number of seconds).
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Deserializes an optional duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Option::<Raw>::deserialize(d)? {
            None => Ok(None),
            Some(Raw::Secs(n)) => Ok(Some(Duration::from_secs(n))),
            Some(Raw::Text(t)) => super::parse_duration(&t)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_say_what_to_write() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            port: Option<u16>,
            max: Option<usize>,
        }
        let e = parse::<T>("port = \"80\"").unwrap_err();
        assert!(e.contains("expected a whole number from 0 to 65535"), "{e}");
        assert!(e.contains("line 1"), "{e}");
        let e = parse::<T>("max = -1").unwrap_err();
        assert!(e.contains("expected a whole number, 0 or more"), "{e}");
        assert_eq!(in_words("expected u16s"), "expected u16s");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn unknown_keys_are_refused_by_line() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code, reason = "only parsed")]
        struct T {
            #[serde(default, with = "duration")]
            grace: Option<Duration>,
        }
        let t: T = parse("grace = \"3s\"\n").unwrap();
        assert_eq!(t.grace, Some(Duration::from_secs(3)));
        let e = parse::<T>("\ngrace = 3\ngrcae = 1\n").unwrap_err();
        assert!(e.contains("grcae") && e.contains("line 3"), "{e}");
    }
}
