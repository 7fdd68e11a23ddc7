"""Asserts that KEY is not visible in BUCKET, then that a fresh PUT works.
Usage: check_absent.py ENDPOINT BUCKET KEY"""
import sys

from common import check, client, error_code, setup_env

endpoint, bucket, key = sys.argv[1:4]
setup_env()
s3 = client(endpoint)
check(error_code(lambda: s3.head_object(Bucket=bucket, Key=key)) == "404", "the interrupted upload is not visible")
check(s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0, "the bucket lists no objects")
s3.put_object(Bucket=bucket, Key=key, Body=b"after restart")
check(s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"after restart", "the server works after restart")
print("absent check passed")
