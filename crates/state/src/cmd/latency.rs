//! LATENCY: the latency monitor's events (LATEST, HISTORY, RESET, DOCTOR,
//! kept by [`crate::latency`], off while `latency-monitor-threshold` is 0,
//! Redis 7.0's default) and each command's latency distribution
//! (HISTOGRAM, from the per-command histograms INFO latencystats reads).

use bytes::Bytes;

use super::ctx::{Commands, Ctx, R};
use crate::cmdstats::CommandLatency;
use crate::resp::Reply;

/// `LATENCY LATEST`: each event's latest sample and all-time maximum.
pub(super) fn latest(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Array(
        ctx.s
            .latency
            .events()
            .filter_map(|(name, e)| {
                let (t, ms) = *e.samples.back()?;
                Some(Reply::Array(vec![
                    Reply::bulk(name),
                    Reply::Int(t as i64),
                    Reply::Int(ms as i64),
                    Reply::Int(e.max as i64),
                ]))
            })
            .collect(),
    ))
}

/// `LATENCY HISTORY event`: its samples, oldest first.
pub(super) fn history(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let samples = ctx
        .s
        .latency
        .event(&a[2])
        .map(|e| {
            e.samples
                .iter()
                .map(|&(t, ms)| Reply::Array(vec![Reply::Int(t as i64), Reply::Int(ms as i64)]))
                .collect()
        })
        .unwrap_or_default();
    Ok(Reply::Array(samples))
}

/// `LATENCY RESET [event ...]`: how many events were forgotten.
pub(super) fn reset(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let names: Vec<&[u8]> = a[2..].iter().map(|x| &x[..]).collect();
    Ok(Reply::Int(ctx.s.latency.reset(&names) as i64))
}

/// `LATENCY DOCTOR`: Redis's report. Its two canned answers (monitor off
/// and never on; no spike seen) are Redis's words; with events, one line
/// per event in Redis's format, without Redis's advice on hardware, kernel
/// and persistence settings, which is about a Redis server.
pub(super) fn doctor(ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    let l = &ctx.s.latency;
    let mut report = String::new();
    if l.events().count() == 0 && l.threshold_ms == 0 {
        report.push_str("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n");
    } else if l.events().count() == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else {
        report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        for (n, (name, e)) in l.events().enumerate() {
            let count = e.samples.len() as u64;
            let avg = e.samples.iter().map(|s| s.1).sum::<u64>() / count.max(1);
            let mad = e.samples.iter().map(|s| s.1.abs_diff(avg)).sum::<u64>() / count.max(1);
            let period = match (e.samples.front(), e.samples.back()) {
                (Some(a), Some(b)) if count > 1 => (b.0 - a.0) as f64 / (count - 1) as f64,
                _ => 0.0,
            };
            report.push_str(&format!(
                "{}. {name}: {count} latency spikes (average {avg}ms, mean deviation {mad}ms, period {period:.2} sec). Worst all time event {}ms.\n",
                n + 1,
                e.max
            ));
        }
        report.push_str("\nI have no advice for you, Dave: bigstep state's latency comes from its commands; see SLOWLOG for the slow ones.\n");
    }
    Ok(Reply::Verbatim("txt", Bytes::from(report)))
}

/// One command's `LATENCY HISTOGRAM` entry: its name, then its calls and
/// distribution.
fn entry(c: &CommandLatency) -> (Reply, Reply) {
    let cdf = Reply::Map(vec![
        (Reply::bulk("calls"), Reply::Int(c.calls as i64)),
        (
            Reply::bulk("histogram_usec"),
            Reply::Map(
                c.cdf
                    .iter()
                    .map(|&(us, n)| (Reply::Int(us as i64), Reply::Int(n as i64)))
                    .collect(),
            ),
        ),
    ]);
    (Reply::bulk(c.name), cdf)
}

/// `LATENCY HISTOGRAM [command ...]`: for each named command that ran (a
/// container names its subcommands; unknown names are skipped, as in
/// Redis), or every command that ran, its calls and latency distribution.
pub(super) fn histogram<T: Commands>(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let all = ctx.s.stats.cmd.histograms();
    let named = |name: &str| all.iter().find(|c| c.name == name).map(entry);
    if a.len() == 2 {
        return Ok(Reply::Map(all.iter().map(entry).collect()));
    }
    let mut out = Vec::new();
    for name in &a[2..] {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let spec = T::all()
            .iter()
            .flat_map(|s| std::iter::once(s).chain(s.subs.iter()))
            .find(|s| s.name == name);
        let Some(spec) = spec else { continue };
        out.extend(named(spec.name));
        out.extend(spec.subs.iter().filter_map(|s| named(s.name)));
    }
    Ok(Reply::Map(out))
}

pub(super) fn help(_ctx: &mut Ctx<'_>, _a: &[Bytes]) -> R {
    Ok(Reply::Array(
        [
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ]
        .iter()
        .map(|l| Reply::Status((*l).into()))
        .collect(),
    ))
}

/// `LATENCY GRAPH event`: Redis's error when the event has no samples;
/// the ASCII graph itself is not drawn here (LATENCY HISTORY has the same
/// samples).
pub(super) fn graph(ctx: &mut Ctx<'_>, a: &[Bytes]) -> R {
    let name = String::from_utf8_lossy(&a[2]);
    if ctx.s.latency.event(&a[2]).is_none() {
        return Err(Reply::err(format!(
            "No samples available for event '{name}'"
        )));
    }
    Err(Reply::err(format!(
        "bigstep state does not draw LATENCY GRAPH; LATENCY HISTORY {name} has its samples"
    )))
}
