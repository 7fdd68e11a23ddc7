//! Differential test against the real `h2` crate (the HTTP/2 the front door
//! runs on today), over an in-memory pipe, both ways:
//!
//! - an `h2` client sends requests (many headers, Huffman-coded by h2, big
//!   blocks split into CONTINUATION, bodies ending in END_STREAM, a reset
//!   stream, a PING, and its closing GOAWAY) to a server made of our parser,
//!   our HPACK decoder, our encoders; it must read our responses as we wrote
//!   them;
//! - our encoders play the client to an `h2` server: it must read our
//!   requests as we wrote them, and we must read its responses, its
//!   WINDOW_UPDATEs, RST_STREAM, PING and GOAWAY.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use h2wire::conn::{Config, Connection, Event};
use h2wire::frame::{self, check_preface, setting, Frame, Settings, PREFACE};
use h2wire::hpack::{Decoder, Encoder, HeaderList, Indexing};
use h2wire::{write, ErrorCode};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

type Fields = Vec<(String, String)>;

#[derive(Debug, Clone)]
struct Exchange {
    path: String,
    req_headers: Fields,
    req_body: Vec<u8>,
    resp_headers: Fields,
    resp_body: Vec<u8>,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn sorted(mut f: Fields) -> Fields {
    f.sort();
    f
}

fn owned(list: &HeaderList) -> Fields {
    list.iter()
        .map(|(n, v)| {
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

/// What one side of our own saw on the wire, beyond the exchanges.
#[derive(Default)]
struct Seen {
    /// Per stream: decoded fields (pseudo-headers included) and body.
    streams: HashMap<u32, (Fields, Vec<u8>, bool)>,
    resets: Vec<(u32, ErrorCode)>,
    goaways: Vec<(u32, ErrorCode)>,
    pings: usize,
    ping_acks: usize,
    window_updates: Vec<(u32, u32)>,
    continuations: usize,
    settings: Settings,
    settings_acks: usize,
}

impl Seen {
    /// Everything but the streams (too long to print).
    fn summary(&self) -> String {
        format!(
            "resets {:?}, goaways {:?}, pings {}, ping acks {}, window updates {:?}, \
             continuations {}, settings acks {}",
            self.resets,
            self.goaways,
            self.pings,
            self.ping_acks,
            self.window_updates,
            self.continuations,
            self.settings_acks
        )
    }
}

/// Our side of a connection: frames in, handled by `on_frame`, frames out.
struct Wire {
    io: DuplexStream,
    buf: Vec<u8>,
    out: Vec<u8>,
    dec: Decoder,
    enc: Encoder,
    list: HeaderList,
    /// The field block being assembled (HEADERS + CONTINUATIONs).
    block: Vec<u8>,
    block_stream: u32,
    block_ends_stream: bool,
    /// Streams whose END_STREAM has been seen with their whole head.
    ended: Vec<u32>,
    /// Streams whose head (first field block) is complete.
    heads: Vec<u32>,
    seen: Seen,
}

impl Wire {
    fn new(io: DuplexStream) -> Wire {
        Wire {
            io,
            buf: Vec::new(),
            out: Vec::new(),
            dec: Decoder::new(4096, 1 << 20),
            enc: Encoder::new(),
            list: HeaderList::new(),
            block: Vec::new(),
            block_stream: 0,
            block_ends_stream: false,
            ended: Vec::new(),
            heads: Vec::new(),
            seen: Seen::default(),
        }
    }

    async fn flush(&mut self) {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await.unwrap();
            self.out.clear();
        }
    }

    /// Read once; false at end of stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let n = self.io.read(&mut chunk).await.unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Parse and handle every complete frame in the buffer; the streams that
    /// ended (END_STREAM seen) in this batch.
    fn handle_frames(&mut self) -> Vec<u32> {
        let mut pos = 0;
        while let Some((f, used)) =
            frame::parse(&self.buf[pos..], frame::DEFAULT_MAX_FRAME_SIZE).unwrap()
        {
            // Between HEADERS and END_HEADERS only CONTINUATION may come.
            if self.block_stream != 0 {
                assert!(
                    matches!(f, Frame::Continuation { stream, .. } if stream == self.block_stream),
                    "{f:?} inside a field block"
                );
            }
            match f {
                Frame::Settings { ack: false, params } => {
                    self.seen.settings.apply(params);
                    self.enc
                        .set_peer_max_table_size(self.seen.settings.header_table_size as usize);
                    write::settings_ack(&mut self.out);
                }
                Frame::Settings { ack: true, .. } => self.seen.settings_acks += 1,
                Frame::Headers {
                    stream,
                    block,
                    end_stream,
                    end_headers,
                    ..
                } => {
                    let entry = self.seen.streams.entry(stream).or_default();
                    entry.2 |= end_stream;
                    self.block_ends_stream = end_stream;
                    self.block.clear();
                    self.block.extend_from_slice(block);
                    if end_headers {
                        self.end_block(stream);
                    } else {
                        self.block_stream = stream;
                    }
                }
                Frame::Continuation {
                    stream,
                    block,
                    end_headers,
                } => {
                    self.seen.continuations += 1;
                    self.block.extend_from_slice(block);
                    if end_headers {
                        self.block_stream = 0;
                        self.end_block(stream);
                    }
                }
                Frame::Data {
                    stream,
                    data,
                    end_stream,
                    ..
                } => {
                    let entry = self.seen.streams.entry(stream).or_default();
                    entry.1.extend_from_slice(data);
                    entry.2 |= end_stream;
                    if end_stream {
                        self.ended.push(stream);
                    }
                }
                Frame::Ping { ack: false, data } => {
                    self.seen.pings += 1;
                    write::ping(&mut self.out, true, data);
                }
                Frame::Ping { ack: true, .. } => self.seen.ping_acks += 1,
                Frame::RstStream { stream, code } => self.seen.resets.push((stream, code)),
                Frame::GoAway {
                    last_stream, code, ..
                } => self.seen.goaways.push((last_stream, code)),
                Frame::WindowUpdate { stream, increment } => {
                    self.seen.window_updates.push((stream, increment))
                }
                Frame::Priority { .. } | Frame::Unknown { .. } => {}
            }
            pos += used;
        }
        self.buf.drain(..pos);
        std::mem::take(&mut self.ended)
    }

    fn end_block(&mut self, stream: u32) {
        self.dec.decode(&self.block, &mut self.list).unwrap();
        assert!(!self.list.too_large());
        let fields = owned(&self.list);
        // A second block on a stream is trailers: keep the first.
        let entry = self.seen.streams.entry(stream).or_default();
        if entry.0.is_empty() {
            entry.0 = fields;
            self.heads.push(stream);
        }
        if self.block_ends_stream {
            self.ended.push(stream);
        }
    }

    /// DATA frames no larger than the peer allows.
    fn send_data(&mut self, stream: u32, data: &[u8], end_stream: bool) {
        let max = self.seen.settings.max_frame_size as usize;
        let mut chunks = data.chunks(max).peekable();
        while let Some(chunk) = chunks.next() {
            write::data(
                &mut self.out,
                stream,
                chunk,
                end_stream && chunks.peek().is_none(),
            );
        }
    }

    /// Encode `fields` as one block and frame it.
    fn send_headers(&mut self, stream: u32, fields: &[(&str, &str, Indexing)], end_stream: bool) {
        let mut block = Vec::new();
        self.enc.begin_block(&mut block);
        for (n, v, how) in fields {
            self.enc
                .encode(n.as_bytes(), v.as_bytes(), *how, &mut block);
        }
        write::headers(
            &mut self.out,
            stream,
            &block,
            end_stream,
            self.seen.settings.max_frame_size,
        );
    }
}

fn indexing_for(name: &str) -> Indexing {
    match name {
        "set-cookie" | "authorization" => Indexing::Never,
        n if n.starts_with("x-idx") => Indexing::Incremental,
        _ => Indexing::Without,
    }
}

/// An `h2` client sending `ex` one after the other, then a PING, then a
/// stream it resets once the response head is in, then goodbye. Returns
/// each response's fields (`:status` included) and body.
fn spawn_h2_client(
    client_io: DuplexStream,
    ex: Vec<Exchange>,
) -> tokio::task::JoinHandle<Vec<(Fields, Vec<u8>)>> {
    tokio::spawn(async move {
        let (send, mut conn) = h2::client::Builder::new()
            .max_header_list_size(1 << 20)
            .initial_connection_window_size(1 << 20)
            .handshake::<_, Bytes>(client_io)
            .await
            .unwrap();
        let mut ping = conn.ping_pong().unwrap();
        let driver = tokio::spawn(conn);
        let mut got = Vec::new();
        for e in &ex {
            let mut req = http::Request::builder()
                .method(if e.req_body.is_empty() { "GET" } else { "POST" })
                .uri(format!("https://example.test{}", e.path));
            for (n, v) in &e.req_headers {
                let mut v = http::HeaderValue::from_str(v).unwrap();
                v.set_sensitive(n == "authorization");
                req = req.header(n.as_str(), v);
            }
            let mut send = send.clone().ready().await.unwrap();
            let (resp, mut body) = send
                .send_request(req.body(()).unwrap(), e.req_body.is_empty())
                .unwrap();
            if !e.req_body.is_empty() {
                body.send_data(Bytes::from(e.req_body.clone()), true)
                    .unwrap();
            }
            let resp = resp.await.unwrap();
            let status = resp.status().as_u16();
            let mut fields: Fields = resp
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
                .collect();
            fields.push((":status".into(), status.to_string()));
            let mut rb = resp.into_body();
            let mut data = Vec::new();
            while let Some(chunk) = rb.data().await {
                let chunk = chunk.unwrap();
                rb.flow_control().release_capacity(chunk.len()).unwrap();
                data.extend_from_slice(&chunk);
            }
            got.push((fields, data));
        }
        // A PING, then a stream opened and reset, then goodbye.
        ping.ping(h2::Ping::opaque()).await.unwrap();
        let mut send = send.ready().await.unwrap();
        let req = http::Request::post("https://example.test/reset")
            .body(())
            .unwrap();
        let (resp, mut body) = send.send_request(req, false).unwrap();
        let resp = resp.await.unwrap();
        body.send_reset(h2::Reason::CANCEL);
        drop((send, body, resp));
        let _ = tokio::time::timeout(Duration::from_secs(10), driver).await;
        got
    })
}

/// An `h2` client against our server.
fn h2_client_to_us(exchanges: &[Exchange]) {
    rt().block_on(async {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let client = spawn_h2_client(client_io, exchanges.to_vec());

        let mut wire = Wire::new(server_io);
        write::settings(
            &mut wire.out,
            &[
                (setting::MAX_CONCURRENT_STREAMS, 100),
                (setting::MAX_HEADER_LIST_SIZE, 1 << 20),
            ],
        );
        wire.flush().await;
        // The preface first.
        while !check_preface(&wire.buf).unwrap() {
            assert!(wire.fill().await, "closed before the preface");
        }
        wire.buf.drain(..PREFACE.len());
        let mut answered = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ended = wire.handle_frames();
            // The stream the client will reset gets its head at once, so the
            // client knows we have it before it resets it.
            for stream in std::mem::take(&mut wire.heads) {
                if wire.seen.streams[&stream]
                    .0
                    .iter()
                    .any(|(n, v)| n == ":path" && v == "/reset")
                {
                    wire.send_headers(stream, &[(":status", "200", Indexing::Without)], false);
                }
            }
            for stream in ended {
                let path = wire.seen.streams[&stream]
                    .0
                    .iter()
                    .find(|(n, _)| n == ":path")
                    .map(|(_, v)| v.clone())
                    .unwrap();
                let Some(e) = exchanges.iter().find(|e| e.path == path) else {
                    continue;
                };
                let mut fields: Vec<(&str, &str, Indexing)> =
                    vec![(":status", "200", Indexing::Without)];
                fields.extend(
                    e.resp_headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str(), indexing_for(n))),
                );
                let end = e.resp_body.is_empty();
                wire.send_headers(stream, &fields, end);
                if !end {
                    wire.send_data(stream, &e.resp_body, true);
                }
                answered += 1;
            }
            wire.flush().await;
            let open = tokio::time::timeout_at(deadline, wire.fill())
                .await
                .expect("timed out");
            if !open {
                break;
            }
        }
        wire.handle_frames();
        assert_eq!(answered, exchanges.len());
        let got = client.await.unwrap();

        // What h2 sent, as we decoded it.
        for e in exchanges {
            let (fields, body, ended) = wire
                .seen
                .streams
                .values()
                .find(|(f, _, _)| f.iter().any(|(n, v)| n == ":path" && *v == e.path))
                .unwrap();
            assert!(*ended);
            assert_eq!(body, &e.req_body);
            let mut want = e.req_headers.clone();
            want.push((
                ":method".into(),
                if e.req_body.is_empty() { "GET" } else { "POST" }.into(),
            ));
            want.push((":scheme".into(), "https".into()));
            want.push((":authority".into(), "example.test".into()));
            want.push((":path".into(), e.path.clone()));
            assert_eq!(sorted(fields.clone()), sorted(want));
            // Pseudo-headers first (RFC 9113 §8.3).
            let first_regular = fields
                .iter()
                .position(|(n, _)| !n.starts_with(':'))
                .unwrap_or(fields.len());
            assert!(fields[first_regular..]
                .iter()
                .all(|(n, _)| !n.starts_with(':')));
        }
        // What we sent, as h2 read it.
        for (e, (fields, body)) in exchanges.iter().zip(&got) {
            let mut want = e.resp_headers.clone();
            want.push((":status".into(), "200".into()));
            assert_eq!(sorted(fields.clone()), sorted(want));
            assert_eq!(body, &e.resp_body);
        }
        let s = &wire.seen;
        assert_eq!(s.pings, 1, "{}", s.summary());
        assert!(s.settings_acks >= 1);
        assert!(
            s.resets.iter().any(|&(_, code)| code == ErrorCode::CANCEL),
            "{}",
            s.summary()
        );
        assert_eq!(
            s.goaways.last().map(|g| g.1),
            Some(ErrorCode::NO_ERROR),
            "{}",
            s.summary()
        );
        assert!(
            s.window_updates
                .iter()
                .any(|&(st, inc)| st == 0 && inc > 900_000),
            "{}",
            s.summary()
        );
        if big_block(exchanges, |e| &e.req_headers) {
            assert!(s.continuations > 0, "a big block came without CONTINUATION");
        }
    });
}

/// An `h2` client against a server made of our [`Connection`]: the state
/// machine a front door driver will run, driven here the simplest way.
fn h2_client_to_our_connection(exchanges: &[Exchange]) {
    rt().block_on(async {
        let (client_io, mut io) = tokio::io::duplex(64 * 1024);
        let client = spawn_h2_client(client_io, exchanges.to_vec());
        let mut out = Vec::new();
        let mut conn = Connection::new(Config::default(), &mut out);
        let mut buf = Vec::new();
        let mut requests: HashMap<u32, (Fields, Vec<u8>)> = HashMap::new();
        // Responses whose body waits for the client's windows: (stream, body, sent).
        let mut sending: Vec<(u32, Vec<u8>, usize)> = Vec::new();
        let mut resets = Vec::new();
        let mut goaway = None;
        let mut reset_answered = false;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mut pos = 0;
            while let Some((ev, used)) = conn.recv(&buf[pos..], &mut out).unwrap() {
                pos += used;
                let ended = match ev {
                    Event::Request {
                        stream,
                        pseudo,
                        end_stream,
                    } => {
                        assert!(pseudo.path.is_some());
                        requests.insert(stream, (owned(conn.headers()), Vec::new()));
                        end_stream.then_some(stream)
                    }
                    Event::Data {
                        stream,
                        data,
                        end_stream,
                    } => {
                        requests.get_mut(&stream).unwrap().1.extend_from_slice(data);
                        conn.release(stream, data.len() as u32, &mut out);
                        end_stream.then_some(stream)
                    }
                    Event::Reset { stream, code } => {
                        resets.push((stream, code));
                        None
                    }
                    Event::GoAway { code, .. } => {
                        goaway = Some(code);
                        None
                    }
                    other => {
                        assert!(
                            matches!(other, Event::WindowOpened { .. } | Event::Nothing),
                            "{other:?}"
                        );
                        None
                    }
                };
                if let Some(stream) = ended {
                    let (fields, _) = &requests[&stream];
                    let path = &fields.iter().find(|(n, _)| n == ":path").unwrap().1;
                    let e = exchanges.iter().find(|e| &e.path == path).unwrap();
                    let hdrs = e
                        .resp_headers
                        .iter()
                        .map(|(n, v)| (n.as_bytes(), v.as_bytes()));
                    let end = e.resp_body.is_empty();
                    assert!(conn.send_response(stream, 200, hdrs, end, &mut out));
                    if !end {
                        sending.push((stream, e.resp_body.clone(), 0));
                    }
                }
                // The stream the client will reset: its head at once.
                if let Some((fields, _)) = requests.get(&conn.last_stream()) {
                    if !reset_answered && fields.iter().any(|(n, v)| n == ":path" && v == "/reset")
                    {
                        reset_answered = true;
                        let stream = conn.last_stream();
                        assert!(conn.send_response(stream, 200, [], false, &mut out));
                    }
                }
            }
            buf.drain(..pos);
            for (stream, body, sent) in &mut sending {
                *sent += conn.send_data(*stream, &body[*sent..], true, &mut out);
            }
            sending.retain(|(_, body, sent)| *sent < body.len());
            if !out.is_empty() {
                io.write_all(&out).await.unwrap();
                out.clear();
                conn.flushed();
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, io.read(&mut chunk))
                .await
                .expect("timed out")
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let got = client.await.unwrap();
        for (e, (fields, body)) in exchanges.iter().zip(&got) {
            let mut want = e.resp_headers.clone();
            want.push((":status".into(), "200".into()));
            assert_eq!(sorted(fields.clone()), sorted(want));
            assert_eq!(body, &e.resp_body);
        }
        for e in exchanges {
            let (fields, body) = requests
                .values()
                .find(|(f, _)| f.iter().any(|(n, v)| n == ":path" && *v == e.path))
                .unwrap();
            let mut want = expected_request(e);
            want.push((":scheme".into(), "https".into()));
            assert_eq!(sorted(fields.clone()), sorted(want));
            assert_eq!(body, &e.req_body);
        }
        assert_eq!(resets.len(), 1);
        assert_eq!(resets[0].1, ErrorCode::CANCEL);
        assert_eq!(goaway, Some(ErrorCode::NO_ERROR));
        assert!(sending.is_empty());
        let c = conn.counters();
        assert_eq!(c.requests as usize, exchanges.len() + 1);
        assert_eq!(c.resets_by_client, 1);
    });
}

/// Our client against an `h2` server.
fn us_to_h2_server(exchanges: &[Exchange]) {
    rt().block_on(async {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let ex = exchanges.to_vec();
        let server = tokio::spawn(async move {
            let mut conn = h2::server::Builder::new()
                .max_header_list_size(1 << 20)
                .initial_connection_window_size(1 << 20)
                .handshake::<_, Bytes>(server_io)
                .await
                .unwrap();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let mut handled = 0;
            loop {
                let next = tokio::select! {
                    r = conn.accept() => r,
                    Some(()) = rx.recv() => {
                        handled += 1;
                        if handled == ex.len() + 1 {
                            // All answered: goodbye (GOAWAY, PING, GOAWAY).
                            conn.graceful_shutdown();
                        }
                        continue;
                    }
                };
                let Some(r) = next else { break };
                let (req, mut respond) = r.unwrap();
                let tx = tx.clone();
                let ex = ex.clone();
                tokio::spawn(async move {
                    let path = req.uri().path_and_query().unwrap().as_str().to_string();
                    let method = req.method().to_string();
                    let authority = req.uri().authority().unwrap().to_string();
                    let mut fields: Fields = req
                        .headers()
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
                        .collect();
                    fields.push((":method".into(), method));
                    fields.push((":authority".into(), authority));
                    fields.push((":path".into(), path.clone()));
                    let mut body = req.into_body();
                    let mut data = Vec::new();
                    while let Some(chunk) = body.data().await {
                        let chunk = chunk.unwrap();
                        body.flow_control().release_capacity(chunk.len()).unwrap();
                        data.extend_from_slice(&chunk);
                    }
                    if path == "/reset" {
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                    } else {
                        let e = ex.iter().find(|e| e.path == path).unwrap();
                        assert_eq!(sorted(fields), sorted(expected_request(e)));
                        assert_eq!(data, e.req_body);
                        let mut resp = http::Response::builder().status(200);
                        for (n, v) in &e.resp_headers {
                            let mut v = http::HeaderValue::from_str(v).unwrap();
                            v.set_sensitive(n == "set-cookie");
                            resp = resp.header(n.as_str(), v);
                        }
                        let end = e.resp_body.is_empty();
                        let mut send = respond.send_response(resp.body(()).unwrap(), end).unwrap();
                        if !end {
                            send.send_data(Bytes::from(e.resp_body.clone()), true)
                                .unwrap();
                        }
                    }
                    let _ = tx.send(());
                });
            }
        });

        let mut wire = Wire::new(client_io);
        wire.out.extend_from_slice(PREFACE);
        write::settings(
            &mut wire.out,
            &[
                (setting::ENABLE_PUSH, 0),
                (setting::MAX_HEADER_LIST_SIZE, 1 << 20),
            ],
        );
        write::window_update(&mut wire.out, 0, 1 << 20);
        write::ping(&mut wire.out, false, *b"bigstep!");
        let mut stream = 1;
        let mut streams = HashMap::new();
        for e in exchanges {
            let method = if e.req_body.is_empty() { "GET" } else { "POST" };
            let mut fields = vec![
                (":method", method, Indexing::Incremental),
                (":scheme", "https", Indexing::Incremental),
                (":authority", "example.test", Indexing::Incremental),
                (":path", e.path.as_str(), Indexing::Without),
            ];
            fields.extend(
                e.req_headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str(), indexing_for(n))),
            );
            let end = e.req_body.is_empty();
            wire.send_headers(stream, &fields, end);
            if !end {
                // Split the body over two DATA frames, the first padded.
                let half = e.req_body.len() / 2;
                write::data_padded(&mut wire.out, stream, &e.req_body[..half], 7, false);
                write::data(&mut wire.out, stream, &e.req_body[half..], true);
            }
            streams.insert(stream, e);
            stream += 2;
        }
        let reset_stream = stream;
        wire.send_headers(
            reset_stream,
            &[
                (":method", "GET", Indexing::Incremental),
                (":scheme", "https", Indexing::Incremental),
                (":authority", "example.test", Indexing::Incremental),
                (":path", "/reset", Indexing::Without),
            ],
            true,
        );
        wire.flush().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            wire.handle_frames();
            wire.flush().await;
            let open = tokio::time::timeout_at(deadline, wire.fill())
                .await
                .expect("timed out");
            if !open {
                break;
            }
        }
        wire.handle_frames();
        server.await.unwrap();

        let s = &wire.seen;
        for (id, e) in &streams {
            let (fields, body, ended) = &s.streams[id];
            assert!(*ended);
            let mut want = e.resp_headers.clone();
            want.push((":status".into(), "200".into()));
            assert_eq!(sorted(fields.clone()), sorted(want));
            assert_eq!(body, &e.resp_body);
        }
        assert!(
            s.resets
                .contains(&(reset_stream, ErrorCode::REFUSED_STREAM)),
            "{}",
            s.summary()
        );
        assert_eq!(s.ping_acks, 1, "{}", s.summary());
        // The PING of h2's graceful shutdown.
        assert!(s.pings >= 1, "{}", s.summary());
        assert!(s.settings_acks >= 1);
        // h2 opened its connection window towards 1 MiB (less what our
        // bodies had used of it by then).
        assert!(
            s.window_updates
                .iter()
                .any(|&(st, inc)| st == 0 && inc > 900_000),
            "{}",
            s.summary()
        );
        if big_block(exchanges, |e| &e.resp_headers) {
            assert!(s.continuations > 0, "a big block came without CONTINUATION");
        }
        // Graceful shutdown: GOAWAY(2^31-1), then GOAWAY(last stream), NO_ERROR.
        assert_eq!(
            s.goaways.last(),
            Some(&(reset_stream, ErrorCode::NO_ERROR)),
            "{}",
            s.summary()
        );
    });
}

fn big_block(exchanges: &[Exchange], fields: impl Fn(&Exchange) -> &Fields) -> bool {
    exchanges.iter().any(|e| {
        fields(e)
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
            > 20_000
    })
}

/// A printable value that Huffman coding does not shrink much.
fn noise(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'!' + (i * 37 % 93) as u8))
        .collect()
}

fn expected_request(e: &Exchange) -> Fields {
    let mut want = e.req_headers.clone();
    want.push((
        ":method".into(),
        if e.req_body.is_empty() { "GET" } else { "POST" }.into(),
    ));
    want.push((":authority".into(), "example.test".into()));
    want.push((":path".into(), e.path.clone()));
    want
}

/// Header names h2 and `http` accept in a request or response (no
/// connection-specific ones, no pseudo-headers).
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "content-type",
            "accept",
            "cookie",
            "user-agent",
            "authorization",
            "set-cookie",
            "cache-control",
            "x-idx-repeat",
        ])
        .prop_map(String::from),
        "x-idx-[a-z]{1,6}",
        "[a-z][a-z0-9-]{0,24}",
    ]
    .prop_filter("not connection-specific", |n| {
        !matches!(
            n.as_str(),
            "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "upgrade"
                | "te"
                | "host"
        )
    })
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[!-~]([ -~]{0,80}[!-~])?",
        "[a-z0-9=;/.]{1,20}",
    ]
}

fn exchange(i: usize) -> impl Strategy<Value = Exchange> {
    (
        prop::collection::vec((name(), value()), 0..40),
        prop::collection::vec(any::<u8>(), 0..3000),
        prop::collection::vec((name(), value()), 0..40),
        prop::collection::vec(any::<u8>(), 0..3000),
    )
        .prop_map(
            move |(req_headers, req_body, resp_headers, resp_body)| Exchange {
                path: format!("/item/{i}?q=1"),
                req_headers,
                req_body,
                resp_headers,
                resp_body,
            },
        )
}

fn exchanges() -> impl Strategy<Value = Vec<Exchange>> {
    (1usize..6).prop_flat_map(|n| (0..n).map(exchange).collect::<Vec<_>>())
}

/// Two exchanges whose header blocks need CONTINUATION (a 30 KB cookie and
/// 300 fields), both ways.
fn big_blocks() -> Vec<Exchange> {
    let many: Fields = (0..300)
        .map(|i| (format!("x-field-{i}"), format!("value number {i}")))
        .collect();
    vec![
        Exchange {
            path: "/big".into(),
            req_headers: vec![
                ("cookie".into(), noise(30_000)),
                ("accept".into(), "*/*".into()),
            ],
            req_body: b"hello".to_vec(),
            resp_headers: vec![("set-cookie".into(), noise(25_000))],
            resp_body: vec![7; 20_000],
        },
        Exchange {
            path: "/many".into(),
            req_headers: many.clone(),
            req_body: Vec::new(),
            resp_headers: many,
            resp_body: Vec::new(),
        },
    ]
}

#[test]
fn h2_client_reads_our_responses_big_blocks() {
    h2_client_to_us(&big_blocks());
}

#[test]
fn h2_client_and_our_connection_big_blocks() {
    h2_client_to_our_connection(&big_blocks());
}

#[test]
fn h2_server_reads_our_requests_big_blocks() {
    us_to_h2_server(&big_blocks());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn h2_client_and_our_server_agree(ex in exchanges()) {
        h2_client_to_us(&ex);
    }

    #[test]
    fn h2_client_and_our_connection_agree(ex in exchanges()) {
        h2_client_to_our_connection(&ex);
    }

    #[test]
    fn our_client_and_h2_server_agree(ex in exchanges()) {
        us_to_h2_server(&ex);
    }
}
