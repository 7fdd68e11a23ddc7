//! Several front doors serving the same names share one ACME account, one
//! certificate and one lock through a Redis-protocol server (`bigstep state`,
//! Redis, Valkey), so only one of them orders and the others load what it
//! obtained:
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `<prefix>:acme:<issuer>:account` | account credentials (JSON, holds the account key) | none |
//! | `<prefix>:acme:<issuer>:cert:<name>` | `{"chain_pem", "key_pem"}` | none |
//! | `<prefix>:acme:<issuer>:lock:<name>` | the holder's random token | the order's timeout |
//! | `<prefix>:acme:<issuer>:challenge:<domain>` | the pending challenge `{"kind", "token", "key_authorization"}` | the order's timeout |
//!
//! The lock is `SET key token NX PX ttl` and is released only by its owner
//! (a compare-and-delete script), so a holder that outlived its TTL cannot
//! delete the next holder's lock. A front door that dies mid-order leaves a
//! lock that expires on its own.
//!
//! The challenge keys exist because the ACME server's validation request may
//! reach any front door behind the same name: the ones waiting for the lock
//! copy the pending answers into their own [`crate::Challenges`], and the
//! holder waits a few polls before asking the server to validate.
//!
//! The keys hold private keys: protect the server like the storage
//! directory (password or ACL, private network).

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Longest one store call may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// KEYS[1] = the lock; ARGV[1] = the owner's token. Deletes only our own lock.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A pending challenge as published for the other front doors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SharedChallenge {
    /// `http-01` or `tls-alpn-01`.
    pub(crate) kind: String,
    pub(crate) token: String,
    pub(crate) key_authorization: String,
}

#[derive(Serialize, Deserialize)]
struct StoredCert {
    chain_pem: String,
    key_pem: String,
}

/// The shared store, dialled lazily and redialled after an error.
pub(crate) struct Shared {
    client: redis::Client,
    base: String,
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("base", &self.base).finish()
    }
}

impl Shared {
    pub(crate) fn new(url: &str, prefix: &str, issuer: &str) -> Result<Shared, Error> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::Config(format!("store `{}`: {e}", redact(url))))?;
        Ok(Shared {
            client,
            base: format!("{prefix}:acme:{issuer}"),
            conn: Mutex::new(None),
        })
    }

    fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.base)
    }

    async fn conn(&self) -> Result<MultiplexedConnection, Error> {
        if let Some(c) = self.conn.lock().ok().and_then(|c| c.clone()) {
            return Ok(c);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let c = tokio::time::timeout(
            TIMEOUT,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| Error::Store(format!("no answer within {TIMEOUT:?}")))?
        .map_err(|e| Error::Store(e.to_string()))?;
        if let Ok(mut slot) = self.conn.lock() {
            *slot = Some(c.clone());
        }
        Ok(c)
    }

    /// Run `cmd`; on failure drop the connection so the next call redials.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let mut c = self.conn().await?;
        let result = match tokio::time::timeout(TIMEOUT, cmd.query_async::<T>(&mut c)).await {
            Ok(r) => r.map_err(|e| Error::Store(e.to_string())),
            Err(_) => Err(Error::Store(format!("no answer within {TIMEOUT:?}"))),
        };
        if result.is_err() {
            if let Ok(mut slot) = self.conn.lock() {
                *slot = None;
            }
        }
        result
    }

    /// Take the ordering lock for `name`: `Some(token)` when we hold it.
    pub(crate) async fn lock(&self, name: &str, ttl: Duration) -> Result<Option<String>, Error> {
        let token = format!("{:032x}", rand::random::<u128>());
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(&format!("lock:{name}")))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64);
        let set: Option<String> = self.query(&cmd).await?;
        Ok(set.map(|_| token))
    }

    /// Release the lock if it is still ours.
    pub(crate) async fn unlock(&self, name: &str, token: &str) -> Result<bool, Error> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(UNLOCK)
            .arg(1)
            .arg(self.key(&format!("lock:{name}")))
            .arg(token);
        let deleted: i64 = self.query(&cmd).await?;
        Ok(deleted == 1)
    }

    pub(crate) async fn load_account(&self) -> Result<Option<String>, Error> {
        self.query(redis::cmd("GET").arg(self.key("account"))).await
    }

    pub(crate) async fn save_account(&self, json: &str) -> Result<(), Error> {
        self.query(redis::cmd("SET").arg(self.key("account")).arg(json))
            .await
    }

    pub(crate) async fn remove_account(&self) -> Result<(), Error> {
        let _: i64 = self
            .query(redis::cmd("DEL").arg(self.key("account")))
            .await?;
        Ok(())
    }

    pub(crate) async fn load_cert(&self, name: &str) -> Result<Option<(String, String)>, Error> {
        let json: Option<String> = self
            .query(redis::cmd("GET").arg(self.key(&format!("cert:{name}"))))
            .await?;
        let Some(json) = json else { return Ok(None) };
        let c: StoredCert = serde_json::from_str(&json)
            .map_err(|e| Error::Store(format!("cert:{name} is not a stored certificate: {e}")))?;
        Ok(Some((c.chain_pem, c.key_pem)))
    }

    pub(crate) async fn save_cert(&self, name: &str, issued: &crate::Issued) -> Result<(), Error> {
        let json = serde_json::to_string(&StoredCert {
            chain_pem: issued.chain_pem.clone(),
            key_pem: issued.key_pem.clone(),
        })
        .map_err(|e| Error::Store(e.to_string()))?;
        self.query(
            redis::cmd("SET")
                .arg(self.key(&format!("cert:{name}")))
                .arg(json),
        )
        .await
    }

    pub(crate) async fn put_challenge(
        &self,
        domain: &str,
        c: &SharedChallenge,
        ttl: Duration,
    ) -> Result<(), Error> {
        let json = serde_json::to_string(c).map_err(|e| Error::Store(e.to_string()))?;
        self.query(
            redis::cmd("SET")
                .arg(self.key(&format!("challenge:{domain}")))
                .arg(json)
                .arg("PX")
                .arg(ttl.as_millis() as u64),
        )
        .await
    }

    pub(crate) async fn remove_challenge(&self, domain: &str) -> Result<(), Error> {
        let _: i64 = self
            .query(redis::cmd("DEL").arg(self.key(&format!("challenge:{domain}"))))
            .await?;
        Ok(())
    }

    pub(crate) async fn challenge(&self, domain: &str) -> Result<Option<SharedChallenge>, Error> {
        let json: Option<String> = self
            .query(redis::cmd("GET").arg(self.key(&format!("challenge:{domain}"))))
            .await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }
}

/// `url` with any password replaced by `***`, for errors and logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}
