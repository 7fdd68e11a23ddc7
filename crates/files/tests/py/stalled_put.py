"""Sends part of a PUT body, then nothing: the server must give up on its own.
Usage: stalled_put.py ENDPOINT"""
import http.client
import sys
import time
import urllib.parse

from common import check, client, error_code, setup_env

endpoint = sys.argv[1]
setup_env()
s3 = client(endpoint)
s3.create_bucket(Bucket="stall")
url = urllib.parse.urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": "stall", "Key": "k"}, ExpiresIn=300))
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
conn.putrequest("PUT", f"{url.path}?{url.query}", skip_accept_encoding=True)
conn.putheader("Content-Length", str(4 * 1024 * 1024))
conn.endheaders()
conn.send(b"s" * (1024 * 1024))
started = time.monotonic()
try:
    resp = conn.getresponse()
    status, body = resp.status, resp.read()
except (ConnectionError, http.client.RemoteDisconnected) as e:
    status, body = None, str(e).encode()
waited = time.monotonic() - started
check(waited < 25, f"the server gave up on the stalled upload by itself ({status} after {waited:.1f} s: {body[:100]!r})")
check(status is None or (status == 400 and b"RequestTimeout" in body), "the stalled upload got RequestTimeout")
check(error_code(lambda: s3.head_object(Bucket="stall", Key="k")) == "404", "nothing is visible")
print("stalled put check passed")
