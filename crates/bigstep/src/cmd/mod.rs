//! One module per subcommand. Each defines its clap `Args` and a `run` function.

pub(crate) mod balance;
pub(crate) mod ctl;
pub(crate) mod demo;
pub(crate) mod files;
pub(crate) mod join;
pub(crate) mod state;
pub(crate) mod up;

/// The most serving threads `--threads` accepts: far above any core count a
/// server has, and low enough that a slip of the keyboard (`--threads 100000`)
/// is refused as such instead of failing later on file descriptors.
const MAX_THREADS: usize = 1024;

/// `--threads N` of the server roles: 1 to [`MAX_THREADS`]. Zero is refused
/// rather than quietly read as one.
pub(crate) fn parse_threads(s: &str) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of threads"))?;
    if (1..=MAX_THREADS).contains(&n) {
        Ok(n)
    } else {
        Err(format!("must be 1 to {MAX_THREADS}, not {n}"))
    }
}
