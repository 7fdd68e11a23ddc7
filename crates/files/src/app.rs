//! What a running files service holds, shared by the general path
//! (`server.rs`: hyper and s3s) and the read fast path (`conn.rs`). A leaf
//! below both, so neither imports the other's state.

use std::collections::HashSet;
use std::sync::Arc;

use s3s::service::S3Service;

use crate::metrics::{Metrics, OperationLabels, RequestLabels};
use crate::sigv4::Verifier;
use crate::store::Store;

/// A running files service: the S3 handler plus what CORS and the read fast
/// path need.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) s3: S3Service,
    pub(crate) store: Store,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) idle_timeout: std::time::Duration,
    /// Base domain for virtual-host-style addressing, if configured.
    pub(crate) domain: Option<Arc<str>>,
    /// The region we answer as (`--region`), named to clients that sign for
    /// one the S3 layer cannot read.
    pub(crate) region: Arc<str>,
    /// The read fast path (`conn.rs`).
    pub(crate) fast: Arc<FastPath>,
}

/// What the read fast path needs beyond the store: the public buckets, our
/// key (for SigV4), and its request counters resolved once (a label lookup
/// per request would allocate).
pub(crate) struct FastPath {
    pub(crate) public: HashSet<String>,
    /// Cloned into each connection, which caches its signing key.
    pub(crate) verifier: Verifier,
    counters: [prometheus_client::metrics::counter::Counter; 5],
    /// GetObject's body bytes.
    sent: prometheus_client::metrics::counter::Counter,
}

impl FastPath {
    pub(crate) fn new(public: HashSet<String>, verifier: Verifier, metrics: &Metrics) -> FastPath {
        let c = |method: &str, status: u16| {
            metrics
                .requests
                .get_or_create(&RequestLabels {
                    method: method.to_owned(),
                    status,
                    operation: if method == "HEAD" {
                        "HeadObject".into()
                    } else {
                        "GetObject".into()
                    },
                })
                .clone()
        };
        let sent = metrics
            .sent_bytes
            .get_or_create(&OperationLabels {
                operation: "GetObject".into(),
            })
            .clone();
        FastPath {
            public,
            verifier,
            counters: [
                c("GET", 200),
                c("GET", 206),
                c("GET", 304),
                c("HEAD", 200),
                c("HEAD", 304),
            ],
            sent,
        }
    }

    /// Counts one answered request and the body bytes it sent.
    pub(crate) fn count(&self, head_only: bool, status: u16, body_bytes: u64) {
        self.sent.inc_by(body_bytes);
        let i = match (head_only, status) {
            (false, 206) => 1,
            (false, 304) => 2,
            (false, _) => 0,
            (true, 304) => 4,
            (true, _) => 3,
        };
        self.counters[i].inc();
    }
}
