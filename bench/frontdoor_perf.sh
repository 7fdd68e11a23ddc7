#!/usr/bin/env bash
# Where each front door's CPU time goes, sampled: `perf record -e cpu-clock`
# (an hrtimer, so it works on VMs without PMU counters) of bigstep balance,
# HAProxy and nginx over the same keep-alive wrk run, then the kernel's and
# user space's time per request and their top functions. Callgrind
# (bench/frontdoor-callgrind.sh) counts user-space instructions only; about
# three quarters of each proxy's CPU here is the kernel's, and this shows
# which kernel paths one proxy takes more than another (wakeups, epoll,
# timers, page faults, scheduling).
#
#   BIGSTEP_BIN=path bench/frontdoor_perf.sh
#
# Environment:
#   BIGSTEP_BIN=path    the binary (default: cargo build --release)
#   PROXIES="bigstep haproxy nginx"
#   DURATION=10s CONNS=64   the wrk run (-t1, keep-alive, ~100-byte responses)
#   PERIOD=50000        nanoseconds of CPU time per sample (perf -c)
#   TOP=20              functions listed per side (kernel, user)
#   BASE_PORT=18680     first of the 4 ports used
#   KEEP=1              keep the temp dir (perf.data files, for perf report)
#
# Printed per proxy: requests, samples, kernel and user microseconds per
# request (samples x PERIOD / requests), context switches per request, then
# the top kernel and user functions by self time (ns per request). On a loaded
# machine compare shares, not times. Needs perf and root or
# kernel.perf_event_paranoid <= 1.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
bench_args "$@"
PROXIES_RUN=${PROXIES:-"bigstep haproxy nginx"}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
PERIOD=${PERIOD:-50000}
TOP=${TOP:-20}
BASE_PORT=${BASE_PORT:-18680}
BACKEND_PORT=$BASE_PORT
BIGSTEP_PORT=$((BASE_PORT + 1))
HAPROXY_PORT=$((BASE_PORT + 2))
NGINX_PORT=$((BASE_PORT + 3))

bench_require perf wrk haproxy nginx curl
bench_workdir frontdoor-perf
bench_ports_free $BACKEND_PORT $BIGSTEP_PORT $HAPROXY_PORT $NGINX_PORT
case " $PROXIES_RUN " in *" bigstep "*) bench_bigstep ;; esac
bench_backend $BACKEND_PORT

start_proxy() {
    case $1 in
        bigstep)
            printf '[balance]\nlisten = "127.0.0.1:%s"\naccess_log = false\n[[balance.servers]]\naddress = "127.0.0.1:%s"\n' \
                $BIGSTEP_PORT $BACKEND_PORT > "$W/bigstep.toml"
            RUST_LOG=warn "$BIGSTEP_BIN" balance --config "$W/bigstep.toml" --threads 1 > "$W/bigstep.log" 2>&1 &
            PID_bigstep=$!; PIDS+=($!); PORT=$BIGSTEP_PORT ;;
        haproxy)
            { haproxy_head 1 4096; printf 'frontend fe\n    bind 127.0.0.1:%s\n    default_backend be\nbackend be\n    server s1 127.0.0.1:%s\n' \
                $HAPROXY_PORT $BACKEND_PORT; } > "$W/haproxy.cfg"
            haproxy -db -f "$W/haproxy.cfg" > "$W/haproxy.log" 2>&1 &
            PID_haproxy=$!; PIDS+=($!); PORT=$HAPROXY_PORT ;;
        nginx)
            mkdir -p "$W/nginx"   # the redirection opens the file before nginx_proxy_conf runs
            nginx_proxy_conf 1 "127.0.0.1:$NGINX_PORT backlog=4096" > "$W/nginx/nginx.conf"
            nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" &
            PID_nginx=$!; PIDS+=($!); PORT=$NGINX_PORT ;;
    esac
    wait_port "$PORT"
}

echo "# front door perf $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(loadavg)"
bench_machine
echo "# perf record -e cpu-clock -c $PERIOD during wrk -t1 -c$CONNS -d$DURATION (keep-alive, 100-byte body), one proxy thread each"
for p in $PROXIES_RUN; do
    start_proxy "$p"
    pids=$(proxy_pids "$p")
    # Warm up: connections to the backend opened, caches filled.
    wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PORT/" >/dev/null 2>&1 || true
    data=$W/perf-$p.data
    # shellcheck disable=SC2086
    read -r v0 n0 < <(ctx_switches $pids)
    perf record -q -e cpu-clock -c "$PERIOD" -p "$(echo $pids | tr ' ' ,)" -o "$data" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.3
    wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$PORT/" > "$W/wrk-$p.txt" 2>&1 || true
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    # shellcheck disable=SC2086
    read -r v1 n1 < <(ctx_switches $pids)
    reqs=$(awk '/requests in/ {print $1}' "$W/wrk-$p.txt")
    perf_samples "$data" > "$W/samples-$p.txt"
    awk -F'\t' -v p="$p" -v n="$reqs" -v f="$PERIOD" -v vc=$((v1 - v0)) -v ic=$((n1 - n0)) '
        { all++; if ($1 == "k") k++; else u++ }
        END {
            printf "%-8s requests %8d  samples %6d  kernel %6.3f us/req (%4.1f %%)  user %6.3f us/req  ctx switches/req: voluntary %.3f involuntary %.3f\n",
                p, n, all, k * f / n / 1000, 100 * k / all, u * f / n / 1000, vc / n, ic / n
        }' "$W/samples-$p.txt"
    for side in k u; do
        total=$(grep -c "^$side" "$W/samples-$p.txt" || true)
        grep "^$side" "$W/samples-$p.txt" | cut -f2 | sort | uniq -c | sort -rn > "$W/top-$p-$side.txt" || true
        echo "  $( [ "$side" = k ] && echo kernel || echo user) (ns per request, share of that side):"
        awk -v n="$reqs" -v f="$PERIOD" -v tot="$total" -v top="$TOP" 'NR <= top {
                c = $1; sub(/^ *[0-9]+ /, "")
                printf "    %7.1f ns  %5.1f %%  %s\n", c * f / n, 100 * c / tot, substr($0, 1, 100) }' "$W/top-$p-$side.txt"
    done
    stop_proxy "$p"
done
echo "# load average at end: $(loadavg)"
