//! CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO, with Redis 7.0's
//! checks and errors. The bookkeeping and the messages are `crate::tracking`.

use bytes::Bytes;

use super::args::{int, is, syntax};
use super::ctx::{Ctx, R};
use crate::resp::Reply;
use crate::tracking::{Target, Tracker};

/// CLIENT TRACKING on|off [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]
pub(super) fn client_tracking(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let (mut redirect, mut bcast, mut optin, mut optout, mut noloop) =
        (0u64, false, false, false, false);
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        if is(&a[j], "redirect") && more {
            j += 1;
            if redirect != 0 {
                return Err(Reply::err(
                    "A client can only redirect to a single other client",
                ));
            }
            let id = int(&a[j])?;
            if id <= 0 || !ctx.s.clients.contains_key(&(id as u64)) {
                return Err(Reply::err(
                    "The client ID you want redirect to does not exist",
                ));
            }
            redirect = id as u64;
        } else if is(&a[j], "bcast") {
            bcast = true;
        } else if is(&a[j], "optin") {
            optin = true;
        } else if is(&a[j], "optout") {
            optout = true;
        } else if is(&a[j], "noloop") {
            noloop = true;
        } else if is(&a[j], "prefix") && more {
            j += 1;
            prefixes.push(a[j].clone());
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let id = ctx.c.id;
    if is(&a[2], "off") {
        ctx.s.tracking.disable(id);
        return Ok(Reply::Ok);
    }
    if !is(&a[2], "on") {
        return Err(syntax());
    }
    if !bcast && !prefixes.is_empty() {
        return Err(Reply::err(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    let old = ctx.s.tracking.get(id);
    if let Some(old) = old {
        if old.bcast != bcast {
            return Err(Reply::err("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if bcast && (optin || optout) {
        return Err(Reply::err("OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if optin && optout {
        return Err(Reply::err(
            "You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if let Some(old) = old {
        if (optin && old.optout) || (optout && old.optin) {
            return Err(Reply::err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    // Redis's checkPrefixCollisionsOrReply: against the client's own
    // prefixes, then among the new ones.
    let existing: Vec<Bytes> = old.map(|o| o.prefixes.clone()).unwrap_or_default();
    let caching = old.is_some_and(|o| o.caching);
    let overlap = |p: &[u8], q: &[u8]| p.starts_with(q) || q.starts_with(p);
    for (i, p) in prefixes.iter().enumerate() {
        if let Some(q) = existing.iter().find(|q| overlap(p, q)) {
            return Err(Reply::err(format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(q)
            )));
        }
        if let Some(q) = prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(Reply::err(format!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(q)
            )));
        }
    }
    let own = Target {
        tx: ctx.c.shared.tx.clone(),
        proto: ctx.c.proto,
    };
    let target = if redirect != 0 {
        let e = &ctx.s.clients[&redirect];
        Target {
            tx: e.shared.tx.clone(),
            proto: e.resp,
        }
    } else {
        own.clone()
    };
    // As Redis's enableTracking: the mode flags are set anew, the prefixes
    // add up until tracking is turned off; BCAST without a prefix is the
    // empty prefix (every key).
    let mut t = Tracker::new(target, own, redirect);
    t.bcast = bcast;
    t.optin = optin;
    t.optout = optout;
    t.noloop = noloop;
    t.caching = caching;
    t.prefixes = existing;
    if bcast && prefixes.is_empty() {
        prefixes.push(Bytes::new());
    }
    for p in prefixes {
        if !t.prefixes.contains(&p) {
            t.prefixes.push(p);
        }
    }
    t.prefixes.sort();
    ctx.s.tracking.enable(id, t);
    Ok(Reply::Ok)
}

/// CLIENT CACHING yes|no
pub(super) fn client_caching(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let Some(t) = ctx.s.tracking.get_mut(ctx.c.id) else {
        return Err(Reply::err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    if is(&a[2], "yes") {
        if !t.optin {
            return Err(Reply::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(&a[2], "no") {
        if !t.optout {
            return Err(Reply::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(syntax());
    }
    t.caching = true;
    Ok(Reply::Ok)
}

/// CLIENT GETREDIR: the redirect id, 0 without one, -1 when not tracking.
pub(super) fn client_getredir(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Int(
        ctx.s
            .tracking
            .get(ctx.c.id)
            .map_or(-1, |t| t.redirect as i64),
    ))
}

/// CLIENT TRACKINGINFO
pub(super) fn client_trackinginfo(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    let t = ctx.s.tracking.get(ctx.c.id);
    let mut flags = Vec::new();
    let (redirect, prefixes) = match t {
        None => {
            flags.push("off");
            (-1, Vec::new())
        }
        Some(t) => {
            flags.push("on");
            if t.bcast {
                flags.push("bcast");
            }
            if t.optin {
                flags.push("optin");
                if t.caching {
                    flags.push("caching-yes");
                }
            }
            if t.optout {
                flags.push("optout");
                if t.caching {
                    flags.push("caching-no");
                }
            }
            if t.noloop {
                flags.push("noloop");
            }
            if t.broken_redirect() {
                flags.push("broken_redirect");
            }
            (
                t.redirect as i64,
                t.prefixes.iter().cloned().map(Reply::Bulk).collect(),
            )
        }
    };
    Ok(Reply::Map(vec![
        (
            Reply::bulk("flags"),
            Reply::Set(flags.into_iter().map(Reply::bulk).collect()),
        ),
        (Reply::bulk("redirect"), Reply::Int(redirect)),
        (Reply::bulk("prefixes"), Reply::Array(prefixes)),
    ]))
}
