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
BACKEND_PORT=$BASE_PORT
BIGSTEP_PORT=$((BASE_PORT + 1))
BIGSTEP_TLS_PORT=$((BASE_PORT + 2))
HAPROXY_PORT=$((BASE_PORT + 3))
HAPROXY_TLS_PORT=$((BASE_PORT + 4))
NGINX_PORT=$((BASE_PORT + 5))
NGINX_TLS_PORT=$((BASE_PORT + 6))

here=$(cd "$(dirname "$0")" && pwd)

. "$here/lib.sh"
bench_args "$@"
bench_require valgrind callgrind_control callgrind_annotate h2load nginx haproxy curl openssl
KILL_GRACE=0.5
bench_workdir h2-callgrind
bench_bigstep
bench_ports_free $(seq "$BASE_PORT" $((BASE_PORT + 6)))

WAIT_TRIES=600
bench_backend $BACKEND_PORT

# One ECDSA P-256 certificate for all three, as in bench/tls.sh.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/key.pem" 2>/dev/null
openssl req -x509 -new -key "$W/key.pem" -out "$W/cert.pem" -days 30 -subj /CN=localhost \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' 2>/dev/null
cat "$W/cert.pem" "$W/key.pem" > "$W/haproxy.pem"
chmod 600 "$W/key.pem" "$W/haproxy.pem"

# h2c with prior knowledge on the plain port (bigstep's default), h2 by ALPN on the TLS port.
cat > "$W/bigstep.toml" <<EOF
[balance]
listen = "127.0.0.1:$BIGSTEP_PORT"
access_log = false

[[balance.servers]]
address = "127.0.0.1:$BACKEND_PORT"

[balance.http2]
engine = "$H2_ENGINE"

[balance.tls]
listen = "127.0.0.1:$BIGSTEP_TLS_PORT"
# The plain port serves h2c here, instead of redirecting to HTTPS.
redirect_http = false
[[balance.tls.certificates]]
cert = "$W/cert.pem"
key = "$W/key.pem"
EOF
{ haproxy_head 1 4096; cat <<EOF
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT proto h2
    bind 127.0.0.1:$HAPROXY_TLS_PORT ssl crt $W/haproxy.pem alpn h2,http/1.1
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT
EOF
} > "$W/haproxy.cfg"
# nginx as one process (no master), so callgrind sees the worker's instructions.
mkdir -p "$W/nginx/logs"
nginx_proxy_conf 1 "127.0.0.1:$NGINX_PORT http2; listen 127.0.0.1:$NGINX_TLS_PORT ssl http2" \
    "ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m;" \
    "ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;" \
    | sed 's/^daemon off;/daemon off;\nmaster_process off;/' > "$W/nginx/nginx.conf"

echo "# HTTP/2 callgrind $(date -u +%Y-%m-%dT%H:%M:%SZ); load average $(loadavg)"
echo "# bigstep $BIGSTEP_BIN; $(haproxy -v | head -1 | cut -d' ' -f1-3); nginx $(nginx -v 2>&1 | cut -d/ -f2); $(h2load --version | head -1); N=$N"

# run_one PROXY TEST: start PROXY under callgrind, warm up, count TEST's requests.
run_one() {
    local proxy=$1 test=$2 port url out
    out=$W/cg-$proxy-$test
    case $proxy in
        bigstep)
            port=$BIGSTEP_PORT; [ "$test" = h2-tls ] && port=$BIGSTEP_TLS_PORT
            RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
                "$BIGSTEP_BIN" balance --config "$W/bigstep.toml" --threads 1 > "$W/$proxy-$test.log" 2>&1 &
            ;;
        haproxy)
            port=$HAPROXY_PORT; [ "$test" = h2-tls ] && port=$HAPROXY_TLS_PORT
            valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
                haproxy -db -f "$W/haproxy.cfg" > "$W/$proxy-$test.log" 2>&1 &
            ;;
        nginx)
            port=$NGINX_PORT; [ "$test" = h2-tls ] && port=$NGINX_TLS_PORT
            valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
                nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" > "$W/$proxy-$test.log" 2>&1 &
            ;;
    esac
    local pid=$!
    PIDS+=($pid)
    if [ "$test" = h2-tls ]; then
        url=https://127.0.0.1:$port/
    else
        url=http://127.0.0.1:$port/
    fi
    # h2c with prior knowledge: curl's --http2-prior-knowledge (the port speaks nothing else on haproxy/nginx).
    wait_url "$url" --http2-prior-knowledge
    # Warm up: the upstream pool, buffer pools, the allocator.
    h2load -n 4000 -c 8 -m 10 "$url" > /dev/null 2>&1
    callgrind_control -z "$pid" > /dev/null
    h2load -n "$N" -c 8 -m 10 "$url" > "$W/load-$proxy-$test.txt" 2>&1
    grep -q "requests: $N total, $N started, $N done, $N succeeded" "$W/load-$proxy-$test.txt" \
        || { echo "  $proxy $test: not every request succeeded:" >&2; grep -E "requests:|status codes|Application" "$W/load-$proxy-$test.txt" >&2; }
    if [ "$test" = h2-tls ]; then
        grep -q 'Application protocol: h2' "$W/load-$proxy-$test.txt" || echo "  $proxy $test: no h2 by ALPN" >&2
    fi
    callgrind_control -d "$pid" > /dev/null
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    cg_report "$out" "$proxy" "$test" "$N"
}

for test in $TESTS; do
    for proxy in $PROXIES; do
        run_one "$proxy" "$test"
    done
done
echo "# load average at end: $(loadavg)"
