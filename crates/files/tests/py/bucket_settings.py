"""What tools read to describe a bucket, through boto3, aws-cli and s3cmd.
ACLs: the owner's full control is the one ACL kept; asking for it is accepted,
asking for anything else is refused (not ignored). Settings we do not have
(policy, website, encryption, ...) answer as S3 does for a bucket without them.
Usage: bucket_settings.py ENDPOINT"""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

from common import ACCESS, SECRET, check, client, error_code, setup_env

endpoint = sys.argv[1]
home = setup_env()
s3 = client(endpoint)

s3.create_bucket(Bucket="acl")
s3.put_object(Bucket="acl", Key="k", Body=b"x")

OWNER_FULL = [{"Grantee": {"DisplayName": "bigstep", "ID": "bigstep", "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]
for what, acl in [("bucket", s3.get_bucket_acl(Bucket="acl")), ("object", s3.get_object_acl(Bucket="acl", Key="k"))]:
    check(acl["Owner"]["ID"] == "bigstep" and acl["Grants"] == OWNER_FULL, f"Get{what.title()}Acl: the owner has full control ({acl['Grants']})")

s3.put_bucket_acl(Bucket="acl", ACL="private")
s3.put_object_acl(Bucket="acl", Key="k", ACL="private")
s3.put_object_acl(Bucket="acl", Key="k", AccessControlPolicy={"Owner": {"ID": "bigstep"}, "Grants": OWNER_FULL})
check(True, "private, and the owner's full control spelled out, are accepted")
for what, fn in [
    ("PutBucketAcl public-read", lambda: s3.put_bucket_acl(Bucket="acl", ACL="public-read")),
    ("PutObjectAcl public-read", lambda: s3.put_object_acl(Bucket="acl", Key="k", ACL="public-read")),
    ("PutObjectAcl with a grant header", lambda: s3.put_object_acl(Bucket="acl", Key="k", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')),
]:
    check(error_code(lambda: fn()) == "NotImplemented", f"{what}: NotImplemented, not ignored")
check(error_code(lambda: s3.get_object_acl(Bucket="acl", Key="nope")) == "NoSuchKey", "GetObjectAcl of a missing key: NoSuchKey")
check(error_code(lambda: s3.get_bucket_acl(Bucket="nosuchbucket")) == "NoSuchBucket", "GetBucketAcl of a missing bucket: NoSuchBucket")
check(error_code(lambda: s3.get_object_acl(Bucket="acl", Key="k", VersionId="null")) is None, "GetObjectAcl of version null")

# An x-amz-acl header on PutObject is ignored (as MinIO does: apps send it
# routinely), and it makes nothing public.
s3.put_object(Bucket="acl", Key="p", Body=b"x", ACL="public-read")
try:
    urllib.request.urlopen(f"{endpoint}/acl/p", timeout=30)
    status = 200
except urllib.error.HTTPError as e:
    status = e.code
check(status == 403, f"PutObject with ACL public-read is stored, and not readable anonymously ({status})")

out = subprocess.run(["aws", "--endpoint-url", endpoint, "s3api", "get-object-acl", "--bucket", "acl", "--key", "k"],
                     capture_output=True, text=True, timeout=60)
check(out.returncode == 0 and json.loads(out.stdout)["Grants"][0]["Permission"] == "FULL_CONTROL", f"aws-cli get-object-acl ({out.stderr})")
out = subprocess.run(["aws", "--endpoint-url", endpoint, "s3", "cp", "s3://acl/k", "s3://acl/k2"], capture_output=True, text=True, timeout=60)
check(out.returncode == 0, f"aws s3 cp between keys ({out.stderr})")

# s3cmd info reads the bucket's and the object's ACL.
host = endpoint.split("://", 1)[1]
cfg = os.path.join(home, "s3cfg-acl")
with open(cfg, "w") as f:
    f.write(f"[default]\naccess_key = {ACCESS}\nsecret_key = {SECRET}\nhost_base = {host}\nhost_bucket = {host}\n"
            "use_https = False\nbucket_location = us-east-1\n")
out = subprocess.run(["s3cmd", "-c", cfg, "info", "s3://acl/k"], capture_output=True, text=True, timeout=60)
check(out.returncode == 0 and "FULL_CONTROL" in out.stdout, f"s3cmd info shows the ACL ({out.stdout} {out.stderr})")
out = subprocess.run(["s3cmd", "-c", cfg, "setacl", "--acl-public", "s3://acl/k"], capture_output=True, text=True, timeout=60)
check(out.returncode != 0 and "public_buckets" in (out.stdout + out.stderr), f"s3cmd setacl --acl-public is refused with the reason ({out.stderr.strip()[-200:]})")
# Every read Terraform's aws_s3_bucket makes on a plan, on a bucket with none of them set.
for what, fn, want in [
    ("GetBucketPolicy", lambda: s3.get_bucket_policy(Bucket="acl"), "NoSuchBucketPolicy"),
    ("GetBucketWebsite", lambda: s3.get_bucket_website(Bucket="acl"), "NoSuchWebsiteConfiguration"),
    ("GetBucketEncryption", lambda: s3.get_bucket_encryption(Bucket="acl"), "ServerSideEncryptionConfigurationNotFoundError"),
    ("GetBucketReplication", lambda: s3.get_bucket_replication(Bucket="acl"), "ReplicationConfigurationNotFoundError"),
    ("GetObjectLockConfiguration", lambda: s3.get_object_lock_configuration(Bucket="acl"), "ObjectLockConfigurationNotFoundError"),
    ("GetBucketOwnershipControls", lambda: s3.get_bucket_ownership_controls(Bucket="acl"), "OwnershipControlsNotFoundError"),
    ("GetBucketPolicy of a missing bucket", lambda: s3.get_bucket_policy(Bucket="nosuchbucket"), "NoSuchBucket"),
    ("GetBucketLogging of a missing bucket", lambda: s3.get_bucket_logging(Bucket="nosuchbucket"), "NoSuchBucket"),
]:
    got = error_code(fn)
    check(got == want, f"{what}: {want} ({got})")
check("LoggingEnabled" not in s3.get_bucket_logging(Bucket="acl"), "GetBucketLogging: logging off")
check(s3.get_bucket_request_payment(Bucket="acl")["Payer"] == "BucketOwner", "GetBucketRequestPayment: the owner pays")
check("Status" not in s3.get_bucket_accelerate_configuration(Bucket="acl"), "GetBucketAccelerateConfiguration: never enabled")
check(error_code(lambda: s3.put_bucket_policy(Bucket="acl", Policy="{}")) == "NotImplemented", "setting a policy stays NotImplemented")
out = subprocess.run(["aws", "--endpoint-url", endpoint, "s3api", "get-bucket-encryption", "--bucket", "acl"],
                     capture_output=True, text=True, timeout=60)
check(out.returncode != 0 and "ServerSideEncryptionConfigurationNotFoundError" in out.stderr, f"aws-cli get-bucket-encryption ({out.stderr.strip()})")
print("bucket settings passed")
