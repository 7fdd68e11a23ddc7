# Shared setup of the bench scripts (sourced, not run): tools, a work dir
# whose processes are killed on exit, the bigstep binary, CPU and load readings.
#
#   . "$(dirname "$0")/lib.sh"
#   bench_require wrk nginx curl
#   bench_workdir routes          # sets W, PIDS, the cleanup trap
#   bench_bigstep                 # sets BIGSTEP_BIN (builds it unless given)

# bench_args "$@": --quick sets QUICK=1; --help prints the script's header comment.
bench_args() {
    QUICK=0
    local arg
    for arg in "$@"; do
        case "$arg" in
            --quick) QUICK=1 ;;
            -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
            *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
        esac
    done
}

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
    [ -x "$BIGSTEP_BIN" ] || { echo "no binary at $BIGSTEP_BIN" >&2; exit 1; }
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

# Exits unless every port given is free on 127.0.0.1.
bench_ports_free() {
    local port
    for port in "$@"; do
        if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
            echo "port $port is in use; set BASE_PORT" >&2; exit 1
        fi
    done
}

# wait_url URL [curl args...]: until it answers (WAIT_TRIES tenths of a second, 100
# unless set), else exit.
wait_url() {
    local url=$1 i
    shift
    for i in $(seq 1 "${WAIT_TRIES:-100}"); do
        curl -sk -o /dev/null --max-time 1 "$@" "$url" && return 0
        sleep 0.1
    done
    echo "nothing answering at $url" >&2; exit 1
}
wait_port() { local port=$1; shift; wait_url "http://127.0.0.1:$port/" "$@"; }

# bench_backend PORT [SERVER_LINES]: the shared backend, nginx with one worker on
# PORT under $W/backend, keep-alive without limits, answering every path with a
# 100-byte body; SERVER_LINES (more `location`s, a root) go inside its server block.
BODY100=$(printf 'x%.0s' $(seq 1 99))   # 99 bytes + newline
bench_backend() {
    mkdir -p "$W/backend/logs"
    cat > "$W/backend/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $W/backend/nginx.pid;
error_log $W/backend/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    default_type text/plain;
    server {
        listen 127.0.0.1:$1 backlog=4096;
        location / { return 200 "$BODY100\n"; }
        ${2:-}
    }
}
CONF
    "${ON_CLIENT[@]}" nginx -p "$W/backend" -c "$W/backend/nginx.conf" &
    PIDS+=($!)
    wait_port "$1"
}

# The PIDs whose CPU and memory count for proxy NAME (PID_NAME; nginx: its workers too).
proxy_pids() {
    local var=PID_$1
    echo "${!var}"
    if [ "$1" = nginx ]; then pgrep -P "${!var}" || true; fi
}
stop_proxy() {
    local var=PID_$1
    kill "${!var}" 2>/dev/null || true
    wait "${!var}" 2>/dev/null || true
}

# Memory of PIDs, KiB: resident now, peak since reset_hwm.
rss_sum() { local s=0 p; for p in "$@"; do s=$((s + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status"))); done; echo "$s"; }
hwm_sum() { local s=0 p; for p in "$@"; do s=$((s + $(awk '/^VmHWM:/ {print $2}' "/proc/$p/status"))); done; echo "$s"; }
reset_hwm() { local p; for p in "$@"; do echo 5 > "/proc/$p/clear_refs" 2>/dev/null || true; done; }

# idle_rss PROXY PORT N MEMFILE [--tls]: resident memory of PROXY before and with
# N idle keep-alive clients (each made one request: bench/frontdoor/idle.py); a
# row "idle PROXY before after growth ok failed" goes to MEMFILE.
idle_rss() {
    local p=$1 port=$2 n=$3 mem=$4 tls=${5:-} pids before after idle ok failed
    pids=$(proxy_pids "$p")
    # shellcheck disable=SC2086
    before=$(rss_sum $pids)
    "${ON_CLIENT[@]}" python3 "$(dirname "${BASH_SOURCE[0]}")/frontdoor/idle.py" $tls 127.0.0.1 "$port" "$n" 120 > "$W/idle-$p.txt" 2>&1 &
    idle=$!; PIDS+=($idle)
    for _ in $(seq 1 1200); do
        grep -q '^ready' "$W/idle-$p.txt" 2>/dev/null && break
        kill -0 "$idle" 2>/dev/null || break
        sleep 0.1
    done
    sleep 2
    # shellcheck disable=SC2086
    after=$(rss_sum $pids)
    read -r _ ok failed < <(grep '^ready' "$W/idle-$p.txt" || echo "ready 0 $n")
    kill "$idle" 2>/dev/null || true; wait "$idle" 2>/dev/null || true
    printf 'idle\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$before" "$after" "$((after - before))" "$ok" "$failed" >> "$mem"
    printf '  %-7s RSS before %7s KiB  with %s idle %7s KiB (+%s KiB, %s B/conn)  failed %s\n' \
        "$p" "$before" "$ok" "$after" "$((after - before))" \
        "$(awk -v d=$((after - before)) -v n="$ok" 'BEGIN { if (n > 0) printf "%.0f", d * 1024 / n; else print "-" }')" "$failed"
}

# cpu_split PID...: "USER SYS" clock ticks of the processes, summed.
cpu_split() {
    local p
    for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat"; done | awk '{u += $12; s += $13} END {print u + 0, s + 0}'
}

# steal_ticks: clock ticks the hypervisor ran other guests while this VM's
# vCPUs wanted to run (/proc/stat's steal column, all CPUs). A rise during a
# run means that run's CPU figures were taken on a slower machine.
steal_ticks() { awk '/^cpu / {print $9}' /proc/stat; }

# minor_faults PID...: minor page faults of the processes, summed (memory the
# allocator gave back to the kernel and touched again costs one each, in sys time).
minor_faults() {
    local p
    for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat"; done | awk '{f += $8} END {print f + 0}'
}

# ctx_switches PID...: "VOLUNTARY INVOLUNTARY" context switches of every thread, summed.
ctx_switches() {
    local p
    for p in "$@"; do cat /proc/"$p"/task/*/status; done \
        | awk '/^voluntary_ctxt_switches/ {v += $2} /^nonvoluntary_ctxt_switches/ {n += $2} END {print v + 0, n + 0}'
}

# CPU seconds between two cpu_ticks readings, and COUNT per CPU-second.
cpu_seconds() { awk -v a="$1" -v b="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }'; }
per_cpu_second() { awk -v r="$1" -v c="$2" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print "nan" }'; }

# wrk latency value (415.00us, 1.23ms, 1.02s) -> milliseconds
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; else if (v ~ /m$/) n *= 60000; printf "%.3f", n }'; }

# The machine and tool versions, as comment lines for a run's header.
bench_machine() {
    echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r); commit $(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "# bigstep $BIGSTEP_BIN; $(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f1-3); nginx $(nginx -v 2>&1 | cut -d/ -f2); wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
}

# haproxy_head THREADS MAXCONN: the global and defaults sections of every HAProxy
# here (HTTP keep-alive on both sides, connections to servers reused), on stdout.
haproxy_head() {
    cat <<CONF
global
    nbthread $1
    maxconn $2
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 75s
    timeout server 60s
    timeout http-keep-alive 75s
CONF
}

# nginx_proxy_conf WORKERS LISTEN [HTTP_LINES] [SERVER_LINES]: nginx as the proxy
# under test (its files under $W/nginx) in front of the backend on BACKEND_PORT,
# with upstream keep-alive; its config on stdout.
nginx_proxy_conf() {
    mkdir -p "$W/nginx/logs"
    cat <<CONF
worker_processes $1;
worker_rlimit_nofile 20000;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log warn;
events { worker_connections 12000; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    ${3:-}
    upstream be {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 100000000;
    }
    server {
        listen $2;
        ${4:-}
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
}

# cg_report OUT PROXY TEST N [NOTE]: the newest callgrind dump OUT.*.1 as one line
# "PROXY TEST  IR instructions / N requests = X per request  (NOTE)", then the
# TOP functions (exclusive instructions, per request) below it.
cg_report() {
    local out=$1 proxy=$2 test=$3 n=$4 note=${5:-} dump ir
    dump=$(ls -t "$out".*.1 2>/dev/null | head -1)
    [ -n "$dump" ] || { echo "  $proxy $test: no dump" >&2; return 0; }
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
    printf '%-8s %-9s %13s instructions / %6s requests = %8.0f per request%s\n' \
        "$proxy" "$test" "$ir" "$n" "$(awk -v a="$ir" -v b="$n" 'BEGIN {print a / b}')" \
        "${note:+  ($note)}"
    callgrind_annotate --threshold=100 "$dump" 2>/dev/null \
        | awk -v top="${TOP:-25}" -v n="$n" -v total="$ir" '
            $1 ~ /^[0-9,]+$/ && shown < top {
                v = $1; gsub(",", "", v)
                if (v + 0 >= total + 0) next    # the program total and main, inclusive
                line = $0
                sub(/^ *[0-9,]+ *(\([^)]*\))? */, "", line)
                printf "    %8.0f  %s\n", v / n, line
                shown++
            }' \
        | cut -c1-160
}

# wait_redis PORT: until a Redis-protocol server answers PING on PORT (30 s).
wait_redis() {
    local i
    for i in $(seq 1 300); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "nothing answering on port $1" >&2; exit 1
}

# start_state_server redis|bigstep [ARGS...]: one server without persistence,
# redis-server on REDIS_PORT or bigstep state (with ARGS) on STATE_PORT, output
# in $W; sets SPID and SPORT and waits until it answers.
start_state_server() {
    local which=$1; shift
    case $which in
        bigstep)
            RUST_LOG=warn "$BIGSTEP_BIN" state --port "$STATE_PORT" "$@" >"$W/bigstep.log" 2>&1 &
            PIDS+=("$!"); SPID=$!; SPORT=$STATE_PORT ;;
        redis)
            redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
                --daemonize no >"$W/redis.log" 2>&1 &
            PIDS+=("$!"); SPID=$!; SPORT=$REDIS_PORT ;;
        *) echo "unknown server $which" >&2; exit 2 ;;
    esac
    wait_redis "$SPORT"
}

# perf_samples DATA: one line per sample of a `perf record` file, "k" (kernel)
# or "u" (user space), a tab, then the symbol (or "?? DSO" when unknown).
perf_samples() {
    perf script -i "$1" -F ip,sym,dso 2>/dev/null | awk '
        NF == 0 { next }
        {
            ip = $1; sym = $2; for (i = 3; i < NF; i++) sym = sym " " $i
            dso = $NF
            kern = (dso ~ /kernel/ || ip ~ /^ffff/)
            if (sym == "" || sym == "[unknown]") sym = "?? " dso
            print (kern ? "k" : "u") "\t" sym
        }'
}

# h2_ports BASE: the ports of the HTTP/2 benches (h2-callgrind.sh, h2_syscalls.sh):
# the backend on BASE, then bigstep, HAProxy and nginx, each on a plain (h2c) and a TLS port.
h2_ports() {
    BACKEND_PORT=$1
    BIGSTEP_PORT=$(($1 + 1)); BIGSTEP_TLS_PORT=$(($1 + 2))
    HAPROXY_PORT=$(($1 + 3)); HAPROXY_TLS_PORT=$(($1 + 4))
    NGINX_PORT=$(($1 + 5)); NGINX_TLS_PORT=$(($1 + 6))
}

# h2_proxies_setup: the ECDSA P-256 certificate of bench/tls.sh and the configs of
# the three proxies under test in $W, one thread each in front of the backend on
# BACKEND_PORT: h2c with prior knowledge on the plain port, h2 by ALPN on the TLS
# port; bigstep on its HTTP/2 engine H2_ENGINE; nginx as one process (no master),
# so the process measured is the one that works.
h2_proxies_setup() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/key.pem" 2>/dev/null
    openssl req -x509 -new -key "$W/key.pem" -out "$W/cert.pem" -days 30 -subj /CN=localhost \
        -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' 2>/dev/null
    cat "$W/cert.pem" "$W/key.pem" > "$W/haproxy.pem"
    chmod 600 "$W/key.pem" "$W/haproxy.pem"
    cat > "$W/bigstep.toml" <<CONF
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
CONF
    { haproxy_head 1 4096; cat <<CONF
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT proto h2
    bind 127.0.0.1:$HAPROXY_TLS_PORT ssl crt $W/haproxy.pem alpn h2,http/1.1
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT
CONF
    } > "$W/haproxy.cfg"
    mkdir -p "$W/nginx/logs"
    nginx_proxy_conf 1 "127.0.0.1:$NGINX_PORT http2; listen 127.0.0.1:$NGINX_TLS_PORT ssl http2" \
        "ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m;" \
        "ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;" \
        | sed 's/^daemon off;/daemon off;\nmaster_process off;/' > "$W/nginx/nginx.conf"
}

# h2_start PROXY TEST [WRAPPER...]: start PROXY (bigstep, haproxy or nginx, as
# h2_proxies_setup configured it) under WRAPPER (e.g. valgrind ...; none: natively)
# for TEST (h2c or h2-tls), its output in $W/PROXY-TEST.log, and wait until it
# answers. Sets H2_PID, H2_PORT (the port clients use) and H2_URL.
h2_start() {
    local proxy=$1 test=$2
    shift 2
    case $proxy in
        bigstep)
            H2_PORT=$BIGSTEP_PORT; [ "$test" = h2-tls ] && H2_PORT=$BIGSTEP_TLS_PORT
            RUST_LOG=warn "$@" "$BIGSTEP_BIN" balance --config "$W/bigstep.toml" --threads 1 > "$W/$proxy-$test.log" 2>&1 &
            ;;
        haproxy)
            H2_PORT=$HAPROXY_PORT; [ "$test" = h2-tls ] && H2_PORT=$HAPROXY_TLS_PORT
            "$@" haproxy -db -f "$W/haproxy.cfg" > "$W/$proxy-$test.log" 2>&1 &
            ;;
        nginx)
            H2_PORT=$NGINX_PORT; [ "$test" = h2-tls ] && H2_PORT=$NGINX_TLS_PORT
            "$@" nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" > "$W/$proxy-$test.log" 2>&1 &
            ;;
        *) echo "unknown proxy $proxy" >&2; exit 2 ;;
    esac
    H2_PID=$!
    PIDS+=("$H2_PID")
    if [ "$test" = h2-tls ]; then H2_URL=https://127.0.0.1:$H2_PORT/; else H2_URL=http://127.0.0.1:$H2_PORT/; fi
    # h2c with prior knowledge: the plain ports of haproxy and nginx speak nothing else.
    wait_url "$H2_URL" --http2-prior-knowledge
}

# h2_check_load FILE N PROXY TEST: warn unless h2load's output FILE shows N
# requests done and succeeded (and h2 by ALPN over TLS).
h2_check_load() {
    local out=$1 n=$2 proxy=$3 test=$4
    grep -q "requests: $n total, $n started, $n done, $n succeeded" "$out" \
        || { echo "  $proxy $test: not every request succeeded:" >&2; grep -E "requests:|status codes|Application" "$out" >&2; }
    if [ "$test" = h2-tls ]; then
        grep -q 'Application protocol: h2' "$out" || echo "  $proxy $test: no h2 by ALPN" >&2
    fi
}

# Pinning (PIN=1; off unless set): the processes measured run on the last core,
# the load generators and backends on the others, so that every run of every
# server meets the same placement instead of the scheduler's choice of the moment.
# (On the 2-core VMs of BENCHMARKS.md it did not narrow the spread between rounds:
# 2026-12-05, session 15.) Prefix a command with "${ON_SERVER[@]}" or
# "${ON_CLIENT[@]}" (empty when unpinned); taskset execs the command, so `$!`
# stays the PID whose CPU is read.
bench_pin_setup() {
    local n
    n=$(nproc)
    PIN=${PIN:-0}
    ON_SERVER=(); ON_CLIENT=()
    if [ "$PIN" = 1 ] && command -v taskset >/dev/null; then
        SERVER_CPUS=$((n - 1))
        CLIENT_CPUS=$([ "$n" -ge 3 ] && echo "0-$((n - 2))" || echo 0)
        ON_SERVER=(taskset -c "$SERVER_CPUS"); ON_CLIENT=(taskset -c "$CLIENT_CPUS")
    else
        PIN=0
    fi
}
pin_note() {
    if [ "$PIN" = 1 ]; then echo "pinned (PIN=1): measured servers on CPU $SERVER_CPUS, clients and backends on CPU $CLIENT_CPUS"
    else echo "not pinned (PIN=1 pins the servers to one core, the clients to the others)"; fi
}
