#!/usr/bin/env bash
# HTTP/2 CPU per request, counted: instructions the proxy process executes per
# proxied HTTP/2 request under valgrind's callgrind, for bigstep balance,
# HAProxy and nginx, one thread each, in front of one nginx backend on
# loopback (HTTP/1.1 keep-alive to it). The HTTP/2 companion of
# bench/frontdoor-callgrind.sh: instruction counts do not depend on the
# machine's load, so they compare builds where bench/tls.sh's wall-clock
# figures on a shared machine cannot.
#
#   bench/h2-callgrind.sh
#
# Environment:
#   BIGSTEP_BIN=path   the binary (default: cargo build --release)
#   H2_ENGINE=bigstep  bigstep's HTTP/2 engine ([balance.http2] engine):
#                      bigstep (our own h2wire, the default) or hyper (the h2 crate)
#   N=20000            requests counted (h2load -c8 -m10: an exact count)
#   TESTS="h2c h2-tls" h2c: prior knowledge on plain TCP; h2-tls: ALPN h2 over
#                      TLS 1.3 (ECDSA P-256, as bench/tls.sh; the 8 handshakes
#                      are counted too, a few hundred Ir per request)
#   PROXIES="bigstep haproxy nginx"
#   TOP=25             functions listed per run (callgrind_annotate, exclusive)
#   BASE_PORT=18680    first of the 4 ports used
#   KEEP=1             keep the temp dir (callgrind outputs: read them with
#                      callgrind_annotate --inclusive=yes)
#
# Each proxy is started under callgrind, warmed up (upstream pool, allocator),
# its counters zeroed (callgrind_control -z), then the requests are sent
# (8 connections, 10 streams each) and the counters dumped
# (callgrind_control -d). Ir per request = the dump's total / N.
set -euo pipefail

N=${N:-20000}
H2_ENGINE=${H2_ENGINE:-bigstep}
TESTS=${TESTS:-"h2c h2-tls"}
PROXIES=${PROXIES:-"bigstep haproxy nginx"}
TOP=${TOP:-25}
BASE_PORT=${BASE_PORT:-18680}

here=$(cd "$(dirname "$0")" && pwd)

. "$here/lib.sh"
bench_args "$@"
bench_require valgrind callgrind_control callgrind_annotate h2load nginx haproxy curl openssl
KILL_GRACE=0.5
bench_workdir h2-callgrind
bench_bigstep
h2_ports "$BASE_PORT"
bench_ports_free $(seq "$BASE_PORT" $((BASE_PORT + 6)))

WAIT_TRIES=600
bench_backend $BACKEND_PORT

h2_proxies_setup

echo "# HTTP/2 callgrind $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(loadavg)"
echo "# bigstep $BIGSTEP_BIN; $(haproxy -v | head -1 | cut -d' ' -f1-3); nginx $(nginx -v 2>&1 | cut -d/ -f2); $(h2load --version | head -1); N=$N"

# run_one PROXY TEST: start PROXY under callgrind, warm up, count TEST's requests.
run_one() {
    local proxy=$1 test=$2 out
    out=$W/cg-$proxy-$test
    h2_start "$proxy" "$test" valgrind --tool=callgrind --callgrind-out-file="$out.%p"
    # Warm up: the upstream pool, buffer pools, the allocator.
    h2load -n 4000 -c 8 -m 10 "$H2_URL" > /dev/null 2>&1
    callgrind_control -z "$H2_PID" > /dev/null
    h2load -n "$N" -c 8 -m 10 "$H2_URL" > "$W/load-$proxy-$test.txt" 2>&1
    h2_check_load "$W/load-$proxy-$test.txt" "$N" "$proxy" "$test"
    callgrind_control -d "$H2_PID" > /dev/null
    kill "$H2_PID"
    wait "$H2_PID" 2>/dev/null || true
    cg_report "$out" "$proxy" "$test" "$N"
}

for test in $TESTS; do
    for proxy in $PROXIES; do
        run_one "$proxy" "$test"
    done
done
echo "# load average at end: $(loadavg)"
