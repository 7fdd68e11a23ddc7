//! What a standalone `redis-server` 7.0 on its defaults answers for what it
//! does not do: cluster commands (cluster support off), DEBUG and module
//! loading (`enable-debug-command no`, `enable-module-command no`). Clients
//! probe with these (cluster clients call CLUSTER SLOTS/SHARDS, ORMs call
//! MODULE LIST for RedisJSON), so the answer must be Redis's, not "unknown
//! command".

use bytes::Bytes;

use super::ctx::{Ctx, R};
use crate::resp::Reply;

pub(super) fn cluster_disabled(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Err(Reply::err("This instance has cluster support disabled"))
}

pub(super) fn debug(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Err(Reply::err(
        "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
    ))
}

/// No modules are loaded, ever.
pub(super) fn module_list(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Array(Vec::new()))
}

/// MODULE LOAD, LOADEX, UNLOAD.
pub(super) fn module_refused(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Err(Reply::err(
        "MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
    ))
}

pub(super) fn module_help(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    let lines = [
        "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LIST",
        "    Return a list of loaded modules.",
        "LOAD <path> [<arg> ...]",
        "    Load a module library from <path>, passing to it any optional arguments.",
        "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
        "    Load a module library from <path>, while passing it module configurations and optional arguments.",
        "UNLOAD <name>",
        "    Unload a module.",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        lines.iter().map(|l| Reply::Status((*l).into())).collect(),
    ))
}
