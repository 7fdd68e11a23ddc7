#!/usr/bin/env python3
"""Writes crates/state/src/command_info/table.rs from a running redis-server's COMMAND.

Usage: python3 scripts/gen_command_info.py PORT > crates/state/src/command_info/table.rs
Reads COMMAND over RESP3 (raw socket, no client library) and keeps, for every
command and subcommand, what COMMAND INFO shows beside the name, arity and
arity: its flags, legacy key range, tips and key specs.
"""
import socket
import sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*1\r\n$7\r\nCOMMAND\r\n")
f = s.makefile("rb")


def rd():
    line = f.readline()[:-2]
    t, v = line[:1], line[1:]
    if t in b"+-":
        return v.decode()
    if t == b":":
        return int(v)
    if t == b"$":
        n = int(v)
        d = f.read(n + 2)[:-2]
        return d.decode()
    if t in b"*~":
        return [rd() for _ in range(int(v))]
    if t == b"%":
        return {rd(): rd() for _ in range(int(v))}
    if t == b"_":
        return None
    raise Exception(line)


rd()  # HELLO
out = {}


def walk(e):
    out[e[0]] = e
    for sub in e[9]:
        walk(sub)


for e in rd():
    walk(e)


def q(x):
    return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'


def begin(b):
    t, sp = b["type"], b["spec"]
    if t == "index":
        return f"Begin::Index({sp['index']})"
    if t == "keyword":
        return f"Begin::Keyword({q(sp['keyword'])}, {sp['startfrom']})"
    assert t == "unknown", b
    return "Begin::Unknown"


def find(k):
    t, sp = k["type"], k["spec"]
    if t == "range":
        return f"Find::Range {{ lastkey: {sp['lastkey']}, step: {sp['keystep']}, limit: {sp['limit']} }}"
    if t == "keynum":
        return f"Find::Keynum {{ index: {sp['keynumidx']}, first: {sp['firstkey']}, step: {sp['keystep']} }}"
    assert t == "unknown", k
    return "Find::Unknown"


def spec(k):
    notes = f"Some({q(k['notes'])})" if "notes" in k else "None"
    assert set(k) <= {"notes", "flags", "begin_search", "find_keys"}, k
    return (
        f"KeySpec {{ notes: {notes}, flags: {q(' '.join(k['flags']))}, "
        f"begin: {begin(k['begin_search'])}, find: {find(k['find_keys'])} }}"
    )


print("//! The generated table; see the parent module.")
print()
print("use super::{Begin, Find, Info, KeySpec};")
print()
# Long notes would make rustfmt give up on the table, so it is laid out
# here and skipped by rustfmt.
print("#[rustfmt::skip]")
print("pub(crate) static COMMAND_INFO: &[(&str, Info)] = &[")
for name in sorted(out):
    e = out[name]
    print(f"    ({q(name)}, Info {{")
    print(f"        flags: &[{', '.join(q(x) for x in e[2])}],")
    print(f"        legacy_keys: ({e[3]}, {e[4]}, {e[5]}),")
    print(f"        tips: &[{', '.join(q(x) for x in e[7])}],")
    if e[8]:
        print("        key_specs: &[")
        for k in e[8]:
            print(f"            {spec(k)},")
        print("        ],")
    else:
        print("        key_specs: &[],")
    print("    }),")
print("];")
