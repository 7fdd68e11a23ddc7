#!/usr/bin/env bash
# Syscalls per request, counted: what bigstep state and redis-server ask of the
# kernel per redis-benchmark request (reads, writes, epoll_wait, futex, ...),
# with the context switches and the server's user and system CPU time. Kernel
# work is what callgrind (bench/state_callgrind.sh) does not see; the counts
# here hardly move with the machine's load, the CPU times do.
#
#   BIGSTEP_BIN=path bench/state_syscalls.sh
#
# Environment:
#   BIGSTEP_BIN=path      the binary (default: cargo build --release)
#   N=200000              requests per test
#   TESTS="incr get lpop"
#   PIPELINES="1 16"
#   ROUNDS=1              runs per test and server (the table shows each)
#   SERVERS="redis bigstep"
#   THREADS=1             bigstep state --threads
#   BASE_PORT=18795       first of the 2 ports used
#
# Both servers run natively (no tracer in the way): `perf stat -p PID` counts
# the syscall tracepoints of every thread of the server while
# `redis-benchmark -t T -n N -c 50 -d 100 -P p -r 100000` runs (after
# `redis-cli flushall`); each count is divided by N. "again" = reads that
# returned EAGAIN (a wasted read); "cs" = the server's context switches;
# "wakes" = wake-ups the server's threads performed (of redis-benchmark, or of
# one another: a reply written to a sleeping client wakes it, and a burst of
# replies wakes it once); "faults" = page faults (new memory touched, or
# memory the allocator gave back and took again); "mm" = mmap, munmap,
# madvise, mprotect and brk calls (the allocator asking the kernel); "user"/"sys" = the
# server's CPU time over the run, in microseconds per request, from
# /proc/PID/stat (10 ms ticks: about ±1 % at N=200000). Needs perf (Debian:
# linux-perf) and root or kernel.perf_event_paranoid <= 1 for the tracepoints.
set -euo pipefail

N=${N:-200000}
TESTS=${TESTS:-"incr get lpop"}
PIPELINES=${PIPELINES:-"1 16"}
ROUNDS=${ROUNDS:-1}
SERVERS=${SERVERS:-"redis bigstep"}
THREADS=${THREADS:-1}
BASE_PORT=${BASE_PORT:-18795}
REDIS_PORT=$BASE_PORT
STATE_PORT=$((BASE_PORT + 1))

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_args "$@"
bench_require perf redis-server redis-benchmark redis-cli
bench_workdir state-syscalls
bench_ports_free "$REDIS_PORT" "$STATE_PORT"
case " $SERVERS " in *" bigstep "*) bench_bigstep ;; esac


# Counted per request. read/recvfrom and write/sendto/writev are summed
# (redis-server reads and writes, tokio receives and sends: the same work).
EVENTS=(
    raw_syscalls:sys_enter
    syscalls:sys_enter_read syscalls:sys_enter_recvfrom
    syscalls:sys_enter_write syscalls:sys_enter_sendto syscalls:sys_enter_writev
    syscalls:sys_enter_epoll_wait syscalls:sys_enter_epoll_pwait
    syscalls:sys_enter_futex syscalls:sys_enter_sched_yield
    context-switches sched:sched_waking
    page-faults
    syscalls:sys_enter_mmap syscalls:sys_enter_munmap syscalls:sys_enter_madvise
    syscalls:sys_enter_mprotect syscalls:sys_enter_brk
)
perf_args=()
for e in "${EVENTS[@]}"; do perf_args+=(-e "$e"); done
# Reads that found nothing (EAGAIN = -11).
perf_args+=(-e syscalls:sys_exit_read --filter 'ret == -11')
perf_args+=(-e syscalls:sys_exit_recvfrom --filter 'ret == -11')


# utime and stime of PID, in clock ticks.
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12, $13}'; }

echo "# state syscalls $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(loadavg)"
echo "# $(redis-server --version | awk '{print $1, $3}'); bigstep ${BIGSTEP_BIN:-not run} --threads $THREADS; N=$N"
echo "# redis-benchmark -t T -n $N -c 50 -d 100 -P p -r 100000; per request:"
printf '%-8s %-6s %3s %7s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %8s\n' \
    server test P rps_k total read again write epoll futex yield cs wakes faults mm user_us sys_us
for s in $SERVERS; do
    start_state_server "$s" --threads "$THREADS"
    for p in $PIPELINES; do
        for t in $TESTS; do
            for r in $(seq 1 "$ROUNDS"); do
                redis-cli -p "$SPORT" flushall >/dev/null
                out=$W/perf-$s-$t-$p-$r.csv
                perf stat -x, "${perf_args[@]}" -p "$SPID" -o "$out" &
                perf_pid=$!
                sleep 0.3
                read -r u0 s0 < <(ticks "$SPID")
                redis-benchmark -p "$SPORT" -t "$t" -n "$N" -c 50 -d 100 -P "$p" -r 100000 -q \
                    >"$W/load.txt" 2>&1
                read -r u1 s1 < <(ticks "$SPID")
                kill -INT "$perf_pid"; wait "$perf_pid" || true
                rps=$(tr '\r' '\n' <"$W/load.txt" | grep -a 'requests per second' | tail -1 \
                    | awk '{for (i = 1; i <= NF; i++) if ($i == "requests") print $(i - 1)}')
                awk -F, -v n="$N" -v s="$s" -v t="$t" -v p="$p" -v rps="$rps" \
                    -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v tck="$CLK_TCK" '
                    /^#/ || NF < 3 { next }
                    { c[$3] += $1 }
                    END {
                        rd = c["syscalls:sys_enter_read"] + c["syscalls:sys_enter_recvfrom"]
                        ag = c["syscalls:sys_exit_read"] + c["syscalls:sys_exit_recvfrom"]
                        wr = c["syscalls:sys_enter_write"] + c["syscalls:sys_enter_sendto"] + c["syscalls:sys_enter_writev"]
                        ep = c["syscalls:sys_enter_epoll_wait"] + c["syscalls:sys_enter_epoll_pwait"]
                        mm = c["syscalls:sys_enter_mmap"] + c["syscalls:sys_enter_munmap"] + c["syscalls:sys_enter_madvise"] \
                            + c["syscalls:sys_enter_mprotect"] + c["syscalls:sys_enter_brk"]
                        printf "%-8s %-6s %3s %7.0f %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %6.4f %6.4f %6.2f %8.2f\n",
                            s, t, p, rps / 1000, c["raw_syscalls:sys_enter"] / n, rd / n, ag / n, wr / n, ep / n,
                            c["syscalls:sys_enter_futex"] / n, c["syscalls:sys_enter_sched_yield"] / n,
                            c["context-switches"] / n, c["sched:sched_waking"] / n,
                            c["page-faults"] / n, mm / n,
                            du / tck * 1e6 / n, ds / tck * 1e6 / n
                    }' "$out"
            done
        done
    done
    kill "$SPID"; wait "$SPID" 2>/dev/null || true
done
echo "# load average at end: $(loadavg)"
