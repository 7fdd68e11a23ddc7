"""aws-cli against bigstep files: cp small and 50 MiB both ways, ls, sync, rm,
s3api conditional requests, flexible checksums. Usage: awscli_flows.py ENDPOINT"""
import base64
import filecmp
import hashlib
import json
import os
import subprocess
import sys

from common import check, setup_env

endpoint = sys.argv[1]
home = setup_env()


def aws(*args, ok=True):
    p = subprocess.run(
        ["aws", "--endpoint-url", endpoint, *args], capture_output=True, text=True, timeout=180
    )
    if ok and p.returncode != 0:
        print(p.stdout, p.stderr, file=sys.stderr)
        raise SystemExit(f"aws {' '.join(args)} failed with {p.returncode}")
    return p


work = os.path.join(home, "work")
os.makedirs(work)
small = os.path.join(work, "small.txt")
with open(small, "wb") as f:
    f.write(b"hello, bigstep files\n" * 10)
big = os.path.join(work, "big.bin")
with open(big, "wb") as f:
    for _ in range(50):
        f.write(os.urandom(1024 * 1024))

aws("s3", "mb", "s3://cli")
check("cli" in aws("s3", "ls").stdout, "s3 mb, then s3 ls lists the bucket")

aws("s3", "cp", small, "s3://cli/docs/small.txt")
aws("s3", "cp", "s3://cli/docs/small.txt", os.path.join(work, "small.back"))
check(filecmp.cmp(small, os.path.join(work, "small.back"), shallow=False), "small cp round trip is byte-exact")

aws("s3", "cp", big, "s3://cli/blobs/big.bin")
aws("s3", "cp", "s3://cli/blobs/big.bin", os.path.join(work, "big.back"))
check(filecmp.cmp(big, os.path.join(work, "big.back"), shallow=False), "50 MiB multipart cp round trip is byte-exact")
head = json.loads(aws("s3api", "head-object", "--bucket", "cli", "--key", "blobs/big.bin").stdout)
check(head["ContentLength"] == 50 * 1024 * 1024, "50 MiB object has the right length")
check(head["ETag"].strip('"').endswith("-7"), f"multipart ETag is md5-of-md5s-N ({head['ETag']})")

top = aws("s3", "ls", "s3://cli/").stdout
check("PRE docs/" in top and "PRE blobs/" in top, "s3 ls shows prefixes")
docs = aws("s3", "ls", "s3://cli/docs/").stdout
check("small.txt" in docs and "big.bin" not in docs, "s3 ls with a prefix lists only that prefix")
rec = aws("s3", "ls", "--recursive", "s3://cli/").stdout
check("docs/small.txt" in rec and "blobs/big.bin" in rec, "s3 ls --recursive lists all keys")

tree = os.path.join(work, "tree")
for i in range(5):
    d = os.path.join(tree, f"d{i % 2}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.txt"), "w") as f:
        f.write(f"file {i}\n" * (i + 1))
aws("s3", "sync", tree, "s3://cli/tree/")
out = aws("s3", "sync", tree, "s3://cli/tree/").stdout
check(out.strip() == "", "a second s3 sync uploads nothing")
back = os.path.join(work, "tree.back")
aws("s3", "sync", "s3://cli/tree/", back)
same = all(
    filecmp.cmp(os.path.join(tree, d, f), os.path.join(back, d, f), shallow=False)
    for d in os.listdir(tree)
    for f in os.listdir(os.path.join(tree, d))
)
check(same, "s3 sync down gives the same tree")

etag = head["ETag"]
p = aws("s3api", "get-object", "--bucket", "cli", "--key", "docs/small.txt", "--if-none-match",
        json.loads(aws("s3api", "head-object", "--bucket", "cli", "--key", "docs/small.txt").stdout)["ETag"],
        os.path.join(work, "x"), ok=False)
check(p.returncode != 0 and "304" in p.stderr, "get-object --if-none-match current ETag gives 304")
p = aws("s3api", "get-object", "--bucket", "cli", "--key", "docs/small.txt", "--if-match", '"0000"',
        os.path.join(work, "x"), ok=False)
check(p.returncode != 0 and "PreconditionFailed" in p.stderr, "get-object --if-match wrong ETag gives 412")
p = aws("s3api", "get-object", "--bucket", "cli", "--key", "blobs/big.bin", "--if-match", etag,
        "--range", "bytes=10-19", os.path.join(work, "range"))
with open(big, "rb") as f:
    f.seek(10)
    want = f.read(10)
with open(os.path.join(work, "range"), "rb") as f:
    check(f.read() == want, "get-object --if-match current ETag with a range gives those bytes")
p = aws("s3api", "get-object", "--bucket", "cli", "--key", "docs/small.txt", "--if-modified-since",
        "2100-01-01T00:00:00Z", os.path.join(work, "x"), ok=False)
check(p.returncode != 0 and "304" in p.stderr, "get-object --if-modified-since future gives 304")
p = aws("s3api", "get-object", "--bucket", "cli", "--key", "docs/small.txt", "--if-unmodified-since",
        "2000-01-01T00:00:00Z", os.path.join(work, "x"), ok=False)
check(p.returncode != 0 and "PreconditionFailed" in p.stderr, "get-object --if-unmodified-since past gives 412")
p = aws("s3api", "get-object", "--bucket", "cli", "--key", "docs/missing", os.path.join(work, "x"), ok=False)
check("NoSuchKey" in p.stderr, "missing key gives NoSuchKey")

# Flexible checksums: s3 cp (multipart for the 50 MiB file) and s3api with --checksum-mode.
aws("s3", "cp", "--checksum-algorithm", "SHA256", small, "s3://cli/sums/small.txt")
h = json.loads(aws("s3api", "head-object", "--bucket", "cli", "--key", "sums/small.txt", "--checksum-mode", "ENABLED").stdout)
want = base64.b64encode(hashlib.sha256(open(small, "rb").read()).digest()).decode()
check(h.get("ChecksumSHA256") == want, f"s3 cp --checksum-algorithm SHA256 is verified and kept ({h.get('ChecksumSHA256')})")
aws("s3", "cp", "--checksum-algorithm", "CRC32C", big, "s3://cli/sums/big.bin")
h = json.loads(aws("s3api", "head-object", "--bucket", "cli", "--key", "sums/big.bin", "--checksum-mode", "ENABLED").stdout)
check(h.get("ChecksumCRC32C", "").endswith("-7") or h.get("ChecksumType") == "FULL_OBJECT",
      f"multipart s3 cp --checksum-algorithm CRC32C gets an object checksum ({h.get('ChecksumCRC32C')} {h.get('ChecksumType')})")
aws("s3", "cp", "s3://cli/sums/big.bin", os.path.join(work, "big.sums"))
check(filecmp.cmp(big, os.path.join(work, "big.sums"), shallow=False), "and it downloads byte-exact")
p = aws("s3api", "put-object", "--bucket", "cli", "--key", "sums/bad", "--body", small,
        "--checksum-crc64-nvme", "AAAAAAAAAAA=", ok=False)
check(p.returncode != 0 and "BadDigest" in p.stderr, "s3api put-object with a wrong CRC64NVME gives BadDigest")
p = aws("s3api", "head-object", "--bucket", "cli", "--key", "sums/bad", ok=False)
check(p.returncode != 0, "and stores nothing")

p = aws("s3", "rb", "s3://cli", ok=False)
check(p.returncode != 0 and "BucketNotEmpty" in p.stderr, "rb of a non-empty bucket gives BucketNotEmpty")
aws("s3", "rm", "--recursive", "s3://cli/")
check(aws("s3", "ls", "--recursive", "s3://cli/").stdout.strip() == "", "s3 rm --recursive empties the bucket")
aws("s3", "rb", "s3://cli")
check("cli" not in aws("s3", "ls").stdout.split(), "s3 rb removes the empty bucket")
print("awscli flows passed")
