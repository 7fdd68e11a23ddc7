"""Helper for bench/files.sh: creates the bench bucket, uploads the objects, and
writes wrk Lua scripts (GET paths, presigned PUT URLs).
Usage: files_setup.py ENDPOINT ACCESS SECRET WORKDIR COUNT"""
import os
import sys

import boto3
from botocore.config import Config

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
    gets, puts = [], []
    for i in range(count):
        key = f"obj-{name}-{i}"
        body = os.urandom(size)
        s3.put_object(Bucket="bench", Key=key, Body=body)
        with open(os.path.join(docroot, key), "wb") as f:
            f.write(body)
        os.chmod(os.path.join(docroot, key), 0o644)
        gets.append(key)
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "bench", "Key": f"put-{name}-{i}"}, ExpiresIn=3600)
        puts.append(url.split(endpoint, 1)[1])
    lua_list = lambda xs: "{" + ",".join(f'"{x}"' for x in xs) + "}"
    with open(os.path.join(work, f"get-bigstep-{name}.lua"), "w") as f:
        f.write(f"local p = {lua_list(['/bench/' + k for k in gets])}\nlocal i = 0\n"
                "request = function() i = i + 1; return wrk.format('GET', p[i % #p + 1]) end\n")
    with open(os.path.join(work, f"get-nginx-{name}.lua"), "w") as f:
        f.write(f"local p = {lua_list(['/' + k for k in gets])}\nlocal i = 0\n"
                "request = function() i = i + 1; return wrk.format('GET', p[i % #p + 1]) end\n")
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
