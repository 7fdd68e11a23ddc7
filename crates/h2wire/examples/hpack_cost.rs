//! What h2wire costs per request, for counting under callgrind
//! (`bench/h2wire-callgrind.sh`): only `measured` is counted
//! (`--toggle-collect`), the client side's encoding is prepared before it.
//!
//!   hpack_cost MODE N
//!
//! Modes:
//! - `decode-h2load`: HPACK-decode N request heads as h2load sends them
//!   (nghttp2's encoder: after the first, every field comes from the table);
//! - `decode-chromium`: the same for a Chromium navigation head (17 fields,
//!   the path changing each time);
//! - `encode-response`: HPACK-encode N response heads (`:status`, `server`,
//!   `date`, `content-type`, `content-length`), as the front door would;
//! - `conn-h2load`: N requests through [`Connection`]: the HEADERS frame
//!   parsed, decoded and checked, the response head and a 100-byte body
//!   written as frames. The part of the front door's per-request cost that
//!   h2 + hyper spend today (about 24,000 instructions, BENCHMARKS.md).

use h2wire::conn::{Config, Connection, Event};
use h2wire::frame::PREFACE;
use h2wire::hpack::{Decoder, Encoder, HeaderList, Indexing};
use h2wire::write;

const H2LOAD: &[(&str, &str)] = &[
    (":method", "GET"),
    (":path", "/"),
    (":scheme", "http"),
    (":authority", "127.0.0.1:18681"),
    ("user-agent", "h2load nghttp2/1.52.0"),
];

fn chromium(i: usize) -> Vec<(String, String)> {
    let path = format!("/app/page/{i}?session=abc123");
    [
        (":method", "GET"),
        (":authority", "shop.example.com"),
        (":scheme", "https"),
        (":path", path.as_str()),
        ("sec-ch-ua", "\"Chromium\";v=\"120\", \"Not?A_Brand\";v=\"8\""),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", "\"Linux\""),
        ("upgrade-insecure-requests", "1"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-user", "?1"),
        ("sec-fetch-dest", "document"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-US,en;q=0.9"),
        ("cookie", "session=abc123; theme=dark"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

/// Blocks as a client's encoder writes them: everything indexed.
fn blocks(n: usize, fields: impl Fn(usize) -> Vec<(String, String)>) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new();
    (0..n)
        .map(|i| {
            let mut b = Vec::new();
            enc.begin_block(&mut b);
            for (name, value) in fields(i) {
                enc.encode(
                    name.as_bytes(),
                    value.as_bytes(),
                    Indexing::Incremental,
                    &mut b,
                );
            }
            b
        })
        .collect()
}

#[inline(never)]
fn measured_decode(blocks: &[Vec<u8>]) -> usize {
    let mut dec = Decoder::default();
    let mut list = HeaderList::new();
    let mut fields = 0;
    for b in blocks {
        dec.decode(b, &mut list).unwrap();
        fields += list.len();
    }
    fields
}

#[inline(never)]
fn measured_encode(n: usize) -> usize {
    let mut enc = Encoder::new();
    let mut out = Vec::with_capacity(256);
    let mut total = 0;
    for i in 0..n {
        out.clear();
        enc.begin_block(&mut out);
        enc.encode_status(200, &mut out);
        enc.encode(b"server", b"bigstep", Indexing::Incremental, &mut out);
        let date = if i % 2 == 0 {
            &b"Fri, 04 Dec 2026 20:00:00 GMT"[..]
        } else {
            b"Fri, 04 Dec 2026 20:00:01 GMT"
        };
        enc.encode(b"date", date, Indexing::Without, &mut out);
        enc.encode(
            b"content-type",
            b"text/plain",
            Indexing::Incremental,
            &mut out,
        );
        enc.encode(b"content-length", b"100", Indexing::Without, &mut out);
        total += out.len();
    }
    total
}

#[inline(never)]
fn measured_conn(conn: &mut Connection, input: &[u8], body: &[u8]) -> usize {
    let mut out = Vec::with_capacity(16 * 1024);
    let mut pos = 0;
    let mut answered = 0;
    let fields: [(&[u8], &[u8]); 4] = [
        (b"server", b"bigstep"),
        (b"date", b"Fri, 04 Dec 2026 20:00:00 GMT"),
        (b"content-type", b"text/plain"),
        (b"content-length", b"100"),
    ];
    while let Some((ev, used)) = conn.recv(&input[pos..], &mut out).unwrap() {
        pos += used;
        if let Event::Request { stream, .. } = ev {
            conn.send_response(stream, 200, fields, false, &mut out);
            conn.send_data(stream, body, true, &mut out);
            answered += 1;
        }
        out.clear();
        conn.flushed();
    }
    answered
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("decode-h2load");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let result = match mode {
        "decode-h2load" => {
            let b = blocks(n, |_| {
                H2LOAD
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect()
            });
            measured_decode(&b)
        }
        "decode-chromium" => measured_decode(&blocks(n, chromium)),
        "encode-response" => measured_encode(n),
        "conn-h2load" => {
            let mut input = PREFACE.to_vec();
            write::settings(&mut input, &[]);
            write::window_update(&mut input, 0, (1 << 31) - 1 - 65_535);
            for (i, b) in blocks(n, |_| {
                H2LOAD
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect()
            })
            .iter()
            .enumerate()
            {
                write::headers(&mut input, 2 * i as u32 + 1, b, true, 16_384);
            }
            let mut out = Vec::new();
            let mut conn = Connection::new(Config::default(), &mut out);
            measured_conn(&mut conn, &input, &[b'x'; 100])
        }
        other => panic!("unknown mode {other}"),
    };
    println!("{mode} {n}: {result}");
}
