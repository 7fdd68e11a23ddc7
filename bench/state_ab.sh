#!/usr/bin/env bash
# Two bigstep builds and redis-server side by side, per server CPU-second: the
# rows of bench/state.sh you name, each round running the three servers in a
# rotating order (so drift of the machine falls on each alike), medians. For a
# before/after pair of one change; bench/state.sh remains the figure to quote.
#
#   BEFORE=path AFTER=path bench/state_ab.sh
#
# Environment:
#   BEFORE=path AFTER=path  the two binaries (required)
#   TESTS="hset get lpop"   redis-benchmark tests
#   P=16                    pipeline
#   N=2000000               requests per run (200000 is enough at -P 1)
#   ROUNDS=5
#   BASE_PORT=18891         first of the 3 ports used
#
# Per run: `redis-cli flushall`, then `redis-benchmark -t T -n N -c 50 -d 100
# -P p -r 100000` against one server, its utime+stime (ticks of 10 ms) before
# and after. Printed per test: each server's ticks per round, and the ratios
# of the medians (redis-server's ticks / the build's: above 1 = the build
# served more requests per CPU-second).
set -euo pipefail

TESTS=${TESTS:-"hset get lpop"}
P=${P:-16}
N=${N:-2000000}
ROUNDS=${ROUNDS:-5}
BASE_PORT=${BASE_PORT:-18891}
: "${BEFORE:?BEFORE=path of the first build}" "${AFTER:?AFTER=path of the second build}"

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_args "$@"
bench_require redis-server redis-benchmark redis-cli
bench_workdir state-ab
bench_ports_free "$BASE_PORT" $((BASE_PORT + 1)) $((BASE_PORT + 2))

REDIS_PORT=$BASE_PORT
start_state_server redis; R_PID=$SPID; R_PORT=$SPORT
STATE_PORT=$((BASE_PORT + 1)) BIGSTEP_BIN=$BEFORE start_state_server bigstep; B_PID=$SPID; B_PORT=$SPORT
STATE_PORT=$((BASE_PORT + 2)) BIGSTEP_BIN=$AFTER start_state_server bigstep; A_PID=$SPID; A_PORT=$SPORT

# run PORT PID TEST: the server's CPU ticks over one redis-benchmark run.
run() {
    redis-cli -p "$1" flushall >/dev/null
    local c0 c1
    c0=$(cpu_ticks "$2")
    redis-benchmark -p "$1" -t "$3" -n "$N" -c 50 -d 100 -P "$P" -r 100000 -q >/dev/null 2>&1
    c1=$(cpu_ticks "$2")
    echo $((c1 - c0))
}

echo "# state a/b $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(loadavg)"
echo "# before $BEFORE; after $AFTER; redis-benchmark -c 50 -d 100 -r 100000 -n $N -P $P; $ROUNDS rounds"
for t in $TESTS; do
    r=""; b=""; a=""
    for i in $(seq 1 "$ROUNDS"); do
        case $((i % 3)) in
            1) r="$r $(run "$R_PORT" "$R_PID" "$t")"; b="$b $(run "$B_PORT" "$B_PID" "$t")"; a="$a $(run "$A_PORT" "$A_PID" "$t")" ;;
            2) a="$a $(run "$A_PORT" "$A_PID" "$t")"; r="$r $(run "$R_PORT" "$R_PID" "$t")"; b="$b $(run "$B_PORT" "$B_PID" "$t")" ;;
            0) b="$b $(run "$B_PORT" "$B_PID" "$t")"; a="$a $(run "$A_PORT" "$A_PID" "$t")"; r="$r $(run "$R_PORT" "$R_PID" "$t")" ;;
        esac
    done
    mr=$(echo "$r" | median); mb=$(echo "$b" | median); ma=$(echo "$a" | median)
    printf '%-6s P=%-3s ticks redis%s | before%s | after%s | per CPU-s vs redis: before %.3f after %.3f\n' \
        "$t" "$P" "$r" "$b" "$a" "$(awk -v x="$mr" -v y="$mb" 'BEGIN { print x / y }')" \
        "$(awk -v x="$mr" -v y="$ma" 'BEGIN { print x / y }')"
done
echo "# load average at end: $(loadavg)"
