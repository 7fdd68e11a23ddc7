//! `bigstep ctl`: control a running front door through its admin API — a
//! stand-alone `bigstep balance` or the one inside `bigstep up`.
//!
//! Servers (every front door): `ls`, `drain`, `undrain`, `add HOST:PORT`, `rm`.
//! Processes (only where the front door supervises them, i.e. `up`): `add`
//! without an address starts a new instance, `stop`, `restart`, and `rm` stops
//! the process too. A stand-alone front door answers those with its own
//! "not supervised here" explanation, which is printed as the error.
//!
//! One request per command over a plain socket, like `bigstep balance reload`.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  bigstep ctl ls                      servers, their state, traffic and processes
  bigstep ctl drain app-2             no new users for app-2; its sticky users stay
  bigstep ctl undrain app-2
  bigstep ctl stop app-2              out of rotation, requests finish, process stops (bigstep up)
  bigstep ctl restart app-2           ... and starts again, back in rotation
  bigstep ctl add                     one more instance (bigstep up)
  bigstep ctl add 10.0.0.7:3000 --name web-4     one more server (any front door)
  bigstep ctl rm app-4                stop it and remove it
  bigstep ctl reload                  re-read [balance] of the config file
  bigstep ctl --admin 127.0.0.1:9091 --token \"$TOKEN\" ls")]
pub(crate) struct Args {
    /// The front door's admin listener.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        default_value = "127.0.0.1:9090",
        value_parser = parse_admin
    )]
    admin: SocketAddr,

    /// The admin API's bearer token, when it has one.
    #[arg(
        long,
        global = true,
        env = "BIGSTEP_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// List the servers (and, under `bigstep up`, their processes).
    Ls,
    /// Add an instance (`bigstep up`), or a server at HOST:PORT (any front door;
    /// on a stand-alone one, until its next reload re-reads the file's servers).
    Add {
        /// The new server's address; without it, `bigstep up` starts a new instance.
        address: Option<String>,
        /// The new server's id (default: its address).
        #[arg(long, requires = "address")]
        name: Option<String>,
        /// Its weight.
        #[arg(long, default_value_t = 1, requires = "address")]
        weight: u32,
        /// Speak HTTPS to it, its certificate verified against the system's CAs
        /// (or `--tls-ca`).
        #[arg(long, requires = "address")]
        tls: bool,
        /// Verify it against this CA file (an absolute path on the front door's host).
        #[arg(long, value_name = "PATH", requires = "tls")]
        tls_ca: Option<String>,
        /// The name to send as SNI and verify (default: the address's host).
        #[arg(long, value_name = "NAME", requires = "tls")]
        tls_server_name: Option<String>,
        /// A client certificate to present (mutual TLS; an absolute path on the
        /// front door's host); needs `--tls-client-key`.
        #[arg(long, value_name = "PATH", requires_all = ["tls", "tls_client_key"])]
        tls_client_cert: Option<String>,
        /// The private key of `--tls-client-cert`.
        #[arg(long, value_name = "PATH", requires = "tls_client_cert")]
        tls_client_key: Option<String>,
        /// What to speak to it: `http1` (default), `h2c` (HTTP/2 over plain
        /// TCP, e.g. a gRPC server) or `h2` (HTTP/2 over TLS, with `--tls`).
        #[arg(long, value_name = "PROTOCOL", requires = "address", value_parser = ["http1", "h2c", "h2"])]
        protocol: Option<String>,
    },
    /// Take no new users; sticky users stay until they go idle or the drain times out.
    Drain {
        /// Server id.
        id: String,
    },
    /// Back to taking new users.
    Undrain {
        /// Server id.
        id: String,
    },
    /// Out of rotation, let requests finish, stop the process (`bigstep up` only).
    Stop {
        /// Instance id.
        id: String,
    },
    /// Stop (if running) and start the process again, then back in rotation (`bigstep up` only).
    Restart {
        /// Instance id.
        id: String,
    },
    /// Remove a server (under `bigstep up`: stop its process first).
    Rm {
        /// Server id.
        id: String,
    },
    /// Re-read the config file (`[balance]`) of the running front door or `bigstep up`.
    Reload,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let api = Api {
        admin: args.admin,
        token: args.token.filter(|t| !t.is_empty()),
    };
    match args.command {
        Command::Ls => ls(&api),
        Command::Add {
            address: Some(address),
            name,
            weight,
            tls,
            tls_ca,
            tls_server_name,
            tls_client_cert,
            tls_client_key,
            protocol,
        } => {
            let mut body = serde_json::json!({
                "name": name, "address": address, "weight": weight, "tls": tls,
                "tls_ca": tls_ca, "tls_server_name": tls_server_name,
                "tls_client_cert": tls_client_cert, "tls_client_key": tls_client_key,
            });
            if let Some(p) = protocol {
                body["protocol"] = serde_json::Value::String(p);
            }
            say(api.call("POST", "/api/servers", Some(&body))?.ok()?)?;
            // A stand-alone front door's reload makes its file (and command
            // line) the whole list again, so it removes this server; `up`'s
            // reload keeps the servers it runs with. Said now, not at the reload.
            if api.call("GET", "/api/instances", None)?.status == 501 {
                println!("note: it serves until the front door's next reload, which re-reads the servers from its config file: add it there to keep it");
            }
            Ok(())
        }
        Command::Add { address: None, .. } => {
            let r = api.call("POST", "/api/instances", None)?.ok()?;
            println!(
                "added {} at {} (pid {})",
                r["id"].as_str().unwrap_or("?"),
                r["address"].as_str().unwrap_or("?"),
                pid(&r["pid"])
            );
            Ok(())
        }
        Command::Drain { id } => say(api
            .call("POST", &format!("/api/servers/{}/drain", path(&id)), None)?
            .ok()?),
        Command::Undrain { id } => say(api
            .call("POST", &format!("/api/servers/{}/undrain", path(&id)), None)?
            .ok()?),
        Command::Stop { id } => {
            let r = api
                .call("POST", &format!("/api/instances/{}/stop", path(&id)), None)?
                .ok()?;
            println!("{id} stopped (out of rotation; `bigstep ctl restart {id}` starts it again)");
            let _ = r;
            Ok(())
        }
        Command::Restart { id } => {
            let r = api
                .call(
                    "POST",
                    &format!("/api/instances/{}/restart", path(&id)),
                    None,
                )?
                .ok()?;
            println!(
                "{id} running again (pid {}), back in rotation",
                pid(&r["pid"])
            );
            Ok(())
        }
        Command::Rm { id } => {
            let r = api.call("DELETE", &format!("/api/instances/{}", path(&id)), None)?;
            // A front door that supervises nothing removes the server alone.
            let r = if r.status == 501 {
                api.call("DELETE", &format!("/api/servers/{}", path(&id)), None)?
            } else {
                r
            };
            say(r.ok()?)
        }
        Command::Reload => say(api.call("POST", "/api/reload", None)?.ok()?),
    }
}

/// The admin listener to dial: `IP:PORT`, or `HOST:PORT` resolved here
/// (`localhost:9090`), since a client, unlike a listener, may name a host.
/// clap's own parser answered `localhost:9090` with "invalid socket address
/// syntax" and no hint.
pub(crate) fn parse_admin(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    let hint = match s.parse::<u16>() {
        Ok(port) => format!("write 127.0.0.1:{port}"),
        Err(_) => "write HOST:PORT, e.g. 127.0.0.1:9090 (the front door's admin_listen)".into(),
    };
    if s.parse::<u16>().is_err() && s.contains(':') {
        match s.to_socket_addrs() {
            Ok(mut addrs) => {
                if let Some(a) = addrs.next() {
                    return Ok(a);
                }
            }
            Err(e) => return Err(format!("`{s}`: cannot resolve it ({e}); {hint}")),
        }
    }
    Err(format!("`{s}` is not HOST:PORT: {hint}"))
}

/// Print the API's one-sentence `message`, or the whole answer.
fn say(v: Value) -> anyhow::Result<()> {
    match v["message"].as_str() {
        Some(m) => println!("{m}"),
        None => println!("{v}"),
    }
    Ok(())
}

fn pid(v: &Value) -> String {
    v.as_u64().map_or("-".into(), |p| p.to_string())
}

/// A server id in a URL path: ids are names and host:port, so only a few
/// characters need escaping.
fn path(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn ls(api: &Api) -> anyhow::Result<()> {
    let status = api.call("GET", "/api/status", None)?.ok()?;
    let instances = api.call("GET", "/api/instances", None)?;
    let processes = (instances.status == 200).then_some(instances.body);
    let mut rows = vec![vec![
        "ID".to_string(),
        "ADDRESS".into(),
        "STATE".into(),
        "HEALTH".into(),
        "IN-FLIGHT".into(),
        "REQ/S".into(),
        "SESSION-LOSS".into(),
    ]];
    if processes.is_some() {
        rows[0].extend(["PROCESS".to_string(), "PID".into()]);
    }
    let empty = Vec::new();
    for s in status["servers"].as_array().unwrap_or(&empty) {
        let id = s["id"].as_str().unwrap_or("?");
        let health = if s["ejected"].as_bool() == Some(true) {
            "ejected"
        } else {
            s["health"].as_str().unwrap_or("?")
        };
        let mut row = vec![
            id.to_string(),
            s["address"].as_str().unwrap_or("?").to_string(),
            s["admin_state"].as_str().unwrap_or("?").to_string(),
            health.to_string(),
            s["in_flight"].to_string(),
            format!("{:.1}", s["rate"].as_f64().unwrap_or(0.0)),
            s["session_losses"].to_string(),
        ];
        if let Some(p) = &processes {
            let proc = p
                .as_array()
                .and_then(|a| a.iter().find(|i| i["id"].as_str() == Some(id)));
            match proc {
                Some(i) => row.extend([
                    i["process"].as_str().unwrap_or("?").to_string(),
                    pid(&i["pid"]),
                ]),
                None => row.extend(["-".to_string(), "-".into()]),
            }
        }
        rows.push(row);
    }
    // Instances not (yet) known to the front door: starting, or failed to start.
    if let Some(arr) = processes.as_ref().and_then(Value::as_array) {
        let servers = status["servers"].as_array().unwrap_or(&empty);
        for i in arr {
            let id = i["id"].as_str().unwrap_or("?");
            if servers.iter().any(|s| s["id"].as_str() == Some(id)) {
                continue;
            }
            rows.push(vec![
                id.to_string(),
                i["address"].as_str().unwrap_or("?").to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                i["process"].as_str().unwrap_or("?").to_string(),
                pid(&i["pid"]),
            ]);
        }
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(())
}

struct Api {
    admin: SocketAddr,
    token: Option<String>,
}

struct Answer {
    status: u16,
    body: Value,
    admin: SocketAddr,
}

impl Answer {
    /// The body of a 2xx answer; otherwise the API's `error` sentence as the error.
    fn ok(self) -> anyhow::Result<Value> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        if self.status == 401 {
            bail!(
                "{} needs the admin token: pass --token or set BIGSTEP_ADMIN_TOKEN",
                self.admin
            );
        }
        match self.body["error"].as_str() {
            Some(e) => bail!("{e}"),
            None => bail!("{} answered {}: {}", self.admin, self.status, self.body),
        }
    }
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        let admin = self.admin;
        // Stopping an instance waits for its requests and its exit (the grace period).
        let timeout = Duration::from_secs(120);
        let mut stream = std::net::TcpStream::connect_timeout(&admin, Duration::from_secs(5))
            .with_context(|| {
                format!("cannot reach the admin API at {admin} (is `bigstep up` or `bigstep balance` with admin_listen running? pass --admin ADDR)")
            })?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let body = body.map(Value::to_string).unwrap_or_default();
        let kind = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/json\r\n".into()
        };
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {admin}\r\nAccept: application/json\r\n{auth}{kind}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .with_context(|| format!("no complete answer from {admin}"))?;
        let raw = String::from_utf8_lossy(&raw);
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("{admin} did not answer in HTTP"))?;
        let chunked = head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("transfer-encoding:")
                && l.to_ascii_lowercase().contains("chunked")
        });
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_string()
        };
        let body = serde_json::from_str(body.trim()).unwrap_or(Value::String(body));
        Ok(Answer {
            status,
            body,
            admin,
        })
    }
}

/// The payload of a chunked body (the admin API's answers are small; no trailers).
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_paths() {
        assert_eq!(path("app-1"), "app-1");
        assert_eq!(path("127.0.0.1:3000"), "127.0.0.1:3000");
        assert_eq!(path("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(dechunk("4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"), "{\"a\":1}");
        assert_eq!(dechunk(""), "");
    }
}
