//! Prometheus metrics, registered in the process's registry (`service::Metrics`)
//! and served at `/-/metrics` (a path no bucket can have: bucket names start
//! with a letter or digit).

use std::borrow::Cow;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) method: String,
    pub(crate) status: u16,
    /// S3's name for the operation (`GetObject`, `PutObject`, …), or
    /// [`UNIDENTIFIED`] for a request refused before it was known.
    pub(crate) operation: Cow<'static, str>,
}

/// Labels of the byte counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OperationLabels {
    pub(crate) operation: Cow<'static, str>,
}

/// The operation label of a request refused before S3 knew which operation it
/// was: unreadable, unsigned where a signature is needed, badly signed, or
/// naming nothing we serve.
pub(crate) const UNIDENTIFIED: &str = "unidentified";

/// The server's metrics.
pub(crate) struct Metrics {
    registry: service::Metrics,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) duration: Histogram,
    pub(crate) in_flight: Gauge,
    /// Requests answered by the read fast path (also counted in `requests`).
    pub(crate) fast_reads: Counter,
    /// Of those, requests signed by our key (header or presigned).
    pub(crate) fast_signed_reads: Counter,
    /// Objects deleted by lifecycle expiration.
    pub(crate) expired: Counter,
    /// Request body bytes read, by operation.
    pub(crate) received_bytes: Family<OperationLabels, Counter>,
    /// Response body bytes written, by operation (as handed to the socket).
    pub(crate) sent_bytes: Family<OperationLabels, Counter>,
}

impl Metrics {
    /// Registers the files server's metrics (prefix `bigstep_files`) in `registry`.
    pub(crate) fn new(registry: &service::Metrics) -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let in_flight = Gauge::default();
        let fast_reads = Counter::default();
        let fast_signed_reads = Counter::default();
        let expired = Counter::default();
        let received_bytes = Family::<OperationLabels, Counter>::default();
        let sent_bytes = Family::<OperationLabels, Counter>::default();
        registry.register("bigstep_files", |r| {
            r.register(
                "requests",
                "HTTP requests answered, by method, status and S3 operation",
                requests.clone(),
            );
            r.register(
                "received_bytes",
                "Request body bytes read, by S3 operation",
                received_bytes.clone(),
            );
            r.register(
                "sent_bytes",
                "Response body bytes sent, by S3 operation",
                sent_bytes.clone(),
            );
            r.register(
                "request_duration_seconds",
                "Time from request to response headers",
                duration.clone(),
            );
            r.register("in_flight", "Requests being handled", in_flight.clone());
            r.register(
                "fast_reads",
                "GET/HEAD answered by the read fast path (sendfile)",
                fast_reads.clone(),
            );
            r.register(
                "fast_signed_reads",
                "GET/HEAD with a SigV4 signature verified and answered by the read fast path",
                fast_signed_reads.clone(),
            );
            r.register(
                "expired_objects",
                "Objects deleted by lifecycle expiration rules",
                expired.clone(),
            );
        });
        Metrics {
            registry: registry.clone(),
            requests,
            duration,
            in_flight,
            fast_reads,
            fast_signed_reads,
            expired,
            received_bytes,
            sent_bytes,
        }
    }

    /// The text exposition format (of the whole process's registry).
    pub(crate) fn render(&self) -> String {
        self.registry.render()
    }
}
