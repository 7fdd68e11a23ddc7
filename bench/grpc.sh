#!/usr/bin/env bash
# gRPC (unary calls over h2c) through the front door vs HAProxy, in the same run:
# h2load speaks h2c (prior knowledge) to the proxy, the proxy speaks h2c to one
# HTTP/2 server (`protocol = "h2c"` / HAProxy `proto h2`), streams end to end.
#
#   bench/grpc.sh [--quick]
#
# Environment:
#   BIGSTEP_BIN=path   the binary to measure (default: a release build of this checkout)
#   ROUNDS=N DURATION=Ns   load shape (default 3, 6s; --quick: 1, 3s)
#   H2_CONNS=N H2_STREAMS=N   h2load -c / -m (default 8, 10)
#   BASE_PORT=N        first of the 2 ports used (default 18700)
#   KEEP=1             keep the temp dir (configs, raw output) after exit
#   H2_ENGINE=bigstep  bigstep's HTTP/2 engine to clients ([balance.http2] engine: bigstep or hyper)
#
# Each request is a real unary gRPC call as h2load sends it: POST
# /bigstep.test.Echo/Unary with `content-type: application/grpc`, `te: trailers`
# and a gRPC-framed 10-byte message, to the Python grpcio test server of
# tests/grpc.rs (h2c), which answers `bench:<message>` and the trailer
# `grpc-status: 0` — so the trailer path is measured, not only headers and data.
# The server's own CPU is outside the figure (it is the slowest part here, so
# the proxies are not saturated: both are measured at the same request rate). The figure is requests per proxy CPU-second (utime+stime
# from /proc/PID/stat before and after each run); each proxy runs one thread.
# The machine has 2 cores shared by h2load, the server and the proxy: compare
# the medians of the ratio, not the absolute rates.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
bench_args "$@"
if [ "$QUICK" = 1 ]; then
    ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-3s}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6s}
H2_CONNS=${H2_CONNS:-8}
H2_STREAMS=${H2_STREAMS:-10}
BASE_PORT=${BASE_PORT:-18700}
BIGSTEP_PORT=$BASE_PORT
HAPROXY_PORT=$((BASE_PORT + 1))
PROXIES=(bigstep haproxy)
SECS=${DURATION%s}

bench_require h2load haproxy curl python3   # h2load: apt-get install -y nghttp2-client
bench_workdir grpc
bench_bigstep
bench_ports_free $BIGSTEP_PORT $HAPROXY_PORT
port_of() { case $1 in bigstep) echo $BIGSTEP_PORT ;; haproxy) echo $HAPROXY_PORT ;; esac; }
# Until the port accepts (a request would reach the gRPC server, which may sit on a GET).
wait_h2c() {
    local i
    for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "nothing listening on $1" >&2; exit 1
}

# ---------------------------------------------------------------- server
# The gRPC test server of tests/grpc.rs (Python grpcio, C core), on a port it picks.
python3 "$(dirname "$0")/../crates/bigstep/tests/grpc/server.py" bench > "$W/server.txt" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '^port ' "$W/server.txt" && break; sleep 0.1; done
BACKEND_PORT=$(awk '/^port / {print $2}' "$W/server.txt")
[ -n "$BACKEND_PORT" ] || { echo "the gRPC server did not start:" >&2; cat "$W/server.txt" >&2; exit 1; }

# ---------------------------------------------------------------- proxies
start_bigstep() {
    cat > "$W/bigstep.toml" <<EOF
[balance]
listen = "127.0.0.1:$BIGSTEP_PORT"
access_log = false
max_connections = 12000

[[balance.servers]]
address = "127.0.0.1:$BACKEND_PORT"
protocol = "h2c"

[balance.http2]
engine = "${H2_ENGINE:-bigstep}"
EOF
    RUST_LOG=warn "$BIGSTEP_BIN" balance --config "$W/bigstep.toml" --threads 1 > "$W/bigstep.log" 2>&1 &
    PID_bigstep=$!; PIDS+=($PID_bigstep)
    wait_h2c $BIGSTEP_PORT
}

start_haproxy() {
    { haproxy_head 1 4096; cat <<EOF
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT proto h2
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT proto h2
EOF
    } > "$W/haproxy.cfg"
    haproxy -db -f "$W/haproxy.cfg" > "$W/haproxy.log" 2>&1 &
    PID_haproxy=$!; PIDS+=($PID_haproxy)
    wait_h2c $HAPROXY_PORT
}

start_bigstep
start_haproxy

# One unary request body: the gRPC frame (uncompressed, length 10) and its message.
printf '\x00\x00\x00\x00\x0a0123456789' > "$W/request.bin"
H2LOAD_ARGS=(-t1 -c"$H2_CONNS" -m"$H2_STREAMS" -d "$W/request.bin"
    -H 'content-type: application/grpc' -H 'te: trailers')

# Each proxy must pass the trailers end to end (curl -v prints them).
for p in "${PROXIES[@]}"; do
    out=$(curl -sS -v --http2-prior-knowledge --data-binary @"$W/request.bin" \
        -H 'content-type: application/grpc' -H 'te: trailers' \
        "http://127.0.0.1:$(port_of "$p")/bigstep.test.Echo/Unary" 2>&1 > /dev/null)
    grep -q 'grpc-status: 0' <<< "$out" || { echo "$p: no grpc-status trailer" >&2; echo "$out" >&2; exit 1; }
done

echo "# gRPC over h2c benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
bench_machine
echo "# $(h2load --version | head -1)"
echo "# rounds=$ROUNDS duration=$DURATION h2=${H2_CONNS}x$H2_STREAMS; load average at start: $(loadavg)"

RESULTS=$W/results.tsv
: > "$RESULTS"

run_h2load() {
    local proxy=$1 round=$2
    local port; port=$(port_of "$proxy")
    local pids; pids=$(proxy_pids "$proxy")
    local out=$W/h2load-$proxy-$round.txt c0 c1 cpu rpc ok bad
    # shellcheck disable=SC2086
    c0=$(cpu_ticks $pids)
    timeout $((SECS + 30)) h2load "${H2LOAD_ARGS[@]}" -D"$SECS" \
        "http://127.0.0.1:$port/bigstep.test.Echo/Unary" > "$out" 2>&1 || true
    # shellcheck disable=SC2086
    c1=$(cpu_ticks $pids)
    grep -q 'Application protocol: h2c' "$out" || { echo "$proxy: h2load did not speak h2c" >&2; cat "$out" >&2; exit 1; }
    # requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout
    ok=$(awk '/^requests:/ {print $8}' "$out")
    bad=$(awk '/^requests:/ {print $10 + $12}' "$out")
    non2xx=$(awk '/^status codes:/ {print $5 + $7 + $9}' "$out" | tr -d ,)
    cpu=$(cpu_seconds "$c0" "$c1")
    rpc=$(per_cpu_second "${ok:-0}" "$cpu")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$proxy" "$round" "${ok:-0}" "$cpu" "$rpc" "$(( ${bad:-0} + ${non2xx:-0} ))" >> "$RESULTS"
    printf '  %-7s r%s  %8s done  cpu %6ss  %8s per proxy CPU-s  errors %s  %s  load %s\n' \
        "$proxy" "$round" "${ok:-0}" "$cpu" "$rpc" "$(( ${bad:-0} + ${non2xx:-0} ))" \
        "$(awk '/^finished in/ {print $4, $5}' "$out" | tr -d ,)" "$(loadavg)"
}

# warm up: the upstream connection, the allocator
for p in "${PROXIES[@]}"; do
    timeout 20 h2load "${H2LOAD_ARGS[@]}" -D1 "http://127.0.0.1:$(port_of "$p")/bigstep.test.Echo/Unary" > /dev/null 2>&1 || true
done

echo "== grpc-h2c"
for round in $(seq 1 "$ROUNDS"); do
    for p in "${PROXIES[@]}"; do run_h2load "$p" "$round"; done
done
echo "# load average at end: $(loadavg)"

python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
med = {p: statistics.median(float(r[4]) for r in rows if r[0] == p) for p in ("bigstep", "haproxy")}
errs = {p: sum(int(r[5]) for r in rows if r[0] == p) for p in ("bigstep", "haproxy")}
print()
print("| test | bigstep | HAProxy | bigstep/HAProxy | errors (b/h) |")
print("|---|---:|---:|---:|---|")
print(f"| grpc-h2c | {med['bigstep']:,.0f} | {med['haproxy']:,.0f} | {med['bigstep'] / med['haproxy']:.2f} | {errs['bigstep']}/{errs['haproxy']} |")
EOF
