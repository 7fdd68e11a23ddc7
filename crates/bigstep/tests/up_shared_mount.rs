//! `bigstep up --shared-mount DIR`: the shared bucket mounted with `rclone
//! mount` for each instance at DIR/app-N. A file one instance writes to its
//! mount is read by the other through its own, as apps on two hosts sharing a
//! network directory would; the mounts go away when `up` stops. Like the files
//! crate's mount test, this fails (it does not skip) where FUSE is unusable,
//! unless BIGSTEP_ALLOW_NO_FUSE=1 says to skip.

mod upkit;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use upkit::{request, wait_for, App, BIN, PY_PRELUDE};

/// Why FUSE mounts cannot be made here, if they cannot (the files crate's rule).
fn fuse_unusable() -> Option<String> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        return Some(format!("/dev/fuse cannot be opened: {e}"));
    }
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
    };
    ["rclone", "fusermount3"]
        .into_iter()
        .find(|t| !on_path(t))
        .map(|t| format!("{t} is missing (Debian packages rclone, fuse3)"))
}

fn mounted(dir: &Path) -> bool {
    std::fs::read_to_string("/proc/mounts")
        .is_ok_and(|m| m.contains(&format!(" {} fuse.rclone ", dir.display())))
}

/// Writes `POST /files/NAME` to `$BIGSTEP_SHARED_DIR/NAME`, serves it back on
/// `GET /files/NAME`; `/where` says the instance's mount.
fn shared_app() -> App {
    App::write(
        "mountapp",
        &format!(
            "{PY_PRELUDE}{}",
            r#"
SHARED = os.environ["BIGSTEP_SHARED_DIR"]
class H(Base):
    def do_GET(self):
        if self.path == "/where":
            return self.reply(200, SHARED)
        p = os.path.join(SHARED, self.path.rsplit("/", 1)[1])
        if os.path.isfile(p):
            return self.reply(200, open(p).read())
        self.reply(404, "no such file")
    def do_POST(self):
        data = self.body()
        with open(os.path.join(SHARED, self.path.rsplit("/", 1)[1]), "wb") as f:
            f.write(data)
        self.reply(201, "stored")
serve(H)
"#
        ),
    )
}

#[test]
fn a_file_written_through_one_instances_mount_is_read_through_the_others() {
    if let Some(why) = fuse_unusable() {
        if std::env::var_os("BIGSTEP_ALLOW_NO_FUSE").is_some() {
            eprintln!("SKIPPED (BIGSTEP_ALLOW_NO_FUSE is set): {why}");
            return;
        }
        panic!("FUSE is not usable here: {why}. Set BIGSTEP_ALLOW_NO_FUSE=1 to skip this test on purpose.");
    }
    let app = shared_app();
    let mounts = testkit::process::temp_dir("mounts");
    let base = mounts.canonicalize().expect("canonical");
    let base_arg = base.to_string_lossy().into_owned();
    let mut up = app.up(&["-n", "2", "--shared-mount", &base_arg]);
    let (one, two) = (base.join("app-1"), base.join("app-2"));
    assert!(mounted(&one) && mounted(&two), "{}", up.output());
    assert!(up.output().contains("shared mount"), "{}", up.output());

    // Each instance is told its own mount.
    let mut wheres = std::collections::HashMap::new();
    wait_for(Duration::from_secs(20), "both instances to answer", || {
        let r = request(up.addr, "GET", "/where", &[], b"").expect("where");
        wheres.insert(r.header("x-instance").expect("instance"), r.body);
        wheres.len() == 2
    });
    assert_eq!(wheres["app-1"], one.to_string_lossy());
    assert_eq!(wheres["app-2"], two.to_string_lossy());

    // Written by whichever instance takes the POST, through its mount...
    let r = request(up.addr, "POST", "/files/note.txt", &[], b"hello, shared").expect("post");
    assert_eq!(r.status, 201, "{r:?}");
    let writer = r.header("x-instance").expect("instance");
    // ...read by the other through its own (rclone's directory cache: ~1 s).
    wait_for(
        Duration::from_secs(20),
        "the other instance to read the file",
        || {
            let r = request(up.addr, "GET", "/files/note.txt", &[], b"").expect("get");
            r.header("x-instance").as_deref() != Some(writer.as_str())
                && r.status == 200
                && r.body == "hello, shared"
        },
    );
    // And on disk through both mount points.
    for dir in [&one, &two] {
        wait_for(Duration::from_secs(10), "the file in both mounts", || {
            std::fs::read_to_string(dir.join("note.txt")).is_ok_and(|s| s == "hello, shared")
        });
    }

    // Stopping `up` unmounts both.
    let status = up.signal_and_wait("TERM", Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{}", up.output());
    assert!(!mounted(&one) && !mounted(&two), "mounts left behind");
}

#[test]
fn without_rclone_the_error_says_what_to_install() {
    let empty = testkit::process::temp_dir("nopath");
    let base = empty.join("mounts");
    let out = Command::new(BIN)
        .args(["up", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--state-port", "0", "--files-port", "0", "--ephemeral"])
        .arg("--shared-mount")
        .arg(&base)
        // No rclone, no fusermount3 on this PATH.
        .env("PATH", &empty)
        .output()
        .expect("run bigstep up");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--shared-mount needs FUSE and rclone")
            && stderr.contains("apt-get install rclone fuse3"),
        "{stderr}"
    );
    assert!(!base.join("app-1").exists(), "nothing mounted");
}

/// `[up] shared_mount` in bigstep.toml is `--shared-mount`: without rclone on
/// the PATH, the same error (an `up` that ignored the key would start the site).
#[test]
fn the_shared_mount_key_in_the_file_is_the_flag() {
    let empty = testkit::process::temp_dir("nopath-file");
    std::fs::write(
        empty.join("bigstep.toml"),
        "[up]\nshared_mount = \"mounts\"\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["up", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--state-port", "0", "--files-port", "0", "--ephemeral"])
        .current_dir(&empty)
        .env("PATH", &empty)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run bigstep up");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("bigstep up started the site: [up] shared_mount was not used");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--shared-mount needs FUSE and rclone"),
        "{stderr}"
    );
    assert!(!empty.join("mounts/app-1").exists(), "nothing mounted");
}
