"""rclone and s3cmd against bigstep files: copy and check, put/ls/get/del.
Usage: rclone_s3cmd.py ENDPOINT"""
import filecmp
import os
import subprocess
import sys

from common import ACCESS, SECRET, check, rclone_env, setup_env

endpoint = sys.argv[1]
home = setup_env()


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print(p.stdout, p.stderr, file=sys.stderr)
        raise SystemExit(f"{' '.join(args)} failed with {p.returncode}")
    return p.stdout


src = os.path.join(home, "tree")
for i in range(6):
    d = os.path.join(src, f"sub{i % 2}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file{i}.bin"), "wb") as f:
        f.write(os.urandom(1000 * (i + 1)))

# rclone, configured entirely from the environment.
rclone_env(home, endpoint)
run("rclone", "mkdir", "bs:rcl")
run("rclone", "copy", src, "bs:rcl/tree")
run("rclone", "check", src, "bs:rcl/tree")
check(True, "rclone copy then rclone check (sizes and MD5 ETags) agree")
back = os.path.join(home, "rclone-back")
run("rclone", "copy", "bs:rcl/tree", back)
same = all(filecmp.cmp(os.path.join(src, d, f), os.path.join(back, d, f), shallow=False)
           for d in os.listdir(src) for f in os.listdir(os.path.join(src, d)))
check(same, "rclone copy back is byte-exact")
listed = run("rclone", "lsf", "-R", "bs:rcl/tree").split()
check(sorted(listed) == sorted(["sub0/", "sub1/"] + [f"sub{i % 2}/file{i}.bin" for i in range(6)]), "rclone lsf -R")

# s3cmd, with a config file naming our endpoint for both path and "bucket host".
host = endpoint.split("://", 1)[1]


def s3cmd_with(name, extra=""):
    """s3cmd's command line with its own config file, `extra` lines added."""
    cfg = os.path.join(home, name)
    with open(cfg, "w") as f:
        f.write(f"[default]\naccess_key = {ACCESS}\nsecret_key = {SECRET}\nhost_base = {host}\n"
                f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n{extra}")
    return ["s3cmd", "-c", cfg]


s3cmd = s3cmd_with("s3cfg", "bucket_location = us-east-1\n")
run(*s3cmd, "mb", "s3://s3c")
one = os.path.join(src, "sub1", "file5.bin")
run(*s3cmd, "put", one, "s3://s3c/dir/file5.bin")
out = run(*s3cmd, "ls", "s3://s3c/dir/")
check("s3://s3c/dir/file5.bin" in out, "s3cmd put then ls")
got = os.path.join(home, "s3cmd-got")
run(*s3cmd, "get", "s3://s3c/dir/file5.bin", got)
check(filecmp.cmp(one, got, shallow=False), "s3cmd get is byte-exact")
run(*s3cmd, "del", "s3://s3c/dir/file5.bin")
run(*s3cmd, "rb", "s3://s3c")
check("s3://s3c" not in run(*s3cmd, "ls"), "s3cmd del and rb")
# s3cmd on its default region ("US", which S3 itself refuses in a signature):
# told the region it expects (AuthorizationHeaderMalformed), s3cmd signs again.
s3cmd_us = s3cmd_with("s3cfg-us")
run(*s3cmd_us, "mb", "s3://s3us")
run(*s3cmd_us, "put", one, "s3://s3us/one.bin")
check("s3://s3us/one.bin" in run(*s3cmd_us, "ls", "s3://s3us/"), "s3cmd on its default region: mb, put, ls")
got_us = os.path.join(home, "s3cmd-us-got")
run(*s3cmd_us, "get", "s3://s3us/one.bin", got_us)
check(filecmp.cmp(one, got_us, shallow=False), "s3cmd on its default region: get is byte-exact")
run(*s3cmd_us, "del", "s3://s3us/one.bin")
run(*s3cmd_us, "rb", "s3://s3us")
print("rclone and s3cmd passed")
