//! INFO against redis-server 7.0: the same sections for every selector, the
//! same field names per section (less a short documented list), and every
//! field Redis prints as a number parses as one here too.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Conn, Pair};
use state::resp::Frame;

/// Fields we print that redis-server 7.0 does not: our version, and two
/// Redis 7.2 client counters.
const EXTRA: &[&str] = &["bigstep_version", "pubsub_clients", "watching_clients"];

/// `k=v,k=v` values: the names in order, each value checked to be a number.
fn parts(field: &str, v: &str) -> Vec<(String, String)> {
    v.split(',')
        .map(|kv| {
            let (a, b) = kv.split_once('=').expect("k=v");
            assert!(numeric(b), "{field}: {v}");
            (a.to_string(), b.to_string())
        })
        .collect()
}

type Sections = Vec<(String, BTreeMap<String, String>)>;

fn info(c: &mut Conn, line: &str) -> Sections {
    let text = match c.cmd(line) {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("`{line}`: {other:?}"),
    };
    let mut out: Sections = Vec::new();
    for l in text.split("\r\n") {
        if let Some(h) = l.strip_prefix("# ") {
            out.push((h.to_string(), BTreeMap::new()));
        } else if let Some((k, v)) = l.split_once(':') {
            let (_, fields) = out.last_mut().expect("field before any section");
            fields.insert(k.to_string(), v.to_string());
        } else {
            assert!(l.is_empty(), "`{line}`: stray line {l:?}");
        }
    }
    out
}

fn headers(s: &Sections) -> Vec<&str> {
    s.iter().map(|(h, _)| h.as_str()).collect()
}

fn numeric(v: &str) -> bool {
    v.trim_end_matches('%').parse::<f64>().is_ok()
}

/// The same sections, the same field names, numbers where Redis has numbers.
fn compare(p: &mut Pair, line: &str) {
    let r = info(&mut p.r, line);
    let o = info(&mut p.o, line);
    assert_eq!(headers(&r), headers(&o), "`{line}`: sections");
    for ((name, rf), (_, of)) in r.iter().zip(&o) {
        let rk: BTreeSet<&str> = rf.keys().map(|k| k.as_str()).collect();
        let ok: BTreeSet<&str> = of
            .keys()
            .map(|k| k.as_str())
            .filter(|k| !EXTRA.contains(k))
            .collect();
        assert_eq!(rk, ok, "`{line}`: fields of # {name}");
        for (k, rv) in rf {
            let ov = &of[k];
            if name == "Keyspace" {
                // db0:keys=N,expires=M,avg_ttl=T
                let parts = |v: &str| -> Vec<String> {
                    v.split(',')
                        .map(|kv| {
                            let (a, b) = kv.split_once('=').expect("k=v");
                            assert!(numeric(b), "{k}: {v}");
                            a.to_string()
                        })
                        .collect()
                };
                assert_eq!(parts(rv), parts(ov), "{k}");
            } else if name == "Commandstats" || name == "Latencystats" {
                // The same names in the same order; the same counts for the
                // same commands sent (INFO itself also ran on redis-server
                // when the harness checked it started). Times differ.
                let (r, o) = (parts(k, rv), parts(k, ov));
                let names =
                    |p: &[(String, String)]| p.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>();
                assert_eq!(names(&r), names(&o), "{k}");
                if k != "cmdstat_info" {
                    for ((f, a), (_, b)) in r.iter().zip(&o) {
                        if f.ends_with("calls") {
                            assert_eq!(a, b, "`{line}` {k} {f}");
                        }
                    }
                }
            } else if name == "Errorstats" {
                assert_eq!(rv, ov, "{k}: the same errors were sent to both");
            } else if numeric(rv) {
                assert!(numeric(ov), "`{line}` {k}: redis {rv:?}, ours {ov:?}");
            }
        }
    }
}

#[test]
fn sections_and_fields_match_redis() {
    let mut p = Pair::new();
    // Something in the keyspace, errors of two codes, scripts and functions.
    p.script(
        r##"
        set a 1
        set b 2
        expire b 1000
        lpush l x
        select 2
        set c 3
        select 0
        get l
        incr l
        nosuchcommand
        get
        multi
        set m 1
        incr m
        lpush m x
        exec
        config get maxmemory
        eval "return 1" 0
        eval "return redis.call('incr', 'a')" 0
        function load "#!lua name=i\nredis.register_function('f', function() return 1 end)"
        "##,
    );
    for line in [
        "info",
        "info default",
        "info all",
        "info everything",
        "info ALL",
        "info server clients",
        "info cpu",
        "info CPU",
        "info memory",
        "info persistence",
        "info stats",
        "info replication",
        "info modules",
        "info commandstats",
        "info latencystats",
        "info errorstats",
        "info cluster",
        "info keyspace",
        "info nosuch",
        "info server nosuch",
        "info keyspace server",
        "info default commandstats",
    ] {
        compare(&mut p, line);
    }
    p.script("?hello 3");
    compare(&mut p, "info everything");
}

#[test]
fn values_are_live() {
    let p = Pair::new();
    let mut o = Conn::connect(p.ours.addr);
    let get = |c: &mut Conn, sec: &str, field: &str| -> Option<String> {
        let s = info(c, &format!("info {sec}"));
        s[0].1.get(field).cloned()
    };
    assert_eq!(get(&mut o, "errorstats", "errorstat_ERR"), None);
    o.cmd("nosuchcommand");
    o.cmd("set s x");
    o.cmd("lpop s");
    o.cmd("get s");
    o.cmd("get missing");
    assert_eq!(
        get(&mut o, "errorstats", "errorstat_ERR").as_deref(),
        Some("count=1")
    );
    assert_eq!(
        get(&mut o, "errorstats", "errorstat_WRONGTYPE").as_deref(),
        Some("count=1")
    );
    assert_eq!(
        get(&mut o, "stats", "total_error_replies").as_deref(),
        Some("2")
    );
    assert_eq!(get(&mut o, "stats", "keyspace_hits").as_deref(), Some("1"));
    assert_eq!(
        get(&mut o, "stats", "keyspace_misses").as_deref(),
        Some("1")
    );
    assert_eq!(
        get(&mut o, "keyspace", "db0").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );
    o.cmd("function load \"#!lua name=v\\nredis.register_function('f', function() return 1 end)\"");
    assert_eq!(
        get(&mut o, "memory", "number_of_functions").as_deref(),
        Some("1")
    );
    assert_eq!(
        get(&mut o, "memory", "number_of_libraries").as_deref(),
        Some("1")
    );
    // CPU time comes from getrusage and only grows.
    let cpu = |c: &mut Conn| -> f64 {
        get(c, "cpu", "used_cpu_user")
            .unwrap()
            .parse::<f64>()
            .unwrap()
            + get(c, "cpu", "used_cpu_sys")
                .unwrap()
                .parse::<f64>()
                .unwrap()
    };
    let before = cpu(&mut o);
    for _ in 0..2000 {
        o.cmd("ping");
    }
    assert!(cpu(&mut o) >= before);
    assert!(cpu(&mut o) > 0.0, "the process has used some CPU by now");
    let ping = get(&mut o, "commandstats", "cmdstat_ping").expect("ping counted");
    assert!(ping.starts_with("calls=2000,usec="), "{ping}");
    assert!(ping.ends_with(",rejected_calls=0,failed_calls=0"), "{ping}");
    o.cmd("set");
    o.cmd("lpush s x");
    let set = get(&mut o, "commandstats", "cmdstat_set").expect("set counted");
    assert!(
        set.starts_with("calls=1,") && set.ends_with(",rejected_calls=1,failed_calls=0"),
        "{set}"
    );
    let lpush = get(&mut o, "commandstats", "cmdstat_lpush").expect("lpush counted");
    assert!(
        lpush.ends_with(",rejected_calls=0,failed_calls=1"),
        "{lpush}"
    );
    let lat = get(&mut o, "latencystats", "latency_percentiles_usec_ping").expect("ping latency");
    let ps: Vec<f64> = lat
        .split(',')
        .map(|kv| kv.split_once('=').expect("p=v").1.parse().expect("number"))
        .collect();
    assert!(
        ps.len() == 3 && ps[0] > 0.0 && ps[0] <= ps[1] && ps[1] <= ps[2],
        "{lat}"
    );
    assert_eq!(
        o.cmd("config set latency-tracking-info-percentiles \"50 90\""),
        Frame::Simple("OK".into())
    );
    let lat = get(&mut o, "latencystats", "latency_percentiles_usec_ping").expect("ping latency");
    assert!(
        lat.starts_with("p50=") && lat.contains(",p90=") && !lat.contains("p99"),
        "{lat}"
    );
    assert_eq!(
        o.cmd("config set latency-tracking no"),
        Frame::Simple("OK".into())
    );
    assert_eq!(
        get(&mut o, "latencystats", "latency_percentiles_usec_ping"),
        None
    );
    assert_eq!(o.cmd("config resetstat"), Frame::Simple("OK".into()));
    assert_eq!(get(&mut o, "commandstats", "cmdstat_ping"), None);
    assert_eq!(get(&mut o, "commandstats", "cmdstat_set"), None);
    o.cmd("config set latency-tracking yes");
    assert_eq!(
        get(&mut o, "latencystats", "latency_percentiles_usec_ping"),
        None
    );
    assert_eq!(get(&mut o, "errorstats", "errorstat_ERR"), None);
    assert_eq!(
        get(&mut o, "stats", "total_error_replies").as_deref(),
        Some("0")
    );
}

#[test]
fn persistence_fields_with_the_log_on() {
    let dir = testkit::TempDir::new("state-info");
    let d = dir.to_str().expect("utf-8 path");
    let cfg = state::Config {
        dir: Some(dir.join("ours")),
        ..Default::default()
    };
    let mut p = Pair::with(&["--appendonly", "yes", "--dir", d], cfg);
    p.script("set a 1");
    compare(&mut p, "info persistence");
    let _ = std::fs::remove_dir_all(&dir);
}
