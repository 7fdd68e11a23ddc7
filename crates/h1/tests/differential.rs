//! Differential test: the same random and mutated request streams go to our
//! parser and to hyper's HTTP/1 server (over an in-memory pipe). Every request
//! we accept, hyper must have read the same way: same method, same target, same
//! version, same body bytes. Where we refuse, hyper may do anything: we are
//! allowed to be stricter, never looser, than hyper (the parser the front door
//! ran on before its own core, and the one most Rust servers behind it run).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use proptest::prelude::*;
use tokio::io::AsyncWriteExt;

/// What hyper's server handed its service, in order: method, target (as
/// hyper's `Uri`), version minor, and the body (`None` if reading it failed).
type Seen = Vec<(String, http::Uri, u8, Option<Vec<u8>>)>;

fn hyper_reads(rt: &tokio::runtime::Runtime, input: &[u8]) -> Seen {
    rt.block_on(async {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let (client, server) = tokio::io::duplex(1 << 20);
        let record = seen.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let record = record.clone();
            async move {
                let method = req.method().to_string();
                let uri = req.uri().clone();
                let minor = u8::from(req.version() == http::Version::HTTP_11);
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .ok()
                    .map(|b| b.to_bytes().to_vec());
                record.lock().unwrap().push((method, uri, minor, body));
                Ok::<_, hyper::Error>(Response::new(Empty::<Bytes>::new()))
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            // Keep reading pipelined requests after our write side closes.
            .half_close(true)
            .serve_connection(TokioIo::new(server), svc);
        let (mut read_half, mut write_half) = tokio::io::split(client);
        write_half.write_all(input).await.unwrap();
        write_half.shutdown().await.unwrap();
        // Drain responses so hyper never blocks on a full pipe.
        let drain = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut read_half, &mut tokio::io::sink()).await;
        });
        let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
        drain.abort();
        let seen = seen.lock().unwrap().clone();
        seen
    })
}

fn check(rt: &tokio::runtime::Runtime, input: &[u8]) -> Result<(), TestCaseError> {
    let ours = common::ours(input);
    let theirs = hyper_reads(rt, input);
    if std::env::var_os("H1_DIFF_TRACE").is_some() {
        eprintln!(
            "TRACE ours={} refused={:?} hyper={}",
            ours.requests.len(),
            ours.refused,
            theirs.len()
        );
    }
    for (i, (method, target, minor, body)) in ours.requests.iter().enumerate() {
        let Some((m, uri, v, b)) = theirs.get(i) else {
            return Err(TestCaseError::fail(format!(
                "we read request {i} ({method} {target}), hyper did not; ours: {:?}\nhyper: {theirs:?}\ninput: {:?}",
                ours.requests,
                String::from_utf8_lossy(input)
            )));
        };
        let our_uri: http::Uri = target.parse().map_err(|e| {
            TestCaseError::fail(format!(
                "we accepted target {target:?} that http::Uri refuses: {e}"
            ))
        })?;
        prop_assert_eq!(
            method,
            m,
            "request {}, input {:?}",
            i,
            String::from_utf8_lossy(input)
        );
        prop_assert_eq!(
            &our_uri,
            uri,
            "request {}, input {:?}",
            i,
            String::from_utf8_lossy(input)
        );
        prop_assert_eq!(
            minor,
            v,
            "request {}, input {:?}",
            i,
            String::from_utf8_lossy(input)
        );
        prop_assert_eq!(
            Some(body),
            b.as_ref(),
            "request {}, input {:?}",
            i,
            String::from_utf8_lossy(input)
        );
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases()))]

    #[test]
    fn we_frame_requests_as_hyper_does_or_refuse(input in common::stream()) {
        thread_local!(static RT: tokio::runtime::Runtime = runtime());
        RT.with(|rt| check(rt, &input))?;
    }
}

/// Hand-picked streams, smuggling classics among them.
#[test]
fn known_streams() {
    let rt = runtime();
    for input in [
        &b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
    ] {
        let ours = common::ours(input);
        assert!(!ours.requests.is_empty() || ours.refused.is_some(), "{ours:?}");
        check(&rt, input).unwrap();
    }
}
