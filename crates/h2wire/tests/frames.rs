//! The frame parser against RFC 9113 §4 and §6: every frame type written by
//! our encoders and read back, and each malformed case with the error code
//! and scope the RFC gives it.

use h2wire::frame::{self, check_preface, flags, setting, Frame, FrameType, Settings, PREFACE};
use h2wire::{write, ErrorCode, FrameError, Priority, Scope};

const MAX: u32 = frame::DEFAULT_MAX_FRAME_SIZE;

/// Parse exactly one frame from `buf`.
fn one(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
    // Every proper prefix is incomplete (or refused early for its size).
    for cut in 0..buf.len() {
        match frame::parse(&buf[..cut], MAX) {
            Ok(None) => {}
            Ok(Some(_)) => panic!("a prefix of {cut} bytes parsed"),
            Err(e) => assert_eq!(e.reason, "frame-too-large"),
        }
    }
    let (f, used) = frame::parse(buf, MAX)?.expect("complete");
    assert_eq!(used, buf.len());
    Ok(f)
}

fn raw(len: usize, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    v.push(kind);
    v.push(flags);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn err(buf: &[u8]) -> (ErrorCode, Scope) {
    let e = one(buf).unwrap_err();
    assert_eq!(e.frame_len, buf.len());
    (e.code, e.scope)
}

const CONN: Scope = Scope::Connection;

#[test]
fn preface() {
    assert_eq!(check_preface(PREFACE), Ok(true));
    assert_eq!(check_preface(&PREFACE[..10]), Ok(false));
    assert_eq!(check_preface(b""), Ok(false));
    let mut more = PREFACE.to_vec();
    more.extend_from_slice(b"\0\0\0\x04");
    assert_eq!(check_preface(&more), Ok(true));
    let e = check_preface(b"GET / HTTP/1.1\r\n").unwrap_err();
    assert_eq!((e.code, e.scope), (ErrorCode::PROTOCOL_ERROR, CONN));
    assert!(check_preface(b"PRI * HTTP/2.0\r\n\r\nXX").is_err());
}

#[test]
fn data_plain_and_padded() {
    let mut v = Vec::new();
    write::data(&mut v, 1, b"hello", true);
    assert_eq!(
        one(&v).unwrap(),
        Frame::Data {
            stream: 1,
            data: b"hello",
            end_stream: true,
            flow_len: 5
        }
    );
    v.clear();
    write::data_padded(&mut v, 3, b"abc", 10, false);
    assert_eq!(
        one(&v).unwrap(),
        Frame::Data {
            stream: 3,
            data: b"abc",
            end_stream: false,
            flow_len: 14
        }
    );
    // Padding that fills the payload exactly: empty data, fine.
    v.clear();
    write::data_padded(&mut v, 3, b"", 4, false);
    assert!(matches!(
        one(&v).unwrap(),
        Frame::Data {
            data: b"",
            flow_len: 5,
            ..
        }
    ));
    // Padding longer than what follows the pad length: PROTOCOL_ERROR.
    assert_eq!(
        err(&raw(4, 0, flags::PADDED, 1, &[4, b'a', 0, 0])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
    // PADDED with no room for the pad length.
    assert_eq!(
        err(&raw(0, 0, flags::PADDED, 1, &[])),
        (ErrorCode::FRAME_SIZE_ERROR, CONN)
    );
    // Stream 0.
    assert_eq!(
        err(&raw(1, 0, 0, 0, b"x")),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
}

#[test]
fn headers_priority_padding_and_continuation() {
    let prio = Priority {
        exclusive: true,
        dependency: 7,
        weight: 200,
    };
    let mut v = Vec::new();
    write::headers_with_priority(&mut v, 9, b"\x82\x84", prio, 3, true);
    assert_eq!(
        one(&v).unwrap(),
        Frame::Headers {
            stream: 9,
            block: b"\x82\x84",
            end_stream: true,
            end_headers: true,
            priority: Some(prio),
        }
    );
    // Priority flag but fewer than 5 bytes: a frame size error on a frame
    // carrying a field block is a connection error.
    assert_eq!(
        err(&raw(
            3,
            1,
            flags::PRIORITY | flags::END_HEADERS,
            1,
            &[0, 0, 0]
        )),
        (ErrorCode::FRAME_SIZE_ERROR, CONN)
    );
    // Padding past the fragment.
    assert_eq!(
        err(&raw(2, 1, flags::PADDED, 1, &[2, 0x82])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
    assert_eq!(
        err(&raw(1, 1, 0, 0, &[0x82])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
    assert_eq!(
        err(&raw(1, 9, 0, 0, &[0x82])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );

    // A block of 40,000 bytes: HEADERS + 2 CONTINUATIONs, END_HEADERS last.
    let block: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    v.clear();
    write::headers(&mut v, 5, &block, false, MAX);
    assert_eq!(v.len(), write::headers_len(block.len(), MAX));
    let mut pos = 0;
    let mut got = Vec::new();
    let mut kinds = Vec::new();
    while pos < v.len() {
        let (f, used) = frame::parse(&v[pos..], MAX).unwrap().unwrap();
        match f {
            Frame::Headers {
                block,
                end_headers,
                end_stream,
                ..
            } => {
                assert!(!end_stream);
                got.extend_from_slice(block);
                kinds.push(('H', end_headers));
            }
            Frame::Continuation {
                stream,
                block,
                end_headers,
            } => {
                assert_eq!(stream, 5);
                got.extend_from_slice(block);
                kinds.push(('C', end_headers));
            }
            other => panic!("{other:?}"),
        }
        pos += used;
    }
    assert_eq!(got, block);
    assert_eq!(kinds, [('H', false), ('C', false), ('C', true)]);
    // A small block: one HEADERS with END_HEADERS.
    v.clear();
    write::headers(&mut v, 5, b"\x88", true, MAX);
    assert!(matches!(
        one(&v).unwrap(),
        Frame::Headers {
            end_headers: true,
            end_stream: true,
            ..
        }
    ));
}

#[test]
fn priority_frames() {
    let p = Priority {
        exclusive: false,
        dependency: 1,
        weight: 15,
    };
    let mut v = Vec::new();
    write::priority(&mut v, 3, p);
    assert_eq!(
        one(&v).unwrap(),
        Frame::Priority {
            stream: 3,
            priority: p
        }
    );
    // Wrong size: a stream error; the frame is skipped.
    assert_eq!(
        err(&raw(4, 2, 0, 3, &[0, 0, 0, 1])),
        (ErrorCode::FRAME_SIZE_ERROR, Scope::Stream(3))
    );
    // Depends on itself.
    v.clear();
    write::priority(&mut v, 3, Priority { dependency: 3, ..p });
    assert_eq!(err(&v), (ErrorCode::PROTOCOL_ERROR, Scope::Stream(3)));
    assert_eq!(
        err(&raw(5, 2, 0, 0, &[0; 5])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
}

#[test]
fn rst_stream() {
    let mut v = Vec::new();
    write::rst_stream(&mut v, 7, ErrorCode::CANCEL);
    assert_eq!(
        one(&v).unwrap(),
        Frame::RstStream {
            stream: 7,
            code: ErrorCode::CANCEL
        }
    );
    assert_eq!(
        err(&raw(3, 3, 0, 7, &[0, 0, 8])),
        (ErrorCode::FRAME_SIZE_ERROR, CONN)
    );
    assert_eq!(
        err(&raw(4, 3, 0, 0, &[0, 0, 0, 8])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
    // An unknown code is kept as is.
    let b = raw(4, 3, 0, 1, &[0, 0, 1, 0]);
    let f = one(&b).unwrap();
    assert_eq!(
        f,
        Frame::RstStream {
            stream: 1,
            code: ErrorCode(256)
        }
    );
}

#[test]
fn settings() {
    let mut v = Vec::new();
    let sent = [
        (setting::HEADER_TABLE_SIZE, 0),
        (setting::ENABLE_PUSH, 0),
        (setting::MAX_CONCURRENT_STREAMS, 100),
        (setting::INITIAL_WINDOW_SIZE, frame::MAX_WINDOW),
        (setting::MAX_FRAME_SIZE, frame::MAX_MAX_FRAME_SIZE),
        (setting::MAX_HEADER_LIST_SIZE, 65_536),
        (setting::ENABLE_CONNECT_PROTOCOL, 1),
        (0xabcd, 77), // unknown: ignored
    ];
    write::settings(&mut v, &sent);
    let Frame::Settings { ack: false, params } = one(&v).unwrap() else {
        panic!()
    };
    assert_eq!(params.iter().collect::<Vec<_>>(), sent);
    let mut s = Settings::default();
    s.apply(params);
    assert_eq!(
        s,
        Settings {
            header_table_size: 0,
            enable_push: false,
            max_concurrent_streams: Some(100),
            initial_window_size: frame::MAX_WINDOW,
            max_frame_size: frame::MAX_MAX_FRAME_SIZE,
            max_header_list_size: Some(65_536),
            enable_connect_protocol: true,
        }
    );
    v.clear();
    write::settings_ack(&mut v);
    assert!(matches!(
        one(&v).unwrap(),
        Frame::Settings { ack: true, .. }
    ));

    let bad = |id: u16, value: u32| {
        let mut v = Vec::new();
        write::settings(&mut v, &[(id, value)]);
        err(&v)
    };
    assert_eq!(
        bad(setting::ENABLE_PUSH, 2),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
    assert_eq!(
        bad(setting::INITIAL_WINDOW_SIZE, 1 << 31),
        (ErrorCode::FLOW_CONTROL_ERROR, CONN)
    );
    assert_eq!(
        bad(setting::MAX_FRAME_SIZE, 16_383),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
    assert_eq!(
        bad(setting::MAX_FRAME_SIZE, 1 << 24),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
    assert_eq!(
        bad(setting::ENABLE_CONNECT_PROTOCOL, 2),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
    // ACK with a payload, a length not a multiple of 6, a stream id.
    assert_eq!(
        err(&raw(6, 4, flags::ACK, 0, &[0, 1, 0, 0, 0, 0])),
        (ErrorCode::FRAME_SIZE_ERROR, CONN)
    );
    assert_eq!(
        err(&raw(5, 4, 0, 0, &[0; 5])),
        (ErrorCode::FRAME_SIZE_ERROR, CONN)
    );
    assert_eq!(
        err(&raw(0, 4, 0, 1, &[])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
}

#[test]
fn push_promise_from_a_client() {
    assert_eq!(
        err(&raw(4, 5, flags::END_HEADERS, 1, &[0, 0, 0, 2])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
}

#[test]
fn ping_goaway_window_update() {
    let mut v = Vec::new();
    write::ping(&mut v, true, *b"12345678");
    assert_eq!(
        one(&v).unwrap(),
        Frame::Ping {
            ack: true,
            data: *b"12345678"
        }
    );
    assert_eq!(
        err(&raw(7, 6, 0, 0, &[0; 7])),
        (ErrorCode::FRAME_SIZE_ERROR, CONN)
    );
    assert_eq!(
        err(&raw(8, 6, 0, 1, &[0; 8])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );

    v.clear();
    write::goaway(&mut v, 41, ErrorCode::ENHANCE_YOUR_CALM, b"too many resets");
    assert_eq!(
        one(&v).unwrap(),
        Frame::GoAway {
            last_stream: 41,
            code: ErrorCode::ENHANCE_YOUR_CALM,
            debug: b"too many resets"
        }
    );
    assert_eq!(
        err(&raw(7, 7, 0, 0, &[0; 7])),
        (ErrorCode::FRAME_SIZE_ERROR, CONN)
    );
    assert_eq!(
        err(&raw(8, 7, 0, 3, &[0; 8])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );

    v.clear();
    write::window_update(&mut v, 0, frame::MAX_WINDOW);
    assert_eq!(
        one(&v).unwrap(),
        Frame::WindowUpdate {
            stream: 0,
            increment: frame::MAX_WINDOW
        }
    );
    // The reserved bit is ignored.
    assert_eq!(
        one(&raw(4, 8, 0, 0x8000_0005, &[0x80, 0, 0, 1])).unwrap(),
        Frame::WindowUpdate {
            stream: 5,
            increment: 1
        }
    );
    // A zero increment: connection error on stream 0, stream error otherwise.
    assert_eq!(
        err(&raw(4, 8, 0, 0, &[0; 4])),
        (ErrorCode::PROTOCOL_ERROR, CONN)
    );
    assert_eq!(
        err(&raw(4, 8, 0, 5, &[0; 4])),
        (ErrorCode::PROTOCOL_ERROR, Scope::Stream(5))
    );
    assert_eq!(
        err(&raw(5, 8, 0, 5, &[0, 0, 0, 0, 1])),
        (ErrorCode::FRAME_SIZE_ERROR, CONN)
    );
}

#[test]
fn unknown_types_are_handed_out_to_skip() {
    let b = raw(3, 0xfa, 0xff, 9, b"abc");
    let f = one(&b).unwrap();
    assert_eq!(
        f,
        Frame::Unknown {
            kind: 0xfa,
            stream: 9
        }
    );
    assert_eq!(FrameType::from_u8(0xfa), FrameType::Unknown(0xfa));
}

#[test]
fn oversized_frames_refused_from_the_header() {
    // Only the 9-byte header is in: refused without waiting for 16 KiB.
    let h = raw(MAX as usize + 1, 0, 0, 1, &[]);
    let e = frame::parse(&h, MAX).unwrap_err();
    assert_eq!((e.code, e.scope), (ErrorCode::FRAME_SIZE_ERROR, CONN));
    // Exactly the limit is fine; a larger limit admits more.
    let mut v = Vec::new();
    write::data(&mut v, 1, &vec![7; MAX as usize], false);
    assert!(frame::parse(&v, MAX).unwrap().is_some());
    write::data(&mut v, 1, &vec![7; MAX as usize + 1], false);
    let rest = &v[9 + MAX as usize..];
    assert!(frame::parse(rest, MAX).is_err());
    assert!(frame::parse(rest, MAX + 1).unwrap().is_some());
}
