#!/usr/bin/env bash
# TLS and HTTP/2 at the edge: bigstep balance vs HAProxy vs nginx, each one
# thread, terminating TLS with the same ECDSA P-256 certificate in front of one
# shared plain-HTTP nginx backend, all on loopback.
#
#   bench/tls.sh            # 3 interleaved rounds of 6 s per test (~5 min)
#   bench/tls.sh --quick    # smoke check: 1 round of 2 s, 200 idle connections
#
# Environment:
#   BIGSTEP_BIN=path   use this binary instead of building (default: cargo build --release)
#   ROUNDS=N DURATION=Ns   load shape (default 3, 6s)
#   HS_CLIENTS=N       parallel `openssl s_time` clients in the handshake tests (default 2)
#   CONNS=N            wrk connections for HTTP/1.1 keep-alive over TLS (default 64)
#   H2_CONNS=N H2_STREAMS=N   h2load -c / -m for HTTP/2 over TLS (default 8, 10)
#   IDLE_CONNS=N       idle TLS keep-alive connections for the RSS test (default 2000)
#   PIN=1              servers measured on the last core, clients on the others (bench/lib.sh)
#   BASE_PORT=N        first of the 5 ports used (default 18680)
#   KEEP=1             keep the temp dir (certificate, configs, raw output) after exit
#   TESTS="h2-tls ..."  only these of hs-new hs-reuse h1-tls h2-tls idle (default all)
#   H2_ENGINE=bigstep  bigstep's HTTP/2 engine ([balance.http2] engine: bigstep or hyper)
#
# What it measures (see BENCHMARKS.md "## TLS and HTTP/2 at the edge"):
#   hs-new     TLS 1.3 full handshakes: `openssl s_time -new -tls1_3 -www /`, a new TCP
#              connection and a new TLS session for each HTTP/1.0 GET (the proxy closes
#              after the answer); resumption is never attempted by the client
#   hs-reuse   the same with `-reuse`: every connection after the first resumes the
#              session by TLS 1.3 ticket/PSK (s_time prints 'r' per resumed connection;
#              the script counts them and reports the share)
#   h1-tls     HTTP/1.1 keep-alive over TLS: wrk -t1 -cCONNS https://
#   h2-tls     HTTP/2 over TLS (ALPN h2): h2load -t1 -cH2_CONNS -mH2_STREAMS -D DURATION
#   idle       RSS (VmRSS) before/after IDLE_CONNS idle TLS keep-alive connections,
#              each having made one HTTP/1.1 request (bench/frontdoor/idle.py --tls)
# Each load figure is requests (or handshakes) per proxy CPU-second: utime+stime of
# all proxy threads and processes from /proc/PID/stat before/after each run. The
# machine has 2 cores shared by the clients, the backend and the proxy, so absolute
# rates are capped by the machine; compare the per-CPU-second medians. Each h2-tls
# run also prints the proxy's user/sys ticks, its minor page faults, and the VM's
# steal ticks over the run (time the hypervisor gave the vCPUs to other guests: a
# round with much of it was measured on a slower machine).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
bench_args "$@"
if [ "$QUICK" = 1 ]; then
    ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-2s}; IDLE_CONNS=${IDLE_CONNS:-200}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6s}
HS_CLIENTS=${HS_CLIENTS:-2}
CONNS=${CONNS:-64}
H2_CONNS=${H2_CONNS:-8}
H2_STREAMS=${H2_STREAMS:-10}
IDLE_CONNS=${IDLE_CONNS:-2000}
BASE_PORT=${BASE_PORT:-18680}
BACKEND_PORT=$BASE_PORT
BIGSTEP_PLAIN_PORT=$((BASE_PORT + 1))
BIGSTEP_PORT=$((BASE_PORT + 2))
HAPROXY_PORT=$((BASE_PORT + 3))
NGINX_PORT=$((BASE_PORT + 4))
PROXIES=(bigstep haproxy nginx)
SECS=${DURATION%s}

here=$(cd "$(dirname "$0")" && pwd)

bench_require openssl wrk h2load haproxy nginx curl python3   # h2load: apt-get install -y nghttp2-client
bench_workdir tls
bench_bigstep
bench_pin_setup
bench_ports_free $BACKEND_PORT $BIGSTEP_PLAIN_PORT $BIGSTEP_PORT $HAPROXY_PORT $NGINX_PORT
wait_tls() { wait_url "https://127.0.0.1:$1/"; }
port_of() { case $1 in bigstep) echo $BIGSTEP_PORT ;; haproxy) echo $HAPROXY_PORT ;; nginx) echo $NGINX_PORT ;; esac; }

# ---------------------------------------------------------------- certificate
# One ECDSA P-256 key (PKCS#8) and a self-signed certificate for localhost and
# 127.0.0.1, used by all three proxies. HAProxy wants certificate and key in one file.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/key.pem" 2>/dev/null
openssl req -x509 -new -key "$W/key.pem" -out "$W/cert.pem" -days 30 -subj /CN=localhost \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' 2>/dev/null
cat "$W/cert.pem" "$W/key.pem" > "$W/haproxy.pem"
chmod 600 "$W/key.pem" "$W/haproxy.pem"

# ---------------------------------------------------------------- backend
mkdir -p "$W/nginx/logs"
bench_backend $BACKEND_PORT

# ---------------------------------------------------------------- proxies
# Every proxy: TLS 1.2+1.3, ALPN h2 + http/1.1, resumption on its default terms
# (tickets and a session cache), no access log, HTTP/1.1 keep-alive to the backend.
start_bigstep() {
    cat > "$W/bigstep.toml" <<EOF
[balance]
listen = "127.0.0.1:$BIGSTEP_PLAIN_PORT"
access_log = false
max_connections = 12000

[[balance.servers]]
address = "127.0.0.1:$BACKEND_PORT"

[balance.tls]
listen = "127.0.0.1:$BIGSTEP_PORT"
[[balance.tls.certificates]]
cert = "$W/cert.pem"
key = "$W/key.pem"

[balance.http2]
engine = "${H2_ENGINE:-bigstep}"
EOF
    RUST_LOG=warn "${ON_SERVER[@]}" "$BIGSTEP_BIN" balance --config "$W/bigstep.toml" --threads 1 > "$W/bigstep.log" 2>&1 &
    PID_bigstep=$!; PIDS+=($PID_bigstep)
    wait_tls $BIGSTEP_PORT
}

start_haproxy() {
    { haproxy_head 1 4096; cat <<EOF
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT ssl crt $W/haproxy.pem alpn h2,http/1.1
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT
EOF
    } > "$W/haproxy.cfg"
    "${ON_SERVER[@]}" haproxy -db -f "$W/haproxy.cfg" > "$W/haproxy.log" 2>&1 &
    PID_haproxy=$!; PIDS+=($PID_haproxy)
    wait_tls $HAPROXY_PORT
}

start_nginx() {
    nginx_proxy_conf 1 "127.0.0.1:$NGINX_PORT ssl http2 backlog=4096" \
        "ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m;" \
        "ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;" > "$W/nginx/nginx.conf"
    "${ON_SERVER[@]}" nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" &
    PID_nginx=$!; PIDS+=($PID_nginx)
    wait_tls $NGINX_PORT
}

start_bigstep
start_haproxy
start_nginx

# Each proxy must really speak what is measured: TLS 1.3 with the P-256 certificate, h2 by ALPN.
for p in "${PROXIES[@]}"; do
    # (an h2 server's SETTINGS frame follows the handshake: binary, and s_client may exit non-zero)
    info=$( { echo | openssl s_client -connect "127.0.0.1:$(port_of "$p")" -servername localhost -tls1_3 -alpn h2 2>/dev/null || true; } | tr -d '\0')
    # "New, TLSv1.3" is printed at the handshake; the session block ("Protocol  : TLSv1.3")
    # only once a ticket has arrived, which s_client may not wait for under load.
    grep -Eq 'New, TLSv1.3|Protocol *: TLSv1.3' <<< "$info" || { echo "$p: no TLS 1.3" >&2; exit 1; }
    grep -q 'ALPN protocol: h2' <<< "$info" || { echo "$p: no h2 by ALPN" >&2; exit 1; }
    grep -q 'Server public key is 256 bit' <<< "$info" || { echo "$p: not the P-256 certificate" >&2; exit 1; }
done

echo "# TLS benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
bench_machine
echo "# $(openssl version | cut -d' ' -f1-2); $(h2load --version | head -1)"
echo "# $(pin_note)"
echo "# h2 engine ${H2_ENGINE:-bigstep}; rounds=$ROUNDS duration=$DURATION hs_clients=$HS_CLIENTS conns=$CONNS h2=${H2_CONNS}x$H2_STREAMS idle_conns=$IDLE_CONNS; load average at start: $(loadavg)"

RESULTS=$W/results.tsv
: > "$RESULTS"

# record TEST PROXY ROUND COUNT CPU_TICKS_BEFORE CPU_TICKS_AFTER ERRORS NOTE
record() {
    local cpu rpc
    cpu=$(cpu_seconds "$5" "$6")
    rpc=$(per_cpu_second "$4" "$cpu")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$cpu" "$rpc" "$7" "$8" >> "$RESULTS"
    printf '  %-8s %-7s r%s  %8s done  cpu %6ss  %8s per proxy CPU-s  errors %s  %s  load %s\n' \
        "$1" "$2" "$3" "$4" "$cpu" "$rpc" "$7" "$8" "$(loadavg)"
}

# openssl s_time: HS_CLIENTS in parallel, MODE -new or -reuse.
run_stime() {
    local test=$1 proxy=$2 round=$3 mode=$4
    local port; port=$(port_of "$proxy")
    local pids; pids=$(proxy_pids "$proxy")
    local c0 c1 i spids=()
    # shellcheck disable=SC2086
    c0=$(cpu_ticks $pids)
    for i in $(seq 1 "$HS_CLIENTS"); do
        "${ON_CLIENT[@]}" timeout $((SECS + 30)) openssl s_time -connect "127.0.0.1:$port" -tls1_3 "$mode" -www / -time "$SECS" \
            > "$W/stime-$test-$proxy-$round-$i.txt" 2>&1 &
        spids+=($!)
    done
    for i in "${spids[@]}"; do wait "$i" || true; done
    # shellcheck disable=SC2086
    c1=$(cpu_ticks $pids)
    local n=0 resumed=0 full=0 bytes f
    for f in "$W"/stime-"$test-$proxy-$round"-*.txt; do
        n=$((n + $(awk '/connections in .* real seconds/ {v = $1} END {print v + 0}' "$f")))
        # '*' per new session, 'r' per resumed one, on the progress lines
        resumed=$((resumed + $( { grep -E '^[*r]+$' "$f" || true; } | tr -cd 'r' | wc -c)))
        full=$((full + $( { grep -E '^[*r]+$' "$f" || true; } | tr -cd '*' | wc -c)))
        bytes=$(awk '/bytes read per connection/ {print $(NF - 4)}' "$f")
        [ "${bytes:-0}" -gt 100 ] || { echo "$proxy $test: s_time read ${bytes:-0} bytes per connection (no response?)" >&2; cat "$f" >&2; exit 1; }
    done
    record "$test" "$proxy" "$round" "$n" "$c0" "$c1" 0 "resumed $resumed new $full"
}

run_wrk() {
    local test=$1 proxy=$2 round=$3
    local port; port=$(port_of "$proxy")
    local pids; pids=$(proxy_pids "$proxy")
    local out=$W/wrk-$test-$proxy-$round.txt c0 c1
    # shellcheck disable=SC2086
    c0=$(cpu_ticks $pids)
    "${ON_CLIENT[@]}" timeout $((SECS + 30)) wrk -t1 -c"$CONNS" -d"$DURATION" "https://127.0.0.1:$port/" > "$out" 2>&1 || true
    # shellcheck disable=SC2086
    c1=$(cpu_ticks $pids)
    local reqs errs non2xx
    reqs=$(awk '/requests in/ {print $1}' "$out")
    errs=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
    record "$test" "$proxy" "$round" "${reqs:-0}" "$c0" "$c1" $(( ${errs:-0} + ${non2xx:-0} )) "$(awk '/^Requests\/sec:/ {print $2 " req/s"}' "$out")"
}

run_h2load() {
    local test=$1 proxy=$2 round=$3
    local port; port=$(port_of "$proxy")
    local pids; pids=$(proxy_pids "$proxy")
    local out=$W/h2load-$test-$proxy-$round.txt c0 c1
    local u0 s0 u1 s1 f0 f1 st0 st1
    # shellcheck disable=SC2086
    read -r u0 s0 < <(cpu_split $pids)
    # shellcheck disable=SC2086
    f0=$(minor_faults $pids)
    st0=$(steal_ticks)
    "${ON_CLIENT[@]}" timeout $((SECS + 30)) h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D"$SECS" "https://127.0.0.1:$port/" > "$out" 2>&1 || true
    # shellcheck disable=SC2086
    read -r u1 s1 < <(cpu_split $pids)
    # shellcheck disable=SC2086
    f1=$(minor_faults $pids)
    st1=$(steal_ticks)
    c0=$((u0 + s0)); c1=$((u1 + s1))
    grep -q 'Application protocol: h2' "$out" || { echo "$proxy: h2load did not negotiate h2" >&2; cat "$out" >&2; exit 1; }
    # requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout
    local ok bad
    ok=$(awk '/^requests:/ {print $8}' "$out")
    bad=$(awk '/^requests:/ {print $10 + $12}' "$out")
    record "$test" "$proxy" "$round" "${ok:-0}" "$c0" "$c1" "${bad:-0}" "$(awk '/^finished in/ {print $4, $5}' "$out" | tr -d ,) user/sys $((u1 - u0))/$((s1 - s0)) ticks, $((f1 - f0)) minor faults, $((st1 - st0)) steal"
}

# warm up: upstream pools, session caches, allocator
for p in "${PROXIES[@]}"; do
    timeout 20 wrk -t1 -c"$CONNS" -d1s "https://127.0.0.1:$(port_of "$p")/" > /dev/null 2>&1 || true
    timeout 20 h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D1 "https://127.0.0.1:$(port_of "$p")/" > /dev/null 2>&1 || true
done

TESTS=${TESTS:-hs-new hs-reuse h1-tls h2-tls idle}
for test in $TESTS; do
    [ "$test" != idle ] || continue
    echo "== $test"
    for round in $(seq 1 "$ROUNDS"); do
        for p in "${PROXIES[@]}"; do
            case $test in
                hs-new)   run_stime "$test" "$p" "$round" -new ;;
                hs-reuse) run_stime "$test" "$p" "$round" -reuse ;;
                h1-tls)   run_wrk "$test" "$p" "$round" ;;
                h2-tls)   run_h2load "$test" "$p" "$round" ;;
            esac
        done
    done
done

# ---------------------------------------------------------------- idle TLS connections
# RSS before and after IDLE_CONNS TLS keep-alive connections that each made one
# HTTP/1.1 request and now sit idle. Proxies are restarted first so the numbers do
# not carry heap from the load runs.
MEM=$W/memory.tsv
: > "$MEM"
case " $TESTS " in *" idle "*) ;; *) PROXIES=() ;; esac
[ ${#PROXIES[@]} = 0 ] || echo "== idle TLS keep-alive connections ($IDLE_CONNS)"
for p in "${PROXIES[@]}"; do
    stop_proxy "$p"
    "start_$p"
    sleep 0.5
    idle_rss "$p" "$(port_of "$p")" "$IDLE_CONNS" "$MEM" --tls
done

echo "# load average at end: $(loadavg)"

# ---------------------------------------------------------------- summary
PYTHONPATH="$here" python3 - "$RESULTS" "$MEM" <<'EOF'
import statistics
import sys
from results import load, median

rows = load(sys.argv[1])
def med(test, proxy, col):
    return median(rows, test, proxy, col)

proxies = ["bigstep", "haproxy", "nginx"]
tests = [t for t in ["hs-new", "hs-reuse", "h1-tls", "h2-tls"] if (t, "bigstep") in rows]
print()
print("## medians (per proxy CPU-second: handshakes for hs-*, requests otherwise)")
print()
print("| test | bigstep | HAProxy | nginx | bigstep/HAProxy | bigstep/nginx | errors (b/h/n) |")
print("|---|---:|---:|---:|---:|---:|---|")
for t in tests:
    b, h, n = (med(t, p, 5) for p in proxies)
    errs = "/".join(str(sum(int(r[6]) for r in rows.get((t, p), []))) for p in proxies)
    print(f"| {t} | {b:,.0f} | {h:,.0f} | {n:,.0f} | {b / h:.2f} | {b / n:.2f} | {errs} |")
# The same ratios round by round: each compares runs made seconds apart, so a
# drift of the machine over the run moves both sides of it alike.
print()
print("bigstep/HAProxy per round (per proxy CPU-second):")
for t in tests:
    by_round = {p: {r[2]: float(r[5]) for r in rows.get((t, p), [])} for p in proxies}
    ratios = [by_round["bigstep"][k] / by_round["haproxy"][k]
              for k in sorted(by_round["bigstep"], key=int) if by_round["haproxy"].get(k)]
    print(f"  {t}: " + ", ".join(f"{x:.2f}" for x in ratios)
          + f"; median {statistics.median(ratios):.2f}, below 1.0 in {sum(x < 1.0 for x in ratios)} of {len(ratios)}")
print()
idle = {}
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    idle[f[1]] = f
    ok = int(f[5])
    per = int(f[4]) * 1024 / ok if ok else float("nan")
    print(f"idle TLS: {f[1]:8} before {f[2]} KiB, with {ok} idle (failed {f[6]}) {f[3]} KiB: {per:,.0f} B per connection")
if "bigstep" in idle and "haproxy" in idle:
    per = {p: int(idle[p][4]) * 1024 / max(1, int(idle[p][5])) for p in idle}
    print(f"idle TLS memory per connection, bigstep/HAProxy: {per['bigstep'] / per['haproxy']:.2f}x (target <= 2.0)")
EOF
