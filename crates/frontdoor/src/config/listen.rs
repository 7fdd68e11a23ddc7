//! Listen addresses (`listen`, `admin_listen`, `[balance.tls] listen`, and the
//! command line's `--listen`/`--admin`): `IP:PORT`. std's own error, "invalid
//! socket address syntax", does not say what to write instead, and users of
//! nginx or Caddy reach for `8080` or `:8080` first.

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer};

/// `IP:PORT`, or why not with what to write instead.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    let port = s.rsplit_once(':').map_or(s, |(_, p)| p);
    let example = match port.parse::<u16>() {
        Ok(p) => format!("\"127.0.0.1:{p}\" (this host only) or \"0.0.0.0:{p}\" (every interface)"),
        Err(_) => {
            "\"127.0.0.1:8080\" (this host only) or \"0.0.0.0:8080\" (every interface)".into()
        }
    };
    Err(format!(
        "`{s}` is not IP:PORT: write {example}; host names are not resolved here, and IPv6 goes in brackets (\"[::1]:8080\")"
    ))
}

/// `#[serde(deserialize_with = "listen::addr")]`
pub fn addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    parse_listen(&s).map_err(serde::de::Error::custom)
}

/// `#[serde(deserialize_with = "listen::optional")]` (with `default`).
pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    addr(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_to_write() {
        assert_eq!(
            parse_listen("0.0.0.0:80"),
            Ok("0.0.0.0:80".parse().unwrap())
        );
        assert_eq!(parse_listen("[::1]:80"), Ok("[::1]:80".parse().unwrap()));
        for bad in ["8080", ":8080", "localhost:8080"] {
            let e = parse_listen(bad).unwrap_err();
            assert!(e.contains("\"0.0.0.0:8080\""), "{bad}: {e}");
        }
        assert!(parse_listen("nonsense")
            .unwrap_err()
            .contains("127.0.0.1:8080"));
    }
}
