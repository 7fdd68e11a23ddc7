"""Object tagging and lifecycle expiration through boto3 and aws-cli. The server
runs with a lifecycle "day" of a couple of seconds (the test knob), so Days: 1
rules expire objects while the test watches. Usage: tagging_lifecycle.py ENDPOINT"""
import datetime
import json
import os
import re
import subprocess
import time
import urllib.request

from common import check, client, error_code, setup_env

endpoint = __import__("sys").argv[1]
home = setup_env()
s3 = client(endpoint)


def aws(*args):
    out = subprocess.run(["aws", "--endpoint-url", endpoint, *args], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"aws {args} failed: {out.stderr}")
    return json.loads(out.stdout) if out.stdout.strip() else None


def tags_of(bucket, key):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def metric(name):
    text = urllib.request.urlopen(f"{endpoint}/-/metrics", timeout=30).read().decode()
    m = re.search(rf"^{name} (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def raw(method, path):
    req = urllib.request.Request(f"{endpoint}{path}", method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return {k.lower(): v for k, v in r.headers.items()}


# ------------------------------------------------------------------ tagging
s3.create_bucket(Bucket="tags")
s3.put_object(Bucket="tags", Key="a", Body=b"x", Tagging="color=red&note=two%20words")
check(tags_of("tags", "a") == {"color": "red", "note": "two words"}, "x-amz-tagging on PUT is kept")
check(s3.get_object(Bucket="tags", Key="a")["TagCount"] == 2, "GET sends x-amz-tagging-count")
h = s3.head_object(Bucket="tags", Key="a")["ResponseMetadata"]["HTTPHeaders"]
check(h.get("x-amz-tagging-count") == "2", "HEAD sends x-amz-tagging-count")
s3.put_object_tagging(Bucket="tags", Key="a", Tagging={"TagSet": [{"Key": f"k{i}", "Value": "é" * 256} for i in range(10)]})
check(len(tags_of("tags", "a")) == 10, "PutObjectTagging replaces the set: 10 tags, 256-character values")
check(s3.get_object(Bucket="tags", Key="a")["Body"].read() == b"x", "tagging leaves the data alone")
eleven = {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}
check(error_code(lambda: s3.put_object_tagging(Bucket="tags", Key="a", Tagging=eleven)) == "InvalidTag", "11 tags: InvalidTag")
check(error_code(lambda: s3.put_object_tagging(Bucket="tags", Key="a", Tagging={"TagSet": [{"Key": "k" * 129, "Value": ""}]})) == "InvalidTag", "129-character key: InvalidTag")
check(error_code(lambda: s3.put_object_tagging(Bucket="tags", Key="a", Tagging={"TagSet": [{"Key": "k", "Value": "v" * 257}]})) == "InvalidTag", "257-character value: InvalidTag")
check(error_code(lambda: s3.put_object_tagging(Bucket="tags", Key="a", Tagging={"TagSet": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]})) == "InvalidTag", "a key twice: InvalidTag")
check(error_code(lambda: s3.put_object_tagging(Bucket="tags", Key="a", Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]})) == "InvalidTag", "aws: keys: InvalidTag")
check(len(tags_of("tags", "a")) == 10, "refused sets changed nothing")
check(error_code(lambda: s3.put_object(Bucket="tags", Key="b", Body=b"x", Tagging="&".join(f"k{i}=v" for i in range(11)))) == "InvalidTag", "11 tags in x-amz-tagging: InvalidTag")
check(error_code(lambda: s3.head_object(Bucket="tags", Key="b")) == "404", "... and nothing stored")
check(error_code(lambda: s3.get_object_tagging(Bucket="tags", Key="nope")) == "NoSuchKey", "tags of a missing key: NoSuchKey")
s3.delete_object_tagging(Bucket="tags", Key="a")
check(tags_of("tags", "a") == {}, "DeleteObjectTagging empties the set")
check("TagCount" not in s3.get_object(Bucket="tags", Key="a"), "no x-amz-tagging-count without tags")
# Bucket tags (Terraform's aws_s3_bucket reads them on every plan).
check(error_code(lambda: s3.get_bucket_tagging(Bucket="tags")) == "NoSuchTagSet", "an untagged bucket: NoSuchTagSet")
fifty = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
s3.put_bucket_tagging(Bucket="tags", Tagging={"TagSet": fifty})
got = s3.get_bucket_tagging(Bucket="tags")["TagSet"]
check(sorted((t["Key"], t["Value"]) for t in got) == sorted((t["Key"], t["Value"]) for t in fifty), "50 bucket tags kept")
fifty_one = fifty + [{"Key": "k50", "Value": "v"}]
check(error_code(lambda: s3.put_bucket_tagging(Bucket="tags", Tagging={"TagSet": fifty_one})) == "InvalidTag", "51 bucket tags: InvalidTag")
check(error_code(lambda: s3.put_bucket_tagging(Bucket="tags", Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]})) == "InvalidTag", "aws: bucket tag keys: InvalidTag")
check(len(s3.get_bucket_tagging(Bucket="tags")["TagSet"]) == 50, "refused bucket tag sets changed nothing")
aws("s3api", "put-bucket-tagging", "--bucket", "tags", "--tagging", "TagSet=[{Key=team,Value=web}]")
check(aws("s3api", "get-bucket-tagging", "--bucket", "tags")["TagSet"] == [{"Key": "team", "Value": "web"}], "aws-cli put/get-bucket-tagging: the set is replaced")
check(s3.list_objects_v2(Bucket="tags")["KeyCount"] >= 1 and tags_of("tags", "a") == {}, "bucket tags leave objects and their tags alone")
aws("s3api", "delete-bucket-tagging", "--bucket", "tags")
check(error_code(lambda: s3.get_bucket_tagging(Bucket="tags")) == "NoSuchTagSet", "DeleteBucketTagging: NoSuchTagSet again")
check(error_code(lambda: s3.get_bucket_tagging(Bucket="nosuchbucket")) == "NoSuchBucket", "tags of a missing bucket: NoSuchBucket")
# Copy: the source's tags by default, new ones with REPLACE.
s3.put_object_tagging(Bucket="tags", Key="a", Tagging={"TagSet": [{"Key": "src", "Value": "1"}]})
s3.copy_object(Bucket="tags", Key="c1", CopySource={"Bucket": "tags", "Key": "a"})
check(tags_of("tags", "c1") == {"src": "1"}, "CopyObject keeps the source's tags (COPY)")
s3.copy_object(Bucket="tags", Key="c2", CopySource={"Bucket": "tags", "Key": "a"}, TaggingDirective="REPLACE", Tagging="new=2")
check(tags_of("tags", "c2") == {"new": "2"}, "CopyObject with REPLACE takes x-amz-tagging")
# Overwriting makes a new object: its own tags only.
s3.put_object(Bucket="tags", Key="c2", Body=b"y")
check(tags_of("tags", "c2") == {}, "a PUT over a tagged object starts with no tags")
# Multipart: tags from CreateMultipartUpload.
up = s3.create_multipart_upload(Bucket="tags", Key="mp", Tagging="m=1")
e = s3.upload_part(Bucket="tags", Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"z")["ETag"]
s3.complete_multipart_upload(Bucket="tags", Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
check(tags_of("tags", "mp") == {"m": "1"}, "CreateMultipartUpload's x-amz-tagging reaches the object")
# aws-cli's s3api.
aws("s3api", "put-object-tagging", "--bucket", "tags", "--key", "mp", "--tagging", "TagSet=[{Key=cli,Value=yes}]")
got = aws("s3api", "get-object-tagging", "--bucket", "tags", "--key", "mp")
check(got["TagSet"] == [{"Key": "cli", "Value": "yes"}], "aws s3api put/get-object-tagging")
# The read fast path sends the count too (anonymous read of the public bucket).
s3.create_bucket(Bucket="public")
s3.put_object(Bucket="public", Key="t", Body=b"x", Tagging="a=1&b=2&c=3")
before = metric("bigstep_files_fast_reads_total")
check(raw("GET", "/public/t").get("x-amz-tagging-count") == "3", "fast-path GET sends x-amz-tagging-count")
check(raw("HEAD", "/public/t").get("x-amz-tagging-count") == "3", "fast-path HEAD sends x-amz-tagging-count")
check(metric("bigstep_files_fast_reads_total") == before + 2, "... and those two were the fast path's")

# ------------------------------------------------------------------ lifecycle
s3.create_bucket(Bucket="life")
check(error_code(lambda: s3.get_bucket_lifecycle_configuration(Bucket="life")) == "NoSuchLifecycleConfiguration", "no lifecycle yet: NoSuchLifecycleConfiguration")
midnight = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
rules = [
    {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
    {"ID": "tagged", "Status": "Enabled", "Filter": {"And": {"Prefix": "tag/", "Tags": [{"Key": "temp", "Value": "yes"}]}}, "Expiration": {"Days": 1}},
    {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "off/"}, "Expiration": {"Days": 1}},
    {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": "old/"}, "Expiration": {"Date": midnight}},
]
bad = [
    ({"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 0}}, "InvalidArgument", "Days: 0"),
    ({"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Date": midnight + datetime.timedelta(hours=1)}}, "InvalidArgument", "a Date not at midnight"),
    ({"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]}, "NotImplemented", "Transitions"),
]
for rule, code, what in bad:
    check(error_code(lambda: s3.put_bucket_lifecycle_configuration(Bucket="life", LifecycleConfiguration={"Rules": [rule]})) == code, f"{what}: {code}")
two_ids = [dict(rules[0]), dict(rules[1], ID="tmp")]
check(error_code(lambda: s3.put_bucket_lifecycle_configuration(Bucket="life", LifecycleConfiguration={"Rules": two_ids})) == "InvalidArgument", "two rules with one ID: InvalidArgument")
check(error_code(lambda: s3.get_bucket_lifecycle_configuration(Bucket="life")) == "NoSuchLifecycleConfiguration", "refused configurations set nothing")

# Objects first, then the rules: nothing may go before the rules exist.
for key in ("tmp/a", "tmp/deep/b", "keep/a", "off/z", "old/1", "old/2"):
    s3.put_object(Bucket="life", Key=key, Body=b"x")
s3.put_object(Bucket="life", Key="tag/x", Body=b"x", Tagging="temp=yes")
s3.put_object(Bucket="life", Key="tag/y", Body=b"x", Tagging="temp=no")
s3.put_object(Bucket="life", Key="tag/z", Body=b"x")
stale = s3.create_multipart_upload(Bucket="life", Key="tmp/upload")["UploadId"]
s3.put_bucket_lifecycle_configuration(Bucket="life", LifecycleConfiguration={"Rules": rules})
got = s3.get_bucket_lifecycle_configuration(Bucket="life")["Rules"]
check([r["ID"] for r in got] == ["tmp", "tagged", "off", "old"], "GetBucketLifecycleConfiguration returns the rules")
check(got[1]["Filter"]["And"]["Tags"] == [{"Key": "temp", "Value": "yes"}] and got[1]["Filter"]["And"]["Prefix"] == "tag/", "... with the And filter")
check(got[0]["Expiration"]["Days"] == 1 and got[2]["Status"] == "Disabled" and got[3]["Expiration"]["Date"] == midnight, "... with days, status and date")
cli = aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", "life")
check(len(cli["Rules"]) == 4, "aws s3api get-bucket-lifecycle-configuration")


def keys():
    return {o["Key"] for o in s3.list_objects_v2(Bucket="life").get("Contents", [])}


doomed = {"tmp/a", "tmp/deep/b", "tag/x", "old/1", "old/2"}
deadline = time.time() + 60
while keys() & doomed and time.time() < deadline:
    time.sleep(0.2)
check(not keys() & doomed, "expired: the tmp/ prefix, the tagged objects under tag/, the dated old/")
check(keys() == {"keep/a", "off/z", "tag/y", "tag/z"}, "kept: another prefix, a disabled rule, other tags, no tags")
check(metric("bigstep_files_expired_objects_total") == len(doomed), "expired objects are counted")
deadline = time.time() + 60
while s3.list_multipart_uploads(Bucket="life").get("Uploads") and time.time() < deadline:
    time.sleep(0.2)
check(not s3.list_multipart_uploads(Bucket="life").get("Uploads"), "a stale upload under tmp/ is aborted")
check(error_code(lambda: s3.upload_part(Bucket="life", Key="tmp/upload", UploadId=stale, PartNumber=1, Body=b"x")) == "NoSuchUpload", "... and takes no more parts")

# aws-cli sets a configuration from a file; delete removes it.
cfg = os.path.join(home, "life.json")
with open(cfg, "w") as f:
    json.dump({"Rules": [{"ID": "cli", "Status": "Enabled", "Filter": {"Prefix": "cli/"}, "Expiration": {"Days": 30}}]}, f)
aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", "life", "--lifecycle-configuration", f"file://{cfg}")
check(s3.get_bucket_lifecycle_configuration(Bucket="life")["Rules"][0]["ID"] == "cli", "aws s3api put-bucket-lifecycle-configuration replaces the rules")
s3.delete_bucket_lifecycle(Bucket="life")
check(error_code(lambda: s3.get_bucket_lifecycle_configuration(Bucket="life")) == "NoSuchLifecycleConfiguration", "DeleteBucketLifecycle removes them")
check(keys() == {"keep/a", "off/z", "tag/y", "tag/z"}, "the kept objects are still there")
