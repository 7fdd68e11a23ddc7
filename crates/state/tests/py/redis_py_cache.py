"""redis-py's client-side cache (RESP3 + CLIENT TRACKING) against a server.

Usage: redis_py_cache.py PORT. Exits non-zero on the first failed check.
Needs redis-py >= 5.1 (cache_config); see .ci/pip-state.txt.
"""
import sys
import time

import redis
from redis.cache import CacheConfig

# redis-py enables its cache only for servers announcing 7.4+; the tracking
# protocol it uses (CLIENT TRACKING ON, RESP3 invalidate pushes) is Redis
# 6.0's, which redis-server 7.0 and bigstep state both speak. Lower the gate
# so the same script checks both.
redis.connection.CacheProxyConnection.MIN_ALLOWED_VERSION = "6.0.0"

port = int(sys.argv[1])
plain = redis.Redis(port=port, protocol=3)
plain.flushall()
cached = redis.Redis(port=port, protocol=3, cache_config=CacheConfig())


def hits():
    return plain.info("stats")["keyspace_hits"]


def wait_for(what, cond, limit=10.0):
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


plain.set("k", "v1")
assert cached.get("k") == b"v1"
before = hits()
# Served from the local cache: the server sees no read.
for _ in range(5):
    assert cached.get("k") == b"v1"
assert hits() == before, (hits(), before)
assert cached.get_cache().size >= 1

# Another client writes: the server's invalidation push drops the entry,
# and the next read goes to the server and sees the new value.
plain.set("k", "v2")
wait_for("the invalidated value", lambda: cached.get("k") == b"v2")
after = hits()
assert after > before, (after, before)
assert cached.get("k") == b"v2"
assert hits() == after

# Other read commands are cached per key too.
plain.hset("h", mapping={"a": "1"})
assert cached.hgetall("h") == {b"a": b"1"}
h = hits()
assert cached.hgetall("h") == {b"a": b"1"}
assert hits() == h
plain.hset("h", "a", "2")
wait_for("the invalidated hash", lambda: cached.hgetall("h") == {b"a": b"2"})

# FLUSHALL invalidates everything.
plain.flushall()
wait_for("the flushed key", lambda: cached.get("k") is None)
print("ok")
