"""Django's built-in RedisCache, django-redis, and cache-backed sessions
(SESSION_ENGINE = cache and cached_db-free cache), configured standalone.

Usage: python3 django_cache.py PORT   (exit 0 = all good)
"""
import sys
import time

import django
from django.conf import settings

port = int(sys.argv[1])
url = f"redis://127.0.0.1:{port}"
settings.configure(
    SECRET_KEY="test",
    INSTALLED_APPS=["django.contrib.sessions"],
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"{url}/1",
        },
        "dr": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"{url}/2",
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        },
    },
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
    SESSION_CACHE_ALIAS="dr",
)
django.setup()

from django.core.cache import caches
from django.contrib.sessions.backends.cache import SessionStore


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# --- django.core.cache.backends.redis.RedisCache ---
c = caches["default"]
c.clear()
c.set("a", {"x": [1, 2]}, timeout=30)
check(c.get("a") == {"x": [1, 2]}, "builtin get pickled")
check(c.add("a", 1) is False and c.add("b", 1) is True, "builtin add")
check(c.incr("b", 5) == 6 and c.decr("b") == 5, "builtin incr/decr")
c.set_many({"m1": 1, "m2": "two"}, timeout=60)
check(c.get_many(["m1", "m2", "nope"]) == {"m1": 1, "m2": "two"}, "builtin get_many")
check(c.has_key("m1"), "builtin has_key")
check(c.touch("m1", 100), "builtin touch")
check(c.get_or_set("gs", lambda: "computed") == "computed", "builtin get_or_set")
c.delete_many(["m1", "m2"])
check(c.get("m1") is None, "builtin delete_many")
c.set("short", 1, timeout=1)
time.sleep(1.2)
check(c.get("short", "gone") == "gone", "builtin timeout")
check(c.delete("a") and not c.delete("a"), "builtin delete")

# --- django-redis ---
d = caches["dr"]
d.clear()
d.set("user:1", "alice", timeout=100)
d.set("user:2", "bob", timeout=None)
d.set("other", 1)
check(d.get("user:1") == "alice", "django-redis get")
check(0 < d.ttl("user:1") <= 100, f"django-redis ttl {d.ttl('user:1')}")
check(d.ttl("user:2") is None, "django-redis ttl persistent is None")
check(d.ttl("missing") == 0, "django-redis ttl missing is 0")
check(0 < d.pttl("user:1") <= 100000, "django-redis pttl")
check(d.expire("user:2", 50) and 0 < d.ttl("user:2") <= 50, "django-redis expire")
check(d.persist("user:2") and d.ttl("user:2") is None, "django-redis persist")
check(sorted(d.keys("user:*")) == ["user:1", "user:2"], "django-redis keys")
check(sorted(d.iter_keys("user:*")) == ["user:1", "user:2"], "django-redis iter_keys")
check(d.delete_pattern("user:*") == 2, "django-redis delete_pattern")
check(d.get("user:1") is None and d.get("other") == 1, "delete_pattern kept others")
check(d.incr("other", 10) == 11, "django-redis incr")
d.set("counter", 0)
check(d.incr("counter") == 1 and d.decr("counter", 3) == -2, "django-redis incr/decr")
check(d.set("nx", 1, nx=True) and not d.set("nx", 2, nx=True), "django-redis set nx")
with d.lock("resource", timeout=5):
    check(d.has_key("resource"), "django-redis lock held")
check(not d.has_key("resource"), "django-redis lock released")
d.set_many({"s1": 1, "s2": 2})
check(d.get_many(["s1", "s2"]) == {"s1": 1, "s2": 2}, "django-redis get_many")
check(d.touch("s1", 30) and 0 < d.ttl("s1") <= 30, "django-redis touch")
d.sadd("tags", "a", "b", "c")
check(d.scard("tags") == 3 and d.sismember("tags", "b"), "django-redis sets")

# --- sessions on the cache backend ---
s = SessionStore()
s["user_id"] = 42
s["cart"] = ["apple"]
s.set_expiry(300)
s.save()
key = s.session_key
check(key, "session key")
s2 = SessionStore(session_key=key)
check(s2["user_id"] == 42 and s2["cart"] == ["apple"], "session loaded")
check(0 < d.ttl(s2.cache_key) <= 300, f"session ttl {d.ttl(s2.cache_key)}")
s2["cart"].append("pear")
s2.modified = True
s2.save()
check(SessionStore(session_key=key)["cart"] == ["apple", "pear"], "session updated")
s2.cycle_key()
check(s2.session_key != key and not SessionStore().exists(key), "cycle_key moved session")
check(SessionStore(session_key=s2.session_key)["user_id"] == 42, "cycled session data")
s2.flush()
check(not SessionStore().exists(s2.session_key or "x"), "session flushed")

print("django: all checks passed")
