#!/usr/bin/env bash
# Two bigstep builds and HAProxy side by side in front of one nginx backend,
# per proxy CPU-second: the keep-alive and churn tests of bench/frontdoor.sh,
# each round running the three proxies in a rotating order (so drift of the
# machine falls on each alike), medians. For a before/after pair of one change
# (code or build settings); bench/frontdoor.sh remains the figure to quote.
#
#   BEFORE=path AFTER=path bench/frontdoor_ab.sh
#
# Environment:
#   BEFORE=path AFTER=path  the two binaries (required)
#   TESTS="keepalive churn" which tests (also: 1mib)
#   ROUNDS=5 DURATION=8s CONNS=64
#   BASE_PORT=18580         first of the 4 ports used
#
# Printed per test: each proxy's requests (1mib: MiB) per CPU-second per round,
# and the ratios of the medians (above 1 = the first named did more per CPU-second).
set -euo pipefail

TESTS=${TESTS:-"keepalive churn"}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8s}
CONNS=${CONNS:-64}
BASE_PORT=${BASE_PORT:-18580}
: "${BEFORE:?BEFORE=path of the first build}" "${AFTER:?AFTER=path of the second build}"

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_args "$@"
bench_require wrk haproxy nginx curl
bench_workdir frontdoor-ab
BACKEND_PORT=$BASE_PORT
bench_ports_free "$BACKEND_PORT" $((BASE_PORT + 1)) $((BASE_PORT + 2)) $((BASE_PORT + 3))

mkdir -p "$W/www/big"; chmod -R 755 "$W/www"
head -c 1048576 /dev/urandom > "$W/www/big/1m"; chmod 644 "$W/www/big/1m"
bench_backend "$BACKEND_PORT" "location /big/ { root $W/www; }"

# start_bigstep NAME BIN PORT
start_bigstep() {
    cat > "$W/$1.toml" <<EOF
[balance]
listen = "127.0.0.1:$3"
access_log = false

[[balance.servers]]
address = "127.0.0.1:$BACKEND_PORT"
EOF
    RUST_LOG=warn "$2" balance --config "$W/$1.toml" --threads 1 > "$W/$1.log" 2>&1 &
    PIDS+=($!); printf -v "PID_$1" %s $!
    wait_port "$3"
}
start_bigstep before "$BEFORE" $((BASE_PORT + 1))
start_bigstep after "$AFTER" $((BASE_PORT + 2))
{ haproxy_head 1 4096; cat <<EOF
frontend fe
    bind 127.0.0.1:$((BASE_PORT + 3))
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT
EOF
} > "$W/haproxy.cfg"
haproxy -db -f "$W/haproxy.cfg" > "$W/haproxy.log" 2>&1 &
PIDS+=($!); PID_haproxy=$!
wait_port $((BASE_PORT + 3))
port_of() { case $1 in before) echo $((BASE_PORT + 1)) ;; after) echo $((BASE_PORT + 2)) ;; haproxy) echo $((BASE_PORT + 3)) ;; esac; }

# run TEST PROXY: requests (1mib: MiB) per proxy CPU-second of one wrk run.
run() {
    local pid=PID_$2 path=/ conns=$CONNS args=() c0 c1 out=$W/wrk.txt
    case $1 in
        churn) args=(-H 'Connection: close') ;;
        1mib) path=/big/1m; conns=16 ;;
    esac
    c0=$(cpu_ticks "${!pid}")
    timeout $((${DURATION%s} + 30)) wrk -t1 -c"$conns" -d"$DURATION" "${args[@]}" "http://127.0.0.1:$(port_of "$2")$path" > "$out" 2>&1 || true
    c1=$(cpu_ticks "${!pid}")
    awk -v ticks=$((c1 - c0)) -v hz="$CLK_TCK" '
        /requests in/ { n = $1 }
        /Socket errors|Non-2xx/ { bad = 1 }
        END { if (bad) { print "errors" > "/dev/stderr" }
              printf "%.0f", (ticks > 0 ? n / (ticks / hz) : 0) }' "$out"
}

for p in before after haproxy; do
    timeout 20 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$(port_of "$p")/" > /dev/null 2>&1 || true
done

echo "# front door a/b $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(loadavg)"
echo "# before $BEFORE; after $AFTER; wrk -t1 -c$CONNS -d$DURATION; $ROUNDS rounds, rotating order"
for t in $TESTS; do
    declare -A got=([before]="" [after]="" [haproxy]="")
    order=(before after haproxy)
    for i in $(seq 1 "$ROUNDS"); do
        for p in "${order[@]}"; do got[$p]="${got[$p]} $(run "$t" "$p")"; done
        order=("${order[1]}" "${order[2]}" "${order[0]}")
    done
    b=$(echo "${got[before]}" | median); a=$(echo "${got[after]}" | median); h=$(echo "${got[haproxy]}" | median)
    unit="req"; [ "$t" = 1mib ] && unit="1MiB-req"
    echo "== $t ($unit per proxy CPU-second)"
    echo "  before ${got[before]}"
    echo "  after  ${got[after]}"
    echo "  haproxy${got[haproxy]}"
    awk -v b="$b" -v a="$a" -v h="$h" 'BEGIN { printf "  medians before %d, after %d, haproxy %d: after/before %.3f, before/haproxy %.3f, after/haproxy %.3f\n", b, a, h, a / b, b / h, a / h }'
done
