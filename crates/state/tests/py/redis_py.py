"""redis-py against bigstep state: sessions with TTL, Lock, pipelines, pub/sub, RESP3.

Usage: python3 redis_py.py PORT   (exit 0 = all good)
"""
import sys
import time
import threading

import redis
from redis.lock import Lock

port = int(sys.argv[1])


def client(**kw):
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, **kw)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


r = client()
r.flushall()

# Sessions with TTL (what Django / Flask session stores do).
r.setex("session:abc", 30, "payload")
check(r.get("session:abc") == b"payload", "session get")
check(0 < r.ttl("session:abc") <= 30, "session ttl")
r.expire("session:abc", 60)
check(30 < r.ttl("session:abc") <= 60, "session touch")
r.set("short", "x", px=50)
time.sleep(0.15)
check(r.get("short") is None, "expired")

# Lock: acquire, contention, extend, reacquire, release (Lua scripts under the hood).
lock = Lock(r, "resource", timeout=5, blocking_timeout=0.2)
check(lock.acquire(), "lock acquire")
other = Lock(client(), "resource", timeout=5, blocking_timeout=0.2)
check(not other.acquire(), "lock is exclusive")
check(lock.extend(10), "lock extend")
check(r.pttl("resource") > 10000, "extend added time")
check(lock.reacquire(), "lock reacquire")
check(lock.owned(), "lock owned")
lock.release()
check(not lock.locked(), "released")
check(other.acquire(), "other acquires after release")
other.release()
with r.lock("ctx", timeout=2):
    check(r.exists("ctx") == 1, "context lock held")
check(r.exists("ctx") == 0, "context lock released")

# Pipelines, transactional and not.
with r.pipeline() as p:
    p.set("a", 1).incr("a").lpush("q", "x", "y").lrange("q", 0, -1)
    res = p.execute()
check(res == [True, 2, 2, [b"y", b"x"]], f"pipeline {res}")
with r.pipeline(transaction=False) as p:
    for i in range(100):
        p.set(f"k{i}", i)
    check(all(p.execute()), "non-transactional pipeline")
check(r.dbsize() >= 100, "pipeline wrote")

# WATCH-based optimistic transaction (redis-py transaction helper).
def incr_double(pipe):
    v = int(pipe.get("a"))
    pipe.multi()
    pipe.set("a", v * 2)

r.transaction(incr_double, "a")
check(r.get("a") == b"4", "transaction helper")

# Hashes, sets, sorted sets as the libraries use them.
r.hset("h", mapping={"f1": "v1", "f2": "v2"})
check(r.hgetall("h") == {b"f1": b"v1", b"f2": b"v2"}, "hgetall")
r.zadd("z", {"a": 1, "b": 2.5})
check(r.zrange("z", 0, -1, withscores=True) == [(b"a", 1.0), (b"b", 2.5)], "zrange withscores")
check(r.scan_iter(match="k1*", count=10) is not None, "scan_iter")
check(len(list(r.scan_iter(match="k1*", count=7))) == 11, "scan_iter count")

# Pub/sub.
ps = client().pubsub()
ps.subscribe("news")
msg = ps.get_message(timeout=2)
check(msg and msg["type"] == "subscribe", f"subscribe confirm {msg}")
check(r.publish("news", "hello") == 1, "publish")
msg = ps.get_message(timeout=2)
check(msg and msg["data"] == b"hello", f"message {msg}")
ps.close()

# Blocking queue (RQ / Celery style).
# The producer pushes once the consumer is blocked (INFO says so), not after a guess.
def later():
    c = client()
    deadline = time.time() + 5
    while c.info("clients")["blocked_clients"] < 1 and time.time() < deadline:
        time.sleep(0.01)
    c.rpush("jobs", "job1")

threading.Thread(target=later).start()
got = r.blpop(["jobs"], timeout=5)
check(got == (b"jobs", b"job1"), f"blpop {got}")

# RESP3.
r3 = client(protocol=3)
r3.set("x", "1")
check(r3.get("x") == b"1", "resp3 get")
check(r3.hgetall("h") == {b"f1": b"v1", b"f2": b"v2"}, "resp3 hgetall")
check(r3.zscore("z", "b") == 2.5, "resp3 double")
ps3 = r3.pubsub()
ps3.subscribe("c3")
check(ps3.get_message(timeout=2)["type"] == "subscribe", "resp3 subscribe")
r.publish("c3", "m")
m = ps3.get_message(timeout=2)
check(m and m["data"] == b"m", f"resp3 message {m}")
ps3.close()

# Client naming and info.
r.client_setname("worker-1")
check(r.client_getname() == "worker-1" or r.client_getname() == b"worker-1", "client name")
info = r.info()
check(info["redis_version"].startswith("7."), "info version")

print("redis-py: all checks passed")
