#!/usr/bin/env bash
# Load test: direct upstream vs plain YARP vs the gateway (valid key, limits out of the way), one run,
# same wrk settings for each, loopback only. Prints requests/s, latency and the ratios.
# Usage: bench/load.sh [duration=10s] [connections=32] [threads=2]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}; CONNECTIONS=${2:-32}; THREADS=${3:-2}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

UP=19100; PLAIN=19101; GW=19102; ADMIN=19103
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

dotnet build bench/BenchHost -c Release -nologo -v quiet >/dev/null
dotnet build Gateway -c Release -nologo -v quiet >/dev/null
host=bench/BenchHost/bin/Release/net10.0/BenchHost.dll
gateway=Gateway/bin/Release/net10.0/Gateway.dll

dotnet "$host" upstream $UP >/dev/null 2>&1 & pids+=($!); up_pid=$!
dotnet "$host" proxy $PLAIN "http://127.0.0.1:$UP/" >/dev/null 2>&1 & pids+=($!); plain_pid=$!
(cd "$work" && exec env \
  Kestrel__Endpoints__Proxy__Url=http://127.0.0.1:$GW Kestrel__Endpoints__Admin__Url=http://127.0.0.1:$ADMIN \
  Gateway__Store__Path="$work/gateway.db" Gateway__Admin__Token=bench-admin-token-0123456789 Gateway__Demo__Enabled=false \
  Gateway__RateLimits__Ip__PermitLimit=100000000 Gateway__RateLimits__Workspace__PermitLimit=100000000 \
  Logging__LogLevel__Default=Warning \
  ReverseProxy__Routes__bench__ClusterId=bench ReverseProxy__Routes__bench__Match__Path='/{**rest}' \
  ReverseProxy__Clusters__bench__Destinations__d1__Address=http://127.0.0.1:$UP/ \
  dotnet "$OLDPWD/$gateway") >/dev/null 2>&1 & pids+=($!); gw_pid=$!

for url in "http://127.0.0.1:$UP/" "http://127.0.0.1:$PLAIN/" "http://127.0.0.1:$ADMIN/healthz"; do
  for _ in $(seq 1 100); do curl -fs "$url" >/dev/null 2>&1 && break; sleep 0.1; done
done
KEY=$(curl -fs -X POST "http://127.0.0.1:$ADMIN/admin/orgs" -H "Authorization: Bearer bench-admin-token-0123456789" \
  -d '{"id":"bench"}' | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
[ -n "$KEY" ] || { echo "could not create a key"; exit 1; }
curl -fs "http://127.0.0.1:$GW/x" -H "Authorization: Bearer $KEY" >/dev/null

run() { # name url [header]
  local out
  if [ -n "${3:-}" ]; then out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$3" "$2"); else out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2"); fi
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out"); errors=${errors:-0}
  echo "$1 $rps $p50 $p99 $errors"
}
rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

direct=$(run direct "http://127.0.0.1:$UP/")
plain=$(run plain-yarp "http://127.0.0.1:$PLAIN/")
gw=$(run gateway "http://127.0.0.1:$GW/" "Authorization: Bearer $KEY")

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
printf '| %-10s | %10s | %8s | %8s | %7s | %7s |\n' target "req/s" p50 p99 non-2xx "RSS MB"
printf '|%s|\n' "------------|------------|----------|----------|---------|---------"
for row in "$direct:$up_pid" "$plain:$plain_pid" "$gw:$gw_pid"; do
  read -r name rps p50 p99 errors <<<"${row%:*}"
  printf '| %-10s | %10s | %8s | %8s | %7s | %7s |\n' "$name" "$rps" "$p50" "$p99" "$errors" "$(rss "${row##*:}")"
done
g=$(awk '{print $2}' <<<"$gw"); p=$(awk '{print $2}' <<<"$plain"); d=$(awk '{print $2}' <<<"$direct")
awk -v g="$g" -v p="$p" -v d="$d" 'BEGIN { printf "\nthroughput ratio gateway/plain-yarp = %.2f, gateway/direct = %.2f, plain-yarp/direct = %.2f\n", g/p, g/d, p/d }'
