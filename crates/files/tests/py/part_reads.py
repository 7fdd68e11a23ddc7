"""GET and HEAD with partNumber through boto3: each part of a multipart object,
x-amz-mp-parts-count, errors for parts that do not exist. Usage: part_reads.py ENDPOINT"""
import os
import sys

from common import check, client, error_code, setup_env

endpoint = sys.argv[1]
setup_env()
s3 = client(endpoint)
MIB = 1024 * 1024

s3.create_bucket(Bucket="parts")
parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1000)]
up = s3.create_multipart_upload(Bucket="parts", Key="m")
etags = [s3.upload_part(Bucket="parts", Key="m", UploadId=up["UploadId"], PartNumber=i + 1, Body=p)["ETag"]
         for i, p in enumerate(parts)]
s3.complete_multipart_upload(Bucket="parts", Key="m", UploadId=up["UploadId"],
                             MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
whole = b"".join(parts)
start = 0
for i, p in enumerate(parts):
    r = s3.get_object(Bucket="parts", Key="m", PartNumber=i + 1)
    body = r["Body"].read()
    check(body == p, f"GET partNumber={i + 1} returns that part's {len(p)} bytes")
    check(r["PartsCount"] == 3, f"... with x-amz-mp-parts-count: 3")
    check(r["ContentRange"] == f"bytes {start}-{start + len(p) - 1}/{len(whole)}" and r["ResponseMetadata"]["HTTPStatusCode"] == 206,
          f"... as a 206 with Content-Range {r['ContentRange']}")
    h = s3.head_object(Bucket="parts", Key="m", PartNumber=i + 1)
    check(h["ContentLength"] == len(p) and h["PartsCount"] == 3, f"HEAD partNumber={i + 1}: length {len(p)}, 3 parts")
    start += len(p)
check(error_code(lambda: s3.get_object(Bucket="parts", Key="m", PartNumber=4)) == "InvalidPartNumber", "a fourth part: InvalidPartNumber")
check(error_code(lambda: s3.get_object(Bucket="parts", Key="m", PartNumber=1, Range="bytes=0-1")) == "InvalidRequest", "partNumber with Range: InvalidRequest")
check(s3.get_object(Bucket="parts", Key="m")["Body"].read() == whole, "a plain GET still returns the whole object")
# A copy keeps the parts.
s3.copy_object(Bucket="parts", Key="copy", CopySource={"Bucket": "parts", "Key": "m"})
check(s3.get_object(Bucket="parts", Key="copy", PartNumber=2)["Body"].read() == parts[1], "a copy of a multipart object reads by part")
# An object uploaded in one piece is one part.
s3.put_object(Bucket="parts", Key="single", Body=b"one piece")
r = s3.get_object(Bucket="parts", Key="single", PartNumber=1)
check(r["Body"].read() == b"one piece", "a single-part object's part 1 is the object")
check(error_code(lambda: s3.get_object(Bucket="parts", Key="single", PartNumber=2)) == "InvalidPartNumber", "... and it has no part 2")
