#!/usr/bin/env bash
# Where the server's CPU time goes, sampled: `perf record -e cpu-clock` (an
# hrtimer, so it works on VMs without PMU counters) of bigstep state and of
# redis-server over the same redis-benchmark run, then the user-space
# functions of each, as time per request. Callgrind (bench/state_callgrind.sh)
# counts instructions; this weighs them: a cache miss, a locked instruction or
# a clock read costs time here and one instruction there.
#
#   BIGSTEP_BIN=path bench/state_perf.sh
#
# Environment:
#   BIGSTEP_BIN=path      the binary (default: cargo build --release)
#   N=200000              requests per test
#   TESTS="lpop get hset"
#   PIPELINES="1"
#   SERVERS="redis bigstep"
#   PERIOD=50000          nanoseconds of CPU time per sample (perf -c)
#   TOP=25                user-space functions listed per run
#   BASE_PORT=18797       first of the 2 ports used
#   KEEP=1                keep the temp dir (perf.data files, for perf report)
#
# Per test: `redis-cli flushall`, then `perf record -e cpu-clock -c PERIOD -p PID`
# while `redis-benchmark -t T -n N -c 50 -d 100 -P p -r 100000` runs. Printed:
# samples in all, the kernel's share, the user-space share, and user-space time
# per request (samples × PERIOD / N); then the top user-space functions (self
# time, ns per request and share of user time). On a loaded machine compare
# shares, not times. Needs perf and root or kernel.perf_event_paranoid <= 1.
set -euo pipefail

N=${N:-200000}
TESTS=${TESTS:-"lpop get hset"}
PIPELINES=${PIPELINES:-1}
SERVERS=${SERVERS:-"redis bigstep"}
PERIOD=${PERIOD:-50000}
TOP=${TOP:-25}
BASE_PORT=${BASE_PORT:-18797}
REDIS_PORT=$BASE_PORT
STATE_PORT=$((BASE_PORT + 1))

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_args "$@"
bench_require perf redis-server redis-benchmark redis-cli
bench_workdir state-perf
bench_ports_free "$REDIS_PORT" "$STATE_PORT"
case " $SERVERS " in *" bigstep "*) bench_bigstep ;; esac



echo "# state perf $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(loadavg)"
echo "# $(redis-server --version | awk '{print $1, $3}'); bigstep ${BIGSTEP_BIN:-not run}; N=$N"
echo "# perf record -e cpu-clock -c $PERIOD -p PID during redis-benchmark -t T -n $N -c 50 -d 100 -P p -r 100000"
for s in $SERVERS; do
    start_state_server "$s"
    for p in $PIPELINES; do
        for t in $TESTS; do
            redis-cli -p "$SPORT" flushall >/dev/null
            data=$W/perf-$s-$t-$p.data
            perf record -q -e cpu-clock -c "$PERIOD" -p "$SPID" -o "$data" >/dev/null 2>&1 &
            perf_pid=$!
            sleep 0.5
            redis-benchmark -p "$SPORT" -t "$t" -n "$N" -c 50 -d 100 -P "$p" -r 100000 -q \
                >"$W/load.txt" 2>&1
            kill -INT "$perf_pid"; wait "$perf_pid" || true
            perf_samples "$data" >"$W/samples.txt"
            awk -F'\t' -v s="$s" -v t="$t" -v p="$p" -v n="$N" -v f="$PERIOD" '
                { all++; if ($1 == "k") k++; else u++ }
                END {
                    printf "%-8s %-6s P=%-3s samples %7d  kernel %5.1f %%  user %5.1f %%  user %6.3f us/request\n",
                        s, t, p, all, 100 * k / all, 100 * u / all, u * f / n / 1000
                }' "$W/samples.txt"
            u=$(grep -c '^u' "$W/samples.txt" || true)
            # (Into a file first: head closing the pipe early would end the script.)
            grep '^u' "$W/samples.txt" | cut -f2 | sort | uniq -c | sort -rn >"$W/top.txt" || true
            awk -v n="$N" -v f="$PERIOD" -v tot="$u" -v top="$TOP" 'NR <= top {
                    c = $1; sub(/^ *[0-9]+ /, "")
                    printf "    %7.1f ns  %5.1f %%  %s\n", c * f / n, 100 * c / tot, substr($0, 1, 110) }' "$W/top.txt"
        done
    done
    kill "$SPID"; wait "$SPID" 2>/dev/null || true
done
echo "# load average at end: $(loadavg)"
