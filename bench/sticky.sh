#!/usr/bin/env bash
# Cost of stickiness: bigstep balance (one worker thread) in front of two nginx
# backends, plain round robin vs the sticky modes, interleaved, same run.
#
#   bench/sticky.sh                 # 3 rounds x 4 modes x 10 s
#   ROUNDS=1 DURATION=3s bench/sticky.sh
#
# Modes: rr (round robin), cookie-stuck (every request carries a valid signed
# cookie: verify only), cookie-new (no cookie: sign + Set-Cookie every request,
# the worst case), app-cookie (hash the app's PHPSESSID on a bounded-load ring).
# Prints req/s, p99 and requests per proxy CPU-second (utime+stime from
# /proc/PID/stat) per mode, medians, and the ratio to rr.
set -euo pipefail
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
BASE=${BASE_PORT:-18580}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_args "$@"
bench_require wrk nginx curl
bench_workdir sticky
bench_bigstep

mkdir -p "$W/nginx/logs"
cat > "$W/nginx/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$((BASE)); location / { return 200 "backend one: a hundred bytes of body, give or take, to keep the response small....\n"; } }
  server { listen 127.0.0.1:$((BASE+1)); location / { return 200 "backend two: a hundred bytes of body, give or take, to keep the response small....\n"; } }
}
NGX
nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" & PIDS+=($!)

start_bigstep() { # mode -> pid
    local mode=$1 port=$((BASE+2)) sticky=""
    case "$mode" in
        cookie-*) sticky=$'[balance.sticky]\nmode = "cookie"\nkey = "bench-key-0123456789abcdef"\n' ;;
        app-cookie) sticky=$'[balance.sticky]\nmode = "app-cookie"\napp_cookie = "PHPSESSID"\n' ;;
    esac
    cat > "$W/$mode.toml" <<CFG
[balance]
listen = "127.0.0.1:$port"
access_log = false
$sticky
[[balance.servers]]
name = "one"
address = "127.0.0.1:$BASE"
[[balance.servers]]
name = "two"
address = "127.0.0.1:$((BASE+1))"
CFG
    RUST_LOG=warn "$BIGSTEP_BIN" balance --config "$W/$mode.toml" --threads 1 >/dev/null 2>&1 &
    BPID=$!; PIDS+=($BPID)
    wait_port "$port"
}
declare -A RESULTS
for round in $(seq "$ROUNDS"); do
    for mode in rr cookie-stuck cookie-new app-cookie; do
        start_bigstep "$mode"
        url="http://127.0.0.1:$((BASE+2))/"
        hdr=()
        case "$mode" in
            cookie-stuck)
                c=$(curl -si "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="set-cookie"{split($2,a,";"); print a[1]}')
                hdr=(-H "Cookie: $c") ;;
            app-cookie) hdr=(-H "Cookie: PHPSESSID=bench-session-42") ;;
        esac
        before=$(cpu_ticks "$BPID")
        out=$(wrk -t1 -c64 -d"$DURATION" --latency "${hdr[@]}" "$url")
        after=$(cpu_ticks "$BPID")
        rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
        total=$(echo "$out" | awk '/requests in/{print $1}')
        p99=$(echo "$out" | awk '$1=="99%"{print $2}')
        cpu=$(cpu_seconds "$before" "$after")
        per=$(per_cpu_second "$total" "$cpu")
        printf "round %s %-13s req/s %9s  p99 %8s  req/CPU-s %8s\n" "$round" "$mode" "$rps" "$p99" "$per"
        RESULTS[$mode]="${RESULTS[$mode]:-} $per"
        kill "$BPID"; wait "$BPID" 2>/dev/null || true
    done
done
rr=$(echo "${RESULTS[rr]}" | median)
echo
echo "median requests per proxy CPU-second (ratio to rr):"
for mode in rr cookie-stuck cookie-new app-cookie; do
    m=$(echo "${RESULTS[$mode]}" | median)
    printf "  %-13s %8s  %s\n" "$mode" "$m" "$(awk -v m="$m" -v r="$rr" 'BEGIN{printf "%.3f", m/r}')"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
