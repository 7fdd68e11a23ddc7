#!/usr/bin/env bash
# fsyncs per PUT, bigstep files, at 1 and at 16 concurrent clients: a count (from
# strace), not a speed, so it does not depend on how loaded the machine is. Shows what
# the index's group commit saves: PUTs that arrive together share one commit.
#
#   BIGSTEP_BIN=path bench/files_put_fsync.sh
#
# Environment:
#   BIGSTEP_BIN=path   the binary to measure (default: cargo build --release)
#   DURATION=Ns        each load's length (default 5s)
#   BASE_PORT=n        the port used (default 18990)
#
# The server runs under `strace -f -c` (fsync, fdatasync and sync_file_range counted
# over every thread); wrk -t1 -cC PUTs 64 KiB bodies to presigned URLs (16 distinct
# keys) for DURATION; the script divides the calls by wrk's completed requests.
# One line per concurrency.
set -euo pipefail

DURATION=${DURATION:-5s}
PORT=${BASE_PORT:-18990}
ACCESS=BENCHACCESSKEY000001
SECRET=bench-secret-key-0123456789abcdefghijklm
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_args "$@"
bench_require strace wrk python3 curl
bench_workdir files-fsync
bench_bigstep
PID=

start() {
    "$@" "$BIGSTEP_BIN" files --port "$PORT" --dir "$W/data" --access-key "$ACCESS" \
        --secret-key "$SECRET" >"$W/server.log" 2>&1 &
    PID=$!; PIDS+=($PID)
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && return; sleep 0.1; done
    echo "server did not start" >&2; exit 1
}
# Stops the server: under strace, the traced child (strace then prints its counts
# and exits; a signal to strace itself would detach and leave the server running).
stop() {
    local child
    child=$(pgrep -P "$PID" || true)
    kill -TERM "${child:-$PID}"
    wait "$PID" 2>/dev/null || true
    PID=
}

# The bucket, and presigned PUT URLs (files_setup.py writes put-bigstep-64k.lua).
start
python3 "$here/files_setup.py" "http://127.0.0.1:$PORT" "$ACCESS" "$SECRET" "$W" 16 >/dev/null
stop

echo "# files PUT fsyncs, $(date -u +%FT%TZ), $BIGSTEP_BIN, 64 KiB bodies, wrk -t1, $DURATION, load $(cut -d' ' -f1-3 /proc/loadavg)"
for c in 1 16; do
    start strace -f -c -e trace=fsync,fdatasync,sync_file_range -o "$W/strace.$c"
    wrk -t1 -c"$c" -d"$DURATION" -s "$W/put-bigstep-64k.lua" "http://127.0.0.1:$PORT" >"$W/wrk.$c"
    stop
    puts=$(awk '/requests in/ {print $1}' "$W/wrk.$c")
    bad=$(awk '/Non-2xx/ {print $NF}' "$W/wrk.$c")
    syncs=$(awk '$NF ~ /^(fsync|fdatasync|sync_file_range)$/ {n += $4} END {print n + 0}' "$W/strace.$c")
    echo "clients $c: $puts PUTs (non-2xx: ${bad:-0}), $syncs fsync-family calls, $(python3 -c "print(f'{$syncs/$puts:.2f}')") per PUT"
done
