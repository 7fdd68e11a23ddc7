#!/usr/bin/env bash
# Files benchmark: bigstep files vs nginx serving the same files from disk, on loopback.
#
#   bench/files.sh            # full run: 3 interleaved rounds of 10 s
#   bench/files.sh --quick    # smoke check: 1 round of 3 s
#
# Environment:
#   BIGSTEP_BIN=path   use this binary instead of building (default: cargo build --release)
#   ROUNDS=N DURATION=Ns CONNS=N   load shape (default 3, 10s, 16)
#   THREADS=N          server threads: bigstep files --threads N, nginx worker_processes N
#                      (default 1: the same share of the 2 cores for each, wrk on the other)
#   WRK_THREADS=N      wrk threads (default 1)
#   BASE_PORT=N        first of the 2 ports used (default 18790)
#   KEEP=1             keep the temp dir after exit
#   GET_ONLY=1         GETs only: no PUT rounds, no 1 GiB stream (before/after comparisons of reads)
#   NO_STREAM=1        no 1 GiB stream (it needs 2 GiB of disk)
#   NGINX_CACHE=1      nginx keeps open file descriptors (open_file_cache), as bigstep
#                      keeps its hot data files open; default: nginx's defaults
#
# What it measures:
#   GET 64KiB / 1MiB   wrk -t1 -cCONNS over 64 distinct objects: bigstep anonymous (a public
#                      bucket), signed (the Authorization/X-Amz-Date/X-Amz-Content-SHA256
#                      headers boto3 sends, signed at setup: valid 15 minutes, so keep the
#                      run shorter) and presigned (SigV4 query) vs nginx (1 worker, sendfile
#                      on) serving the same files: req/s, MB/s, and requests per server
#                      CPU-second (utime+stime from /proc/PID/stat)
#   PUT 64KiB / 1MiB   wrk PUTs to presigned SigV4 URLs (each PUT is a whole atomic write:
#                      temp file, MD5, fsync, rename, index commit) vs nginx WebDAV PUT
#                      (dav_methods PUT: temp file, rename; no fsync) on the same disk
#   stream 1 GiB       peak RSS growth (VmHWM after clear_refs) while curl uploads then
#                      downloads a 1 GiB object
# The machine's 2 cores are shared by wrk, the server and the other engineers' jobs:
# compare per-CPU-second figures and medians of interleaved rounds, not absolute req/s.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
bench_args "$@"
if [ "$QUICK" = 1 ]; then ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-3s}; fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-1}
WRK_THREADS=${WRK_THREADS:-1}
BASE_PORT=${BASE_PORT:-18790}
FILES_PORT=$BASE_PORT
NGINX_PORT=$((BASE_PORT + 1))
ACCESS=BENCHACCESSKEY000001
SECRET=bench-secret-key-0123456789abcdefghijklm

here=$(cd "$(dirname "$0")" && pwd)
bench_require wrk nginx curl python3
python3 -c 'import boto3' 2>/dev/null || { echo "missing boto3 (pip install boto3)" >&2; exit 1; }
bench_workdir files
bench_bigstep

"$BIGSTEP_BIN" files --threads "$THREADS" --port "$FILES_PORT" --dir "$W/data" --access-key "$ACCESS" --secret-key "$SECRET" \
    --public-bucket bench >"$W/files.log" 2>&1 &
FILES_PID=$!
PIDS+=("$FILES_PID")
for _ in $(seq 100); do grep -q "listening on" "$W/files.log" && break; sleep 0.1; done
grep -q "listening on" "$W/files.log" || { cat "$W/files.log"; exit 1; }

python3 "$here/files_setup.py" "http://127.0.0.1:$FILES_PORT" "$ACCESS" "$SECRET" "$W" 64

cat >"$W/nginx.conf" <<NGINX
worker_processes $THREADS;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    $([ "${NGINX_CACHE:-0}" = 1 ] && echo "open_file_cache max=1000 inactive=60s;")
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $W/www;
        client_max_body_size 2m;
        client_body_temp_path $W/www/dav-tmp;
        location /dav/ {
            dav_methods PUT;
            create_full_put_path on;
        }
    }
}
NGINX
mkdir -p "$W/www/dav" "$W/www/dav-tmp"
chmod 777 "$W/www/dav" "$W/www/dav-tmp"
nginx -c "$W/nginx.conf"
sleep 0.5
PIDS+=("$(cat "$W/nginx.pid")")
# CPU is counted over every worker (and over every thread of bigstep's one process).
mapfile -t NGINX_WORKERS < <(pgrep -P "$(cat "$W/nginx.pid")")

# run NAME PORT SCRIPT [BODY_BYTES] -> prints "req/s MB/s req-per-cpu-s"
# (MB/s is response bytes, or request bodies when BODY_BYTES is given, for PUTs)
run() {
    local port=$2 script=$3 body=${4:-0} pids
    if [ "$1" = nginx ]; then pids=("${NGINX_WORKERS[@]}"); else pids=("$FILES_PID"); fi
    local c0 c1 out
    c0=$(cpu_ticks "${pids[@]}")
    out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" -s "$script" "http://127.0.0.1:$port" 2>&1)
    c1=$(cpu_ticks "${pids[@]}")
    echo "$out" >>"$W/wrk.log"
    python3 - "$c0" "$c1" "$CLK_TCK" "$body" "$out" <<'PY'
import re, sys
c0, c1, hz, body = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out = sys.argv[5]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
mult = {"B": 1 / 1e6, "KB": 1024 / 1e6, "MB": 1024**2 / 1e6, "GB": 1024**3 / 1e6}[tr.group(2)]
mbs = rps * body / 1e6 if body else float(tr.group(1)) * mult
total = int(re.search(r"(\d+) requests in", out).group(1))
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
cpu = max((c1 - c0) / hz, 1e-9)
print(f"{rps:10.0f} req/s {mbs:9.1f} MB/s {total / cpu:10.0f} req/CPU-s" + (f"  ({errs.group(1)} errors)" if errs else ""))
PY
}

echo "# bigstep files (--threads $THREADS) vs nginx (worker_processes $THREADS), $(date -u +%FT%TZ), $(nproc) cores, wrk -t$WRK_THREADS -c$CONNS -d$DURATION, $ROUNDS round(s)"
echo "# load average: $(loadavg)"
for r in $(seq "$ROUNDS"); do
    for size in 64k 1m; do
        bytes=$([ "$size" = 64k ] && echo 65536 || echo 1048576)
        echo "round $r GET $size  bigstep anonymous: $(run bigstep "$FILES_PORT" "$W/get-bigstep-$size.lua")"
        echo "round $r GET $size  nginx:             $(run nginx "$NGINX_PORT" "$W/get-nginx-$size.lua")"
        echo "round $r GET $size  bigstep signed:    $(run bigstep "$FILES_PORT" "$W/get-signed-$size.lua")"
        echo "round $r GET $size  bigstep presigned: $(run bigstep "$FILES_PORT" "$W/get-presigned-$size.lua")"
        [ "${GET_ONLY:-0}" = 1 ] && continue
        echo "round $r PUT $size  bigstep presigned: $(run bigstep "$FILES_PORT" "$W/put-bigstep-$size.lua" "$bytes")"
        echo "round $r PUT $size  nginx WebDAV:      $(run nginx "$NGINX_PORT" "$W/put-nginx-$size.lua" "$bytes")"
    done
done

# Which reads the fast path answered (signed ones counted apart): a signed row that fell
# back to s3s would show here.
curl -sf "http://127.0.0.1:$FILES_PORT/-/metrics" | grep -E '^bigstep_files_fast_(signed_)?reads_total' || true

# ---------------------------------------------------------------- RSS while streaming 1 GiB
[ "${GET_ONLY:-0}" = 1 ] || [ "${NO_STREAM:-0}" = 1 ] && exit 0
head -c $((1024 * 1024 * 1024)) /dev/urandom >"$W/gib.bin"
rss() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
echo 5 >"/proc/$FILES_PID/clear_refs" 2>/dev/null || true
base=$(rss "$FILES_PID" VmRSS)
curl -sf -o /dev/null -T "$W/gib.bin" "$(cat "$W/gib-put.url")"
up=$(rss "$FILES_PID" VmHWM)
echo 5 >"/proc/$FILES_PID/clear_refs" 2>/dev/null || true
base2=$(rss "$FILES_PID" VmRSS)
curl -sf -o "$W/gib.back" "$(cat "$W/gib-get.url")"
down=$(rss "$FILES_PID" VmHWM)
cmp -s "$W/gib.bin" "$W/gib.back" && same=yes || same=NO
echo "stream 1 GiB: RSS before $((base / 1024)) MiB, peak during upload $((up / 1024)) MiB (+$(((up - base) / 1024)) MiB), peak during download $((down / 1024)) MiB (+$(((down - base2) / 1024)) MiB), byte-exact: $same"
