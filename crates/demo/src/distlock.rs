//! `/lock`: a distributed lock around a critical section, on the shared state
//! server — the way two servers keep from doing the same thing at once (a
//! payment, a cron job, a cache rebuild).
//!
//! Take: `SET demo:lock TOKEN NX PX 5000` (only if nobody holds it; it expires
//! by itself if the holder dies). Release: a Lua script deletes the key only if
//! it still holds our token, so an instance whose lock expired cannot release
//! the next holder's. Inside, the section counts its holders
//! (`INCR`/`DECR demo:lock:holders`): a count above one at entry is an overlap,
//! two instances inside at once, and is counted in `demo:lock:overlaps`.
//! `?lock=off` runs the same section without the lock, to show what the lock
//! prevents.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::shared::SharedState;

/// The lock's key.
pub const LOCK_KEY: &str = "demo:lock";
/// How many are inside the critical section now.
pub const HOLDERS_KEY: &str = "demo:lock:holders";
/// Overlaps seen, with and without the lock.
pub const OVERLAPS_KEY: &str = "demo:lock:overlaps";
/// The lock expires after this if its holder never releases it.
const LEASE: Duration = Duration::from_secs(5);
/// The longest a section may run: well inside the lease.
pub const MAX_HOLD: Duration = Duration::from_secs(1);
/// How long a request waits for the lock before giving up.
const WAIT: Duration = Duration::from_secs(10);

/// Compare-and-delete: release only our own lock.
const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// What one run of the critical section saw (the JSON body of `/lock`).
#[derive(Debug, Serialize)]
pub struct LockRun {
    /// The instance that ran it.
    pub instance: String,
    /// Whether it ran under the lock.
    pub locked: bool,
    /// Milliseconds spent waiting for the lock.
    pub waited_ms: u64,
    /// Milliseconds inside the section.
    pub held_ms: u64,
    /// Whether another run was inside when this one entered.
    pub overlap: bool,
    /// Overlaps counted so far, all instances.
    pub overlaps_total: i64,
}

/// Why a run did not happen.
pub(crate) enum LockError {
    /// Someone else held it for all of [`WAIT`].
    Busy,
    /// The shared state server failed.
    State(String),
}

impl From<String> for LockError {
    fn from(e: String) -> Self {
        LockError::State(e)
    }
}

/// Run the critical section for `hold` (at most [`MAX_HOLD`]), under the lock
/// unless `locked` is false.
pub(crate) async fn run(
    state: &SharedState,
    instance: &str,
    hold: Duration,
    locked: bool,
) -> Result<LockRun, LockError> {
    let hold = hold.min(MAX_HOLD);
    let token = crate::random_hex(16);
    let started = Instant::now();
    if locked {
        let mut pause = Duration::from_millis(5);
        loop {
            let got: Option<String> = state
                .cmd(
                    redis::cmd("SET")
                        .arg(LOCK_KEY)
                        .arg(&token)
                        .arg("NX")
                        .arg("PX")
                        .arg(LEASE.as_millis() as u64),
                )
                .await?;
            if got.is_some() {
                break;
            }
            if started.elapsed() >= WAIT {
                return Err(LockError::Busy);
            }
            // Jitter, so waiting instances do not retry in step.
            let jitter = Duration::from_millis(rand::random::<u64>() % 5);
            tokio::time::sleep(pause + jitter).await;
            pause = (pause * 2).min(Duration::from_millis(40));
        }
    }
    let waited = started.elapsed();
    let section = async {
        let inside: i64 = state.cmd(redis::cmd("INCR").arg(HOLDERS_KEY)).await?;
        tokio::time::sleep(hold).await;
        let _: i64 = state.cmd(redis::cmd("DECR").arg(HOLDERS_KEY)).await?;
        let overlap = inside > 1;
        let total: i64 = if overlap {
            state.cmd(redis::cmd("INCR").arg(OVERLAPS_KEY)).await?
        } else {
            state
                .cmd::<Option<i64>>(redis::cmd("GET").arg(OVERLAPS_KEY))
                .await?
                .unwrap_or(0)
        };
        Ok::<_, String>((overlap, total))
    };
    let result = section.await;
    let held = started.elapsed() - waited;
    if locked {
        // Released even when the section failed; if this fails, the lease ends it.
        let released: Result<i64, String> = state
            .cmd(
                redis::cmd("EVAL")
                    .arg(RELEASE_LUA)
                    .arg(1)
                    .arg(LOCK_KEY)
                    .arg(&token),
            )
            .await;
        if let Err(e) = released {
            eprintln!("{instance}: lock not released (it expires in {LEASE:?}): {e}");
        }
    }
    let (overlap, overlaps_total) = result?;
    Ok(LockRun {
        instance: instance.to_string(),
        locked,
        waited_ms: waited.as_millis() as u64,
        held_ms: held.as_millis() as u64,
        overlap,
        overlaps_total,
    })
}
