"""Helper for bench/files.sh: creates the bench bucket, uploads the objects, and
writes wrk Lua scripts (GET paths; GETs signed as boto3 signs them, in an
Authorization header valid for 15 minutes; presigned GET and PUT URLs; WebDAV
PUT paths for nginx).
Usage: files_setup.py ENDPOINT ACCESS SECRET WORKDIR COUNT"""
import os
import sys

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

endpoint, access, secret, work, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
s3 = boto3.client(
    "s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
    region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
)
s3.create_bucket(Bucket="bench")
docroot = os.path.join(work, "www")
os.makedirs(docroot, exist_ok=True)
for name, size in (("64k", 64 * 1024), ("1m", 1024 * 1024)):
    gets, puts, signed, presigned = [], [], [], []
    for i in range(count):
        key = f"obj-{name}-{i}"
        body = os.urandom(size)
        s3.put_object(Bucket="bench", Key=key, Body=body)
        with open(os.path.join(docroot, key), "wb") as f:
            f.write(body)
        os.chmod(os.path.join(docroot, key), 0o644)
        gets.append(key)
        # The headers boto3's get_object sends (less its retry bookkeeping).
        req = AWSRequest(method="GET", url=f"{endpoint}/bench/{key}")
        S3SigV4Auth(Credentials(access, secret), "s3", "us-east-1").add_auth(req)
        signed.append((f"/bench/{key}", req.headers["Authorization"], req.headers["X-Amz-Date"],
                       req.headers["X-Amz-Content-SHA256"]))
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": key}, ExpiresIn=3600)
        presigned.append(url.split(endpoint, 1)[1])
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "bench", "Key": f"put-{name}-{i}"}, ExpiresIn=3600)
        puts.append(url.split(endpoint, 1)[1])
    lua_list = lambda xs: "{" + ",".join(f'"{x}"' for x in xs) + "}"
    with open(os.path.join(work, f"get-bigstep-{name}.lua"), "w") as f:
        f.write(f"local p = {lua_list(['/bench/' + k for k in gets])}\nlocal i = 0\n"
                "request = function() i = i + 1; return wrk.format('GET', p[i % #p + 1]) end\n")
    with open(os.path.join(work, f"get-nginx-{name}.lua"), "w") as f:
        f.write(f"local p = {lua_list(['/' + k for k in gets])}\nlocal i = 0\n"
                "request = function() i = i + 1; return wrk.format('GET', p[i % #p + 1]) end\n")
    with open(os.path.join(work, f"get-signed-{name}.lua"), "w") as f:
        rows = ",".join(f'{{"{p}","{a}","{d}","{h}"}}' for p, a, d, h in signed)
        f.write(f"local p = {{{rows}}}\nlocal i = 0\n"
                "request = function() i = i + 1; local r = p[i % #p + 1]\n"
                "  return wrk.format('GET', r[1], {['Authorization'] = r[2], ['X-Amz-Date'] = r[3],"
                " ['X-Amz-Content-SHA256'] = r[4]}) end\n")
    with open(os.path.join(work, f"get-presigned-{name}.lua"), "w") as f:
        f.write(f"local p = {lua_list(presigned)}\nlocal i = 0\n"
                "request = function() i = i + 1; return wrk.format('GET', p[i % #p + 1]) end\n")
    with open(os.path.join(work, f"put-nginx-{name}.lua"), "w") as f:
        f.write(f"local i = 0\nlocal body = string.rep('x', {size})\n"
                f"request = function() i = i + 1; return wrk.format('PUT', '/dav/put-{name}-' .. (i % {count}), nil, body) end\n")
    with open(os.path.join(work, f"put-bigstep-{name}.lua"), "w") as f:
        f.write(f"local p = {lua_list(puts)}\nlocal i = 0\nlocal body = string.rep('x', {size})\n"
                "request = function() i = i + 1; return wrk.format('PUT', p[i % #p + 1], nil, body) end\n")
big = s3.generate_presigned_url("put_object", Params={"Bucket": "bench", "Key": "gib"}, ExpiresIn=3600)
get_big = s3.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "gib"}, ExpiresIn=3600)
with open(os.path.join(work, "gib-put.url"), "w") as f:
    f.write(big)
with open(os.path.join(work, "gib-get.url"), "w") as f:
    f.write(get_big)
os.chmod(docroot, 0o755)
os.chmod(work, 0o755)
