//! The single-host detectors of `bigstep up`, on small apps of the tests' own
//! (Python, run as the user's command) that make each mistake — sessions in
//! process memory, uploads on local disk, carts in process memory — and the
//! same apps fixed (sessions and carts in the shared state through redis-py,
//! uploads in the shared files through boto3), which must show nothing. Counts come from `GET /api/findings` and
//! the summary `up` prints when it stops.

mod upkit;

use std::time::Duration;

use serde_json::Value;
use upkit::{get, request, App, Up, PY_PRELUDE};

/// Sessions in a dict: an instance that did not create the session starts a new one.
const SESSIONS_IN_MEMORY: &str = r#"
import uuid
SESSIONS = {}
class H(Base):
    def do_GET(self):
        sid = self.cookie("sid")
        if sid in SESSIONS:
            SESSIONS[sid] += 1
            return self.reply(200, "visit %d" % SESSIONS[sid])
        sid = uuid.uuid4().hex
        SESSIONS[sid] = 1
        self.reply(200, "new session", [("Set-Cookie", "sid=%s; Path=/; HttpOnly" % sid)])
serve(H)
"#;

/// The same app with sessions in the shared state.
const SESSIONS_IN_REDIS: &str = r#"
import uuid, redis
R = redis.Redis.from_url(os.environ["REDIS_URL"])
class H(Base):
    def do_GET(self):
        sid = self.cookie("sid")
        if sid and R.exists("session:" + sid):
            n = R.incr("session:" + sid)
            return self.reply(200, "visit %d" % n)
        sid = uuid.uuid4().hex
        R.set("session:" + sid, 1)
        self.reply(200, "new session", [("Set-Cookie", "sid=%s; Path=/; HttpOnly" % sid)])
serve(H)
"#;

/// A session carried in a header: `POST /login` answers a token in
/// `X-Session`, later requests send it back; tokens kept in a dict, so an
/// instance that did not issue one answers 401.
const HEADER_SESSIONS_IN_MEMORY: &str = r#"
import uuid
TOKENS = set()
class H(Base):
    def do_POST(self):
        self.body()
        t = uuid.uuid4().hex
        TOKENS.add(t)
        self.reply(200, "logged in", [("X-Session", t)])
    def do_GET(self):
        if self.headers.get("X-Session") in TOKENS:
            return self.reply(200, "hello")
        self.reply(401, "who are you?")
serve(H)
"#;

/// The same app with the tokens in the shared state.
const HEADER_SESSIONS_IN_REDIS: &str = r#"
import uuid, redis
R = redis.Redis.from_url(os.environ["REDIS_URL"])
class H(Base):
    def do_POST(self):
        self.body()
        t = uuid.uuid4().hex
        R.set("token:" + t, 1)
        self.reply(200, "logged in", [("X-Session", t)])
    def do_GET(self):
        t = self.headers.get("X-Session")
        if t and R.exists("token:" + t):
            return self.reply(200, "hello")
        self.reply(401, "who are you?")
serve(H)
"#;

/// Uploads to `./uploads`.
const UPLOADS_ON_DISK: &str = r#"
class H(Base):
    def do_GET(self):
        p = "." + self.path
        if self.path.startswith("/uploads/") and os.path.isfile(p):
            return self.reply(200, open(p).read())
        self.reply(404 if self.path.startswith("/uploads/") else 200, "no such file" if self.path.startswith("/uploads/") else "ok")
    def do_POST(self):
        data = self.body()
        os.makedirs("uploads", exist_ok=True)
        with open("." + self.path, "wb") as f:
            f.write(data)
        self.reply(201, "stored")
serve(H)
"#;

/// The same app with uploads in the shared files (S3 API).
const UPLOADS_IN_S3: &str = r#"
import boto3, botocore
S3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"],
                  config=botocore.config.Config(s3={"addressing_style": "path"}))
BUCKET = os.environ["BIGSTEP_BUCKET"]
class H(Base):
    def do_GET(self):
        if not self.path.startswith("/uploads/"):
            return self.reply(200, "ok")
        try:
            o = S3.get_object(Bucket=BUCKET, Key=self.path[1:])
            return self.reply(200, o["Body"].read().decode())
        except S3.exceptions.NoSuchKey:
            return self.reply(404, "no such file")
    def do_POST(self):
        S3.put_object(Bucket=BUCKET, Key=self.path[1:], Body=self.body())
        self.reply(201, "stored")
serve(H)
"#;

fn start(tag: &str, body: &str) -> (App, Up) {
    let app = App::write(tag, &format!("{PY_PRELUDE}{body}"));
    let up = app.up(&["-n", "3"]);
    (app, up)
}

/// A browser's visits: follow `sid` as a cookie jar would.
fn browse(up: &Up, visits: usize) {
    let mut sid: Option<String> = None;
    for _ in 0..visits {
        let cookie = sid.as_ref().map(|s| format!("sid={s}"));
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
        let r = request(up.addr, "GET", "/account", &headers, b"").unwrap();
        assert_eq!(r.status, 200, "{r:?}");
        for c in r.set_cookies() {
            if let Some(v) = c.strip_prefix("sid=") {
                sid = Some(v.split(';').next().unwrap().to_string());
            }
        }
        // The favicon a browser asks for beside the page: never a finding.
        let _ = request(up.addr, "GET", "/favicon.ico", &headers, b"").unwrap();
    }
}

/// Upload one file, then read it back as other users would.
fn upload_and_read(up: &Up) {
    let r = request(up.addr, "POST", "/uploads/cat.txt", &[], b"meow").unwrap();
    assert_eq!(r.status, 201, "{r:?}");
    for _ in 0..9 {
        let r = get(up.addr, "/uploads/cat.txt").unwrap();
        assert!(r.status == 200 || r.status == 404, "{r:?}");
    }
}

fn findings(up: &Up) -> Vec<Value> {
    let r = get(up.admin, "/api/findings").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_str::<Value>(&r.body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn total(list: &[Value], kind: &str) -> u64 {
    list.iter()
        .filter(|f| f["kind"] == kind)
        .map(|f| f["count"].as_u64().unwrap())
        .sum()
}

/// Stop `up` and return what it printed.
fn stop(mut up: Up) -> String {
    let status = up.signal_and_wait("TERM", Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{}", up.output());
    up.output()
}

#[test]
fn sessions_in_memory_are_reported_per_server_and_path() {
    let (_app, up) = start("sess-mem", SESSIONS_IN_MEMORY);
    browse(&up, 9);
    let list = findings(&up);
    assert!(total(&list, "session-loss") >= 5, "{list:#?}");
    for f in &list {
        assert_eq!(f["kind"], "session-loss", "{f}");
        assert_eq!(f["path"], "/account", "{f}");
        assert!(f["title"].as_str().unwrap().contains("sid"), "{f}");
        assert!(f["fix"].as_str().unwrap().contains("REDIS_URL"), "{f}");
    }
    let out = stop(up);
    assert!(
        out.contains("single-host findings (what would break"),
        "{out}"
    );
    assert!(out.contains("Session lost (cookie sid)"), "{out}");
}

#[test]
fn sessions_in_shared_state_are_not_reported() {
    let (_app, up) = start("sess-redis", SESSIONS_IN_REDIS);
    browse(&up, 9);
    assert_eq!(findings(&up), Vec::<Value>::new());
    let out = stop(up);
    assert!(out.contains("single-host findings: none"), "{out}");
}

/// Log in, then make `n` requests with the token as a client would.
fn header_session(up: &Up, n: usize) -> Vec<u16> {
    let r = request(up.addr, "POST", "/login", &[], b"").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let token = r.header("x-session").expect("a token in X-Session");
    (0..n)
        .map(|_| {
            request(up.addr, "GET", "/me", &[("X-Session", &token)], b"")
                .unwrap()
                .status
        })
        .collect()
}

#[test]
fn sessions_in_a_header_kept_in_memory_are_reported() {
    let app = App::write(
        "hdr-mem",
        &format!("{PY_PRELUDE}{HEADER_SESSIONS_IN_MEMORY}"),
    );
    let up = app.up(&["-n", "3", "--session-header", "X-Session"]);
    let statuses = header_session(&up, 9);
    assert!(statuses.contains(&401), "{statuses:?}");
    let list = findings(&up);
    let lost = statuses.iter().filter(|s| **s == 401).count() as u64;
    assert_eq!(total(&list, "session-loss"), lost, "{list:#?}");
    for f in &list {
        assert_eq!(f["path"], "/me", "{f}");
        assert_eq!(f["title"], "Session lost (header X-Session)", "{f}");
    }
    let out = stop(up);
    assert!(out.contains("Session lost (header X-Session)"), "{out}");
}

#[test]
fn sessions_in_a_header_kept_in_shared_state_are_not_reported() {
    let app = App::write(
        "hdr-redis",
        &format!("{PY_PRELUDE}{HEADER_SESSIONS_IN_REDIS}"),
    );
    let up = app.up(&["-n", "3", "--session-header", "X-Session"]);
    let statuses = header_session(&up, 9);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(findings(&up), Vec::<Value>::new());
    let out = stop(up);
    assert!(out.contains("single-host findings: none"), "{out}");
}

#[test]
fn uploads_on_local_disk_are_reported() {
    let (_app, up) = start("files-disk", UPLOADS_ON_DISK);
    upload_and_read(&up);
    let list = findings(&up);
    assert!(total(&list, "file-on-one-instance") >= 3, "{list:#?}");
    assert!(
        list.iter().all(|f| f["path"] == "/uploads/cat.txt"),
        "{list:#?}"
    );
    assert!(list
        .iter()
        .all(|f| f["fix"].as_str().unwrap().contains("S3_ENDPOINT_URL")));
}

#[test]
fn uploads_in_shared_files_are_not_reported() {
    let (_app, up) = start("files-s3", UPLOADS_IN_S3);
    upload_and_read(&up);
    assert_eq!(findings(&up), Vec::<Value>::new());
}

/// Carts in a dict: the instance that created a cart answers for it; the others
/// fail with 500, as a framework does on an uncaught KeyError.
const CARTS_IN_MEMORY: &str = r#"
import uuid
CARTS = {}
class H(Base):
    def do_POST(self):
        cid = uuid.uuid4().hex
        CARTS[cid] = []
        self.reply(201, cid)
    def do_GET(self):
        try:
            items = CARTS[self.path.rsplit("/", 1)[1]]
            self.reply(200, "%d items" % len(items))
        except KeyError:
            self.reply(500, "Internal Server Error")
serve(H)
"#;

/// The same app with carts in the shared state.
const CARTS_IN_REDIS: &str = r#"
import uuid, redis
R = redis.Redis.from_url(os.environ["REDIS_URL"])
class H(Base):
    def do_POST(self):
        cid = uuid.uuid4().hex
        R.set("cart:" + cid, 0)
        self.reply(201, cid)
    def do_GET(self):
        n = R.get("cart:" + self.path.rsplit("/", 1)[1])
        if n is None:
            return self.reply(404, "no such cart")
        self.reply(200, "%d items" % int(n))
serve(H)
"#;

/// Create a cart, then read it until the instance that made it has answered
/// and the others have answered three times after that. Returns the path and
/// how many failures came after the creator's first success.
fn cart_reads(up: &Up) -> (String, u64) {
    let r = request(up.addr, "POST", "/cart", &[], b"").unwrap();
    assert_eq!(r.status, 201, "{r:?}");
    let owner = r.header("x-instance").expect("X-Instance");
    let path = format!("/cart/{}", r.body.trim());
    let (mut owner_answered, mut others, mut failures) = (false, 0, 0);
    upkit::wait_for(Duration::from_secs(30), "reads from every instance", || {
        let r = get(up.addr, &path).unwrap();
        let by = r.header("x-instance").expect("X-Instance");
        if by == owner {
            assert_eq!(r.status, 200, "{r:?}");
            owner_answered = true;
        } else if owner_answered {
            others += 1;
            if r.status >= 500 {
                failures += 1;
            }
        }
        others >= 3
    });
    (path, failures)
}

#[test]
fn state_in_one_instances_memory_is_reported_as_failing_on_the_others() {
    let (_app, up) = start("carts-mem", CARTS_IN_MEMORY);
    let (path, failures) = cart_reads(&up);
    assert_eq!(
        failures, 3,
        "the app fails on the instances without the cart"
    );
    let list = findings(&up);
    // Every failure after a success elsewhere, and nothing else.
    assert_eq!(total(&list, "instance-only-state"), failures, "{list:#?}");
    for f in &list {
        assert_eq!(f["kind"], "instance-only-state", "{f}");
        assert_eq!(f["path"], path.as_str(), "{f}");
        assert!(f["fix"].as_str().unwrap().contains("REDIS_URL"), "{f}");
    }
    let out = stop(up);
    assert!(out.contains("Fails on some instances only (GET)"), "{out}");
}

#[test]
fn state_in_shared_state_is_not_reported() {
    let (_app, up) = start("carts-redis", CARTS_IN_REDIS);
    let (_, failures) = cart_reads(&up);
    assert_eq!(failures, 0);
    assert_eq!(findings(&up), Vec::<Value>::new());
    let out = stop(up);
    assert!(out.contains("single-host findings: none"), "{out}");
}

/// A single-page app on top of a header-session app: `GET /` is a page whose
/// script logs in and sends the token back on nine `GET /me` (fetch), then
/// writes what it saw into `#status`.
const HEADER_SESSIONS_PAGE: &str = r#"
PAGE = """<!doctype html>
<meta charset="utf-8"><title>Token in X-Session</title>
<h1>Token in X-Session</h1>
<p id="status">working</p>
<ol id="log"></ol>
<script>
(async () => {
  const login = await fetch("/login", { method: "POST" });
  const token = login.headers.get("X-Session");
  const n = 9;
  let refused = 0;
  for (let i = 0; i < n; i++) {
    const r = await fetch("/me", { headers: { "X-Session": token }, cache: "no-store" });
    if (r.status === 401) refused++;
    const li = document.createElement("li");
    li.textContent = r.status + " from " + r.headers.get("X-Served-By");
    document.getElementById("log").append(li);
  }
  const s = document.getElementById("status");
  s.textContent = n + " requests, " + refused + " refused";
  s.dataset.sent = n;
  s.dataset.refused = refused;
  s.dataset.done = "1";
})();
</script>
"""
class Page(H):
    def do_GET(self):
        if self.path == "/":
            return self.reply(200, PAGE, [("Content-Type", "text/html; charset=utf-8")])
        if self.path == "/favicon.ico":
            # No 404: Chromium logs one as a console error, which the script refuses.
            return self.reply(204, "")
        H.do_GET(self)
serve(Page)
"#;

/// Run `header-sessions.mjs` against the app `body` (a header-session app)
/// with `--session-header X-Session`: (the app, up, the script's output, how
/// many `/me` the page saw refused).
fn header_sessions_in_chromium(tag: &str, body: &str, expect: &str) -> (App, Up, String, u64) {
    let body = body
        .strip_suffix("serve(H)\n")
        .expect("the app ends in serve(H)");
    let app = App::write(tag, &format!("{PY_PRELUDE}{body}{HEADER_SESSIONS_PAGE}"));
    let up = app.up(&["-n", "3", "--session-header", "X-Session"]);
    let browser = testkit::browser::prepare(&format!("up-{tag}.png"));
    let screenshot = &browser.screenshot;
    let (site, admin) = (
        format!("http://{}/", up.addr),
        format!("http://{}/", up.admin),
    );
    let (passed, log) = browser.run(
        "header-sessions.mjs",
        &[
            site.as_ref(),
            admin.as_ref(),
            expect.as_ref(),
            screenshot.as_os_str(),
        ],
    );
    assert!(
        passed,
        "header-sessions.mjs failed:\n{log}\n{}",
        up.output()
    );
    assert!(screenshot.is_file(), "no screenshot: {log}");
    eprintln!("{log}");
    let refused = log
        .lines()
        .find_map(|l| l.strip_prefix("page: 9 requests, "))
        .and_then(|r| r.strip_suffix(" refused"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no page line: {log}"));
    (app, up, log, refused)
}

/// Headless Chromium: an SPA whose tokens live in one instance's memory is
/// refused by the others, and the dashboard shows as many header-session
/// losses as the page saw 401s (the same count `/api/findings` gives).
/// Screenshot in test-artifacts/up-hdr-mem-browser.png. Needs node,
/// /usr/bin/chromium and playwright-core in `.ci/node` (`.ci/install`);
/// without them it fails, it does not skip.
#[test]
fn header_sessions_in_memory_show_on_the_dashboard_in_chromium() {
    let (_app, up, log, refused) =
        header_sessions_in_chromium("hdr-mem-browser", HEADER_SESSIONS_IN_MEMORY, "loss");
    assert!(refused > 0, "{log}");
    let list = findings(&up);
    assert_eq!(total(&list, "session-loss"), refused, "{list:#?}");
    assert!(
        list.iter()
            .all(|f| f["title"] == "Session lost (header X-Session)" && f["path"] == "/me"),
        "{list:#?}"
    );
}

/// The same SPA with its tokens in the shared state: no 401, and the dashboard
/// says none seen. Screenshot in test-artifacts/up-hdr-redis-browser.png.
#[test]
fn header_sessions_in_shared_state_show_none_in_chromium() {
    let (_app, up, log, refused) =
        header_sessions_in_chromium("hdr-redis-browser", HEADER_SESSIONS_IN_REDIS, "none");
    assert_eq!(refused, 0, "{log}");
    assert_eq!(findings(&up), Vec::<Value>::new());
}
