"""redis-py's stream API (its reply parsers included) against a server:
XADD/XREAD/XREADGROUP/XACK/XPENDING/XCLAIM/XAUTOCLAIM/XINFO, blocking reads,
in RESP2 and RESP3.

Usage: python3 redis_py_streams.py PORT   (exit 0 = all good)
"""
import sys
import threading
import time

import redis

port = int(sys.argv[1])


def check(cond, what):
    if not cond:
        raise AssertionError(what)


for proto in (2, 3):
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, protocol=proto,
                    decode_responses=True)
    r.flushall()

    # Producer side, as an event log with a cap.
    ids = [r.xadd("events", {"type": "created", "n": i}, maxlen=1000, approximate=True)
           for i in range(20)]
    check(r.xlen("events") == 20, "xlen")
    check(ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-")))), "ids increase")
    first = r.xrange("events", count=1)[0]
    check(first[0] == ids[0] and first[1] == {"type": "created", "n": "0"}, f"xrange {first}")
    check(len(r.xrevrange("events", max="+", min="-", count=3)) == 3, "xrevrange")

    # Plain reader with a blocking read woken by another client.
    got = []

    def reader():
        c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, protocol=proto,
                        decode_responses=True)
        got.append(c.xread({"events": "$"}, block=5000, count=10))

    t = threading.Thread(target=reader)
    t.start()
    deadline = time.time() + 5
    while r.info("clients")["blocked_clients"] < 1 and time.time() < deadline:
        time.sleep(0.01)
    late = r.xadd("events", {"type": "late"})
    t.join()
    reply = got[0]
    entries = reply["events"][0] if proto == 3 else reply[0][1]
    check(entries == [(late, {"type": "late"})] or entries == [[late, {"type": "late"}]],
          f"blocked xread {reply}")
    check(r.xread({"events": late}, block=50) in ([], {}, None), "xread timeout")

    # Consumer group: deliver, ack some, claim the rest from a dead consumer.
    r.xgroup_create("events", "workers", id="0")
    batch = r.xreadgroup("workers", "w1", {"events": ">"}, count=5)
    delivered = batch["events"][0] if proto == 3 else batch[0][1]
    check(len(delivered) == 5, f"xreadgroup {batch}")
    check(r.xack("events", "workers", delivered[0][0], delivered[1][0]) == 2, "xack")
    summary = r.xpending("events", "workers")
    check(summary["pending"] == 3, f"xpending summary {summary}")
    check(summary["consumers"] == [{"name": "w1", "pending": 3}], f"consumers {summary}")
    rows = r.xpending_range("events", "workers", min="-", max="+", count=10)
    check([x["message_id"] for x in rows] == [e[0] for e in delivered[2:]], f"range {rows}")
    check(all(x["times_delivered"] == 1 for x in rows), "delivery counts")
    claimed = r.xclaim("events", "workers", "w2", min_idle_time=0,
                       message_ids=[delivered[2][0]], justid=True)
    check(claimed == [delivered[2][0]], f"xclaim {claimed}")
    auto = r.xautoclaim("events", "workers", "w3", min_idle_time=0, start_id="0-0", count=10)
    check(len(auto[1]) == 3, f"xautoclaim {auto}")

    info = r.xinfo_stream("events")
    check(info["length"] == 21 and info["groups"] == 1, f"xinfo stream {info}")
    check(info["last-generated-id"] == late, "last id")
    groups = r.xinfo_groups("events")
    check(groups[0]["name"] == "workers" and groups[0]["pending"] == 3, f"groups {groups}")
    check(groups[0]["entries-read"] == 5 and groups[0]["lag"] == 16, f"lag {groups}")
    consumers = {c["name"]: c["pending"] for c in r.xinfo_consumers("events", "workers")}
    check(consumers == {"w1": 0, "w2": 0, "w3": 3}, f"consumers {consumers}")
    full = r.xinfo_stream("events", full=True)
    check(full["groups"][0]["pel-count"] == 3, "xinfo full")

    check(r.xtrim("events", maxlen=10, approximate=False) == 11 and r.xlen("events") == 10, "xtrim")
    check(r.xdel("events", late) == 1, "xdel")
    check(r.xgroup_delconsumer("events", "workers", "w3") == 3, "delconsumer")
    check(r.xgroup_destroy("events", "workers") == 1, "destroy")

    # Multi-pops.
    r.rpush("l", "a", "b", "c")
    check(r.lmpop(1, "l", direction="LEFT", count=2) == ["l", ["a", "b"]], "lmpop")
    r.zadd("z", {"a": 1, "b": 2})
    popped = r.bzpopmin("z", timeout=1)
    check(tuple(popped) == ("z", "a", 1.0), f"bzpopmin {popped}")

print("redis-py streams ok")
