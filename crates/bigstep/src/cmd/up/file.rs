//! The `[up]` table of `bigstep.toml`: what a team commits so that `bigstep up`
//! alone starts their site. Flags on the command line win over the file.
//!
//! ```toml
//! [up]
//! command = ["python3", "app.py"]   # $PORT, $BIGSTEP_INSTANCE are replaced
//! instances = 3
//! health_path = "/healthz"
//! sticky = "none"                   # none | cookie | app-cookie:NAME
//! session_cookies = ["sid"]         # the session-loss detector's names (default: any cookie)
//! session_headers = ["X-Session"]   # sessions carried in a header (default: none)
//! shared_mount = "/mnt/bigstep"     # the bucket mounted per instance (--shared-mount)
//! shared_dir = false
//!
//! isolation = "auto"               # auto | overlay | copy
//! listen = "127.0.0.1:8080"         # also: admin, grace, ready_timeout, state_port,
//!                                   # files_port, data, uploads_route, register
//!
//! [up.env]                          # given to every instance
//! APP_ENV = "development"
//! ```
//!
//! The file's `[balance]` table configures the front door `up` runs
//! (timeouts, compression, routes, limits, health, sticky, ...), except its
//! servers and discovery: the servers are `up`'s instances. Its `listen`,
//! `admin_listen` and `admin_token` are used unless `[up]` or a flag says
//! otherwise, so `bigstep balance reload -c bigstep.toml` reaches `up` too, and
//! re-reads `[balance]` (the `[up]` table needs a restart).
//!
//! `[state]` and `[files]` configure the shared servers (memory, persistence
//! policy, limits, databases; region, keys, public buckets, ...), except where
//! they listen and keep their data, which `up` decides (`[state] port` is used
//! when neither `--state-port` nor `[up] state_port` is given), and `[state]`
//! passwords and users, which are left out: the state server listens on
//! loopback for the instances, which get one `REDIS_URL`.

use std::path::PathBuf;

use anyhow::bail;

use super::Args;
use crate::config::FileConfig;

/// What `up` takes from the file besides the flags it fills in.
#[derive(Default)]
pub(crate) struct FromFile {
    /// The file read (`--config`, or ./bigstep.toml), for reloads.
    pub(crate) path: Option<PathBuf>,
    /// `[up.env]`: given to every instance.
    pub(crate) env: Vec<(String, String)>,
    /// `[balance]`: the front door's settings (its servers are `up`'s instances).
    pub(crate) balance: Option<frontdoor::Config>,
    /// `[state]` and `[files]`: the shared servers' settings.
    pub(crate) tables: super::backends::Tables,
}

/// The file `up` reads: `--config`, else ./bigstep.toml if it exists.
fn path(args: &Args) -> Option<PathBuf> {
    match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("bigstep.toml")).filter(|p| p.is_file()),
    }
}

/// `args` with the file's `[up]` values filled in where no flag was given, and
/// what else `up` uses from the file.
pub(crate) fn apply(mut args: Args) -> anyhow::Result<(Args, FromFile)> {
    let Some(path) = path(&args) else {
        return Ok((args, FromFile::default()));
    };
    let (file, src) = read(&path)?;
    let FileConfig {
        balance,
        up,
        state,
        files,
    } = file;
    let up = up.unwrap_or_default();
    let at = |key: &str, span: Option<std::ops::Range<usize>>| {
        let line = span.map(|s| {
            format!(
                " (line {})",
                src[..s.start.min(src.len())].matches('\n').count() + 1
            )
        });
        format!("{}: [up] {key}{}", path.display(), line.unwrap_or_default())
    };
    if args.instances.is_none() {
        if let Some(n) = up.instances {
            if !(1..=100).contains(&n) {
                bail!("{}: must be 1 to 100, not {n}", at("instances", None));
            }
            args.instances = Some(n);
        }
    }
    if args.command.is_empty() {
        if let Some(c) = up.command {
            if c.is_empty() || c[0].is_empty() {
                bail!(
                    "{}: an empty command (leave it out for the demo)",
                    at("command", None)
                );
            }
            args.command = c;
        }
    }
    if args.health_path.is_none() && !args.no_health_check {
        args.health_path = up.health_path;
    }
    if args.sticky.is_none() {
        if let Some(s) = &up.sticky {
            args.sticky = Some(
                super::parse_sticky(s.get_ref())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", at("sticky", Some(s.span()))))?,
            );
        }
    }
    if args.session_cookies.is_empty() {
        args.session_cookies = up.session_cookies;
    }
    if args.session_headers.is_empty() {
        for h in &up.session_headers {
            let name = super::parse_header_name(h.get_ref())
                .map_err(|e| anyhow::anyhow!("{}: {e}", at("session_headers", Some(h.span()))))?;
            args.session_headers.push(name);
        }
    }
    if args.shared_mount.is_none() {
        if let Some(m) = &up.shared_mount {
            if args.no_files {
                bail!(
                    "{}: the shared mount is the files server's bucket: it cannot be used with --no-files",
                    at("shared_mount", Some(m.span()))
                );
            }
            args.shared_mount = Some(m.get_ref().clone());
        }
    }
    args.shared_dir |= up.shared_dir;
    if args.isolation.is_none() && !args.shared_dir {
        if let Some(s) = &up.isolation {
            args.isolation = Some(value_enum(s, |e| at("isolation", Some(e)))?);
        }
    }
    if args.uploads_route.is_none() {
        if let Some(s) = &up.uploads_route {
            args.uploads_route = Some(value_enum(s, |e| at("uploads_route", Some(e)))?);
        }
    }
    if up.register == Some(false) {
        args.no_register = true;
    }
    let b = balance.as_ref();
    args.listen = args.listen.or(up.listen).or(b.map(|b| b.listen));
    args.admin = args.admin.or(up.admin).or(b.and_then(|b| b.admin_listen));
    if args.admin_token.is_none() {
        args.admin_token = b.and_then(|b| b.admin_token.clone());
    }
    args.grace = args.grace.or(up.grace);
    args.ready_timeout = args.ready_timeout.or(up.ready_timeout);
    args.state_port = args
        .state_port
        .or(up.state_port)
        .or(state.as_ref().and_then(|s| s.port));
    args.files_port = args.files_port.or(up.files_port);
    if args.data.is_none() && !args.ephemeral {
        args.data = up.data;
    }
    tracing::info!(file = %path.display(), balance = balance.is_some(), "read [up] from the config file");
    Ok((
        args,
        FromFile {
            path: Some(path),
            env: up.env.into_iter().collect(),
            balance,
            tables: super::backends::Tables { state, files, src },
        },
    ))
}

/// A `--flag` value given in the file, e.g. `isolation = "copy"`.
fn value_enum<T: clap::ValueEnum>(
    s: &toml::Spanned<String>,
    at: impl Fn(std::ops::Range<usize>) -> String,
) -> anyhow::Result<T> {
    T::from_str(s.get_ref(), false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        anyhow::anyhow!(
            "{}: `{}` is not one of {}",
            at(s.span()),
            s.get_ref(),
            names.join(", ")
        )
    })
}

/// The whole file, read and checked as every role reads it.
fn read(path: &std::path::Path) -> anyhow::Result<(FileConfig, String)> {
    crate::config::load_with_source(path)
        .map_err(|e| anyhow::anyhow!("cannot use {} (--config): {e:#}", path.display()))
}

/// `[balance]` of the file, re-read for a reload of the running front door.
pub(crate) fn reread_balance(path: &std::path::Path) -> anyhow::Result<Option<frontdoor::Config>> {
    Ok(read(path)?.0.balance)
}

#[cfg(test)]
mod tests {
    use crate::config::UpToml;

    #[test]
    fn the_table_parses_and_refuses_unknown_keys() {
        let t: UpToml = toml::from_str(
            "command = [\"python3\", \"app.py\"]\ninstances = 2\nsticky = \"cookie\"\n[env]\nA = \"1\"\n",
        )
        .unwrap();
        assert_eq!(t.instances, Some(2));
        assert_eq!(t.env["A"], "1");
        assert!(toml::from_str::<UpToml>("instanses = 2\n").is_err());
    }
}
