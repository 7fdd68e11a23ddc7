//! `bigstep.toml`: one file, a table per role, read once (through
//! `service::config`) and typed as a whole. Unknown tables and keys are errors
//! that name the key and the line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The front door (`bigstep balance`).
    #[serde(default)]
    pub(crate) balance: Option<frontdoor::Config>,
    /// The shared state server (`bigstep state`).
    #[serde(default)]
    pub(crate) state: Option<state::StateToml>,
    /// The shared files server (`bigstep files`).
    #[serde(default)]
    pub(crate) files: Option<files::FilesToml>,
    /// What `bigstep up` runs (see `cmd/up/file.rs`).
    #[serde(default)]
    pub(crate) up: Option<UpToml>,
}

/// Read and validate `path`. Errors name the file, the key and the line.
pub(crate) fn load(path: &Path) -> anyhow::Result<FileConfig> {
    Ok(load_with_source(path)?.0)
}

/// [`load`], also returning the text, for roles that report lines after parsing
/// (the state role names the line of a missing `password_env` variable).
pub(crate) fn load_with_source(path: &Path) -> anyhow::Result<(FileConfig, String)> {
    let mut loaded = service::config::read::<FileConfig>(path)?;
    // Paths first: validation reads some files (a server's `tls_ca`), named
    // relative to this file.
    if let (Some(b), Some(dir)) = (loaded.value.balance.as_mut(), path.parent()) {
        b.resolve_paths(dir);
    }
    validate(&loaded.value, &loaded.source)
        .map_err(|msg| anyhow::anyhow!("{}: {msg}", path.display()))?;
    Ok((loaded.value, loaded.source))
}

/// The `[up]` table (read by `bigstep up`, see `cmd/up/file.rs`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpToml {
    /// The app's command and arguments; absent: the built-in demo.
    #[serde(default)]
    pub(crate) command: Option<Vec<String>>,
    /// How many instances.
    #[serde(default)]
    pub(crate) instances: Option<u16>,
    /// Environment for every instance.
    #[serde(default)]
    pub(crate) env: BTreeMap<String, String>,
    /// The health-check path.
    #[serde(default)]
    pub(crate) health_path: Option<String>,
    /// `none`, `cookie`, `app-cookie:NAME`.
    #[serde(default)]
    pub(crate) sticky: Option<toml::Spanned<String>>,
    /// Cookie names the session-loss detector watches.
    #[serde(default)]
    pub(crate) session_cookies: Vec<String>,
    /// Request headers that carry a session (`--session-header`).
    #[serde(default)]
    pub(crate) session_headers: Vec<toml::Spanned<String>>,
    /// Mount the shared bucket for each instance under this directory (`--shared-mount`).
    #[serde(default)]
    pub(crate) shared_mount: Option<toml::Spanned<std::path::PathBuf>>,
    /// Instances share the app directory, HOME and TMPDIR.
    #[serde(default)]
    pub(crate) shared_dir: bool,
    /// `auto`, `overlay` or `copy` (`--isolation`).
    #[serde(default)]
    pub(crate) isolation: Option<toml::Spanned<String>>,
    /// The front door's address (`--listen`).
    #[serde(default, deserialize_with = "frontdoor::config::listen::optional")]
    pub(crate) listen: Option<std::net::SocketAddr>,
    /// The admin listener (`--admin`).
    #[serde(default, deserialize_with = "frontdoor::config::listen::optional")]
    pub(crate) admin: Option<std::net::SocketAddr>,
    /// How long requests, then instances, get on stop (`--grace`).
    #[serde(default, with = "service::config::duration")]
    pub(crate) grace: Option<std::time::Duration>,
    /// How long each instance gets to accept connections (`--ready-timeout`).
    #[serde(default, with = "service::config::duration")]
    pub(crate) ready_timeout: Option<std::time::Duration>,
    /// The shared state server's port (`--state-port`).
    #[serde(default)]
    pub(crate) state_port: Option<u16>,
    /// The shared files server's port (`--files-port`).
    #[serde(default)]
    pub(crate) files_port: Option<u16>,
    /// Where state and files keep their data (`--data`).
    #[serde(default)]
    pub(crate) data: Option<std::path::PathBuf>,
    /// `auto`, `on` or `off` (`--uploads-route`).
    #[serde(default)]
    pub(crate) uploads_route: Option<toml::Spanned<String>>,
    /// Register the instances in the shared state (`--no-register` sets false).
    #[serde(default)]
    pub(crate) register: Option<bool>,
}

#[cfg(test)]
fn parse(src: &str) -> Result<FileConfig, String> {
    let cfg: FileConfig = service::config::parse(src)?;
    validate(&cfg, src)?;
    Ok(cfg)
}

/// What the types cannot say: each role's own checks, naming the document line.
fn validate(cfg: &FileConfig, src: &str) -> Result<(), String> {
    if let Some(b) = &cfg.balance {
        b.validate(Some(src))
            .map_err(|e| format!("[balance] {e}"))?;
    }
    if let Some(s) = &cfg.state {
        s.validate(src).map_err(|e| format!("[state] {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_table_is_an_error() {
        let e = parse("[balanse]\nlisten = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(e.contains("balanse") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn state_errors_name_the_key_and_line() {
        let e = parse("[balance]\nlisten = \"127.0.0.1:1\"\n\n[state]\nport = 6380\nappendfsnyc = \"always\"\n")
            .unwrap_err();
        assert!(e.contains("appendfsnyc") && e.contains("line 6"), "{e}");
        let e = parse(
            "[state]\n[[state.users]]\nname = \"app\"\npassword = \"x\"\npassword_env = \"Y\"\n",
        )
        .unwrap_err();
        assert!(e.starts_with("[state]") && e.contains("line 5"), "{e}");
    }

    #[test]
    fn server_errors_name_the_document_line() {
        let src = "# comment\n[balance]\nlisten = \"127.0.0.1:8080\"\n\n[[balance.servers]]\naddress = \"bad\"\n";
        let e = parse(src).unwrap_err();
        assert!(e.contains("line 5") && e.contains("servers.address"), "{e}");
    }
}
