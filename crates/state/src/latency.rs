//! The latency monitor behind LATENCY LATEST / HISTORY / RESET / DOCTOR,
//! kept by the store as Redis 7.0 keeps it: off while
//! `latency-monitor-threshold` is 0 (the default); above it, each event
//! class keeps its last 160 samples (one per second, the worst of that
//! second) and its all-time maximum. A leaf; the commands are in
//! `cmd/latency.rs`, the samples are taken in `cmd/call.rs`.
//!
//! The one event class recorded here is `command` (a command that took at
//! least the threshold). Redis also has `fast-command` (its O(1) commands)
//! and events for its background work (expire and eviction cycles, fork,
//! AOF fsync), which happen differently or not at all here.

use std::collections::{BTreeMap, VecDeque};

/// Samples kept per event (Redis's LATENCY_TS_LEN).
const SAMPLES: usize = 160;

/// One event class's samples.
#[derive(Default)]
pub(crate) struct Event {
    /// (unix seconds, ms), oldest first.
    pub(crate) samples: VecDeque<(u64, u64)>,
    /// The worst latency ever seen, ms.
    pub(crate) max: u64,
}

/// The monitor.
#[derive(Default)]
pub(crate) struct Latency {
    /// `latency-monitor-threshold`, ms; 0: off.
    pub(crate) threshold_ms: u64,
    events: BTreeMap<&'static str, Event>,
}

impl Latency {
    /// Records `ms` for `event` at `now` (unix seconds) if the monitor is on
    /// and `ms` reaches the threshold.
    #[inline]
    pub(crate) fn sample_if_needed(&mut self, event: &'static str, ms: u64, now: u64) {
        if self.threshold_ms > 0 && ms >= self.threshold_ms {
            self.add(event, ms, now);
        }
    }

    fn add(&mut self, event: &'static str, ms: u64, now: u64) {
        let e = self.events.entry(event).or_default();
        e.max = e.max.max(ms);
        // One sample per second: the worst of that second.
        if let Some(last) = e.samples.back_mut() {
            if last.0 == now {
                last.1 = last.1.max(ms);
                return;
            }
        }
        e.samples.push_back((now, ms));
        if e.samples.len() > SAMPLES {
            e.samples.pop_front();
        }
    }

    /// Every event with samples, by name.
    pub(crate) fn events(&self) -> impl Iterator<Item = (&'static str, &Event)> {
        self.events.iter().map(|(k, v)| (*k, v))
    }

    /// The samples of `name`, if it has any.
    pub(crate) fn event(&self, name: &[u8]) -> Option<&Event> {
        self.events
            .iter()
            .find(|(k, _)| k.as_bytes() == name)
            .map(|(_, v)| v)
    }

    /// Forgets the named events (all of them when `names` is empty); how
    /// many had samples.
    pub(crate) fn reset(&mut self, names: &[&[u8]]) -> usize {
        if names.is_empty() {
            let n = self.events.len();
            self.events.clear();
            return n;
        }
        let mut n = 0;
        for name in names {
            let found = self.events.keys().find(|k| k.as_bytes() == *name).copied();
            if let Some(k) = found {
                self.events.remove(k);
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_at_zero_one_sample_per_second_and_bounded() {
        let mut l = Latency::default();
        l.sample_if_needed("command", 500, 1);
        assert_eq!(l.events().count(), 0, "threshold 0 is off");
        l.threshold_ms = 10;
        l.sample_if_needed("command", 9, 1);
        assert_eq!(l.events().count(), 0, "below the threshold");
        l.sample_if_needed("command", 20, 1);
        l.sample_if_needed("command", 15, 1);
        l.sample_if_needed("command", 12, 2);
        let e = l.event(b"command").unwrap();
        assert_eq!(e.samples, VecDeque::from(vec![(1, 20), (2, 12)]));
        assert_eq!(e.max, 20);
        for t in 3..400 {
            l.sample_if_needed("command", 11, t);
        }
        assert_eq!(l.event(b"command").unwrap().samples.len(), SAMPLES);
        assert_eq!(l.reset(&[b"nosuch", b"command"]), 1);
        assert_eq!(l.reset(&[]), 0);
    }
}
