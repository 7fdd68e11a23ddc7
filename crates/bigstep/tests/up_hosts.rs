//! Each instance of `bigstep up` behaves like a separate host: a file an app
//! writes to its own directory on one instance is not there on another (the
//! bug a second server shows), each has its own HOME and TMPDIR, and the app's
//! real directory is left untouched. `--shared-dir` turns it off.

mod upkit;

use std::collections::{HashMap, HashSet};

use upkit::{get, request, App, PY_PRELUDE};

/// Stores uploads in `./uploads/NAME` and serves them back; `/env` tells where it runs.
fn uploads_app() -> App {
    App::write(
        "hosts",
        &format!(
            "{PY_PRELUDE}{}",
            r#"
class H(Base):
    def do_GET(self):
        if self.path == "/env":
            return self.reply(200, "\n".join([os.environ["HOME"], os.environ["TMPDIR"], os.getcwd()]))
        if self.path.startswith("/uploads/"):
            p = "." + self.path
            if os.path.isfile(p):
                return self.reply(200, open(p).read())
            return self.reply(404, "no such file")
        self.reply(200, "ok")
    def do_POST(self):
        data = self.body()
        os.makedirs("uploads", exist_ok=True)
        with open("uploads/" + self.path.rsplit("/", 1)[1], "wb") as f:
            f.write(data)
        self.reply(201, "stored")
serve(H)
"#
        ),
    )
}

/// Upload through the front door, then GET it back 12 times: status by instance.
fn upload_and_read(up: &upkit::Up) -> (String, HashMap<String, HashSet<u16>>) {
    let r = request(up.addr, "POST", "/uploads/x.txt", &[], b"hello").unwrap();
    assert_eq!(r.status, 201, "{r:?}");
    let writer = r.header("x-instance").unwrap();
    let mut seen: HashMap<String, HashSet<u16>> = HashMap::new();
    for _ in 0..12 {
        let r = get(up.addr, "/uploads/x.txt").unwrap();
        seen.entry(r.header("x-instance").unwrap())
            .or_default()
            .insert(r.status);
    }
    (writer, seen)
}

fn check_separate(args: &[&str]) {
    let app = uploads_app();
    let up = app.up(args);
    let (writer, seen) = upload_and_read(&up);
    assert_eq!(seen.len(), 2, "both instances answered: {seen:?}");
    for (instance, statuses) in &seen {
        let want = if *instance == writer { 200 } else { 404 };
        assert_eq!(statuses, &HashSet::from([want]), "{instance}: {seen:?}");
    }
    assert!(
        !app.dir.join("uploads").exists(),
        "the app's own directory was written to"
    );
    // Their own HOME and TMPDIR.
    let mut envs = HashMap::new();
    for _ in 0..6 {
        let r = get(up.addr, "/env").unwrap();
        envs.insert(r.header("x-instance").unwrap(), r.body);
    }
    assert_eq!(envs.len(), 2, "{envs:?}");
    let values: HashSet<_> = envs.values().collect();
    assert_eq!(values.len(), 2, "HOME/TMPDIR shared: {envs:?}");
}

#[test]
fn uploads_on_one_instance_are_not_on_another() {
    // As root: a copy-on-write overlay in a mount namespace; otherwise a copy.
    check_separate(&["-n", "2"]);
}

#[test]
fn uploads_on_one_instance_are_not_on_another_with_copies() {
    check_separate(&["-n", "2", "--isolation", "copy"]);
}

#[test]
fn shared_dir_lets_instances_see_each_others_files() {
    let app = uploads_app();
    let up = app.up(&["-n", "2", "--shared-dir"]);
    let (_, seen) = upload_and_read(&up);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.values().all(|s| s == &HashSet::from([200])),
        "{seen:?}"
    );
    assert!(app.dir.join("uploads/x.txt").is_file());
    assert!(up.output().contains("--shared-dir"), "{}", up.output());
}
