#!/usr/bin/env bash
# Soak test: the gateway under steady load for a long time, on each store, on loopback only.
#
#   bash bench/soak.sh [duration=30m] [stores="sqlite redis"]
#   DURATION=5m STORES=redis bash bench/soak.sh
#   NO_BUILD=1 bash bench/soak.sh 3m           # reuse the Release builds already in bin/
#
# For each store it starts bench/BenchHost as the upstream, the Release gateway (with redis-server on
# a free port for the Redis store), creates an org with KEYS stable keys, then for DURATION:
#   - wrk (bench/soak/soak.lua) sends steady load: CONNECTIONS connections, each waiting DELAY_MS
#     between requests; UNKNOWN_PERCENT (10) of requests carry a well-formed key that was never
#     issued; every request comes from a new client address (X-Forwarded-For, with
#     Gateway:TrustedProxies=127.0.0.1), so the run sees one distinct IP per request;
#   - every CHURN_SECONDS (3) a churn loop creates a key, uses it, rotates it, revokes the new one, and
#     checks from the client side that the old key is refused at once after the rotation and the
#     revoked one at once after the revocation (and again a second later);
#   - the IP limit is IP_LIMIT (5) per minute (Gateway:RateLimits:Ip, with IP_MEMORY_MB for its sketch when
#     set): since no address sends more than one request, every request is within the IP limit, and
#     "valid 429 %" is the share of requests with a valid key that were not admitted (goal: under 1%);
#   - every SAMPLE_SECONDS (60) it records requests, p99 latency and status counts of that minute, the
#     gateway's RSS, GC heap (dotnet_gc_last_collection_heap_size_bytes from /metrics), threads and open handles
#     (/proc/PID/fd).
# Goals checked at the end (exit 1 if one fails): under 1% of valid-key requests refused, zero 5xx, zero revoked or rotated-out keys admitted,
# RSS and handles grow less than 10% from the end of warm-up (the first WARMUP_SAMPLES samples) to
# the end, peak RSS under 300 MiB.
#
# Everything it starts is stopped on exit (trap); the whole run is bounded by MAX_SECONDS
# (default: duration per store, times the stores, plus 10 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

to_seconds() {
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

DURATION=${1:-${DURATION:-30m}}
STORES=${2:-${STORES:-sqlite redis}}
CONNECTIONS=${CONNECTIONS:-16}
DELAY_MS=${DELAY_MS:-4}
UNKNOWN_PERCENT=${UNKNOWN_PERCENT:-10}
KEYS=${KEYS:-20}
IP_LIMIT=${IP_LIMIT:-5}
IP_MEMORY_MB=${IP_MEMORY_MB:-}
CHURN_SECONDS=${CHURN_SECONDS:-3}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-60}
# Five minutes: the key cache keeps entries for Cache:StaleFor (5 min), so it, the limiter's windows
# (one window) and the GC's heap sizing reach their steady size only then.
WARMUP_SAMPLES=${WARMUP_SAMPLES:-5}
NO_BUILD=${NO_BUILD:-}
duration_s=$(to_seconds "$DURATION")
store_count=$(wc -w <<<"$STORES")
MAX_SECONDS=${MAX_SECONDS:-$(( duration_s * store_count + 600 ))}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
bench_setup soak "$MAX_SECONDS"

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
case " $STORES " in *" redis "*) command -v redis-server >/dev/null 2>&1 || need+=(redis-server) ;; esac
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
    || die "could not install ${need[*]}"
fi
command -v curl >/dev/null 2>&1 || die "curl is required"

build_release

to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
    printf "%.1f", n }'
}

status_field() { awk -v f="$2" '$1 == f ":" { print $2 }' "/proc/$1/status"; }

bin=bin/Release/net10.0
host="$root/bench/BenchHost/$bin/BenchHost.dll"
overall=0
summary="$tmp/summary.txt"
: >"$summary"

echo "Gateway soak: $DURATION per store ($STORES), $CONNECTIONS connections x ${DELAY_MS} ms delay, ${UNKNOWN_PERCENT}% unknown keys,"
echo "a new client IP per request, key churn every ${CHURN_SECONDS}s; commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)'), $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc)"

# admin_curl ARGS...: curl from a random loopback address. The admin API is under the IP limit (IP_LIMIT a minute per
# caller), which the set-up and the churn would exceed from one address; the whole of 127/8 reaches the listener.
admin_curl() {
  curl --interface "127.$(( RANDOM % 250 + 1 )).$(( RANDOM % 250 + 1 )).$(( RANDOM % 250 + 2 ))" "$@"
}

# churn ADMIN PROXY TOKEN OUT: create → use → rotate → revoke, each refusal checked from the client side.
churn() {
  local admin=$1 proxy=$2 token=$3 out=$4 n=0 ok bad
  local auth="Authorization: Bearer $token"
  : >"$out"
  call() { # call KEY N: the status of a proxied GET with KEY from a fresh client address
    curl -s -o /dev/null -w '%{http_code}' "$proxy/soak/churn" -H "Authorization: Bearer $1" -H "X-Forwarded-For: 198.18.$(( ($2 / 256) % 256 )).$(( $2 % 256 ))"
  }
  while :; do
    n=$((n + 1))
    local created old new id rotated
    created=$(admin_curl -s -X POST "$admin/admin/orgs/soak/keys" -H "$auth" -H 'Content-Type: application/json' -d "{\"name\":\"churn_$n\"}") || true
    old=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$created")
    id=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$created")
    if [ -z "$old" ] || [ -z "$id" ]; then echo "create_failed $n $created" >>"$out"; sleep "$CHURN_SECONDS"; continue; fi
    ok=$(call "$old" $((n * 8))); [ "$ok" = 200 ] || echo "new_key_refused $n $ok" >>"$out"
    rotated=$(admin_curl -s -X POST "$admin/admin/keys/$id/rotate" -H "$auth") || true
    new=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$rotated")
    [ -n "$new" ] || { echo "rotate_failed $n $rotated" >>"$out"; sleep "$CHURN_SECONDS"; continue; }
    bad=$(call "$old" $((n * 8 + 1))); [ "$bad" = 401 ] || echo "rotated_out_admitted $n $bad" >>"$out"
    ok=$(call "$new" $((n * 8 + 2))); [ "$ok" = 200 ] || echo "rotated_key_refused $n $ok" >>"$out"
    admin_curl -s -o /dev/null -X POST "$admin/admin/keys/$id/revoke" -H "$auth" || true
    bad=$(call "$new" $((n * 8 + 3))); [ "$bad" = 401 ] || echo "revoked_admitted $n $bad" >>"$out"
    echo "revoked $n" >>"$out"
    sleep "$CHURN_SECONDS"
    bad=$(call "$new" $((n * 8 + 4))); [ "$bad" = 401 ] || echo "revoked_admitted_later $n $bad" >>"$out"
    bad=$(call "$old" $((n * 8 + 5))); [ "$bad" = 401 ] || echo "rotated_out_admitted_later $n $bad" >>"$out"
  done
}

for store in $STORES; do
  up_port=$(free_port); gw_port=$(free_port); admin_port=$(free_port)
  run_pids=()
  (exec dotnet "$host" upstream "$up_port") >"$tmp/upstream.log" 2>&1 &
  up_pid=$!; pids+=("$up_pid"); run_pids+=("$up_pid")

  store_env=(Gateway__Store__Path="$tmp/$store/gateway.db")
  if [ "$store" = redis ]; then
    redis_port=$(free_port)
    mkdir -p "$tmp/redis"
    (exec redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp/redis" --loglevel warning) >"$tmp/redis.log" 2>&1 &
    redis_pid=$!; pids+=("$redis_pid"); run_pids+=("$redis_pid")
    store_env+=(Gateway__Store__Redis="127.0.0.1:$redis_port")
  fi

  admin_token="soak-admin-token-$(date +%s%N)"
  (cd "$root/Gateway/$bin" && exec env \
    Kestrel__Endpoints__Proxy__Url="http://127.0.0.1:$gw_port" \
    Kestrel__Endpoints__Admin__Url="http://127.0.0.1:$admin_port" \
    "${store_env[@]}" \
    Gateway__Admin__Token="$admin_token" \
    Gateway__Demo__Enabled=false \
    Gateway__TrustedProxies__0=127.0.0.1 \
    Gateway__RateLimits__Workspace__PermitLimit=1000000 Gateway__RateLimits__Workspace__Window=00:01:00 \
    Gateway__RateLimits__Ip__PermitLimit="$IP_LIMIT" Gateway__RateLimits__Ip__Window=00:01:00 \
    ${IP_MEMORY_MB:+Gateway__RateLimits__Ip__MaxMemoryMB="$IP_MEMORY_MB"} \
    Logging__LogLevel__Default=Warning \
    ReverseProxy__Routes__soak__ClusterId=soak \
    "ReverseProxy__Routes__soak__Match__Path=/soak/{**rest}" \
    "ReverseProxy__Clusters__soak__Destinations__d1__Address=http://127.0.0.1:$up_port/" \
    dotnet Gateway.dll) >"$tmp/gateway-$store.log" 2>&1 &
  gw_pid=$!; pids+=("$gw_pid"); run_pids+=("$gw_pid")

  wait_http "http://127.0.0.1:$up_port/" "$up_pid" upstream
  wait_http "http://127.0.0.1:$admin_port/healthz" "$gw_pid" "gateway-$store"
  admin="http://127.0.0.1:$admin_port"
  proxy="http://127.0.0.1:$gw_port"

  admin_curl -sf -X POST "$admin/admin/orgs" -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d '{"id":"soak","name":"Soak"}' >/dev/null || die "could not create the soak organization"
  : >"$tmp/keys.txt"
  for i in $(seq 1 "$KEYS"); do
    admin_curl -sf -X POST "$admin/admin/orgs/soak/keys" -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
      -d "{\"name\":\"load_$i\"}" | sed -n 's/.*"key":"\([^"]*\)".*/\1/p' >>"$tmp/keys.txt"
    echo >>"$tmp/keys.txt" # the answer has no final newline, so neither has sed's output
  done
  [ "$(grep -c . "$tmp/keys.txt")" = "$KEYS" ] || die "could not create the load keys: $(head -c 300 "$tmp/keys.txt"); $(admin_curl -s -X POST "$admin/admin/orgs/soak/keys" -H "Authorization: Bearer $admin_token" -H "Content-Type: application/json" -d "{\"name\":\"probe\"}" | head -c 300)"

  churn "$admin" "$proxy" "$admin_token" "$tmp/churn-$store.txt" &
  churn_pid=$!; pids+=("$churn_pid"); run_pids+=("$churn_pid")

  echo
  echo "== store: $store (gateway pid $gw_pid)"
  printf '| %6s | %9s | %7s | %6s | %5s | %7s | %12s | %8s | %7s | %7s | %5s | %10s |\n' minute requests "p99 ms" 5xx 401 "429" "valid 429 %" "RSS MiB" "GC MiB" threads fds "IPs seen"
  printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' -------- ----------- --------- -------- ------- --------- -------------- ---------- --------- --------- ------- ------------
  segments=$(( (duration_s + SAMPLE_SECONDS - 1) / SAMPLE_SECONDS ))
  ips=0; total5xx=0; valid_sent=0; valid_ok=0; rss_list=(); fd_list=(); peak=0
  for ((seg = 0; seg < segments; seg++)); do
    seconds=$SAMPLE_SECONDS
    [ $(( (seg + 1) * SAMPLE_SECONDS )) -gt "$duration_s" ] && seconds=$(( duration_s - seg * SAMPLE_SECONDS ))
    out="$tmp/wrk-$store-$seg.txt"
    timeout $(( seconds + 60 )) wrk -t2 -c"$CONNECTIONS" -d"${seconds}s" --latency -s "$root/bench/soak/soak.lua" "$proxy" \
      -- "$tmp/keys.txt" "$seg" "$DELAY_MS" "$UNKNOWN_PERCENT" >"$out" 2>&1 || true
    kill -0 "$gw_pid" 2>/dev/null || { cat "$tmp/gateway-$store.log" >&2; die "the gateway exited during the soak"; }
    requests=$(awk '/requests in/ { print $1 }' "$out")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    s5xx=$(awk '$1 == "soak-status" && $2 >= 500 { n += $3 } END { print n + 0 }' "$out")
    s401=$(awk '$1 == "soak-status" && $2 == 401 { n += $3 } END { print n + 0 }' "$out")
    s429=$(awk '$1 == "soak-status" && $2 == 429 { n += $3 } END { print n + 0 }' "$out")
    s200=$(awk '$1 == "soak-status" && $2 == 200 { n += $3 } END { print n + 0 }' "$out")
    sent=$(awk '$1 == "soak-sent" { print $2 }' "$out")
    valid_sent=$(( valid_sent + ${sent:-0} )); valid_ok=$(( valid_ok + s200 ))
    refused_pct=$(awk -v s="${sent:-0}" -v ok="$s200" 'BEGIN { r = s - ok; if (r < 0) r = 0; if (s > 0) printf "%.2f", r * 100 / s; else print "n/a" }')
    sockerr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
    rss=$(( $(status_field "$gw_pid" VmRSS) / 1024 ))
    hwm=$(( $(status_field "$gw_pid" VmHWM) / 1024 ))
    threads=$(status_field "$gw_pid" Threads)
    fds=$(ls "/proc/$gw_pid/fd" | wc -l)
    # The managed heap after the last GC: the runtime's System.Runtime meter, summed over generations.
    gc=$(curl -s "$admin/metrics" | awk '$1 ~ /^dotnet_gc_last_collection_heap_size_bytes[{]/ { n += $2; seen = 1 } END { if (seen) printf "%.0f", n / 1048576 }')
    ips=$(( ips + ${requests:-0} ))
    total5xx=$(( total5xx + s5xx + ${sockerr:-0} ))
    rss_list+=("$rss"); fd_list+=("$fds"); [ "$hwm" -gt "$peak" ] && peak=$hwm
    printf '| %6s | %9s | %7s | %6s | %5s | %7s | %12s | %8s | %7s | %7s | %5s | %10s |\n' $((seg + 1)) "${requests:-0}" "$p99" "$s5xx" "$s401" "$s429" "$refused_pct" "$rss" "${gc:-n/a}" "$threads" "$fds" "$ips"
    [ -n "${sockerr:-}" ] && [ "$sockerr" -gt 0 ] && echo "  ($sockerr socket errors in this minute)"
  done

  stop_pid "$churn_pid"
  revocations=$(grep -c '^revoked ' "$tmp/churn-$store.txt" || true)
  failures=$(grep -v '^revoked ' "$tmp/churn-$store.txt" || true)

  w=$(( WARMUP_SAMPLES < ${#rss_list[@]} ? WARMUP_SAMPLES : ${#rss_list[@]} - 1 ))
  [ "$w" -lt 0 ] && w=0
  growth() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1f", (b - a) * 100 / a; else print 0 }'; }
  rss_growth=$(growth "${rss_list[$w]}" "${rss_list[-1]}")
  fd_growth=$(growth "${fd_list[$w]}" "${fd_list[-1]}")
  valid_refused=$(awk -v s="$valid_sent" -v ok="$valid_ok" 'BEGIN { r = s - ok; if (r < 0) r = 0; if (s > 0) printf "%.2f", r * 100 / s; else print 0 }')
  verdict=ok
  awk -v r="$valid_refused" 'BEGIN { exit !(r >= 1) }' && verdict="FAIL (valid keys refused)"
  awk -v g="$rss_growth" 'BEGIN { exit !(g >= 10) }' && verdict="FAIL (RSS growth)"
  awk -v g="$fd_growth" 'BEGIN { exit !(g >= 10) }' && verdict="FAIL (handle growth)"
  [ "$peak" -ge 300 ] && verdict="FAIL (peak RSS)"
  [ "$total5xx" -gt 0 ] && verdict="FAIL (5xx or socket errors)"
  [ -n "$failures" ] && verdict="FAIL (churn: $(head -n 3 <<<"$failures" | tr '\n' ';'))"
  line="$store: $DURATION, $ips requests (= distinct client IPs), IP limit $IP_LIMIT/min, valid-key requests refused ${valid_refused}%, 5xx+socket errors $total5xx, $revocations revocations checked, churn failures $(grep -c . <<<"$failures" || true), RSS ${rss_list[$w]} → ${rss_list[-1]} MiB (${rss_growth}% after warm-up), peak $peak MiB, handles ${fd_list[$w]} → ${fd_list[-1]} (${fd_growth}%): $verdict"
  echo "$line"
  echo "$line" >>"$summary"
  [ "$verdict" = ok ] || overall=1

  for pid in "${run_pids[@]}"; do stop_pid "$pid"; done
done

echo
echo "== summary"
cat "$summary"
exit "$overall"
