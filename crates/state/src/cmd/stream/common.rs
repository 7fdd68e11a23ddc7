//! What the stream commands share: ID arguments, entry replies, the
//! errors they word alike, and the log records a group change is written as.

use bytes::Bytes;

use crate::resp::Reply;
use crate::stream::{parse_id, Group, Nack, Stream, StreamId};

pub(super) fn invalid_id() -> Reply {
    Reply::err("Invalid stream ID specified as stream command argument")
}

/// A strict id (`-`/`+` refused, `ms` alone means `ms-0`).
pub(super) fn strict_id(b: &[u8]) -> Result<StreamId, Reply> {
    parse_id(b, 0, true, false)
        .map(|x| x.0)
        .ok_or_else(invalid_id)
}

/// A range bound: `(` for exclusive, `-`/`+`, `ms` alone gets `missing_seq`.
pub(super) fn interval(b: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if b.len() > 1 && b[0] == b'(' {
        let id = parse_id(&b[1..], missing_seq, true, false).ok_or_else(invalid_id)?;
        Ok((id.0, true))
    } else {
        let id = parse_id(b, missing_seq, false, false).ok_or_else(invalid_id)?;
        Ok((id.0, false))
    }
}

pub(super) fn range_start(b: &[u8]) -> Result<StreamId, Reply> {
    let (id, ex) = interval(b, 0)?;
    if ex {
        id.incr()
            .ok_or_else(|| Reply::err("invalid start ID for the interval"))
    } else {
        Ok(id)
    }
}

pub(super) fn range_end(b: &[u8]) -> Result<StreamId, Reply> {
    let (id, ex) = interval(b, u64::MAX)?;
    if ex {
        id.decr()
            .ok_or_else(|| Reply::err("invalid end ID for the interval"))
    } else {
        Ok(id)
    }
}

pub(super) fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

pub(super) fn entry_reply(id: StreamId, fields: &[(Bytes, Bytes)]) -> Reply {
    let mut f = Vec::with_capacity(fields.len() * 2);
    for (k, v) in fields {
        f.push(Reply::Bulk(k.clone()));
        f.push(Reply::Bulk(v.clone()));
    }
    Reply::Array(vec![id_reply(id), Reply::Array(f)])
}

/// Entries in `[start, end]`, newest first if `rev`; `count` 0 = all.
pub(super) fn range(
    s: &Stream,
    start: StreamId,
    end: StreamId,
    rev: bool,
    count: usize,
) -> Vec<Reply> {
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

pub(super) fn nogroup(key: &[u8], group: &[u8]) -> Reply {
    Reply::Error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

pub(super) fn nogroup_for_key(key: &[u8], group: &[u8]) -> Reply {
    Reply::Error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

pub(super) fn subcommand_syntax(a: &[Bytes]) -> Reply {
    Reply::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&a[1]),
        String::from_utf8_lossy(&a[0]).to_ascii_uppercase()
    ))
}

pub(super) fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Log record of a consumer created on the side (XREADGROUP, XCLAIM,
/// XAUTOCLAIM): replay must recreate it even if nothing was delivered.
pub(super) fn createconsumer_prop(key: &Bytes, group: &Bytes, name: &Bytes) -> Vec<Bytes> {
    vec![
        b("XGROUP"),
        b("CREATECONSUMER"),
        key.clone(),
        group.clone(),
        name.clone(),
    ]
}

pub(super) fn xclaim_prop(
    key: &Bytes,
    group: &Bytes,
    id: StreamId,
    n: &Nack,
    last: StreamId,
) -> Vec<Bytes> {
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

pub(super) fn setid_prop(key: &Bytes, group: &Bytes, g: &Group) -> Vec<Bytes> {
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
