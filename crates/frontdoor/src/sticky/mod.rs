//! Sticky sessions, two kinds, named honestly:
//!
//! - **strong** (`mode = "cookie"`): our cookie names the server by its stable id,
//!   signed with HMAC-SHA256 under the configured key. A forged or tampered cookie
//!   fails verification and is ignored; a cookie naming a server that is gone is
//!   stale and ignored. Any front door holding the same key and server list
//!   routes the cookie to the same server, with no shared state. Draining servers
//!   keep the users whose cookie names them.
//! - **hashed** (`app-cookie`, `source-ip`, `header`): a key from the request
//!   chooses the server on a consistent-hash ring with bounded loads, so every
//!   front door agrees and parallel requests of one user land together (the
//!   key is on every request, even the first). A draining server keeps the keys
//!   it has seen within the sticky idle window.
//!
//! Either way, when the user's server cannot take the request (down, ejected,
//! removed, in maintenance) the request goes elsewhere, the user is re-stuck
//! there, and `bigstep_sticky_reroutes_total{server}` counts it.

//!
//! All of it lives in this module, behind two hooks:
//!
//! - [`Sticky::choose`]: the user's own server when it can take the request,
//!   or "any server" (the configured algorithm picks) and whom the user left.
//!   [`Snapshot::choose`](crate::snapshot::Snapshot::choose) asks it first.
//! - [`Sticky::on_response`]: once a server answered, count the hit or the
//!   re-route, note the user as live there, hand back the cookie that (re-)sticks
//!   them, and report an app session the server replaced ([`session`]).
//!
//! The request's identity ([`User`]) is read once, before the first attempt.
//! What the rules need to know about servers comes in through [`Servers`], and
//! each server keeps its own [`ServerSticky`] (so it survives reloads): this
//! module knows nothing of how servers are stored or checked.

mod rules;
mod session;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use balance::HashRing;
use http::header::{HeaderMap, HeaderValue};

use crate::clock::now_ms;
use crate::config::{Config, StickyMode};
use crate::stats::Counter;

use rules::Rules;

/// The sticky rules of one routing snapshot (and the session-loss detector,
/// which runs with or without stickiness).
pub(crate) struct Sticky {
    /// `None` when stickiness is off.
    rules: Option<Rules>,
    /// The ring for hashed stickiness.
    ring: Option<HashRing>,
    /// Cookie names the session-loss detector watches.
    session_cookies: Vec<String>,
    /// The app's session cookie (`sticky.app_cookie`), watched too.
    app_cookie: Option<String>,
}

/// What the request told us about its user.
#[derive(Debug, Default)]
pub(crate) struct User {
    /// Our cookie, verified: (server id, user id).
    cookie: Option<(String, u64)>,
    /// Hashed modes: the key's hash (also the user's identity for drain tracking).
    key_hash: Option<u64>,
}

/// Where a request goes, and how stickiness played into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice {
    pub(crate) idx: usize,
    /// The user's own server took the request.
    pub(crate) sticky_hit: bool,
    /// The user's own server could not take it (down, maintenance, …).
    pub(crate) rerouted_from: Option<usize>,
}

/// The answer of [`Sticky::choose`].
pub(crate) enum Route {
    /// Stickiness decided: this server, or none (no eligible server on the ring).
    Decided(Option<Choice>),
    /// Any server taking new users may have it; the user's own server, if they
    /// had one, could not.
    Open { rerouted_from: Option<usize> },
}

/// What [`Sticky::on_response`] asks of the proxy.
#[derive(Debug, Default)]
pub(crate) struct Look {
    /// Add this `Set-Cookie` to the response: it (re-)sticks the user.
    pub(crate) set_cookie: Option<HeaderValue>,
    /// The server replaced the user's app session; where (for the report).
    pub(crate) session_lost_at: Option<String>,
}

/// What the sticky rules need to know about the servers of one snapshot, by index.
pub(crate) trait Servers {
    fn index_of(&self, id: &str) -> Option<usize>;
    fn id(&self, i: usize) -> &str;
    fn weight(&self, i: usize) -> u32;
    /// Keeps its sticky users but takes no new ones.
    fn is_draining(&self, i: usize) -> bool;
    fn sticky_state(&self, i: usize) -> &ServerSticky;
    /// Bounded-loads lookup on `ring` among the servers `eligible` admits.
    fn bounded(
        &self,
        ring: &HashRing,
        hash: u64,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize>;
}

impl Sticky {
    /// Compile the sticky settings of `config`; `members` are the snapshot's
    /// servers (id, weight) in index order, for the hashed modes' ring.
    pub(crate) fn new(config: &Config, members: &[(&str, u32)]) -> Self {
        let rules = config.sticky.as_ref().map(Rules::new);
        let ring = match &rules {
            Some(r) if r.mode != StickyMode::Cookie => Some(HashRing::new(members)),
            _ => None,
        };
        Self {
            rules,
            ring,
            session_cookies: config.session_cookies.clone(),
            app_cookie: config.sticky.as_ref().and_then(|s| s.app_cookie.clone()),
        }
    }

    /// Read the request's sticky identity (once per request).
    pub(crate) fn user(&self, headers: &HeaderMap, client_ip: IpAddr) -> User {
        self.rules
            .as_ref()
            .map(|r| r.user(headers, client_ip))
            .unwrap_or_default()
    }

    /// Hook one: where `user`'s request goes. `usable` says whether a server can
    /// take a request at all (healthy, not ejected, not in maintenance, not
    /// already tried); `exclude` lists the servers already tried.
    pub(crate) fn choose(
        &self,
        user: &User,
        servers: &impl Servers,
        usable: &dyn Fn(usize) -> bool,
        exclude: &[usize],
        now: u64,
    ) -> Route {
        let Some(rules) = &self.rules else {
            return Route::Open {
                rerouted_from: None,
            };
        };
        let mut rerouted_from = None;
        if let Some((id, _)) = &user.cookie {
            match servers.index_of(id) {
                Some(i) if usable(i) => {
                    return Route::Decided(Some(Choice {
                        idx: i,
                        sticky_hit: true,
                        rerouted_from: None,
                    }))
                }
                Some(i) => rerouted_from = Some(i),
                None => {}
            }
        }
        if let (Some(ring), Some(hash)) = (&self.ring, user.key_hash) {
            // A draining server keeps only the keys it has seen lately.
            let eligible = |i: usize| {
                usable(i)
                    && (!servers.is_draining(i)
                        || servers.sticky_state(i).has_user(hash, now, rules.idle_ms))
            };
            let home = ring.lookup(hash, |i| servers.weight(i) > 0);
            let Some(idx) = servers.bounded(ring, hash, &eligible) else {
                return Route::Decided(None);
            };
            let home_down = home.is_some_and(|h| h != idx && !usable(h) && !exclude.contains(&h));
            return Route::Decided(Some(Choice {
                idx,
                sticky_hit: Some(idx) == home,
                rerouted_from: if home_down { home } else { None },
            }));
        }
        Route::Open { rerouted_from }
    }

    /// Hook two: server `answered.idx` answered `user`'s request with `response`.
    /// Counts the hit or the re-route, notes the user as live there and says
    /// which cookie (re-)sticks them; watches for a replaced app session.
    /// `request_cookie` is the request's Cookie header; `request_path` its path
    /// when the proxy kept it.
    pub(crate) fn on_response(
        &self,
        user: &User,
        servers: &impl Servers,
        answered: Choice,
        request_cookie: Option<&HeaderValue>,
        request_path: Option<&str>,
        response: &HeaderMap,
    ) -> Look {
        let idx = answered.idx;
        let state = servers.sticky_state(idx);
        let mut look = Look::default();
        if request_cookie.is_some() && response.contains_key(http::header::SET_COOKIE) {
            let replaced =
                session::replaced_session_cookie(request_cookie, response, &self.session_cookies)
                    .or_else(|| {
                        session::replaced_session_cookie(
                            request_cookie,
                            response,
                            self.app_cookie.as_slice(),
                        )
                    });
            if let Some(name) = replaced {
                state.session_losses.inc();
                look.session_lost_at =
                    Some(session::loss_path(request_path, response).unwrap_or_default());
                tracing::warn!(
                    target: "bigstep::session",
                    server = %servers.id(idx),
                    cookie = name,
                    "the app replaced the session cookie the user sent: the session was lost on this server"
                );
            }
        }
        let Some(rules) = &self.rules else {
            return look;
        };
        let now = now_ms();
        if answered.sticky_hit {
            state.hits.inc();
        }
        if let Some(from) = answered.rerouted_from.filter(|&f| f != idx) {
            servers.sticky_state(from).reroutes_out.inc();
            tracing::info!(target: "bigstep::sticky", from = %servers.id(from), to = %servers.id(idx), "sticky user re-routed and re-stuck");
        }
        let user = match (&user.cookie, user.key_hash) {
            (Some((id, user)), _) if id == servers.id(idx) => {
                state.touch_user(*user, now);
                return look;
            }
            (Some((_, user)), _) => *user,
            (None, Some(hash)) => {
                state.touch_user(hash, now);
                return look;
            }
            (None, None) => rules.new_user(),
        };
        state.touch_user(user, now);
        look.set_cookie = rules.set_cookie(servers.id(idx), user);
        look
    }
}

// === impl ServerSticky ===

/// One server's sticky state. It lives on the server, so it survives reloads.
#[derive(Default)]
pub(crate) struct ServerSticky {
    /// Sticky users seen recently: user key hash -> last seen (`now_ms`).
    users: Mutex<HashMap<u64, u64>>,
    /// Requests routed to their sticky server.
    pub(crate) hits: Counter,
    /// Sticky requests that had to leave this server (it was down, gone, in maintenance).
    pub(crate) reroutes_out: Counter,
    /// Responses that replaced the session cookie the request carried.
    pub(crate) session_losses: Counter,
}

impl ServerSticky {
    /// Note a sticky user (by key hash) as seen now.
    fn touch_user(&self, user: u64, now: u64) {
        let mut users = self.users.lock().expect("sticky users lock");
        users.insert(user, now);
    }

    /// Was `user` seen here within `window_ms`?
    fn has_user(&self, user: u64, now: u64, window_ms: u64) -> bool {
        let users = self.users.lock().expect("sticky users lock");
        users
            .get(&user)
            .is_some_and(|seen| now.saturating_sub(*seen) <= window_ms)
    }

    /// Sticky users seen within `window_ms`; forgets older ones.
    pub(crate) fn live_users(&self, now: u64, window_ms: u64) -> usize {
        let mut users = self.users.lock().expect("sticky users lock");
        users.retain(|_, seen| now.saturating_sub(*seen) <= window_ms);
        users.len()
    }
}
