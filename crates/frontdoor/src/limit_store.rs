//! Rate limits shared by several front doors: the same GCRA as the local
//! buckets (see [`crate::route::limit`]), with each key's theoretical arrival
//! time kept in the shared state server (`bigstep state`, Redis or Valkey) and
//! updated by one Lua script, so the check-and-set is atomic and every front
//! door reads the same clock (the server's `TIME`).
//!
//! A limit must never take the site down: when the store does not answer
//! within [`TIMEOUT`], the request is let through, counted and logged (fail
//! open), and the next request tries again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::route::limit::Gcra;
use crate::stats::Counter;

/// Longest a request waits for the store.
pub(crate) const TIMEOUT: Duration = Duration::from_millis(250);
/// Idle connections kept.
const POOL: usize = 16;

/// KEYS[1] = the bucket; ARGV = interval, tolerance (µs). Returns {allowed, wait µs}.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then return {0, allow_at - now} end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.floor((new - now) / 1000) + 1000)
return {1, 0}
";

/// Where shared buckets live: `redis://[:password@]host:port[/db]`.
pub(crate) struct Store {
    addr: String,
    user: Option<String>,
    password: Option<String>,
    db: u32,
    idle: Mutex<Vec<BufReader<TcpStream>>>,
    pub(crate) errors: Counter,
}

impl Store {
    /// Parses the URL (validated with the config).
    pub(crate) fn new(url: &str) -> Result<Store, String> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| format!("`{url}` must start with redis://"))?;
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (hostport, db) = match hostport.split_once('/') {
            Some((h, "")) => (h, 0),
            Some((h, d)) => (
                h,
                d.parse()
                    .map_err(|_| format!("`{d}` in `{url}` is not a database number"))?,
            ),
            None => (hostport, 0),
        };
        if crate::config::parse_address(hostport).is_none() {
            return Err(format!("`{hostport}` in `{url}` is not host:port"));
        }
        // `:password@` (the default user) or `user:password@` (an ACL user).
        let (user, password) = match auth.map(|a| a.split_once(':').unwrap_or(("", a))) {
            Some((u, p)) => (
                Some(u.to_string()).filter(|u| !u.is_empty()),
                Some(p.to_string()).filter(|p| !p.is_empty()),
            ),
            None => (None, None),
        };
        Ok(Store {
            addr: hostport.to_string(),
            user,
            password,
            db,
            idle: Mutex::new(Vec::new()),
            errors: Counter::default(),
        })
    }

    /// `Ok(())` to let the request through, `Err(wait)` to refuse it. Fails open.
    pub(crate) async fn check(&self, key: &str, gcra: &Gcra) -> Result<(), Duration> {
        let interval = (gcra.interval_ns() / 1000).max(1).to_string();
        let tolerance = (gcra.tolerance_ns() / 1000).to_string();
        let args = ["EVAL", SCRIPT, "1", key, &interval, &tolerance];
        match tokio::time::timeout(TIMEOUT, self.call(&args)).await {
            Ok(Ok((1, _))) => Ok(()),
            Ok(Ok((_, wait_us))) => Err(Duration::from_micros(wait_us.max(1) as u64)),
            Ok(Err(e)) => {
                self.fail(&e);
                Ok(())
            }
            Err(_) => {
                self.fail("no answer in time");
                Ok(())
            }
        }
    }

    fn fail(&self, why: &str) {
        self.errors.inc();
        tracing::warn!(target: "bigstep::ratelimit", store = %self.addr, reason = why, "shared rate-limit store failed; request let through");
    }

    async fn call(&self, args: &[&str]) -> Result<(i64, i64), String> {
        let pooled = self.idle.lock().expect("store pool").pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect().await?,
        };
        let reply = roundtrip(&mut conn, args).await?;
        let mut idle = self.idle.lock().expect("store pool");
        if idle.len() < POOL {
            idle.push(conn);
        }
        match reply {
            Reply::Array(v) if v.len() == 2 => Ok((v[0], v[1])),
            Reply::Error(e) => Err(e),
            other => Err(format!("unexpected reply {other:?}")),
        }
    }

    async fn connect(&self) -> Result<BufReader<TcpStream>, String> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut conn = BufReader::new(stream);
        if let Some(pw) = &self.password {
            let auth = match &self.user {
                Some(u) => roundtrip(&mut conn, &["AUTH", u, pw]).await?,
                None => roundtrip(&mut conn, &["AUTH", pw]).await?,
            };
            if let Reply::Error(e) = auth {
                return Err(format!("AUTH: {e}"));
            }
        }
        if self.db != 0 {
            if let Reply::Error(e) = roundtrip(&mut conn, &["SELECT", &self.db.to_string()]).await?
            {
                return Err(format!("SELECT: {e}"));
            }
        }
        Ok(conn)
    }
}

#[derive(Debug)]
enum Reply {
    Ok,
    Int(i64),
    Array(Vec<i64>),
    Error(String),
}

async fn roundtrip(conn: &mut BufReader<TcpStream>, args: &[&str]) -> Result<Reply, String> {
    let mut cmd = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        cmd.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        cmd.extend_from_slice(a.as_bytes());
        cmd.extend_from_slice(b"\r\n");
    }
    conn.get_mut()
        .write_all(&cmd)
        .await
        .map_err(|e| format!("write: {e}"))?;
    read_reply(conn, true).await
}

async fn read_line(conn: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    let n = conn
        .read_line(&mut line)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if n == 0 || !line.ends_with("\r\n") || line.len() > 4096 {
        return Err("connection closed or reply malformed".into());
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

/// Reads the small replies this client expects (status, error, integer,
/// an array of integers); anything else is an error.
async fn read_reply(conn: &mut BufReader<TcpStream>, top: bool) -> Result<Reply, String> {
    let line = read_line(conn).await?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    match kind {
        "+" => Ok(Reply::Ok),
        "-" => Ok(Reply::Error(rest.to_string())),
        ":" => rest
            .parse()
            .map(Reply::Int)
            .map_err(|_| format!("bad integer {rest}")),
        "*" if top => {
            let n: usize = rest
                .parse()
                .map_err(|_| format!("bad array length {rest}"))?;
            if n > 16 {
                return Err("array too long".into());
            }
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                match Box::pin(read_reply(conn, false)).await? {
                    Reply::Int(i) => out.push(i),
                    other => return Err(format!("unexpected element {other:?}")),
                }
            }
            Ok(Reply::Array(out))
        }
        "$" => {
            // A bulk string (not expected): skip it so the connection stays in step.
            let n: i64 = rest.parse().map_err(|_| format!("bad length {rest}"))?;
            if n >= 0 {
                if n > 4096 {
                    return Err("bulk reply too long".into());
                }
                let mut buf = vec![0u8; n as usize + 2];
                conn.read_exact(&mut buf)
                    .await
                    .map_err(|e| format!("read: {e}"))?;
            }
            Err("unexpected bulk reply".into())
        }
        _ => Err(format!("unexpected reply `{line}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let s = Store::new("redis://:secret@127.0.0.1:6380/2").unwrap();
        assert_eq!(
            (s.addr.as_str(), s.password.as_deref(), s.db),
            ("127.0.0.1:6380", Some("secret"), 2)
        );
        let s = Store::new("redis://user:pw@localhost:6379").unwrap();
        assert_eq!(
            (s.user.as_deref(), s.password.as_deref()),
            (Some("user"), Some("pw"))
        );
        assert!(Store::new("http://x:1").is_err());
        assert!(Store::new("redis://nohost").is_err());
        assert!(Store::new("redis://h:1/x").is_err());
    }
}
