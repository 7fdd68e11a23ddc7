#!/usr/bin/env bash
# Instructions per request spent by the h2wire crate (HPACK and the HTTP/2
# connection state machine), counted under valgrind's callgrind with only the
# measured loop collected (crates/h2wire/examples/hpack_cost.rs). No network:
# the client side's bytes are prepared before the counted part.
#
#   bench/h2wire-callgrind.sh            # every mode, N=10000
#   N=20000 MODES="conn-h2load" bench/h2wire-callgrind.sh
#
# Compare with bench/h2-callgrind.sh's breakdown of the h2 crate + hyper per
# request (BENCHMARKS.md, "HTTP/2 to clients, counted").
set -euo pipefail
N=${N:-10000}
MODES=${MODES:-"decode-h2load decode-chromium encode-response conn-h2load"}
cd "$(dirname "$0")/.."
cargo build --release -p h2wire --example hpack_cost -q
bin=${CARGO_TARGET_DIR:-target}/release/examples/hpack_cost
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for mode in $MODES; do
    valgrind --tool=callgrind --callgrind-out-file="$tmp/$mode.out" \
        --toggle-collect='hpack_cost::measured_*' "$bin" "$mode" "$N" >/dev/null 2>"$tmp/$mode.err" \
        || { cat "$tmp/$mode.err"; exit 1; }
    total=$(callgrind_annotate "$tmp/$mode.out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
    echo "$mode: $((total / N)) instructions per request (N=$N, total $total)"
done
