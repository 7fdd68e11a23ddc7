"""Celery app for celery_tasks.py: Redis broker and result backend from FW_PORT."""
import os

from celery import Celery

url = f"redis://127.0.0.1:{os.environ['FW_PORT']}/0"
app = Celery("fw_celery", broker=url, backend=url)
app.conf.update(
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=3,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
)


@app.task
def add(a, b):
    return a + b


@app.task
def tsum(values):
    return sum(values)


@app.task
def fail():
    raise ValueError("task failed on purpose")
