//! The front door's own HTTP/1 core (crates/frontdoor/src/client_conn.rs), on
//! what a client sees of it: framing chosen for the client's version, keep-alive
//! for HTTP/1.0 clients, `100 Continue` only when it is still useful, a request
//! whose body was not read closing its connection cleanly. The real binary on
//! port 0, a real backend, raw sockets.

use std::time::Duration;

use testkit::backend::Backend;
use testkit::client::{raw, read_until_close};
use testkit::process::FrontDoorProc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");

fn one_server(addr: std::net::SocketAddr) -> String {
    format!("[[balance.servers]]\nname = \"a\"\naddress = \"{addr}\"\n")
}

/// Read one response with a `Content-Length` body: (head, body).
async fn read_response(s: &mut TcpStream) -> (String, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .expect("a content-length")
                    .trim()
                    .parse()
                    .unwrap();
                if got.len() >= end + 4 + length {
                    let body = String::from_utf8_lossy(&got[end + 4..end + 4 + length]).to_string();
                    return (head, body);
                }
            }
            let n = s.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed mid-response: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a response in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_client_that_asks_for_keep_alive_keeps_its_connection() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &one_server(a.addr));
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = read_response(&mut s).await;
        // Our own version, and keep-alive said out loud, as HTTP/1.0 needs.
        assert!(head.starts_with("http/1.1 200 "), "{head}");
        assert!(head.contains("\r\nconnection: keep-alive"), "{head}");
        assert!(body.contains("hello from a real HTTP server"), "{body}");
    }
    assert_eq!(a.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_unknown_length_is_chunked_for_http11_and_close_delimited_for_http10() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &one_server(a.addr));
    // The backend streams this one without a length.
    let http11 = raw(
        fd.addr,
        b"GET /sse?events=1&text=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    let lower = http11.to_ascii_lowercase();
    assert!(
        lower.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{http11}"
    );
    assert!(
        http11.ends_with("data: event 0\n\n\r\n0\r\n\r\n"),
        "{http11:?}"
    );

    let http10 = raw(
        fd.addr,
        b"GET /sse?events=1&text=1 HTTP/1.0\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    let lower = http10.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200 "), "{http10}");
    assert!(
        !lower.contains("transfer-encoding"),
        "an HTTP/1.0 client cannot take chunked: {http10}"
    );
    assert!(lower.contains("\r\nconnection: close\r\n"), "{http10}");
    assert!(http10.ends_with("\r\n\r\ndata: event 0\n\n"), "{http10:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_100_continue_once_the_body_is_already_there() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &one_server(a.addr));
    let resp = raw(
        fd.addr,
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello",
        Duration::from_secs(10),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200 "), "{resp}");
    assert!(!resp.contains("100 Continue"), "{resp}");
    assert!(resp.ends_with("\r\n\r\n5"), "{resp:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_with_bodies_are_answered_in_order() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &one_server(a.addr));
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    s.write_all(
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
          POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n\
          GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .unwrap();
    let (_, first) = read_response(&mut s).await;
    let (_, second) = read_response(&mut s).await;
    let (_, third) = read_response(&mut s).await;
    assert_eq!((first.as_str(), second.as_str()), ("3", "4"));
    assert!(third.contains("hello from a real HTTP server"), "{third}");
    assert_eq!(a.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_the_server_did_not_read_closes_the_connection_cleanly() {
    let a = Backend::start("a").await;
    let fd = FrontDoorProc::start(BIN, &one_server(a.addr));
    let mut s = TcpStream::connect(fd.addr).await.unwrap();
    // `/` answers without reading the body; we send only the start of it.
    s.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n0123456789")
        .await
        .unwrap();
    // The answer arrives whole, says the connection ends, and it does (where
    // the next request would start is unknown).
    let all = read_until_close(&mut s, Duration::from_secs(10)).await;
    let lower = all.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200 "), "{all}");
    assert!(lower.contains("\r\nconnection: close\r\n"), "{all}");
    assert!(all.contains("hello from a real HTTP server"), "{all}");
    assert_eq!(a.hits(), 1);
}
