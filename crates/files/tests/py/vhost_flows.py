"""Virtual-host-style addressing. Usage: vhost_flows.py PORT

The server runs with `--domain localhost`, so BUCKET.localhost:PORT addresses BUCKET.
RFC 6761 reserves *.localhost for loopback; systemd-resolved, curl and browsers
resolve it so, but plain glibc (Debian's, without nss-myhostname) does not. Where
it does not, this process resolves *.localhost to 127.0.0.1 itself, as those
resolvers would: the bytes on the wire (Host header, signature) are what any
client sends to a virtual host."""
import http.client
import socket
import sys
import urllib.request

from botocore.config import Config

from common import ACCESS, SECRET, check, client, error_code, setup_env

port = int(sys.argv[1])
setup_env()

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and host.lower().endswith(".localhost"):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


try:
    _real_getaddrinfo("probe.localhost", port)
    print("the system resolves *.localhost")
except socket.gaierror:
    print("the system does not resolve *.localhost: resolving it to 127.0.0.1 here")
    socket.getaddrinfo = _getaddrinfo

import boto3  # noqa: E402

sent_urls = []


def virtual_client():
    c = boto3.client(
        "s3",
        endpoint_url=f"http://localhost:{port}",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "virtual"}, signature_version="s3v4", retries={"max_attempts": 1}),
    )
    c.meta.events.register("before-send.s3", lambda request, **_: sent_urls.append(request.url))
    return c


v = virtual_client()
v.create_bucket(Bucket="vhost")
check(sent_urls[-1].startswith(f"http://vhost.localhost:{port}/"), f"boto3 sends virtual-host requests ({sent_urls[-1]})")
v.put_object(Bucket="vhost", Key="dir/a.txt", Body=b"hello", ContentType="text/plain")
g = v.get_object(Bucket="vhost", Key="dir/a.txt")
check(g["Body"].read() == b"hello" and g["ContentType"] == "text/plain", "PUT/GET through BUCKET.localhost")
check(sent_urls[-1] == f"http://vhost.localhost:{port}/dir/a.txt", "the key is the whole path")
listed = v.list_objects_v2(Bucket="vhost", Prefix="dir/")
check([o["Key"] for o in listed.get("Contents", [])] == ["dir/a.txt"], "ListObjectsV2 through the virtual host")
check(v.head_bucket(Bucket="vhost")["ResponseMetadata"]["HTTPStatusCode"] == 200, "HeadBucket through the virtual host")

# Multipart through the virtual host.
uid = v.create_multipart_upload(Bucket="vhost", Key="big")["UploadId"]
r = v.upload_part(Bucket="vhost", Key="big", UploadId=uid, PartNumber=1, Body=b"z" * 1000)
v.complete_multipart_upload(Bucket="vhost", Key="big", UploadId=uid,
                            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
check(v.get_object(Bucket="vhost", Key="big")["Body"].read() == b"z" * 1000, "multipart upload through the virtual host")

# A presigned virtual-host URL, fetched by a plain HTTP client.
url = v.generate_presigned_url("get_object", Params={"Bucket": "vhost", "Key": "dir/a.txt"}, ExpiresIn=300)
check(url.startswith(f"http://vhost.localhost:{port}/"), "presigned URL is virtual-host style")
with urllib.request.urlopen(url, timeout=30) as resp:
    check(resp.read() == b"hello", "presigned virtual-host GET")

# Path-style keeps working on the same server, by name and by IP address.
for endpoint in (f"http://localhost:{port}", f"http://127.0.0.1:{port}"):
    p = client(endpoint)
    check(p.get_object(Bucket="vhost", Key="dir/a.txt")["Body"].read() == b"hello", f"path-style via {endpoint}")
check(error_code(lambda: v.get_object(Bucket="nobucket", Key="x")) == "NoSuchBucket", "an unknown bucket host is NoSuchBucket")
check(error_code(lambda: v.get_object(Bucket="vhost", Key="missing")) == "NoSuchKey", "a missing key is NoSuchKey")

# Any client that sets the Host header reaches the bucket, without DNS: an
# anonymous read of a public bucket over a raw connection to 127.0.0.1.
p = client(f"http://127.0.0.1:{port}")
p.create_bucket(Bucket="public")
p.put_object(Bucket="public", Key="img/cat.png", Body=b"\x89PNG", ContentType="image/png")
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
conn.request("GET", "/img/cat.png", headers={"Host": f"public.localhost:{port}"})
resp = conn.getresponse()
check(resp.status == 200 and resp.read() == b"\x89PNG", "raw GET with Host: public.localhost")
conn.request("GET", "/img/cat.png", headers={"Host": f"vhost.localhost:{port}"})
resp = conn.getresponse()
resp.read()
check(resp.status == 403, f"anonymous GET of a private bucket by virtual host refused ({resp.status})")
# CORS rules are found by the bucket in the Host, for preflights and actual requests.
v.put_bucket_cors(Bucket="vhost", CORSConfiguration={"CORSRules": [
    {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]}]})
conn.request("OPTIONS", "/dir/a.txt", headers={"Host": f"vhost.localhost:{port}", "Origin": "https://app.example",
                                               "Access-Control-Request-Method": "GET"})
resp = conn.getresponse()
resp.read()
check(resp.status == 200 and resp.getheader("Access-Control-Allow-Origin") == "https://app.example",
      f"CORS preflight by virtual host ({resp.status})")
print("vhost flows passed")
