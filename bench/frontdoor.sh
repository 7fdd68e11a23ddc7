#!/usr/bin/env bash
# Front door benchmark: bigstep balance vs HAProxy vs nginx, each one thread,
# in front of one shared nginx backend, all on loopback.
#
#   bench/frontdoor.sh            # full run: 3 interleaved rounds of 10 s (~7 min)
#   bench/frontdoor.sh --quick    # smoke check: 1 round of 3 s
#
# Environment:
#   BIGSTEP_BIN=path   use this binary instead of building (default: cargo build --release)
#   ROUNDS=N DURATION=Ns CONNS=N   override the load shape (default 3, 10s, 64)
#   BIG_CONNS=N        wrk connections for the 1 MiB test (default 16)
#   IDLE_CONNS=N       idle keep-alive connections for the RSS test (default 10000)
#   BASE_PORT=N        first of the 4 ports used (default 18480)
#   THREADS=N          proxy threads/workers for all three (default 1; the issue's
#                      second figure is THREADS=2)
#   KEEP=1             keep the temp dir (configs, raw wrk output) after exit
#
# What it measures (see BENCHMARKS.md "## Front door"):
#   keep-alive    wrk -t1 -c64 --latency, ~100-byte response: req/s, p50, p99,
#                 requests per proxy CPU-second (utime+stime of all proxy threads
#                 and processes, from /proc/PID/stat, before/after each run)
#   churn         the same with "Connection: close" (a new client connection per request)
#   1mib          1 MiB response (-c16): req/s, MB/s, MiB per proxy CPU-second
#   idle          RSS (VmRSS) before/after 10,000 idle keep-alive client connections
#                 (HAProxy: 9,800, the most its fd reservation allows under the 20,000 limit)
#   stream        peak RSS growth while curl streams a 1 GiB response (VmHWM reset via clear_refs)
#
# The machine has 2 cores shared by wrk, the backend and the proxy, so absolute req/s
# is capped by the machine; compare per-CPU-second figures and latency, and the
# medians of interleaved rounds. Each run logs the load average for context.
set -euo pipefail

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-3s}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
BIG_CONNS=${BIG_CONNS:-16}
IDLE_CONNS=${IDLE_CONNS:-10000}
BASE_PORT=${BASE_PORT:-18480}
THREADS=${THREADS:-1}
BACKEND_PORT=$BASE_PORT
BIGSTEP_PORT=$((BASE_PORT + 1))
HAPROXY_PORT=$((BASE_PORT + 2))
NGINX_PORT=$((BASE_PORT + 3))
PROXIES=(bigstep haproxy nginx)

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

for tool in wrk haproxy nginx curl python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y $tool)" >&2; exit 1; }
done

# ---------------------------------------------------------------- cleanup
W=$(mktemp -d /tmp/frontdoor-bench.XXXXXX)
chmod 755 "$W"      # nginx workers run as another user and must read the docroot
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- binary
if [ -z "${BIGSTEP_BIN:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-bench}
    (cd "$repo" && cargo build --release -p bigstep -j2)
    BIGSTEP_BIN=$CARGO_TARGET_DIR/release/bigstep
fi
[ -x "$BIGSTEP_BIN" ] || { echo "no binary at $BIGSTEP_BIN" >&2; exit 1; }

for port in $BACKEND_PORT $BIGSTEP_PORT $HAPROXY_PORT $NGINX_PORT; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        echo "port $port is in use; set BASE_PORT" >&2; exit 1
    fi
done

# ---------------------------------------------------------------- helpers
# CPU seconds (utime+stime, all threads) of the given pids, summed.
cpu_ticks() {
    local total=0 p t
    for p in "$@"; do
        t=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
        total=$((total + t))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
rss_sum() { local s=0 p; for p in "$@"; do s=$((s + $(rss_kib "$p"))); done; echo "$s"; }
hwm_sum() { local s=0 p; for p in "$@"; do s=$((s + $(awk '/^VmHWM:/ {print $2}' "/proc/$p/status"))); done; echo "$s"; }
reset_hwm() { local p; for p in "$@"; do echo 5 > "/proc/$p/clear_refs" 2>/dev/null || true; done; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
wait_port() {
    local i
    for i in $(seq 1 100); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    echo "nothing answering on port $1" >&2; exit 1
}
# pids whose CPU and RSS count for a proxy (nginx: master + workers)
proxy_pids() {
    local var=PID_$1
    local main=${!var}
    echo "$main"
    if [ "$1" = nginx ]; then pgrep -P "$main" || true; fi
}
port_of() { case $1 in bigstep) echo $BIGSTEP_PORT ;; haproxy) echo $HAPROXY_PORT ;; nginx) echo $NGINX_PORT ;; esac; }
# wrk latency value (e.g. 415.00us, 1.23ms, 1.02s) -> milliseconds
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; else if (v ~ /m$/) n *= 60000; printf "%.3f", n }'; }

# ---------------------------------------------------------------- backend
BODY100=$(printf 'x%.0s' $(seq 1 99))   # 99 bytes + newline = 100-byte body
mkdir -p "$W/www/big" "$W/backend/logs" "$W/nginx/logs"
chmod -R 755 "$W/www"
head -c 1048576 /dev/urandom > "$W/www/big/1m"
truncate -s 1G "$W/www/big/1g"          # sparse: no disk, nginx sendfile()s zeros
chmod 644 "$W/www/big/1m" "$W/www/big/1g"

cat > "$W/backend/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $W/backend/nginx.pid;
error_log $W/backend/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    default_type text/plain;
    server {
        listen 127.0.0.1:$BACKEND_PORT backlog=4096;
        location = / { return 200 "$BODY100\n"; }
        location /big/ { root $W/www; }
    }
}
EOF
nginx -p "$W/backend" -c "$W/backend/nginx.conf" &
PIDS+=($!)
wait_port $BACKEND_PORT
[ "$(curl -s "http://127.0.0.1:$BACKEND_PORT/" | wc -c)" = 100 ] || { echo "backend body is not 100 bytes" >&2; exit 1; }

# ---------------------------------------------------------------- proxies
start_bigstep() {
    cat > "$W/bigstep.toml" <<EOF
[balance]
listen = "127.0.0.1:$BIGSTEP_PORT"
access_log = false
max_connections = 12000

[[balance.servers]]
address = "127.0.0.1:$BACKEND_PORT"
EOF
    RUST_LOG=warn "$BIGSTEP_BIN" balance --config "$W/bigstep.toml" --threads "$THREADS" > "$W/bigstep.log" 2>&1 &
    PID_bigstep=$!; PIDS+=($PID_bigstep)
    wait_port $BIGSTEP_PORT
}

start_haproxy() {
    # maxconn 4096 for the throughput runs (the DESIGN.md rule); the idle test needs
    # 10,000 clients, so it restarts HAProxy with a larger maxconn (see idle_test).
    local maxconn=${1:-4096}
    cat > "$W/haproxy.cfg" <<EOF
global
    nbthread $THREADS
    maxconn $maxconn
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 75s
    timeout server 60s
    timeout http-keep-alive 75s
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT
EOF
    haproxy -db -f "$W/haproxy.cfg" > "$W/haproxy.log" 2>&1 &
    PID_haproxy=$!; PIDS+=($PID_haproxy)
    wait_port $HAPROXY_PORT
}

start_nginx() {
    cat > "$W/nginx/nginx.conf" <<EOF
worker_processes $THREADS;
worker_rlimit_nofile 20000;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log warn;
events { worker_connections 12000; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    upstream be {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" &
    PID_nginx=$!; PIDS+=($PID_nginx)
    wait_port $NGINX_PORT
}

stop_proxy() {
    local var=PID_$1
    kill "${!var}" 2>/dev/null || true
    wait "${!var}" 2>/dev/null || true
}

start_bigstep
start_haproxy
start_nginx

echo "# front door benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
echo "# bigstep $BIGSTEP_BIN; $(haproxy -v | head -1 | cut -d' ' -f1-3); $(nginx -v 2>&1 | cut -d' ' -f3); wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
echo "# threads=$THREADS rounds=$ROUNDS duration=$DURATION conns=$CONNS big_conns=$BIG_CONNS idle_conns=$IDLE_CONNS; load average at start: $(loadavg)"
echo "# workdir $W"

RESULTS=$W/results.tsv
: > "$RESULTS"

# ---------------------------------------------------------------- wrk runs
# run_wrk TEST PROXY ROUND PATH CONNS [wrk args...]
run_wrk() {
    local test=$1 proxy=$2 round=$3 path=$4 conns=$5; shift 5
    local port; port=$(port_of "$proxy")
    local pids; pids=$(proxy_pids "$proxy")
    local secs=${DURATION%s}
    local out=$W/wrk-$test-$proxy-$round.txt
    local la0 c0 c1
    la0=$(loadavg)
    # shellcheck disable=SC2086
    c0=$(cpu_ticks $pids)
    timeout $((secs + 30)) wrk -t1 -c"$conns" -d"$DURATION" --latency "$@" "http://127.0.0.1:$port$path" > "$out" 2>&1 || true
    # shellcheck disable=SC2086
    c1=$(cpu_ticks $pids)
    local rps reqs p50 p99 mbps errs non2xx cpu
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    reqs=$(awk '/requests in/ {print $1}' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    mbps=$(awk '/^Transfer\/sec:/ {v = $2 + 0; if ($2 ~ /GB$/) v *= 1024; else if ($2 ~ /KB$/) v /= 1024; else if ($2 ~ /B$/ && $2 !~ /MB$/) v /= 1048576; printf "%.1f", v}' "$out")
    errs=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out"); errs=${errs:-0}
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out"); non2xx=${non2xx:-0}
    cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')
    local rpc
    rpc=$(awk -v r="${reqs:-0}" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print "nan" }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$test" "$proxy" "$round" "${rps:-0}" "$p50" "$p99" "${reqs:-0}" "$cpu" "$rpc" "${mbps:-0}" "$errs" "$non2xx" "$la0" >> "$RESULTS"
    printf '  %-8s %-7s r%s  %10s req/s  p50 %8s ms  p99 %8s ms  cpu %6ss  %8s req/cpu-s  %7s MB/s  err %s non2xx %s  load %s\n' \
        "$test" "$proxy" "$round" "${rps:-0}" "$p50" "$p99" "$cpu" "$rpc" "${mbps:-0}" "$errs" "$non2xx" "$la0"
}

# warm up: upstream pools, page cache, allocator
for p in "${PROXIES[@]}"; do
    timeout 20 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$(port_of "$p")/" > /dev/null 2>&1 || true
done

for test in keepalive churn 1mib; do
    echo "== $test"
    for round in $(seq 1 "$ROUNDS"); do
        for p in "${PROXIES[@]}"; do
            case $test in
                keepalive) run_wrk "$test" "$p" "$round" / "$CONNS" ;;
                churn)     run_wrk "$test" "$p" "$round" / "$CONNS" -H 'Connection: close' ;;
                1mib)      run_wrk "$test" "$p" "$round" /big/1m "$BIG_CONNS" ;;
            esac
        done
    done
done

# ---------------------------------------------------------------- syscalls
# Syscalls per keep-alive request: strace -c attached to the proxy's processes
# for one short wrk run (strace slows the proxy; the counts per request are what
# matter). The busiest syscalls are listed per request.
if command -v strace > /dev/null; then
    echo "== syscalls per keep-alive request (strace -c -f, wrk -t1 -c$CONNS -d3s)"
    for p in "${PROXIES[@]}"; do
        pids=$(proxy_pids "$p")
        args=()
        for pid in $pids; do args+=(-p "$pid"); done
        strace -c -f -q -o "$W/strace-$p.txt" "${args[@]}" &
        tracer=$!
        sleep 0.5
        timeout 40 wrk -t1 -c"$CONNS" -d3s "http://127.0.0.1:$(port_of "$p")/" > "$W/wrk-strace-$p.txt" 2>&1 || true
        kill -INT "$tracer" 2>/dev/null || true
        wait "$tracer" 2>/dev/null || true
        reqs=$(awk '/requests in/ {print $1}' "$W/wrk-strace-$p.txt")
        reqs=${reqs:-0}
        total=$(awk '$NF == "total" {print $4}' "$W/strace-$p.txt")
        if [ "$reqs" = 0 ] || [ -z "$total" ]; then
            printf '  %-7s no requests or no trace\n' "$p"
            continue
        fi
        top=$(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" {print $4, $NF}' "$W/strace-$p.txt" \
            | sort -rn | head -6 | awk -v r="$reqs" '{printf " %s %.2f", $2, $1 / r}')
        per=$(awk -v t="$total" -v r="$reqs" 'BEGIN { printf "%.2f", t / r }')
        printf '  %-7s %6s syscalls/request (%s requests):%s\n' "$p" "$per" "$reqs" "$top"
        printf 'syscalls\t%s\t%s\n' "$p" "$per" >> "$W/syscalls.tsv"
    done
fi

# ---------------------------------------------------------------- stream 1 GiB
# Peak RSS growth while one client downloads 1 GiB through the proxy. VmHWM is
# reset through /proc/PID/clear_refs before the download, so it is the peak of
# the download itself; a 50 ms VmRSS sampler backs it up.
MEM=$W/memory.tsv
: > "$MEM"
echo "== stream 1 GiB (curl -o /dev/null)"
for p in "${PROXIES[@]}"; do
    pids=$(proxy_pids "$p")
    # shellcheck disable=SC2086
    before=$(rss_sum $pids)
    # shellcheck disable=SC2086
    reset_hwm $pids
    : > "$W/rss-samples-$p"
    (
        # shellcheck disable=SC2086
        while :; do rss_sum $pids >> "$W/rss-samples-$p" 2>/dev/null || exit 0; sleep 0.05; done
    ) &
    sampler=$!; PIDS+=($sampler)
    got=$(curl -s -o /dev/null --max-time 300 -w '%{size_download} %{speed_download}' "http://127.0.0.1:$(port_of "$p")/big/1g" || echo "0 0")
    kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
    # shellcheck disable=SC2086
    hwm=$(hwm_sum $pids)
    sampled=$(sort -n "$W/rss-samples-$p" | tail -1)
    peak=$(( hwm > ${sampled:-0} ? hwm : ${sampled:-0} ))
    # shellcheck disable=SC2086
    after=$(rss_sum $pids)
    read -r bytes speed <<< "$got"
    printf 'stream\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$before" "$peak" "$after" "$bytes" "$speed" >> "$MEM"
    printf '  %-7s RSS before %7s KiB  peak %7s KiB (+%s KiB)  after %7s KiB  %s bytes at %s MB/s\n' \
        "$p" "$before" "$peak" "$((peak - before))" "$after" "$bytes" "$(awk -v s="$speed" 'BEGIN {printf "%.0f", s / 1048576}')"
done

# ---------------------------------------------------------------- idle connections
# RSS before and after IDLE_CONNS keep-alive client connections, each of which has
# made one request and then sits idle. Proxies are restarted first so the numbers
# do not carry heap from the throughput runs. HAProxy needs 2 fds per connection
# slot (maxsock = 2*maxconn + a few) and the hard fd limit is 20000, so it cannot
# be configured for 10,000 connections here: it gets maxconn 9900 and at most 9800
# idle clients, and the per-connection figure is the one to compare.
echo "== idle keep-alive connections ($IDLE_CONNS)"
for p in "${PROXIES[@]}"; do
    stop_proxy "$p"
    n=$IDLE_CONNS
    if [ "$p" = haproxy ]; then
        [ "$n" -gt 9800 ] && n=9800
        start_haproxy 9900
    else
        "start_$p"
    fi
    sleep 0.5
    pids=$(proxy_pids "$p")
    # shellcheck disable=SC2086
    before=$(rss_sum $pids)
    python3 "$here/frontdoor/idle.py" 127.0.0.1 "$(port_of "$p")" "$n" 120 > "$W/idle-$p.txt" 2>&1 &
    idle=$!; PIDS+=($idle)
    for _ in $(seq 1 1200); do
        grep -q '^ready' "$W/idle-$p.txt" 2>/dev/null && break
        kill -0 "$idle" 2>/dev/null || break
        sleep 0.1
    done
    sleep 2
    # shellcheck disable=SC2086
    after=$(rss_sum $pids)
    read -r _ ok failed < <(grep '^ready' "$W/idle-$p.txt" || echo "ready 0 $n")
    kill "$idle" 2>/dev/null || true; wait "$idle" 2>/dev/null || true
    printf 'idle\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$before" "$after" "$((after - before))" "$ok" "$failed" >> "$MEM"
    printf '  %-7s RSS before %7s KiB  with %s idle %7s KiB (+%s KiB, %s B/conn)  failed %s\n' \
        "$p" "$before" "$ok" "$after" "$((after - before))" \
        "$(awk -v d=$((after - before)) -v n="$ok" 'BEGIN { if (n > 0) printf "%.0f", d * 1024 / n; else print "-" }')" "$failed"
done

echo "# load average at end: $(loadavg)"

# ---------------------------------------------------------------- summary
python3 - "$RESULTS" "$MEM" <<'EOF'
import statistics, sys
from collections import defaultdict

rows = defaultdict(list)
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    rows[(f[0], f[1])].append(f)

def med(test, proxy, col):
    vals = [float(r[col]) for r in rows.get((test, proxy), []) if r[col] not in ("", "nan")]
    return statistics.median(vals) if vals else float("nan")

proxies = ["bigstep", "haproxy", "nginx"]
print()
print("## medians")
print()
print("| test | proxy | req/s | p50 ms | p99 ms | req per proxy CPU-s | proxy CPU s | MB/s | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for test in ["keepalive", "churn", "1mib"]:
    for p in proxies:
        if (test, p) not in rows:
            continue
        errs = sum(int(float(r[10])) + int(float(r[11])) for r in rows[(test, p)])
        print(f"| {test} | {p} | {med(test, p, 3):,.0f} | {med(test, p, 4):.2f} | {med(test, p, 5):.2f} "
              f"| {med(test, p, 8):,.0f} | {med(test, p, 7):.2f} | {med(test, p, 9):,.1f} | {errs} |")
print()
print("(1mib: a request is 1 MiB, so req per proxy CPU-s is MiB per proxy CPU-second.)")
print()
print("| test | metric | bigstep/HAProxy | bigstep/nginx |")
print("|---|---|---:|---:|")
for test in ["keepalive", "churn", "1mib"]:
    for name, col in [("req/s", 3), ("req per CPU-s", 8), ("p99 (lower is better)", 5)]:
        b, h, n = (med(test, p, col) for p in proxies)
        print(f"| {test} | {name} | {b / h:.2f} | {b / n:.2f} |")
print()
print("| memory | proxy | before KiB | peak/with KiB | growth KiB |")
print("|---|---|---:|---:|---:|")
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "stream":
        print(f"| stream 1 GiB | {f[1]} | {f[2]} | {f[3]} | {int(f[3]) - int(f[2])} |")
    else:
        print(f"| idle x{f[5]} (failed {f[6]}) | {f[1]} | {f[2]} | {f[3]} | {f[4]} |")
EOF
