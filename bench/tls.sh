#!/usr/bin/env bash
# TLS at the edge (docs/performance.md, "At scale"): the gateway's HTTPS proxy listener against nginx
# terminating TLS in front of the same upstream, HTTP/1.1 (wrk) and HTTP/2 (h2load), keep-alive, in one run.
# Run through bench/load.sh:
#
#   TLS=1 bash bench/load.sh                                   # DURATION=30s CONNECTIONS=32 THREADS=2 ROUNDS=3 as in load.sh
#
# Targets, all TLS 1.3 with the same self-signed ECDSA P-256 certificate (made here with openssl), same upstream (BenchHost):
#   nginx          TLS termination only, proxy_pass with upstream keep-alive: what a TLS edge costs at least
#   nginx keymap   the same plus key auth: `map $http_authorization $valid {...}` with the bench key, 401 otherwise
#   gateway        the gateway's HTTPS listener (Kestrel:Endpoints:Proxy with Certificate:Path/KeyPath, docs/configuration.md)
#   yarp           plain YARP (BenchHost proxy, no key check) on a Kestrel HTTPS listener: what any YARP-based proxy
#                  reaches at best on this machine, so how far "gateway / nginx keymap" can go
#   kestrel        BenchHost's upstream app itself on an HTTPS listener, answering without a proxy hop: Kestrel's
#                  own TLS ceiling, against nginx which also forwards each request
# and prints requests/s, p50/p99 (wrk) and the ratios gateway / nginx keymap, gateway / nginx, gateway / yarp and
# yarp / nginx keymap, per protocol, as medians of ROUNDS interleaved rounds. nginx (and h2load from nghttp2-client) are installed with apt-get when
# missing; nginx runs as the current user from a config in a temporary directory. Without h2load the HTTP/2 rows
# are skipped and the script says so.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-10s}
ROUNDS=${ROUNDS:-3}
NO_BUILD=${NO_BUILD:-}
# HTTP/2 streams in flight per connection for h2load (-m); 1 compares with HTTP/1.1 keep-alive request for request.
STREAMS=${STREAMS:-1}
MAX_SECONDS=${MAX_SECONDS:-$(( 300 + ROUNDS * 12 * (${DURATION%s} + 15) ))}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
PIN_PROXY=""

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
bench_setup tls "$MAX_SECONDS"

install() {
  local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "Installing $*"
  $SUDO apt-get update -qq >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v wrk >/dev/null 2>&1 || install wrk || die "could not install wrk"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || install nginx-light || install nginx || die "could not install nginx"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v h2load >/dev/null 2>&1 || install nghttp2-client || echo "tls.sh: h2load (nghttp2-client) is not available: HTTP/2 rows skipped" >&2
H2LOAD=$(command -v h2load || true)
command -v openssl >/dev/null 2>&1 || die "openssl is required"

build_release
bin=bin/Release/net10.0
host="$root/bench/BenchHost/$bin/BenchHost.dll"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$tmp/tls.key" -out "$tmp/tls.crt" 2>/dev/null || die "openssl could not make a certificate"

up_port=$(free_port); gw_port=$(free_port); admin_port=$(free_port); ng_port=$(free_port); ngkey_port=$(free_port)
yarp_port=$(free_port); kestrel_port=$(free_port)
(exec dotnet "$host" upstream "$up_port") >"$tmp/upstream.log" 2>&1 &
up_pid=$!; pids+=("$up_pid")
(exec env BENCH_TLS_CERT="$tmp/tls.crt" BENCH_TLS_KEY="$tmp/tls.key" dotnet "$host" proxy "$yarp_port" "http://127.0.0.1:$up_port/") >"$tmp/yarp.log" 2>&1 &
pids+=("$!")
(exec env BENCH_TLS_CERT="$tmp/tls.crt" BENCH_TLS_KEY="$tmp/tls.key" dotnet "$host" upstream "$kestrel_port") >"$tmp/kestrel.log" 2>&1 &
pids+=("$!")
admin_token="bench-admin-token-$(date +%s%N)"
start_gateway gateway "$root/Gateway/$bin" "$gw_port" "$admin_port" \
  Kestrel__Endpoints__Proxy__Url="https://127.0.0.1:$gw_port" \
  Kestrel__Endpoints__Proxy__Certificate__Path="$tmp/tls.crt" Kestrel__Endpoints__Proxy__Certificate__KeyPath="$tmp/tls.key"
gw_pid=$started_pid
wait_http "http://127.0.0.1:$up_port/" "$up_pid" upstream
key=$(bench_key gateway "$gw_pid" "$admin_port") || exit 1

mkdir -p "$tmp/nginx/logs"
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  ssl_certificate $tmp/tls.crt;
  ssl_certificate_key $tmp/tls.key;
  ssl_protocols TLSv1.3;
  keepalive_requests 1000000;
  # Map keys are whole Authorization values (about 50 characters): longer than the default bucket holds.
  map_hash_bucket_size 256;
  upstream up { server 127.0.0.1:$up_port; keepalive 64; }
  # The key-auth comparison: one entry per valid key (the gateway's bench key here).
  map \$http_authorization \$valid_key { default 0; "Bearer $key" 1; }
  server {
    listen 127.0.0.1:$ng_port ssl http2;
    location /bench/ { proxy_pass http://up/; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$ngkey_port ssl http2;
    location /bench/ {
      if (\$valid_key = 0) { return 401; }
      proxy_pass http://up/; proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
}
CONF
("$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;') >"$tmp/nginx.log" 2>&1 &
ng_pid=$!; pids+=("$ng_pid")

path=/bench/hello
for url in "https://127.0.0.1:$ng_port$path" "https://127.0.0.1:$ngkey_port$path" "https://127.0.0.1:$gw_port$path" \
  "https://127.0.0.1:$yarp_port$path" "https://127.0.0.1:$kestrel_port$path"; do
  for _ in $(seq 1 100); do [ "$(curl -sk -o /dev/null -w '%{http_code}' "$url" -H "Authorization: Bearer $key")" = 200 ] && break; sleep 0.1; done
  [ "$(curl -sk -o /dev/null -w '%{http_code}' "$url" -H "Authorization: Bearer $key")" = 200 ] || { cat "$tmp/nginx.log" "$tmp/nginx/logs/error.log" >&2 || true; die "$url does not answer 200"; }
done
[ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$ngkey_port$path")" = 401 ] || die "nginx keymap does not refuse a request without the key"
if [ -n "$H2LOAD" ]; then
  curl -sk --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:$gw_port$path" -H "Authorization: Bearer $key" | grep -q '^2' || die "the gateway's HTTPS listener does not negotiate HTTP/2"
  curl -sk --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:$yarp_port$path" | grep -q '^2' || die "plain YARP's HTTPS listener does not negotiate HTTP/2"
fi

to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
declare -A rps_r p50_r p99_r errors_r
# run NAME PROTO URL: a warm-up (first round only long) then the measured run; h2 with h2load, h1 with wrk.
run() {
  local name=$1 proto=$2 url=$3 out="$tmp/$1-$2-$round.txt" warm=$WARMUP k="$1,$2,$round"
  [ "$round" -gt 1 ] && warm=2s
  if [ "$proto" = h1 ]; then
    timeout $(( ${warm%s} + 60 )) wrk -t"$THREADS" -c"$CONNECTIONS" -d"$warm" -H "Authorization: Bearer $key" "$url" >/dev/null
    timeout $(( ${DURATION%s} + 60 )) wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $key" "$url" >"$out"
    rps_r[$k]=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    p50_r[$k]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")"); p99_r[$k]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    errors_r[$k]=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
  else
    # h2load: -D measures for that long after --warm-up-time; it reports requests/s and mean latency, not percentiles.
    timeout $(( ${DURATION%s} + ${warm%s} + 60 )) "$H2LOAD" -t"$THREADS" -c"$CONNECTIONS" -m"$STREAMS" -D"${DURATION%s}" --warm-up-time="${warm%s}" \
      -H "Authorization: Bearer $key" "$url" >"$out" 2>&1 || true
    rps_r[$k]=$(awk '/^finished in/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^req\/s/) { gsub(/,/, "", $i); print $i } }' "$out")
    # The "p50" of an HTTP/2 row is h2load's mean (time for request: min max mean sd).
    p50_r[$k]=$(to_ms "$(awk '/^time for request:/ { print $6 }' "$out")")
    p99_r[$k]=n/a
    errors_r[$k]=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^failed/ || $(i + 1) ~ /^errored/) n += $i } /^status codes:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^[345]xx/) n += $i } END { print n + 0 }' "$out")
  fi
  [ -n "${rps_r[$k]}" ] || { cat "$out" >&2; die "no result for $name over $proto"; }
}
median() {
  local -n values=$2
  local r
  for ((r = 1; r <= ROUNDS; r++)); do echo "${values[$1,$r]}"; done | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
protos=(h1); [ -n "$H2LOAD" ] && protos+=(h2)
echo "TLS at the edge: TLS 1.3, ECDSA P-256, keep-alive, ${THREADS} threads x ${CONNECTIONS} connections, ${DURATION} per run, $ROUNDS interleaved rounds (medians)$([ -n "$H2LOAD" ] && echo ", HTTP/2 with $STREAMS stream(s) per connection")"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)'), $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc), $("$NGINX" -v 2>&1)"
for ((round = 1; round <= ROUNDS; round++)); do
  for proto in "${protos[@]}"; do
    run nginx "$proto" "https://127.0.0.1:$ng_port$path"
    run nginx_keymap "$proto" "https://127.0.0.1:$ngkey_port$path"
    run gateway "$proto" "https://127.0.0.1:$gw_port$path"
    run yarp "$proto" "https://127.0.0.1:$yarp_port$path"
    run kestrel "$proto" "https://127.0.0.1:$kestrel_port$path"
  done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
printf '| %-14s | %-8s | %10s | %8s | %8s | %6s |\n' target protocol "requests/s" "p50 ms" "p99 ms" errors
printf '|%s|%s|%s|%s|%s|%s|\n' ---------------- ---------- ------------ ---------- ---------- --------
declare -A med
for proto in "${protos[@]}"; do
  for name in nginx nginx_keymap gateway yarp kestrel; do
    local_errors=0
    for ((round = 1; round <= ROUNDS; round++)); do local_errors=$(( local_errors + ${errors_r[$name,$proto,$round]} )); done
    declare -A sub=(); for ((round = 1; round <= ROUNDS; round++)); do sub[x,$round]=${rps_r[$name,$proto,$round]}; done
    med[$name,$proto]=$(median x sub)
    for ((round = 1; round <= ROUNDS; round++)); do sub[x,$round]=${p50_r[$name,$proto,$round]}; done; p50=$(median x sub)
    p99=n/a
    if [ "$proto" = h1 ]; then for ((round = 1; round <= ROUNDS; round++)); do sub[x,$round]=${p99_r[$name,$proto,$round]}; done; p99=$(median x sub); fi
    printf '| %-14s | %-8s | %10.0f | %8s | %8s | %6s |\n' "${name/_/ }" "$([ "$proto" = h1 ] && echo HTTP/1.1 || echo HTTP/2)" "${med[$name,$proto]}" "$p50" "$p99" "$local_errors"
  done
done
[ -z "$H2LOAD" ] || echo "(HTTP/2 rows: h2load reports no percentiles; the p50 column holds its mean)"
echo
for proto in "${protos[@]}"; do
  echo "$([ "$proto" = h1 ] && echo HTTP/1.1 || echo HTTP/2): gateway / nginx keymap $(ratio "${med[gateway,$proto]}" "${med[nginx_keymap,$proto]}")x requests/s, gateway / nginx (no key check) $(ratio "${med[gateway,$proto]}" "${med[nginx,$proto]}")x," \
    "gateway / yarp $(ratio "${med[gateway,$proto]}" "${med[yarp,$proto]}")x, yarp / nginx keymap $(ratio "${med[yarp,$proto]}" "${med[nginx_keymap,$proto]}")x, kestrel (no proxy hop) / nginx keymap $(ratio "${med[kestrel,$proto]}" "${med[nginx_keymap,$proto]}")x"
done
[ -n "$H2LOAD" ] || echo "HTTP/2: not measured, h2load (nghttp2-client) is not installed and apt-get could not install it"
