"""boto3 against bigstep files. Usage: boto3_flows.py ENDPOINT SCENARIO
Scenarios: transfer, presigned, auth, traversal, api, concurrent, cors, public."""
import concurrent.futures
import hashlib
import os
import sys
import time
import urllib.error
import urllib.request

from common import check, client, error_code, setup_env

endpoint, scenario = sys.argv[1], sys.argv[2]
home = setup_env()
s3 = client(endpoint)


def http(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}


def transfer():
    s3.create_bucket(Bucket="xfer")
    src = os.path.join(home, "up.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(20 * 1024 * 1024 + 123))
    # Above the 8 MiB threshold: multipart, with botocore's default CRC32 checksums.
    s3.upload_file(src, "xfer", "dir/up.bin", ExtraArgs={"ContentType": "application/x-test", "Metadata": {"owner": "me"}})
    dst = os.path.join(home, "down.bin")
    s3.download_file("xfer", "dir/up.bin", dst)
    check(open(src, "rb").read() == open(dst, "rb").read(), "upload_file/download_file 20 MiB round trip is byte-exact")
    h = s3.head_object(Bucket="xfer", Key="dir/up.bin")
    check(h["ContentType"] == "application/x-test", "content type kept through multipart")
    check(h["Metadata"] == {"owner": "me"}, "x-amz-meta-* kept through multipart")
    # Single-part put with a CRC32 checksum, and one with a wrong checksum.
    r = s3.put_object(Bucket="xfer", Key="one", Body=b"x" * 1000, ChecksumAlgorithm="CRC32")
    check(r["ETag"].strip('"') == hashlib.md5(b"x" * 1000).hexdigest(), "single-part ETag is the MD5")
    g = s3.get_object(Bucket="xfer", Key="one", ChecksumMode="ENABLED")
    check(g["Body"].read() == b"x" * 1000 and g.get("ChecksumCRC32") == r.get("ChecksumCRC32"),
          f"GET with ChecksumMode returns the stored CRC32 and botocore validates it ({g.get('ChecksumCRC32')})")
    code = error_code(lambda: s3.put_object(Bucket="xfer", Key="bad", Body=b"abc", ChecksumCRC32="AAAAAA=="))
    check(code in ("BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch"), f"wrong CRC32 refused ({code})")
    check(error_code(lambda: s3.head_object(Bucket="xfer", Key="bad")) == "404", "refused upload is not visible")


def presigned():
    s3.create_bucket(Bucket="pre")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "pre", "Key": "p/hello.txt"}, ExpiresIn=300)
    status, _, _ = http("PUT", url, data=b"presigned body")
    check(status == 200, f"presigned PUT with plain HTTP works ({status})")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "pre", "Key": "p/hello.txt"}, ExpiresIn=300)
    status, body, _ = http("GET", url)
    check(status == 200 and body == b"presigned body", "presigned GET with plain HTTP returns the body")
    status, body, _ = http("GET", url.replace("p/hello.txt", "p/other.txt"))
    check(status == 403, f"a presigned URL does not work for another key ({status})")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "pre", "Key": "p/hello.txt"}, ExpiresIn=1)
    time.sleep(2.5)
    status, body, _ = http("GET", url)
    check(status == 403 and b"AccessDenied" in body or b"Expired" in body, f"expired presigned URL refused ({status} {body[:120]!r})")
    status, body, _ = http("GET", f"{endpoint}/pre/p/hello.txt")
    check(status == 403, f"anonymous GET of a private bucket refused ({status})")


def auth():
    s3.create_bucket(Bucket="auth")
    bad = client(endpoint, secret="not-the-secret-key-000000000000000000000")
    code = error_code(lambda: bad.list_objects_v2(Bucket="auth"))
    check(code == "SignatureDoesNotMatch", f"wrong secret gives SignatureDoesNotMatch ({code})")
    code, status, msg = client_error(lambda: bad.head_bucket(Bucket="auth"))
    check(code in ("403", "SignatureDoesNotMatch") and status == 403, f"wrong secret HEAD is 403 ({code} {status})")
    code, status, msg = client_error(lambda: bad.list_objects_v2(Bucket="auth"))
    check(msg and "signature" in msg, f"SignatureDoesNotMatch carries S3's message ({msg!r})")
    code = error_code(lambda: bad.put_object(Bucket="auth", Key="k", Body=b"x"))
    check(code == "SignatureDoesNotMatch", f"wrong secret PUT gives SignatureDoesNotMatch ({code})")
    check(s3.list_objects_v2(Bucket="auth")["KeyCount"] == 0, "nothing was written by the bad client")
    # An unknown access key is S3's InvalidAccessKeyId (403), with S3's message.
    stranger = client(endpoint)
    stranger._request_signer._credentials.access_key = "AKIANOSUCHKEY0000000"
    from botocore.exceptions import ClientError
    try:
        stranger.list_objects_v2(Bucket="auth")
        check(False, "an unknown access key is refused")
    except ClientError as e:
        err, status = e.response["Error"], e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(
            err.get("Code") == "InvalidAccessKeyId" and status == 403 and "does not exist" in err.get("Message", ""),
            f"unknown access key gives InvalidAccessKeyId 403 with a message ({err} {status})",
        )


def traversal():
    s3.create_bucket(Bucket="trav")
    data_dir = sys.argv[3]
    for key in ["../escape", "a/../../escape", "..", "./x", "a\\b", "a\x01b", "k" * 1025]:
        code = error_code(lambda: s3.put_object(Bucket="trav", Key=key, Body=b"evil"))
        check(code is not None, f"key {key[:20]!r} refused ({code})")
    # Nothing named escape anywhere near the data dir.
    parent = os.path.dirname(os.path.abspath(data_dir))
    found = [os.path.join(d, f) for d, _, fs in os.walk(parent) for f in fs if f == "escape"]
    check(found == [], "no file escaped the data directory")
    for bucket in ["..", ".bigstep", "UPPER", "a"]:
        code = error_code(lambda: s3.create_bucket(Bucket=bucket))
        check(code is not None, f"bucket name {bucket!r} refused ({code})")
    # Odd but valid keys are stored and listed exactly.
    odd = ["a b/c+d", "ünï/cødé ✓", "%2F..%2F", "x" * 1024, "a..b", "trailing/"]
    for k in odd:
        s3.put_object(Bucket="trav", Key=k, Body=k.encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="trav")["Contents"]]
    check(listed == sorted(odd, key=lambda s: s.encode()), "odd keys listed exactly, in byte order")
    for k in odd:
        check(s3.get_object(Bucket="trav", Key=k)["Body"].read() == k.encode(), f"odd key {k[:12]!r} read back")


def api():
    s3.create_bucket(Bucket="api")
    check(error_code(lambda: s3.create_bucket(Bucket="api")) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"), "creating twice is refused")
    s3.head_bucket(Bucket="api")
    check(error_code(lambda: s3.head_bucket(Bucket="nope")) == "404", "head of a missing bucket is 404")
    check(error_code(lambda: s3.list_objects_v2(Bucket="nope")) == "NoSuchBucket", "NoSuchBucket")
    loc = s3.get_bucket_location(Bucket="api")
    check(loc.get("LocationConstraint") in (None, ""), "GetBucketLocation answers us-east-1")
    ver = s3.get_bucket_versioning(Bucket="api")
    check("Status" not in ver and "MFADelete" not in ver, "GetBucketVersioning: never enabled")
    check(error_code(lambda: s3.get_bucket_versioning(Bucket="nope")) == "NoSuchBucket",
          "GetBucketVersioning of a missing bucket")
    s3.put_object(Bucket="api", Key="src", Body=b"0123456789" * 100, ContentType="text/plain",
                  ContentDisposition="attachment; filename=a.txt", CacheControl="max-age=60", Metadata={"k": "v"})
    h = s3.head_object(Bucket="api", Key="src")
    check((h["ContentType"], h["ContentDisposition"], h["CacheControl"], h["Metadata"]) ==
          ("text/plain", "attachment; filename=a.txt", "max-age=60", {"k": "v"}), "headers and metadata kept")
    r = s3.get_object(Bucket="api", Key="src", Range="bytes=5-14")
    check(r["Body"].read() == b"5678901234" and r["ContentRange"] == "bytes 5-14/1000", "ranged GET")
    r = s3.get_object(Bucket="api", Key="src", Range="bytes=-3")
    check(r["Body"].read() == b"789", "suffix range")
    check(error_code(lambda: s3.get_object(Bucket="api", Key="src", Range="bytes=5000-")) == "InvalidRange", "InvalidRange")
    s3.copy_object(Bucket="api", Key="copy", CopySource={"Bucket": "api", "Key": "src"})
    h2 = s3.head_object(Bucket="api", Key="copy")
    check(h2["ETag"] == h["ETag"] and h2["Metadata"] == {"k": "v"}, "CopyObject copies bytes and metadata")
    s3.copy_object(Bucket="api", Key="copy2", CopySource={"Bucket": "api", "Key": "src"},
                   MetadataDirective="REPLACE", ContentType="x/y", Metadata={"n": "m"})
    h3 = s3.head_object(Bucket="api", Key="copy2")
    check(h3["ContentType"] == "x/y" and h3["Metadata"] == {"n": "m"}, "CopyObject REPLACE sets new metadata")
    s3.delete_object(Bucket="api", Key="copy2")
    check(error_code(lambda: s3.head_object(Bucket="api", Key="copy2")) == "404", "DeleteObject")
    s3.delete_object(Bucket="api", Key="never-existed")
    # Listing: 2,500 keys in pages, with and without delimiter.
    keys = [f"p{i % 3}/k{i:05d}" for i in range(2500)] + ["top"]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket="api", Key=k, Body=b""), keys))
    seen = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="api", PaginationConfig={"PageSize": 333}):
        seen += [o["Key"] for o in page.get("Contents", [])]
    want = sorted(keys + ["src", "copy"])
    check(seen == want, "ListObjectsV2 pages through every key in order")
    seen = []
    for page in s3.get_paginator("list_objects").paginate(Bucket="api", PaginationConfig={"PageSize": 400}):
        seen += [o["Key"] for o in page.get("Contents", [])]
    check(seen == want, "ListObjects (v1) pages through every key in order")
    r = s3.list_objects_v2(Bucket="api", Delimiter="/")
    check([p["Prefix"] for p in r["CommonPrefixes"]] == ["p0/", "p1/", "p2/"], "delimiter rolls up prefixes")
    check([o["Key"] for o in r["Contents"]] == ["copy", "src", "top"], "delimiter keeps top-level keys")
    r = s3.list_objects_v2(Bucket="api", Delimiter="/", MaxKeys=2)
    r2 = s3.list_objects_v2(Bucket="api", Delimiter="/", MaxKeys=2, ContinuationToken=r["NextContinuationToken"])
    got = [p["Prefix"] for p in r.get("CommonPrefixes", [])] + [o["Key"] for o in r.get("Contents", [])]
    got += [p["Prefix"] for p in r2.get("CommonPrefixes", [])] + [o["Key"] for o in r2.get("Contents", [])]
    check(sorted(got) == ["copy", "p0/", "p1/", "p2/"], f"delimiter pages with a continuation token ({got})")
    r = s3.list_objects_v2(Bucket="api", Prefix="p1/", StartAfter="p1/k02490")
    check([o["Key"] for o in r["Contents"]] == ["p1/k02491", "p1/k02494", "p1/k02497"], "prefix + start-after")
    # DeleteObjects.
    r = s3.delete_objects(Bucket="api", Delete={"Objects": [{"Key": k} for k in keys[:1000]]})
    check(len(r["Deleted"]) == 1000, "DeleteObjects deletes 1000 keys")
    check(s3.list_objects_v2(Bucket="api", Prefix="p0/", MaxKeys=1000)["KeyCount"] == sum(1 for k in keys[1000:] if k.startswith("p0/")), "the rest remain")
    # Multipart by hand: ListMultipartUploads, UploadPartCopy, ListParts, Abort.
    big = os.urandom(6 * 1024 * 1024)
    s3.put_object(Bucket="api", Key="big", Body=big)
    u = s3.create_multipart_upload(Bucket="api", Key="mp", ContentType="a/b")["UploadId"]
    check([x["UploadId"] for x in s3.list_multipart_uploads(Bucket="api")["Uploads"]] == [u], "ListMultipartUploads")
    p1 = s3.upload_part_copy(Bucket="api", Key="mp", UploadId=u, PartNumber=1, CopySource={"Bucket": "api", "Key": "big"},
                             CopySourceRange=f"bytes=0-{5 * 1024 * 1024 - 1}")["CopyPartResult"]["ETag"]
    p2 = s3.upload_part(Bucket="api", Key="mp", UploadId=u, PartNumber=2, Body=b"tail")["ETag"]
    parts = s3.list_parts(Bucket="api", Key="mp", UploadId=u)["Parts"]
    check([(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 * 1024 * 1024), (2, 4)], "ListParts")
    code = error_code(lambda: s3.complete_multipart_upload(Bucket="api", Key="mp", UploadId=u, MultipartUpload={
        "Parts": [{"PartNumber": 2, "ETag": p2}, {"PartNumber": 1, "ETag": p1}]}))
    check(code == "InvalidPartOrder", f"parts out of order refused ({code})")
    r = s3.complete_multipart_upload(Bucket="api", Key="mp", UploadId=u, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]})
    md5s = hashlib.md5(bytes.fromhex(p1.strip('"')) + bytes.fromhex(p2.strip('"'))).hexdigest()
    check(r["ETag"].strip('"') == f"{md5s}-2", "multipart ETag is md5 of part md5s, -2")
    o = s3.get_object(Bucket="api", Key="mp")
    check(o["Body"].read() == big[: 5 * 1024 * 1024] + b"tail" and o["ContentType"] == "a/b", "completed object is whole")
    u2 = s3.create_multipart_upload(Bucket="api", Key="gone")["UploadId"]
    s3.upload_part(Bucket="api", Key="gone", UploadId=u2, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket="api", Key="gone", UploadId=u2)
    check(error_code(lambda: s3.list_parts(Bucket="api", Key="gone", UploadId=u2)) == "NoSuchUpload", "AbortMultipartUpload")
    check(s3.list_multipart_uploads(Bucket="api").get("Uploads", []) == [], "no uploads left")
    check(error_code(lambda: s3.delete_bucket(Bucket="api")) == "BucketNotEmpty", "BucketNotEmpty")


def concurrent_puts():
    s3.create_bucket(Bucket="race")
    size = 3 * 1024 * 1024
    bodies = [bytes([i]) * size for i in range(8)]
    for round_ in range(3):
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda b: client(endpoint).put_object(Bucket="race", Key="k", Body=b), bodies))
        got = s3.get_object(Bucket="race", Key="k")["Body"].read()
        check(len(got) == size and got in bodies, f"round {round_}: one writer won whole, no mixing")


def cors():
    s3.create_bucket(Bucket="web")
    origin = "https://app.example"
    status, _, _ = http("OPTIONS", f"{endpoint}/web/x", headers={"Origin": origin, "Access-Control-Request-Method": "PUT"})
    check(status == 403, f"preflight without CORS config refused ({status})")
    s3.put_bucket_cors(Bucket="web", CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [origin], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]})
    rules = s3.get_bucket_cors(Bucket="web")["CORSRules"]
    check(rules[0]["AllowedOrigins"] == [origin] and rules[0]["MaxAgeSeconds"] == 600, "GetBucketCors")
    status, _, h = http("OPTIONS", f"{endpoint}/web/x", headers={
        "Origin": origin, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"})
    check(status == 200 and h.get("access-control-allow-origin") == origin, f"preflight allowed ({status} {h})")
    check("PUT" in h.get("access-control-allow-methods", ""), "preflight lists methods")
    status, _, _ = http("OPTIONS", f"{endpoint}/web/x", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"})
    check(status == 403, "preflight from another origin refused")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "web", "Key": "x"}, ExpiresIn=60)
    status, _, h = http("PUT", url, data=b"from a page", headers={"Origin": origin})
    check(status == 200 and h.get("access-control-allow-origin") == origin, "CORS headers on the actual request")
    s3.delete_bucket_cors(Bucket="web")
    check(error_code(lambda: s3.get_bucket_cors(Bucket="web")) == "NoSuchCORSConfiguration", "DeleteBucketCors")


def public():
    s3.create_bucket(Bucket="public")
    s3.create_bucket(Bucket="private")
    s3.put_object(Bucket="public", Key="img/cat.png", Body=b"\x89PNG...", ContentType="image/png")
    s3.put_object(Bucket="private", Key="secret", Body=b"no")
    status, body, h = http("GET", f"{endpoint}/public/img/cat.png")
    check(status == 200 and body == b"\x89PNG..." and h.get("content-type") == "image/png", "anonymous GET of a public bucket")
    status, _, _ = http("PUT", f"{endpoint}/public/img/new.png", data=b"x")
    check(status == 403, "anonymous PUT to a public bucket refused")
    status, _, _ = http("GET", f"{endpoint}/public")
    check(status == 403, "anonymous listing of a public bucket refused")
    status, _, _ = http("GET", f"{endpoint}/private/secret")
    check(status == 403, "anonymous GET of a private bucket refused")
    m = metrics()
    check(m.get('bigstep_files_requests_total{method="GET",status="403",operation="GetObject"}', 0) >= 1,
          "requests are counted by operation (the anonymous GET of a private object)")
    check(m.get('bigstep_files_requests_total{method="PUT",status="403",operation="PutObject"}', 0) == 1,
          "an anonymous PUT is counted as PutObject, refused")
    bad = {"Authorization": "AWS4-HMAC-SHA256 Credential=nobody/20260101/us-east-1/s3/aws4_request, "
                            "SignedHeaders=host, Signature=" + "0" * 64}
    status, _, _ = http("GET", f"{endpoint}/private/secret", headers=bad)
    m = metrics()
    series = 'bigstep_files_requests_total{method="GET",status="%d",operation="unidentified"}' % status
    check(status in (400, 403) and m.get(series, 0) == 1,
          f"a request refused before its operation is known is counted as unidentified ({status})")

    # Body bytes by operation, both ways, on the general path (a listing) and
    # the read fast path (GetObject), compared with what the client moved.
    before = metrics()
    payload = os.urandom(1000)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "private", "Key": "k1000"}, ExpiresIn=60)
    status, _, _ = http("PUT", url, data=payload)
    check(status == 200, f"presigned PUT ({status})")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "private", "Key": "k1000"}, ExpiresIn=60)
    status, got, _ = http("GET", url)
    check(status == 200 and got == payload, "presigned GET")
    url = s3.generate_presigned_url("list_objects_v2", Params={"Bucket": "private"}, ExpiresIn=60)
    status, listing, _ = http("GET", url)
    check(status == 200 and b"k1000" in listing, "presigned listing")
    after = metrics()

    def grew(name):
        return after.get(name, 0) - before.get(name, 0)

    for series, want in [
        ('bigstep_files_received_bytes_total{operation="PutObject"}', 1000),
        ('bigstep_files_sent_bytes_total{operation="GetObject"}', 1000),
        ('bigstep_files_sent_bytes_total{operation="ListObjectsV2"}', len(listing)),
    ]:
        check(grew(series) == want, f"{series} grew by {grew(series)}, the client moved {want}")


def metrics():
    """The files server's counters, by series (name and labels as printed)."""
    status, body, _ = http("GET", f"{endpoint}/-/metrics")
    check(status == 200, f"metrics answer ({status})")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("bigstep_files_") and " " in line:
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def client_error(fn):
    """Runs fn; returns (code, HTTP status, message) of the S3 error it raised."""
    from botocore.exceptions import ClientError

    try:
        fn()
    except ClientError as e:
        err = e.response.get("Error", {})
        return err.get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"], err.get("Message")
    return None, None, None


def conditional():
    """Conditional writes (If-None-Match: * and If-Match on PUT and on
    CompleteMultipartUpload, as S3 has had since 2024), the Content-Type S3
    answers for an object stored without one, and error messages."""
    s3.create_bucket(Bucket="cond")
    first = s3.put_object(Bucket="cond", Key="k", Body=b"first", IfNoneMatch="*")
    code, status, msg = client_error(lambda: s3.put_object(Bucket="cond", Key="k", Body=b"second", IfNoneMatch="*"))
    check(code == "PreconditionFailed" and status == 412 and msg, f"If-None-Match: * on an existing key is 412 ({code} {status} {msg})")
    check(s3.get_object(Bucket="cond", Key="k")["Body"].read() == b"first", "the refused PUT changed nothing")
    code, status, _ = client_error(lambda: s3.put_object(Bucket="cond", Key="k", Body=b"x", IfMatch='"0123456789abcdef0123456789abcdef"'))
    check(code == "PreconditionFailed" and status == 412, f"If-Match with another ETag is 412 ({code} {status})")
    s3.put_object(Bucket="cond", Key="k", Body=b"third", IfMatch=first["ETag"])
    check(s3.get_object(Bucket="cond", Key="k")["Body"].read() == b"third", "If-Match with the current ETag writes")
    code, status, _ = client_error(lambda: s3.put_object(Bucket="cond", Key="nope", Body=b"x", IfMatch=first["ETag"]))
    check(code == "NoSuchKey" and status == 404, f"If-Match on a missing key is NoSuchKey 404 ({code} {status})")
    # Racing creators: exactly one If-None-Match: * PUT wins.
    import concurrent.futures

    def create(i):
        return client_error(lambda: s3.put_object(Bucket="cond", Key="race", Body=f"w{i}".encode(), IfNoneMatch="*"))[0]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(create, range(8)))
    check(codes.count(None) == 1 and codes.count("PreconditionFailed") == 7, f"one of 8 racing creators wins ({codes})")
    # CompleteMultipartUpload with If-None-Match: * onto an existing key.
    up = s3.create_multipart_upload(Bucket="cond", Key="k")
    part = s3.upload_part(Bucket="cond", Key="k", UploadId=up["UploadId"], PartNumber=1, Body=b"mp")
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    code, status, _ = client_error(
        lambda: s3.complete_multipart_upload(Bucket="cond", Key="k", UploadId=up["UploadId"], MultipartUpload=parts, IfNoneMatch="*")
    )
    check(code == "PreconditionFailed" and status == 412, f"multipart completion onto an existing key with If-None-Match: * is 412 ({code} {status})")
    check(s3.get_object(Bucket="cond", Key="k")["Body"].read() == b"third", "the refused completion changed nothing")
    # Stored without a Content-Type: S3 answers binary/octet-stream (GET, HEAD, both paths).
    s3.put_object(Bucket="cond", Key="untyped", Body=b"abc")
    head = s3.head_object(Bucket="cond", Key="untyped")
    got = s3.get_object(Bucket="cond", Key="untyped")
    check(head.get("ContentType") == "binary/octet-stream" and got.get("ContentType") == "binary/octet-stream",
          f"an object stored without a Content-Type is binary/octet-stream ({head.get('ContentType')} {got.get('ContentType')})")
    status, _, headers = http("GET", s3.generate_presigned_url("get_object", Params={"Bucket": "cond", "Key": "untyped"}))
    check(status == 200 and headers.get("content-type") == "binary/octet-stream", f"and on the fast path ({status} {headers.get('content-type')})")
    # Errors carry S3's message (aws-cli prints "Unknown" without one).
    code, status, msg = client_error(lambda: s3.create_bucket(Bucket="ab"))
    check(code == "InvalidBucketName" and status == 400 and msg, f"InvalidBucketName has a message ({code} {status} {msg!r})")
    code, status, msg = client_error(lambda: s3.get_object(Bucket="cond", Key="untyped", Range="bytes=100-200"))
    check(code == "InvalidRange" and status == 416 and msg, f"InvalidRange has a message ({code} {status} {msg!r})")


{
    "conditional": conditional,
    "transfer": transfer,
    "presigned": presigned,
    "auth": auth,
    "traversal": traversal,
    "api": api,
    "concurrent": concurrent_puts,
    "cors": cors,
    "public": public,
}[scenario]()
print(f"boto3 {scenario} passed")
