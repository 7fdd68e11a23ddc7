//! Stream commands, replies and errors as redis-server 7.0's `t_stream.c`:
//! here XADD, XTRIM, XLEN, XRANGE, XDEL, XREAD(GROUP) and the blocked-reader
//! hooks; consumer-group commands in `group`, XINFO and log rewrite in `info`.
//!
//! Writes whose effect depends on the clock or on approximate trimming are
//! logged as their exact effect: `*` ids become the id generated, `~`
//! trimming becomes `MAXLEN = <length after>`, XREADGROUP becomes one
//! `XCLAIM ... FORCE JUSTID` per delivered entry plus `XGROUP SETID`, as
//! Redis propagates them, so replay rebuilds the same stream.

use bytes::Bytes;

use crate::cmd::args::{int, is, syntax};
use crate::cmd::ctx::{Ctx, R};
use crate::resp::Reply;
use crate::store::{notify, BlockOp};
use crate::stream::{parse_id, Nack, Stream, StreamId, Trim};

mod common;
mod group;
mod info;

use common::*;

pub(super) use group::*;
pub(crate) use info::rewrite_commands;
pub(super) use info::{xgroup_help, xinfo_consumers, xinfo_groups, xinfo_help, xinfo_stream};

// === XADD / XTRIM ===

/// Parsed trimming (and, for XADD, id) arguments.
struct AddArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// (id, seq given); None for `*`.
    id: Option<(StreamId, bool)>,
    /// Index of the id argument (XADD) or past the options.
    pos: usize,
}

fn parse_add_args(ctx: &Ctx<'_>, a: &[Bytes], xadd: bool) -> Result<AddArgs, Reply> {
    let mut r = AddArgs {
        trim: None,
        approx: false,
        limit: 0,
        nomkstream: false,
        id: None,
        pos: a.len(),
    };
    let mut limit_given = false;
    let both =
        || Reply::err("syntax error, MAXLEN and MINID options at the same time are not compatible");
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let o = &a[i];
        if xadd && &o[..] == b"*" {
            r.pos = i;
            break;
        } else if (is(o, "maxlen") || is(o, "minid")) && more > 0 {
            if r.trim.is_some() {
                return Err(both());
            }
            r.approx = false;
            let next = &a[i + 1][..];
            if more >= 2 && next == b"~" {
                r.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if is(o, "maxlen") {
                let n = int(&a[i + 1])?;
                if n < 0 {
                    return Err(Reply::err("The MAXLEN argument must be >= 0."));
                }
                r.trim = Some(Trim::MaxLen(n as u64));
            } else {
                r.trim = Some(Trim::MinId(strict_id(&a[i + 1])?));
            }
            i += 1;
        } else if is(o, "limit") && more > 0 {
            let n = int(&a[i + 1])?;
            if n < 0 {
                return Err(Reply::err("The LIMIT argument must be >= 0."));
            }
            r.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && is(o, "nomkstream") {
            r.nomkstream = true;
        } else if xadd {
            let (id, seq_given) = parse_id(o, 0, true, true).ok_or_else(invalid_id)?;
            r.id = Some((id, seq_given));
            r.pos = i;
            break;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if r.limit > 0 && r.trim.is_none() {
        return Err(Reply::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && r.trim.is_none() {
        return Err(Reply::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if ctx.c.replay {
        r.limit = 0;
    } else if limit_given {
        if !r.approx {
            return Err(Reply::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if r.approx {
        r.limit = 100 * crate::stream::NODE_MAX_ENTRIES;
    }
    Ok(r)
}

pub(super) fn xadd(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let args = parse_add_args(ctx, a, true)?;
    let field_pos = args.pos + 1;
    if a.len() < field_pos + 2 || !(a.len() - field_pos).is_multiple_of(2) {
        return Err(Reply::err("wrong number of arguments for 'xadd' command"));
    }
    if let Some((id, true)) = args.id {
        if id.is_zero() {
            return Err(Reply::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    if args.nomkstream && ctx.get_stream(&a[1])?.is_none() {
        return Ok(Reply::Nil);
    }
    let now = ctx.now;
    let s = ctx.stream_or_new(&a[1])?;
    if s.last_id == StreamId::MAX {
        return Err(Reply::err(
            "The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let last = s.last_id;
    let edom = || {
        Reply::err("The ID specified in XADD is equal or smaller than the target stream top item")
    };
    let id = match args.id {
        None => {
            if last.ms < now {
                StreamId::new(now, 0)
            } else {
                last.incr().ok_or_else(edom)?
            }
        }
        Some((id, true)) => id,
        Some((id, false)) => {
            if id.ms == last.ms {
                if last.seq == u64::MAX {
                    return Err(edom());
                }
                StreamId::new(last.ms, last.seq + 1)
            } else {
                id
            }
        }
    };
    if id <= last {
        return Err(edom());
    }
    let fields: Vec<(Bytes, Bytes)> = a[field_pos..]
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    s.append(id, fields);
    let mut trimmed = 0;
    if let Some(how) = args.trim {
        trimmed = s.trim(how, args.approx, args.limit);
    }
    let len = s.len();
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xadd", &a[1]);
    if trimmed > 0 {
        ctx.notify(notify::STREAM, "xtrim", &a[1]);
    }
    let mut prop = vec![b("XADD"), a[1].clone()];
    if args.trim.is_some() {
        prop.extend([b("MAXLEN"), b("="), b(&len.to_string())]);
    }
    prop.push(id.to_bytes());
    prop.extend(a[field_pos..].iter().cloned());
    ctx.propagate(prop);
    ctx.signal_ready(&a[1]);
    Ok(id_reply(id))
}

pub(super) fn xtrim(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    // Arguments first, as Redis: a syntax error on a missing key is an error.
    let args = parse_add_args(ctx, a, false)?;
    let Some(s) = ctx.get_stream(&a[1])? else {
        return Ok(Reply::Int(0));
    };
    let n = s.trim(args.trim.expect("parsed"), args.approx, args.limit);
    let len = s.len();
    if n > 0 {
        ctx.notify(notify::STREAM, "xtrim", &a[1]);
        ctx.dirty(n);
        ctx.propagate(vec![
            b("XTRIM"),
            a[1].clone(),
            b("MAXLEN"),
            b("="),
            b(&len.to_string()),
        ]);
    }
    Ok(Reply::Int(n as i64))
}

// === Reading ===

pub(super) fn xlen(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    Ok(Reply::Int(
        ctx.get_stream(&a[1])?.map_or(0, |s| s.len()) as i64
    ))
}

fn xrange_generic(ctx: &mut Ctx<'_>, a: &[Bytes], rev: bool) -> R {
    let (sa, ea) = if rev { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
    let start = range_start(sa)?;
    let end = range_end(ea)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < a.len() {
        if is(&a[j], "count") && j + 1 < a.len() {
            count = int(&a[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(syntax());
        }
    }
    let Some(s) = ctx.get_stream(&a[1])? else {
        return Ok(Reply::Array(vec![]));
    };
    if count == 0 {
        return Ok(Reply::NilArray);
    }
    let count = if count < 0 { 0 } else { count as usize };
    Ok(Reply::Array(range(s, start, end, rev, count)))
}

pub(super) fn xrange(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    xrange_generic(ctx, a, false)
}
pub(super) fn xrevrange(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    xrange_generic(ctx, a, true)
}

pub(super) fn xdel(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    if ctx.get_stream(&a[1])?.is_none() {
        return Ok(Reply::Int(0));
    }
    let ids = a[2..]
        .iter()
        .map(|x| strict_id(x))
        .collect::<Result<Vec<_>, _>>()?;
    let s = ctx.get_stream(&a[1])?.expect("checked");
    let mut deleted = 0;
    for id in ids {
        if s.delete(id) {
            if id > s.max_deleted {
                s.max_deleted = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        ctx.notify(notify::STREAM, "xdel", &a[1]);
        ctx.dirty(deleted);
    }
    Ok(Reply::Int(deleted as i64))
}

/// Parsed XREAD / XREADGROUP.
struct ReadArgs {
    timeout: Option<u64>,
    count: usize,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
    keys: Vec<Bytes>,
    ids: Vec<Bytes>,
}

fn parse_read(ctx: &Ctx<'_>, a: &[Bytes], group_cmd: bool) -> Result<ReadArgs, Reply> {
    let mut r = ReadArgs {
        timeout: None,
        count: 0,
        group: None,
        noack: false,
        keys: vec![],
        ids: vec![],
    };
    let mut streams_arg = 0;
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - i - 1;
        let o = &a[i];
        if is(o, "block") && more > 0 {
            if ctx.in_script {
                return Err(Reply::err(format!(
                    "{} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(&a[0])
                )));
            }
            i += 1;
            let t = crate::resp::parse_i64(&a[i])
                .ok_or_else(|| Reply::err("timeout is not an integer or out of range"))?;
            if t < 0 {
                return Err(Reply::err("timeout is negative"));
            }
            r.timeout = Some(t as u64);
        } else if is(o, "count") && more > 0 {
            i += 1;
            r.count = int(&a[i])?.max(0) as usize;
        } else if is(o, "streams") && more > 0 {
            streams_arg = i + 1;
            let n = a.len() - streams_arg;
            if !n.is_multiple_of(2) {
                return Err(Reply::err("Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            r.keys = a[streams_arg..streams_arg + n / 2].to_vec();
            r.ids = a[streams_arg + n / 2..].to_vec();
            break;
        } else if is(o, "group") && more >= 2 {
            if !group_cmd {
                return Err(Reply::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((a[i + 1].clone(), a[i + 2].clone()));
            i += 2;
        } else if is(o, "noack") {
            if !group_cmd {
                return Err(Reply::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(syntax());
    }
    if group_cmd && r.group.is_none() {
        return Err(Reply::err("Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// Builds XREAD's reply from (key, entries) pairs for the client's protocol.
pub(super) fn read_reply(proto: u8, items: Vec<(Bytes, Reply)>) -> Reply {
    if proto >= 3 {
        Reply::Map(
            items
                .into_iter()
                .map(|(k, v)| (Reply::Bulk(k), v))
                .collect(),
        )
    } else {
        Reply::Array(
            items
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), v]))
                .collect(),
        )
    }
}

/// Gets (or creates, with its event and log record) a group's consumer and
/// marks it seen. The group must exist.
fn touch_consumer(ctx: &mut Ctx<'_>, key: &Bytes, group: &Bytes, name: &Bytes) {
    let now = ctx.now;
    let Ok(Some(s)) = ctx.get_stream(key) else {
        return;
    };
    let Some(g) = s.groups.get_mut(group) else {
        return;
    };
    let (_, created) = g.consumer_mut(name, now);
    if created {
        ctx.dirty(1);
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        ctx.propagate(createconsumer_prop(key, group, name));
    }
}

/// Delivers new entries (after the group's last id) to `consumer`: the
/// `>` read. Group and consumer must exist. `count` 0 = all.
pub(super) fn deliver_new(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    count: usize,
    noack: bool,
) -> Reply {
    let now = ctx.now;
    let Ok(Some(s)) = ctx.get_stream(key) else {
        return Reply::Array(vec![]);
    };
    let Some(start) = s.groups.get(group).and_then(|g| g.last_id.incr()) else {
        return Reply::Array(vec![]);
    };
    let limit = if count == 0 { usize::MAX } else { count };
    let picked: Vec<(StreamId, Vec<(Bytes, Bytes)>)> = s
        .entries
        .range(start..)
        .take(limit)
        .map(|(id, f)| (*id, f.clone()))
        .collect();
    let mut out = Vec::with_capacity(picked.len());
    let mut props = Vec::new();
    for (id, fields) in &picked {
        s.advance_group(group, *id);
        out.push(entry_reply(*id, fields));
        if noack {
            continue;
        }
        let g = s.groups.get_mut(group).expect("group exists");
        match g.pel.get_mut(id) {
            Some(n) => {
                n.delivery_time = now;
                n.delivery_count = 1;
            }
            None => {
                g.pel.insert(
                    *id,
                    Nack {
                        consumer: consumer.clone(),
                        delivery_time: now,
                        delivery_count: 1,
                    },
                );
            }
        }
        g.assign(*id, consumer);
        props.push(xclaim_prop(key, group, *id, &g.pel[id], g.last_id));
    }
    if !picked.is_empty() {
        let g = &s.groups[group];
        props.push(setid_prop(key, group, g));
    }
    for p in props {
        ctx.propagate(p);
    }
    Reply::Array(out)
}

/// Re-delivers a consumer's pending entries from `start` (history read).
fn deliver_history(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    start: StreamId,
    count: usize,
) -> Reply {
    let now = ctx.now;
    let Ok(Some(s)) = ctx.get_stream(key) else {
        return Reply::Array(vec![]);
    };
    let limit = if count == 0 { usize::MAX } else { count };
    let g = s.groups.get_mut(group).expect("group exists");
    let ids: Vec<StreamId> = g
        .consumers
        .get(consumer)
        .map(|c| c.pel.range(start..).take(limit).copied().collect())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    let mut props = Vec::new();
    for id in ids {
        match s.entries.get(&id) {
            Some(f) => {
                out.push(entry_reply(id, f));
                if let Some(n) = g.pel.get_mut(&id) {
                    n.delivery_time = now;
                    n.delivery_count += 1;
                    // Redis does not propagate re-deliveries; we log them so a
                    // restart keeps delivery counts and times.
                    props.push(xclaim_prop(key, group, id, n, g.last_id));
                }
            }
            None => out.push(Reply::Array(vec![id_reply(id), Reply::NilArray])),
        }
    }
    for p in props {
        ctx.propagate(p);
    }
    Reply::Array(out)
}

fn xread_generic(ctx: &mut Ctx<'_>, a: &[Bytes], group_cmd: bool) -> R {
    let r = parse_read(ctx, a, group_cmd)?;
    // Resolve ids: `$` → current last id, `>` → MAX (served from the group).
    let mut ids = Vec::with_capacity(r.keys.len());
    for (k, raw) in r.keys.iter().zip(&r.ids) {
        let s = ctx.get_stream(k)?;
        if let Some((g, _)) = &r.group {
            if !s.is_some_and(|s| s.groups.contains_key(g)) {
                return Err(Reply::Error(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(g)
                )));
            }
        }
        let s = ctx.get_stream(k)?;
        if &raw[..] == b"$" {
            if group_cmd {
                return Err(Reply::err("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            ids.push(s.map_or(StreamId::ZERO, |s| s.last_id));
        } else if &raw[..] == b">" {
            if !group_cmd {
                return Err(Reply::err("The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            ids.push(StreamId::MAX);
        } else {
            ids.push(strict_id(raw)?);
        }
    }
    if group_cmd {
        // Our own log records (XCLAIM/SETID) replace the command.
        ctx.custom_prop = true;
    }
    let mut items = Vec::new();
    for (i, k) in r.keys.iter().enumerate() {
        let Some(s) = ctx.get_stream(k)? else {
            continue;
        };
        let gt = ids[i];
        match &r.group {
            Some((g, c)) => {
                let history = gt != StreamId::MAX;
                let glast = s.groups[g].last_id;
                let has_new = s.len() > 0 && s.last_valid_id() > glast;
                if !history && !has_new {
                    continue;
                }
                touch_consumer(ctx, k, g, c);
                let rep = if history {
                    deliver_history(ctx, k, g, c, gt.incr().unwrap_or(StreamId::MAX), r.count)
                } else {
                    deliver_new(ctx, k, g, c, r.count, r.noack)
                };
                ctx.dirty(1);
                items.push((k.clone(), rep));
            }
            None => {
                if s.len() == 0 || s.last_valid_id() <= gt {
                    continue;
                }
                let Some(start) = gt.incr() else { continue };
                items.push((
                    k.clone(),
                    Reply::Array(range(s, start, StreamId::MAX, false, r.count)),
                ));
            }
        }
    }
    if !items.is_empty() {
        return Ok(read_reply(ctx.c.proto, items));
    }
    let Some(timeout) = r.timeout else {
        return Ok(Reply::NilArray);
    };
    if !ctx.can_block() {
        return Ok(Reply::NilArray);
    }
    let op = BlockOp::XRead {
        ids,
        count: if r.count == 0 { 1000 } else { r.count },
        group: r.group.map(|(g, c)| (g, c, r.noack)),
    };
    super::list::block(ctx, r.keys, op, timeout, Reply::NilArray);
    Ok(Reply::None)
}

pub(super) fn xread(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    xread_generic(ctx, a, false)
}
pub(super) fn xreadgroup(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    xread_generic(ctx, a, true)
}

/// Whether a client blocked in XREAD(GROUP) on `key` can be served now.
pub(super) fn blocked_ready(
    s: &Stream,
    gt: StreamId,
    group: Option<&(Bytes, Bytes, bool)>,
) -> bool {
    match group {
        // A destroyed group is served too: with an error.
        Some((g, _, _)) => s.groups.get(g).is_none_or(|g| s.last_id > g.last_id),
        None => s.last_id > gt,
    }
}

/// Serves a client blocked in XREAD(GROUP) on `key` (readiness checked).
pub(super) fn serve_blocked(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
    gt: StreamId,
    count: usize,
    group: Option<&(Bytes, Bytes, bool)>,
) -> Reply {
    let entries = match group {
        Some((g, c, noack)) => {
            let exists = matches!(ctx.get_stream(key), Ok(Some(s)) if s.groups.contains_key(g));
            if !exists {
                return Reply::Error(
                    "NOGROUP the consumer group this client was blocked on no longer exists".into(),
                );
            }
            touch_consumer(ctx, key, g, c);
            let r = deliver_new(ctx, key, g, c, count, *noack);
            ctx.dirty(1);
            r
        }
        None => {
            let Ok(Some(s)) = ctx.get_stream(key) else {
                return Reply::NilArray;
            };
            match gt.incr() {
                Some(start) => Reply::Array(range(s, start, StreamId::MAX, false, count)),
                None => Reply::Array(vec![]),
            }
        }
    };
    read_reply(ctx.c.proto, vec![(key.clone(), entries)])
}
