//! WATCH and commands that store into a key they do not name in a fixed
//! position (SORT ... STORE): the destination's watchers see the change,
//! the source's do not, as with redis-server.

mod common;

use common::Pair;

#[test]
fn sort_store_fails_watchers_of_its_destination() {
    let mut p = Pair::new();
    let (mut r2, mut o2) = p.conns();
    let cases = [
        // (setup, watched key, command from another client)
        ("rpush src 3 1 2\nset dst x", "dst", "sort src store dst"),
        ("set dst x", "dst", "sort nosrc store dst"),
        ("del dst", "dst", "sort nosrc store dst"),
        ("rpush src 3 1 2", "dst", "sort src store dst"),
        ("rpush src 3 1 2", "src", "sort src store dst"),
        (
            "rpush src 3 1 2\nrpush dst a",
            "dst",
            "sort src limit 0 0 store dst",
        ),
        ("sadd s b a", "dst", "sort s alpha store dst"),
    ];
    for (setup, watched, cmd) in cases {
        p.script(&format!("flushall\n{setup}\nwatch {watched}\nmulti\nping"));
        r2.cmd(cmd);
        o2.cmd(cmd);
        p.script("exec\n?hello 3");
        p.script(&format!("watch {watched}\nmulti\nping"));
        r2.cmd(cmd);
        o2.cmd(cmd);
        p.script("exec\n?hello 2");
    }
}
