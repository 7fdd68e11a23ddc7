//! One module per subcommand. Each defines its clap `Args` and a `run` function.

pub(crate) mod balance;
pub(crate) mod ctl;
pub(crate) mod demo;
pub(crate) mod files;
pub(crate) mod join;
pub(crate) mod state;
pub(crate) mod up;
