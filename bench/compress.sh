#!/usr/bin/env bash
# Compression throughput: bigstep balance with a compressing route against nginx
# as a proxy with `gzip on`, at the same gzip level, each one proxy thread in
# front of the same one-worker nginx backend serving a 64 KiB HTML page, all on
# loopback, side by side in one run with interleaved rounds.
#
#   bench/compress.sh            # 3 interleaved rounds of 10 s per test (~2.5 min)
#   bench/compress.sh --quick    # 1 round of 3 s
#
# Environment: BIGSTEP_BIN, LEVEL (gzip level for both, 1-9; default 5, bigstep's
# default), ROUNDS, DURATION, CONNS (16), BASE_PORT (18620), KEEP=1.
# Tests, each `wrk -t1 -cCONNS` keep-alive on the 64 KiB page:
#   gzip    with `Accept-Encoding: gzip`: both proxies compress every response
#   plain   without Accept-Encoding: the same proxies forwarding the page as it
#           is (what proxying costs without compression, for comparison)
# Prints per proxy and test the median req/s and MB of *input* (uncompressed
# page bytes) per proxy CPU-second (utime+stime from /proc/PID/stat around each
# run; nginx: master + worker), the average bytes per response wrk read, and
# the ratios bigstep / nginx.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_args "$@"
if [ "$QUICK" = 1 ]; then ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-3s}; fi
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-10s}; CONNS=${CONNS:-16}; LEVEL=${LEVEL:-5}
BASE_PORT=${BASE_PORT:-18620}
BACKEND_PORT=$BASE_PORT; BIGSTEP_PORT=$((BASE_PORT + 1)); NGINX_PORT=$((BASE_PORT + 2))
PROXIES=(bigstep nginx)
TESTS=(gzip plain)
case $LEVEL in [1-9]) ;; *) echo "LEVEL must be 1-9" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/.." && pwd)
bench_require wrk nginx curl gzip cmp
bench_workdir compress
bench_bigstep

# ---------------------------------------------------------------- the page
# 64 KiB of HTML generated from a fixed seed (a table of records with words,
# numbers and dates, as a listing page would be), the same bytes every run.
mkdir -p "$W/backend/logs" "$W/backend/www" "$W/nginx/logs"
awk 'BEGIN {
    srand(16);
    split("account order invoice customer shipping pending delivered returned warehouse " \
          "priority standard express region north south east west central annual monthly " \
          "weekly review approved rejected draft archive summary detail note payment card " \
          "transfer refund credit balance total discount coupon product category garden " \
          "kitchen office outdoor sports books music video travel health beauty toys", w, " ");
    n = length(w);
    print "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Orders</title>";
    print "<link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main class=\"container\">";
    print "<h1>Recent orders</h1><table class=\"table orders\"><thead><tr><th>#</th><th>Customer</th>" \
          "<th>Status</th><th>Items</th><th>Total</th><th>Date</th><th>Note</th></tr></thead><tbody>";
    for (i = 1; i <= 2000; i++) {
        note = "";
        for (j = 0; j < 3 + int(rand() * 6); j++) note = note " " w[1 + int(rand() * n)];
        printf "<tr id=\"order-%d\" class=\"row %s\"><td><a href=\"/orders/%d\">%d</a></td><td>%s %s</td>" \
               "<td><span class=\"badge badge-%s\">%s</span></td><td>%d</td><td>%d.%02d</td>" \
               "<td>2026-%02d-%02d</td><td>%s</td></tr>\n",
            100000 + i * 7, w[1 + int(rand() * n)], 100000 + i * 7, 100000 + i * 7,
            w[1 + int(rand() * n)], w[1 + int(rand() * n)], w[1 + int(rand() * n)], w[1 + int(rand() * n)],
            1 + int(rand() * 12), int(rand() * 2000), int(rand() * 100),
            1 + int(rand() * 12), 1 + int(rand() * 28), note;
    }
}' > "$W/page-full.html"
head -c 65536 "$W/page-full.html" > "$W/backend/www/page.html"
PAGE_BYTES=$(stat -c %s "$W/backend/www/page.html")
[ "$PAGE_BYTES" = 65536 ] || { echo "page is $PAGE_BYTES bytes, not 65536" >&2; exit 1; }
GZIP_SIZE=$(gzip -"$LEVEL" -c "$W/backend/www/page.html" | wc -c)

# ---------------------------------------------------------------- backend
# Serves the page as it is (no gzip of its own), keep-alive without limits.
cat > "$W/backend/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $W/backend/nginx.pid;
error_log $W/backend/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    types { text/html html; }
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$BACKEND_PORT backlog=4096;
        root $W/backend/www;
        gzip off;
    }
}
EOF
nginx -p "$W/backend" -c "$W/backend/nginx.conf" & PIDS+=($!)
wait_port $BACKEND_PORT

# ---------------------------------------------------------------- bigstep
# One route with `compress = true`; gzip only (brotli and zstd not offered, so a
# client that accepted them would still get gzip), at LEVEL.
cat > "$W/bigstep.toml" <<EOF
[balance]
listen = "127.0.0.1:$BIGSTEP_PORT"
access_log = false
[balance.compression]
level = $LEVEL
brotli = false
zstd = false
[[balance.servers]]
address = "127.0.0.1:$BACKEND_PORT"
[[balance.routes]]
path_prefix = "/"
pool = "default"
compress = true
EOF
"$BIGSTEP_BIN" balance --check "$W/bigstep.toml" > "$W/check.txt" 2>&1 || { cat "$W/check.txt" >&2; exit 1; }
RUST_LOG=warn "$BIGSTEP_BIN" balance --config "$W/bigstep.toml" --threads 1 > "$W/bigstep.log" 2>&1 &
PID_bigstep=$!; PIDS+=($PID_bigstep)

# ---------------------------------------------------------------- nginx
# A proxy with upstream keep-alive, gzip at LEVEL for proxied responses
# (`gzip_proxied any`; text/html is always among gzip_types), the same minimum
# length as bigstep's default (256).
nginx_proxy_conf 1 "127.0.0.1:$NGINX_PORT backlog=4096" \
    "gzip on; gzip_comp_level $LEVEL; gzip_proxied any; gzip_min_length 256; gzip_vary on;" \
    > "$W/nginx/nginx.conf"
nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" & PID_nginx=$!; PIDS+=($PID_nginx)
wait_port $BIGSTEP_PORT; wait_port $NGINX_PORT

port_of() { case $1 in bigstep) echo $BIGSTEP_PORT ;; nginx) echo $NGINX_PORT ;; esac; }
proxy_pids() {
    local var=PID_$1
    echo "${!var}"
    if [ "$1" = nginx ]; then pgrep -P "$PID_nginx" || true; fi
}

# ---------------------------------------------------------------- both compress?
# Each proxy must answer gzip with Content-Encoding: gzip and a body that
# decompresses to the page, and answer a client without Accept-Encoding with the
# page as it is.
declare -A GZ_SIZE
for p in "${PROXIES[@]}"; do
    url="http://127.0.0.1:$(port_of "$p")/page.html"
    curl -s -D "$W/h-$p.txt" -o "$W/gz-$p.bin" -H 'Accept-Encoding: gzip' "$url"
    grep -qi '^content-encoding: *gzip' "$W/h-$p.txt" || { echo "$p: no Content-Encoding: gzip" >&2; cat "$W/h-$p.txt" >&2; exit 1; }
    gzip -dc "$W/gz-$p.bin" | cmp -s - "$W/backend/www/page.html" || { echo "$p: gzip body does not decompress to the page" >&2; exit 1; }
    curl -s --compressed -o "$W/c-$p.bin" "$url"
    cmp -s "$W/c-$p.bin" "$W/backend/www/page.html" || { echo "$p: curl --compressed body differs" >&2; exit 1; }
    curl -s -D "$W/hp-$p.txt" -o "$W/p-$p.bin" "$url"
    ! grep -qi '^content-encoding' "$W/hp-$p.txt" || { echo "$p: compressed without Accept-Encoding" >&2; exit 1; }
    cmp -s "$W/p-$p.bin" "$W/backend/www/page.html" || { echo "$p: plain body differs" >&2; exit 1; }
    GZ_SIZE[$p]=$(stat -c %s "$W/gz-$p.bin")
done

echo "# compression benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(cd "$repo" && git rev-parse --short HEAD)"
echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
echo "# bigstep $BIGSTEP_BIN; $(nginx -v 2>&1 | cut -d' ' -f3); wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
echo "# gzip level $LEVEL on both; page $PAGE_BYTES bytes of text/html; gzip -$LEVEL makes it $GZIP_SIZE bytes;" \
    "one response through bigstep ${GZ_SIZE[bigstep]} bytes, through nginx ${GZ_SIZE[nginx]} bytes (both checked to decompress to the page)"
echo "# rounds=$ROUNDS duration=$DURATION conns=$CONNS; load average at start: $(loadavg)"

# wrk's "N.NNUNIT read" in bytes
to_bytes() { awk '{ v = $1; u = $1; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v);
    m = (u == "KB") ? 1024 : (u == "MB") ? 1048576 : (u == "GB") ? 1073741824 : 1; printf "%.0f", v * m }'; }

# warm up: upstream connections, page cache, allocator
for p in "${PROXIES[@]}"; do
    timeout 20 wrk -t1 -c"$CONNS" -d1s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$(port_of "$p")/page.html" > /dev/null 2>&1 || true
done

declare -A RPS MBC BPR
for test in "${TESTS[@]}"; do
    for round in $(seq 1 "$ROUNDS"); do
        for proxy in "${PROXIES[@]}"; do
            pids=$(proxy_pids "$proxy")
            hdr=()
            [ "$test" = gzip ] && hdr=(-H 'Accept-Encoding: gzip')
            # shellcheck disable=SC2086
            t0=$(cpu_ticks $pids)
            out=$(timeout 120 wrk -t1 -c"$CONNS" -d"$DURATION" "${hdr[@]}" "http://127.0.0.1:$(port_of "$proxy")/page.html")
            # shellcheck disable=SC2086
            t1=$(cpu_ticks $pids)
            reqs=$(echo "$out" | awk '/requests in/ {print $1}')
            read_b=$(echo "$out" | awk '/requests in/ {print $5}' | to_bytes)
            errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}')
            [ -z "$errs" ] || { echo "$test $proxy: errors: $errs" >&2; exit 1; }
            rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
            # MB (10^6 bytes) of uncompressed input per proxy CPU-second
            mbc=$(awk -v r="$reqs" -v b="$PAGE_BYTES" -v t=$((t1 - t0)) -v hz="$CLK_TCK" \
                'BEGIN { printf "%.1f", (t > 0 ? r * b / 1e6 / (t / hz) : 0) }')
            bpr=$(awk -v b="$read_b" -v r="$reqs" 'BEGIN { printf "%.0f", b / r }')
            if [ "$test" = gzip ] && [ "$bpr" -gt $((PAGE_BYTES * 9 / 10)) ]; then
                echo "$proxy: $bpr bytes per response under load: not compressed" >&2; exit 1
            fi
            RPS[$test-$proxy]+="$rps "; MBC[$test-$proxy]+="$mbc "; BPR[$test-$proxy]+="$bpr "
            printf 'round %s %-5s %-7s %8.0f req/s %8s MB in/CPU-s  cpu %5.2fs  %6s B/resp  (load %s)\n' \
                "$round" "$test" "$proxy" "$rps" "$mbc" "$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN {print t / hz}')" \
                "$bpr" "$(loadavg)"
        done
    done
done
echo
printf '%-6s %-8s %10s %20s %12s\n' test proxy "req/s" "MB input/CPU-s" "B/response"
declare -A M
for test in "${TESTS[@]}"; do
    for proxy in "${PROXIES[@]}"; do
        M[$test-$proxy]=$(echo "${MBC[$test-$proxy]}" | median)
        printf '%-6s %-8s %10.0f %20.1f %12.0f\n' "$test" "$proxy" "$(echo "${RPS[$test-$proxy]}" | median)" \
            "${M[$test-$proxy]}" "$(echo "${BPR[$test-$proxy]}" | median)"
    done
done
awk -v a="${M[gzip-bigstep]}" -v b="${M[gzip-nginx]}" -v c="${M[plain-bigstep]}" -v d="${M[plain-nginx]}" -v l="$LEVEL" 'BEGIN {
    printf "\nbigstep / nginx, gzip level %s (MB of input per CPU-s):  %.2fx\n", l, a / b
    printf "bigstep / nginx, no compression (MB per CPU-s):        %.2fx\n", c / d }'
echo "# load average at end: $(loadavg)"
