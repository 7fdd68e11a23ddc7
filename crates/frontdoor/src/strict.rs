//! Request-head rules hyper does not enforce, checked before any server sees
//! the request (RFC 9112 §3.2, RFC 9110 §7.2). The rules themselves live in the
//! `h1` crate (`h1::rules`), shared with the front door's own HTTP/1 core.
//!
//! hyper already refuses (400, no reason header): a target that is neither
//! `*`, `/…`, `host:port` nor `scheme://…` (e.g. `a/b`, `?q`). It lets through,
//! and we refuse here:
//! - more than one `Host` line (even with the same value);
//! - a `Host` outside `uri-host [ ":" port ]` (a space, `/`, `@`, `"`, a
//!   non-numeric port…);
//! - an absolute-form target whose authority is not the `Host` (we refuse
//!   rather than replace `Host`: see `h1::rules`);
//! - a target hyper parses as an authority: `host:port` on a method other than
//!   CONNECT (and CONNECT without it), or `GET index.html` (no leading `/`);
//! - `*` on a method other than OPTIONS.
//!
//! An accepted absolute-form target is forwarded in origin-form with the
//! client's `Host` (or, from an HTTP/1.0 client that sent none, the target's
//! authority): servers behind a gateway expect origin-form.

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::Uri;

use crate::error::{ErrorKind, ProxyError};

/// Check (and normalise an absolute-form target of) one request.
pub(crate) fn check(req: &mut Parts) -> Result<(), ProxyError> {
    let mut hosts = req.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(refuse(h1::Error::DuplicateHost));
    }
    if let Some(h) = host {
        if !h1::rules::valid_host(h.as_bytes()) {
            return Err(refuse(h1::Error::BadHost));
        }
    }
    let uri = &req.uri;
    let method = req.method.as_str().as_bytes();
    let form = if uri.scheme().is_none() && uri.authority().is_none() {
        // Origin-form or `*`: the common case, no allocation.
        let target = uri.path_and_query().map_or("", PathAndQuery::as_str);
        h1::rules::target_form(method, target.as_bytes())
    } else {
        h1::rules::target_form(method, uri.to_string().as_bytes())
    }
    .map_err(refuse)?;
    if let h1::Target::Absolute { https, .. } = form {
        // Rare: a clone of the Uri shares its bytes.
        let uri = uri.clone();
        let authority = uri.authority().map_or("", |a| a.as_str());
        match req.headers.get(header::HOST) {
            Some(h) if !h1::rules::same_authority(authority.as_bytes(), h.as_bytes(), https) => {
                return Err(refuse(h1::Error::HostMismatch));
            }
            Some(_) => {}
            None => {
                let value =
                    HeaderValue::from_str(authority).map_err(|_| refuse(h1::Error::BadTarget))?;
                req.headers.insert(header::HOST, value);
            }
        }
        let origin = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        req.uri = Uri::from(origin);
    }
    Ok(())
}

fn refuse(e: h1::Error) -> ProxyError {
    ProxyError::new(ErrorKind::Malformed(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, target: &str, hosts: &[&str]) -> Parts {
        let mut b = http::Request::builder().method(method).uri(target);
        for h in hosts {
            b = b.header(header::HOST, *h);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn reason(r: Result<(), ProxyError>) -> Option<&'static str> {
        r.err().map(|e| e.reason())
    }

    #[test]
    fn refusals() {
        for (method, target, hosts, why) in [
            ("GET", "/", &["a", "a"][..], "duplicate-host"),
            ("GET", "/", &["a b"], "bad-host"),
            ("GET", "http://b.test/", &["a.test"], "host-mismatch"),
            (
                "GET",
                "a.test:80",
                &["a.test"],
                "authority-form-not-connect",
            ),
            ("GET", "*", &["a.test"], "asterisk-form-not-options"),
            ("CONNECT", "/", &["a.test"], "authority-form-not-connect"),
        ] {
            let mut r = req(method, target, hosts);
            assert_eq!(
                reason(check(&mut r)),
                Some(why),
                "{method} {target} {hosts:?}"
            );
        }
    }

    #[test]
    fn absolute_form_becomes_origin_form() {
        let mut r = req("GET", "http://a.test/x?y", &["a.test:80"]);
        check(&mut r).unwrap();
        assert_eq!(r.uri, "/x?y");
        assert_eq!(r.headers[header::HOST], "a.test:80");
        let mut r = req("GET", "http://a.test:8080", &[]);
        check(&mut r).unwrap();
        assert_eq!(r.uri, "/");
        assert_eq!(r.headers[header::HOST], "a.test:8080");
    }

    #[test]
    fn ordinary_requests_pass_untouched() {
        for (method, target) in [("GET", "/a?b"), ("OPTIONS", "*"), ("CONNECT", "a.test:443")] {
            let mut r = req(method, target, &["a.test"]);
            check(&mut r).unwrap();
            assert_eq!(r.uri, target);
        }
    }
}
