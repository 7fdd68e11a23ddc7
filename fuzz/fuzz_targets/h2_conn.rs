//! Fuzzes the HTTP/2 server connection state machine (`h2wire::conn`): the
//! input, after a valid preface, is what a client sends. The driver answers
//! every request (head and a body as large as the windows allow), releases
//! every DATA byte, flushes after each event and trims the connection's
//! buffers whenever no stream is open; for a third of the inputs it also
//! pings and begins a graceful shutdown after the third event. Properties: no panic; an
//! event never claims more bytes than it was given; every frame the
//! connection writes parses; after a connection error the last frame written
//! is a GOAWAY; open streams stay within the limit.
#![no_main]

use h2wire::conn::{Config, Connection, Event};
use h2wire::frame::{self, Frame, PREFACE};
use libfuzzer_sys::fuzz_target;

const CFG: Config = Config {
    max_concurrent_streams: 8,
    initial_window_size: 65_535,
    connection_window: 100_000,
    max_frame_size: 16_384,
    max_header_list_size: 4096,
    header_table_size: 4096,
    max_header_block: 16 * 1024,
    max_continuations: 8,
    max_rapid_resets: 20,
    max_idle_frames: 100,
    max_queued_acks: 50,
    enable_connect_protocol: true,
};

/// Every frame in `out` parses; the last one, if `goaway`, is a GOAWAY.
fn check_out(out: &[u8], goaway: bool) {
    let mut pos = 0;
    let mut last = None;
    while pos < out.len() {
        let (f, used) = frame::parse(&out[pos..], frame::MAX_MAX_FRAME_SIZE)
            .expect("our frames parse")
            .expect("our frames are whole");
        last = Some(matches!(f, Frame::GoAway { .. }));
        pos += used;
    }
    if goaway {
        assert_eq!(last, Some(true));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let mut conn = Connection::new(CFG, &mut out);
    check_out(&out, false);
    out.clear();
    let mut input = PREFACE.to_vec();
    input.extend_from_slice(data);
    let mut pos = 0;
    let body = [b'x'; 20_000];
    // Some inputs also see a server PING and a graceful shutdown begin.
    let shutdown_at = if data.len() % 3 == 0 { 3 } else { usize::MAX };
    let mut events = 0;
    loop {
        match conn.recv(&input[pos..], &mut out) {
            Ok(None) => break,
            Ok(Some((ev, used))) => {
                assert!(used > 0 && used <= input.len() - pos);
                pos += used;
                match ev {
                    Event::Request { stream, .. } | Event::HeadersTooLarge { stream, .. } => {
                        let fields: [(&[u8], &[u8]); 1] = [(b"content-type", b"text/plain")];
                        assert!(conn.send_response(stream, 200, fields, false, &mut out));
                        let n = body.len().min(conn.send_capacity(stream));
                        assert_eq!(
                            conn.send_data(stream, &body[..n], n == body.len(), &mut out),
                            n
                        );
                    }
                    Event::Data { stream, data, .. } => {
                        conn.release(stream, data.len() as u32, &mut out);
                    }
                    Event::WindowOpened { stream } if stream != 0 => {
                        let n = conn.send_capacity(stream).min(1000);
                        conn.send_data(stream, &body[..n], false, &mut out);
                    }
                    _ => {}
                }
                assert!(conn.open_streams() <= CFG.max_concurrent_streams as usize);
                events += 1;
                if events == shutdown_at {
                    conn.ping(*b"fuzzping", &mut out);
                    conn.begin_shutdown(&mut out);
                }
            }
            Err(_) => {
                check_out(&out, true);
                return;
            }
        }
        check_out(&out, false);
        out.clear();
        conn.flushed();
        if conn.open_streams() == 0 {
            conn.trim();
        }
    }
});
