#!/usr/bin/env bash
# CPU per request, counted: user-space instructions the server process executes
# per redis-benchmark request under valgrind's callgrind, for bigstep state and
# redis-server. Instruction counts do not depend on the machine's load, so they
# compare builds (before/after a change) where bench/state.sh's CPU-second
# figures on a shared machine cannot. Kernel time (the syscalls) is not in them.
#
#   BIGSTEP_BIN=path bench/state_callgrind.sh
#
# Environment:
#   BIGSTEP_BIN=path      the binary (default: cargo build --release)
#   N=20000               requests counted per test
#   TESTS="get set incr lpop"
#   PIPELINES="1"         e.g. "1 16"
#   SERVERS="redis bigstep"
#   TOP=0                 functions listed per test (callgrind_annotate, inclusive), 0 = none
#   BASE_PORT=18790       first of the 2 ports used
#   KEEP=1                keep the temp dir (callgrind outputs, for callgrind_annotate)
#   CACHE=1               also simulate the caches (--cache-sim=yes): D1 and LL misses
#                         per request (first-level data misses stand for the cache lines a
#                         request touches that the other 49 connections pushed out of L1)
#
# Each server is started once under callgrind (bigstep: `state --port P`, one
# thread, no persistence; redis-server: `--save '' --appendonly no`). Per test:
# `redis-cli flushall`, `callgrind_control -z` (counters zeroed), then
# `redis-benchmark -t T -n N -c 50 -d 100 -P p -r 100000`, then
# `callgrind_control -d` (dumped): Ir per request = the dump's total / N, all
# threads of the process together. The 50 connections' set-up is counted in.
set -euo pipefail

N=${N:-20000}
TESTS=${TESTS:-"get set incr lpop"}
PIPELINES=${PIPELINES:-1}
SERVERS=${SERVERS:-"redis bigstep"}
TOP=${TOP:-0}
CACHE=${CACHE:-0}
CG_ARGS=()
if [ "$CACHE" = 1 ]; then CG_ARGS+=(--cache-sim=yes); fi
BASE_PORT=${BASE_PORT:-18790}
REDIS_PORT=$BASE_PORT
STATE_PORT=$((BASE_PORT + 1))

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_args "$@"
bench_require valgrind callgrind_control callgrind_annotate redis-server redis-benchmark redis-cli
# Processes under valgrind need longer to finish writing their profile.
KILL_GRACE=0.5
bench_workdir state-callgrind
case " $SERVERS " in *" bigstep "*) bench_bigstep ;; esac

wait_port() {
    local i
    for i in $(seq 1 600); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "nothing answering on port $1" >&2; exit 1
}

echo "# state callgrind $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(loadavg)"
echo "# $(redis-server --version | awk '{print $1, $3}'); bigstep ${BIGSTEP_BIN:-not run}; N=$N"
echo "# redis-benchmark -t T -n $N -c 50 -d 100 -P p -r 100000 after flushall; Ir = user-space instructions"

# run_server NAME: start it under callgrind, count every test, stop it.
run_server() {
    local name=$1 port out pid
    out=$W/cg-$name
    case $name in
        bigstep)
            port=$STATE_PORT
            RUST_LOG=warn valgrind --tool=callgrind "${CG_ARGS[@]}" --callgrind-out-file="$out" \
                "$BIGSTEP_BIN" state --port "$port" >"$W/$name.log" 2>&1 &
            ;;
        redis)
            port=$REDIS_PORT
            valgrind --tool=callgrind "${CG_ARGS[@]}" --callgrind-out-file="$out" \
                redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
                --daemonize no >"$W/$name.log" 2>&1 &
            ;;
        *) echo "unknown server $name" >&2; exit 2 ;;
    esac
    pid=$!
    PIDS+=("$pid")
    wait_port "$port"
    local dumps=0 p t ir
    for p in $PIPELINES; do
        for t in $TESTS; do
            redis-cli -p "$port" flushall >/dev/null
            callgrind_control -z "$pid" >/dev/null 2>&1
            redis-benchmark -p "$port" -t "$t" -n "$N" -c 50 -d 100 -P "$p" -r 100000 -q \
                >"$W/load-$name-$t-$p.txt" 2>&1
            callgrind_control -d "$pid" >/dev/null 2>&1
            dumps=$((dumps + 1))
            # The i-th dump of a process is written as OUT.i.
            ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out.$dumps")
            printf '%-8s %-6s P=%-3s %12s Ir / %s = %6.0f per request  (%s)\n' "$name" "$t" "$p" \
                "$ir" "$N" "$(awk -v a="$ir" -v b="$N" 'BEGIN {print a / b}')" \
                "$(tr '\r' '\n' <"$W/load-$name-$t-$p.txt" | grep -a 'requests per second' | tail -1 | cut -c1-60)"
            if [ "$CACHE" = 1 ]; then
                # events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw (the summary follows that order)
                awk -v n="$N" '
                    /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
                    /^(summary|totals):/ && !done {
                        done = 1
                        printf "    data reads %5.0f, writes %5.0f; D1 misses %6.1f (read %6.1f, write %6.1f); LL data misses %5.2f; I1 misses %5.1f per request\n",
                            $col["Dr"] / n, $col["Dw"] / n, ($col["D1mr"] + $col["D1mw"]) / n, $col["D1mr"] / n,
                            $col["D1mw"] / n, ($col["DLmr"] + $col["DLmw"]) / n, $col["I1mr"] / n
                    }' "$out.$dumps"
            fi
            if [ "$TOP" -gt 0 ]; then
                callgrind_annotate --inclusive=yes --threshold=100 "$out.$dumps" 2>/dev/null \
                    | awk -v top="$TOP" -v n="$N" -v total="$ir" '
                        $1 ~ /^[0-9,]+$/ && shown < top {
                            v = $1; gsub(",", "", v)
                            if (v + 0 >= total + 0) next    # the program total
                            line = $0
                            sub(/^ *[0-9,]+ *(\([^)]*\))? */, "", line)
                            printf "    %8.0f  %s\n", v / n, line
                            shown++
                        }' \
                    | cut -c1-160
            fi
        done
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

for s in $SERVERS; do
    run_server "$s"
done
echo "# load average at end: $(loadavg)"
