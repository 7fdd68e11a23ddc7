"""RQ against a Redis server: enqueue, a burst worker runs them, results and the
failed-job registry, a dependent job, a job enqueued for later.

Usage: python3 rq_queue.py PORT   (exit 0 = all good)
"""
import os
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from redis import Redis
from redis.client import PubSub
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry

import fw_jobs

port = int(sys.argv[1])
os.environ["FW_PORT"] = str(port)


# rq's worker listens for commands in a redis-py thread that polls every 60 s;
# its teardown sends UNSUBSCRIBE, then stops and joins that thread, and when
# the reply lands before the stop the join waits out the whole poll (against
# redis-server as well: a client race, 60 s per worker). Poll every 0.2 s so
# the run cannot stall on it; what rq sends to the server is unchanged.
_run_in_thread = PubSub.run_in_thread


def _run_in_thread_polling_often(self, sleep_time=0.0, *args, **kwargs):
    return _run_in_thread(self, min(sleep_time, 0.2), *args, **kwargs)


PubSub.run_in_thread = _run_in_thread_polling_often


def check(cond, what):
    if not cond:
        raise AssertionError(what)


r = Redis(host="127.0.0.1", port=port, socket_timeout=20)
r.flushdb()
q = Queue("default", connection=r)

jobs = [q.enqueue(fw_jobs.add, i, i) for i in range(5)]
bad = q.enqueue(fw_jobs.boom)
after = q.enqueue(fw_jobs.bump, "rq:after", depends_on=jobs[-1])
check(len(q) == 6, f"queue length {len(q)} (the dependent job waits)")

# The real worker: forks a work horse per job, heartbeats, registries.
Worker([q], connection=r).work(burst=True)

for i, j in enumerate(jobs):
    j.refresh()
    check(j.get_status() == "finished", f"job {i} status {j.get_status()}")
    check(j.return_value() == 2 * i, f"job {i} result {j.return_value()}")
bad.refresh()
check(bad.is_failed, f"failing job status {bad.get_status()}")
check(bad.id in FailedJobRegistry(queue=q).get_job_ids(), "failed registry")
check("ZeroDivisionError" in (bad.latest_result().exc_string or ""), "failure traceback kept")
after.refresh()
check(after.get_status() == "finished", f"dependent job {after.get_status()}")
check(r.get("rq:after") == b"1", "dependent job ran once")
check(len(FinishedJobRegistry(queue=q)) == 6, "finished registry")
check(len(q) == 0, "queue drained")

# Scheduled: enqueue_in goes to the scheduled registry; a worker with the
# scheduler moves it to the queue when due and runs it.
sj = q.enqueue_in(timedelta(seconds=1), fw_jobs.bump, "rq:later")
check(sj.id in ScheduledJobRegistry(queue=q).get_job_ids(), "scheduled registry")
time.sleep(1.2)
Worker([q], connection=r).work(burst=True, with_scheduler=True)
sj.refresh()
check(sj.get_status() == "finished", f"scheduled job {sj.get_status()}")
check(r.get("rq:later") == b"1", "scheduled job ran")

print("rq: all checks passed")
