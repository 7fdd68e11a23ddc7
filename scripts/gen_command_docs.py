#!/usr/bin/env python3
"""Writes crates/state/src/command_info/docs.rs from a running redis-server's COMMAND DOCS.

Usage: python3 scripts/gen_command_docs.py PORT > crates/state/src/command_info/docs.rs
Reads COMMAND DOCS over RESP3 (raw socket) and keeps each command's and
subcommand's reply as a tree of the RESP3 types it came in (field order
kept), a subcommand under its full name (`client|kill`) and without the
parent's `subcommands` field, which COMMAND DOCS builds from our table.
"""
import socket
import sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n")
f = s.makefile("rb")


def rd():
    line = f.readline()[:-2]
    t, v = line[:1], line[1:]
    if t == b"+":
        return ("Status", v.decode())
    if t == b":":
        return ("Int", int(v))
    if t == b"$":
        n = int(v)
        return ("Bulk", f.read(n + 2)[:-2].decode())
    if t == b"*":
        return ("Array", [rd() for _ in range(int(v))])
    if t == b"~":
        return ("Set", [rd() for _ in range(int(v))])
    if t == b"%":
        return ("Map", [(rd(), rd()) for _ in range(int(v))])
    raise Exception(line)


def q(x):
    return '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"'


def node(n):
    t, v = n
    if t in ("Status", "Bulk"):
        return f"D::{t}({q(v)})"
    if t == "Int":
        return f"D::Int({v})"
    if t in ("Array", "Set"):
        return f"D::{t}(&[{', '.join(node(x) for x in v)}])"
    assert t == "Map"
    fields = ", ".join(f"({q(k[1])}, {node(x)})" for k, x in v)
    return f"D::Map(&[{fields}])"


rd()  # HELLO
out = {}


def walk(name, doc):
    fields = []
    for k, v in doc[1]:
        if k[1] == "subcommands":
            for sk, sv in v[1]:
                walk(sk[1], sv)
        else:
            fields.append((k, v))
    out[name] = ("Map", fields)


for k, v in rd()[1]:
    walk(k[1], v)

print("//! The generated table; see the parent module.")
print()
print("use super::DocNode as D;")
print()
print("/// Each command's COMMAND DOCS reply, without its subcommands, sorted by name.")
print("#[rustfmt::skip]")
print("pub(crate) static COMMAND_DOCS: &[(&str, D)] = &[")
for name in sorted(out):
    print(f"    ({q(name)}, {node(out[name])}),")
print("];")
