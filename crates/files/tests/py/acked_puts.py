"""PUTs objects from 8 threads at once (so their index writes share commits) and
prints "acked KEY" as soon as each PUT is answered 200, until killed or LIMIT PUTs
(bounded: the test kills the server, and so this, after some are acknowledged).
Each body is derived from its key, so check_acked.py can tell it whole.
Usage: acked_puts.py ENDPOINT BUCKET LIMIT"""
import sys
import threading

from common import client, setup_env

endpoint, bucket, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
setup_env()
s3 = client(endpoint)
s3.create_bucket(Bucket=bucket)
print("ready", flush=True)
lock = threading.Lock()


def body(key):
    return (key.encode() + b"\n") * 200


def worker(t):
    c = client(endpoint)
    for i in range(limit // 8):
        key = f"t{t}/k{i}"
        try:
            c.put_object(Bucket=bucket, Key=key, Body=body(key))
        except Exception:  # the server was killed: stop
            return
        with lock:
            print(f"acked {key}", flush=True)


threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
for th in threads:
    th.start()
for th in threads:
    th.join()
