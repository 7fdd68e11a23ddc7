//! Reading a front door's Prometheus metrics in tests.

use std::net::SocketAddr;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

/// The value of the first sample in `text` whose series starts with `prefix`:
/// a bare name matches that metric with any labels or none
/// (`bigstep_retries_total` never matches `bigstep_retries_total_x`); a name
/// with some of its labels (`name{pool="a"`) matches the samples that have them first.
pub fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with([' ', '{', ',', '}']))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// `GET /metrics` from the admin listener at `admin` (named by its own
/// address: it refuses other hosts); `None` if it does not answer 200.
pub async fn scrape(admin: SocketAddr) -> Option<String> {
    let req = Request::get("/metrics")
        .header("host", admin.to_string())
        .body(Full::new(Bytes::new()))
        .ok()?;
    let r = crate::client::send(admin, req).await.ok()?;
    (r.status == 200).then(|| r.text())
}

/// [`sample`] of a fresh [`scrape`].
pub async fn metric(admin: SocketAddr, prefix: &str) -> Option<f64> {
    sample(&scrape(admin).await?, prefix)
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn matches_whole_names_and_label_prefixes_only() {
        let text = "# HELP bigstep_retries_total retries\n\
                    bigstep_retries_total_x 9\n\
                    bigstep_retries_total 3\n\
                    bigstep_up{server=\"a\",pool=\"p\"} 1\n\
                    bigstep_up{server=\"b\",pool=\"p\"} 0\n";
        assert_eq!(sample(text, "bigstep_retries_total"), Some(3.0));
        assert_eq!(sample(text, "bigstep_up"), Some(1.0));
        assert_eq!(sample(text, "bigstep_up{server=\"b\""), Some(0.0));
        assert_eq!(
            sample(text, "bigstep_up{server=\"b\",pool=\"p\"}"),
            Some(0.0)
        );
        assert_eq!(sample(text, "bigstep_retries"), None);
        assert_eq!(sample(text, "bigstep_missing"), None);
    }
}
