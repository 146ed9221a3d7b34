#!/usr/bin/env bash
# Runtime counters per request, plain YARP against the gateway (one key, wrk 2 threads x 32 connections): CPU,
# thread-pool work items, GC collections and pause, lock contentions, read with dotnet-counters (a dotnet tool:
# `dotnet tool install -g dotnet-counters`) over each 12 s run. Sequential, ROUNDS times, so read the rows of one
# round together: the machine's pace moves between runs. GW_ENV adds settings to the gateway (a feature off).
#
#   NO_BUILD=1 bash bench/counters.sh
#   NO_BUILD=1 GW_ENV="Gateway__RequestLog__Enabled=false Gateway__Usage__Enabled=false" bash bench/counters.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ROUNDS=${ROUNDS:-2}
export PATH="$PATH:$HOME/.dotnet/tools" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
bench_setup counters 900
command -v dotnet-counters >/dev/null 2>&1 || die "dotnet-counters is required: dotnet tool install -g dotnet-counters"
command -v wrk >/dev/null 2>&1 || die "wrk is required"
build_release
bin=bin/Release/net10.0
host="$root/bench/BenchHost/$bin/BenchHost.dll"
up_port=$(free_port); gw_port=$(free_port); admin_port=$(free_port); yarp_port=$(free_port)
(exec dotnet "$host" upstream "$up_port") >"$tmp/upstream.log" 2>&1 &
up_pid=$!; pids+=("$up_pid")
(exec dotnet "$host" proxy "$yarp_port" "http://127.0.0.1:$up_port/") >"$tmp/yarp.log" 2>&1 &
yarp_pid=$!; pids+=("$yarp_pid")
admin_token="bench-admin-token-$(date +%s%N)"
# shellcheck disable=SC2086
start_gateway gateway "$root/Gateway/$bin" "$gw_port" "$admin_port" ${GW_ENV:-}
gw_pid=$started_pid
wait_http "http://127.0.0.1:$up_port/" "$up_pid" upstream
key=$(bench_key gateway "$gw_pid" "$admin_port") || exit 1
wait_http "http://127.0.0.1:$yarp_port/" "$yarp_pid" yarp

measure() { # NAME PID URL
  wrk -t2 -c32 -d8s -H "Authorization: Bearer $key" "$3" >/dev/null
  dotnet-counters collect -p "$2" --counters System.Runtime --format csv -o "$tmp/$1.csv" --refresh-interval 1 >/dev/null 2>&1 &
  local dc=$! c0 c1 n
  sleep 3
  c0=$(stat_ticks "/proc/$2/stat")
  wrk -t2 -c32 -d12s -H "Authorization: Bearer $key" "$3" >"$tmp/$1.wrk"
  c1=$(stat_ticks "/proc/$2/stat")
  sleep 1
  kill -TERM "$dc" 2>/dev/null || true; wait "$dc" 2>/dev/null || true
  n=$(awk '/requests in/ { print $1 }' "$tmp/$1.wrk")
  # The counters are per-second rates: their sum over the collection is the run's total (plus a few idle seconds).
  awk -F, -v name="$1" -v n="$n" -v rps="$(awk '/^Requests\/sec/ { print $2 }' "$tmp/$1.wrk")" -v ticks=$(( c1 - c0 )) -v hz="$(getconf CLK_TCK)" '
    NR > 1 && $3 ~ /work_item.count/ { w += $NF }
    NR > 1 && $3 ~ /gc.collections.*gen0/ { g0 += $NF }
    NR > 1 && $3 ~ /gc.collections.*gen1/ { g1 += $NF }
    NR > 1 && $3 ~ /gc.pause/ { p += $NF }
    NR > 1 && $3 ~ /lock_contentions/ { l += $NF }
    END { printf "| %s | %.0f | %.1f | %.3f | %d | %d | %.2f | %d |\n", name, rps, ticks * 1e6 / hz / n, w / n, g0, g1, p * 1e6 / n, l }' "$tmp/$1.csv"
  rm -f "$tmp/$1.csv"
}
echo "commit $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'), gateway settings: ${GW_ENV:-defaults}"
echo "| target | requests/s | CPU us/request | work items/request | gen0 | gen1 | GC paused us/request | lock contentions |"
echo "|---|---|---|---|---|---|---|---|"
for ((round = 1; round <= ROUNDS; round++)); do
  measure "plain YARP" "$yarp_pid" "http://127.0.0.1:$yarp_port/bench/hello"
  measure gateway "$gw_pid" "http://127.0.0.1:$gw_port/bench/hello"
done
