//! Shared state: a Redis-protocol server (`bigstep state`, Redis, Valkey) named by
//! `REDIS_URL` (or `BIGSTEP_STATE_URL`), spoken to with the `redis` crate — a
//! real client, so the demo also shows that an ordinary Redis client works.
//!
//! The connection is made on first use and made again after an error, so an
//! instance started before the server (or kept across its restart) recovers.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::FromRedisValue;
use tokio::sync::Mutex;

/// How long one command (or connecting) may take before the page gives up on it.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);

/// A lazily connected client of the shared state server.
pub(crate) struct SharedState {
    /// The URL without its password, for the page.
    pub(crate) shown_url: String,
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl SharedState {
    /// A client for `url` (`redis://host:port/db`). Nothing is connected yet.
    pub(crate) fn new(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("bad REDIS_URL {url:?}: {e}"))?;
        let shown_url = match url::Url::parse(url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            _ => url.to_string(),
        };
        Ok(Self {
            shown_url,
            client,
            conn: Mutex::new(None),
        })
    }

    async fn conn(&self) -> Result<MultiplexedConnection, String> {
        let mut cached = self.conn.lock().await;
        if let Some(c) = &*cached {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(TIMEOUT, self.client.get_multiplexed_async_connection())
            .await
            .map_err(|_| "connecting to shared state timed out".to_string())?
            .map_err(|e| format!("cannot connect to shared state: {e}"))?;
        *cached = Some(c.clone());
        Ok(c)
    }

    async fn forget_conn(&self) {
        *self.conn.lock().await = None;
    }

    /// Run one command.
    pub(crate) async fn cmd<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, String> {
        let mut c = self.conn().await?;
        let r = tokio::time::timeout(TIMEOUT, cmd.query_async::<T>(&mut c)).await;
        self.settle(r).await
    }

    /// A client for connections of their own (a pub/sub subscriber cannot share
    /// the multiplexed one).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Run several commands in one round trip.
    pub(crate) async fn pipe<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, String> {
        let mut c = self.conn().await?;
        let r = tokio::time::timeout(TIMEOUT, pipe.query_async::<T>(&mut c)).await;
        self.settle(r).await
    }

    async fn settle<T>(
        &self,
        r: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, String> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                    self.forget_conn().await;
                }
                Err(format!("shared state: {e}"))
            }
            Err(_) => {
                self.forget_conn().await;
                Err("shared state did not answer in time".into())
            }
        }
    }
}
