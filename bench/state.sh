#!/usr/bin/env bash
# State benchmark: bigstep state vs redis-server, same machine, same run, interleaved.
#
#   bench/state.sh            # full run
#   bench/state.sh --quick    # smoke check (fewer requests, 100k keys for memory)
#
# Environment:
#   BIGSTEP_BIN=path   use this binary instead of building (default: cargo build --release)
#   REQUESTS=N         requests per redis-benchmark run (default 200000)
#   ROUNDS=N           runs per test and server; medians are printed (default 3)
#   KEYS=N             keys loaded for the memory figure (default 1000000)
#   PIN=1              servers measured on the last core, clients on the others (bench/lib.sh)
#   BASE_PORT=N        first of the 2 ports used (default 18690)
#
# What it measures:
#   throughput   redis-benchmark -c 50 -d 100 for SET GET INCR LPUSH LPOP HSET, without and
#                with -P 16; each test runs ROUNDS times against each server, alternating
#                which goes first; ratio = bigstep / redis (>= 1.00: bigstep as fast or
#                faster). Also requests per CPU-second of each server process, which
#                stays readable when other work shares the machine.
#   memory       RSS (VmRSS) of each server after loading KEYS string keys with 100-byte
#                values through redis-cli --pipe
# Both servers run without persistence (redis: --save '' --appendonly no; bigstep: no --dir),
# both serve clients on one thread (bigstep state's default, --threads 1).
# The machine's cores are shared by redis-benchmark and both servers: compare ratios.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
bench_args "$@"
if [ "$QUICK" = 1 ]; then REQUESTS=${REQUESTS:-20000}; KEYS=${KEYS:-100000}; ROUNDS=${ROUNDS:-1}; fi
REQUESTS=${REQUESTS:-200000}
ROUNDS=${ROUNDS:-3}
KEYS=${KEYS:-1000000}
BASE_PORT=${BASE_PORT:-18690}
REDIS_PORT=$BASE_PORT
STATE_PORT=$((BASE_PORT + 1))

bench_require redis-server redis-benchmark redis-cli   # apt install redis-server redis-tools
bench_workdir state
bench_bigstep
bench_pin_setup
TMP=$W

wait_redis() {
    for _ in $(seq 1 200); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2; exit 1
}

start_servers() {
    "${ON_SERVER[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --logfile "$TMP/redis.log" &
    REDIS_PID=$!
    RUST_LOG=warn "${ON_SERVER[@]}" "$BIGSTEP_BIN" state --port "$STATE_PORT" 2>"$TMP/state.log" &
    STATE_PID=$!
    PIDS+=("$REDIS_PID" "$STATE_PID")
    wait_redis "$REDIS_PORT"
    wait_redis "$STATE_PORT"
}

stop_servers() {
    kill "$REDIS_PID" "$STATE_PID" 2>/dev/null || true
    wait "$REDIS_PID" "$STATE_PID" 2>/dev/null || true
    PIDS=()
}

n_for() { # pipeline -> requests: pipelined runs are ~15x faster, so 10x the requests keeps
           # each run long enough for CPU ticks to resolve
    if [ "$1" = 1 ]; then echo "$REQUESTS"; else echo $((REQUESTS * 10)); fi
}
rps() { # port test pipeline -> requests per second
    "${ON_CLIENT[@]}" redis-benchmark -p "$1" -t "$2" -n "$(n_for "$3")" -c 50 -d 100 -P "$3" -r 100000 --csv 2>/dev/null \
        | awk -F'","' 'NR==2 {print $2}'
}
run_one() { # port pid test pipeline -> "rps cpu_ticks"
    local c0 r c1
    redis-cli -p "$1" flushall >/dev/null
    c0=$(cpu_ticks "$2")
    r=$(rps "$1" "$3" "$4")
    c1=$(cpu_ticks "$2")
    echo "$r $((c1 - c0))"
}

echo "bigstep state vs redis-server ($(redis-server --version | awk '{print $3}')), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "redis-benchmark -c 50 -d 100 -r 100000, -n $REQUESTS (-P 1) and $((REQUESTS * 10)) (-P 16); $ROUNDS rounds, the two servers alternating who goes first; medians"
pin_note
echo "rps = requests per second (what redis-benchmark sees); per_cpu = requests per CPU-second of the server process"
start_servers
TICK=$CLK_TCK
printf '%-6s %-3s %12s %12s %6s   %12s %12s %6s\n' test P redis_rps bigstep_rps ratio redis_per_cpu bigstep_per_cpu ratio
for p in 1 16; do
    for t in set get incr lpush lpop hset; do
        : >"$TMP/r"; : >"$TMP/s"
        for round in $(seq 1 "$ROUNDS"); do
            if [ $((round % 2)) = 1 ]; then
                run_one "$REDIS_PORT" "$REDIS_PID" "$t" "$p" >>"$TMP/r"
                run_one "$STATE_PORT" "$STATE_PID" "$t" "$p" >>"$TMP/s"
            else
                run_one "$STATE_PORT" "$STATE_PID" "$t" "$p" >>"$TMP/s"
                run_one "$REDIS_PORT" "$REDIS_PID" "$t" "$p" >>"$TMP/r"
            fi
        done
        r=$(awk '{print $1}' "$TMP/r" | median); s=$(awk '{print $1}' "$TMP/s" | median)
        n=$(n_for "$p")
        rc=$(awk -v n="$n" -v t="$TICK" '$2 > 0 {print n * t / $2}' "$TMP/r" | median)
        sc=$(awk -v n="$n" -v t="$TICK" '$2 > 0 {print n * t / $2}' "$TMP/s" | median)
        printf '%-6s %-3s %12.0f %12.0f %6.2f   %12.0f %12.0f %6.2f\n' "$t" "$p" "$r" "$s" \
            "$(awk -v a="$s" -v b="$r" 'BEGIN { print (b > 0) ? a / b : 0 }')" "$rc" "$sc" \
            "$(awk -v a="$sc" -v b="$rc" 'BEGIN { print (b > 0) ? a / b : 0 }')"
    done
done
stop_servers

echo
echo "memory: RSS after loading $KEYS keys (key:N -> 100-byte value)"
start_servers
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
base_r=$(rss "$REDIS_PID"); base_s=$(rss "$STATE_PID")
VALUE=$(printf 'x%.0s' $(seq 1 100))
awk -v n="$KEYS" -v v="$VALUE" 'BEGIN {
    for (i = 1; i <= n; i++) { k = "key:" i; printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n", length(k), k, v }
}' > "$TMP/load.resp"
redis-cli -p "$REDIS_PORT" --pipe < "$TMP/load.resp" >/dev/null
redis-cli -p "$STATE_PORT" --pipe < "$TMP/load.resp" >/dev/null
kr=$(redis-cli -p "$REDIS_PORT" dbsize); ks=$(redis-cli -p "$STATE_PORT" dbsize)
# Both allocators give freed memory (the key tables outgrown during the load) back from a
# background thread (redis: jemalloc-bg-thread; bigstep: main.rs's housekeeping, once a
# second): read RSS once they have had the time to.
sleep 3
rr=$(rss "$REDIS_PID"); rs=$(rss "$STATE_PID")
printf '%-14s %10s %14s %14s\n' server keys rss_kib bytes_per_key
printf '%-14s %10s %14s %14s\n' redis-server "$kr" "$rr" "$(( (rr - base_r) * 1024 / kr ))"
printf '%-14s %10s %14s %14s\n' bigstep-state "$ks" "$rs" "$(( (rs - base_s) * 1024 / ks ))"
awk -v a="$rs" -v b="$rr" 'BEGIN { printf "rss ratio bigstep/redis: %.2f\n", a / b }'
stop_servers
