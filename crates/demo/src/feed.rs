//! The live feed: what happens anywhere on the site — logins, uploads, visits,
//! instances starting and stopping — as one ordered stream every open `/events`
//! page sees, whichever instance serves it.
//!
//! This is inter-process communication over the network, the way a site with
//! several servers does it: an instance that does something runs one Lua script
//! on the shared state server that numbers the event (`INCR`), keeps it in a
//! short history (`LPUSH`/`LTRIM`) and `PUBLISH`es it — atomically, so numbers
//! and publish order agree across instances. Every instance keeps one
//! `SUBSCRIBE` connection and hands what arrives to its open streams through a
//! broadcast channel. A stream that misses numbers (it lagged, the subscriber
//! reconnected, the browser reconnected with `Last-Event-ID`) fills the gap from
//! the history, so a person sees every event once and in order.
//!
//! Without shared state the feed still works, inside one instance: the page
//! then says that it sees only what happened on the instance serving it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::shared::SharedState;

/// The pub/sub channel events are published on.
pub const CHANNEL: &str = "demo:feed";
/// The counter that numbers events.
pub const SEQ_KEY: &str = "demo:feed:seq";
/// The latest events, newest first, as `ID JSON`.
pub const HISTORY_KEY: &str = "demo:feed:recent";
/// How many events the history keeps.
pub const HISTORY_LEN: usize = 100;
/// How many past events a new stream (without `Last-Event-ID`) starts with.
pub const ON_OPEN: usize = 20;

/// Numbers, keeps and publishes one event in one step (see the module doc).
const PUBLISH_LUA: &str = r"
local id = redis.call('INCR', KEYS[1])
local msg = id .. ' ' .. ARGV[1]
redis.call('LPUSH', KEYS[2], msg)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
redis.call('PUBLISH', ARGV[2], msg)
return id
";

/// One thing that happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FeedEvent {
    /// `visit`, `login`, `logout`, `upload`, `instance`, `lock`.
    pub kind: String,
    /// The instance it happened on.
    pub instance: String,
    /// One line for a person.
    pub text: String,
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// A link, if the event has one (an uploaded file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

impl FeedEvent {
    /// An event of `kind` on `instance`, now.
    pub fn new(kind: &str, instance: &str, text: String) -> Self {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        Self {
            kind: kind.into(),
            instance: instance.into(),
            text,
            at_ms,
            href: None,
        }
    }
}

/// An event with its number: the wire format is `ID JSON` (in the history and
/// on the channel), and the number is the SSE event id.
#[derive(Debug, Clone)]
pub(crate) struct Numbered {
    pub(crate) id: u64,
    pub(crate) json: String,
}

impl Numbered {
    fn decode(s: &str) -> Option<Self> {
        let (id, json) = s.split_once(' ')?;
        Some(Self {
            id: id.parse().ok()?,
            json: json.to_string(),
        })
    }
}

/// One instance's end of the feed.
pub(crate) struct Feed {
    live: broadcast::Sender<Numbered>,
    /// Without shared state: this instance's own numbering.
    local_seq: AtomicU64,
    /// Without shared state: this instance's own history, newest first.
    local_history: std::sync::Mutex<std::collections::VecDeque<Numbered>>,
    /// True while the subscriber is subscribed (for the page; streams work either way).
    subscribed: watch::Sender<bool>,
}

impl Feed {
    pub(crate) fn new() -> Self {
        Self {
            live: broadcast::channel(256).0,
            local_seq: AtomicU64::new(0),
            local_history: std::sync::Mutex::new(std::collections::VecDeque::new()),
            subscribed: watch::channel(false).0,
        }
    }

    /// Live events from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Numbered> {
        self.live.subscribe()
    }

    /// Becomes true once this instance's subscriber listens on the channel.
    pub(crate) fn subscribed(&self) -> watch::Receiver<bool> {
        self.subscribed.subscribe()
    }

    /// Publish `event` to every instance (or, without shared state, to this one).
    pub(crate) async fn publish(
        &self,
        state: Result<&SharedState, &String>,
        event: &FeedEvent,
    ) -> Result<u64, String> {
        let json = serde_json::to_string(event).map_err(|e| e.to_string())?;
        match state {
            Ok(state) => {
                // Plain EVAL: the script is small, and it needs no script cache.
                state
                    .cmd::<u64>(
                        redis::cmd("EVAL")
                            .arg(PUBLISH_LUA)
                            .arg(2)
                            .arg(SEQ_KEY)
                            .arg(HISTORY_KEY)
                            .arg(&json)
                            .arg(CHANNEL)
                            .arg(HISTORY_LEN),
                    )
                    .await
            }
            Err(_) => {
                let id = self.local_seq.fetch_add(1, Ordering::Relaxed) + 1;
                let n = Numbered { id, json };
                {
                    let mut h = crate::lock(&self.local_history);
                    h.push_front(n.clone());
                    h.truncate(HISTORY_LEN);
                }
                let _ = self.live.send(n);
                Ok(id)
            }
        }
    }

    /// The history, oldest first.
    pub(crate) async fn history(
        &self,
        state: Result<&SharedState, &String>,
    ) -> Result<Vec<Numbered>, String> {
        let mut list: Vec<Numbered> = match state {
            Ok(state) => {
                let lines: Vec<String> = state
                    .cmd(
                        redis::cmd("LRANGE")
                            .arg(HISTORY_KEY)
                            .arg(0)
                            .arg(HISTORY_LEN as i64 - 1),
                    )
                    .await?;
                lines.iter().filter_map(|l| Numbered::decode(l)).collect()
            }
            Err(_) => crate::lock(&self.local_history).iter().cloned().collect(),
        };
        list.reverse();
        Ok(list)
    }

    /// Listen on the channel until `stopping`, reconnecting (with backoff) after
    /// any error, and hand every message to the open streams.
    pub(crate) async fn run_subscriber(
        &self,
        state: &SharedState,
        mut stopping: watch::Receiver<bool>,
        instance: &str,
    ) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let connected = async {
                let mut ps =
                    tokio::time::timeout(crate::shared::TIMEOUT, state.client().get_async_pubsub())
                        .await
                        .map_err(|_| "timed out".to_string())?
                        .map_err(|e| e.to_string())?;
                ps.subscribe(CHANNEL).await.map_err(|e| e.to_string())?;
                Ok::<_, String>(ps)
            };
            let ps = tokio::select! {
                r = connected => r,
                _ = stopping.wait_for(|s| *s) => return,
            };
            match ps {
                Ok(ps) => {
                    backoff = Duration::from_millis(100);
                    self.subscribed.send_replace(true);
                    let mut messages = ps.into_on_message();
                    loop {
                        tokio::select! {
                            m = messages.next() => match m {
                                Some(m) => {
                                    let text: String = m.get_payload().unwrap_or_default();
                                    if let Some(n) = Numbered::decode(&text) {
                                        let _ = self.live.send(n);
                                    }
                                }
                                None => break,
                            },
                            _ = stopping.wait_for(|s| *s) => return,
                        }
                    }
                    self.subscribed.send_replace(false);
                    eprintln!("{instance}: feed subscriber lost its connection; reconnecting");
                }
                Err(e) => eprintln!("{instance}: feed subscriber cannot subscribe: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

/// What a stream sends next, given the last id it sent: the events of `history`
/// (oldest first) after `last`, and the new `last`. Pure, so the ordering rule
/// is tested without a server.
pub(crate) fn after(history: &[Numbered], last: u64) -> (Vec<Numbered>, u64) {
    let out: Vec<Numbered> = history.iter().filter(|n| n.id > last).cloned().collect();
    let last = out.last().map_or(last, |n| n.id);
    (out, last)
}

/// Where a new stream starts: after the browser's `Last-Event-ID`, or with the
/// last [`ON_OPEN`] events of the history.
pub(crate) fn start_after(history: &[Numbered], last_event_id: Option<u64>) -> u64 {
    match last_event_id {
        Some(id) => id,
        None => history
            .len()
            .checked_sub(ON_OPEN + 1)
            .map_or(0, |i| history[i].id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(ids: &[u64]) -> Vec<Numbered> {
        ids.iter()
            .map(|&id| Numbered {
                id,
                json: id.to_string(),
            })
            .collect()
    }

    #[test]
    fn wire_format_round_trips() {
        let n = Numbered::decode("42 {\"kind\":\"login\"}").unwrap();
        assert_eq!((n.id, n.json.as_str()), (42, "{\"kind\":\"login\"}"));
        assert!(Numbered::decode("x {}").is_none());
        assert!(Numbered::decode("nospace").is_none());
    }

    #[test]
    fn gaps_are_filled_once_and_in_order() {
        let (out, last) = after(&h(&[3, 4, 5, 6]), 4);
        assert_eq!(out.iter().map(|n| n.id).collect::<Vec<_>>(), vec![5, 6]);
        assert_eq!(last, 6);
        let (out, last) = after(&h(&[3, 4]), 9);
        assert!(out.is_empty());
        assert_eq!(last, 9);
    }

    #[test]
    fn a_new_stream_starts_with_the_recent_past() {
        let many: Vec<u64> = (1..=50).collect();
        assert_eq!(start_after(&h(&many), None), 30);
        assert_eq!(start_after(&h(&[7, 8]), None), 0);
        assert_eq!(start_after(&h(&many), Some(45)), 45);
    }

    #[test]
    fn events_serialise_without_empty_links() {
        let e = FeedEvent::new("login", "app-1", "Ada logged in".into());
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("href"), "{json}");
        let back: FeedEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
