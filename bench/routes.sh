#!/usr/bin/env bash
# Route-table cost: bigstep balance with one route, with a 20-route table, and
# HAProxy with the same 20 ACL + use_backend rules, each one proxy thread in
# front of one nginx backend, all on loopback. The request matches the LAST
# route of the 20 (the worst case for a first-match table).
#
#   bench/routes.sh            # 3 interleaved rounds of 10 s (~2 min)
#   bench/routes.sh --quick    # 1 round of 3 s
#   COUNT=1 bench/routes.sh    # instructions per request instead (callgrind, ~3 min):
#                              # exact counts that a busy or drifting machine does not move
#
# Environment: BIGSTEP_BIN, ROUNDS, DURATION, CONNS (64), BASE_PORT (18580), KEEP=1;
# with COUNT=1: N (10000 keep-alive requests counted, h2load --h1 -c8), TOP (15).
# Prints, per proxy, the median req/s and requests per proxy CPU-second
# (utime+stime from /proc/PID/stat around each run), then the ratios
# 20 routes / 1 route and bigstep / HAProxy with 20 rules.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_args "$@"
if [ "$QUICK" = 1 ]; then ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-3s}; fi
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10s}; CONNS=${CONNS:-64}
BASE_PORT=${BASE_PORT:-18580}
BACKEND_PORT=$BASE_PORT; ONE_PORT=$((BASE_PORT + 1)); TWENTY_PORT=$((BASE_PORT + 2)); HAPROXY_PORT=$((BASE_PORT + 3))
PROXIES=(bigstep-1 bigstep-20 haproxy-20)
here=$(cd "$(dirname "$0")" && pwd)
bench_require wrk haproxy nginx curl
bench_workdir routes
bench_bigstep
bench_backend $BACKEND_PORT

# bigstep, one route: everything to the default pool.
cat > "$W/one.toml" <<EOF
[balance]
listen = "127.0.0.1:$ONE_PORT"
access_log = false
[[balance.servers]]
address = "127.0.0.1:$BACKEND_PORT"
[[balance.routes]]
host = "www.example.com"
path_prefix = "/"
pool = "default"
EOF
# bigstep, 20 routes: 19 host+prefix routes that do not match, then the one that does.
{
    printf '[balance]\nlisten = "127.0.0.1:%s"\naccess_log = false\n' $TWENTY_PORT
    printf '[[balance.servers]]\naddress = "127.0.0.1:%s"\n' $BACKEND_PORT
    for i in $(seq 1 19) main; do
        printf '[[balance.pools]]\nname = "p%s"\n[[balance.pools.servers]]\naddress = "127.0.0.1:%s"\n' "$i" $BACKEND_PORT
    done
    for i in $(seq 1 19); do
        printf '[[balance.routes]]\nhost = "app%s.example.com"\npath_prefix = "/svc%s"\npool = "p%s"\n' "$i" "$i" "$i"
    done
    printf '[[balance.routes]]\nhost = "www.example.com"\npath_prefix = "/"\npool = "pmain"\n'
} > "$W/twenty.toml"
# HAProxy, the same 20 rules.
{
    haproxy_head 1 4096; cat <<EOF
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
EOF
    for i in $(seq 1 19); do
        printf '    acl h%s hdr(host) -i app%s.example.com\n    acl p%s path_beg /svc%s\n    use_backend b%s if h%s p%s\n' "$i" "$i" "$i" "$i" "$i" "$i" "$i"
    done
    printf '    acl hmain hdr(host) -i www.example.com\n    use_backend bmain if hmain\n'
    for i in $(seq 1 19) main; do
        printf 'backend b%s\n    server s1 127.0.0.1:%s\n' "$i" $BACKEND_PORT
    done
} > "$W/haproxy.cfg"

if [ "${COUNT:-0}" = 1 ]; then
    bench_require valgrind callgrind_control callgrind_annotate h2load
    N=${N:-10000}
    # Processes under valgrind start slowly.
    WAIT_TRIES=600
    KILL_GRACE=0.5
    echo "# routes callgrind $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(cut -d' ' -f1-3 /proc/loadavg); bigstep $BIGSTEP_BIN; N=$N"
    for proxy in "${PROXIES[@]}"; do
        out=$W/cg-$proxy
        case $proxy in
            bigstep-1) port=$ONE_PORT
                RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
                    "$BIGSTEP_BIN" balance --config "$W/one.toml" --threads 1 > "$W/$proxy.log" 2>&1 & ;;
            bigstep-20) port=$TWENTY_PORT
                RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
                    "$BIGSTEP_BIN" balance --config "$W/twenty.toml" --threads 1 > "$W/$proxy.log" 2>&1 & ;;
            haproxy-20) port=$HAPROXY_PORT
                valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
                    haproxy -db -f "$W/haproxy.cfg" > "$W/$proxy.log" 2>&1 & ;;
        esac
        pid=$!; PIDS+=($pid)
        wait_port $port -H 'Host: www.example.com'
        # h2load sends :authority as Host: the request matches the last route.
        h2load --h1 -n 2000 -c 8 -H ':authority: www.example.com' "http://127.0.0.1:$port/" > /dev/null 2>&1
        callgrind_control -z "$pid" > /dev/null
        h2load --h1 -n "$N" -c 8 -H ':authority: www.example.com' "http://127.0.0.1:$port/" > "$W/load-$proxy.txt" 2>&1
        grep -q "$N succeeded, 0 failed" "$W/load-$proxy.txt" || { grep "requests:\|status codes" "$W/load-$proxy.txt" >&2; exit 1; }
        callgrind_control -d "$pid" > /dev/null
        kill "$pid"; wait "$pid" 2>/dev/null || true
        TOP=${TOP:-15} cg_report "$out" "$proxy" keepalive "$N"
    done
    exit 0
fi

RUST_LOG=warn "$BIGSTEP_BIN" balance --config "$W/one.toml" --threads 1 > "$W/one.log" 2>&1 & PID_one=$!; PIDS+=($PID_one)
RUST_LOG=warn "$BIGSTEP_BIN" balance --config "$W/twenty.toml" --threads 1 > "$W/twenty.log" 2>&1 & PID_twenty=$!; PIDS+=($PID_twenty)
haproxy -db -f "$W/haproxy.cfg" > "$W/haproxy.log" 2>&1 & PID_haproxy=$!; PIDS+=($PID_haproxy)
for p in $ONE_PORT $TWENTY_PORT $HAPROXY_PORT; do wait_port $p -H 'Host: www.example.com'; done
"$BIGSTEP_BIN" balance --check "$W/twenty.toml" | head -1

declare -A RPS CPS
for round in $(seq 1 "$ROUNDS"); do
    for proxy in "${PROXIES[@]}"; do
        case $proxy in
            bigstep-1) port=$ONE_PORT; pid=$PID_one ;;
            bigstep-20) port=$TWENTY_PORT; pid=$PID_twenty ;;
            haproxy-20) port=$HAPROXY_PORT; pid=$PID_haproxy ;;
        esac
        t0=$(cpu_ticks $pid)
        out=$(wrk -t1 -c"$CONNS" -d"$DURATION" -H 'Host: www.example.com' "http://127.0.0.1:$port/")
        t1=$(cpu_ticks $pid)
        reqs=$(echo "$out" | awk '/requests in/ {print $1}')
        errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}')
        [ -z "$errs" ] || { echo "$proxy: errors: $errs" >&2; exit 1; }
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        cps=$(awk -v r="$reqs" -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", (t > 0 ? r / (t / hz) : 0) }')
        RPS[$proxy]+="$rps "; CPS[$proxy]+="$cps "
        printf 'round %s %-11s %10.0f req/s %8s req/CPU-s  (load %s)\n' "$round" "$proxy" "$rps" "$cps" "$(cut -d' ' -f1-3 /proc/loadavg)"
    done
done
echo
printf '%-11s %12s %16s\n' proxy "req/s" "req/CPU-s"
declare -A M
for proxy in "${PROXIES[@]}"; do
    M[$proxy]=$(echo "${CPS[$proxy]}" | median)
    printf '%-11s %12.0f %16.0f\n' "$proxy" "$(echo "${RPS[$proxy]}" | median)" "${M[$proxy]}"
done
awk -v a="${M[bigstep-20]}" -v b="${M[bigstep-1]}" -v h="${M[haproxy-20]}" 'BEGIN {
    printf "\n20 routes / 1 route (bigstep, req per CPU-s):   %.2fx  (target >= 0.95)\n", a / b
    printf "bigstep / HAProxy, 20 rules (req per CPU-s):     %.2fx  (target >= 1.0)\n", a / h }'
