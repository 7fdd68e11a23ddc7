"""SigV4-signed reads on the fast path: boto3 and aws-cli GET/HEAD (whole, ranges,
conditional) and presigned URLs of a private bucket are answered by the fast path
(counted by bigstep_files_fast_signed_reads_total, which this script reads), and
what it is not sure of goes the general way, which refuses it with S3's errors: a
wrong secret (SignatureDoesNotMatch), an expired presigned URL (AccessDenied), a
stale header signature (RequestTimeTooSkewed). Usage: signed_fast.py ENDPOINT"""
import datetime
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import botocore.auth

from common import check, client, error_code, setup_env

endpoint = sys.argv[1]
home = setup_env()
s3 = client(endpoint)


def metrics():
    text = urllib.request.urlopen(f"{endpoint}/-/metrics", timeout=30).read().decode()
    signed = re.search(r"^bigstep_files_fast_signed_reads_total (\d+)", text, re.M)
    reads = 0
    for m in re.finditer(r'^bigstep_files_requests_total\{method="(GET|HEAD)",status="\d+",operation="\w+"\} (\d+)', text, re.M):
        reads += int(m.group(2))
    return (int(signed.group(1)) if signed else 0), reads


def fetch(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


s3.create_bucket(Bucket="private")
small = os.urandom(64 * 1024)
big = os.urandom(20 * 1024 * 1024 + 3)
s3.put_object(Bucket="private", Key="small.bin", Body=small, ChecksumAlgorithm="CRC32C")
s3.put_object(Bucket="private", Key="dir/big é.bin", Body=big)

# boto3: whole, range, head, conditional (304) — four requests, all on the fast path.
# A client of its own, so these counts are only the reads' (keepalive_fast.py
# checks reads after a PUT on the writer's own connection).
reader = client(endpoint)
signed, reads = metrics()
r = reader.get_object(Bucket="private", Key="small.bin")
check(r["Body"].read() == small and r["ChecksumCRC32C"], "boto3 get_object: body and checksum")
r = reader.get_object(Bucket="private", Key="dir/big é.bin", Range="bytes=100-199")
check(r["Body"].read() == big[100:200] and r["ContentRange"] == f"bytes 100-199/{len(big)}", "boto3 ranged get")
etag = reader.head_object(Bucket="private", Key="small.bin")["ETag"]
check(error_code(lambda: reader.get_object(Bucket="private", Key="small.bin", IfNoneMatch=etag)) == "304",
      "boto3 If-None-Match: 304")
signed2, reads2 = metrics()
check(signed2 - signed == 4, f"the 4 boto3 reads answered by the fast path (counted {signed2 - signed})")
check(reads2 - reads == 4, "and no other reads were made")

# aws-cli: s3 cp of 20 MiB downloads in ranged GETs after a HEAD; s3api get-object --range.
out = os.path.join(home, "big.out")
p = subprocess.run(["aws", "--endpoint-url", endpoint, "s3", "cp", "s3://private/dir/big é.bin", out],
                   capture_output=True, text=True, timeout=180)
check(p.returncode == 0, f"aws s3 cp download: {p.stderr.strip()}")
with open(out, "rb") as f:
    check(f.read() == big, "aws s3 cp: the 20 MiB arrive byte-exact")
p = subprocess.run(["aws", "--endpoint-url", endpoint, "s3api", "get-object", "--bucket", "private",
                    "--key", "small.bin", "--range", "bytes=0-9", out], capture_output=True, text=True, timeout=60)
check(p.returncode == 0, "aws s3api get-object --range")
with open(out, "rb") as f:
    check(f.read() == small[:10], "aws s3api ranged body")
signed3, reads3 = metrics()
check(reads3 - reads2 >= 3 and signed3 - signed2 == reads3 - reads2,
      f"every aws-cli read ({reads3 - reads2}) answered by the fast path ({signed3 - signed2})")

# Presigned URLs (SigV4): GET, a range, HEAD through the same path.
url = s3.generate_presigned_url("get_object", Params={"Bucket": "private", "Key": "dir/big é.bin"}, ExpiresIn=300)
status, body = fetch(url)
check(status == 200 and body == big, "presigned GET: 200, whole body")
status, body = fetch(url, {"Range": "bytes=-7"})
check(status == 206 and body == big[-7:], "presigned GET with a suffix range: 206")
signed4, reads4 = metrics()
check(signed4 - signed3 == 2 and reads4 - reads3 == 2, "both presigned reads answered by the fast path")

# Refusals: none of these reach the fast path, each gets S3's error from the general path.
bad = client(endpoint, secret="not-the-secret")
check(error_code(lambda: bad.get_object(Bucket="private", Key="small.bin")) == "SignatureDoesNotMatch",
      "a wrong secret: SignatureDoesNotMatch")
check(error_code(lambda: bad.head_object(Bucket="private", Key="small.bin")) == "403", "HEAD with a wrong secret: 403")
tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")[:-1]
status, body = fetch(tampered)
check(status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, "a tampered presigned URL: SignatureDoesNotMatch")
status, body = fetch(url.replace("big%20%C3%A9", "small"))
check(status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, "a presigned URL used for another key: refused")

# Sign in the past: botocore's clock, and awscrt's signer (used when awscrt is installed).
clocks = [botocore.auth]
try:
    import botocore.crt.auth
    clocks.append(botocore.crt.auth)
except ImportError:
    pass
real_now = botocore.auth.get_current_datetime


def clock_behind(delta):
    for m in clocks:
        m.get_current_datetime = lambda *a, **k: real_now(*a, **k) - delta


clock_behind(datetime.timedelta(hours=2))
expired = s3.generate_presigned_url("get_object", Params={"Bucket": "private", "Key": "small.bin"}, ExpiresIn=3600)
status, body = fetch(expired)
check(status == 403 and b"<Code>AccessDenied</Code>" in body and b"expired" in body,
      f"a presigned URL that expired an hour ago: AccessDenied ({body[:200]!r})")
clock_behind(datetime.timedelta(minutes=20))
check(error_code(lambda: s3.get_object(Bucket="private", Key="small.bin")) == "RequestTimeTooSkewed",
      "a header signature 20 minutes old: RequestTimeTooSkewed")
clock_behind(datetime.timedelta(0))

status, body = fetch(f"{endpoint}/private/small.bin")
check(status == 403 and b"<Code>AccessDenied</Code>" in body, "anonymous GET of a private object: AccessDenied")
signed5, _ = metrics()
check(signed5 == signed4, "no refused request was counted as a fast read")
