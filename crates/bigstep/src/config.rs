//! `bigstep.toml`: one file, a table per role. Unknown tables and keys are
//! errors that name the key and the line.

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The front door (`bigstep balance`).
    #[serde(default)]
    pub(crate) balance: Option<frontdoor::Config>,
    /// The shared state server (`bigstep state`); validated by that role.
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "parsed so the file is checked as a whole; the state role reads its own table"
    )]
    pub(crate) state: Option<toml::Table>,
    /// The shared files server (`bigstep files`); validated by that role.
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "parsed so the file is checked as a whole; the files role reads its own table"
    )]
    pub(crate) files: Option<toml::Table>,
}

/// Read and validate `path`. Errors name the file, the key and the line.
pub(crate) fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let src = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    parse(&src).map_err(|msg| anyhow::anyhow!("{}: {msg}", path.display()))
}

pub(crate) fn parse(src: &str) -> Result<FileConfig, String> {
    let cfg: FileConfig = toml::from_str(src).map_err(|e| e.to_string().trim_end().to_string())?;
    if let Some(b) = &cfg.balance {
        b.validate(Some(src))
            .map_err(|e| format!("[balance] {e}"))?;
    }
    Ok(cfg)
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
    fn server_errors_name_the_document_line() {
        let src = "# comment\n[balance]\nlisten = \"127.0.0.1:8080\"\n\n[[balance.servers]]\naddress = \"bad\"\n";
        let e = parse(src).unwrap_err();
        assert!(e.contains("line 5") && e.contains("servers.address"), "{e}");
    }
}
