//! The demo web app that `bigstep up` runs by default.
//!
//! It is deliberately tiny: every page says which instance served it, so a person
//! refreshing a browser (or a test sending 30 requests) can see the front door
//! spreading requests over instances, and notice when one is restarted.
//!
//! - `/`            an HTML page: instance, pid, port, hit counter, forwarding headers
//! - `/healthz`     `200 ok` (what the front door's health checks ask)
//! - `/api/whoami`  `{"instance":…,"pid":…,"port":…,"hits":…}`
//! - `/slow?ms=N`   answers after N milliseconds (at most 10 s)
//! - `/events`      server-sent events, one a second, 60 at most

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// `/slow` never sleeps longer than this, so a typo cannot tie up a connection for hours.
pub const MAX_SLOW: Duration = Duration::from_secs(10);

/// `/events` stops after this many events: a forgotten browser tab must not hold a
/// connection (and so a graceful shutdown) open for ever.
pub const MAX_EVENTS: u32 = 60;

/// What one instance knows about itself.
struct App {
    instance: String,
    pid: u32,
    port: u16,
    hits: AtomicU64,
    /// Flips to `true` when shutdown starts; long responses (`/events`) end early.
    stopping: watch::Receiver<bool>,
}

/// The JSON body of `/api/whoami`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WhoAmI {
    /// The instance name (`app-1`).
    pub instance: String,
    /// The process id serving the request.
    pub pid: u32,
    /// The port the instance listens on.
    pub port: u16,
    /// Requests to `/` and `/api/whoami` this instance has answered, this one included.
    pub hits: u64,
}

/// Serve the demo app on `listener` until `shutdown` resolves, then finish in-flight
/// requests (streams of server-sent events are ended) and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    instance: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = Arc::new(App {
        instance,
        pid: std::process::id(),
        port,
        hits: AtomicU64::new(0),
        stopping: stop_rx.clone(),
    });
    let router = router(app);
    // One task owns the caller's shutdown future; both the HTTP server and the
    // streaming handlers watch the flag it sets.
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut stopped = stop_rx;
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .await
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/whoami", get(whoami))
        .route("/slow", get(slow))
        .route("/events", get(events))
        .with_state(app)
}

impl App {
    fn whoami(&self) -> WhoAmI {
        WhoAmI {
            instance: self.instance.clone(),
            pid: self.pid,
            port: self.port,
            hits: self.hits.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }
}

async fn whoami(State(app): State<Arc<App>>) -> Json<WhoAmI> {
    Json(app.whoami())
}

async fn index(State(app): State<Arc<App>>, headers: HeaderMap) -> impl IntoResponse {
    let me = app.whoami();
    let header_value = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_else(|| "(none)".into())
    };
    let page = render(
        PAGE,
        &[
            ("instance", escape(&me.instance)),
            ("pid", me.pid.to_string()),
            ("port", me.port.to_string()),
            ("hits", me.hits.to_string()),
            ("xff", escape(&header_value("x-forwarded-for"))),
            ("rid", escape(&header_value("x-request-id"))),
        ],
    );
    // Never cached: each refresh must reach the front door to show the spread.
    ([(header::CACHE_CONTROL, "no-store")], Html(page))
}

#[derive(Deserialize)]
struct SlowParams {
    ms: Option<u64>,
}

/// How long `/slow?ms=N` sleeps: N milliseconds, at most [`MAX_SLOW`].
pub fn slow_duration(ms: Option<u64>) -> Duration {
    Duration::from_millis(ms.unwrap_or(1000)).min(MAX_SLOW)
}

async fn slow(State(app): State<Arc<App>>, Query(p): Query<SlowParams>) -> String {
    let d = slow_duration(p.ms);
    tokio::time::sleep(d).await;
    format!("{} slept {} ms\n", app.instance, d.as_millis())
}

async fn events(State(app): State<Arc<App>>) -> impl IntoResponse {
    let stream = futures_util::stream::unfold((app, 0u32), |(app, n)| async move {
        if n >= MAX_EVENTS {
            return None;
        }
        let mut stopping = app.stopping.clone();
        if n > 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopping.wait_for(|s| *s) => return None,
            }
        } else if *stopping.borrow() {
            return None;
        }
        let event = Event::default()
            .event("tick")
            .id((n + 1).to_string())
            .data(format!("{} tick {}", app.instance, n + 1));
        Some((Ok::<_, std::convert::Infallible>(event), (app, n + 1)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Fill `{name}` placeholders in one pass, so a value that happens to contain
/// `{pid}` (header values come from clients) is never expanded itself.
fn render(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let hit = after.find('}').and_then(|close| {
            let key = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (v, close))
        });
        match hit {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Minimal HTML escaping for text placed in the page (header values come from clients).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bigstep demo · {instance}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  main { max-width: 40rem; margin: 4rem auto; padding: 2rem; background: #fff;
         border-radius: 12px; box-shadow: 0 2px 12px rgba(0,0,0,.08); }
  h1 { margin: 0 0 .25rem; font-size: 1.6rem; }
  .instance { color: #2b6cb0; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1.2rem; }
  dt { color: #5a6478; } dd { margin: 0; font-family: ui-monospace, monospace; }
  p.hint { color: #5a6478; border-top: 1px solid #e5e8ee; padding-top: 1rem; }
</style>
</head>
<body>
<main>
  <h1>Served by <span class="instance" id="instance">{instance}</span></h1>
  <dl>
    <dt>instance</dt><dd>{instance}</dd>
    <dt>pid</dt><dd>{pid}</dd>
    <dt>port</dt><dd>{port}</dd>
    <dt>hits on this instance</dt><dd>{hits}</dd>
    <dt>X-Forwarded-For</dt><dd>{xff}</dd>
    <dt>X-Request-Id</dt><dd>{rid}</dd>
  </dl>
  <p class="hint">Refresh: the front door spreads requests over instances, so the name above
  changes. Stop one instance and the others keep serving; <code>bigstep up</code> restarts it.
  Try <a href="/api/whoami">/api/whoami</a>, <a href="/events">/events</a> or
  <a href="/slow?ms=500">/slow?ms=500</a>.</p>
</main>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_is_capped() {
        assert_eq!(slow_duration(Some(20)), Duration::from_millis(20));
        assert_eq!(slow_duration(Some(u64::MAX)), MAX_SLOW);
        assert_eq!(slow_duration(None), Duration::from_secs(1));
    }

    #[test]
    fn render_is_single_pass() {
        let out = render(
            "a {x} b {y} {unknown} c { d",
            &[("x", "{y}".into()), ("y", "2".into())],
        );
        assert_eq!(out, "a {y} b 2 {unknown} c { d");
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
