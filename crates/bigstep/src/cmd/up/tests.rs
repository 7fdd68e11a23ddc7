//! The supervisor on real processes (`sh`, `sleep`), without the front door.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::kill;
use nix::unistd::Pid;
use tokio::sync::watch;
use tokio::time::Instant;

use super::backoff::Policy;
use super::supervisor::{Instance, Settings, Spawner, Spec, Stop};
use super::{parse_duration, pick_ports, substitute};

fn spec(name: &str, port: u16, script: &str) -> Spec {
    Spec {
        name: name.into(),
        index: 2,
        port,
        argv: vec!["sh".into(), "-c".into(), script.into()],
        label: name.into(),
        env: Vec::new(),
        launcher_args: Vec::new(),
    }
}

fn settings(grace: Duration) -> Arc<Settings> {
    Arc::new(Settings {
        grace,
        backoff: Policy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(80),
            reset_after: Duration::from_secs(30),
        },
        launcher: None,
        spawner: Spawner::start().unwrap(),
        env: vec![("BIGSTEP_TEST_ENV".into(), "yes".into())],
    })
}

fn free_port() -> u16 {
    pick_ports(1, None).unwrap()[0]
}

fn alive(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_ok()
}

/// Poll `cond` every 20 ms until it holds or `within` has passed.
async fn eventually(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn ready_once_the_port_accepts_and_stops_on_request() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let inst = Instance::start(
        spec("app-1", port, "exec sleep 30"),
        settings(Duration::from_secs(5)),
        stop_rx,
    );
    inst.wait_ready(Instant::now() + Duration::from_secs(10))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "pid known", || inst.pid().is_some()).await;
    let pid = inst.pid().unwrap();
    assert!(alive(pid));

    stop_tx.send_replace(Stop::Graceful);
    tokio::time::timeout(Duration::from_secs(5), inst.finished())
        .await
        .expect("sleep stops on SIGTERM");
    assert!(!alive(pid), "pid {pid} still running");
}

#[tokio::test]
async fn exit_before_ready_names_the_instance_and_its_output() {
    let (_stop_tx, stop_rx) = watch::channel(Stop::Running);
    // Bound but not listening: connections are refused, and no other test can
    // take the port and make it look ready.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = reserved.local_addr().unwrap().port();
    let inst = Instance::start(
        spec("app-3", port, "echo 'cannot open config' >&2; exit 3"),
        settings(Duration::from_secs(5)),
        stop_rx,
    );
    let err = inst
        .wait_ready(Instant::now() + Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("app-3 exited (exit status: 3)"), "{err}");
    assert!(err.contains("app-3 | cannot open config"), "{err}");
}

#[tokio::test]
async fn never_listening_times_out_with_a_clear_error() {
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let port = free_port();
    let inst = Instance::start(
        spec("app-2", port, "echo listening elsewhere; exec sleep 30"),
        settings(Duration::from_secs(5)),
        stop_rx,
    );
    let err = inst
        .wait_ready(Instant::now() + Duration::from_millis(500))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "app-2 did not accept connections on 127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(err.contains("$PORT"), "{err}");
    stop_tx.send_replace(Stop::Graceful);
    inst.finished().await;
}

#[tokio::test]
async fn crashing_instance_is_restarted_with_backoff() {
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let inst = Instance::start(
        spec("app-1", free_port(), "echo started; exit 1"),
        settings(Duration::from_secs(5)),
        stop_rx,
    );
    let t = Instant::now();
    eventually(Duration::from_secs(10), "four starts", || {
        inst.starts() >= 4
    })
    .await;
    // Delays 20 + 40 + 80 ms at least between the four starts.
    assert!(
        t.elapsed() >= Duration::from_millis(140),
        "{:?}",
        t.elapsed()
    );
    stop_tx.send_replace(Stop::Graceful);
    tokio::time::timeout(Duration::from_secs(5), inst.finished())
        .await
        .expect("stop interrupts the backoff wait");
}

#[tokio::test]
async fn killed_instance_comes_back_with_a_new_pid() {
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let inst = Instance::start(
        spec("app-1", free_port(), "exec sleep 30"),
        settings(Duration::from_secs(5)),
        stop_rx,
    );
    eventually(Duration::from_secs(5), "first start", || {
        inst.pid().is_some()
    })
    .await;
    let first = inst.pid().unwrap();
    kill(
        Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    eventually(Duration::from_secs(10), "restart", || {
        inst.pid().is_some_and(|p| p != first)
    })
    .await;
    assert_eq!(inst.starts(), 2);
    let second = inst.pid().unwrap();
    stop_tx.send_replace(Stop::Graceful);
    inst.finished().await;
    assert!(!alive(second));
}

#[tokio::test]
async fn instance_ignoring_sigterm_is_killed_after_the_grace_period() {
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let inst = Instance::start(
        spec(
            "app-1",
            free_port(),
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ),
        settings(Duration::from_millis(300)),
        stop_rx,
    );
    eventually(Duration::from_secs(5), "trap installed", || {
        inst.recent_lines().iter().any(|l| l == "ready")
    })
    .await;
    let pid = inst.pid().unwrap();
    let t = Instant::now();
    stop_tx.send_replace(Stop::Graceful);
    tokio::time::timeout(Duration::from_secs(5), inst.finished())
        .await
        .expect("SIGKILL after the grace period");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert!(!alive(pid));
}

#[tokio::test]
async fn stop_now_skips_the_grace_period() {
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let inst = Instance::start(
        spec(
            "app-1",
            free_port(),
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ),
        settings(Duration::from_secs(60)),
        stop_rx,
    );
    eventually(Duration::from_secs(5), "trap installed", || {
        inst.recent_lines().iter().any(|l| l == "ready")
    })
    .await;
    stop_tx.send_replace(Stop::Graceful);
    stop_tx.send_replace(Stop::Now);
    tokio::time::timeout(Duration::from_secs(5), inst.finished())
        .await
        .expect("a second signal does not wait 60 s");
}

#[tokio::test]
async fn instance_gets_port_and_name_in_its_environment() {
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let port = free_port();
    let inst = Instance::start(
        spec(
            "app-2",
            port,
            "echo \"$PORT $BIGSTEP_INSTANCE $BIGSTEP_INSTANCE_INDEX $BIGSTEP_TEST_ENV\"; exec sleep 30",
        ),
        settings(Duration::from_secs(5)),
        stop_rx,
    );
    // The shared settings' environment (REDIS_URL and the like) comes too.
    let want = format!("{port} app-2 2 yes");
    eventually(Duration::from_secs(5), "environment echoed", || {
        inst.recent_lines().contains(&want)
    })
    .await;
    stop_tx.send_replace(Stop::Graceful);
    inst.finished().await;
}

#[test]
fn arguments_get_port_and_instance_substituted() {
    let cmd: Vec<String> = [
        "serve",
        "--port=$PORT",
        "${PORT}",
        "$BIGSTEP_INSTANCE",
        "$BIGSTEP_INSTANCE_INDEX",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        substitute(&cmd, 4100, "app-3", 3),
        ["serve", "--port=4100", "4100", "app-3", "3"]
    );
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
    assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert!(parse_duration("soon").is_err());
    assert!(parse_duration("5h").is_err());
}

#[test]
fn picked_ports_are_distinct() {
    let ports = pick_ports(5, None).unwrap();
    let set: std::collections::HashSet<_> = ports.iter().collect();
    assert_eq!(set.len(), 5);
}
