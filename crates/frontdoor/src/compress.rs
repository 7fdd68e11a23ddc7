//! Response compression (brotli, zstd, gzip), negotiated by `Accept-Encoding` and
//! streamed: each frame from the server is fed to the encoder as it arrives, and
//! whenever the server pauses (its body is not ready) the encoder is flushed, so
//! a page that streams progressively still streams — nothing waits for the
//! whole body.
//!
//! Skipped, as nginx and Caddy skip them: HEAD requests, responses that are not
//! 200/201/202/203, already-encoded bodies, `Cache-Control: no-transform`,
//! range requests, bodies shorter than `min_length` (when the length is
//! known), types not in the list, and `text/event-stream` (whose events must
//! not wait in an encoder).

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response};

use crate::body::ResponseBody;
use crate::config::Compression;
pub(crate) use crate::encoder::{Coding, Encoder};

/// The coding to use for a client's `Accept-Encoding`, or none: the first of
/// `offered` (our preference order) the client accepts with q > 0.
pub(crate) fn negotiate(accept: Option<&HeaderValue>, offered: &[Coding]) -> Option<Coding> {
    let accept = accept?.to_str().ok()?;
    // (coding, q) pairs; a missing or unparsable q counts as 1 and 0 respectively.
    let items: Vec<(&str, f32)> = accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let coding = parts.next()?.trim();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .map(|v| v.trim().parse().unwrap_or(0.0))
                })
                .unwrap_or(1.0);
            (!coding.is_empty()).then_some((coding, q))
        })
        .collect();
    let q_of = |name: &str| {
        items
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
            .map(|(_, q)| *q)
    };
    let star = q_of("*");
    offered.iter().copied().find(|c| match q_of(c.token()) {
        Some(q) => q > 0.0,
        None => star.is_some_and(|q| q > 0.0),
    })
}

/// Whether this response may be compressed at all (the request's part is
/// decided by the caller: method, range, `Accept-Encoding`).
fn eligible(resp: &Response<ResponseBody>, cfg: &Compression) -> bool {
    let h = resp.headers();
    if !matches!(resp.status().as_u16(), 200..=203) || h.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    if h.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("no-transform"))
    }) {
        return false;
    }
    if let Some(len) = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        if len < cfg.min_length {
            return false;
        }
    }
    let Some(ct) = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "text/event-stream" {
        return false;
    }
    cfg.types.iter().any(|t| match t.strip_suffix("/*") {
        Some(major) => mime.split('/').next() == Some(major),
        None => *t == mime,
    })
}

/// What compression needs to know of the request (read before it is forwarded).
pub(crate) struct Asked {
    head: bool,
    ranged: bool,
    accept: Option<HeaderValue>,
}

impl Asked {
    pub(crate) fn of(method: &Method, headers: &HeaderMap) -> Asked {
        Asked {
            head: method == Method::HEAD,
            ranged: headers.contains_key(header::RANGE),
            // A HeaderValue clone shares its bytes.
            accept: headers.get(header::ACCEPT_ENCODING).cloned(),
        }
    }
}

/// Compresses `resp` if the request and response allow it.
pub(crate) fn apply(
    resp: Response<ResponseBody>,
    request: &Asked,
    cfg: &Compression,
) -> Response<ResponseBody> {
    if request.head || request.ranged || !eligible(&resp, cfg) {
        return resp;
    }
    let chosen = negotiate(request.accept.as_ref(), offered(cfg));
    let (mut parts, body) = resp.into_parts();
    // Caches must keep the variants apart whatever we chose for this client.
    add_vary(&mut parts.headers);
    let Some(coding) = chosen else {
        return Response::from_parts(parts, body);
    };
    let h = &mut parts.headers;
    h.remove(header::CONTENT_LENGTH);
    h.remove(header::ACCEPT_RANGES);
    h.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    // The encoded bytes differ from the original's: a strong validator no longer holds.
    if let Some(etag) = h.get(header::ETAG).and_then(|v| v.to_str().ok()) {
        if !etag.starts_with("W/") {
            if let Ok(weak) = HeaderValue::from_str(&format!("W/{etag}")) {
                h.insert(header::ETAG, weak);
            }
        }
    }
    Response::from_parts(parts, body.compressed(Encoder::new(coding, cfg.level)))
}

/// The codings `cfg` offers, in our order of preference: brotli compresses
/// text smallest at the same level, zstd is next (faster at the same ratio, and
/// some clients have it without brotli), gzip is what every client has.
fn offered(cfg: &Compression) -> &'static [Coding] {
    match (cfg.brotli, cfg.zstd) {
        (true, true) => &[Coding::Brotli, Coding::Zstd, Coding::Gzip],
        (true, false) => &[Coding::Brotli, Coding::Gzip],
        (false, true) => &[Coding::Zstd, Coding::Gzip],
        (false, false) => &[Coding::Gzip],
    }
}

fn add_vary(h: &mut HeaderMap) {
    let has = h.get_all(header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case("accept-encoding"))
        })
    });
    if !has {
        h.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn negotiation_honours_q_values_and_our_order() {
        let both = [Coding::Brotli, Coding::Gzip];
        assert_eq!(
            negotiate(Some(&hv("gzip, deflate, br")), &both),
            Some(Coding::Brotli)
        );
        assert_eq!(
            negotiate(Some(&hv("gzip;q=1.0, br;q=0")), &both),
            Some(Coding::Gzip)
        );
        assert_eq!(negotiate(Some(&hv("identity")), &both), None);
        assert_eq!(negotiate(Some(&hv("*;q=0.5")), &both), Some(Coding::Brotli));
        assert_eq!(negotiate(Some(&hv("*, br;q=0")), &both), Some(Coding::Gzip));
        assert_eq!(negotiate(None, &both), None);
        assert_eq!(
            negotiate(Some(&hv("GZIP")), &[Coding::Gzip]),
            Some(Coding::Gzip)
        );
        // What Chromium sends: brotli first; zstd for a client without it.
        let all = [Coding::Brotli, Coding::Zstd, Coding::Gzip];
        assert_eq!(
            negotiate(Some(&hv("gzip, deflate, br, zstd")), &all),
            Some(Coding::Brotli)
        );
        assert_eq!(negotiate(Some(&hv("gzip, zstd")), &all), Some(Coding::Zstd));
        assert_eq!(
            negotiate(Some(&hv("zstd;q=0, gzip")), &all),
            Some(Coding::Gzip)
        );
    }

    #[test]
    fn each_setting_offers_its_codings_in_order() {
        let mut cfg = Compression::default();
        assert_eq!(offered(&cfg), [Coding::Brotli, Coding::Zstd, Coding::Gzip]);
        cfg.zstd = false;
        assert_eq!(offered(&cfg), [Coding::Brotli, Coding::Gzip]);
        cfg.brotli = false;
        assert_eq!(offered(&cfg), [Coding::Gzip]);
        cfg.zstd = true;
        assert_eq!(offered(&cfg), [Coding::Zstd, Coding::Gzip]);
    }

    #[test]
    fn streamed_pieces_decode_to_the_original() {
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        for coding in [Coding::Gzip, Coding::Brotli, Coding::Zstd] {
            let mut e = Encoder::new(coding, 5);
            let mut out = Vec::new();
            for (i, chunk) in text.chunks(7000).enumerate() {
                out.extend_from_slice(&e.write(chunk).unwrap());
                if i % 3 == 0 {
                    out.extend_from_slice(&e.flush().unwrap());
                }
            }
            out.extend_from_slice(&e.finish().unwrap());
            assert!(out.len() < text.len() / 3, "{coding:?}: {}", out.len());
            let mut back = Vec::new();
            match coding {
                Coding::Gzip => flate2::read::GzDecoder::new(&out[..]).read_to_end(&mut back),
                Coding::Brotli => brotli::Decompressor::new(&out[..], 4096).read_to_end(&mut back),
                Coding::Zstd => zstd::stream::read::Decoder::new(&out[..])
                    .unwrap()
                    .read_to_end(&mut back),
            }
            .unwrap();
            assert_eq!(back, text, "{coding:?}");
        }
    }

    #[test]
    fn a_flush_yields_a_decodable_prefix() {
        for coding in [Coding::Gzip, Coding::Brotli, Coding::Zstd] {
            let mut e = Encoder::new(coding, 5);
            let mut out = e.write(b"data: first event\n\n").unwrap().to_vec();
            out.extend_from_slice(&e.flush().unwrap());
            let mut back = vec![0u8; 64];
            let n = match coding {
                Coding::Gzip => flate2::read::GzDecoder::new(&out[..]).read(&mut back),
                Coding::Brotli => brotli::Decompressor::new(&out[..], 4096).read(&mut back),
                Coding::Zstd => zstd::stream::read::Decoder::new(&out[..])
                    .unwrap()
                    .read(&mut back),
            }
            .unwrap();
            assert_eq!(&back[..n], b"data: first event\n\n", "{coding:?}");
        }
    }
}
