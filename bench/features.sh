#!/usr/bin/env bash
# Everything on, and what each feature costs: the gateway with signing, usage counting, the request log, a
# customer quota with key credits and a sampled access log all on, against plain YARP, and the same gateway
# with one feature off at a time, in one run with interleaved rounds. Started by `FEATURES=1 bash bench/load.sh`
# (which passes its settings through the environment); see docs/performance.md for what it prints.
#
#   FEATURES=1 ROUNDS=3 NO_BUILD=1 bash bench/load.sh 10s       # on the embedded store
#   FEATURES=1 STORE=redis ROUNDS=3 NO_BUILD=1 bash bench/load.sh  # every gateway on one fresh redis-server
#
# Targets, per round: direct upstream, plain YARP, "everything on" (the metered key: a customer on a plan with a
# quota of 10^12 a month and 10^12 credits), then everything on but one feature: quota and credits (the same
# gateway with the organization's default key, which has neither), signing, usage, the request log, the access
# log; and "everything off" (the gateway with every optional feature off: the key check, limits and headers).
# A feature's cost is "everything on" over "everything on but it": 0.97 means it takes 3% of the requests/s.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

DURATION=${1:-${DURATION:-10s}}
CONNECTIONS=${2:-${CONNECTIONS:-32}}
THREADS=${3:-${THREADS:-2}}
WARMUP=${WARMUP:-10s}
ROUNDS=${ROUNDS:-1}
NO_BUILD=${NO_BUILD:-}
STORE=${STORE:-sqlite}
MAX_SECONDS=${MAX_SECONDS:-$(( 300 + 400 * ROUNDS ))}
[ "$STORE" = sqlite ] || [ "$STORE" = redis ] || { echo "features.sh: STORE is sqlite or redis" >&2; exit 1; }
side=()
PIN_PROXY=""
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
bench_setup features "$MAX_SECONDS"
command -v wrk >/dev/null 2>&1 || die "wrk is required (bench/load.sh installs it)"
command -v curl >/dev/null 2>&1 || die "curl is required"
[ "$STORE" = sqlite ] || command -v redis-server >/dev/null 2>&1 || die "STORE=redis needs redis-server"

# shellcheck source=bench/measure.sh
source "$root/bench/measure.sh"
build_release

bin=bin/Release/net10.0
host="$root/bench/BenchHost/$bin/BenchHost.dll"
up_port=$(free_port); plain_port=$(free_port)
(exec dotnet "$host" upstream "$up_port") >"$tmp/upstream.log" 2>&1 &
up_pid=$!; pids+=("$up_pid")
(exec dotnet "$host" proxy "$plain_port" "http://127.0.0.1:$up_port/") >"$tmp/plain.log" 2>&1 &
plain_pid=$!; pids+=("$plain_pid")

store_env=()
if [ "$STORE" = redis ]; then
  redis_port=$(free_port)
  (exec redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no) >"$tmp/redis.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  store_env=(Gateway__Store__Redis="127.0.0.1:$redis_port")
fi

# Each feature's settings when on, and when off.
signing_on=(Gateway__Signing__Secrets__0__Id=bench Gateway__Signing__Secrets__0__Secret=bench-signing-secret-0123456789abcdefghijklmnop)
usage_off=(Gateway__Usage__Enabled=false)
reqlog_off=(Gateway__RequestLog__Enabled=false)
# One request in a hundred, as JSON, to the process's console (its log file here); errors would all be logged.
access_on=(Gateway__AccessLog__Enabled=true Gateway__AccessLog__SampleRate=0.01 Gateway__AccessLog__Format=json Logging__LogLevel__Gateway.AccessLog=Information)
plan=(Gateway__Plans__bench__Quota__Limit=1000000000000 Gateway__Plans__bench__Quota__Period=month)

admin_token="bench-admin-token-$(date +%s%N)"
# gateway NAME [VAR=VALUE...]: starts a gateway on fresh ports with the store settings; its pid goes to pid_of.
declare -A port_of admin_of
gateway() {
  local name=$1
  shift
  port_of[$name]=$(free_port); admin_of[$name]=$(free_port)
  start_gateway "$name" "$root/Gateway/$bin" "${port_of[$name]}" "${admin_of[$name]}" ${store_env[@]+"${store_env[@]}"} \
    Gateway__Store__RedisPrefix="gw-$name:" "$@"
  pid_of[$name]=$started_pid
}
gateway all "${signing_on[@]}" "${access_on[@]}" "${plan[@]}"
gateway no_signing "${access_on[@]}" "${plan[@]}"
gateway no_usage "${signing_on[@]}" "${access_on[@]}" "${plan[@]}" "${usage_off[@]}"
gateway no_reqlog "${signing_on[@]}" "${access_on[@]}" "${plan[@]}" "${reqlog_off[@]}"
gateway no_access "${signing_on[@]}" "${plan[@]}"
gateway none "${usage_off[@]}" "${reqlog_off[@]}"
pid_of[direct]=$up_pid; pid_of[plain]=$plain_pid; pid_of[no_quota]=${pid_of[all]}

wait_http "http://127.0.0.1:$up_port/" "$up_pid" upstream
wait_http "http://127.0.0.1:$plain_port/" "$plain_pid" plain

# metered_key NAME: the bench organization, a customer on the bench plan and a key of that customer with
# credits; prints the key. The organization's default key (no customer, no credits) goes to default_key[NAME].
declare -A key_of default_key
metered_key() {
  local out admin="http://127.0.0.1:${admin_of[$1]}/admin"
  default_key[$1]=$(bench_key "$1" "${pid_of[$1]}" "${admin_of[$1]}") || return 1
  curl -sf -X POST "$admin/orgs/bench/customers" -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d '{"id":"bench-customer","name":"Bench customer","plan":"bench"}' >/dev/null || die "could not create the bench customer ($1)"
  out=$(curl -sf -X POST "$admin/orgs/bench/keys" -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -d '{"name":"metered","customerId":"bench-customer","credits":{"remaining":1000000000000}}') || die "could not create the metered key ($1)"
  sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$out"
}
for name in all no_signing no_usage no_reqlog no_access; do
  # Not in a command substitution: metered_key sets default_key[NAME], which a subshell would lose.
  metered_key "$name" >"$tmp/key-$name" || exit 1
  key_of[$name]=$(cat "$tmp/key-$name")
done
key_of[none]=$(bench_key none "${pid_of[none]}" "${admin_of[none]}") || exit 1
key_of[no_quota]=${default_key[all]}
port_of[no_quota]=${port_of[all]}

path=/bench/hello
url_of() { echo "http://127.0.0.1:${port_of[$1]}$path"; }
for name in all no_quota no_signing no_usage no_reqlog no_access none; do
  status=$(curl -s -o "$tmp/check.body" -w '%{http_code}' "$(url_of "$name")" -H "Authorization: Bearer ${key_of[$name]}")
  [ "$status" = 200 ] || die "$name answers $status: $(cat "$tmp/check.body")"
done
# The metered key is charged (its credits go down) and the everything-on gateway signs and logs, so the
# "everything on" target really has everything on.
curl -s -D "$tmp/check.headers" -o /dev/null "$(url_of all)" -H "Authorization: Bearer ${key_of[all]}"
grep -qi '^X-Credits-Remaining:' "$tmp/check.headers" || die "the metered key's answer has no X-Credits-Remaining"
grep -qi '^X-Quota-' "$tmp/check.headers" || die "the metered key's answer has no X-Quota-* headers"

targets=(direct plain all no_quota no_signing no_usage no_reqlog no_access none)
echo "Every feature on, and each one off: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up), GET $path, loopback, store $STORE, $ROUNDS interleaved round(s), medians"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)'), $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc)"
for ((round = 1; round <= ROUNDS; round++)); do
  run direct "http://127.0.0.1:$up_port$path"
  run plain "http://127.0.0.1:$plain_port$path"
  for name in all no_quota no_signing no_usage no_reqlog no_access none; do
    run "$name" "$(url_of "$name")" "Authorization: Bearer ${key_of[$name]}"
  done
done
for name in "${targets[@]}"; do summarize "$name"; done

declare -A label=([direct]="direct upstream" [plain]="plain YARP" [all]="everything on" [no_quota]="all but quota+credits"
  [no_signing]="all but signing" [no_usage]="all but usage" [no_reqlog]="all but request log" [no_access]="all but access log"
  [none]="everything off")
echo
printf '| %-22s | %10s | %8s | %8s | %6s | %10s | %11s | %12s |\n' target "requests/s" "p50 ms" "p99 ms" errors "CPU us/req" "machine us" "/ plain YARP"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------ ------------ ---------- ---------- -------- ------------ ------------- --------------
for name in "${targets[@]}"; do
  printf '| %-22s | %10.0f | %8s | %8s | %6s | %10s | %11s | %12s |\n' "${label[$name]}" "${rps[$name]}" "${p50[$name]}" "${p99[$name]}" \
    "${errors[$name]}" "${cpu_us[$name]}" "${machine_us[$name]}" "$(ratio "${rps[$name]}" "${rps[plain]}")"
done

echo
echo "What each feature costs: everything on / everything on but that feature (requests/s; CPU us per request added)"
printf '| %-16s | %10s | %12s |\n' feature "rps ratio" "CPU us/req"
printf '|%s|%s|%s|\n' ------------------ ------------ --------------
for pair in "quota+credits:no_quota" "signing:no_signing" "usage:no_usage" "request log:no_reqlog" "access log:no_access" "all of them:none"; do
  IFS=: read -r feature name <<<"$pair"
  printf '| %-16s | %10s | %12s |\n' "$feature" "$(ratio "${rps[all]}" "${rps[$name]}")" \
    "$(awk -v a="${cpu_us[all]}" -v b="${cpu_us[$name]}" 'BEGIN { printf "%+.1f", a - b }')"
done

if [ "$ROUNDS" -gt 1 ]; then
  echo
  for ((round = 1; round <= ROUNDS; round++)); do
    echo "round $round: everything on / plain YARP $(ratio "${rps_r[all,$round]}" "${rps_r[plain,$round]}")x, everything off / plain YARP $(ratio "${rps_r[none,$round]}" "${rps_r[plain,$round]}")x"
  done
fi

total_errors=0
for name in "${targets[@]}"; do total_errors=$(( total_errors + ${errors[$name]} )); done
[ "$total_errors" -eq 0 ] || echo "warning: $total_errors non-2xx responses or socket errors; see the errors column" >&2
