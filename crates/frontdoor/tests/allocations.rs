//! Heap allocations per proxied keep-alive request, counted by an instrumented
//! global allocator around the real front door (in this process) between a
//! client and a server that allocate nothing per request (blocking sockets and
//! fixed buffers on their own threads). A count, not a time: the test guards
//! the common path against new per-request allocations.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// The counts are the whole process's: one test at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello";
const REQUEST: &[u8] =
    b"GET /item?id=7 HTTP/1.1\r\nHost: shop.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";

/// What the common path may allocate per request, at most: 2 when measured
/// (the boxed per-request future and the access-log hook; 13 before heads
/// were encoded into per-thread scratch buffers and header maps reused, 6
/// before response heads were reused and passed through and the request id
/// and `Forwarded` value carved from a per-thread chunk). Raise it only with
/// a reason.
const MAX_ALLOCATIONS_PER_REQUEST: f64 = 2.5;

/// Heap an idle keep-alive client keeps (its task, socket registration and
/// per-connection values; 1,604 bytes when measured in a debug build); the read
/// buffer and the header positions go back to per-thread pools. The target: at most 2 KiB.
const MAX_HEAP_PER_IDLE_CLIENT: f64 = 2048.0;

/// A server answering every request head on a connection with `RESPONSE`.
fn server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut have = 0;
                loop {
                    match conn.read(&mut buf[have..]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have += n,
                    }
                    // One request at a time: answer once its head is complete.
                    while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        if conn.write_all(RESPONSE).is_err() {
                            return;
                        }
                        buf.copy_within(end + 4..have, 0);
                        have -= end + 4;
                    }
                }
            });
        }
    });
    addr
}

/// The real front door on one worker thread, in this process (so its
/// allocations are counted), in front of `server()`; `config` comes before
/// the server entry.
struct FrontDoor {
    addr: std::net::SocketAddr,
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl FrontDoor {
    fn start(config: &str) -> FrontDoor {
        let backend = server();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let config = frontdoor::config::Config::from_toml(&format!(
            "listen = \"127.0.0.1:0\"\n{config}[[servers]]\nname = \"a\"\naddress = \"{backend}\"\n"
        ))
        .unwrap();
        let fd = runtime
            .block_on(frontdoor::FrontDoor::bind(config))
            .unwrap();
        let addr = fd.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = runtime.spawn(fd.run(async {
            let _ = stopped.await;
        }));
        FrontDoor {
            addr,
            runtime,
            stop,
            serving,
        }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.runtime.block_on(self.serving).unwrap().unwrap();
    }
}

/// Print the counts of `n` requests (`what`: which kind), and fail past `max`
/// allocations per request or if what was allocated was not given back (the
/// pools are warm, so a few buffers of slack at most).
fn check_per_request(what: &str, stats: &stats_alloc::Stats, n: usize, max: f64) {
    let per_request = (stats.allocations + stats.reallocations) as f64 / n as f64;
    println!(
        "{what}allocations per request: {per_request:.2} ({} allocations, {} reallocations, {} bytes over {n} requests)",
        stats.allocations, stats.reallocations, stats.bytes_allocated
    );
    assert!(
        per_request <= max,
        "{per_request:.2} {what}allocations per request (at most {max})"
    );
    let kept = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    assert!(kept < 256 * 1024, "{kept} bytes kept over {n} requests");
}

/// Send `n` requests on one keep-alive connection, each after the last answer.
fn client(conn: &mut TcpStream, n: usize) {
    let mut buf = [0u8; 4096];
    for _ in 0..n {
        conn.write_all(REQUEST).unwrap();
        let mut have = 0;
        // The answer ends with the 5-byte body.
        while !buf[..have].ends_with(b"hello") {
            let got = conn.read(&mut buf[have..]).unwrap();
            assert!(got > 0, "the front door closed the connection");
            have += got;
        }
        assert!(
            buf.starts_with(b"HTTP/1.1 200 "),
            "{:?}",
            String::from_utf8_lossy(&buf[..have])
        );
    }
}

#[test]
fn a_keep_alive_request_allocates_little() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let fd = FrontDoor::start("");
    let addr = fd.addr;

    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Warm up: upstream pool, buffer pools, lazy statics.
    client(&mut conn, 500);
    let n = 5000;
    let region = Region::new(GLOBAL);
    client(&mut conn, n);
    let stats = region.change();
    check_per_request("", &stats, n, MAX_ALLOCATIONS_PER_REQUEST);

    // An idle keep-alive client: what stays on the heap for it after its
    // request (no buffer; the task and its small state).
    let idle = 200;
    let region = Region::new(GLOBAL);
    let mut held = Vec::with_capacity(idle);
    for _ in 0..idle {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        client(&mut c, 1);
        held.push(c);
    }
    // The front door's side of the last connection settles after its response.
    std::thread::sleep(Duration::from_millis(200));
    let stats = region.change();
    let live = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
        + stats.bytes_reallocated as i64;
    let per_idle = live as f64 / idle as f64;
    println!(
        "heap per idle keep-alive client: {per_idle:.0} bytes in {:.1} live allocations",
        (stats.allocations as f64 - stats.deallocations as f64) / idle as f64
    );
    assert!(
        per_idle <= MAX_HEAP_PER_IDLE_CLIENT,
        "{per_idle:.0} bytes of heap per idle client (at most {MAX_HEAP_PER_IDLE_CLIENT})"
    );

    drop(held);
    drop(conn);
    fd.stop();
}

/// What our HTTP/2 engine may allocate per proxied request, at most, with ten
/// streams in flight on one h2c connection: 5.67 when measured (the stream's
/// boxed future, its `FuturesUnordered` task and cancel flag, the access-log
/// hook, and the decoder's buffers regrown after each burst's idle trim).
/// 13.6 before the decoded fields were carved from one per-thread chunk and
/// the decoded map stopped being moved into a second one. Raise it only with
/// a reason.
const MAX_HTTP2_ALLOCATIONS_PER_REQUEST: f64 = 6.0;

/// HTTP/2 frames by hand into fixed buffers, so the client allocates nothing
/// per request either: the preface, an empty SETTINGS, its ACK for ours
/// (sent ahead: ours is the first thing the front door writes) and a large
/// connection window.
fn h2_open(conn: &mut TcpStream) {
    let mut hello = Vec::new();
    hello.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    hello.extend_from_slice(&[0, 0, 0, 4, 1, 0, 0, 0, 0]);
    hello.extend_from_slice(&[0, 0, 4, 8, 0, 0, 0, 0, 0, 0x40, 0, 0, 0]);
    conn.write_all(&hello).unwrap();
}

/// Send `bursts` times `BURST` GET requests at once (streams from `*next`),
/// each burst after the last one's answers ended.
fn h2_client(conn: &mut TcpStream, next: &mut u32, bursts: usize) {
    const BURST: usize = 10;
    // HPACK without the dynamic table: :method GET, :scheme http (static),
    // :path, :authority, user-agent, accept as literals not indexed.
    const BLOCK: &[u8] =
        b"\x82\x86\x04\x0a/item?id=7\x01\x09shop.test\x0f\x2b\x05bench\x0f\x04\x03*/*";
    let mut out = [0u8; BURST * (9 + BLOCK.len())];
    let mut buf = [0u8; 16384];
    let mut have = 0;
    for _ in 0..bursts {
        for (i, frame) in out.chunks_mut(9 + BLOCK.len()).enumerate() {
            let id = *next + 2 * i as u32;
            frame[..3].copy_from_slice(&(BLOCK.len() as u32).to_be_bytes()[1..]);
            // HEADERS, END_STREAM | END_HEADERS.
            frame[3] = 1;
            frame[4] = 0x5;
            frame[5..9].copy_from_slice(&id.to_be_bytes());
            frame[9..].copy_from_slice(BLOCK);
        }
        conn.write_all(&out).unwrap();
        let mut ended = 0;
        while ended < BURST {
            let got = conn.read(&mut buf[have..]).unwrap();
            assert!(got > 0, "the front door closed the connection");
            have += got;
            let mut at = 0;
            while have - at >= 9 {
                let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
                if have - at < 9 + len {
                    break;
                }
                let (kind, flags) = (buf[at + 3], buf[at + 4]);
                let id = u32::from_be_bytes(buf[at + 5..at + 9].try_into().unwrap()) & !(1 << 31);
                assert_ne!(kind, 3, "stream {id} was reset");
                assert_ne!(kind, 7, "the front door sent GOAWAY");
                if kind == 1 && id != 0 {
                    // Status 200 is the static table's entry 8.
                    assert_eq!(buf[at + 9], 0x88, "stream {id}: not a 200");
                }
                if (kind == 0 || kind == 1) && flags & 1 != 0 {
                    ended += 1;
                }
                at += 9 + len;
            }
            buf.copy_within(at..have, 0);
            have -= at;
        }
        *next += 2 * BURST as u32;
    }
}

#[test]
fn an_http2_request_allocates_little() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let fd = FrontDoor::start("[http2]\nh2c = true\n");
    let addr = fd.addr;

    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    h2_open(&mut conn);
    let mut next = 1;
    // Warm up: upstream connections for ten streams, pools, lazy statics.
    h2_client(&mut conn, &mut next, 50);
    let bursts = 500;
    let region = Region::new(GLOBAL);
    h2_client(&mut conn, &mut next, bursts);
    let stats = region.change();
    let n = bursts * 10;
    check_per_request("HTTP/2 ", &stats, n, MAX_HTTP2_ALLOCATIONS_PER_REQUEST);

    drop(conn);
    fd.stop();
}
