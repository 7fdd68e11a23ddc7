#!/usr/bin/env bash
# HTTP/2 syscalls per request, counted: what bigstep balance, HAProxy and nginx
# ask of the kernel per proxied HTTP/2 request, split by socket (the client's
# or the backend's), with the TLS records written, the bytes per read and
# write, context switches and wake-ups. The same shape as bench/h2-callgrind.sh
# (and tls.sh's h2-tls row): h2load -c8 -m10, one thread per proxy, one nginx
# backend over HTTP/1.1 keep-alive. Kernel work and wake-ups are what
# callgrind does not see; these counts hardly move with the machine's load
# (how many requests one read or write carries does a little).
#
#   bench/h2_syscalls.sh
#
# Environment:
#   BIGSTEP_BIN=path   the binary (default: cargo build --release)
#   H2_ENGINE=bigstep  bigstep's HTTP/2 engine (bigstep or hyper)
#   N=50000            requests counted per run (h2load -n N -c8 -m10: exact)
#   TESTS="h2-tls h2c" h2-tls: ALPN h2 over TLS 1.3 (ECDSA P-256); h2c: prior knowledge
#   PROXIES="bigstep haproxy nginx"
#   ROUNDS=1           runs per proxy and test (each one a row)
#   BASE_PORT=18700    first of the 7 ports used
#   KEEP=1             keep the temp dir (perf data, per-syscall lists)
#
# Each proxy runs natively, is warmed up (4,000 requests), then `perf record
# -p PID` takes every syscall's entry and exit (raw_syscalls), its context
# switches and the wake-ups its threads perform while h2load sends exactly N
# requests. Each syscall on a socket is put to the client's side (accepted on
# the proxy's port) or the backend's (connected to the backend's port), from
# /proc/PID/fd and /proc/net/tcp read during the run. Columns, per request:
#   sys       all syscalls
#   c_rd      reads on client sockets (read, recvfrom, readv, recvmsg),
#   c_eag       of them EAGAIN (found nothing)
#   c_wr      writes on client sockets (write, writev, sendto, sendmsg)
#   recs      TLS records written to clients: rustls queues one record per
#             iovec, so bigstep's is writev's count of iovecs; OpenSSL writes
#             each record (at most 16 KiB) with its own write, so HAProxy's and
#             nginx's is their write count ("-" on h2c)
#   B/c_rd B/c_wr  bytes per client read and per client write
#   b_rd b_eag b_wr  the same three on backend sockets
#   epoll     epoll_wait / epoll_pwait; other: every other syscall
#   pkts      packets the proxy's threads sent (net:net_dev_xmit on loopback:
#             data and bare ACKs; the receiver's side of each runs in the
#             sender's context too)
#   cs        context switches of the proxy; wakes: wake-ups it performed (of
#             h2load, the backend, or its own threads)
#   user_us sys_us  the proxy's CPU time per request (/proc/PID/stat, 10 ms
#             ticks; perf's own tracing inflates sys): rough
# Below each row, whom the wake-ups woke and the other syscalls by name, per request. Needs perf (Debian:
# linux-perf) and root or kernel.perf_event_paranoid <= 1.
set -euo pipefail

N=${N:-50000}
H2_ENGINE=${H2_ENGINE:-bigstep}
TESTS=${TESTS:-"h2-tls h2c"}
PROXIES=${PROXIES:-"bigstep haproxy nginx"}
ROUNDS=${ROUNDS:-1}
BASE_PORT=${BASE_PORT:-18700}

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_args "$@"
bench_require perf h2load nginx haproxy curl openssl
bench_workdir h2-syscalls
case " $PROXIES " in *" bigstep "*) bench_bigstep ;; esac
h2_ports "$BASE_PORT"
bench_ports_free $(seq "$BASE_PORT" $((BASE_PORT + 6)))
bench_backend "$BACKEND_PORT"
h2_proxies_setup

# Syscall numbers to names, for the "other" list.
UNISTD=/usr/include/x86_64-linux-gnu/asm/unistd_64.h
[ -r "$UNISTD" ] || UNISTD=/usr/include/asm/unistd_64.h
awk '/^#define __NR_/ {sub(/^__NR_/, "", $2); print $3, $2}' "$UNISTD" 2>/dev/null > "$W/nr.txt" || true

# sockets PID PORT: "fd kind" for PID's sockets: client (local port PORT) or
# backend (remote port BACKEND_PORT).
sockets() {
    local pid=$1 port=$2
    awk -v lp="$(printf '%04X' "$port")" -v rp="$(printf '%04X' "$BACKEND_PORT")" '
        FNR == 1 { file++ }
        file <= 2 && FNR > 1 {
            split($2, l, ":"); split($3, r, ":")
            if (l[2] == lp) kind[$10] = "client"; else if (r[2] == rp) kind[$10] = "backend"
            next
        }
        file == 3 && match($2, /socket:\[[0-9]+\]/) {
            ino = substr($2, RSTART + 8, RLENGTH - 9)
            if (ino in kind) print $1, kind[ino]
        }' /proc/net/tcp /proc/net/tcp6 <(find "/proc/$pid/fd" -mindepth 1 -printf '%f %l\n' 2>/dev/null)
}

echo "# HTTP/2 syscalls $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(loadavg)"
echo "# bigstep ${BIGSTEP_BIN:-not run} (engine $H2_ENGINE); $(haproxy -v | head -1 | cut -d' ' -f1-3); nginx $(nginx -v 2>&1 | cut -d/ -f2); $(h2load --version | head -1)"
echo "# h2load -n $N -c 8 -m 10; per request:"
printf '%-8s %-6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %6s %7s %7s\n' \
    proxy test sys c_rd c_eag c_wr recs B/c_rd B/c_wr b_rd b_eag b_wr epoll other pkts cs wakes user_us sys_us

run_one() {
    local proxy=$1 test=$2 round=$3 tag perf_pid load_pid u0 s0 u1 s1 tls=0
    tag=$proxy-$test-$round
    [ "$test" = h2-tls ] && tls=1
    h2_start "$proxy" "$test"
    h2load -n 4000 -c 8 -m 10 "$H2_URL" > /dev/null 2>&1
    perf record -q -o "$W/perf-$tag.data" -p "$H2_PID" \
        -e raw_syscalls:sys_enter -e raw_syscalls:sys_exit \
        -e context-switches -e sched:sched_waking -e net:net_dev_xmit > "$W/perf-$tag.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
    read -r u0 s0 < <(cpu_split "$H2_PID")
    h2load -n "$N" -c 8 -m 10 "$H2_URL" > "$W/load-$tag.txt" 2>&1 &
    load_pid=$!
    # The sockets, read while h2load's connections are open.
    : > "$W/fds-$tag.txt"
    while kill -0 "$load_pid" 2>/dev/null; do
        sockets "$H2_PID" "$H2_PORT" >> "$W/fds-$tag.txt"
        sleep 0.2
    done
    wait "$load_pid" || true
    read -r u1 s1 < <(cpu_split "$H2_PID")
    kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
    h2_check_load "$W/load-$tag.txt" "$N" "$proxy" "$test"
    kill "$H2_PID"; wait "$H2_PID" 2>/dev/null || true
    perf script -i "$W/perf-$tag.data" -F tid,event,trace 2>/dev/null > "$W/events-$tag.txt"
    awk -v n="$N" -v p="$proxy" -v t="$test" -v tls="$tls" -v du=$((u1 - u0)) -v ds=$((s1 - s0)) \
        -v tck="$CLK_TCK" '
        FILENAME ~ /nr.txt$/ { name[$1] = $2; next }
        FILENAME ~ /fds-/ { kind[$1] = $2; next }
        # Reads and writes by syscall number (x86_64).
        function rd(nr) { return nr == 0 || nr == 45 || nr == 19 || nr == 47 }
        function wr(nr) { return nr == 1 || nr == 44 || nr == 20 || nr == 46 }
        function hex(s,  i, v, c) {
            v = 0; s = tolower(s)
            for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)); v = v * 16 + c - 1 }
            return v
        }
        / raw_syscalls:sys_enter:/ {
            tid = $1; sys++
            line = $0; sub(/.*NR /, "", line)
            nr = line + 0
            sub(/^[0-9]+ \(/, "", line); gsub(/[,)]/, "", line); split(line, a, " ")
            fd = hex(a[1])
            pending[tid] = nr; pfd[tid] = fd
            k = (rd(nr) || wr(nr)) && (fd in kind) ? kind[fd] : ""
            if (k == "client" && wr(nr)) { cw++; recs += (nr == 20 && p == "bigstep") ? hex(a[3]) : 1 }
            else if (k == "client" && rd(nr)) cr++
            else if (k == "backend" && wr(nr)) bw++
            else if (k == "backend" && rd(nr)) br++
            else if (nr == 232 || nr == 281) ep++
            else { other++; others[nr]++ }
            next
        }
        / raw_syscalls:sys_exit:/ {
            tid = $1
            if (!(tid in pending)) next
            nr = pending[tid]; fd = pfd[tid]; delete pending[tid]
            ret = $NF + 0
            k = (fd in kind) ? kind[fd] : ""
            if (k == "" || !(rd(nr) || wr(nr))) next
            if (ret == -11) { if (rd(nr)) eag[k]++; next }
            if (ret > 0) { if (rd(nr)) rbytes[k] += ret; else wbytes[k] += ret }
            next
        }
        / context-switches:/ { cs++; next }
        / sched:sched_waking:/ {
            wakes++
            # The backend is the only other nginx (nginx as the proxy is one process).
            if ($0 ~ / comm=nginx /) wb++; else if ($0 ~ / comm=h2load /) wl++
            next
        }
        / net:net_dev_xmit:/ { pkts++; next }
        END {
            printf "%-8s %-6s %6.2f %6.3f %6.3f %6.3f %6s %6.0f %6.0f %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %6.3f %7.2f %7.2f\n",
                p, t, sys / n, cr / n, eag["client"] / n, cw / n, (tls ? sprintf("%.3f", recs / n) : "-"),
                (cr > eag["client"] ? rbytes["client"] / (cr - eag["client"]) : 0),
                (cw > 0 ? wbytes["client"] / cw : 0),
                br / n, eag["backend"] / n, bw / n, ep / n, other / n, pkts / n, cs / n, wakes / n,
                du / tck * 1e6 / n, ds / tck * 1e6 / n
            printf "    wakes: of the backend %.3f, of h2load %.3f, others %.3f\n", wb / n, wl / n, (wakes - wb - wl) / n
            line = ""
            for (nr in others) if (others[nr] / n >= 0.0005)
                line = line sprintf(" %s %.4f", (nr in name) ? name[nr] : "nr" nr, others[nr] / n)
            if (line != "") print "    other:" line
        }' "$W/nr.txt" "$W/fds-$tag.txt" "$W/events-$tag.txt"
    [ "${KEEP:-0}" = 1 ] || rm -f "$W/perf-$tag.data" "$W/events-$tag.txt"
}

for test in $TESTS; do
    for round in $(seq 1 "$ROUNDS"); do
        for proxy in $PROXIES; do
            run_one "$proxy" "$test" "$round"
        done
    done
done
echo "# load average at end: $(loadavg)"
