# Shared setup of the bench scripts (sourced, not run): tools, a work dir
# whose processes are killed on exit, the bigstep binary, CPU and load readings.
#
#   . "$(dirname "$0")/lib.sh"
#   bench_require wrk nginx curl
#   bench_workdir routes          # sets W, PIDS, the cleanup trap
#   bench_bigstep                 # sets BIGSTEP_BIN (builds it unless given)

bench_require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y $tool)" >&2; exit 1; }
    done
}

# A temp dir W; every PID appended to PIDS is killed on exit (TERM, then KILL
# after KILL_GRACE seconds, 0.3 unless the script sets it).
bench_workdir() {
    W=$(mktemp -d "/tmp/$1-bench.XXXXXX"); chmod 755 "$W"
    PIDS=()
    trap bench_cleanup EXIT; trap 'exit 130' INT TERM
}

bench_cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep "${KILL_GRACE:-0.3}"
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}

# BIGSTEP_BIN, or a release build of this checkout.
bench_bigstep() {
    if [ -z "${BIGSTEP_BIN:-}" ]; then
        export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-bench}
        (cd "$(dirname "${BASH_SOURCE[0]}")/.." && cargo build --release -p bigstep -j2)
        BIGSTEP_BIN=$CARGO_TARGET_DIR/release/bigstep
    fi
}

# utime+stime, in clock ticks, of all the PIDs given.
cpu_ticks() {
    local total=0 p t
    for p in "$@"; do
        t=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
        total=$((total + t))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
