//! Per-command statistics for `INFO commandstats` and `INFO latencystats`:
//! calls, time, rejected and failed calls, and a latency histogram per
//! command, as Redis 7.0 keeps them. A leaf with no I/O.
//!
//! The histogram is log-linear like the HdrHistogram Redis uses (values
//! below 128 ns exact, then 64 sub-buckets per power of two, so a reported
//! percentile is within 1/64 of the true value); buckets are allocated only
//! up to the largest value seen, so a command that always takes
//! microseconds costs about 2 KiB.

use std::collections::HashMap;
use std::fmt::Write as _;

/// Values below this are counted exactly.
const EXACT: u64 = 128;
/// Sub-buckets per power of two above `EXACT`.
const SUB: u64 = 64;
/// Longest latency kept (Redis's histogram tops out at 1 s as well).
const MAX_NS: u64 = 1_000_000_000;

/// A latency histogram in nanoseconds.
#[derive(Clone, Debug, Default)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

fn index(ns: u64) -> usize {
    let v = ns.clamp(1, MAX_NS);
    if v < EXACT {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros() as u64; // >= 7
    let shift = msb - 6; // keep the top 7 bits: 64..=127
    let sub = (v >> shift) - SUB;
    (EXACT + (msb - 7) * SUB + sub) as usize
}

/// The highest value that falls in bucket `i` (what HdrHistogram reports).
fn highest(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        return i;
    }
    let msb = 7 + (i - EXACT) / SUB;
    let sub = (i - EXACT) % SUB + SUB;
    let shift = msb - 6;
    ((sub + 1) << shift) - 1
}

impl Histogram {
    /// Adds `other`'s observations.
    fn merge(&mut self, other: &Histogram) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Counts one observation of `ns` nanoseconds.
    pub(crate) fn record(&mut self, ns: u64) {
        let i = index(ns);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.total += 1;
    }

    /// The value at percentile `p` (0..=100), in nanoseconds: the smallest
    /// bucket holding at least `p`% of the observations, as its highest value.
    pub(crate) fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let want = ((p.clamp(0.0, 100.0) / 100.0) * self.total as f64).ceil() as u64;
        let want = want.max(1);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= want {
                return highest(i);
            }
        }
        highest(self.counts.len().saturating_sub(1))
    }
}

impl Histogram {
    /// The cumulative distribution as Redis's `LATENCY HISTOGRAM` reports
    /// it (`fillCommandCDF`): at each power of two from 1024 ns, the
    /// count of calls at or below it (as HdrHistogram's highest
    /// equivalent value, in microseconds), levels that add nothing left
    /// out. Our buckets are finer than Redis's at these levels (1/64
    /// against 1/128), so a count may include a call up to 1/64 above.
    pub(crate) fn cdf(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut level: u64 = 1024;
        let mut seen = 0;
        let mut i = 0;
        let mut prev = 0;
        while seen < self.total && level <= MAX_NS * 2 {
            let top = level + level / 128 - 1;
            while i < self.counts.len() && highest(i) <= top {
                seen += self.counts[i];
                i += 1;
            }
            if seen > prev {
                out.push((top / 1000, seen));
                prev = seen;
            }
            level *= 2;
        }
        out
    }
}

/// One command's calls and latency distribution ([`Histogram::cdf`]).
pub(crate) struct CommandLatency {
    pub(crate) name: &'static str,
    pub(crate) calls: u64,
    /// (microseconds, calls at or below), growing.
    pub(crate) cdf: Vec<(u64, u64)>,
}

/// One command's counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct CmdStat {
    /// Times its handler ran (failed ones included, as in Redis).
    pub(crate) calls: u64,
    /// Total time in its handler, nanoseconds.
    pub(crate) ns: u64,
    /// Refused before running (arity, auth, ACL, OOM, context).
    pub(crate) rejected: u64,
    /// Ran and answered an error.
    pub(crate) failed: u64,
    /// Latency of each call.
    pub(crate) hist: Histogram,
}

/// Every command's counters, by full name (`get`, `config|get`).
///
/// Kept by the address of the name (each command's `&'static str` in the
/// table), not by its text: this runs for every command, and hashing an
/// integer is cheaper than hashing and comparing a string. Should two
/// copies of one name ever have two addresses, the report merges them.
#[derive(Clone, Debug, Default)]
pub(crate) struct CmdStats {
    by_addr: HashMap<usize, (&'static str, CmdStat), ahash::RandomState>,
}

impl CmdStats {
    fn entry(&mut self, name: &'static str) -> &mut CmdStat {
        &mut self
            .by_addr
            .entry(name.as_ptr() as usize)
            .or_insert_with(|| (name, CmdStat::default()))
            .1
    }

    /// Counts a call of `name` that took `ns` and failed or not.
    pub(crate) fn call(&mut self, name: &'static str, ns: u64, failed: bool) {
        let s = self.entry(name);
        s.calls += 1;
        s.ns += ns;
        s.failed += failed as u64;
        s.hist.record(ns);
    }

    /// Counts a refused call of `name`.
    pub(crate) fn reject(&mut self, name: &'static str) {
        self.entry(name).rejected += 1;
    }

    /// Commands with something counted, by name.
    fn sorted(&self) -> Vec<(&'static str, CmdStat)> {
        let mut by_name: HashMap<&'static str, CmdStat> = HashMap::new();
        for (name, s) in self.by_addr.values() {
            let m = by_name.entry(name).or_default();
            m.calls += s.calls;
            m.ns += s.ns;
            m.rejected += s.rejected;
            m.failed += s.failed;
            m.hist.merge(&s.hist);
        }
        let mut v: Vec<_> = by_name.into_iter().collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }

    /// Calls and the latency distribution of each command that ran
    /// (`LATENCY HISTOGRAM`), by name.
    pub(crate) fn histograms(&self) -> Vec<CommandLatency> {
        self.sorted()
            .into_iter()
            .filter(|(_, s)| s.calls > 0)
            .map(|(name, s)| CommandLatency {
                name,
                calls: s.calls,
                cdf: s.hist.cdf(),
            })
            .collect()
    }

    /// `INFO commandstats` lines (Redis's format).
    pub(crate) fn write_commandstats(&self, w: &mut String) {
        for (name, s) in self.sorted() {
            let usec = s.ns / 1000;
            let per = if s.calls == 0 {
                0.0
            } else {
                s.ns as f64 / 1000.0 / s.calls as f64
            };
            let _ = write!(
                w,
                "cmdstat_{name}:calls={},usec={usec},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
                s.calls, s.rejected, s.failed
            );
        }
    }

    /// `INFO latencystats` lines for the percentiles `ps` (Redis's format:
    /// `p50=1.003,p99=...`, microseconds with three decimals).
    pub(crate) fn write_latencystats(&self, ps: &[f64], w: &mut String) {
        for (name, s) in &self.sorted() {
            if s.calls == 0 {
                continue;
            }
            let _ = write!(w, "latency_percentiles_usec_{name}:");
            for (i, &p) in ps.iter().enumerate() {
                if i > 0 {
                    w.push(',');
                }
                let _ = write!(
                    w,
                    "p{}={:.3}",
                    percentile_label(p),
                    s.hist.percentile(p) as f64 / 1000.0
                );
            }
            w.push_str("\r\n");
        }
    }
}

/// `50` for 50.0, `99.9` for 99.9 (Redis prints `%f` with trailing zeros cut).
fn percentile_label(p: f64) -> String {
    let s = format!("{p:.6}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

/// Parses `latency-tracking-info-percentiles` ("50 99 99.9"); values that
/// are not numbers in 0..=100 are left out.
pub(crate) fn parse_percentiles(s: &str) -> Vec<f64> {
    s.split_whitespace()
        .filter_map(|p| p.parse::<f64>().ok())
        .filter(|p| (0.0..=100.0).contains(p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cdf_reports_power_of_two_levels_as_redis() {
        let mut h = Histogram::default();
        for ns in [500, 900, 3_000, 3_000, 40_000] {
            h.record(ns);
        }
        // Levels 1024, 4096 and 65536 ns as HdrHistogram's highest
        // equivalent values (1031, 4127, 66047 ns); 2048 adds nothing.
        assert_eq!(h.cdf(), vec![(1, 2), (4, 4), (66, 5)]);
        assert!(Histogram::default().cdf().is_empty());
    }

    #[test]
    fn labels_as_redis() {
        assert_eq!(percentile_label(50.0), "50");
        assert_eq!(percentile_label(99.9), "99.9");
        assert_eq!(percentile_label(99.99), "99.99");
        assert_eq!(parse_percentiles("50 99 99.9"), vec![50.0, 99.0, 99.9]);
        assert_eq!(parse_percentiles("x 101 5"), vec![5.0]);
    }

    #[test]
    fn percentiles_of_a_known_spread() {
        let mut h = Histogram::default();
        for ns in 1..=1000 {
            h.record(ns * 1000);
        }
        let p50 = h.percentile(50.0);
        assert!((500_000..=508_000).contains(&p50), "{p50}");
        let p99 = h.percentile(99.0);
        assert!((990_000..=1_006_000).contains(&p99), "{p99}");
        assert_eq!(Histogram::default().percentile(50.0), 0);
    }

    #[test]
    fn commandstats_format() {
        let mut s = CmdStats::default();
        s.call("get", 3000, false);
        s.call("get", 1000, true);
        s.reject("config|get");
        let mut w = String::new();
        s.write_commandstats(&mut w);
        assert_eq!(
            w,
            "cmdstat_config|get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n\
             cmdstat_get:calls=2,usec=4,usec_per_call=2.00,rejected_calls=0,failed_calls=1\r\n"
        );
        let mut w = String::new();
        s.write_latencystats(&[50.0, 99.9], &mut w);
        assert_eq!(w, "latency_percentiles_usec_get:p50=1.007,p99.9=3.007\r\n");
    }

    proptest! {
        /// Every value lands in a bucket whose range holds it, within 1/64.
        #[test]
        fn buckets_hold_their_values(ns in 1u64..MAX_NS) {
            let i = index(ns);
            let hi = highest(i);
            prop_assert!(hi >= ns);
            prop_assert!(i == 0 || highest(i - 1) < ns);
            prop_assert!((hi - ns) as f64 <= ns as f64 / 64.0);
        }
    }
}
