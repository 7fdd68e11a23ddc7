//! Real HTTP/2 clients against a server made of `Connection` on a loopback
//! socket: nghttp2's h2load (the client of the benchmarks) and curl (on
//! nghttp2 as well) with prior knowledge (h2c). Requests are counted, bodies
//! go past every flow-control window both ways (so both sides' WINDOW_UPDATEs
//! are needed), and nothing may fail.

use std::process::Command;
use std::time::Duration;

use h2wire::conn::{Config, Connection, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serve one connection: `/big` answers 1,000,000 bytes; a request with a
/// body answers its length; anything else answers `hello <path>`.
async fn serve(mut sock: TcpStream) {
    let mut out = Vec::new();
    let mut conn = Connection::new(Config::default(), &mut out);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut bodies: Vec<(u32, String, usize)> = Vec::new();
    let mut sending: Vec<(u32, Vec<u8>, usize)> = Vec::new();
    loop {
        let mut pos = 0;
        loop {
            let (ev, used) = match conn.recv(&buf[pos..], &mut out) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => panic!("connection error: {e}"),
            };
            pos += used;
            let done = match ev {
                Event::Request {
                    stream,
                    pseudo,
                    end_stream,
                } => {
                    let path = String::from_utf8(
                        pseudo.path.unwrap().get(conn.headers().bytes()).to_vec(),
                    )
                    .unwrap();
                    bodies.push((stream, path, 0));
                    end_stream.then_some(stream)
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    bodies.iter_mut().find(|b| b.0 == stream).unwrap().2 += data.len();
                    conn.release(stream, data.len() as u32, &mut out);
                    end_stream.then_some(stream)
                }
                Event::Reset { .. }
                | Event::GoAway { .. }
                | Event::WindowOpened { .. }
                | Event::Nothing => None,
                other => panic!("{other:?}"),
            };
            if let Some(stream) = done {
                let i = bodies.iter().position(|b| b.0 == stream).unwrap();
                let (_, path, got) = bodies.swap_remove(i);
                let body = if path == "/big" {
                    vec![b'x'; 1_000_000]
                } else if got > 0 {
                    format!("received {got}\n").into_bytes()
                } else {
                    format!("hello {path}\n").into_bytes()
                };
                let len = body.len().to_string();
                let fields: [(&[u8], &[u8]); 3] = [
                    (b"server", b"h2wire-test"),
                    (b"content-type", b"text/plain"),
                    (b"content-length", len.as_bytes()),
                ];
                assert!(conn.send_response(stream, 200, fields, false, &mut out));
                sending.push((stream, body, 0));
            }
        }
        buf.drain(..pos);
        for (stream, body, sent) in &mut sending {
            *sent += conn.send_data(*stream, &body[*sent..], true, &mut out);
        }
        sending.retain(|(_, body, sent)| *sent < body.len());
        if !out.is_empty() {
            if sock.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
            conn.flushed();
        }
        let mut chunk = [0u8; 16 * 1024];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A server on 127.0.0.1:0 in its own thread, for the life of the test
/// process; returns its port.
fn start_server() -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let (sock, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(sock));
            }
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .expect("client installed (.ci/apt-edge.txt: nghttp2-client, curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn h2load_requests_all_succeed() {
    let port = start_server();
    let text = run(Command::new("timeout").args([
        "60",
        "h2load",
        "-n",
        "4000",
        "-c",
        "4",
        "-m",
        "10",
        &format!("http://127.0.0.1:{port}/index"),
    ]));
    assert!(
        text.contains(
            "4000 total, 4000 started, 4000 done, 4000 succeeded, 0 failed, 0 errored, 0 timeout"
        ),
        "{text}"
    );
    assert!(text.contains("status codes: 4000 2xx"), "{text}");
    // Uploads past the stream and connection windows (256 KiB, 1 MiB).
    let text = run(Command::new("timeout").args([
        "60",
        "h2load",
        "-n",
        "40",
        "-c",
        "2",
        "-m",
        "4",
        "-d",
        "/proc/self/exe",
        &format!("http://127.0.0.1:{port}/upload"),
    ]));
    assert!(text.contains("40 succeeded, 0 failed, 0 errored"), "{text}");
}

#[test]
fn curl_downloads_and_uploads_past_the_windows() {
    let port = start_server();
    let base = format!("http://127.0.0.1:{port}");
    // 1,000,000 bytes down: curl's windows must be reopened by its
    // WINDOW_UPDATEs, which our send side waits for.
    let text = run(Command::new("curl").args([
        "-sS",
        "--max-time",
        "30",
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code} %{size_download}",
        &format!("{base}/big"),
    ]));
    assert_eq!(text, "2 200 1000000");
    // 3 MB up: past our 256 KiB stream window and 1 MiB connection window.
    let mut child = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "--http2-prior-knowledge",
            "--data-binary",
            "@-",
            "-H",
            "x-test: yes",
            &format!("{base}/up"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&vec![7u8; 3_000_000]).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "received 3000000\n");
    // A plain GET with many headers (HPACK both ways).
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "30", "--http2-prior-knowledge", "-i"]);
    for i in 0..50 {
        cmd.args(["-H", &format!("x-header-{i}: value {i}")]);
    }
    cmd.arg(format!("{base}/many"));
    let text = run(&mut cmd);
    assert!(text.starts_with("HTTP/2 200"), "{text}");
    assert!(text.contains("server: h2wire-test"), "{text}");
    assert!(text.ends_with("hello /many\n"), "{text}");
}
