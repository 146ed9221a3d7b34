#!/usr/bin/env bash
# Load test at scale (docs/performance.md, "At scale"): KEYS keys over ORGS organizations, imported with
# `Gateway keys import` (straight into the store, in batches), and wrk choosing a key per request (bench/keys.lua)
# uniformly or Zipf-distributed. Run through bench/load.sh:
#
#   KEYS=1000000 ORGS=10000 DIST=uniform bash bench/load.sh       # or DIST=zipf (ZIPF_S=1.0), or DIST="uniform zipf"
#   NO_REDIS=1 KEYS=100000 bash bench/load.sh                      # SQLite only
#   MAX_ENTRIES=500000 KEYS=1000000 bash bench/load.sh             # a cache smaller than the key set (default: KEYS)
#   FRESH_FOR=01:00:00 KEYS=1000000 bash bench/load.sh             # Gateway:Cache:FreshFor (and StaleFor); default: the gateway's
#   WARM_ROUNDS=3 KEYS=... bash bench/load.sh                       # 3 plain / warm pairs once warm; medians in the table
#   VARIANTS="-;DOTNET_gcConcurrent=1;DOTNET_gcServer=1" KEYS=... bash bench/load.sh
#                                                                  # one gateway per ';'-separated list of extra environment
#                                                                  # variables ('-' for none) on the same import, one after another
#   VARIANTS="-;BIN=/tmp/base/Gateway/bin/Release/net10.0" KEYS=...  # BIN=DIR in a variant: that build of the gateway instead
#   GCDUMP_OUT=/tmp/heap KEYS=... bash bench/load.sh              # a heap snapshot after each warm run, and its largest types
#   TRACE_OUT=/tmp/alloc KEYS=... bash bench/load.sh               # allocation samples of 6 s of each warm run (dotnet-trace),
#                                                                  # and bytes allocated per request by type
#   COLD_START=1 KEYS=... bash bench/load.sh                       # the cold run right after the gateway's start (JIT cold
#                                                                  # too), instead of after a WARMUP on one key
#
# For each store (SQLite, and Redis when redis-server is on the PATH) and each distribution, in one run:
#   plain YARP (same script, same headers; it ignores them) → gateway "cold" (its first requests after start, its JIT
#   warmed by WARMUP on one key unless COLD_START=1; the cache holds what the warm-up at start loaded, waited for
#   before the plain run, or with the variant Gateway__Cache__WarmUp=false nothing but that one key) →
#   a walk over every key (fills the cache; not measured) → plain YARP again → gateway "warm".
# Prints requests/s, p50/p99, the ratios to the plain YARP run next to it, the key cache hit ratio every
# SAMPLE seconds during the cold run (from gateway_key_cache_lookups_total on /metrics), the hit ratio of the warm
# run, and the gateway's RSS with every key cached. Seeding (generation and import) is timed and printed too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

KEYS=${KEYS:-1000000}
ORGS=${ORGS:-10000}
DIST=${DIST:-uniform zipf}
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
# The gateway runs WARMUP on one key before its cold run (COLD_START=1: not). Before anything is measured, plain YARP
# and the upstream run PLAIN_WARMUP on the key script: in a first run of 10 s plain YARP's next 20 s still did 10-15%
# fewer requests/s than its later runs (its server GC adapts its heaps to the load over the first minute).
WARMUP=${WARMUP:-10s}
PLAIN_WARMUP=${PLAIN_WARMUP:-30s}
COLD_START=${COLD_START:-}
SAMPLE=${SAMPLE:-5}
MAX_ENTRIES=${MAX_ENTRIES:-$KEYS}
# Gateway:Cache:FreshFor (and StaleFor): empty keeps the gateway's defaults (5 s, 5 min). A key used is re-read from
# the store once per FreshFor, so with N keys used evenly at R requests/s the hit ratio cannot pass 1 - N / (R x FreshFor):
# with a million keys and the default, nearly every request is a miss. FRESH_FOR=01:00:00 shows the other end.
FRESH_FOR=${FRESH_FOR:-}
STALE_FOR=${STALE_FOR:-$FRESH_FOR}
NO_REDIS=${NO_REDIS:-}
NO_BUILD=${NO_BUILD:-}
VARIANTS=${VARIANTS:--}
WARM_ROUNDS=${WARM_ROUNDS:-1}
# The walk that fills the cache: at most this long (seconds; cold SQLite misses ran at a few hundred per second on a
# busy machine); the printed hit ratio of the warm run says whether it was enough.
WALK_SECONDS=${WALK_SECONDS:-$(( KEYS / 200 + 60 ))}
MAX_SECONDS=${MAX_SECONDS:-$(( 900 + KEYS / 500 + 4 * WALK_SECONDS ))}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
PIN_PROXY=""

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
bench_setup scale "$MAX_SECONDS"

command -v wrk >/dev/null 2>&1 || die "wrk is required (apt-get install wrk; bench/load.sh installs it)"
command -v curl >/dev/null 2>&1 || die "curl is required"
build_release
if [ -z "$NO_BUILD" ]; then
  dotnet build bench/Gateway.Benchmarks/Gateway.Benchmarks.csproj -c Release -nologo -v quiet >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; die "build of Gateway.Benchmarks failed"; }
fi
bin=bin/Release/net10.0
host="$root/bench/BenchHost/$bin/BenchHost.dll"
with_redis=""
if [ -z "$NO_REDIS" ] && command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then with_redis=1; fi

echo "Gateway at scale: $KEYS keys over $ORGS organizations, DIST=$DIST, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, Gateway:Cache:MaxEntries=$MAX_ENTRIES, FreshFor=${FRESH_FOR:-default (00:00:05)}"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)'), $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc)"

# Seeding: generated keys (hashes in the import file, plaintext for wrk only), then one import per store.
started=$(date +%s.%N)
dotnet "$root/bench/Gateway.Benchmarks/$bin/Gateway.Benchmarks.dll" --make-keys "$KEYS" "$ORGS" "$tmp/import.jsonl" "$tmp/keys.txt"
echo "generated $KEYS keys in $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
mkdir -p "$tmp/store-gateway"
(cd "$root/Gateway/$bin" && dotnet Gateway.dll keys import --file "$tmp/import.jsonl" --store "$tmp/store-gateway/gateway.db") | sed 's/^/SQLite: /'
if [ -n "$with_redis" ]; then
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
  redis_pid=$!; pids+=("$redis_pid")
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  (cd "$root/Gateway/$bin" && dotnet Gateway.dll keys import --file "$tmp/import.jsonl" --redis "127.0.0.1:$redis_port" --prefix gw:) | sed 's/^/Redis: /'
  echo "Redis used_memory after import: $(redis-cli -p "$redis_port" info memory | tr -d '\r' | awk -F: '$1 == "used_memory_human" { print $2 }')"
fi

up_port=$(free_port); plain_port=$(free_port)
(exec dotnet "$host" upstream "$up_port") >"$tmp/upstream.log" 2>&1 &
up_pid=$!; pids+=("$up_pid")
(exec dotnet "$host" proxy "$plain_port" "http://127.0.0.1:$up_port/") >"$tmp/plain.log" 2>&1 &
plain_pid=$!; pids+=("$plain_pid")
wait_http "http://127.0.0.1:$up_port/" "$up_pid" upstream
wait_http "http://127.0.0.1:$plain_port/" "$plain_pid" plain
plain_url_base="http://127.0.0.1:$plain_port"
admin_token="bench-admin-token-$(date +%s%N)"

to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
# wrk_keys OUT DURATION URL DIST: one wrk run with the key script; its output in OUT.
wrk_keys() {
  KEYS_FILE="$tmp/keys.txt" DIST=$4 WALK_THREADS=$THREADS timeout $(( ${2%s} + 120 )) \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2" --latency -s "$root/bench/keys.lua" "$3" >"$1"
}
rps_of() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
p99_of() { to_ms "$(awk '$1 == "99%" { print $2 }' "$1")"; }
p50_of() { to_ms "$(awk '$1 == "50%" { print $2 }' "$1")"; }
errors_of() { awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$1"; }
# lookups PORT: "hits misses" from the gateway's /metrics.
lookups() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^gateway_key_cache_lookups_total/ { if ($0 ~ /result="hit"/) h = $NF; else if ($0 ~ /result="miss"/) m = $NF } END { printf "%d %d\n", h, m }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
rss() { awk -v f="$2" '$1 == f ":" { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# cpu_ticks PID: user + system CPU the process has used, in clock ticks; cpu_us TICKS REQUESTS_FILE: per request.
cpu_ticks() { stat_ticks "/proc/$1/stat"; }
# task_ticks TASK_DIR: the same for one thread (stat_ticks, bench/lib.sh).
task_ticks() { stat_ticks "$1/stat"; }
# writer_ticks PID: the same for the gateway's thread named "SQLite writer" (the store's background writes), 0 if none.
writer_ticks() {
  local task
  for task in /proc/"$1"/task/*; do
    if [ "$(cat "$task/comm" 2>/dev/null)" = "SQLite writer" ]; then task_ticks "$task"; return; fi
  done
  echo 0
}
# threads PID: per thread name (threads of one name summed, digits dropped so numbered threads of one kind are one row), its CPU
# ticks, voluntary and involuntary context switches so far. thread_table BEFORE AFTER REQUESTS: per request, the biggest first.
# A thread that ended during the run takes its counts with it, so a row can come out slightly low, even negative.
threads() {
  local task
  for task in /proc/"$1"/task/*; do
    printf '%s\t%s\t%s\n' "$(tr -d '0-9' <"$task/comm" 2>/dev/null | sed 's/ *$//')" "$(task_ticks "$task")" \
      "$(awk '/^voluntary_ctxt/ { v = $2 } /^nonvoluntary_ctxt/ { n = $2 } END { print v + 0 "\t" n + 0 }' "$task/status" 2>/dev/null)"
  done | awk -F'\t' '{ c[$1] += $2; v[$1] += $3; n[$1] += $4; t[$1]++ } END { for (k in c) printf "%s\t%d\t%d\t%d\t%d\n", k, c[k], v[k], n[k], t[k] }'
}
thread_table() {
  awk -F'\t' -v r="$3" -v hz="$(getconf CLK_TCK)" 'NR == FNR { c[$1] = $2; v[$1] = $3; n[$1] = $4; next }
    { dc = $2 - c[$1]; dv = $3 - v[$1]; dn = $4 - n[$1]; if (r > 0 && (dc > 0 || dv + dn > 0))
        printf "%8.1f µs %6.2f vol %6.2f invol %3d threads  %s\n", dc * 1e6 / hz / r, dv / r, dn / r, $5, $1 }' "$1" "$2" | sort -n -r
}
cpu_us() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v r="$(awk '/requests in/ { print $1 }' "$2")" 'BEGIN { if (r > 0) printf "%.1f", t * 1e6 / hz / r; else print "n/a" }'; }

rows=()
# gc PORT: "gen0 gen1 gen2 pause-seconds allocated-bytes gen1-MiB gen2-MiB" so far, from the runtime's metrics on the
# gateway's /metrics (the generations' sizes as of the last collection).
gc() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^dotnet_gc_collections_total/ { if ($0 ~ /gen0/) g0 = $NF; else if ($0 ~ /gen1/) g1 = $NF; else if ($0 ~ /gen2/) g2 = $NF }
    /^dotnet_gc_pause_time_seconds_total/ { p = $NF }
    /^dotnet_gc_heap_total_allocated_bytes_total/ { a = $NF }
    /^dotnet_gc_last_collection_heap_size_bytes[{]/ { if ($0 ~ /gen1/) s1 = $NF; else if ($0 ~ /gen2/) s2 = $NF }
    END { printf "%d %d %d %s %.0f %.1f %.1f\n", g0, g1, g2, p + 0, a, s1 / 1048576, s2 / 1048576 }'
}

# measure STORE DIST [VARIANT]: a fresh gateway on STORE (with VARIANT's environment variables, '-' for none), then
# plain / cold / walk / plain / warm as described above.
measure() {
  local store=$1 dist=$2 variant=${3:--} name="gw-$1-$2-$RANDOM" port admin pid
  port=$(free_port); admin=$(free_port)
  local extra=(Gateway__Cache__MaxEntries="$MAX_ENTRIES")
  local label=""
  local dir="$root/Gateway/$bin" item
  if [ "$variant" != - ]; then
    local variant_env; read -r -a variant_env <<<"$variant"; label=" $variant"
    # BIN=DIR runs another build of the gateway (e.g. a worktree of an earlier commit) instead of this one.
    for item in "${variant_env[@]}"; do
      case "$item" in BIN=*) dir=${item#BIN=} ;; *) extra+=("$item") ;; esac
    done
  fi
  [ -z "$FRESH_FOR" ] || extra+=(Gateway__Cache__FreshFor="$FRESH_FOR")
  [ -z "$STALE_FOR" ] || extra+=(Gateway__Cache__StaleFor="$STALE_FOR")
  if [ "$store" = redis ]; then
    extra+=(Gateway__Store__Redis="127.0.0.1:$redis_port")
  else
    # Every gateway of the run reads the same imported file; a copy keeps each start's cache and WAL its own.
    mkdir -p "$tmp/store-$name"; cp "$tmp/store-gateway/gateway.db" "$tmp/store-$name/gateway.db"
  fi
  [ -z "${PERF_OUT:-}" ] || extra+=(DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0)
  extra+=(Logging__LogLevel__Gateway.Keys.KeyCacheWarmUp=Information)
  start_gateway "$name" "$dir" "$port" "$admin" "${extra[@]}"
  pid=$started_pid
  wait_http "http://127.0.0.1:$admin/healthz" "$pid" "$name"
  # The key cache's warm-up at start (Gateway:Cache:WarmUp, on by default) reads the keys in the background: wait for
  # its log line, so it does not share the machine with the plain run the cold ratio is taken against.
  if [[ " ${extra[*]} " != *" Gateway__Cache__WarmUp=false "* ]]; then
    local waited=0
    until grep -q 'Key cache warm' "$tmp/$name.log"; do
      sleep 1; waited=$(( waited + 1 ))
      kill -0 "$pid" 2>/dev/null || die "$name exited during its key cache warm-up"
      [ "$waited" -lt 900 ] || die "$name: no key cache warm-up line in its log after 900 s"
    done
    echo "  $store/$dist: $(grep -o 'Key cache warm.*' "$tmp/$name.log" | head -1) (seen after ${waited}s)"
  fi
  local url="http://127.0.0.1:$port/bench/hello" plain_url="http://127.0.0.1:$plain_port/bench/hello"
  local first; first=$(head -1 "$tmp/keys.txt")
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" -H "Authorization: Bearer $first")" = 200 ] || die "$name does not accept an imported key"

  # The plain run first, also warming wrk's own Lua tables and the JIT of the upstream.
  wrk_keys "$tmp/$name-plain1.txt" "$DURATION" "$plain_url" "$dist"
  # Cold: the cache holds one key. Its JIT is warm from WARMUP on that key, or (COLD_START=1) warms up during this
  # run too, as it would right after a deploy.
  [ -n "$COLD_START" ] || wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -H "Authorization: Bearer $first" "$url" >/dev/null
  echo "  $store/$dist cold run: key cache hit ratio every ${SAMPLE}s (cumulative since start | in the interval)"
  local before h0 m0 h m ph=0 pm=0
  read -r h0 m0 < <(lookups "$admin")
  ph=$h0; pm=$m0
  wrk_keys "$tmp/$name-cold.txt" "$DURATION" "$url" "$dist" &
  local wrk_pid=$! t=0
  while kill -0 "$wrk_pid" 2>/dev/null; do
    sleep "$SAMPLE"; t=$(( t + SAMPLE ))
    read -r h m < <(lookups "$admin")
    echo "    t=${t}s: $(ratio $(( h - h0 )) $(( h - h0 + m - m0 ))) | $(ratio $(( h - ph )) $(( h - ph + m - pm ))) ($(( m - pm )) misses)"
    ph=$h; pm=$m
  done
  wait "$wrk_pid" || die "wrk failed on $name (cold)"
  # The walk: every key in turn, not measured, until a SAMPLE-second interval has no miss (every key the cache
  # can hold is in it) or WALK_SECONDS have passed.
  env KEYS_FILE="$tmp/keys.txt" DIST=walk WALK_THREADS=$THREADS \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WALK_SECONDS}s" -s "$root/bench/keys.lua" "$url" >"$tmp/$name-walk.txt" &
  wrk_pid=$!; t=0
  read -r ph pm < <(lookups "$admin")
  while kill -0 "$wrk_pid" 2>/dev/null; do
    sleep "$SAMPLE"; t=$(( t + SAMPLE ))
    read -r h m < <(lookups "$admin")
    if [ $(( m - pm )) -eq 0 ] && [ $(( h - ph )) -gt 0 ]; then kill -TERM "$wrk_pid" 2>/dev/null || true; break; fi
    ph=$h; pm=$m
  done
  wait "$wrk_pid" 2>/dev/null || true
  echo "  $store/$dist walk over every key: ${t}s until an interval without a miss (cache: $(( m )) misses since start)"
  local c0; c0=$(cpu_ticks "$plain_pid")
  threads "$plain_pid" >"$tmp/$name-plain-threads0"
  wrk_keys "$tmp/$name-plain2.txt" "$DURATION" "$plain_url" "$dist"
  threads "$plain_pid" >"$tmp/$name-plain-threads1"
  local plain_cpu; plain_cpu=$(cpu_us $(( $(cpu_ticks "$plain_pid") - c0 )) "$tmp/$name-plain2.txt")
  read -r h0 m0 < <(lookups "$admin")
  c0=$(cpu_ticks "$pid")
  local w0; w0=$(writer_ticks "$pid")
  local g0 g1 g2 gp ga gs1 gs2; read -r g0 g1 g2 gp ga gs1 gs2 < <(gc "$admin")
  local r0=0
  [ "$store" != redis ] || { redis-cli -p "$redis_port" config resetstat >/dev/null; r0=$(cpu_ticks "$redis_pid"); }
  # PERF_OUT=FILE: perf samples of the gateway over the warm run's middle (perf map on, as in bench/profile.sh).
  if [ -n "${PERF_OUT:-}" ]; then (sleep 2; perf record -F 999 -g -p "$pid" -o "$PERF_OUT.$store.$dist" -- sleep 6 >/dev/null 2>&1) & fi
  # TRACE_OUT=FILE: the runtime's allocation samples and GC events over 6 s of the warm run's middle (dotnet-trace, a
  # dotnet tool; the same events as bench/profile.sh PROFILER=allocations), reported by type after the run.
  if [ -n "${TRACE_OUT:-}" ]; then
    rm -f "$TRACE_OUT.$store.$dist.nettrace" # each variant's own, never the one before's
    (sleep 2; dotnet-trace collect -p "$pid" --providers Microsoft-Windows-DotNETRuntime:0x80000000001:5 \
      --duration 00:00:00:06 -o "$TRACE_OUT.$store.$dist.nettrace" >/dev/null 2>&1 || echo "  (dotnet-trace failed: is it installed and on the PATH?)") &
  fi
  threads "$pid" >"$tmp/$name-threads0"
  wrk_keys "$tmp/$name-warm.txt" "$DURATION" "$url" "$dist"
  threads "$pid" >"$tmp/$name-threads1"
  local warm_cpu; warm_cpu=$(cpu_us $(( $(cpu_ticks "$pid") - c0 )) "$tmp/$name-warm.txt")
  local writer_cpu; writer_cpu=$(cpu_us $(( $(writer_ticks "$pid") - w0 )) "$tmp/$name-warm.txt")
  echo "  $store/$dist$label warm run: CPU $warm_cpu µs per request, of which the SQLite writer thread $writer_cpu"
  # Where the CPU and the context switches are, per thread name (BenchHost's plain YARP in its run just before).
  echo "  $store/$dist$label warm run by thread, per request (plain YARP's run before it below):"
  thread_table "$tmp/$name-threads0" "$tmp/$name-threads1" "$(awk '/requests in/ { print $1 }' "$tmp/$name-warm.txt")" | sed 's/^/    /'
  echo "    --"
  thread_table "$tmp/$name-plain-threads0" "$tmp/$name-plain-threads1" "$(awk '/requests in/ { print $1 }' "$tmp/$name-plain2.txt")" | sed 's/^/    /'
  read -r h m < <(lookups "$admin")
  local requests; requests=$(awk '/requests in/ { print $1 }' "$tmp/$name-warm.txt")
  local e0 e1 e2 ep ea es1 es2; read -r e0 e1 e2 ep ea es1 es2 < <(gc "$admin")
  echo "  $store/$dist$label warm run, GC: $(( e0 - g0 )) gen0, $(( e1 - g1 )) gen1, $(( e2 - g2 )) gen2 collections," \
    "$(awk -v a="$gp" -v b="$ep" -v d="${DURATION%s}" 'BEGIN { printf "%.0f ms paused (%.1f%% of the run)", (b - a) * 1000, (b - a) * 100 / d }')," \
    "$(awk -v a="$ga" -v b="$ea" -v r="$requests" 'BEGIN { if (r > 0) printf "%.0f B allocated per request", (b - a) / r }');" \
    "gen1 $gs1 → $es1 MiB, gen2 $gs2 → $es2 MiB (as of the last collection)"
  if [ "$store" = redis ]; then
    # What the warm run asked of Redis, per request: with every key cached, whatever is left is limits, usage and the log.
    # Redis's own CPU (user + system from /proc): commandstats' times are wall time, and on 2 busy cores they include
    # the moments redis-server waited for a core in the middle of a script.
    echo "  $store/$dist warm run, Redis CPU $(cpu_us $(( $(cpu_ticks "$redis_pid") - r0 )) "$tmp/$name-warm.txt") µs per request;" \
      "commands per request (INFO commandstats; calls inside scripts count too):"
    redis-cli -p "$redis_port" info commandstats | tr -d '\r' | awk -F'[=,:]' -v r="$requests" \
      '/^cmdstat_/ { if (r > 0 && $3 / r >= 0.001) printf "    %s %.3f (%.1f us each)\n", substr($1, 9), $3 / r, $5 / $3 }'
  fi
  if [ -n "${TRACE_OUT:-}" ] && [ -f "$TRACE_OUT.$store.$dist.nettrace" ]; then
    echo "  $store/$dist$label warm run, allocations by type (6 s of it, requests estimated at the run's rate):"
    dotnet "$root/bench/Gateway.Benchmarks/$bin/Gateway.Benchmarks.dll" --trace-report "$TRACE_OUT.$store.$dist.nettrace" \
      "$(awk '/^Requests\/sec:/ { printf "%d", $2 * 6 }' "$tmp/$name-warm.txt")" 25 | sed 's/^/    /'
  fi
  # GCDUMP_OUT=FILE: a heap snapshot of the gateway after the warm run (dotnet-gcdump, a dotnet tool), and its
  # report's largest types: what the process holds with every key cached.
  if [ -n "${GCDUMP_OUT:-}" ]; then
    dotnet-gcdump collect -p "$pid" -o "$GCDUMP_OUT.$store.$dist.gcdump" >/dev/null 2>&1 || echo "  (dotnet-gcdump failed: is it installed and on the PATH?)"
    # The report gives a type's object size and count per line; sorted here by their product, the bytes held.
    [ ! -f "$GCDUMP_OUT.$store.$dist.gcdump" ] || dotnet-gcdump report "$GCDUMP_OUT.$store.$dist.gcdump" 2>/dev/null \
      | awk '{ b = $1; c = $2; gsub(/,/, "", b); gsub(/,/, "", c); if (b ~ /^[0-9]+$/ && c ~ /^[0-9]+$/) { $1 = ""; $2 = ""; printf "%12d B %9d %s\n", b * c, c, $0 } }' \
      | sort -n -r | head -15 | sed 's/^/    /'
  fi
  local warm_ratio; warm_ratio=$(ratio $(( h - h0 )) $(( h - h0 + m - m0 )))
  # WARM_ROUNDS > 1: more plain / warm pairs on the same warm gateway; the table then shows each column's median.
  local r rps_ratios=("$(ratio "$(rps_of "$tmp/$name-warm.txt")" "$(rps_of "$tmp/$name-plain2.txt")")") cpu_ratios=("$(ratio "$warm_cpu" "$plain_cpu")")
  for r in $(seq 2 "$WARM_ROUNDS"); do
    c0=$(cpu_ticks "$plain_pid")
    wrk_keys "$tmp/$name-plain2-$r.txt" "$DURATION" "$plain_url" "$dist"
    local pc; pc=$(cpu_us $(( $(cpu_ticks "$plain_pid") - c0 )) "$tmp/$name-plain2-$r.txt")
    c0=$(cpu_ticks "$pid"); w0=$(writer_ticks "$pid")
    wrk_keys "$tmp/$name-warm-$r.txt" "$DURATION" "$url" "$dist"
    local wc; wc=$(cpu_us $(( $(cpu_ticks "$pid") - c0 )) "$tmp/$name-warm-$r.txt")
    local ww; ww=$(cpu_us $(( $(writer_ticks "$pid") - w0 )) "$tmp/$name-warm-$r.txt")
    rps_ratios+=("$(ratio "$(rps_of "$tmp/$name-warm-$r.txt")" "$(rps_of "$tmp/$name-plain2-$r.txt")")"); cpu_ratios+=("$(ratio "$wc" "$pc")")
    echo "  $store/$dist$label warm round $r: $(rps_of "$tmp/$name-warm-$r.txt") r/s (plain $(rps_of "$tmp/$name-plain2-$r.txt")), CPU $wc µs/r (plain $pc), of which the SQLite writer $ww"
  done
  echo "  $store/$dist$label warm / plain by round: requests/s ${rps_ratios[*]}; CPU per request ${cpu_ratios[*]}"
  median_of() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  warm_median=$(median_of "${rps_ratios[@]}"); cpu_median=$(median_of "${cpu_ratios[@]}")
  rows+=("$store|$dist$label|$(rps_of "$tmp/$name-plain1.txt")|$(rps_of "$tmp/$name-cold.txt")|$(p99_of "$tmp/$name-plain1.txt")|$(p99_of "$tmp/$name-cold.txt")|$(rps_of "$tmp/$name-plain2.txt")|$(rps_of "$tmp/$name-warm.txt")|$(p99_of "$tmp/$name-plain2.txt")|$(p99_of "$tmp/$name-warm.txt")|$warm_ratio|$(rss "$pid" VmRSS)|$(rss "$pid" VmHWM)|$plain_cpu|$warm_cpu|$warm_median|$cpu_median|$(( $(errors_of "$tmp/$name-cold.txt") + $(errors_of "$tmp/$name-warm.txt") ))")
  kill -TERM "$pid" 2>/dev/null || true
}

# The first variant's first plain run used to be plain YARP's first load since its start, slower than any later
# run, which flattered that variant's cold ratio against the others'.
wrk_keys "$tmp/plain-warmup.txt" "$PLAIN_WARMUP" "$plain_url_base/bench/hello" uniform
IFS=';' read -r -a variant_list <<<"$VARIANTS"
for dist in $DIST; do
  for variant in "${variant_list[@]}"; do
    [ -n "${SKIP_SQLITE:-}" ] || measure sqlite "$dist" "$variant"
    [ -z "$with_redis" ] || measure redis "$dist" "$variant"
  done
done

echo
printf '| %-7s | %-7s | %9s | %9s | %5s | %7s | %9s | %9s | %5s | %7s | %9s | %7s | %8s | %13s | %6s |\n' store dist "plain r/s" "cold r/s" cold "cold p99" "plain r/s" "warm r/s" warm "warm p99" "warm hits" "RSS MiB" "peak MiB" "warm CPU µs/r" errors
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' --------- --------- ----------- ----------- ------- --------- ----------- ----------- ------- --------- ----------- --------- ---------- --------------- --------
for row in "${rows[@]}"; do
  IFS='|' read -r store dist p1 cold pp1 cp99 p2 warm pp2 wp99 hits rss_now rss_peak pcpu wcpu wmed cmed errs <<<"$row"
  printf '| %-7s | %-7s | %9.0f | %9.0f | %5s | %7s | %9.0f | %9.0f | %5s | %7s | %9s | %7s | %8s | %13s | %6s |\n' "$store" "$dist" "$p1" "$cold" "$(ratio "$cold" "$p1")" "$(ratio "$cp99" "$pp1")" \
    "$p2" "$warm" "$wmed" "$(ratio "$wp99" "$pp2")" "$hits" "$rss_now" "$rss_peak" "$wcpu (${cmed}x)" "$errs"
done
echo "(cold, warm: requests/s as a ratio to the plain YARP run just before; p99 columns: ratio to that run's p99;"
echo " warm CPU: the gateway's user + system CPU per request in the warm run, and its ratio to plain YARP's in the run before;"
[ "$WARM_ROUNDS" -le 1 ] || echo " the warm ratio and the CPU ratio are medians over $WARM_ROUNDS plain / warm pairs)"
echo " RSS: the gateway after the warm run, with every key it resolved cached; plain YARP's RSS: $(rss "$plain_pid" VmRSS) MiB)"
