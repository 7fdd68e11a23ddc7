//! The session-loss detector: a response that replaces the session cookie the
//! request carried means the app lost that user's session on this server (the
//! user was moved, or the app keeps sessions in memory). Deletions are logouts.

use http::header::{self, HeaderMap, HeaderValue};

use crate::headers::cookie_in;

/// Did the server replace a session cookie the request carried? Returns the name.
/// `request_cookie` is the request's (first) Cookie header. Deletions (empty
/// value, `Max-Age=0`, an expiry in 1970) are logouts, not losses.
pub(crate) fn replaced_session_cookie<'a>(
    request_cookie: Option<&HeaderValue>,
    response: &'a HeaderMap,
    names: &[String],
) -> Option<&'a str> {
    let request_cookie = request_cookie?;
    for set in response.get_all(header::SET_COOKIE) {
        let Ok(set) = set.to_str() else { continue };
        let mut parts = set.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.trim().split_once('=')) else {
            continue;
        };
        if value.is_empty() || !names.iter().any(|n| n == name) {
            continue;
        }
        let deleting = parts.any(|a| {
            let a = a.trim().to_ascii_lowercase();
            a == "max-age=0" || a.starts_with("max-age=-") || a.contains("1970")
        });
        if deleting {
            continue;
        }
        if let Some(old) = cookie_in(request_cookie, name) {
            if !old.is_empty() && old != value {
                return Some(name);
            }
        }
    }
    None
}

/// Where a session loss happened, for the report: the request path when the
/// proxy kept it (replayable requests), else the Path attribute of the
/// response's first Set-Cookie.
pub(crate) fn loss_path(request_path: Option<&str>, response: &HeaderMap) -> Option<String> {
    if let Some(p) = request_path {
        return Some(p.to_string());
    }
    response
        .get(header::SET_COOKIE)?
        .to_str()
        .ok()?
        .split(';')
        .find_map(|a| {
            let (k, v) = a.trim().split_once('=')?;
            k.eq_ignore_ascii_case("path").then(|| v.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_loss_detection() {
        let names = vec!["PHPSESSID".to_string()];
        let req = HeaderValue::from_static("a=1; PHPSESSID=old");
        let mut resp = HeaderMap::new();
        resp.append("set-cookie", "PHPSESSID=new; path=/".parse().unwrap());
        assert_eq!(
            replaced_session_cookie(Some(&req), &resp, &names),
            Some("PHPSESSID")
        );
        let mut same = HeaderMap::new();
        same.append("set-cookie", "PHPSESSID=old; path=/".parse().unwrap());
        assert_eq!(replaced_session_cookie(Some(&req), &same, &names), None);
        let mut logout = HeaderMap::new();
        logout.append(
            "set-cookie",
            "PHPSESSID=deleted; Max-Age=0".parse().unwrap(),
        );
        assert_eq!(replaced_session_cookie(Some(&req), &logout, &names), None);
        assert_eq!(
            replaced_session_cookie(None, &resp, &names),
            None,
            "a first session is not a loss"
        );
    }

    #[test]
    fn loss_path_prefers_the_request() {
        let mut resp = HeaderMap::new();
        resp.append("set-cookie", "PHPSESSID=new; Path=/app".parse().unwrap());
        assert_eq!(loss_path(Some("/cart"), &resp).as_deref(), Some("/cart"));
        assert_eq!(loss_path(None, &resp).as_deref(), Some("/app"));
        assert_eq!(loss_path(None, &HeaderMap::new()), None);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The session-loss detector never panics on arbitrary header values.
        #[test]
        fn detector_total_on_garbage(req in "[ -~]{0,60}", resp in "[ -~]{0,60}") {
            let mut rs = HeaderMap::new();
            if let (Ok(a), Ok(b)) = (HeaderValue::from_str(&req), HeaderValue::from_str(&resp)) {
                rs.insert(http::header::SET_COOKIE, b);
                let _ = replaced_session_cookie(Some(&a), &rs, &["PHPSESSID".to_string()]);
            }
        }
    }
}
