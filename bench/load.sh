#!/usr/bin/env bash
# Load test: the same wrk run against the upstream directly, through a plain YARP proxy, and through
# the gateway with a valid key, in one go, on loopback only. Prints requests/s, p50/p99 latency, CPU time per request of the process under test
# and of the whole machine (that process, the upstream and wrk), the
# ratios gateway/plain-YARP and gateway/direct, and each process's RSS after the runs.
#
#   bash bench/load.sh [duration=10s] [connections=32] [threads=2]
#   DURATION=30s CONNECTIONS=64 bash bench/load.sh     # the same settings as environment variables
#   NO_BUILD=1 bash bench/load.sh                      # reuse the Release builds already in bin/
#   NO_REDIS=1 bash bench/load.sh                      # skip the gateway-on-Redis target
#   HEADERS=1 bash bench/load.sh                       # also plain YARP sending the headers the gateway adds (identity
#                                                      # headers and a request id upstream, a request id and
#                                                      # X-RateLimit-* to the client): what those headers cost alone
#   USAGE_OFF=1 bash bench/load.sh                     # also a second gateway with Gateway:Usage:Enabled=false,
#                                                      # run right after the first: the cost of usage counting
#   REQLOG_OFF=1 bash bench/load.sh                    # also a second gateway with Gateway:RequestLog:Enabled=false,
#                                                      # run right after the first: the cost of the request log
#   BASELINE_DIR=/path/to/other/Gateway/bin/Release/net10.0 bash bench/load.sh
#                                                      # also the gateway built from another checkout (an older
#                                                      # commit), run right after this one: before/after in one run
#   ROUNDS=3 bash bench/load.sh                        # every target ROUNDS times, interleaved (direct, plain,
#                                                      # gateway, ... then again); the tables show each target's
#                                                      # median, and one line per round gives that round's ratios
#   KEYS=1000000 ORGS=10000 DIST=uniform|zipf bash bench/load.sh
#                                                      # many keys, imported with `Gateway keys import`, chosen per request
#                                                      # by bench/keys.lua: cold and warm cache, hit ratio, RSS (bench/scale.sh)
#   TLS=1 bash bench/load.sh                           # TLS at the edge, HTTP/1.1 (wrk) and HTTP/2 (h2load): the gateway's
#                                                      # HTTPS listener against nginx terminating TLS, and key auth on both (bench/tls.sh)
#   QUOTAS=1 bash bench/load.sh                        # also the gateway with a customer quota (a plan of 10^12 a month)
#                                                      # and key credits (10^12) on every request, run right after
#                                                      # the plain gateway, on SQLite and (with redis-server) on Redis:
#                                                      # the cost of quotas and credits, and Redis commands per request
#   FEATURES=1 [STORE=redis] bash bench/load.sh       # everything on (signing, usage, request log, quota and credits,
#                                                      # a sampled access log) and each feature off in turn: each
#                                                      # feature's cost, and everything on / plain YARP (bench/features.sh)
#   VARIANT="DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1" bash bench/load.sh
#                                                      # also plain YARP and the gateway with these environment
#                                                      # variables (runtime or Kestrel settings), each run right
#                                                      # after its default twin: both ratios, so a setting that
#                                                      # helps plain YARP as much shows as such
#   PIN=1 bash bench/load.sh                           # the proxies on CPU 1, the upstream, Redis and wrk on CPU 0
#                                                      # (taskset): each proxy has a core of its own, as in a real
#                                                      # deployment, instead of sharing both with its upstream
#
# The upstream and the plain YARP proxy are bench/BenchHost (modes "upstream" and "proxy"); the
# gateway is the Release build of Gateway/ with its shipped appsettings.json, a temporary store, one
# route /bench/{**rest} to the upstream, rate limits raised out of the way, and a key made through
# the admin API. Duration and warm-up are in seconds ("10s"). When redis-server is on the PATH a second
# gateway runs on a fresh redis-server (loopback, no persistence) as the "gateway (Redis)" target; the
# script then prints Redis's CPU per request (INFO commandstats usec of the measured run / requests)
# and the memory of the hot limiter partitions (MEMORY USAGE).
#
# Everything it starts is stopped on exit (trap), and the whole run is bounded by MAX_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# Other modes, each in its own script: many keys (bench/scale.sh), TLS at the edge (bench/tls.sh), and every
# feature on with each one's cost (bench/features.sh).
if [ -n "${KEYS:-}" ]; then exec bash "$root/bench/scale.sh"; fi
if [ -n "${TLS:-}" ]; then exec bash "$root/bench/tls.sh"; fi
if [ -n "${FEATURES:-}" ]; then exec bash "$root/bench/features.sh" "$@"; fi

DURATION=${1:-${DURATION:-10s}}
CONNECTIONS=${2:-${CONNECTIONS:-32}}
THREADS=${3:-${THREADS:-2}}
# Long enough for tiered compilation to finish on a busy 2-core machine (a profile after 5 s still
# showed the gateway's middleware at instrumented tier 0).
WARMUP=${WARMUP:-10s}
MAX_SECONDS=${MAX_SECONDS:-$(( 300 + 300 * ${ROUNDS:-1} ))}
NO_BUILD=${NO_BUILD:-}
# On a small shared machine the ratio between two targets moves by 10-20% from one run to the next (other
# tenants, frequency changes); interleaved rounds let each target meet the same spells of noise.
ROUNDS=${ROUNDS:-1}
NO_REDIS=${NO_REDIS:-}
USAGE_OFF=${USAGE_OFF:-}
REQLOG_OFF=${REQLOG_OFF:-}
HEADERS=${HEADERS:-}
BASELINE_DIR=${BASELINE_DIR:-}
PIN=${PIN:-}
QUOTAS=${QUOTAS:-}
VARIANT=${VARIANT:-}
# Prefixes for the commands that start processes; empty unless PIN is set. PIN_PROXY is read by start_gateway.
side=()
PIN_PROXY=""
if [ -n "$PIN" ]; then
  command -v taskset >/dev/null 2>&1 || { echo "load.sh: PIN needs taskset (util-linux)" >&2; exit 1; }
  [ "$(nproc)" -ge 2 ] || { echo "load.sh: PIN needs 2 CPUs" >&2; exit 1; }
  side=(taskset -c 0)
  PIN_PROXY="taskset -c 1"
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
bench_setup load "$MAX_SECONDS"

if ! command -v wrk >/dev/null 2>&1; then
  echo "Installing wrk"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null \
    || die "could not install wrk"
fi
command -v curl >/dev/null 2>&1 || die "curl is required"

build_release
up_port=$(free_port); plain_port=$(free_port); gw_port=$(free_port); admin_port=$(free_port)
redis_port=$(free_port); rgw_port=$(free_port); radmin_port=$(free_port)
with_redis=""
if [ -z "$NO_REDIS" ] && command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then with_redis=1; fi
off_port=$(free_port); off_admin_port=$(free_port); headers_port=$(free_port)
rl_port=$(free_port); rl_admin_port=$(free_port)
base_port=$(free_port); base_admin_port=$(free_port)
q_port=$(free_port); q_admin_port=$(free_port); rq_port=$(free_port); rq_admin_port=$(free_port)
vplain_port=$(free_port); vgw_port=$(free_port); vadmin_port=$(free_port)
read -r -a variant_env <<<"$VARIANT"
[ -z "$BASELINE_DIR" ] || [ -f "$BASELINE_DIR/Gateway.dll" ] || die "no Gateway.dll in BASELINE_DIR=$BASELINE_DIR"

# Each process is the dotnet host itself (exec), so its pid is the one whose /proc/<pid>/status is read.
# BenchHost has no logging; the gateway logs at Warning, so neither writes a line per request. The
# gateway runs from its output folder, where its shipped appsettings.json was copied.
bin=bin/Release/net10.0
host="$root/bench/BenchHost/$bin/BenchHost.dll"
(exec "${side[@]}" dotnet "$host" upstream "$up_port") >"$tmp/upstream.log" 2>&1 &
up_pid=$!; pids+=("$up_pid")

(exec $PIN_PROXY dotnet "$host" proxy "$plain_port" "http://127.0.0.1:$up_port/") >"$tmp/plain.log" 2>&1 &
plain_pid=$!; pids+=("$plain_pid")

if [ -n "$HEADERS" ]; then
  (exec $PIN_PROXY dotnet "$host" proxy "$headers_port" "http://127.0.0.1:$up_port/" headers) >"$tmp/plain-headers.log" 2>&1 &
  headers_pid=$!; pids+=("$headers_pid")
fi

if [ -n "$VARIANT" ]; then
  (exec env "${variant_env[@]}" $PIN_PROXY dotnet "$host" proxy "$vplain_port" "http://127.0.0.1:$up_port/") >"$tmp/plain-variant.log" 2>&1 &
  vplain_pid=$!; pids+=("$vplain_pid")
fi

admin_token="bench-admin-token-$(date +%s%N)"
start_gateway gateway "$root/Gateway/$bin" "$gw_port" "$admin_port"
gw_pid=$started_pid

if [ -n "$with_redis" ]; then
  (exec "${side[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no) >"$tmp/redis.log" 2>&1 &
  redis_pid=$!; pids+=("$redis_pid")
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  start_gateway gateway-redis "$root/Gateway/$bin" "$rgw_port" "$radmin_port" Gateway__Store__Redis="127.0.0.1:$redis_port"
  rgw_pid=$started_pid
fi
# A plan whose quota and credits never run out during the run, so every request is charged and admitted.
quota_env=(Gateway__Plans__bench__Quota__Limit=1000000000000 Gateway__Plans__bench__Quota__Period=month)
if [ -n "$QUOTAS" ]; then
  start_gateway gateway-quotas "$root/Gateway/$bin" "$q_port" "$q_admin_port" "${quota_env[@]}"
  q_pid=$started_pid
  if [ -n "$with_redis" ]; then
    start_gateway gateway-quotas-redis "$root/Gateway/$bin" "$rq_port" "$rq_admin_port" "${quota_env[@]}" \
      Gateway__Store__Redis="127.0.0.1:$redis_port" Gateway__Store__RedisPrefix=gwq:
    rq_pid=$started_pid
  fi
fi
if [ -n "$USAGE_OFF" ]; then
  start_gateway gateway-off "$root/Gateway/$bin" "$off_port" "$off_admin_port" Gateway__Usage__Enabled=false
  off_pid=$started_pid
fi
if [ -n "$REQLOG_OFF" ]; then
  start_gateway gateway-rl-off "$root/Gateway/$bin" "$rl_port" "$rl_admin_port" Gateway__RequestLog__Enabled=false
  rl_pid=$started_pid
fi
if [ -n "$VARIANT" ]; then
  start_gateway gateway-variant "$root/Gateway/$bin" "$vgw_port" "$vadmin_port" "${variant_env[@]}"
  vgw_pid=$started_pid
fi
if [ -n "$BASELINE_DIR" ]; then
  start_gateway gateway-base "$BASELINE_DIR" "$base_port" "$base_admin_port"
  base_pid=$started_pid
fi

wait_http "http://127.0.0.1:$up_port/" "$up_pid" upstream
wait_http "http://127.0.0.1:$plain_port/" "$plain_pid" plain
[ -z "$HEADERS" ] || wait_http "http://127.0.0.1:$headers_port/" "$headers_pid" plain-headers
[ -z "$VARIANT" ] || wait_http "http://127.0.0.1:$vplain_port/" "$vplain_pid" plain-variant
[ -z "$VARIANT" ] || { vkey=$(bench_key gateway-variant "$vgw_pid" "$vadmin_port") || exit 1; }
key=$(bench_key gateway "$gw_pid" "$admin_port") || exit 1
[ -z "$USAGE_OFF" ] || { off_key=$(bench_key gateway-off "$off_pid" "$off_admin_port") || exit 1; }
# quota_key NAME PID ADMIN_PORT: the bench organization, a customer on the bench plan, and a key of that
# customer with credits; prints the key.
quota_key() {
  local out
  bench_key "$@" >/dev/null || return 1
  curl -sf -X POST "http://127.0.0.1:$3/admin/orgs/bench/customers" -H "Authorization: Bearer $admin_token" \
    -H 'Content-Type: application/json' -d '{"id":"bench-customer","name":"Bench customer","plan":"bench"}' >/dev/null \
    || die "could not create the bench customer ($1)"
  out=$(curl -sf -X POST "http://127.0.0.1:$3/admin/orgs/bench/keys" -H "Authorization: Bearer $admin_token" \
    -H 'Content-Type: application/json' -d '{"name":"metered","customerId":"bench-customer","credits":{"remaining":1000000000000}}') \
    || die "could not create the metered key ($1)"
  sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$out"
}
if [ -n "$QUOTAS" ]; then
  q_key=$(quota_key gateway-quotas "$q_pid" "$q_admin_port") || exit 1
  [ -z "$with_redis" ] || { rq_key=$(quota_key gateway-quotas-redis "$rq_pid" "$rq_admin_port") || exit 1; }
fi
[ -z "$REQLOG_OFF" ] || { rl_key=$(bench_key gateway-rl-off "$rl_pid" "$rl_admin_port") || exit 1; }
[ -z "$BASELINE_DIR" ] || { base_key=$(bench_key gateway-base "$base_pid" "$base_admin_port") || exit 1; }

path=/bench/hello
direct_url="http://127.0.0.1:$up_port$path"
plain_url="http://127.0.0.1:$plain_port$path"
gw_url="http://127.0.0.1:$gw_port$path"
for check in "$direct_url" "$plain_url"; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$check")" = 200 ] || die "$check does not answer 200"
done
status=$(curl -s -o "$tmp/check.body" -w '%{http_code}' "$gw_url" -H "Authorization: Bearer $key")
[ "$status" = 200 ] || die "$gw_url answers $status with the bench key: $(cat "$tmp/check.body")"

if [ -n "$with_redis" ]; then
  rkey=$(bench_key gateway-redis "$rgw_pid" "$radmin_port") || exit 1
  rgw_url="http://127.0.0.1:$rgw_port$path"
  status=$(curl -s -o "$tmp/check.body" -w '%{http_code}' "$rgw_url" -H "Authorization: Bearer $rkey")
  [ "$status" = 200 ] || die "$rgw_url answers $status with the bench key: $(cat "$tmp/check.body")"
fi

# shellcheck source=bench/measure.sh
source "$root/bench/measure.sh"

pid_of=([quotas]=${q_pid:-} [redis_quotas]=${rq_pid:-} [direct]=$up_pid [plain]=$plain_pid [plain_headers]=${headers_pid:-} [gateway]=$gw_pid [redis]=${rgw_pid:-} [gateway_off]=${off_pid:-} [baseline]=${base_pid:-} [gateway_rl_off]=${rl_pid:-} [plain_variant]=${vplain_pid:-} [gateway_variant]=${vgw_pid:-})
echo "Gateway load test: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up), GET $path, loopback$([ "$ROUNDS" -gt 1 ] && echo ", $ROUNDS interleaved rounds, medians")$([ -n "$PIN" ] && echo ", proxies pinned to CPU 1, upstream, Redis and wrk to CPU 0")"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)'), $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc)"
redis_usec=0; redis_calls=0; redis_scripts=0
rq_usec=0; rq_calls=0; rq_scripts=0
reset_redis_stats() { redis-cli -p "$redis_port" config resetstat >/dev/null; }
# redis_stats: usec, calls and script calls (EVAL/EVALSHA) of every command since the last reset, from one INFO read.
redis_stats() { redis-cli -p "$redis_port" info commandstats | tr -d '\r' |
  awk -F'[=,:]' '/^cmdstat_/ { usec += $5; calls += $3 } /^cmdstat_eval/ { scripts += $3 } END { print usec + 0, calls + 0, scripts + 0 }'; }
for ((round = 1; round <= ROUNDS; round++)); do
  run direct "$direct_url"
  run plain "$plain_url"
  [ -z "$VARIANT" ] || run plain_variant "http://127.0.0.1:$vplain_port$path"
  [ -z "$HEADERS" ] || run plain_headers "http://127.0.0.1:$headers_port$path"
  run gateway "$gw_url" "Authorization: Bearer $key"
  [ -z "$VARIANT" ] || run gateway_variant "http://127.0.0.1:$vgw_port$path" "Authorization: Bearer $vkey"
  [ -z "$QUOTAS" ] || run quotas "http://127.0.0.1:$q_port$path" "Authorization: Bearer $q_key"
  if [ -n "$BASELINE_DIR" ]; then
    run baseline "http://127.0.0.1:$base_port$path" "Authorization: Bearer $base_key"
  fi
  if [ -n "$with_redis" ]; then
    # Redis's own counters cover only the measured passes: reset after each warm-up, summed over rounds.
    before_measure=reset_redis_stats
    run redis "$rgw_url" "Authorization: Bearer $rkey"
    before_measure=""
    read -r usec calls scripts < <(redis_stats)
    redis_usec=$(( redis_usec + usec )); redis_calls=$(( redis_calls + calls )); redis_scripts=$(( redis_scripts + scripts ))
    if [ -n "$QUOTAS" ]; then
      before_measure=reset_redis_stats
      run redis_quotas "http://127.0.0.1:$rq_port$path" "Authorization: Bearer $rq_key"
      before_measure=""
      read -r usec calls scripts < <(redis_stats)
      rq_usec=$(( rq_usec + usec )); rq_calls=$(( rq_calls + calls )); rq_scripts=$(( rq_scripts + scripts ))
    fi
  fi
  if [ -n "$USAGE_OFF" ]; then
    run gateway_off "http://127.0.0.1:$off_port$path" "Authorization: Bearer $off_key"
  fi
  if [ -n "$REQLOG_OFF" ]; then
    run gateway_rl_off "http://127.0.0.1:$rl_port$path" "Authorization: Bearer $rl_key"
  fi
done
if [ -n "$with_redis" ]; then
  rl_keys=$(redis-cli -p "$redis_port" --scan --pattern 'gw:rl:*' | wc -l)
  ws_bytes=$(redis-cli -p "$redis_port" memory usage 'gw:rl:{ws:bench}')
  ip_bytes=$(redis-cli -p "$redis_port" memory usage 'gw:rl:{ip:127.0.0.1}')
fi
quota_targets=""
[ -n "$QUOTAS" ] && quota_targets="quotas"
[ -n "$QUOTAS" ] && [ -n "$with_redis" ] && quota_targets="quotas redis_quotas"
for name in direct plain ${HEADERS:+plain_headers} ${VARIANT:+plain_variant gateway_variant} gateway ${BASELINE_DIR:+baseline} ${with_redis:+redis} ${USAGE_OFF:+gateway_off} ${REQLOG_OFF:+gateway_rl_off} $quota_targets; do
  summarize "$name"
done

rss() { awk -v f="$2" '$1 == f ":" { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

echo
printf '| %-19s | %10s | %8s | %8s | %6s | %10s | %11s | %9s | %8s | %9s |\n' target "requests/s" "p50 ms" "p99 ms" errors "CPU us/req" "machine us" "switches" "RSS MiB" "peak MiB"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' --------------------- ------------ ---------- ---------- -------- ------------ ------------- ----------- ---------- -----------
rows=("direct upstream:direct:$up_pid" "plain YARP:plain:$plain_pid")
[ -n "$HEADERS" ] && rows+=("plain+headers:plain_headers:$headers_pid")
rows+=("gateway:gateway:$gw_pid")
[ -n "$VARIANT" ] && rows+=("plain YARP, variant:plain_variant:$vplain_pid" "gateway, variant:gateway_variant:$vgw_pid")
[ -n "$with_redis" ] && rows+=("gateway (Redis):redis:$rgw_pid")
[ -n "$USAGE_OFF" ] && rows+=("gateway, usage off:gateway_off:$off_pid")
[ -n "$REQLOG_OFF" ] && rows+=("gateway, log off:gateway_rl_off:$rl_pid")
[ -n "$BASELINE_DIR" ] && rows+=("gateway, baseline:baseline:$base_pid")
[ -n "$QUOTAS" ] && rows+=("quotas+credits:quotas:$q_pid")
[ -n "$QUOTAS" ] && [ -n "$with_redis" ] && rows+=("quotas+cred (Redis):redis_quotas:$rq_pid")
for row in "${rows[@]}"; do
  IFS=: read -r label name pid <<<"$row"
  printf '| %-19s | %10.0f | %8s | %8s | %6s | %10s | %11s | %9s | %8s | %9s |\n' "$label" "${rps[$name]}" "${p50[$name]}" "${p99[$name]}" "${errors[$name]}" "${cpu_us[$name]}" "${machine_us[$name]}" "${switches[$name]}" \
    "$(rss "$pid" VmRSS)" "$(rss "$pid" VmHWM)"
done

# ratio_row LABEL A B: one line of the ratio table, target A over target B (requests/s, p50, p99).
ratio_row() {
  printf '| %-24s | %10s | %6s | %6s |\n' "$1" "$(ratio "${rps[$2]}" "${rps[$3]}")" \
    "$(ratio "${p50[$2]}" "${p50[$3]}")" "$(ratio "${p99[$2]}" "${p99[$3]}")"
}
echo
printf '| %-24s | %10s | %6s | %6s |\n' ratio "requests/s" p50 p99
printf '|%s|%s|%s|%s|\n' -------------------------- ------------ -------- --------
ratio_row "gateway / plain YARP" gateway plain
if [ -n "$with_redis" ]; then
  ratio_row "gateway (Redis) / plain" redis plain
fi
if [ -n "$HEADERS" ]; then
  ratio_row "plain+headers / plain" plain_headers plain
  ratio_row "gateway / plain+headers" gateway plain_headers
fi
ratio_row "gateway / direct" gateway direct
ratio_row "plain YARP / direct" plain direct
if [ -n "$BASELINE_DIR" ]; then
  ratio_row "baseline / plain YARP" baseline plain
  ratio_row "gateway / baseline" gateway baseline
fi
if [ -n "$VARIANT" ]; then
  echo "variant: $VARIANT"
  ratio_row "variant / plain YARP" gateway_variant plain_variant
  ratio_row "variant gw / default plain" gateway_variant plain
  ratio_row "plain variant / default" plain_variant plain
  ratio_row "gateway variant / default" gateway_variant gateway
fi
if [ -n "$USAGE_OFF" ]; then
  ratio_row "usage on / usage off" gateway gateway_off
fi

if [ -n "$QUOTAS" ]; then
  ratio_row "quotas / plain YARP" quotas plain
  ratio_row "quotas / gateway" quotas gateway
  if [ -n "$with_redis" ]; then
    ratio_row "quotas (Redis) / plain" redis_quotas plain
    ratio_row "quotas (Redis) / Redis" redis_quotas redis
  fi
fi

if [ -n "$REQLOG_OFF" ]; then
  ratio_row "request log on / off" gateway gateway_rl_off
  ratio_row "log off / plain YARP" gateway_rl_off plain
fi

if [ "$ROUNDS" -gt 1 ]; then
  echo
  for ((round = 1; round <= ROUNDS; round++)); do
    line="round $round: gateway / plain YARP $(ratio "${rps_r[gateway,$round]}" "${rps_r[plain,$round]}")x requests/s, $(ratio "${p99_r[gateway,$round]}" "${p99_r[plain,$round]}")x p99"
    [ -n "$VARIANT" ] && line+="; variant gateway / plain $(ratio "${rps_r[gateway_variant,$round]}" "${rps_r[plain_variant,$round]}")x, variant / default: plain $(ratio "${rps_r[plain_variant,$round]}" "${rps_r[plain,$round]}")x gateway $(ratio "${rps_r[gateway_variant,$round]}" "${rps_r[gateway,$round]}")x"
    [ -n "$REQLOG_OFF" ] && line+="; request log on / off $(ratio "${rps_r[gateway,$round]}" "${rps_r[gateway_rl_off,$round]}")x requests/s"
    [ -n "$with_redis" ] && line+="; gateway (Redis) / plain $(ratio "${rps_r[redis,$round]}" "${rps_r[plain,$round]}")x, $(ratio "${p99_r[redis,$round]}" "${p99_r[plain,$round]}")x p99"
    echo "$line"
  done
fi

if [ -n "$with_redis" ]; then
  echo
  echo "Redis during the measured gateway (Redis) runs: ${requests[redis]} requests, $redis_calls commands ($redis_scripts lease scripts),"
  echo "  $(awk -v u="$redis_usec" -v r="${requests[redis]}" 'BEGIN { if (r > 0) printf "%.3f", u / r; else print "n/a" }') us of Redis CPU per request (INFO commandstats usec / requests)"
  echo "  limiter keys: $rl_keys; MEMORY USAGE workspace partition: ${ws_bytes:-0} B, IP partition: ${ip_bytes:-0} B"
  echo "  $(awk -v c="$redis_calls" -v r="${requests[redis]}" 'BEGIN { if (r > 0) printf "%.4f", c / r; else print "n/a" }') Redis commands per request"
  if [ -n "$QUOTAS" ]; then
    echo "Redis during the measured quotas+credits (Redis) runs: ${requests[redis_quotas]} requests, $rq_calls commands ($rq_scripts scripts),"
    echo "  $(awk -v c="$rq_calls" -v r="${requests[redis_quotas]}" 'BEGIN { if (r > 0) printf "%.4f", c / r; else print "n/a" }') Redis commands per request," \
      "$(awk -v u="$rq_usec" -v r="${requests[redis_quotas]}" 'BEGIN { if (r > 0) printf "%.3f", u / r; else print "n/a" }') us of Redis CPU per request"
  fi
fi

total_errors=$(( ${errors[direct]} + ${errors[plain]} + ${errors[plain_headers]:-0} + ${errors[gateway]} + ${errors[redis]:-0} + ${errors[gateway_off]:-0} + ${errors[baseline]:-0} + ${errors[gateway_rl_off]:-0} + ${errors[quotas]:-0} + ${errors[redis_quotas]:-0} + ${errors[plain_variant]:-0} + ${errors[gateway_variant]:-0} ))
if [ "$total_errors" -gt 0 ]; then
  echo
  echo "warning: $total_errors non-2xx responses or socket errors; see the errors column (the numbers above include them)" >&2
fi
