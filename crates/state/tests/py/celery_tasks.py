"""Celery with a Redis broker and result backend: a real worker subprocess
(--pool=solo) runs tasks sent with delay(); results come back through the
backend (pub/sub + GET); a failing task's exception is re-raised; a group,
a chord, a countdown.

Usage: python3 celery_tasks.py PORT   (exit 0 = all good)
"""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
os.environ["FW_PORT"] = sys.argv[1]

import redis
from celery import chord, group

import fw_celery


def check(cond, what):
    if not cond:
        raise AssertionError(what)


redis.Redis(host="127.0.0.1", port=int(sys.argv[1])).flushdb()
env = dict(os.environ, PYTHONPATH=here)
worker = subprocess.Popen(
    [
        sys.executable, "-m", "celery", "-A", "fw_celery", "worker",
        "--pool=solo", "--concurrency=1", "--loglevel=INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ],
    cwd=here,
    env=env,
)
try:
    results = [fw_celery.add.delay(i, 10) for i in range(5)]
    for i, r in enumerate(results):
        v = r.get(timeout=30)
        check(v == i + 10, f"task {i} returned {v}")
        check(r.status == "SUCCESS", f"task {i} status {r.status}")
    bad = fw_celery.fail.delay()
    try:
        bad.get(timeout=30)
        check(False, "failing task must raise")
    except ValueError as e:
        check("on purpose" in str(e), f"exception {e}")
    check(bad.status == "FAILURE", f"failed status {bad.status}")
    g = group(fw_celery.add.s(i, i) for i in range(4))().get(timeout=30)
    check(g == [0, 2, 4, 6], f"group {g}")
    # A chord: the backend counts finished members (INCR on the chord key)
    # and runs the callback when the last one lands.
    c = chord(fw_celery.add.s(i, 1) for i in range(3))(fw_celery.tsum.s()).get(timeout=30)
    check(c == 6, f"chord {c}")
    # apply_async with a countdown: the worker holds it (ETA) and then runs it.
    later = fw_celery.add.apply_async((1, 1), countdown=1)
    check(later.get(timeout=30) == 2, "countdown task")
finally:
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
print("celery: all checks passed")
