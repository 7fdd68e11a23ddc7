#!/usr/bin/env bash
# The two figures of `bigstep up` (issue 12), on the built-in demo with 3 instances:
#
# 1. Time from `bigstep up` to every instance ready: the line `up` prints
#    ("bigstep up: 3 instances ready 0.42 s after start"), STARTS runs.
# 2. Failed requests in a bounded wrk run (DURATION) against the front door while
#    one instance is killed with SIGKILL, one added (`bigstep ctl add`) and one
#    drained (`bigstep ctl drain`). Failures = wrk's non-2xx responses + socket
#    errors. The front door's own retries of idempotent requests count as
#    success (bigstep_retries_total says how many there were); wrk never retries.
#
#   bench/up.sh                          # 5 starts, 12 s of load
#   STARTS=3 DURATION=8s bench/up.sh
#   BIGSTEP_BIN=/tmp/target-up/debug/bigstep bench/up.sh    # no build
#
# Every port is 0 (read back from the banner); nothing is kept (--ephemeral);
# everything started here is stopped on exit.
set -euo pipefail
STARTS=${STARTS:-5}
DURATION=${DURATION:-12s}
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/.." && pwd)
. "$here/lib.sh"
bench_args "$@"
bench_require wrk curl
bench_workdir up
bench_bigstep

# Start `bigstep up` (demo, 3 instances) with its log in $W/up.log; sets UP,
# FRONT (host:port) and ADMIN (host:port) once the banner is complete.
start_up() {
    : > "$W/up.log"
    TMPDIR=$W RUST_LOG=warn "$BIGSTEP_BIN" up -n 3 --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
        --state-port 0 --files-port 0 --ephemeral >"$W/up.log" 2>&1 &
    UP=$!; PIDS+=($UP)
    for _ in $(seq 600); do
        grep -q '^Open http://' "$W/up.log" && break
        kill -0 "$UP" 2>/dev/null || { cat "$W/up.log" >&2; exit 1; }
        sleep 0.05
    done
    grep -q '^Open http://' "$W/up.log" || { echo "no banner in 30 s" >&2; cat "$W/up.log" >&2; exit 1; }
    FRONT=$(sed -n 's|^bigstep up: front door on http://\([^ ]*\).*|\1|p' "$W/up.log")
    ADMIN=$(sed -n 's|^bigstep up: dashboard on http://\([^ ]*\).*|\1|p' "$W/up.log")
}
stop_up() {
    kill -INT "$UP"; wait "$UP" || true; UP=""
}
ctl() { "$BIGSTEP_BIN" ctl --admin "$ADMIN" "$@"; }

echo "load at start: $(uptime)"
echo "binary: $BIGSTEP_BIN"
echo "commit: $(cd "$repo" && git rev-parse --short HEAD)$(cd "$repo" && git diff --quiet || echo '+changes')"

echo "== 1. bigstep up -n 3 (demo) to every instance ready, $STARTS starts"
for i in $(seq "$STARTS"); do
    start_up
    grep 'instances ready' "$W/up.log"
    stop_up
done

echo "== 2. wrk -t2 -c8 -d$DURATION ('/' and /api/whoami in turn) while app-2 is killed (-9), one instance added, app-1 drained"
start_up
cat > "$W/paths.lua" <<'LUA'
local paths = { "/", "/api/whoami" }
local i = 0
request = function()
    i = i + 1
    return wrk.format("GET", paths[i % 2 + 1])
end
LUA
secs=${DURATION%s}
wrk -t2 -c8 -d"$DURATION" -s "$W/paths.lua" "http://$FRONT/" >"$W/wrk.txt" 2>&1 &
WRK=$!
step=$(( secs / 4 ))
sleep "$step"
victim=$(ctl ls | awk '$1=="app-2"{print $9}')
echo "t=${step}s: kill -9 app-2 (pid $victim)"; kill -9 "$victim"
sleep "$step"
echo "t=$((2*step))s: $(ctl add)"
sleep "$step"
echo "t=$((3*step))s: $(ctl drain app-1)"
wait "$WRK"
cat "$W/wrk.txt"
ls=$(ctl ls); echo "$ls"
now=$(echo "$ls" | awk '$1=="app-2"{print $9}')
[ "$now" != "$victim" ] && echo "app-2 restarted by the supervisor: pid $victim -> $now"
retries=$(curl -s "http://$ADMIN/metrics" | awk '/^bigstep_retries_total/{s+=$NF} END{print s+0}')
requests=$(awk '/requests in/{print $1}' "$W/wrk.txt")
non2xx=$(awk '/Non-2xx/{print $NF}' "$W/wrk.txt"); non2xx=${non2xx:-0}
sockerr=$(awk -F'[ ,]+' '/Socket errors/{print $4+$6+$8+$10}' "$W/wrk.txt"); sockerr=${sockerr:-0}
stop_up
echo "requests $requests, failed $((non2xx + sockerr)) (non-2xx $non2xx, socket errors $sockerr), retried by the front door $retries"
echo "load at end: $(uptime)"
