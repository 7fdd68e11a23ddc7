//! Consumer groups: XGROUP, XSETID, XACK, XPENDING, XCLAIM, XAUTOCLAIM.

use bytes::Bytes;

use super::common::{
    createconsumer_prop, entry_reply, id_reply, invalid_id, nogroup, nogroup_for_key, range_end,
    range_start, setid_prop, strict_id, subcommand_syntax, xclaim_prop,
};
use crate::cmd::args::{int, is, syntax};
use crate::cmd::ctx::{Ctx, R};
use crate::resp::Reply;
use crate::store::notify;
use crate::stream::{parse_id, Group, Nack, StreamId, ENTRIES_READ_INVALID};

pub(crate) fn xgroup_create(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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
    let s = ctx.stream_or_new(&a[2])?;
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

pub(crate) fn xgroup_setid(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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

pub(crate) fn xgroup_destroy(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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

pub(crate) fn xgroup_createconsumer(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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

pub(crate) fn xgroup_delconsumer(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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

pub(crate) fn xsetid(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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

pub(crate) fn xack(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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

pub(crate) fn xpending(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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

pub(crate) fn xclaim(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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

pub(crate) fn xautoclaim(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
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
