//! XINFO, the HELP texts, and the commands that rebuild a stream in a
//! compacted log.

use bytes::Bytes;

use super::common::{b, entry_reply, id_reply, nogroup_for_key, range, subcommand_syntax};
use crate::cmd::args::{int, is};
use crate::cmd::ctx::{Ctx, R};
use crate::resp::Reply;
use crate::stream::{Group, Stream, StreamId, ENTRIES_READ_INVALID};

fn xinfo_stream_of<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<&'c mut Stream, Reply> {
    ctx.get_stream(key)?
        .ok_or_else(|| Reply::err("no such key"))
}

fn kv(k: &str, v: Reply) -> (Reply, Reply) {
    (Reply::bulk(k), v)
}

fn opt_int(v: Option<i64>) -> Reply {
    v.map_or(Reply::Nil, Reply::Int)
}

fn entries_read_reply(g: &Group) -> Reply {
    if g.entries_read == ENTRIES_READ_INVALID {
        Reply::Nil
    } else {
        Reply::Int(g.entries_read)
    }
}

pub(crate) fn xinfo_consumers(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let now = crate::store::now_ms();
    let s = xinfo_stream_of(ctx, &a[2])?;
    let Some(g) = s.groups.get(&a[3]) else {
        return Err(nogroup_for_key(&a[2], &a[3]));
    };
    Ok(Reply::Array(
        g.consumers
            .iter()
            .map(|(n, c)| {
                Reply::Map(vec![
                    kv("name", Reply::Bulk(n.clone())),
                    kv("pending", Reply::Int(c.pel.len() as i64)),
                    kv("idle", Reply::Int(now.saturating_sub(c.seen_time) as i64)),
                ])
            })
            .collect(),
    ))
}

pub(crate) fn xinfo_groups(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let s = xinfo_stream_of(ctx, &a[2])?;
    Ok(Reply::Array(
        s.groups
            .iter()
            .map(|(n, g)| {
                Reply::Map(vec![
                    kv("name", Reply::Bulk(n.clone())),
                    kv("consumers", Reply::Int(g.consumers.len() as i64)),
                    kv("pending", Reply::Int(g.pel.len() as i64)),
                    kv("last-delivered-id", id_reply(g.last_id)),
                    kv("entries-read", entries_read_reply(g)),
                    kv("lag", opt_int(s.lag(g))),
                ])
            })
            .collect(),
    ))
}

pub(crate) fn xinfo_stream(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let s = xinfo_stream_of(ctx, &a[2])?;
    let mut full = false;
    let mut count: usize = 10;
    if a.len() > 3 {
        if !is(&a[3], "full") {
            return Err(subcommand_syntax(a));
        }
        if a.len() > 4 {
            if a.len() != 6 || !is(&a[4], "count") {
                return Err(subcommand_syntax(a));
            }
            count = int(&a[5])?.max(0) as usize;
        }
        full = true;
    }
    let mut m = vec![
        kv("length", Reply::Int(s.len() as i64)),
        kv("radix-tree-keys", Reply::Int(s.node_count() as i64)),
        kv("radix-tree-nodes", Reply::Int(s.rax_nodes() as i64)),
        kv("last-generated-id", id_reply(s.last_id)),
        kv("max-deleted-entry-id", id_reply(s.max_deleted)),
        kv("entries-added", Reply::Int(s.entries_added as i64)),
        kv("recorded-first-entry-id", id_reply(s.first_id())),
    ];
    if !full {
        m.push(kv("groups", Reply::Int(s.groups.len() as i64)));
        let first = s.entries.iter().next().map(|(i, f)| entry_reply(*i, f));
        let last = s
            .entries
            .iter()
            .next_back()
            .map(|(i, f)| entry_reply(*i, f));
        m.push(kv("first-entry", first.unwrap_or(Reply::Nil)));
        m.push(kv("last-entry", last.unwrap_or(Reply::Nil)));
        return Ok(Reply::Map(m));
    }
    let lim = if count == 0 { usize::MAX } else { count };
    m.push(kv(
        "entries",
        Reply::Array(range(s, StreamId::ZERO, StreamId::MAX, false, count)),
    ));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pel = g
                .pel
                .iter()
                .take(lim)
                .map(|(id, n)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(n.consumer.clone()),
                        Reply::Int(n.delivery_time as i64),
                        Reply::Int(n.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cn, c)| {
                    let pending = c
                        .pel
                        .iter()
                        .take(lim)
                        .map(|id| {
                            let n = &g.pel[id];
                            Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(n.delivery_time as i64),
                                Reply::Int(n.delivery_count as i64),
                            ])
                        })
                        .collect();
                    Reply::Map(vec![
                        kv("name", Reply::Bulk(cn.clone())),
                        kv("seen-time", Reply::Int(c.seen_time as i64)),
                        kv("pel-count", Reply::Int(c.pel.len() as i64)),
                        kv("pending", Reply::Array(pending)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                kv("name", Reply::Bulk(name.clone())),
                kv("last-delivered-id", id_reply(g.last_id)),
                kv("entries-read", entries_read_reply(g)),
                kv("lag", opt_int(s.lag(g))),
                kv("pel-count", Reply::Int(g.pel.len() as i64)),
                kv("pending", Reply::Array(pel)),
                kv("consumers", Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push(kv("groups", Reply::Array(groups)));
    Ok(Reply::Map(m))
}

// === Log rewrite ===

/// The commands that rebuild a stream, as Redis's AOF rewrite emits them.
pub(crate) fn rewrite_commands(key: &Bytes, s: &Stream) -> Vec<Vec<Bytes>> {
    let mut out = Vec::new();
    if s.entries.is_empty() {
        // Create the empty stream with the MAXLEN 0 trick.
        out.push(vec![
            b("XADD"),
            key.clone(),
            b("MAXLEN"),
            b("0"),
            b("0-1"),
            b("x"),
            b("y"),
        ]);
    } else {
        for (id, fields) in &s.entries {
            let mut c = vec![b("XADD"), key.clone(), id.to_bytes()];
            for (f, v) in fields {
                c.push(f.clone());
                c.push(v.clone());
            }
            out.push(c);
        }
    }
    // XSETID refuses a max deleted id above the id it sets, which XSETID
    // itself can leave behind; then go through the higher id first.
    let via = s.last_id.max(s.max_deleted);
    out.push(vec![
        b("XSETID"),
        key.clone(),
        via.to_bytes(),
        b("ENTRIESADDED"),
        b(&s.entries_added.to_string()),
        b("MAXDELETEDID"),
        s.max_deleted.to_bytes(),
    ]);
    if via != s.last_id {
        out.push(vec![b("XSETID"), key.clone(), s.last_id.to_bytes()]);
    }
    for (name, g) in &s.groups {
        out.push(vec![
            b("XGROUP"),
            b("CREATE"),
            key.clone(),
            name.clone(),
            g.last_id.to_bytes(),
            b("ENTRIESREAD"),
            b(&g.entries_read.to_string()),
        ]);
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                out.push(vec![
                    b("XGROUP"),
                    b("CREATECONSUMER"),
                    key.clone(),
                    name.clone(),
                    cname.clone(),
                ]);
            }
            for id in &c.pel {
                // The same XCLAIM a group read propagates; LASTID equal to the
                // group's last id (just created above) changes nothing.
                out.push(super::xclaim_prop(key, name, *id, &g.pel[id], g.last_id));
            }
        }
    }
    out
}

// === HELP ===

fn help(lines: &[&str]) -> R {
    Ok(Reply::Array(
        lines.iter().map(|l| Reply::Status((*l).into())).collect(),
    ))
}

pub(crate) fn xgroup_help(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    help(&[
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
        "HELP",
        "    Prints this help.",
    ])
}

pub(crate) fn xinfo_help(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    help(&[
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
        "HELP",
        "    Prints this help.",
    ])
}
