//! `bigstep up` registers its instances in its shared state under the discovery
//! convention: a second, stand-alone front door pointed at that state server
//! (`[balance.discovery] registry`) finds them and sends them traffic, with no
//! server named in its file; an instance stopped in `up` leaves it.

mod support;
mod upkit;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use testkit::process::FrontDoorProc;
use upkit::{get, wait_for, Up};

/// Which instance answered each of `n` GETs through `addr` (`X-Served-By`,
/// which the demo sets itself), failures by status.
fn spread(addr: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let who = match get(addr, "/api/whoami") {
            Ok(r) if r.status == 200 => r.header("x-served-by").unwrap_or_else(|| "?".into()),
            Ok(r) => format!("status {}", r.status),
            Err(e) => format!("error {e}"),
        };
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

#[test]
fn a_second_front_door_finds_ups_instances_in_shared_state() {
    let up = Up::start(&["-n", "2"]);
    let out = up.output();
    let url = out
        .lines()
        .find_map(|l| l.strip_prefix("bigstep up: shared state on "))
        .and_then(|l| l.split_whitespace().next())
        .expect("shared state line")
        .to_string();
    up.wait_output("the registration line", |o| {
        o.contains("instances registered in shared state")
    });
    let fd = FrontDoorProc::start(
        upkit::BIN,
        &format!(
            "admin_listen = \"127.0.0.1:0\"\n\
             [balance.health]\npath = \"/healthz\"\ninterval = \"200ms\"\nrise = 1\nfall = 1\n\
             [balance.discovery]\nregistry = \"{url}\"\npoll = \"500ms\"\n"
        ),
    );
    wait_for(
        Duration::from_secs(20),
        "both instances behind the second front door",
        || {
            let seen = spread(fd.addr, 6);
            seen.contains_key("app-1") && seen.contains_key("app-2")
        },
    );

    // Stopped in `up`: deregistered, and the second front door lets it go.
    up.ctl(&["stop", "app-2"]).expect_ok("stop app-2");
    let admin = support::admin_addr(&fd);
    wait_for(
        Duration::from_secs(20),
        "app-2 gone from the second front door",
        || {
            let r = get(admin, "/api/servers").unwrap();
            !r.body.contains("\"app-2\"")
        },
    );
    let seen = spread(fd.addr, 6);
    assert_eq!(seen.keys().collect::<Vec<_>>(), vec!["app-1"], "{seen:?}");
}
