"""Starts a PUT of 64 MiB through a presigned URL, sends only part of the body,
says "sent" and then hangs, so the test can kill -9 the server mid-upload.
Usage: partial_put.py ENDPOINT BUCKET KEY"""
import http.client
import sys
import time
import urllib.parse

from common import client, setup_env

endpoint, bucket, key = sys.argv[1:4]
setup_env()
s3 = client(endpoint)
s3.create_bucket(Bucket=bucket)
url = urllib.parse.urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300))
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
conn.putrequest("PUT", f"{url.path}?{url.query}", skip_accept_encoding=True)
conn.putheader("Content-Length", str(64 * 1024 * 1024))
conn.endheaders()
chunk = b"z" * (1024 * 1024)
for _ in range(24):
    conn.send(chunk)
print("sent", flush=True)
time.sleep(60)
