"""ListObjectVersions, GetObjectAttributes and versionId on object requests,
through boto3, aws-cli and rclone, as S3 answers them for a bucket that was
never versioned: every object is one version, `null`, the latest.
Usage: versions_attributes.py ENDPOINT"""
import json
import os
import subprocess
import sys

from common import check, client, error_code, rclone_env, setup_env

endpoint = sys.argv[1]
home = setup_env()
s3 = client(endpoint)
MIB = 1024 * 1024
# An id S3 could have issued (32 characters), but not one of ours.
OTHER_ID = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"


def aws(*args):
    p = subprocess.run(["aws", "--endpoint-url", endpoint, "--output", "json", *args],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print(p.stdout, p.stderr, file=sys.stderr)
        raise SystemExit(f"aws {' '.join(args)} failed with {p.returncode}")
    return json.loads(p.stdout) if p.stdout.strip() else {}


def aws_error(*args):
    p = subprocess.run(["aws", "--endpoint-url", endpoint, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stderr


# === ListObjectVersions ===

s3.create_bucket(Bucket="ver")
keys = [f"a/{i}" for i in range(10)] + [f"b/{i}" for i in range(5)] + [f"c{i}" for i in range(10)]
for k in keys:
    s3.put_object(Bucket="ver", Key=k, Body=k.encode() * 3)
check("Status" not in s3.get_bucket_versioning(Bucket="ver"), "GetBucketVersioning: never versioned (no Status)")

r = s3.list_object_versions(Bucket="ver")
vs = r["Versions"]
check([v["Key"] for v in vs] == sorted(keys), "ListObjectVersions lists every key once, in key order")
check(all(v["VersionId"] == "null" and v["IsLatest"] is True for v in vs), "... each version null and latest")
heads = {k: s3.head_object(Bucket="ver", Key=k) for k in keys}
check(all(v["ETag"] == heads[v["Key"]]["ETag"] and v["Size"] == 3 * len(v["Key"])
          and v["LastModified"].replace(microsecond=0) == heads[v["Key"]]["LastModified"] for v in vs),
      "... with the ETag, size and Last-Modified HEAD gives")
check(all(v["StorageClass"] == "STANDARD" and v["Owner"]["ID"] for v in vs), "... STANDARD, with an owner")
check("DeleteMarkers" not in r and r["IsTruncated"] is False and "NextKeyMarker" not in r,
      "... no delete markers, not truncated, no next marker")

# Pagination over more keys than max-keys, by hand and by boto3's paginator.
got, marker, vmarker, pages = [], None, None, 0
while True:
    kw = {"KeyMarker": marker, "VersionIdMarker": vmarker} if marker else {}
    r = s3.list_object_versions(Bucket="ver", MaxKeys=7, **kw)
    pages += 1
    page = [v["Key"] for v in r["Versions"]]
    got += page
    check(len(page) <= 7 and r["MaxKeys"] == 7, f"page {pages}: {len(page)} versions, MaxKeys 7")
    if not r["IsTruncated"]:
        check("NextKeyMarker" not in r and "NextVersionIdMarker" not in r, "... last page: no next markers")
        break
    check(r["NextKeyMarker"] == page[-1] and r["NextVersionIdMarker"] == "null",
          f"... truncated: NextKeyMarker {r['NextKeyMarker']} (the last key), NextVersionIdMarker null")
    marker, vmarker = r["NextKeyMarker"], r["NextVersionIdMarker"]
check(got == sorted(keys) and pages == 4, "25 keys in 4 pages of 7 by key-marker/version-id-marker, none twice")
paged = [v["Key"] for p in s3.get_paginator("list_object_versions").paginate(
    Bucket="ver", PaginationConfig={"PageSize": 4}) for v in p.get("Versions", [])]
check(paged == sorted(keys), "boto3's list_object_versions paginator, 4 a page: every key once")

# Prefix and delimiter, as ListObjectsV2 answers them.
r = s3.list_object_versions(Bucket="ver", Delimiter="/")
check([p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/"], "Delimiter /: CommonPrefixes a/ and b/")
check([v["Key"] for v in r["Versions"]] == [f"c{i}" for i in range(10)], "... and the top-level keys")
r = s3.list_object_versions(Bucket="ver", Prefix="a/", Delimiter="/")
check([v["Key"] for v in r["Versions"]] == [f"a/{i}" for i in range(10)] and "CommonPrefixes" not in r,
      "Prefix a/: the keys under a/")


def walk(list_fn, token_in, token_out, entries):
    out, kw = [], {}
    while True:
        r = list_fn(Bucket="ver", Delimiter="/", MaxKeys=3, **kw)
        out += [("P", p["Prefix"]) for p in r.get("CommonPrefixes", [])]
        out += [("K", v["Key"]) for v in r.get(entries, [])]
        if not r["IsTruncated"]:
            return out
        kw = {k: r[t] for k, t in zip(token_in, token_out)}


v2 = walk(s3.list_objects_v2, ["ContinuationToken"], ["NextContinuationToken"], "Contents")
ov = walk(s3.list_object_versions, ["KeyMarker", "VersionIdMarker"], ["NextKeyMarker", "NextVersionIdMarker"], "Versions")
check(ov == v2 and len(ov) == 12, "Delimiter / in pages of 3: the same 2 prefixes and 10 keys as ListObjectsV2")
r = s3.list_object_versions(Bucket="ver", KeyMarker="b/2")
check([v["Key"] for v in r["Versions"]] == ["b/3", "b/4"] + [f"c{i}" for i in range(10)], "key-marker b/2: the keys after it")
r = s3.list_object_versions(Bucket="ver", KeyMarker="b/2", VersionIdMarker="null")
check([v["Key"] for v in r["Versions"]][0] == "b/3", "key-marker b/2 with version-id-marker null: the same")
r = s3.list_object_versions(Bucket="ver", KeyMarker="a/", Delimiter="/")
check([p["Prefix"] for p in r["CommonPrefixes"]] == ["b/"], "key-marker a/ with Delimiter /: resumes after the prefix a/")

for name, fn in [("ListObjectsV2", s3.list_objects_v2), ("ListObjects", s3.list_objects),
                 ("ListObjectVersions", s3.list_object_versions)]:
    r = fn(Bucket="ver", MaxKeys=0)
    check(not r["IsTruncated"] and not r.get("Contents") and not r.get("Versions")
          and not r.get("NextContinuationToken") and not r.get("NextMarker") and not r.get("NextKeyMarker"),
          f"{name} with MaxKeys 0: an empty page that is not truncated, as S3 answers")

check(error_code(lambda: s3.list_object_versions(Bucket="ver", VersionIdMarker="null")) == "InvalidArgument",
      "version-id-marker without key-marker: InvalidArgument")
check(error_code(lambda: s3.list_object_versions(Bucket="ver", KeyMarker="a/1", VersionIdMarker=OTHER_ID)) == "InvalidArgument",
      "version-id-marker not ours: InvalidArgument")
check(error_code(lambda: s3.list_object_versions(Bucket="nosuchbucket")) == "NoSuchBucket",
      "ListObjectVersions of a missing bucket: NoSuchBucket")

# aws-cli paginates it itself (--page-size sets max-keys).
out = aws("s3api", "list-object-versions", "--bucket", "ver", "--page-size", "4")
check([v["Key"] for v in out["Versions"]] == sorted(keys) and {v["VersionId"] for v in out["Versions"]} == {"null"},
      "aws s3api list-object-versions --page-size 4: 25 versions, all null")
out = aws("s3api", "list-object-versions", "--bucket", "ver", "--prefix", "b/", "--delimiter", "/")
check([v["Key"] for v in out["Versions"]] == [f"b/{i}" for i in range(5)], "aws s3api list-object-versions --prefix b/")

# rclone lists versions with --s3-versions.
rclone_env(home, endpoint)
p = subprocess.run(["rclone", "lsf", "-R", "--files-only", "--s3-versions", "bs:ver"],
                   capture_output=True, text=True, timeout=120)
check(p.returncode == 0 and sorted(p.stdout.split()) == sorted(keys),
      f"rclone lsf --s3-versions: every key once, no old versions (rc {p.returncode} {p.stderr.strip()[:200]})")

# === versionId on GET, HEAD, DELETE, tagging, copy ===

r = s3.get_object(Bucket="ver", Key="c1", VersionId="null")
check(r["Body"].read() == b"c1" * 3 and r["VersionId"] == "null", "GET versionId=null: the object, x-amz-version-id: null")
check("VersionId" not in s3.get_object(Bucket="ver", Key="c1"), "GET without versionId: no x-amz-version-id, as S3")
check(s3.head_object(Bucket="ver", Key="c1", VersionId="null")["VersionId"] == "null", "HEAD versionId=null: 200, null")
check(error_code(lambda: s3.get_object(Bucket="ver", Key="c1", VersionId=OTHER_ID)) == "InvalidArgument",
      "GET with a version id not ours: InvalidArgument, not the current object")
check(error_code(lambda: s3.head_object(Bucket="ver", Key="c1", VersionId=OTHER_ID)) == "400", "HEAD with it: 400")
check(error_code(lambda: s3.get_object(Bucket="ver", Key="nope")) == "NoSuchKey", "GET of a missing key: NoSuchKey")
check(error_code(lambda: s3.get_object(Bucket="ver", Key="nope", VersionId="null")) == "NoSuchVersion",
      "GET versionId=null of a missing key: NoSuchVersion")
check(error_code(lambda: s3.get_object(Bucket="nosuchbucket", Key="c1", VersionId="null")) == "NoSuchBucket",
      "GET versionId=null in a missing bucket: NoSuchBucket")
check(s3.get_object_tagging(Bucket="ver", Key="c1", VersionId="null")["VersionId"] == "null", "GetObjectTagging versionId=null")
check(error_code(lambda: s3.copy_object(Bucket="ver", Key="copy", CopySource={"Bucket": "ver", "Key": "c1", "VersionId": OTHER_ID}))
      == "InvalidArgument", "CopyObject from a version id not ours: InvalidArgument")
s3.copy_object(Bucket="ver", Key="copy", CopySource={"Bucket": "ver", "Key": "c1", "VersionId": "null"})
check(s3.get_object(Bucket="ver", Key="copy")["Body"].read() == b"c1" * 3, "CopyObject from versionId=null")

check(error_code(lambda: s3.delete_object(Bucket="ver", Key="c2", VersionId=OTHER_ID)) == "InvalidArgument",
      "DELETE with a version id not ours: InvalidArgument")
check(s3.head_object(Bucket="ver", Key="c2")["ContentLength"] == 6, "... and the object is still there")
r = s3.delete_object(Bucket="ver", Key="c2", VersionId="null")
check(r["ResponseMetadata"]["HTTPStatusCode"] == 204 and r["VersionId"] == "null", "DELETE versionId=null: 204, null")
check(error_code(lambda: s3.head_object(Bucket="ver", Key="c2")) == "404", "... and the object is gone")
r = s3.delete_objects(Bucket="ver", Delete={"Objects": [{"Key": "c3", "VersionId": "null"}, {"Key": "c4", "VersionId": OTHER_ID}]})
check([(d["Key"], d.get("VersionId")) for d in r["Deleted"]] == [("c3", "null")], "DeleteObjects: c3 version null deleted")
check([(e["Key"], e["Code"]) for e in r["Errors"]] == [("c4", "InvalidArgument")], "... c4 with a version id not ours refused")
check(s3.head_object(Bucket="ver", Key="c4")["ContentLength"] == 6, "... and kept")

# === GetObjectAttributes ===

ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
s3.put_object(Bucket="ver", Key="one", Body=b"hello attributes", ChecksumAlgorithm="CRC32C")
h = s3.head_object(Bucket="ver", Key="one", ChecksumMode="ENABLED")
a = s3.get_object_attributes(Bucket="ver", Key="one", ObjectAttributes=ALL)
check(a["ETag"] == h["ETag"].strip('"') and '"' not in a["ETag"], f"single PUT: ETag {a['ETag']}, unquoted as S3 sends it")
check(a["ObjectSize"] == 16 and a["StorageClass"] == "STANDARD", "... ObjectSize 16, STANDARD")
check(a["Checksum"] == {"ChecksumCRC32C": h["ChecksumCRC32C"], "ChecksumType": "FULL_OBJECT"}, "... its CRC32C, FULL_OBJECT")
check("ObjectParts" not in a and a["LastModified"].replace(microsecond=0) == h["LastModified"],
      "... no ObjectParts (one piece), Last-Modified")
a = s3.get_object_attributes(Bucket="ver", Key="one", ObjectAttributes=["ObjectSize"])
check(a["ObjectSize"] == 16 and "ETag" not in a and "Checksum" not in a, "only the attributes asked for")

parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1000)]
up = s3.create_multipart_upload(Bucket="ver", Key="multi", ChecksumAlgorithm="SHA256")
done = [s3.upload_part(Bucket="ver", Key="multi", UploadId=up["UploadId"], PartNumber=i + 1, Body=p, ChecksumAlgorithm="SHA256")
        for i, p in enumerate(parts)]
s3.complete_multipart_upload(Bucket="ver", Key="multi", UploadId=up["UploadId"], MultipartUpload={"Parts": [
    {"PartNumber": i + 1, "ETag": d["ETag"], "ChecksumSHA256": d["ChecksumSHA256"]} for i, d in enumerate(done)]})
h = s3.head_object(Bucket="ver", Key="multi", ChecksumMode="ENABLED")
a = s3.get_object_attributes(Bucket="ver", Key="multi", ObjectAttributes=ALL)
check(a["ETag"] == h["ETag"].strip('"') and a["ETag"].endswith("-3"), f"multipart: ETag {a['ETag']}")
check(a["ObjectSize"] == sum(map(len, parts)), "... ObjectSize is the whole object")
check(a["Checksum"] == {"ChecksumSHA256": h["ChecksumSHA256"].rsplit("-", 1)[0], "ChecksumType": "COMPOSITE"},
      "... its composite SHA256 without the -3, as S3 gives it here")
op = a["ObjectParts"]
check(op["TotalPartsCount"] == 3 and [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(1, 5 * MIB), (2, 5 * MIB), (3, 1000)]
      and op["IsTruncated"] is False, "... ObjectParts: 3 parts with their sizes")
a = s3.get_object_attributes(Bucket="ver", Key="multi", ObjectAttributes=["ObjectParts"], MaxParts=2)
op = a["ObjectParts"]
check([p["PartNumber"] for p in op["Parts"]] == [1, 2] and op["IsTruncated"] is True and str(op["NextPartNumberMarker"]) == "2"
      and op["MaxParts"] == 2, "max-parts 2: parts 1 and 2, truncated, next marker 2")
a = s3.get_object_attributes(Bucket="ver", Key="multi", ObjectAttributes=["ObjectParts"], MaxParts=2, PartNumberMarker=2)
op = a["ObjectParts"]
check([p["PartNumber"] for p in op["Parts"]] == [3] and op["IsTruncated"] is False and op["TotalPartsCount"] == 3,
      "part-number-marker 2: part 3, not truncated")
a = s3.get_object_attributes(Bucket="ver", Key="multi", ObjectAttributes=["ETag"], VersionId="null")
check(a["VersionId"] == "null", "versionId=null: answered, x-amz-version-id: null")

check(error_code(lambda: s3.get_object_attributes(Bucket="ver", Key="nope", ObjectAttributes=ALL)) == "NoSuchKey",
      "GetObjectAttributes of a missing key: NoSuchKey")
check(error_code(lambda: s3.get_object_attributes(Bucket="ver", Key="multi", ObjectAttributes=ALL, VersionId=OTHER_ID))
      == "InvalidArgument", "... with a version id not ours: InvalidArgument")
check(error_code(lambda: s3.get_object_attributes(Bucket="nosuchbucket", Key="multi", ObjectAttributes=ALL)) == "NoSuchBucket",
      "... in a missing bucket: NoSuchBucket")

out = aws("s3api", "get-object-attributes", "--bucket", "ver", "--key", "multi",
          "--object-attributes", "ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
check(out["ETag"] == h["ETag"].strip('"') and out["ObjectSize"] == sum(map(len, parts)) and out["StorageClass"] == "STANDARD"
      and out["ObjectParts"]["TotalPartsCount"] == 3 and out["Checksum"]["ChecksumType"] == "COMPOSITE",
      "aws s3api get-object-attributes: ETag, size, class, 3 parts, composite checksum")
rc, err = aws_error("s3api", "get-object-attributes", "--bucket", "ver", "--key", "nope", "--object-attributes", "ETag")
check(rc != 0 and "NoSuchKey" in err, "aws s3api get-object-attributes of a missing key: NoSuchKey")

# The empty-a-bucket recipe: list versions, delete each by key and version id.
for page in s3.get_paginator("list_object_versions").paginate(Bucket="ver", PaginationConfig={"PageSize": 10}):
    objs = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
    if objs:
        r = s3.delete_objects(Bucket="ver", Delete={"Objects": objs})
        check("Errors" not in r, f"delete_objects of {len(objs)} listed versions")
s3.delete_bucket(Bucket="ver")
check(True, "the bucket emptied by its versions then deleted")
