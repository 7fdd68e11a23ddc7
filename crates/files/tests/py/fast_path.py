"""The read fast path (anonymous GET/HEAD of a public bucket, and presigned GET/HEAD
of any bucket, answered with sendfile) against the general path (hyper + s3s),
which answers a presigned request carrying a header the fast path does not know.
Every answer must agree: status, body and headers.
Also keep-alive, pipelining, a hand-over to the general path mid-connection, and
Connection: close. Usage: fast_path.py ENDPOINT"""
import http.client
import os
import re
import socket
import sys
import urllib.parse
import urllib.request

from common import check, client, setup_env

endpoint = sys.argv[1]
setup_env()
s3 = client(endpoint)
host, port = urllib.parse.urlparse(endpoint).hostname, urllib.parse.urlparse(endpoint).port

# Headers that differ between any two responses, or that only one path sends by design.
VOLATILE = {"date", "x-amz-request-id", "x-amz-id-2", "server", "content-type-options"}


def fast_reads():
    text = urllib.request.urlopen(f"{endpoint}/-/metrics", timeout=30).read().decode()
    m = re.search(r"^bigstep_files_fast_reads_total (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def request(path, method="GET", headers=None):
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    h = {k.lower(): v for k, v in r.getheaders() if k.lower() not in VOLATILE}
    c.close()
    return r.status, body, h


s3.create_bucket(Bucket="public")
small = b"hello, fast path"
medium = os.urandom(300 * 1024 + 7)
part = os.urandom(5 * 1024 * 1024)
s3.put_object(Bucket="public", Key="small.txt", Body=small, ContentType="text/plain",
              CacheControl="max-age=60", ContentDisposition='attachment; filename="s.txt"',
              ContentLanguage="en", Metadata={"owner": "me", "n": "1"})
s3.put_object(Bucket="public", Key="dir/é x+y.bin", Body=medium, ChecksumAlgorithm="SHA256")
s3.put_object(Bucket="public", Key="empty", Body=b"")
up = s3.create_multipart_upload(Bucket="public", Key="multi", ContentType="application/x-m")
etags = [s3.upload_part(Bucket="public", Key="multi", UploadId=up["UploadId"], PartNumber=n, Body=b)["ETag"]
         for n, b in ((1, part), (2, b"tail"))]
s3.complete_multipart_upload(Bucket="public", Key="multi", UploadId=up["UploadId"],
                             MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]})

keys = ["small.txt", "dir/é x+y.bin", "empty", "multi"]
before = fast_reads()
fast_expected = 0
for key in keys:
    head = s3.head_object(Bucket="public", Key=key)
    # boto3's signed HEAD, on the connection its PUTs used: the fast path's too.
    fast_expected += 1
    etag, modified = head["ETag"], head["LastModified"]
    last_mod = modified.strftime("%a, %d %b %Y %H:%M:%S GMT")
    variants = [
        ("GET", {}, True),
        ("HEAD", {}, True),
        ("GET", {"Range": "bytes=1-3"}, key != "empty"),
        ("GET", {"Range": "bytes=2-"}, key != "empty"),
        ("GET", {"Range": "bytes=-5"}, key != "empty"),
        ("GET", {"Range": "bytes=0-999999999"}, key != "empty"),
        ("GET", {"Range": "bytes=999999999-"}, False),  # 416: the general path answers
        ("GET", {"If-None-Match": etag}, True),
        ("HEAD", {"If-None-Match": etag}, True),
        ("GET", {"If-None-Match": '"0000"'}, True),
        ("GET", {"If-None-Match": "*"}, True),
        ("GET", {"If-Modified-Since": last_mod}, True),
        ("GET", {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}, True),
        ("GET", {"x-amz-checksum-mode": "ENABLED"}, True),
        ("HEAD", {"x-amz-checksum-mode": "ENABLED"}, True),
        ("GET", {"x-amz-checksum-mode": "ENABLED", "Range": "bytes=0-1"}, key != "empty"),
        ("GET", {"If-Match": '"0000"'}, False),  # 412: the general path
        ("GET", {"If-Match": etag}, True),
        ("GET", {"If-Match": etag, "Range": "bytes=0-1"}, key != "empty"),
        ("HEAD", {"If-Match": "*"}, True),
    ]
    quoted = urllib.parse.quote(key)
    for method, hdrs, fast in variants:
        op = "get_object" if method == "GET" else "head_object"
        url = s3.generate_presigned_url(op, Params={"Bucket": "public", "Key": key}, ExpiresIn=600)
        # An unknown header (unsigned, so the signature still holds) sends it the general way.
        general = request(url.split(endpoint, 1)[1], method, {**hdrs, "X-Test-General": "1"})
        presigned = request(url.split(endpoint, 1)[1], method, hdrs)
        anonymous = request(f"/public/{quoted}", method, hdrs)
        what = f"{method} {key} {hdrs}"
        for name, got in (("anonymous", anonymous), ("presigned", presigned)):
            if got != general:
                print("general:", general[0], general[2], file=sys.stderr)
                print(f"{name}:", got[0], got[2], file=sys.stderr)
            check(got == general, f"{what}: {got[0]}, same status, body and headers, {name} and general")
        fast_expected += 2 * fast
got_fast = fast_reads() - before
check(got_fast == fast_expected, f"{fast_expected} of those answered by the fast path (counted {got_fast})")

# Keep-alive: fast, fast, an error (the general path answers it and hands the
# connection back), fast again.
c = http.client.HTTPConnection(host, port, timeout=30)
for path, status in (("/public/small.txt", 200), ("/public/multi", 200), ("/public/nope", 404), ("/public/small.txt", 200)):
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    check(r.status == status, f"keep-alive GET {path}: {status}")
check(body == small, "the body after the hand-over is right")
c.close()

# Pipelining: five requests in one write, the fourth goes the general way.
raw = (b"GET /public/small.txt HTTP/1.1\r\nHost: x\r\n\r\n"
       b"HEAD /public/small.txt HTTP/1.1\r\nHost: x\r\n\r\n"
       b"GET /public/small.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\n\r\n"
       b"PUT /public/new HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
       b"GET /public/small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
s = socket.create_connection((host, port), timeout=30)
s.sendall(raw)
got = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
s.close()
statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", got)
check(statuses == [b"200", b"200", b"206", b"403", b"200"], f"pipelined answers in order: {statuses}")
check(got.count(small) == 2 and b"\r\n\r\nhello" in got, "pipelined bodies whole")

# Connection: close on the fast path closes after the answer.
s = socket.create_connection((host, port), timeout=30)
s.sendall(b"GET /public/small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
got = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
check(got.startswith(b"HTTP/1.1 200") and got.endswith(small), "Connection: close answered, then closed")

# A big body on a slow reader: all of it arrives (sendfile meets a full socket buffer).
s = socket.create_connection((host, port), timeout=30)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.sendall(b"GET /public/multi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
got = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
check(got.split(b"\r\n\r\n", 1)[1] == part + b"tail", "5 MiB through a small receive buffer, byte-exact")
