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
//! shared_dir = false
//!
//! [up.env]                          # given to every instance
//! APP_ENV = "development"
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::Args;
use crate::config::UpToml;

/// `args` with the file's `[up]` values filled in where no flag was given, and
/// the file's `[up.env]`.
pub(crate) fn apply(mut args: Args) -> anyhow::Result<(Args, Vec<(String, String)>)> {
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("bigstep.toml")).filter(|p| p.is_file()),
    };
    let Some(path) = path else {
        return Ok((args, Vec::new()));
    };
    let up = read(&path)?;
    let Some(up) = up else {
        return Ok((args, Vec::new()));
    };
    let at = |key: &str| format!("{}: [up] {key}", path.display());
    if args.instances.is_none() {
        if let Some(n) = up.instances {
            if !(1..=100).contains(&n) {
                bail!("{}: must be 1 to 100, not {n}", at("instances"));
            }
            args.instances = Some(n);
        }
    }
    if args.command.is_empty() {
        if let Some(c) = up.command {
            if c.is_empty() || c[0].is_empty() {
                bail!(
                    "{}: an empty command (leave it out for the demo)",
                    at("command")
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
            args.sticky =
                Some(super::parse_sticky(s).map_err(|e| anyhow::anyhow!("{}: {e}", at("sticky")))?);
        }
    }
    if args.session_cookies.is_empty() {
        args.session_cookies = up.session_cookies;
    }
    args.shared_dir |= up.shared_dir;
    tracing::info!(file = %path.display(), "read [up] from the config file");
    Ok((args, up.env.into_iter().collect()))
}

fn read(path: &Path) -> anyhow::Result<Option<UpToml>> {
    let cfg = crate::config::load(path)
        .with_context(|| format!("cannot use {} (--config)", path.display()))?;
    Ok(cfg.up)
}

#[cfg(test)]
mod tests {
    use super::*;

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
