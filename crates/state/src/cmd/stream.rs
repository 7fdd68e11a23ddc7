//! Stream commands (XADD, XREAD, consumer groups, ...), replies and errors
//! as redis-server 7.0's `t_stream.c`.
//!
//! Writes whose effect depends on the clock or on approximate trimming are
//! logged as their exact effect: `*` ids become the id generated, `~`
//! trimming becomes `MAXLEN = <length after>`, XREADGROUP becomes one
//! `XCLAIM ... FORCE JUSTID` per delivered entry plus `XGROUP SETID`, as
//! Redis propagates them, so replay rebuilds the same stream.

use bytes::Bytes;

use super::{int, is, syntax, Ctx, R};
use crate::resp::Reply;
use crate::store::{notify, BlockOp, Value};
use crate::stream::{parse_id, Group, Nack, Stream, StreamId, Trim, ENTRIES_READ_INVALID};

fn new_stream() -> Value {
    Value::Stream(Box::default())
}

fn invalid_id() -> Reply {
    Reply::err("Invalid stream ID specified as stream command argument")
}

/// A strict id (`-`/`+` refused, `ms` alone means `ms-0`).
fn strict_id(b: &[u8]) -> Result<StreamId, Reply> {
    parse_id(b, 0, true, false)
        .map(|x| x.0)
        .ok_or_else(invalid_id)
}

/// A range bound: `(` for exclusive, `-`/`+`, `ms` alone gets `missing_seq`.
fn interval(b: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if b.len() > 1 && b[0] == b'(' {
        let id = parse_id(&b[1..], missing_seq, true, false).ok_or_else(invalid_id)?;
        Ok((id.0, true))
    } else {
        let id = parse_id(b, missing_seq, false, false).ok_or_else(invalid_id)?;
        Ok((id.0, false))
    }
}

fn range_start(b: &[u8]) -> Result<StreamId, Reply> {
    let (id, ex) = interval(b, 0)?;
    if ex {
        id.incr()
            .ok_or_else(|| Reply::err("invalid start ID for the interval"))
    } else {
        Ok(id)
    }
}

fn range_end(b: &[u8]) -> Result<StreamId, Reply> {
    let (id, ex) = interval(b, u64::MAX)?;
    if ex {
        id.decr()
            .ok_or_else(|| Reply::err("invalid end ID for the interval"))
    } else {
        Ok(id)
    }
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

fn entry_reply(id: StreamId, fields: &[(Bytes, Bytes)]) -> Reply {
    let mut f = Vec::with_capacity(fields.len() * 2);
    for (k, v) in fields {
        f.push(Reply::Bulk(k.clone()));
        f.push(Reply::Bulk(v.clone()));
    }
    Reply::Array(vec![id_reply(id), Reply::Array(f)])
}

/// Entries in `[start, end]`, newest first if `rev`; `count` 0 = all.
fn range(s: &Stream, start: StreamId, end: StreamId, rev: bool, count: usize) -> Vec<Reply> {
    if start > end {
        return vec![];
    }
    let limit = if count == 0 { usize::MAX } else { count };
    let it = s.entries.range(start..=end);
    if rev {
        it.rev()
            .take(limit)
            .map(|(id, f)| entry_reply(*id, f))
            .collect()
    } else {
        it.take(limit).map(|(id, f)| entry_reply(*id, f)).collect()
    }
}

fn nogroup(key: &[u8], group: &[u8]) -> Reply {
    Reply::Error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn nogroup_for_key(key: &[u8], group: &[u8]) -> Reply {
    Reply::Error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

fn subcommand_syntax(a: &[Bytes]) -> Reply {
    Reply::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&a[1]),
        String::from_utf8_lossy(&a[0]).to_ascii_uppercase()
    ))
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

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
    let Value::Stream(s) = ctx.get_or_create(&a[1], new_stream)? else {
        unreachable!()
    };
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
    if ctx.get_stream(&a[1])?.is_none() {
        return Ok(Reply::Int(0));
    }
    let args = parse_add_args(ctx, a, false)?;
    let s = ctx.get_stream(&a[1])?.expect("checked");
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

/// Log record of a consumer created on the side (XREADGROUP, XCLAIM,
/// XAUTOCLAIM): replay must recreate it even if nothing was delivered.
fn createconsumer_prop(key: &Bytes, group: &Bytes, name: &Bytes) -> Vec<Bytes> {
    vec![
        b("XGROUP"),
        b("CREATECONSUMER"),
        key.clone(),
        group.clone(),
        name.clone(),
    ]
}

fn xclaim_prop(key: &Bytes, group: &Bytes, id: StreamId, n: &Nack, last: StreamId) -> Vec<Bytes> {
    vec![
        b("XCLAIM"),
        key.clone(),
        group.clone(),
        n.consumer.clone(),
        b("0"),
        id.to_bytes(),
        b("TIME"),
        b(&n.delivery_time.to_string()),
        b("RETRYCOUNT"),
        b(&n.delivery_count.to_string()),
        b("FORCE"),
        b("JUSTID"),
        b("LASTID"),
        last.to_bytes(),
    ]
}

fn setid_prop(key: &Bytes, group: &Bytes, g: &Group) -> Vec<Bytes> {
    vec![
        b("XGROUP"),
        b("SETID"),
        key.clone(),
        group.clone(),
        g.last_id.to_bytes(),
        b("ENTRIESREAD"),
        b(&g.entries_read.to_string()),
    ]
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

// === Groups ===

pub(super) fn xgroup_create(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_INVALID;
    let mut i = 5;
    while i < a.len() {
        if is(&a[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if is(&a[i], "entriesread") && i + 1 < a.len() {
            entries_read = int(&a[i + 1])?;
            if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                return Err(Reply::err("value for ENTRIESREAD must be positive or -1"));
            }
            i += 2;
        } else {
            return Err(subcommand_syntax(a));
        }
    }
    let exists = ctx.get_stream(&a[2])?.is_some();
    if !exists && !mkstream {
        return Err(Reply::err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
    }
    if a.len() > 8 {
        return Err(subcommand_syntax(a));
    }
    let id = if &a[4][..] == b"$" {
        ctx.get_stream(&a[2])?.map_or(StreamId::ZERO, |s| s.last_id)
    } else {
        strict_id(&a[4])?
    };
    if !exists {
        // XGROUP skips WATCH touches except when MKSTREAM creates the key.
        let db = ctx.c.db;
        ctx.s.touch(db, &a[2]);
    }
    let Value::Stream(s) = ctx.get_or_create(&a[2], new_stream)? else {
        unreachable!()
    };
    if s.groups.contains_key(&a[3]) {
        return Err(Reply::Error(
            "BUSYGROUP Consumer Group name already exists".into(),
        ));
    }
    s.groups.insert(
        a[3].clone(),
        Group {
            last_id: id,
            entries_read,
            ..Default::default()
        },
    );
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xgroup-create", &a[2]);
    Ok(Reply::Ok)
}

/// Common checks of the subcommands that need an existing group.
fn need_group(ctx: &mut Ctx<'_>, a: &[Bytes]) -> Result<(), Reply> {
    match ctx.get_stream(&a[2])? {
        None => Err(Reply::err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")),
        Some(s) if !s.groups.contains_key(&a[3]) => Err(nogroup_for_key(&a[2], &a[3])),
        Some(_) => Ok(()),
    }
}

pub(super) fn xgroup_setid(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    need_group(ctx, a)?;
    if a.len() != 5 && a.len() != 7 {
        return Err(subcommand_syntax(a));
    }
    let s = ctx.get_stream(&a[2])?.expect("checked");
    let id = if &a[4][..] == b"$" {
        s.last_id
    } else {
        parse_id(&a[4], 0, false, false).ok_or_else(invalid_id)?.0
    };
    let mut entries_read = ENTRIES_READ_INVALID;
    if a.len() == 7 {
        if !is(&a[5], "entriesread") {
            return Err(subcommand_syntax(a));
        }
        entries_read = int(&a[6])?;
        if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
            return Err(Reply::err("value for ENTRIESREAD must be positive or -1"));
        }
    }
    let g = s.groups.get_mut(&a[3]).expect("checked");
    g.last_id = id;
    g.entries_read = entries_read;
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xgroup-setid", &a[2]);
    Ok(Reply::Ok)
}

pub(super) fn xgroup_destroy(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let Some(s) = ctx.get_stream(&a[2])? else {
        return Err(Reply::err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
    };
    if s.groups.remove(&a[3]).is_none() {
        return Ok(Reply::Int(0));
    }
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xgroup-destroy", &a[2]);
    // Clients blocked in XREADGROUP on it get -NOGROUP.
    ctx.signal_ready(&a[2]);
    Ok(Reply::Int(1))
}

pub(super) fn xgroup_createconsumer(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    need_group(ctx, a)?;
    let now = ctx.now;
    let s = ctx.get_stream(&a[2])?.expect("checked");
    let g = s.groups.get_mut(&a[3]).expect("checked");
    if g.consumers.contains_key(&a[4]) {
        return Ok(Reply::Int(0));
    }
    g.consumer_mut(&a[4], now);
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xgroup-createconsumer", &a[2]);
    Ok(Reply::Int(1))
}

pub(super) fn xgroup_delconsumer(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    need_group(ctx, a)?;
    let s = ctx.get_stream(&a[2])?.expect("checked");
    let g = s.groups.get_mut(&a[3]).expect("checked");
    let Some(c) = g.consumers.remove(&a[4]) else {
        return Ok(Reply::Int(0));
    };
    for id in &c.pel {
        g.pel.remove(id);
    }
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xgroup-delconsumer", &a[2]);
    Ok(Reply::Int(c.pel.len() as i64))
}

pub(super) fn xsetid(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let id = strict_id(&a[2])?;
    let mut entries_added: i64 = -1;
    let mut max_del = StreamId::ZERO;
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if is(&a[i], "entriesadded") && more > 0 {
            entries_added = int(&a[i + 1])?;
            if entries_added < 0 {
                return Err(Reply::err("entries_added must be positive"));
            }
            i += 2;
        } else if is(&a[i], "maxdeletedid") && more > 0 {
            max_del = strict_id(&a[i + 1])?;
            if id < max_del {
                return Err(Reply::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    let Some(s) = ctx.get_stream(&a[1])? else {
        return Err(Reply::err("no such key"));
    };
    if s.len() > 0 {
        if id < s.last_valid_id() {
            return Err(Reply::err(
                "The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.len() as i64 > entries_added {
            return Err(Reply::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_del.is_zero() {
        s.max_deleted = max_del;
    }
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xsetid", &a[1]);
    Ok(Reply::Ok)
}

pub(super) fn xack(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let has_group = match ctx.get_stream(&a[1])? {
        Some(s) => s.groups.contains_key(&a[2]),
        None => false,
    };
    if !has_group {
        return Ok(Reply::Int(0));
    }
    let ids = a[3..]
        .iter()
        .map(|x| strict_id(x))
        .collect::<Result<Vec<_>, _>>()?;
    let s = ctx.get_stream(&a[1])?.expect("checked");
    let g = s.groups.get_mut(&a[2]).expect("checked");
    let mut n = 0;
    for id in ids {
        if g.remove_nack(id).is_some() {
            n += 1;
        }
    }
    ctx.dirty(n);
    Ok(Reply::Int(n as i64))
}

pub(super) fn xpending(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let summary = a.len() == 3;
    if a.len() != 3 && (a.len() < 6 || a.len() > 9) {
        return Err(syntax());
    }
    let (mut min_idle, mut start, mut end, mut count, mut consumer) =
        (0i64, StreamId::ZERO, StreamId::MAX, 0i64, None);
    if a.len() >= 6 {
        let mut si = 3;
        if is(&a[3], "idle") {
            min_idle = int(&a[4])?;
            if a.len() < 8 {
                return Err(syntax());
            }
            si += 2;
        }
        count = int(&a[si + 2])?.max(0);
        start = range_start(&a[si])?;
        end = range_end(&a[si + 1])?;
        if si + 3 < a.len() {
            consumer = Some(a[si + 3].clone());
        }
    }
    let now = ctx.now;
    let Some(s) = ctx.get_stream(&a[1])? else {
        return Err(nogroup(&a[1], &a[2]));
    };
    let Some(g) = s.groups.get(&a[2]) else {
        return Err(nogroup(&a[1], &a[2]));
    };
    if summary {
        if g.pel.is_empty() {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        }
        let first = *g.pel.keys().next().expect("non-empty");
        let last = *g.pel.keys().next_back().expect("non-empty");
        let cons = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(n, c)| {
                Reply::Array(vec![
                    Reply::Bulk(n.clone()),
                    Reply::bulk(c.pel.len().to_string()),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            id_reply(first),
            id_reply(last),
            Reply::Array(cons),
        ]));
    }
    let ids: Vec<StreamId> = match &consumer {
        Some(c) => match g.consumers.get(c) {
            Some(c) => c.pel.range(start..).copied().collect(),
            None => return Ok(Reply::Array(vec![])),
        },
        None => g.pel.range(start..).map(|(id, _)| *id).collect(),
    };
    let mut out = Vec::new();
    let mut left = count;
    for id in ids {
        if left == 0 || id > end {
            break;
        }
        let n = &g.pel[&id];
        let idle = now.saturating_sub(n.delivery_time) as i64;
        if min_idle > 0 && idle < min_idle {
            continue;
        }
        left -= 1;
        out.push(Reply::Array(vec![
            id_reply(id),
            Reply::Bulk(n.consumer.clone()),
            Reply::Int(idle),
            Reply::Int(n.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(out))
}

fn int_msg(b: &[u8], msg: &str) -> Result<i64, Reply> {
    crate::resp::parse_i64(b).ok_or_else(|| Reply::err(msg))
}

pub(super) fn xclaim(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (key, group, name) = (&a[1], &a[2], &a[3]);
    match ctx.get_stream(key)? {
        Some(s) if s.groups.contains_key(group) => {}
        _ => return Err(nogroup(key, group)),
    }
    let min_idle = int_msg(&a[4], "Invalid min-idle-time argument for XCLAIM")?.max(0) as u64;
    let mut j = 5;
    while j < a.len() && parse_id(&a[j], 0, true, false).is_some() {
        j += 1;
    }
    let last_id_arg = j;
    let now = ctx.now;
    let (mut force, mut justid) = (false, false);
    let mut retry: Option<i64> = None;
    let mut dtime: Option<i64> = None;
    let mut last_id = StreamId::ZERO;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let o = &a[j];
        if is(o, "force") {
            force = true;
        } else if is(o, "justid") {
            justid = true;
        } else if is(o, "idle") && more > 0 {
            j += 1;
            let v = int_msg(&a[j], "Invalid IDLE option argument for XCLAIM")?;
            dtime = Some(now as i64 - v);
        } else if is(o, "time") && more > 0 {
            j += 1;
            dtime = Some(int_msg(&a[j], "Invalid TIME option argument for XCLAIM")?);
        } else if is(o, "retrycount") && more > 0 {
            j += 1;
            retry = Some(int_msg(
                &a[j],
                "Invalid RETRYCOUNT option argument for XCLAIM",
            )?);
        } else if is(o, "lastid") && more > 0 {
            j += 1;
            last_id = strict_id(&a[j])?;
        } else {
            return Err(Reply::err(format!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(o)
            )));
        }
        j += 1;
    }
    let dtime = match dtime {
        Some(t) if t >= 0 && t <= now as i64 => t as u64,
        _ => now,
    };
    ctx.custom_prop = true;
    let s = ctx.get_stream(key)?.expect("checked");
    let mut propagate_last = false;
    {
        let g = s.groups.get_mut(group).expect("checked");
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last = true;
        }
    }
    let mut out = Vec::new();
    let mut props = Vec::new();
    let mut dirty = 0;
    let mut consumer_created = false;
    for arg in &a[5..last_id_arg] {
        let id = strict_id(arg)?;
        let exists = s.contains(id);
        let g = s.groups.get_mut(group).expect("checked");
        if !exists {
            if let Some(n) = g.pel.get(&id).cloned() {
                props.push(xclaim_prop(key, group, id, &n, g.last_id));
                propagate_last = false;
                dirty += 1;
                g.remove_nack(id);
            }
            continue;
        }
        let mut fresh = false;
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(
                id,
                Nack {
                    consumer: Bytes::new(),
                    delivery_time: now,
                    delivery_count: 1,
                },
            );
            fresh = true;
        }
        let Some(n) = g.pel.get(&id) else { continue };
        if !fresh && min_idle > 0 && now.saturating_sub(n.delivery_time) < min_idle {
            continue;
        }
        let (_, created) = g.consumer_mut(name, now);
        consumer_created |= created;
        g.assign(id, name);
        let n = g.pel.get_mut(&id).expect("present");
        n.delivery_time = dtime;
        match retry {
            Some(r) if r >= 0 => n.delivery_count = r as u64,
            _ if !justid => n.delivery_count += 1,
            _ => {}
        }
        let n = n.clone();
        let glast = g.last_id;
        out.push(if justid {
            id_reply(id)
        } else {
            entry_reply(id, &s.entries[&id])
        });
        props.push(xclaim_prop(key, group, id, &n, glast));
        propagate_last = false;
        dirty += 1;
    }
    if propagate_last {
        props.push(setid_prop(key, group, &s.groups[group]));
        dirty += 1;
    }
    if consumer_created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        ctx.propagate(createconsumer_prop(key, group, name));
        dirty += 1;
    }
    ctx.dirty(dirty);
    for p in props {
        ctx.propagate(p);
    }
    Ok(Reply::Array(out))
}

pub(super) fn xautoclaim(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (key, group, name) = (&a[1], &a[2], &a[3]);
    let min_idle = int_msg(&a[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = range_start(&a[5])?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if is(&a[j], "count") && more > 0 {
            count = int_msg(&a[j + 1], "COUNT must be > 0")?;
            if !(1..=i64::MAX / 16).contains(&count) {
                return Err(Reply::err("COUNT must be > 0"));
            }
            j += 1;
        } else if is(&a[j], "justid") {
            justid = true;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    match ctx.get_stream(key)? {
        Some(s) if s.groups.contains_key(group) => {}
        _ => return Err(nogroup(key, group)),
    }
    ctx.custom_prop = true;
    let now = ctx.now;
    let min_idle = min_idle as u64;
    let s = ctx.get_stream(key)?.expect("checked");
    let g = s.groups.get_mut(group).expect("checked");
    // The consumer is created with the first claim, as in XCLAIM.
    let mut created = false;
    let mut attempts = count * 10;
    let mut out = Vec::new();
    let mut deleted = Vec::new();
    let mut props = Vec::new();
    let mut dirty = 0;
    let candidates: Vec<StreamId> = g.pel.range(start..).map(|(id, _)| *id).collect();
    let mut next = StreamId::ZERO;
    let mut it = candidates.into_iter().peekable();
    while attempts > 0 && count > 0 {
        let Some(id) = it.next() else { break };
        attempts -= 1;
        let g = s.groups.get_mut(group).expect("checked");
        if !s.entries.contains_key(&id) {
            let n = g.pel.get(&id).cloned().expect("listed");
            props.push(xclaim_prop(key, group, id, &n, g.last_id));
            dirty += 1;
            g.remove_nack(id);
            deleted.push(id_reply(id));
            count -= 1;
            continue;
        }
        let n = g.pel.get(&id).expect("listed");
        if min_idle > 0 && now.saturating_sub(n.delivery_time) < min_idle {
            continue;
        }
        let (_, c) = g.consumer_mut(name, now);
        created |= c;
        g.assign(id, name);
        let n = g.pel.get_mut(&id).expect("listed");
        n.delivery_time = now;
        if !justid {
            n.delivery_count += 1;
        }
        let n = n.clone();
        props.push(xclaim_prop(key, group, id, &n, g.last_id));
        out.push(if justid {
            id_reply(id)
        } else {
            entry_reply(id, &s.entries[&id])
        });
        count -= 1;
        dirty += 1;
    }
    if let Some(id) = it.next() {
        next = id;
    }
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        ctx.propagate(createconsumer_prop(key, group, name));
        dirty += 1;
    }
    ctx.dirty(dirty);
    for p in props {
        ctx.propagate(p);
    }
    Ok(Reply::Array(vec![
        id_reply(next),
        Reply::Array(out),
        Reply::Array(deleted),
    ]))
}

// === XINFO ===

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

pub(super) fn xinfo_consumers(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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

pub(super) fn xinfo_groups(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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

pub(super) fn xinfo_stream(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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
                let n = &g.pel[id];
                out.push(vec![
                    b("XCLAIM"),
                    key.clone(),
                    name.clone(),
                    cname.clone(),
                    b("0"),
                    id.to_bytes(),
                    b("TIME"),
                    b(&n.delivery_time.to_string()),
                    b("RETRYCOUNT"),
                    b(&n.delivery_count.to_string()),
                    b("JUSTID"),
                    b("FORCE"),
                ]);
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

pub(super) fn xgroup_help(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
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

pub(super) fn xinfo_help(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
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
