#!/usr/bin/env bash
# CPU per request, counted: instructions the proxy process executes per proxied
# request under valgrind's callgrind, for bigstep balance and HAProxy, one
# thread each, in front of one nginx backend on loopback. Instruction counts do
# not depend on the machine's load, so they compare builds (before/after a
# change) where wall-clock figures on a shared machine cannot.
#
#   bench/frontdoor-callgrind.sh
#
# Environment:
#   BIGSTEP_BIN=path   the binary (default: cargo build --release)
#   N=20000            keep-alive requests counted (h2load --h1 -c8: an exact count)
#   CHURN_N=2000       requests counted with a new connection each (bench/frontdoor/churn.py)
#   PROXIES="bigstep haproxy"
#   TOP=25             functions listed per run (callgrind_annotate, exclusive)
#   BASE_PORT=18580    first of the 3 ports used
#   KEEP=1             keep the temp dir (callgrind outputs)
#
# Each proxy is started under callgrind, warmed up (upstream pool, allocator),
# its counters zeroed (callgrind_control -z), then the requests are sent and the
# counters dumped (callgrind_control -d). Ir per request = the dump's total / N.
set -euo pipefail

N=${N:-20000}
CHURN_N=${CHURN_N:-2000}
PROXIES=${PROXIES:-"bigstep haproxy"}
TOP=${TOP:-25}
BASE_PORT=${BASE_PORT:-18580}
BACKEND_PORT=$BASE_PORT
BIGSTEP_PORT=$((BASE_PORT + 1))
HAPROXY_PORT=$((BASE_PORT + 2))

here=$(cd "$(dirname "$0")" && pwd)

. "$here/lib.sh"
bench_args "$@"
bench_require valgrind callgrind_control callgrind_annotate h2load nginx haproxy curl python3
# Processes under valgrind need longer to finish writing their profile.
KILL_GRACE=0.5
bench_workdir frontdoor-callgrind
bench_bigstep

# Processes under valgrind start slowly: wait up to a minute.
WAIT_TRIES=600
bench_backend $BACKEND_PORT

cat > "$W/bigstep.toml" <<EOF
[balance]
listen = "127.0.0.1:$BIGSTEP_PORT"
access_log = false

[[balance.servers]]
address = "127.0.0.1:$BACKEND_PORT"
EOF
{ haproxy_head 1 4096; cat <<EOF
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT
EOF
} > "$W/haproxy.cfg"

echo "# front door callgrind $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# bigstep $BIGSTEP_BIN; $(haproxy -v | head -1 | cut -d' ' -f1-3); N=$N CHURN_N=$CHURN_N"

# run_one PROXY TEST: start PROXY under callgrind, warm up, count TEST's requests.
run_one() {
    local proxy=$1 test=$2 port out
    out=$W/cg-$proxy-$test
    case $proxy in
        bigstep)
            port=$BIGSTEP_PORT
            RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
                "$BIGSTEP_BIN" balance --config "$W/bigstep.toml" --threads 1 > "$W/$proxy-$test.log" 2>&1 &
            ;;
        haproxy)
            port=$HAPROXY_PORT
            valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
                haproxy -db -f "$W/haproxy.cfg" > "$W/$proxy-$test.log" 2>&1 &
            ;;
    esac
    local pid=$!
    PIDS+=($pid)
    wait_port "$port"
    # Warm up both paths: the upstream pool, buffer pools, the allocator.
    h2load --h1 -n 2000 -c 8 "http://127.0.0.1:$port/" > /dev/null 2>&1
    python3 "$here/frontdoor/churn.py" 127.0.0.1 "$port" 200 > /dev/null
    callgrind_control -z "$pid" > /dev/null
    local n
    case $test in
        keepalive)
            n=$N
            h2load --h1 -n "$N" -c 8 "http://127.0.0.1:$port/" > "$W/load-$proxy-$test.txt" 2>&1
            grep -q "succeeded, 0 errored" "$W/load-$proxy-$test.txt" || grep "requests:" "$W/load-$proxy-$test.txt"
            ;;
        churn)
            n=$CHURN_N
            python3 "$here/frontdoor/churn.py" 127.0.0.1 "$port" "$CHURN_N" 4 > "$W/load-$proxy-$test.txt"
            ;;
    esac
    callgrind_control -d "$pid" > /dev/null
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    cg_report "$out" "$proxy" "$test" "$n" "$(head -1 "$W/load-$proxy-$test.txt" | cut -c1-80)"
}

for proxy in $PROXIES; do
    for test in keepalive churn; do
        run_one "$proxy" "$test"
    done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
