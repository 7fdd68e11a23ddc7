"""A GET after a PUT on one keep-alive connection takes the fast path: the general
path (hyper, s3s) answers one request and gives the connection back (conn.rs).
Two real clients, each on one connection: Python's http.client with botocore's
SigV4 signer (the socket's local port proves the connection is the same
throughout), and boto3 with a pool of one connection. Counted with
bigstep_files_fast_signed_reads_total against all requests (requests_total).
Also: a chunked PUT, a refused PUT (bad signature) and a PUT whose body the
server never reads are followed by fast GETs or a clean close, never by a
misread. Usage: keepalive_fast.py ENDPOINT"""
import http.client
import re
import sys
import urllib.parse
import urllib.request

import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest
from botocore.config import Config

from common import ACCESS, SECRET, check, client, setup_env

endpoint = sys.argv[1]
setup_env()
host = urllib.parse.urlparse(endpoint).netloc


def metrics():
    text = urllib.request.urlopen(f"{endpoint}/-/metrics", timeout=30).read().decode()
    fast = re.search(r"^bigstep_files_fast_signed_reads_total (\d+)", text, re.M)
    general = {}
    # Summed over the operation label.
    series = r'^bigstep_files_requests_total\{method="(\w+)",status="(\d+)",operation="(\w+)"\} (\d+)'
    for m in re.finditer(series, text, re.M):
        key = (m.group(1), m.group(2))
        general[key] = general.get(key, 0) + int(m.group(4))
    return (int(fast.group(1)) if fast else 0), general


def delta(before, after):
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


signer = botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(ACCESS, SECRET), "s3", "us-east-1")


def signed(method, path, body=b"", headers=None, secret=None):
    req = AWSRequest(method=method, url=f"{endpoint}{path}", data=body, headers=headers or {})
    if secret:
        botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(ACCESS, secret), "s3", "us-east-1").add_auth(req)
    else:
        signer.add_auth(req)
    return dict(req.headers.items())


s3 = client(endpoint)
s3.create_bucket(Bucket="keep")

# --- http.client: one socket, PUT then GETs, a chunked PUT, a refused PUT.
conn = http.client.HTTPConnection(host, timeout=30)
conn.connect()
port = conn.sock.getsockname()[1]


def send(method, path, body=b"", headers=None, secret=None, chunked=False):
    h = signed(method, path, body, headers, secret)
    if chunked:
        # The whole request in one write: s3s may answer before reading it.
        h.pop("Content-Length", None)
        h["Transfer-Encoding"] = "chunked"
        if not any(k.lower() == "host" for k in h):
            h["Host"] = host
        raw = f"{method} {path} HTTP/1.1\r\n".encode()
        raw += b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items()) + b"\r\n"
        for i in range(0, len(body), 1000):
            piece = body[i:i + 1000]
            raw += b"%x\r\n%s\r\n" % (len(piece), piece)
        conn.sock.sendall(raw + b"0\r\n\r\n")
        r = http.client.HTTPResponse(conn.sock, method=method)
        r.begin()
    else:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
    data = r.read()
    if r.will_close:
        # The server said `Connection: close` (it answered before reading the
        # whole body): the connection ends here, and the client was told.
        check(r.getheader("Connection", "").lower() == "close", f"{method} {path}: closing, and said so")
        print(f"ok: {method} {path}: the server said it closes")
        reopen()
        return r.status, data
    check(conn.sock is not None and conn.sock.getsockname()[1] == port,
          f"{method} {path}: still the first connection")
    return r.status, data


def reopen():
    global port
    conn.close()
    conn.connect()
    port = conn.sock.getsockname()[1]


fast0, gen0 = metrics()
status, _ = send("PUT", "/keep/one", b"x" * 5000)
check(status == 200, "PUT on the connection")
for i in range(3):
    status, data = send("GET", "/keep/one")
    check(status == 200 and data == b"x" * 5000, f"GET {i + 1} after the PUT")
fast1, gen1 = metrics()
check(fast1 - fast0 == 3, f"the 3 GETs after the PUT took the fast path (counted {fast1 - fast0})")
# requests_total counts every request, the fast path's included.
check(delta(gen0, gen1) == {("PUT", "200"): 1, ("GET", "200"): 3}, f"and those were all the reads: {delta(gen0, gen1)}")



def reconnect_after(what):
    """After a request whose body s3s did not read, the server may close the
    connection (hyper drains what it holds, else closes); it must never read
    that body as the next request. Reconnects if it closed."""
    global port
    try:
        status, data = send("GET", "/keep/one")
        check(status == 200 and data == b"x" * 5000, f"GET after {what}, on the same connection")
        return True
    except (http.client.RemoteDisconnected, ConnectionError):
        print(f"ok: the server closed after {what}")
        reopen()
        return False


# A chunked upload (framed by h1's decoder): s3s wants a Content-Length for a
# PUT and answers 411 (MissingContentLength) without reading the body.
status, data = send("PUT", "/keep/two", b"y" * 2500, chunked=True)
check(status == 411 and b"MissingContentLength" in data, f"chunked PUT: 411 ({status})")
kept1 = reconnect_after("the chunked PUT")
# A refused PUT (wrong secret: 403 before the body is read).
status, data = send("PUT", "/keep/three", b"z" * 100, secret="wrong")
check(status == 403 and b"SignatureDoesNotMatch" in data, "a PUT with a wrong signature: 403")
kept2 = reconnect_after("the refused PUT")
status, data = send("GET", "/keep/one")
check(status == 200 and data == b"x" * 5000, "and a GET after that")
conn.close()
fast3, gen3 = metrics()
check(all(k[1] in ("200", "403", "411") for k in delta(gen1, gen3)), f"no 400 from a misread body: {delta(gen1, gen3)}")
check(fast3 - fast1 == 1 + kept1 + kept2, f"the GETs after the refusals took the fast path ({fast3 - fast1})")

# --- boto3 with one pooled connection: writer and reader are the same client.
one = client(endpoint, max_pool_connections=1)
fast4, gen4 = metrics()
one.put_object(Bucket="keep", Key="four", Body=b"w" * 70000)
for i in range(3):
    r = one.get_object(Bucket="keep", Key="four")
    check(r["Body"].read() == b"w" * 70000, f"boto3 get_object {i + 1} after put_object")
check(one.head_object(Bucket="keep", Key="four")["ContentLength"] == 70000, "boto3 head_object")
one.put_object(Bucket="keep", Key="five", Body=b"v")
check(one.get_object(Bucket="keep", Key="five")["Body"].read() == b"v", "boto3 get after a second put")
fast5, gen5 = metrics()
check(fast5 - fast4 == 5, f"boto3's 5 reads after puts took the fast path (counted {fast5 - fast4})")
check(delta(gen4, gen5) == {("PUT", "200"): 2, ("GET", "200"): 4, ("HEAD", "200"): 1},
      f"and those were all the reads: {delta(gen4, gen5)}")
print("keepalive_fast: all checks passed")
