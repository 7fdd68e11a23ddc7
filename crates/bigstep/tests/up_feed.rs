//! The demo's live feed under `bigstep up`: what happens on any instance reaches
//! every open `/events` stream through pub/sub on the shared state server, with
//! no event lost or repeated; instances announce their start and stop; and an
//! open stream does not hold a stop for the grace period.

mod upkit;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use upkit::{get, Up};

/// An open `/events` stream through the front door, read event by event.
struct Stream {
    reader: BufReader<TcpStream>,
    /// Whether the body comes in chunks (`Transfer-Encoding: chunked`).
    chunked: bool,
    /// Body bytes read but not yet returned as lines.
    buf: Vec<u8>,
    /// Keep-alive comments keep a read from timing out: a wait for an event
    /// that never comes fails here instead.
    give_up: Instant,
    /// The instance serving it (from its `hello`).
    instance: String,
}

/// One server-sent event.
#[derive(Debug, Clone)]
struct Ev {
    name: String,
    id: Option<u64>,
    data: String,
}

impl Ev {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
    fn field(&self, k: &str) -> String {
        self.json()[k].as_str().unwrap_or_default().to_string()
    }
}

impl Stream {
    fn open(addr: SocketAddr) -> Stream {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "closed: {head}");
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("text/event-stream"),
            "{head}"
        );
        let mut stream = Stream {
            chunked: head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            buf: Vec::new(),
            give_up: Instant::now() + Duration::from_secs(30),
            reader,
            instance: String::new(),
        };
        let hello = stream.next().expect("a hello event");
        assert_eq!(hello.name, "hello", "{hello:?}");
        assert_eq!(hello.json()["shared"], true, "{hello:?}");
        stream.instance = hello.field("instance");
        stream
    }

    /// The next event (comments skipped); `None` when the stream ends.
    fn next(&mut self) -> Option<Ev> {
        let mut ev = Ev {
            name: "message".into(),
            id: None,
            data: String::new(),
        };
        let mut any = false;
        loop {
            let line = self.line()?;
            if line.is_empty() {
                if any {
                    return Some(ev);
                }
                continue;
            }
            if line.starts_with(':') {
                assert!(Instant::now() < self.give_up, "no event within 30 s");
                continue;
            }
            let (k, v) = line.split_once(':').unwrap_or((&line, ""));
            let v = v.strip_prefix(' ').unwrap_or(v);
            match k {
                "event" => ev.name = v.to_string(),
                "id" => ev.id = v.parse().ok(),
                "data" => ev.data.push_str(v),
                _ => {}
            }
            any = true;
        }
    }

    /// One line of the body (chunked framing removed); `None` at its end.
    fn line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let text = String::from_utf8_lossy(&line);
                return Some(text.trim_end_matches(['\r', '\n']).to_string());
            }
            if !self.chunked {
                let got = self.reader.fill_buf().ok()?.to_vec();
                if got.is_empty() {
                    return None;
                }
                self.reader.consume(got.len());
                self.buf.extend_from_slice(&got);
                continue;
            }
            let mut size = String::new();
            if self.reader.read_line(&mut size).ok()? == 0 {
                return None;
            }
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                return None;
            }
            let mut chunk = vec![0u8; size + 2];
            std::io::Read::read_exact(&mut self.reader, &mut chunk).ok()?;
            self.buf.extend_from_slice(&chunk[..size]);
        }
    }

    /// Events until one satisfies `want` (bounded by the read timeout).
    fn until(&mut self, what: &str, mut want: impl FnMut(&Ev) -> bool) -> Vec<Ev> {
        let mut seen = Vec::new();
        self.give_up = Instant::now() + Duration::from_secs(30);
        loop {
            let ev = self
                .next()
                .unwrap_or_else(|| panic!("stream ended waiting for {what}; saw {seen:?}"));
            let done = want(&ev);
            seen.push(ev);
            if done {
                return seen;
            }
        }
    }
}

/// Two headless Chromium users on the site through the front door: Ada's login,
/// upload and page loads appear in Bea's live feed, at least one of them from
/// another instance than the one serving Bea's stream (no stickiness: requests
/// spread). Needs node, /usr/bin/chromium and playwright-core in `.ci/node`
/// (`.ci/install`); without them it fails, it does not skip.
#[test]
fn two_browsers_see_each_other_in_the_live_feed() {
    let up = Up::start(&["-n", "2", "--sticky", "none"]);
    let browser = testkit::browser::prepare("up-live-feed.png");
    let shot = &browser.screenshot;
    let site = format!("http://{}/", up.addr);
    let (passed, log) = browser.run("feed.mjs", &[site.as_ref(), shot.as_os_str()]);
    assert!(passed, "feed test failed:\n{log}\n{}", up.output());
    eprintln!("{log}");
    let stream_on = log
        .lines()
        .find_map(|l| l.strip_prefix("stream on "))
        .expect("stream line");
    let (from, to) = log
        .lines()
        .find_map(|l| l.strip_prefix("cross-instance: "))
        .and_then(|l| l.split_once(" -> "))
        .expect("cross-instance line");
    assert_eq!(to, stream_on);
    assert_ne!(from, to, "{log}");
    assert!(log.contains("seen login from app-"), "{log}");
    assert!(log.contains("seen upload from app-"), "{log}");
    assert!(shot.is_file(), "no screenshot: {log}");
}

/// Many actions at once on three instances: a stream sees every one of them,
/// once, numbered in order.
#[test]
fn every_event_arrives_once_and_in_order() {
    let up = Up::start(&["-n", "3"]);
    let mut stream = Stream::open(up.addr);
    // Past events (the instances' starts) first: skip to a marker of our own.
    get(up.addr, "/login?name=marker").unwrap();
    stream.until("the marker", |e| e.data.contains("marker logged in"));
    let addr = up.addr;
    let threads: Vec<_> = (0..3)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..10 {
                    let r = get(addr, &format!("/login?name=u{t}-{i}")).unwrap();
                    assert_eq!(r.status, 303, "{r:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut logins = std::collections::HashMap::new();
    let mut instances = std::collections::HashSet::new();
    let mut last = 0;
    let events = stream.until("30 logins", |e| {
        if e.field("kind") == "login" {
            *logins.entry(e.field("text")).or_insert(0) += 1;
            instances.insert(e.field("instance"));
        }
        logins.len() == 30
    });
    for e in &events {
        let id = e.id.expect("numbered");
        assert!(id > last, "out of order or repeated: {id} after {last}");
        last = id;
    }
    assert!(logins.values().all(|n| *n == 1), "{logins:?}");
    // The logins were spread: the stream relayed events of other instances.
    assert!(
        instances.iter().any(|i| *i != stream.instance),
        "{instances:?} vs {}",
        stream.instance
    );
}

/// `bigstep ctl restart` of another instance: the stream sees it stop and start.
#[test]
fn instances_starting_and_stopping_appear_in_the_feed() {
    let up = Up::start(&["-n", "2"]);
    let mut stream = Stream::open(up.addr);
    let other = if stream.instance == "app-1" {
        "app-2"
    } else {
        "app-1"
    };
    up.ctl(&["restart", other]).expect_ok("restart");
    stream.until("the stop", |e| {
        e.field("kind") == "instance" && e.field("text") == format!("{other} stopping")
    });
    stream.until("the start", |e| {
        e.field("kind") == "instance" && e.field("text").starts_with(&format!("{other} started"))
    });
}

/// SIGTERM (what a service manager sends) with a live feed open: `up` exits at
/// once, not after the 30 s grace, and the stream ends rather than hangs.
#[test]
fn sigterm_with_an_open_feed_stream_exits_well_within_the_grace() {
    let mut up = Up::start(&["-n", "2", "--grace", "30s"]);
    let mut stream = Stream::open(up.addr);
    get(up.addr, "/login?name=before-the-stop").unwrap();
    stream.until("a live event", |e| e.data.contains("before-the-stop"));
    let t = Instant::now();
    let status = up.signal_and_wait("TERM", Duration::from_secs(25));
    let took = t.elapsed();
    assert!(status.is_some_and(|s| s.success()), "{}", up.output());
    eprintln!("bigstep up exited {took:?} after SIGTERM with an open feed stream");
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} of a 30 s grace: {}",
        up.output()
    );
    // The stream ends (the read returns), it does not hang until the timeout.
    while stream.next().is_some() {}
}
