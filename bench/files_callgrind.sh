#!/usr/bin/env bash
# Instructions per GET, bigstep files vs nginx, under valgrind's callgrind: counts that
# do not depend on how loaded the machine is (wall-clock figures do), for before/after
# comparisons of the read path's CPU work.
#
#   BIGSTEP_BIN=path bench/files_callgrind.sh
#
# Environment:
#   BIGSTEP_BIN=path   the binary to measure (default: cargo build --release)
#   N=n                requests measured (default 2000)
#   CONNS=n            keep-alive connections h2load spreads them over (default 4)
#   BASE_PORT=n        first of the 2 ports used (default 18890)
#   OUT=dir            keep the callgrind files there (for callgrind_annotate)
#
# Each server (bigstep: the public-bucket read of a 64 KiB object, and the same read
# signed as boto3 signs it; nginx: the same file, 1 worker process, sendfile on) is
# started under callgrind, warmed up with 100 requests, its counters zeroed
# (callgrind_control -z), then serves N requests (h2load --h1) and its counters are
# dumped (-d): instructions per request = Ir / N, start-up and shutdown left out (the
# N requests' connection set-up is in). Prints one line per row.
#
# Signed rows: "signed" repeats one boto3-signed request (Authorization header), as
# "presigned" repeats one presigned URL: a server may remember a verified request
# (bigstep does), so these measure a repeat. "presigned-distinct" sends a different
# presigned URL of the same object every time (each with its own X-Amz-Expires, so its
# own signature; one connection, as h2load starts each connection at the list's top):
# the cost of checking a signature never seen. Under valgrind SHA-256 runs without
# the CPU's SHA extensions (valgrind does not offer them), so the signature rows count
# the slower fallback code; natively it is cheaper.
set -euo pipefail

N=${N:-2000}
CONNS=${CONNS:-4}
BASE_PORT=${BASE_PORT:-18890}
FILES_PORT=$BASE_PORT
NGINX_PORT=$((BASE_PORT + 1))
ACCESS=BENCHACCESSKEY000001
SECRET=bench-secret-key-0123456789abcdefghijklm

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_args "$@"
bench_require valgrind callgrind_control h2load nginx curl python3
# Processes under valgrind need longer to finish writing their profile.
KILL_GRACE=0.5
bench_workdir files-cg
bench_bigstep

files_cmd=("$BIGSTEP_BIN" files --port "$FILES_PORT" --dir "$W/data" --access-key "$ACCESS"
    --secret-key "$SECRET" --public-bucket bench)

# Objects and signed headers, from a server run without valgrind.
"${files_cmd[@]}" >"$W/setup.log" 2>&1 &
PID=$!; PIDS+=($PID)
for _ in $(seq 100); do grep -q "listening on" "$W/setup.log" && break; sleep 0.1; done
python3 "$here/files_setup.py" "http://127.0.0.1:$FILES_PORT" "$ACCESS" "$SECRET" "$W" 1
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
# The first signed row of the setup's wrk script: path, Authorization, X-Amz-Date, sha256.
mapfile -t SIGNED < <(python3 - "$W/get-signed-64k.lua" <<'PY'
import re, sys
row = re.search(r'\{"([^"]*)","([^"]*)","([^"]*)","([^"]*)"\}', open(sys.argv[1]).read())
print("\n".join(row.groups()))
PY
)
# Presigned URLs of the object: one to repeat; N + 100 distinct ones (warm-up, then
# measured), each valid for a different number of seconds.
python3 - "http://127.0.0.1:$FILES_PORT" "$ACCESS" "$SECRET" "$W" "$N" <<'PY'
import os, sys
import boto3
from botocore.config import Config
endpoint, access, secret, work, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                  region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
url = lambda expires: s3.generate_presigned_url(
    "get_object", Params={"Bucket": "bench", "Key": "obj-64k-0"}, ExpiresIn=expires)
open(f"{work}/presigned.url", "w").write(url(3600) + "\n")
urls = [url(1000 + i) for i in range(n + 100)]
open(f"{work}/presigned-distinct.warm", "w").write("\n".join(urls[:100]) + "\n")
open(f"{work}/presigned-distinct.list", "w").write("\n".join(urls[100:]) + "\n")
PY

cat >"$W/nginx.conf" <<NGINX
worker_processes 1;
master_process off;
daemon off;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$NGINX_PORT; root $W/www; }
}
NGINX

# measure NAME PORT URL_PATH [h2load args...] -> Ir per request. Counters are zeroed
# once the server answers (start-up left out), dumped after the N requests. A
# URL_PATH of @FILE takes the URLs from FILE.list (FILE.warm for the warm-up), one
# connection.
measure() {
    local name=$1 port=$2 path=$3
    shift 3
    local conns=$CONNS warm=("http://127.0.0.1:$port$path") run=("http://127.0.0.1:$port$path")
    if [ "${path#@}" != "$path" ]; then
        conns=1 warm=(-i "${path#@}.warm") run=(-i "${path#@}.list")
    fi
    local out="$W/cg.$name"
    if [ "$name" = nginx ]; then
        valgrind --tool=callgrind --callgrind-out-file="$out" nginx -c "$W/nginx.conf" \
            >"$W/server.log" 2>&1 &
    else
        valgrind --tool=callgrind --callgrind-out-file="$out" "${files_cmd[@]}" \
            >"$W/server.log" 2>&1 &
    fi
    PID=$!; PIDS+=($PID)
    for _ in $(seq 300); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
    done
    # A warm-up (page cache, first connection's buffers), then zero.
    h2load --h1 -n 100 -c "$conns" "$@" "${warm[@]}" >"$W/h2load.log"
    callgrind_control -z "$PID" >/dev/null 2>&1
    h2load --h1 -n "$N" -c "$conns" "$@" "${run[@]}" >"$W/h2load.log"
    grep -q "$N succeeded" "$W/h2load.log" || { cat "$W/h2load.log" >&2; exit 1; }
    callgrind_control -d "$PID" >/dev/null 2>&1
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
    # The dump after zeroing is the file with the highest number.
    local dump
    dump=$(ls -v "$out".* 2>/dev/null | grep -v '\.[0-9]*-' | head -1)
    [ -n "${OUT:-}" ] && mkdir -p "$OUT" && cp "$dump" "$OUT/cg.$name"
    local ir
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    echo "$name: $((ir / N)) instructions per GET (Ir $ir over $N requests)"
}

echo "# files callgrind, $(date -u +%FT%TZ), $BIGSTEP_BIN, 64 KiB object, h2load --h1 -c$CONNS, N=$N"
measure nginx "$NGINX_PORT" /obj-64k-0
measure "bigstep-anonymous" "$FILES_PORT" /bench/obj-64k-0
measure "bigstep-signed" "$FILES_PORT" "${SIGNED[0]}" -H "Authorization: ${SIGNED[1]}" \
    -H "X-Amz-Date: ${SIGNED[2]}" -H "X-Amz-Content-SHA256: ${SIGNED[3]}"
presigned=$(cat "$W/presigned.url")
measure "bigstep-presigned" "$FILES_PORT" "${presigned#http://127.0.0.1:$FILES_PORT}"
measure "bigstep-presigned-distinct" "$FILES_PORT" "@$W/presigned-distinct"
