#!/usr/bin/env bash
# CPU profile of the gateway under load: the same setup as bench/load.sh's gateway target (one route to
# bench/BenchHost, a key from the admin API, limits raised out of the way), wrk for DURATION, and a
# sampler on the gateway during the middle of the run:
#   PROFILER=perf (default when `perf` is installed): Linux perf CPU samples with the runtime's perf map
#     (DOTNET_PerfMapEnabled=1), printed as the top symbols by self time and with children;
#   PROFILER=dotnet-trace: EventPipe thread-time samples (wall clock, so idle waits dominate), printed
#     with `dotnet-trace report topN`; the .nettrace is kept for PerfView or speedscope;
#   PROFILER=allocations: the runtime's allocation samples and GC events (dotnet-trace), printed as bytes
#     allocated per request by type and collections and pause time per request
#     (Gateway.Benchmarks --trace-report).
# GATEWAY_ENV="Gateway__X=1 Gateway__Y=2" adds settings to the gateway (a feature on or off) for an A/B reading.
# PERF_EVENT=sched:sched_switch (with PROFILER=perf) records that event with its call stacks instead of CPU samples:
# where each proxy's threads block and switch out, side by side with TARGET=plain.
# TARGET=plain profiles bench/BenchHost's plain YARP proxy (same route, no key) instead of the gateway,
# for a side-by-side reading.
#
#   bash bench/profile.sh [duration=20s] [store=sqlite|redis]
#   NO_BUILD=1 OUT=/tmp/gw.data bash bench/profile.sh 20s redis
#   PROFILER=allocations bash bench/profile.sh 14s; PROFILER=allocations TARGET=plain bash bench/profile.sh 14s
#
# Needs wrk, and perf (linux-perf) or dotnet-trace (`dotnet tool install -g dotnet-trace`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

DURATION=${1:-${DURATION:-20s}}
STORE=${2:-${STORE:-sqlite}}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
TOP=${TOP:-40}
WARMUP=${WARMUP:-15s}
NO_BUILD=${NO_BUILD:-}
PROFILER=${PROFILER:-$(command -v perf >/dev/null 2>&1 && echo perf || echo dotnet-trace)}
TARGET=${TARGET:-gateway}
OUT=${OUT:-${TMPDIR:-/tmp}/$TARGET-$STORE.$([ "$PROFILER" = perf ] && echo perf.data || echo nettrace)}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export PATH="$PATH:$HOME/.dotnet/tools"

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
bench_setup profile
[ "${DURATION%s}" -ge 6 ] 2>/dev/null || die "DURATION must be at least 6s (2 s before and after the sampled middle), got $DURATION"

command -v wrk >/dev/null 2>&1 || die "wrk is required (apt-get install wrk)"
if [ "$PROFILER" != perf ]; then
  command -v dotnet-trace >/dev/null 2>&1 || dotnet tool install -g dotnet-trace >/dev/null || die "could not install dotnet-trace"
fi

build_release
if [ "$PROFILER" = allocations ] && [ -z "$NO_BUILD" ]; then
  dotnet build bench/Gateway.Benchmarks/Gateway.Benchmarks.csproj -c Release -nologo -v quiet >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; die "build of Gateway.Benchmarks failed"; }
fi
bin=bin/Release/net10.0
up_port=$(free_port); gw_port=$(free_port); admin_port=$(free_port)
(exec dotnet "$root/bench/BenchHost/$bin/BenchHost.dll" upstream "$up_port") >"$tmp/upstream.log" 2>&1 &
up_pid=$!; pids+=("$up_pid")

store_env=()
if [ "$STORE" = redis ]; then
  redis_port=$(free_port)
  (exec redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no) >"$tmp/redis.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  store_env+=(Gateway__Store__Redis="127.0.0.1:$redis_port")
fi

admin_token="profile-admin-token-$(date +%s%N)"
wait_http "http://127.0.0.1:$up_port/" "$up_pid" upstream
if [ "$TARGET" = plain ]; then
  (exec env DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 dotnet "$root/bench/BenchHost/$bin/BenchHost.dll" proxy "$gw_port" "http://127.0.0.1:$up_port/") >"$tmp/plain.log" 2>&1 &
  gw_pid=$!; pids+=("$gw_pid")
  wait_http "http://127.0.0.1:$gw_port/" "$gw_pid" plain
  key=none
else
  # shellcheck disable=SC2086 # GATEWAY_ENV is a list of VAR=VALUE words
  start_gateway gateway "$root/Gateway/$bin" "$gw_port" "$admin_port" DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 "${store_env[@]}" ${GATEWAY_ENV:-}
  gw_pid=$started_pid
  key=$(bench_key gateway "$gw_pid" "$admin_port") || exit 1
fi
url="http://127.0.0.1:$gw_port/bench/hello"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url" -H "Authorization: Bearer $key")" = 200 ] || die "$url does not answer 200"

seconds=${DURATION%s}
# Warm up (JIT, tiering, pools), then trace the middle of the measured run.
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -H "Authorization: Bearer $key" "$url" >/dev/null
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" -H "Authorization: Bearer $key" "$url" >"$tmp/wrk.txt" &
wrk_pid=$!
sleep 2
if [ "$PROFILER" = perf ]; then
  # shellcheck disable=SC2046 # the event's two words, or the sampling rate's
  perf record $([ -n "${PERF_EVENT:-}" ] && echo "-e $PERF_EVENT" || echo "-F 999") -g -p "$gw_pid" -o "$OUT" -- sleep $(( seconds - 4 )) >"$tmp/trace.log" 2>&1 \
    || { cat "$tmp/trace.log"; die "perf record failed"; }
elif [ "$PROFILER" = allocations ]; then
  # GC events (keyword 0x1) and .NET 10's randomized allocation sampling (0x80000000000).
  dotnet-trace collect -p "$gw_pid" --providers Microsoft-Windows-DotNETRuntime:0x80000000001:5 --duration "00:00:00:$(( seconds - 4 ))" -o "$OUT" >"$tmp/trace.log" 2>&1 \
    || { cat "$tmp/trace.log"; die "dotnet-trace failed"; }
else
  dotnet-trace collect -p "$gw_pid" --profile dotnet-sampled-thread-time --duration "00:00:00:$(( seconds - 4 ))" -o "$OUT" >"$tmp/trace.log" 2>&1 \
    || { cat "$tmp/trace.log"; die "dotnet-trace failed"; }
fi
wait "$wrk_pid"

echo "$TARGET $PROFILER profile ($STORE store): wrk -t$THREADS -c$CONNECTIONS -d$DURATION; commit $(git rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC')"
awk '/^Requests\/sec:/ { print "requests/s: " $2 }' "$tmp/wrk.txt"
echo "trace: $OUT"
if [ "$PROFILER" = perf ]; then
  echo "== top $TOP symbols by self time"
  perf report -i "$OUT" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -n "$TOP"
  echo "== top $TOP symbols with children"
  perf report -i "$OUT" --children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -n "$TOP"
elif [ "$PROFILER" = allocations ]; then
  # The trace covers the run's middle (seconds - 4 s); the requests in it are estimated at the run's rate.
  requests=$(awk -v s=$(( seconds - 4 )) '/^Requests\/sec:/ { printf "%d", $2 * s }' "$tmp/wrk.txt")
  dotnet "$root/bench/Gateway.Benchmarks/$bin/Gateway.Benchmarks.dll" --trace-report "$OUT" "$requests" "$TOP"
else
  echo "== top $TOP by exclusive time"
  dotnet-trace report "$OUT" topN -n "$TOP"
  echo "== top $TOP by inclusive time"
  dotnet-trace report "$OUT" topN -n "$TOP" --inclusive
fi
