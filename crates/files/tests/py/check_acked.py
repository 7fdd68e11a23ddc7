"""Asserts that every key listed in FILE (one per line) reads back whole, with the
body acked_puts.py sent for it.
Usage: check_acked.py ENDPOINT BUCKET FILE"""
import sys

from common import check, client, setup_env

endpoint, bucket, path = sys.argv[1:4]
setup_env()
s3 = client(endpoint)
keys = [line.strip() for line in open(path) if line.strip()]
for key in keys:
    got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    check(got == (key.encode() + b"\n") * 200, f"{key} reads back whole")
print(f"all {len(keys)} acknowledged PUTs survived")
