"""boto3's flexible checksums against bigstep files. Usage: checksum_flows.py ENDPOINT DATA_DIR

Every algorithm S3 offers (CRC32, CRC32C, CRC64NVME, SHA1, SHA256): verified on upload
(single PUT, each multipart kind, aws-chunked trailers), echoed by GET/HEAD with
ChecksumMode=ENABLED (which botocore then checks against the body it read), and a
wrong value refused with nothing stored. The expected values come from botocore's
own implementations (awscrt for the CRCs, hashlib for SHA), not from the server."""
import base64
import contextlib
import os
import sys

import botocore.httpchecksum as httpchecksum

from common import check, client, error_code, setup_env

endpoint, data_dir = sys.argv[1], sys.argv[2]
setup_env()
s3 = client(endpoint)

ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]
# The multipart kinds S3 allows per algorithm.
KINDS = {
    "CRC32": ["COMPOSITE", "FULL_OBJECT"],
    "CRC32C": ["COMPOSITE", "FULL_OBJECT"],
    "CRC64NVME": ["FULL_OBJECT"],
    "SHA1": ["COMPOSITE"],
    "SHA256": ["COMPOSITE"],
}


def digest(algorithm, data):
    h = httpchecksum._CHECKSUM_CLS[algorithm.lower()]()
    h.update(data)
    return h.digest()


def b64(raw):
    return base64.b64encode(raw).decode()


def sum_of(algorithm, data):
    return b64(digest(algorithm, data))


def composite(algorithm, parts):
    return f"{sum_of(algorithm, b''.join(digest(algorithm, p) for p in parts))}-{len(parts)}"


def tmp_is_empty(what):
    left = os.listdir(os.path.join(data_dir, ".bigstep", "tmp"))
    check(left == [], f"{what}: nothing left in the temporary area ({left})")


@contextlib.contextmanager
def wrong_trailer(algorithm):
    """Makes botocore's aws-chunked writer send a zero digest as the trailer."""
    name = algorithm.lower()
    real = httpchecksum._CHECKSUM_CLS[name]

    class Zero(real):
        def digest(self):
            return bytes(len(super().digest()))

    httpchecksum._CHECKSUM_CLS[name] = Zero
    try:
        yield
    finally:
        httpchecksum._CHECKSUM_CLS[name] = real


def trailer_client():
    """A client that sends checksums as aws-chunked trailers, as botocore (and the
    newer SDKs) do over HTTPS; over plain HTTP botocore would use a header."""
    c = client(endpoint)

    def to_trailer(params, **_):
        algorithm = params.get("context", {}).get("checksum", {}).get("request_algorithm")
        if isinstance(algorithm, dict):
            algorithm["in"] = "trailer"

    for op in ("PutObject", "UploadPart"):
        c.meta.events.register(f"before-call.s3.{op}", to_trailer)
    return c


def single():
    body = os.urandom(100_000) + b"end"
    for a in ALGORITHMS:
        key = f"single/{a}"
        want = sum_of(a, body)
        r = s3.put_object(Bucket="sums", Key=key, Body=body, ChecksumAlgorithm=a)
        check(r.get(f"Checksum{a}") == want, f"PutObject {a}: verified and echoed ({want})")
        g = s3.get_object(Bucket="sums", Key=key, ChecksumMode="ENABLED")
        check(g["Body"].read() == body, f"GET {a}: body intact (botocore checked it against the checksum)")
        check(g.get(f"Checksum{a}") == want and g.get("ChecksumType") == "FULL_OBJECT",
              f"GET {a} with ChecksumMode: stored checksum returned")
        h = s3.head_object(Bucket="sums", Key=key, ChecksumMode="ENABLED")
        check(h.get(f"Checksum{a}") == want, f"HEAD {a} with ChecksumMode: stored checksum returned")
        plain = s3.head_object(Bucket="sums", Key=key)
        check(not any(k.startswith("Checksum") and k != "ChecksumType" for k in plain),
              f"HEAD {a} without ChecksumMode: no checksum")
        # A value of the right shape but for other bytes.
        bad = f"bad/{a}"
        code = error_code(lambda: s3.put_object(Bucket="sums", Key=bad, Body=body, **{f"Checksum{a}": sum_of(a, b"other")}))
        check(code == "BadDigest", f"PutObject with a wrong {a} refused ({code})")
        check(error_code(lambda: s3.head_object(Bucket="sums", Key=bad)) == "404", f"wrong {a}: nothing stored")
    # Not base64 of the right length: S3 says InvalidRequest.
    code = error_code(lambda: s3.put_object(Bucket="sums", Key="bad/short", Body=b"abc", ChecksumSHA256="AAAA"))
    check(code == "InvalidRequest", f"a malformed SHA256 value refused ({code})")
    check(error_code(lambda: s3.head_object(Bucket="sums", Key="bad/short")) == "404", "malformed value: nothing stored")
    # CopyObject keeps the checksum with the bytes.
    s3.copy_object(Bucket="sums", Key="copy/SHA1", CopySource={"Bucket": "sums", "Key": "single/SHA1"})
    h = s3.head_object(Bucket="sums", Key="copy/SHA1", ChecksumMode="ENABLED")
    check(h.get("ChecksumSHA1") == sum_of("SHA1", body), "CopyObject keeps the SHA1 checksum")
    r = s3.copy_object(Bucket="sums", Key="copy/CRC32C", CopySource={"Bucket": "sums", "Key": "single/SHA1"},
                       ChecksumAlgorithm="CRC32C")
    check(r["CopyObjectResult"].get("ChecksumCRC32C") == sum_of("CRC32C", body), "CopyObject computes a requested CRC32C")
    g = s3.get_object(Bucket="sums", Key="copy/CRC32C", ChecksumMode="ENABLED")
    check(g["Body"].read() == body and g.get("ChecksumCRC32C") == sum_of("CRC32C", body), "and keeps it")
    tmp_is_empty("single PUTs")


def multipart():
    part1 = os.urandom(5 * 1024 * 1024)
    part2 = os.urandom(4321)
    for a in ALGORITHMS:
        for kind in KINDS[a]:
            key = f"multi/{a}/{kind}"
            mpu = s3.create_multipart_upload(Bucket="sums", Key=key, ChecksumAlgorithm=a, ChecksumType=kind)
            check(mpu.get("ChecksumAlgorithm") == a and mpu.get("ChecksumType") == kind,
                  f"CreateMultipartUpload {a} {kind} echoed")
            uid = mpu["UploadId"]
            parts = []
            for n, data in enumerate([part1, part2], 1):
                r = s3.upload_part(Bucket="sums", Key=key, UploadId=uid, PartNumber=n, Body=data, ChecksumAlgorithm=a)
                check(r.get(f"Checksum{a}") == sum_of(a, data), f"UploadPart {n} {a}: verified and echoed")
                parts.append({"PartNumber": n, "ETag": r["ETag"], f"Checksum{a}": r[f"Checksum{a}"]})
            listed = s3.list_parts(Bucket="sums", Key=key, UploadId=uid)["Parts"]
            check([p.get(f"Checksum{a}") for p in listed] == [p[f"Checksum{a}"] for p in parts],
                  f"ListParts shows the {a} part checksums")
            want = composite(a, [part1, part2]) if kind == "COMPOSITE" else sum_of(a, part1 + part2)
            c = s3.complete_multipart_upload(Bucket="sums", Key=key, UploadId=uid, ChecksumType=kind,
                                             MultipartUpload={"Parts": parts})
            check(c.get(f"Checksum{a}") == want and c.get("ChecksumType") == kind,
                  f"CompleteMultipartUpload {a} {kind}: {want}")
            g = s3.get_object(Bucket="sums", Key=key, ChecksumMode="ENABLED")
            check(g["Body"].read() == part1 + part2, f"GET multipart {a} {kind}: body intact")
            check(g.get(f"Checksum{a}") == want and g.get("ChecksumType") == kind,
                  f"GET multipart {a} {kind} with ChecksumMode: object checksum returned")
            h = s3.head_object(Bucket="sums", Key=key, ChecksumMode="ENABLED")
            check(h.get(f"Checksum{a}") == want, f"HEAD multipart {a} {kind}: object checksum returned")

    # A wrong part checksum: the part is refused and not kept.
    key = "multi/bad"
    uid = s3.create_multipart_upload(Bucket="sums", Key=key, ChecksumAlgorithm="SHA256")["UploadId"]
    code = error_code(lambda: s3.upload_part(Bucket="sums", Key=key, UploadId=uid, PartNumber=1, Body=part2,
                                             ChecksumSHA256=sum_of("SHA256", b"other")))
    check(code == "BadDigest", f"UploadPart with a wrong SHA256 refused ({code})")
    check(s3.list_parts(Bucket="sums", Key=key, UploadId=uid).get("Parts", []) == [], "the refused part is not kept")
    # A part in another algorithm than the upload's.
    code = error_code(lambda: s3.upload_part(Bucket="sums", Key=key, UploadId=uid, PartNumber=1, Body=part2,
                                             ChecksumAlgorithm="CRC32"))
    check(code == "InvalidRequest", f"a part in another algorithm refused ({code})")
    r = s3.upload_part(Bucket="sums", Key=key, UploadId=uid, PartNumber=1, Body=part2, ChecksumAlgorithm="SHA256")
    # CompleteMultipartUpload naming a part with the wrong checksum.
    code = error_code(lambda: s3.complete_multipart_upload(
        Bucket="sums", Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumSHA256": sum_of("SHA256", b"x")}]}))
    check(code == "InvalidPart", f"Complete with a wrong part checksum refused ({code})")
    check(error_code(lambda: s3.head_object(Bucket="sums", Key=key)) == "404", "wrong part checksum: nothing stored")
    s3.abort_multipart_upload(Bucket="sums", Key=key, UploadId=uid)

    # A full-object checksum the client computed itself, and a wrong one.
    key = "multi/full"
    uid = s3.create_multipart_upload(Bucket="sums", Key=key, ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT")["UploadId"]
    parts = []
    for n, data in enumerate([part1, part2], 1):
        r = s3.upload_part(Bucket="sums", Key=key, UploadId=uid, PartNumber=n, Body=data, ChecksumAlgorithm="CRC64NVME")
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    code = error_code(lambda: s3.complete_multipart_upload(
        Bucket="sums", Key=key, UploadId=uid, ChecksumType="FULL_OBJECT", MpuObjectSize=len(part1),
        ChecksumCRC64NVME=sum_of("CRC64NVME", part1 + part2), MultipartUpload={"Parts": parts}))
    check(code == "InvalidRequest", f"Complete with a wrong MpuObjectSize refused ({code})")
    code = error_code(lambda: s3.complete_multipart_upload(
        Bucket="sums", Key=key, UploadId=uid, ChecksumType="FULL_OBJECT",
        ChecksumCRC64NVME=sum_of("CRC64NVME", b"other"), MultipartUpload={"Parts": parts}))
    check(code == "BadDigest", f"Complete with a wrong full-object CRC64NVME refused ({code})")
    check(error_code(lambda: s3.head_object(Bucket="sums", Key=key)) == "404", "wrong object checksum: nothing stored")
    c = s3.complete_multipart_upload(Bucket="sums", Key=key, UploadId=uid, ChecksumType="FULL_OBJECT",
                                     MpuObjectSize=len(part1) + len(part2), ChecksumCRC64NVME=sum_of("CRC64NVME", part1 + part2), MultipartUpload={"Parts": parts})
    check(c.get("ChecksumCRC64NVME") == sum_of("CRC64NVME", part1 + part2), "the upload completes after the refusal")
    # S3's rules on kinds.
    code = error_code(lambda: s3.create_multipart_upload(Bucket="sums", Key="k", ChecksumAlgorithm="SHA1", ChecksumType="FULL_OBJECT"))
    check(code == "InvalidRequest", f"FULL_OBJECT SHA1 refused ({code})")
    tmp_is_empty("multipart")


def trailers():
    tc = trailer_client()
    body = os.urandom(300_000)
    for a in ALGORITHMS:
        key = f"trailer/{a}"
        tc.put_object(Bucket="sums", Key=key, Body=body, ChecksumAlgorithm=a)
        h = s3.head_object(Bucket="sums", Key=key, ChecksumMode="ENABLED")
        check(h.get(f"Checksum{a}") == sum_of(a, body), f"aws-chunked PUT with a {a} trailer verified and stored")
        with wrong_trailer(a):
            code = error_code(lambda: tc.put_object(Bucket="sums", Key=f"bad/trailer/{a}", Body=body, ChecksumAlgorithm=a))
        check(code == "BadDigest", f"aws-chunked PUT with a wrong {a} trailer refused ({code})")
        check(error_code(lambda: s3.head_object(Bucket="sums", Key=f"bad/trailer/{a}")) == "404",
              f"wrong {a} trailer: nothing stored")
    # Multipart parts with trailers, through the high-level transfer (CRC32 by default).
    src = os.path.join(os.environ["HOME"], "trailer.bin")
    data = os.urandom(12 * 1024 * 1024)
    with open(src, "wb") as f:
        f.write(data)
    tc.upload_file(src, "sums", "trailer/upload_file.bin")
    g = s3.get_object(Bucket="sums", Key="trailer/upload_file.bin", ChecksumMode="ENABLED")
    check(g["Body"].read() == data and g.get("ChecksumCRC32", "").endswith("-2"),
          f"upload_file with trailer part checksums: composite CRC32 {g.get('ChecksumCRC32')}")
    with wrong_trailer("CRC32C"):
        uid = s3.create_multipart_upload(Bucket="sums", Key="bad/parts", ChecksumAlgorithm="CRC32C")["UploadId"]
        code = error_code(lambda: tc.upload_part(Bucket="sums", Key="bad/parts", UploadId=uid, PartNumber=1,
                                                 Body=data[:1000], ChecksumAlgorithm="CRC32C"))
    check(code == "BadDigest", f"UploadPart with a wrong CRC32C trailer refused ({code})")
    check(s3.list_parts(Bucket="sums", Key="bad/parts", UploadId=uid).get("Parts", []) == [], "the refused part is not kept")
    tmp_is_empty("trailers")


s3.create_bucket(Bucket="sums")
single()
multipart()
trailers()
print("checksum flows passed")
