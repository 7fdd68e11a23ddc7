#!/usr/bin/env bash
# Run cargo-fuzz targets for a bounded time each, seeded by the committed corpus
# (fuzz/corpus/<target>, never written to: new inputs go to a scratch dir).
# A crash stops the script non-zero and leaves its input in fuzz/artifacts/.
#
#   bench/fuzz.sh                 # every target, 60 s each
#   bench/fuzz.sh 90 h1_request   # one target, 90 s
#   bench/fuzz.sh 60 sigv4        # the files fast path's SigV4 checks
#
# Needs a nightly toolchain and cargo-fuzz. Environment: FUZZ_TARGET_DIR (the
# cargo target dir for the instrumented build; default fuzz/target);
# FUZZ_FEATURES (build only these crates, e.g. `h2wire`: far quicker than the
# default of every target's crate).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,13p' "$0"; exit 0 ;; esac
secs=${1:-60}
shift || true
cd "$(dirname "$0")/../fuzz"
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t" "corpus/$t"
    echo "== $t: ${secs}s"
    set +e
    cargo +nightly fuzz run ${FUZZ_TARGET_DIR:+--target-dir "$FUZZ_TARGET_DIR"} \
        ${FUZZ_FEATURES:+--no-default-features --features "$FUZZ_FEATURES"} "$t" \
        "$scratch/$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 2>&1 \
        | grep -E '^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|.*panicked)'
    status=${PIPESTATUS[0]}
    set -e
    [ "$status" -eq 0 ] || { echo "$t: crashed (input in fuzz/artifacts/$t)"; exit 1; }
done
