//! The demo's distributed lock (`/lock`) under `bigstep up`: concurrent
//! requests spread over three instances never find another run inside the
//! critical section when they hold the lock (counted, per run and in shared
//! state), and do when they run without it — so the count can fail.

mod upkit;

use std::net::SocketAddr;

use serde_json::Value;
use upkit::{get, Up};

/// `clients` threads each GET `path` `each` times at once; every JSON answer.
fn concurrent(addr: SocketAddr, path: &'static str, clients: usize, each: usize) -> Vec<Value> {
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            std::thread::spawn(move || {
                (0..each)
                    .map(|_| {
                        let r = get(addr, path).unwrap();
                        assert_eq!(r.status, 200, "{r:?}");
                        serde_json::from_str::<Value>(&r.body).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

fn overlaps(runs: &[Value]) -> usize {
    runs.iter().filter(|r| r["overlap"] == true).count()
}

#[test]
fn holders_of_the_lock_never_overlap_across_instances() {
    let up = Up::start(&["-n", "3"]);
    let runs = concurrent(up.addr, "/lock?ms=20", 4, 6);
    assert_eq!(runs.len(), 24);
    assert!(runs.iter().all(|r| r["locked"] == true), "{runs:?}");
    let instances: std::collections::HashSet<_> =
        runs.iter().map(|r| r["instance"].to_string()).collect();
    assert!(
        instances.len() >= 2,
        "one instance served all: {instances:?}"
    );
    assert_eq!(overlaps(&runs), 0, "{runs:#?}");
    // The shared count agrees: no run, on any instance, saw another inside.
    let last = concurrent(up.addr, "/lock?ms=1", 1, 1);
    assert_eq!(last[0]["overlaps_total"], 0, "{last:?}");
}

#[test]
fn without_the_lock_runs_do_overlap() {
    let up = Up::start(&["-n", "3"]);
    // Rounds of four concurrent 100 ms runs until one finds another inside
    // (the first round nearly always does); bounded.
    let mut seen = 0;
    for _ in 0..10 {
        let runs = concurrent(up.addr, "/lock?ms=100&lock=off", 4, 1);
        assert!(runs.iter().all(|r| r["locked"] == false), "{runs:?}");
        seen += overlaps(&runs);
        if seen > 0 {
            break;
        }
    }
    assert!(seen > 0, "four concurrent unlocked runs never overlapped");
    let r = get(up.addr, "/lock?lock=maybe").unwrap();
    assert_eq!(r.status, 400, "{r:?}");
}
