"""Job functions the RQ and Celery workers import (they must live in a module)."""
import os

import redis


def add(a, b):
    return a + b


def boom():
    raise ZeroDivisionError("job failed on purpose")


def bump(key):
    # A side effect on the server the job queue runs on.
    r = redis.Redis(host="127.0.0.1", port=int(os.environ["FW_PORT"]))
    return r.incr(key)
