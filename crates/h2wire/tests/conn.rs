//! The connection state machine, driven frame by frame as a client would:
//! requests and responses, flow control both ways, stream limits and ids,
//! and each flood defence with the counter it moves.

use h2wire::conn::{Config, ConnError, Connection, Event};
use h2wire::frame::{self, setting, Frame, PREFACE};
use h2wire::hpack::{Decoder, Encoder, HeaderList, Indexing};
use h2wire::{write, ErrorCode};

/// What the server wrote, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Settings(Vec<(u16, u32)>),
    SettingsAck,
    WindowUpdate(u32, u32),
    Rst(u32, ErrorCode),
    GoAway(u32, ErrorCode),
    PingAck([u8; 8]),
    Ping([u8; 8]),
    Headers(u32, Vec<(String, String)>, bool),
    Data(u32, usize, bool),
}

/// An event, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Request(u32, Vec<(String, String)>, bool),
    TooLarge(u32),
    Trailers(u32),
    Data(u32, Vec<u8>, bool),
    Reset(u32, ErrorCode),
    Window(u32),
    GoAway(u32, ErrorCode),
    PingAck([u8; 8]),
}

fn fields(list: &HeaderList) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into(),
                String::from_utf8_lossy(v).into(),
            )
        })
        .collect()
}

struct Client {
    conn: Connection,
    out: Vec<u8>,
    enc: Encoder,
    dec: Decoder,
    list: HeaderList,
}

impl Client {
    /// A connection after the preface and an empty client SETTINGS, with
    /// what the server said at start drained.
    fn new(cfg: Config) -> Client {
        let mut out = Vec::new();
        let conn = Connection::new(cfg, &mut out);
        let mut c = Client {
            conn,
            out,
            enc: Encoder::new(),
            dec: Decoder::new(4096, 1 << 20),
            list: HeaderList::new(),
        };
        let start = c.take_out();
        assert!(matches!(start[0], Out::Settings(_)), "{start:?}");
        let mut bytes = PREFACE.to_vec();
        write::settings(&mut bytes, &[]);
        let (evs, res) = c.feed(&bytes);
        assert_eq!((evs, res), (vec![], Ok(())));
        assert_eq!(c.take_out(), [Out::SettingsAck]);
        c
    }

    /// Feed bytes; the events until the bytes run out or the connection fails.
    fn feed(&mut self, mut bytes: &[u8]) -> (Vec<Ev>, Result<(), ConnError>) {
        let mut evs = Vec::new();
        loop {
            match self.conn.recv(bytes, &mut self.out) {
                Ok(None) => return (evs, Ok(())),
                Ok(Some((ev, used))) => {
                    let owned = match ev {
                        Event::Request {
                            stream, end_stream, ..
                        } => Some(Ev::Request(stream, fields(self.conn.headers()), end_stream)),
                        Event::HeadersTooLarge { stream, .. } => Some(Ev::TooLarge(stream)),
                        Event::Trailers { stream } => Some(Ev::Trailers(stream)),
                        Event::Data {
                            stream,
                            data,
                            end_stream,
                        } => Some(Ev::Data(stream, data.to_vec(), end_stream)),
                        Event::Reset { stream, code } => Some(Ev::Reset(stream, code)),
                        Event::WindowOpened { stream } => Some(Ev::Window(stream)),
                        Event::GoAway { last_stream, code } => Some(Ev::GoAway(last_stream, code)),
                        Event::PingAck { data } => Some(Ev::PingAck(data)),
                        Event::Nothing => None,
                    };
                    evs.extend(owned);
                    bytes = &bytes[used..];
                }
                Err(e) => return (evs, Err(e)),
            }
        }
    }

    fn take_out(&mut self) -> Vec<Out> {
        let bytes = std::mem::take(&mut self.out);
        let mut outs = Vec::new();
        let mut pos = 0;
        let mut block = Vec::new();
        while pos < bytes.len() {
            let (f, used) = frame::parse(&bytes[pos..], frame::MAX_MAX_FRAME_SIZE)
                .unwrap()
                .unwrap();
            pos += used;
            outs.push(match f {
                Frame::Settings { ack: false, params } => Out::Settings(params.iter().collect()),
                Frame::Settings { ack: true, .. } => Out::SettingsAck,
                Frame::WindowUpdate { stream, increment } => Out::WindowUpdate(stream, increment),
                Frame::RstStream { stream, code } => Out::Rst(stream, code),
                Frame::GoAway {
                    last_stream, code, ..
                } => Out::GoAway(last_stream, code),
                Frame::Ping { ack: true, data } => Out::PingAck(data),
                Frame::Ping { ack: false, data } => Out::Ping(data),
                Frame::Headers {
                    stream,
                    block: b,
                    end_stream,
                    end_headers,
                    ..
                } => {
                    block.clear();
                    block.extend_from_slice(b);
                    assert!(end_headers, "no CONTINUATION expected here");
                    self.dec.decode(&block, &mut self.list).unwrap();
                    Out::Headers(stream, fields(&self.list), end_stream)
                }
                Frame::Data {
                    stream,
                    data,
                    end_stream,
                    ..
                } => Out::Data(stream, data.len(), end_stream),
                other => panic!("server sent {other:?}"),
            });
        }
        outs
    }

    fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        self.enc.begin_block(&mut b);
        for (n, v) in fields {
            self.enc
                .encode(n.as_bytes(), v.as_bytes(), Indexing::Without, &mut b);
        }
        b
    }

    fn request(&mut self, stream: u32, path: &str, end_stream: bool) -> Vec<u8> {
        let method = if end_stream { "GET" } else { "POST" };
        let block = self.block(&[
            (":method", method),
            (":scheme", "https"),
            (":authority", "a.test"),
            (":path", path),
        ]);
        let mut bytes = Vec::new();
        write::headers(&mut bytes, stream, &block, end_stream, 16_384);
        bytes
    }
}

fn get(stream: u32, path: &str, end: bool) -> Ev {
    let method = if end { "GET" } else { "POST" };
    Ev::Request(
        stream,
        [
            (":method", method),
            (":scheme", "https"),
            (":authority", "a.test"),
            (":path", path),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect(),
        end,
    )
}

fn calm(reason: &'static str) -> Result<(), ConnError> {
    Err(ConnError {
        code: ErrorCode::ENHANCE_YOUR_CALM,
        reason,
    })
}

#[test]
fn settings_at_start() {
    let mut out = Vec::new();
    let cfg = Config {
        max_concurrent_streams: 50,
        ..Config::default()
    };
    let _conn = Connection::new(cfg, &mut out);
    let mut c = Client::new(cfg);
    c.out = out;
    let start = c.take_out();
    let Out::Settings(params) = &start[0] else {
        panic!()
    };
    assert!(params.contains(&(setting::MAX_CONCURRENT_STREAMS, 50)));
    assert!(params.contains(&(setting::ENABLE_PUSH, 0)));
    assert_eq!(start[1], Out::WindowUpdate(0, 1024 * 1024 - 65_535));
}

#[test]
fn a_request_and_its_response() {
    let mut c = Client::new(Config::default());
    let req = c.request(1, "/hello", true);
    let (evs, res) = c.feed(&req);
    assert_eq!(res, Ok(()));
    assert_eq!(evs, [get(1, "/hello", true)]);
    assert_eq!(c.conn.counters().requests, 1);
    let mut out = Vec::new();
    let hdrs: [(&[u8], &[u8]); 2] = [(b"content-type", b"text/plain"), (b"server", b"bigstep")];
    assert!(c.conn.send_response(1, 200, hdrs, false, &mut out));
    assert_eq!(c.conn.send_data(1, b"hello", true, &mut out), 5);
    c.out = out;
    let outs = c.take_out();
    assert_eq!(
        outs,
        [
            Out::Headers(
                1,
                vec![
                    (":status".into(), "200".into()),
                    ("content-type".into(), "text/plain".into()),
                    ("server".into(), "bigstep".into())
                ],
                false
            ),
            Out::Data(1, 5, true)
        ]
    );
    assert_eq!(c.conn.open_streams(), 0);
    // Idle: the per-request buffers can go; the next request still works.
    c.conn.trim();
    let req = c.request(3, "/hello", true);
    assert_eq!(c.feed(&req).0, [get(3, "/hello", true)]);
    // The stream is closed: nothing more goes out on it.
    let mut out = Vec::new();
    assert!(!c.conn.send_response(1, 200, [], true, &mut out));
    assert!(out.is_empty());
}

#[test]
fn answered_before_the_body_ended() {
    let mut c = Client::new(Config::default());
    let req = c.request(1, "/early", false);
    assert_eq!(c.feed(&req).1, Ok(()));
    let mut out = Vec::new();
    // A 413 with END_STREAM while the body is still coming.
    assert!(c.conn.send_response(1, 413, [], true, &mut out));
    // Our side is over: nothing more may be sent on it...
    assert_eq!(c.conn.send_capacity(1), 0);
    assert_eq!(c.conn.send_data(1, b"late", true, &mut out), 0);
    assert!(!c.conn.send_response(1, 200, [], true, &mut out));
    // ...but the client's body is still read, and ends the stream.
    let mut bytes = Vec::new();
    write::data(&mut bytes, 1, b"rest", true);
    assert_eq!(c.feed(&bytes).0, [Ev::Data(1, b"rest".to_vec(), true)]);
    assert_eq!(c.conn.open_streams(), 0);
    c.out = out;
    assert_eq!(
        c.take_out(),
        [Out::Headers(
            1,
            vec![(":status".into(), "413".into())],
            true
        )]
    );
}

#[test]
fn request_body_and_receive_windows() {
    let cfg = Config {
        initial_window_size: 65_535,
        ..Config::default()
    };
    let mut c = Client::new(cfg);
    let mut bytes = c.request(1, "/up", false);
    write::data(&mut bytes, 1, &[1; 16_384], false);
    write::data_padded(&mut bytes, 1, &[2; 100], 50, false);
    let (evs, res) = c.feed(&bytes);
    assert_eq!(res, Ok(()));
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[2], Ev::Data(1, vec![2; 100], false));
    // Consuming half a window earns a WINDOW_UPDATE (padding is released
    // at once, the data when the driver says so).
    let mut out = Vec::new();
    c.conn.release(1, 16_384 + 100, &mut out);
    assert!(out.is_empty());
    let mut bytes = Vec::new();
    write::data(&mut bytes, 1, &[4; 16_384], false);
    assert_eq!(c.feed(&bytes).1, Ok(()));
    c.conn.release(1, 16_384, &mut out);
    c.out = out;
    assert_eq!(c.take_out(), [Out::WindowUpdate(1, 2 * 16_384 + 151)]);
    // The stream window is back to 65,535: one byte more than that is a
    // stream error, the connection goes on.
    let mut bytes = Vec::new();
    for _ in 0..4 {
        write::data(&mut bytes, 1, &[3; 16_384], false);
    }
    let (evs, res) = c.feed(&bytes);
    assert_eq!(res, Ok(()));
    assert_eq!(
        evs.last(),
        Some(&Ev::Reset(1, ErrorCode::FLOW_CONTROL_ERROR))
    );
    assert!(c
        .take_out()
        .contains(&Out::Rst(1, ErrorCode::FLOW_CONTROL_ERROR)));
    // Body then END_STREAM on a new stream, then a trailer block.
    let mut bytes = c.request(3, "/t", false);
    write::data(&mut bytes, 3, b"abc", false);
    let trailers = c.block(&[("x-checksum", "1")]);
    write::headers(&mut bytes, 3, &trailers, true, 16_384);
    let (evs, res) = c.feed(&bytes);
    assert_eq!(res, Ok(()));
    assert_eq!(
        evs[1..],
        [Ev::Data(3, b"abc".to_vec(), false), Ev::Trailers(3)]
    );
    // Trailers without END_STREAM are malformed.
    let mut bytes = c.request(5, "/t", false);
    let trailers = c.block(&[("x-checksum", "1")]);
    write::headers(&mut bytes, 5, &trailers, false, 16_384);
    let (evs, _) = c.feed(&bytes);
    assert_eq!(evs.last(), Some(&Ev::Reset(5, ErrorCode::PROTOCOL_ERROR)));
}

#[test]
fn the_connection_window_bounds_everything() {
    let cfg = Config {
        initial_window_size: 1 << 20,
        connection_window: 65_535,
        ..Config::default()
    };
    let mut c = Client::new(cfg);
    let mut bytes = c.request(1, "/up", false);
    for _ in 0..4 {
        write::data(&mut bytes, 1, &[0; 16_384], false);
    }
    let (_, res) = c.feed(&bytes);
    assert_eq!(res.unwrap_err().code, ErrorCode::FLOW_CONTROL_ERROR);
    assert_eq!(
        c.take_out(),
        [Out::GoAway(1, ErrorCode::FLOW_CONTROL_ERROR)]
    );
}

#[test]
fn send_windows() {
    let mut c = Client::new(Config::default());
    let req = c.request(1, "/big", true);
    assert_eq!(c.feed(&req).1, Ok(()));
    let mut out = Vec::new();
    c.conn.send_response(1, 200, [], false, &mut out);
    let body = vec![9u8; 100_000];
    // The client's windows start at 65,535.
    assert_eq!(c.conn.send_capacity(1), 65_535);
    let sent = c.conn.send_data(1, &body, true, &mut out);
    assert_eq!(sent, 65_535);
    c.out = out;
    let outs = c.take_out();
    assert_eq!(
        outs[1..],
        [
            Out::Data(1, 16_384, false),
            Out::Data(1, 16_384, false),
            Out::Data(1, 16_384, false),
            Out::Data(1, 16_383, false)
        ]
    );
    assert_eq!(c.conn.send_capacity(1), 0);
    // The stream window opens; the connection's is still shut.
    let mut bytes = Vec::new();
    write::window_update(&mut bytes, 1, 50_000);
    assert_eq!(c.feed(&bytes).0, [Ev::Window(1)]);
    assert_eq!(c.conn.send_capacity(1), 0);
    // A larger INITIAL_WINDOW_SIZE opens every stream by the difference.
    bytes.clear();
    write::settings(&mut bytes, &[(setting::INITIAL_WINDOW_SIZE, 65_535 + 10)]);
    write::window_update(&mut bytes, 0, 40_000);
    assert_eq!(c.feed(&bytes).0, [Ev::Window(0), Ev::Window(0)]);
    assert_eq!(c.conn.send_capacity(1), 40_000);
    let mut out = Vec::new();
    assert_eq!(c.conn.send_data(1, &body[sent..], true, &mut out), 34_465);
    assert_eq!(c.conn.open_streams(), 0);
    // A window past 2^31-1 is a flow-control error.
    bytes.clear();
    write::window_update(&mut bytes, 0, frame::MAX_WINDOW);
    assert_eq!(
        c.feed(&bytes).1.unwrap_err().code,
        ErrorCode::FLOW_CONTROL_ERROR
    );
}

#[test]
fn concurrent_streams_beyond_the_limit_are_refused() {
    let cfg = Config {
        max_concurrent_streams: 2,
        ..Config::default()
    };
    let mut c = Client::new(cfg);
    let mut bytes = c.request(1, "/a", false);
    bytes.extend(c.request(3, "/b", false));
    bytes.extend(c.request(5, "/c", false));
    let (evs, res) = c.feed(&bytes);
    assert_eq!(res, Ok(()));
    assert_eq!(evs.len(), 2);
    assert_eq!(c.take_out(), [Out::Rst(5, ErrorCode::REFUSED_STREAM)]);
    assert_eq!(c.conn.counters().refused_streams, 1);
    // DATA on the refused (closed) stream: STREAM_CLOSED, connection fine.
    let mut bytes = Vec::new();
    write::data(&mut bytes, 5, b"x", false);
    assert_eq!(c.feed(&bytes), (vec![], Ok(())));
    assert_eq!(c.take_out(), [Out::Rst(5, ErrorCode::STREAM_CLOSED)]);
}

#[test]
fn rapid_reset_ends_the_connection() {
    let cfg = Config {
        max_rapid_resets: 10,
        ..Config::default()
    };
    let mut c = Client::new(cfg);
    let mut stream = 1;
    let mut result = Ok(());
    let mut rounds = 0;
    while result.is_ok() && rounds < 100 {
        let mut bytes = c.request(stream, "/x", true);
        write::rst_stream(&mut bytes, stream, ErrorCode::CANCEL);
        result = c.feed(&bytes).1;
        stream += 2;
        rounds += 1;
    }
    assert_eq!(result, calm("rapid-reset"));
    assert_eq!(rounds, 11);
    assert_eq!(c.conn.counters().rapid_reset_goaways, 1);
    assert_eq!(
        c.take_out(),
        [Out::GoAway(21, ErrorCode::ENHANCE_YOUR_CALM)]
    );

    // Streams refused over the concurrency limit count too: opening them
    // in a loop costs us a decode and a frame each.
    let cfg1 = Config {
        max_concurrent_streams: 1,
        ..cfg
    };
    let mut c = Client::new(cfg1);
    let req = c.request(1, "/held", false);
    assert_eq!(c.feed(&req).1, Ok(()));
    let mut result = Ok(());
    let mut stream = 3;
    while result.is_ok() && stream < 200 {
        let req = c.request(stream, "/x", true);
        result = c.feed(&req).1;
        stream += 2;
    }
    assert_eq!(result, calm("rapid-reset"));
    assert_eq!(c.conn.counters().refused_streams, 11);

    // Streams answered before their reset do not count.
    let mut c = Client::new(cfg);
    for i in 0..50 {
        let stream = 2 * i + 1;
        let req = c.request(stream, "/x", false);
        assert_eq!(c.feed(&req).1, Ok(()));
        let mut out = Vec::new();
        c.conn.send_response(stream, 200, [], true, &mut out);
        let mut bytes = Vec::new();
        write::rst_stream(&mut bytes, stream, ErrorCode::NO_ERROR);
        assert_eq!(c.feed(&bytes).1, Ok(()));
    }
}

#[test]
fn continuation_flood_is_refused_before_decoding() {
    let cfg = Config {
        max_header_block: 8 * 1024,
        max_continuations: 4,
        ..Config::default()
    };
    // Big fragments: the byte bound.
    let mut c = Client::new(cfg);
    let mut bytes = Vec::new();
    write::frame_header(&mut bytes, 1000, frame::FrameType::Headers, 0, 1);
    bytes.extend([0x82; 1000]);
    for _ in 0..10 {
        write::frame_header(&mut bytes, 1000, frame::FrameType::Continuation, 0, 1);
        bytes.extend([0x82; 1000]);
    }
    assert_eq!(c.feed(&bytes).1, calm("header-block-flood"));
    // Empty fragments: the frame bound.
    let mut c = Client::new(cfg);
    let mut bytes = Vec::new();
    write::frame_header(&mut bytes, 0, frame::FrameType::Headers, 0, 1);
    for _ in 0..10 {
        write::frame_header(&mut bytes, 0, frame::FrameType::Continuation, 0, 1);
    }
    assert_eq!(c.feed(&bytes).1, calm("header-block-flood"));
    assert_eq!(c.conn.counters().header_block_floods, 1);
    // Anything else inside a block, or a CONTINUATION out of one.
    let mut c = Client::new(cfg);
    let mut bytes = Vec::new();
    write::frame_header(&mut bytes, 0, frame::FrameType::Headers, 0, 1);
    write::ping(&mut bytes, false, [0; 8]);
    assert_eq!(
        c.feed(&bytes).1.unwrap_err().reason,
        "frame-inside-field-block"
    );
    let mut c = Client::new(cfg);
    let mut bytes = Vec::new();
    write::frame_header(&mut bytes, 0, frame::FrameType::Continuation, 4, 1);
    assert_eq!(
        c.feed(&bytes).1.unwrap_err().reason,
        "unexpected-continuation"
    );
}

#[test]
fn ping_and_settings_floods() {
    let cfg = Config {
        max_queued_acks: 20,
        max_idle_frames: 50,
        ..Config::default()
    };
    // Acks piling up unflushed.
    let mut c = Client::new(cfg);
    let mut bytes = Vec::new();
    for i in 0..30u8 {
        write::ping(&mut bytes, false, [i; 8]);
    }
    let (_, res) = c.feed(&bytes);
    assert_eq!(res, calm("ack-flood"));
    // Flushed each time: the idle-frame bound still holds...
    let mut c = Client::new(cfg);
    let mut res = Ok(());
    let mut n = 0;
    while res.is_ok() && n < 100 {
        let mut bytes = Vec::new();
        write::settings(&mut bytes, &[]);
        res = c.feed(&bytes).1;
        c.conn.flushed();
        n += 1;
    }
    assert_eq!(res, calm("control-frame-flood"));
    assert_eq!(n, 50);
    assert_eq!(c.conn.counters().control_floods, 1);
    // ...and a request in between starts it again.
    let mut c = Client::new(cfg);
    for round in 0..5u32 {
        let mut bytes = Vec::new();
        for _ in 0..15 {
            write::ping(&mut bytes, false, [0; 8]);
            write::priority(
                &mut bytes,
                101,
                h2wire::Priority {
                    exclusive: false,
                    dependency: 0,
                    weight: 1,
                },
            );
        }
        assert_eq!(c.feed(&bytes).1, Ok(()));
        c.conn.flushed();
        let req = c.request(2 * round + 1, "/", true);
        assert_eq!(c.feed(&req).1, Ok(()));
        c.conn.flushed();
    }
}

#[test]
fn hpack_bomb_gets_431_and_the_connection_goes_on() {
    let cfg = Config {
        max_header_list_size: 4096,
        ..Config::default()
    };
    let mut c = Client::new(cfg);
    let mut block = c.block(&[(":method", "GET"), (":scheme", "https"), (":path", "/")]);
    c.enc
        .encode(b"x-bomb", &[b'v'; 3000], Indexing::Incremental, &mut block);
    block.extend([0xbe; 2000]); // 2,000 references to it: 6 MB decoded
    let mut bytes = Vec::new();
    write::headers(&mut bytes, 1, &block, true, 16_384);
    let (evs, res) = c.feed(&bytes);
    assert_eq!(res, Ok(()));
    assert_eq!(evs, [Ev::TooLarge(1)]);
    assert_eq!(c.conn.counters().headers_too_large, 1);
    let req = c.request(3, "/next", true);
    assert_eq!(c.feed(&req).0, [get(3, "/next", true)]);
}

#[test]
fn malformed_requests_are_reset() {
    let mut c = Client::new(Config::default());
    for (stream, fields) in [
        (
            1,
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("Upper", "x"),
            ],
        ),
        (3, vec![(":method", "GET"), (":scheme", "https")]),
        (
            5,
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/"),
                ("connection", "close"),
            ],
        ),
        (7, vec![(":status", "200")]),
    ] {
        let block = c.block(&fields);
        let mut bytes = Vec::new();
        write::headers(&mut bytes, stream, &block, true, 16_384);
        assert_eq!(c.feed(&bytes), (vec![], Ok(())));
        assert_eq!(c.take_out(), [Out::Rst(stream, ErrorCode::PROTOCOL_ERROR)]);
    }
    assert_eq!(c.conn.counters().malformed_requests, 4);
    // A stream depending on itself (HEADERS priority) is a stream error too.
    let block = c.block(&[(":method", "GET"), (":scheme", "https"), (":path", "/")]);
    let mut bytes = Vec::new();
    let p = h2wire::Priority {
        exclusive: false,
        dependency: 9,
        weight: 0,
    };
    write::headers_with_priority(&mut bytes, 9, &block, p, 0, true);
    assert_eq!(c.feed(&bytes), (vec![], Ok(())));
    assert_eq!(c.take_out(), [Out::Rst(9, ErrorCode::PROTOCOL_ERROR)]);
}

#[test]
fn connection_errors() {
    let cfg = Config::default();
    let fails = |bytes: &[u8]| {
        let mut c = Client::new(cfg);
        let (_, res) = c.feed(bytes);
        let e = res.unwrap_err();
        assert!(matches!(c.take_out().last(), Some(Out::GoAway(_, code)) if *code == e.code));
        (e.code, e.reason)
    };
    let p = ErrorCode::PROTOCOL_ERROR;
    let mut b = Vec::new();
    write::headers(&mut b, 2, b"\x82", true, 16_384);
    assert_eq!(fails(&b), (p, "even-stream-id"));
    b.clear();
    write::data(&mut b, 7, b"x", false);
    assert_eq!(fails(&b), (p, "frame-on-idle-stream"));
    b.clear();
    // An even stream below the last one the client opened: ours, never open.
    let get = Client::new(cfg).request(5, "/", true);
    b.extend_from_slice(&get);
    write::data(&mut b, 2, b"x", false);
    assert_eq!(fails(&b), (p, "frame-on-idle-stream"));
    b.clear();
    write::window_update(&mut b, 7, 1);
    assert_eq!(fails(&b), (p, "frame-on-idle-stream"));
    b.clear();
    write::rst_stream(&mut b, 7, ErrorCode::CANCEL);
    assert_eq!(fails(&b), (p, "frame-on-idle-stream"));
    b.clear();
    write::headers(&mut b, 1, b"\x80", true, 16_384);
    assert_eq!(fails(&b), (ErrorCode::COMPRESSION_ERROR, "hpack"));

    // Before the client's SETTINGS nothing else may come; a bad preface.
    let mut out = Vec::new();
    let mut conn = Connection::new(cfg, &mut out);
    let mut bytes = PREFACE.to_vec();
    write::ping(&mut bytes, false, [0; 8]);
    let (_, used) = conn.recv(&bytes, &mut out).unwrap().unwrap();
    let e = conn.recv(&bytes[used..], &mut out).unwrap_err();
    assert_eq!((e.code, e.reason), (p, "preface-without-settings"));
    let mut conn = Connection::new(cfg, &mut out);
    assert_eq!(
        conn.recv(b"GET / HTTP/1.1\r\n", &mut out).unwrap_err().code,
        p
    );
    assert_eq!(conn.recv(b"PRI * HTTP/2", &mut out), Ok(None));
    // The client going away is an event, not an error.
    let mut c = Client::new(cfg);
    let mut b = Vec::new();
    write::goaway(&mut b, 0, ErrorCode::NO_ERROR, b"");
    assert_eq!(
        c.feed(&b),
        (vec![Ev::GoAway(0, ErrorCode::NO_ERROR)], Ok(()))
    );
}

#[test]
fn graceful_shutdown_and_pings() {
    let mut c = Client::new(Config::default());
    let req = c.request(1, "/a", true);
    assert_eq!(c.feed(&req).1, Ok(()));
    let mut out = Vec::new();
    // Our PING and its ack.
    assert!(c.conn.ping(*b"liveness", &mut out));
    assert!(!c.conn.ping(*b"another!", &mut out));
    c.conn.begin_shutdown(&mut out);
    c.out = out;
    assert_eq!(
        c.take_out(),
        [
            Out::Ping(*b"liveness"),
            Out::GoAway(frame::MAX_WINDOW, ErrorCode::NO_ERROR),
            Out::Ping(*b"shutdown")
        ]
    );
    assert!(!c.conn.is_closing());
    // Streams the client started before it saw the GOAWAY are still served.
    let mut bytes = c.request(3, "/b", true);
    write::ping(&mut bytes, true, *b"liveness");
    write::ping(&mut bytes, true, *b"shutdown");
    let (evs, res) = c.feed(&bytes);
    assert_eq!(res, Ok(()));
    assert_eq!(evs, [get(3, "/b", true), Ev::PingAck(*b"liveness")]);
    assert_eq!(c.take_out(), [Out::GoAway(3, ErrorCode::NO_ERROR)]);
    assert!(c.conn.is_closing());
    // Past the final GOAWAY's stream: refused, not served.
    let req = c.request(5, "/c", true);
    assert_eq!(c.feed(&req), (vec![], Ok(())));
    assert_eq!(c.take_out(), [Out::Rst(5, ErrorCode::REFUSED_STREAM)]);
    // The two served streams still get their answers; then nothing is open.
    let mut out = Vec::new();
    assert!(c.conn.send_response(1, 204, [], true, &mut out));
    assert!(c.conn.send_response(3, 204, [], true, &mut out));
    assert_eq!(c.conn.open_streams(), 0);
}

#[test]
fn extended_connect_only_when_offered() {
    let ws = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":authority", "a.test"),
        (":path", "/chat"),
        ("sec-websocket-version", "13"),
    ];
    let owned = |f: &[(&str, &str)]| -> Vec<(String, String)> {
        f.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    let send = |c: &mut Client, stream: u32, fields: &[(&str, &str)]| {
        let block = c.block(fields);
        let mut bytes = Vec::new();
        write::headers(&mut bytes, stream, &block, false, 16_384);
        c.feed(&bytes)
    };
    let offered = |cfg: Config| {
        let mut out = Vec::new();
        Connection::new(cfg, &mut out);
        let mut c = Client::new(cfg);
        c.out = out;
        let Out::Settings(params) = c.take_out().remove(0) else {
            panic!()
        };
        params.contains(&(setting::ENABLE_CONNECT_PROTOCOL, 1))
    };

    // Not offered (the default): the setting is not sent and `:protocol`
    // makes the request malformed (RFC 8441 §3).
    assert!(!offered(Config::default()));
    let mut c = Client::new(Config::default());
    assert_eq!(send(&mut c, 1, &ws), (vec![], Ok(())));
    assert_eq!(c.take_out(), [Out::Rst(1, ErrorCode::PROTOCOL_ERROR)]);
    assert_eq!(c.conn.counters().malformed_requests, 1);

    // Offered: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, and the request comes
    // through with its `:protocol` span; the tunnel's DATA flows both ways.
    let cfg = Config {
        enable_connect_protocol: true,
        ..Config::default()
    };
    assert!(offered(cfg));
    let mut c = Client::new(cfg);
    let (evs, res) = send(&mut c, 1, &ws);
    assert_eq!(res, Ok(()));
    assert_eq!(evs, [Ev::Request(1, owned(&ws), false)]);
    let mut out = Vec::new();
    assert!(c.conn.send_response(1, 200, [], false, &mut out));
    assert_eq!(c.conn.send_data(1, b"frame", false, &mut out), 5);
    c.out = out;
    assert_eq!(
        c.take_out(),
        [
            Out::Headers(1, vec![(":status".into(), "200".into())], false),
            Out::Data(1, 5, false)
        ]
    );
    let mut bytes = Vec::new();
    write::data(&mut bytes, 1, b"back", true);
    assert_eq!(
        c.feed(&bytes),
        (vec![Ev::Data(1, b"back".to_vec(), true)], Ok(()))
    );
    // RFC 8441 §4: `:scheme` and `:path` are required with `:protocol`, and
    // `:protocol` goes with CONNECT only.
    let without = |name: &str| -> Vec<(&str, &str)> {
        ws.iter().copied().filter(|(n, _)| *n != name).collect()
    };
    let on_get: Vec<(&str, &str)> = ws
        .iter()
        .map(|&(n, v)| if n == ":method" { (n, "GET") } else { (n, v) })
        .collect();
    for (stream, fields) in [
        (3, without(":scheme")),
        (5, without(":path")),
        (7, without(":authority")),
        (9, on_get),
    ] {
        assert_eq!(send(&mut c, stream, &fields), (vec![], Ok(())));
        assert_eq!(c.take_out(), [Out::Rst(stream, ErrorCode::PROTOCOL_ERROR)]);
    }
    // A plain CONNECT keeps its own rule: `:authority` only.
    let plain = [(":method", "CONNECT"), (":authority", "a.test:443")];
    let (evs, _) = send(&mut c, 11, &plain);
    assert_eq!(evs, [Ev::Request(11, owned(&plain), false)]);
    assert_eq!(c.conn.counters().malformed_requests, 4);
}

#[test]
fn settings_ack_is_tracked_and_its_timeout_is_a_connection_error() {
    let mut c = Client::new(Config::default());
    // `Client::new` sent its own SETTINGS but never acknowledged ours.
    assert!(c.conn.awaiting_settings_ack());
    let req = c.request(1, "/", true);
    assert_eq!(c.feed(&req).0, [get(1, "/", true)]);
    assert!(c.conn.awaiting_settings_ack(), "a request is not an ack");
    let e = c.conn.settings_timeout(&mut c.out);
    assert_eq!(e.code, ErrorCode::SETTINGS_TIMEOUT);
    assert_eq!(c.take_out(), [Out::GoAway(1, ErrorCode::SETTINGS_TIMEOUT)]);

    let mut c = Client::new(Config::default());
    let mut ack = Vec::new();
    write::settings_ack(&mut ack);
    assert_eq!(c.feed(&ack), (vec![], Ok(())));
    assert!(!c.conn.awaiting_settings_ack());
}
