//! The registry client: register, heartbeat, deregister, read everything,
//! write admin records, and watch the events channel. Speaks to any
//! Redis-protocol server through the `redis` crate.
//!
//! Every call is bounded by the timeout given at [`Registry::open`], so an
//! unreachable registry (a cut link drops packets rather than refusing them)
//! turns into an error the caller can act on, never a hang. After an error the
//! connection is dropped and the next call dials again.

use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

use crate::convention::{AdminRecord, Entry, Keys};
use crate::view::Snapshot;

/// Most `SCAN` rounds in one read: a guard against a cursor that never ends.
const MAX_SCAN_ROUNDS: usize = 10_000;

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The URL is not a Redis URL.
    #[error("invalid registry URL `{url}`: {reason} (expected redis://host:port)")]
    BadUrl {
        /// The URL, without its password.
        url: String,
        /// The client's reason.
        reason: String,
    },
    /// The registry did not answer in time.
    #[error("the registry did not answer within {0:?}")]
    Timeout(Duration),
    /// The registry answered with an error, or the connection failed.
    #[error("registry: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A connection to the registry, dialled lazily.
pub struct Registry {
    client: redis::Client,
    keys: Keys,
    timeout: Duration,
    conn: Option<MultiplexedConnection>,
}

/// `url` with any password replaced by `***`, for logs and the admin API.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

impl Registry {
    /// A client for `url` (`redis://[user:password@]host:port[/db]`). Dials nothing yet.
    pub fn open(url: &str, keys: Keys, timeout: Duration) -> Result<Registry, RegistryError> {
        let client = redis::Client::open(url).map_err(|e| RegistryError::BadUrl {
            url: redact(url),
            reason: e.to_string(),
        })?;
        Ok(Registry {
            client,
            keys,
            timeout,
            conn: None,
        })
    }

    /// The key layout in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    async fn conn(&mut self) -> Result<&mut MultiplexedConnection, RegistryError> {
        if self.conn.is_none() {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout));
            let conn = tokio::time::timeout(
                self.timeout,
                self.client
                    .get_multiplexed_async_connection_with_config(&config),
            )
            .await
            .map_err(|_| RegistryError::Timeout(self.timeout))??;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connection just set"))
    }

    /// Run `pipe`; on any failure drop the connection so the next call redials.
    async fn query<T: redis::FromRedisValue>(
        &mut self,
        pipe: &redis::Pipeline,
    ) -> Result<T, RegistryError> {
        let timeout = self.timeout;
        let conn = self.conn().await?;
        let result = match tokio::time::timeout(timeout, pipe.query_async(conn)).await {
            Ok(r) => r.map_err(RegistryError::from),
            Err(_) => Err(RegistryError::Timeout(timeout)),
        };
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// Write `name`'s entry with a TTL and announce it. Fields from an older
    /// registration are replaced, not merged.
    pub async fn register(
        &mut self,
        name: &str,
        entry: &Entry,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let key = self.keys.instance(name);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(&key)
            .ignore()
            .hset_multiple(&key, &entry.fields())
            .ignore()
            .pexpire(&key, ttl.as_millis() as i64)
            .ignore();
        pipe.publish(self.keys.events(), name).ignore();
        self.query(&pipe).await
    }

    /// Renew `name`'s TTL. `false`: the entry is gone (expired, or the registry
    /// restarted empty) and the caller should register again.
    pub async fn heartbeat(&mut self, name: &str, ttl: Duration) -> Result<bool, RegistryError> {
        let mut pipe = redis::pipe();
        pipe.pexpire(self.keys.instance(name), ttl.as_millis() as i64);
        let (renewed,): (bool,) = self.query(&pipe).await?;
        Ok(renewed)
    }

    /// Remove `name`'s entry and announce it. Its admin record stays.
    pub async fn deregister(&mut self, name: &str) -> Result<(), RegistryError> {
        let mut pipe = redis::pipe();
        pipe.del(self.keys.instance(name))
            .ignore()
            .publish(self.keys.events(), name)
            .ignore();
        self.query(&pipe).await
    }

    /// Set the fields of `name`'s admin record that `rec` sets, and announce it.
    pub async fn set_admin(&mut self, name: &str, rec: &AdminRecord) -> Result<(), RegistryError> {
        let fields = rec.fields();
        if fields.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.hset_multiple(self.keys.admin(name), &fields)
            .ignore()
            .publish(self.keys.events(), name)
            .ignore();
        self.query(&pipe).await
    }

    /// Every instance entry and admin record. A key that cannot be used (wrong
    /// type, bad field) is reported in [`Snapshot::rejected`] and skipped; it
    /// does not fail the read.
    pub async fn read(&mut self) -> Result<Snapshot, RegistryError> {
        let mut snap = Snapshot::default();
        let instance_keys = self.scan(&self.keys.instance_pattern()).await?;
        let admin_keys = self.scan(&self.keys.admin_pattern()).await?;
        let all: Vec<&String> = instance_keys.iter().chain(&admin_keys).collect();
        if all.is_empty() {
            return Ok(snap);
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for key in &all {
            pipe.hgetall(*key);
        }
        let values: Vec<redis::RedisResult<Vec<(String, String)>>> = self.query(&pipe).await?;
        for (key, value) in all.into_iter().zip(values) {
            let fields = match value {
                // Expired between SCAN and HGETALL: not there.
                Ok(f) if f.is_empty() => continue,
                Ok(f) => f,
                Err(e) => {
                    let why = crate::EntryError::BadField {
                        field: "(key)",
                        value: e.to_string(),
                        why: "expected a hash",
                    };
                    snap.rejected.push((key.clone(), why));
                    continue;
                }
            };
            if let Some(name) = self.keys.instance_name(key) {
                match crate::convention::check_name(name).and_then(|()| Entry::decode(fields)) {
                    Ok(e) => {
                        snap.instances.insert(name.to_string(), e);
                    }
                    Err(e) => snap.rejected.push((key.clone(), e)),
                }
            } else if let Some(name) = self.keys.admin_name(key) {
                match crate::convention::check_name(name).and_then(|()| AdminRecord::decode(fields))
                {
                    Ok(r) => {
                        snap.admin.insert(name.to_string(), r);
                    }
                    Err(e) => snap.rejected.push((key.clone(), e)),
                }
            }
        }
        Ok(snap)
    }

    async fn scan(&mut self, pattern: &str) -> Result<Vec<String>, RegistryError> {
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        for _ in 0..MAX_SCAN_ROUNDS {
            let mut pipe = redis::pipe();
            pipe.cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000);
            let ((next, batch),): ((u64, Vec<String>),) = self.query(&pipe).await?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// A stream that yields once per message on the events channel and ends
    /// when the subscription breaks. Subscribing is bounded by the timeout; a
    /// silent link is noticed by the caller's periodic read, not here.
    pub async fn watch(
        &self,
    ) -> Result<impl futures_util::Stream<Item = ()> + Send + 'static, RegistryError> {
        let channel = self.keys.events();
        let subscribe = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, RegistryError>(pubsub)
        };
        let pubsub = tokio::time::timeout(self.timeout, subscribe)
            .await
            .map_err(|_| RegistryError::Timeout(self.timeout))??;
        Ok(pubsub.into_on_message().map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("redis://:secret@h:6379"), "redis://***@h:6379");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
        assert!(Registry::open("http://x", Keys::default(), Duration::from_secs(1)).is_err());
    }
}
