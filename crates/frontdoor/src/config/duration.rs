//! Durations in `[balance]`: humantime's syntax (`500ms`, `2s`, `1m`, `12h`).
//! humantime_serde, which these replace, said only "expected a duration": not
//! the value, not what to write. A bare number (`interval = 5`: seconds? or
//! HAProxy's milliseconds?) is refused with the two spellings for each.

use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// `#[serde(deserialize_with = "duration::required")]`
pub(crate) fn required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Float(f64),
        Text(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Text(t) => t,
        Raw::Int(n) => return Err(D::Error::custom(bare(&n.to_string()))),
        Raw::Float(n) => return Err(D::Error::custom(bare(&n.to_string()))),
    };
    humantime::parse_duration(text.trim()).map_err(|_| {
        D::Error::custom(if text.trim().parse::<f64>().is_ok() {
            bare(text.trim())
        } else {
            format!("`{text}` is not a duration: write a number and a unit, such as \"500ms\", \"2s\", \"1m\" or \"12h\"")
        })
    })
}

/// `#[serde(default, deserialize_with = "duration::optional")]`
pub(crate) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    required(d).map(Some)
}

fn bare(n: &str) -> String {
    format!("`{n}` has no unit: write \"{n}s\" for seconds or \"{n}ms\" for milliseconds")
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct T {
        #[serde(deserialize_with = "super::required")]
        d: std::time::Duration,
        #[serde(default, deserialize_with = "super::optional")]
        o: Option<std::time::Duration>,
    }

    fn parse(src: &str) -> Result<T, String> {
        toml::from_str(src).map_err(|e| e.to_string())
    }

    #[test]
    fn says_what_to_write() {
        let t = parse("d = \"1m\"\no = \"500ms\"").unwrap();
        assert_eq!(t.d.as_secs(), 60);
        assert_eq!(t.o.unwrap().as_millis(), 500);
        assert!(parse("d = \"12h\"").unwrap().o.is_none());
        for (src, want) in [
            ("d = 5", "\"5s\" for seconds or \"5ms\""),
            ("d = \"5\"", "\"5s\" for seconds"),
            ("d = 1.5", "\"1.5s\""),
            ("d = \"soon\"", "`soon` is not a duration"),
        ] {
            let e = parse(src).unwrap_err();
            assert!(e.contains(want) && e.contains("line 1"), "{src}: {e}");
        }
    }
}
