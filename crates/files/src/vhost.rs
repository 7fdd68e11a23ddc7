//! Virtual-host-style addressing: `BUCKET.DOMAIN[:port]/KEY` beside path-style
//! `HOST[:port]/BUCKET/KEY`.
//!
//! With a base domain configured, a request whose `Host` is a subdomain of it
//! addresses the bucket named by the subdomain; every other host (the domain
//! itself, an IP address, any other name) is path-style. The port is ignored, so
//! one domain serves whatever port the server listens on.
//!
//! s3s has an [`S3Host`] hook for this, and two implementations: `SingleDomain`
//! compares the `Host` with its port included, and takes any host it does not
//! recognise as a bucket name (S3's CNAME addressing), which would turn a
//! path-style request to `files.internal:9000` into one for a bucket named
//! `files.internal:9000`. Hence this one.

use std::borrow::Cow;

use s3s::host::{S3Host, VirtualHost};
use s3s::S3Result;

/// The bucket a `Host` header addresses under `domain`, if it is a subdomain of it.
///
/// `domain` is lower case without a port; the host is compared without its port,
/// ignoring case. A bucket name itself may hold dots (`my.bucket.example.com`).
pub(crate) fn bucket_in_host<'a>(domain: &str, host: &'a str) -> Option<&'a str> {
    let name = strip_port(host);
    let cut = name.len().checked_sub(domain.len() + 1)?;
    let (bucket, rest) = name.split_at(cut);
    let matches = rest.strip_prefix('.')?.eq_ignore_ascii_case(domain);
    (matches && !bucket.is_empty()).then_some(bucket)
}

/// `host:port` → `host`; `[v6]:port` and bare names are returned whole (an IPv6
/// literal never names a bucket anyway).
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// A base domain in the form [`bucket_in_host`] wants, or why it is not one.
pub(crate) fn normalise_domain(domain: &str) -> Result<String, String> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(d)
    } else {
        Err(format!(
            "`{domain}` is not a domain name (like files.example.com, without scheme or port)"
        ))
    }
}

/// The [`S3Host`] for one base domain.
#[derive(Debug)]
pub(crate) struct BaseDomain {
    domain: String,
}

impl BaseDomain {
    /// `domain` must have passed [`normalise_domain`].
    pub(crate) fn new(domain: String) -> BaseDomain {
        BaseDomain { domain }
    }
}

impl S3Host for BaseDomain {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let vh = VirtualHost::new(Cow::Borrowed(self.domain.as_str()));
        Ok(match bucket_in_host(&self.domain, host) {
            // Bucket names are lower case; a client may have spelled the host otherwise.
            Some(bucket) => vh.with_bucket(Cow::Owned(bucket.to_ascii_lowercase())),
            None => vh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_in_hosts() {
        let d = "files.example.com";
        assert_eq!(bucket_in_host(d, "pics.files.example.com"), Some("pics"));
        assert_eq!(
            bucket_in_host(d, "pics.files.example.com:9000"),
            Some("pics")
        );
        assert_eq!(
            bucket_in_host(d, "My.Pics.FILES.example.com"),
            Some("My.Pics")
        );
        assert_eq!(bucket_in_host(d, "files.example.com:9000"), None);
        assert_eq!(bucket_in_host(d, ".files.example.com"), None);
        assert_eq!(bucket_in_host(d, "pics.otherfiles.example.com"), None);
        assert_eq!(bucket_in_host(d, "xfiles.example.com"), None);
        assert_eq!(bucket_in_host(d, "127.0.0.1:9000"), None);
        assert_eq!(bucket_in_host(d, "[::1]:9000"), None);
        assert_eq!(bucket_in_host("localhost", "b.localhost:1234"), Some("b"));
    }

    #[test]
    fn domains() {
        assert_eq!(
            normalise_domain("Files.Example.com.").as_deref(),
            Ok("files.example.com")
        );
        assert!(normalise_domain("http://x").is_err());
        assert!(normalise_domain("x:9000").is_err());
        assert!(normalise_domain("a..b").is_err());
        assert!(normalise_domain("").is_err());
    }

    #[test]
    fn hosts_parse_to_buckets_or_path_style() {
        let h = BaseDomain::new("localhost".to_owned());
        let vh = h.parse_host_header("Pics.localhost:80").expect("parse");
        assert_eq!(vh.bucket(), Some("pics"));
        assert_eq!(
            h.parse_host_header("localhost:80").expect("parse").bucket(),
            None
        );
        assert_eq!(
            h.parse_host_header("other.host").expect("parse").bucket(),
            None
        );
    }
}
