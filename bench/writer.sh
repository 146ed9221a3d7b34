#!/usr/bin/env bash
# What the embedded store's background writer costs in the in-process loop (Gateway.Benchmarks --loop: the gateway's
# pipeline without sockets, 100,000 keys over about 1,000 organizations taken in turn, every default feature on):
# over a WINDOW after WARMUP, the "SQLite writer" thread's CPU, the bytes the process wrote (wchar: the WAL and
# checkpoints) and the requests served, each per request.
#
#   bash bench/writer.sh [DIR=bench/Gateway.Benchmarks/bin/Release/net10.0]   # DIR: a build of Gateway.Benchmarks
#   ENV="Gateway__Usage__Enabled=false" bash bench/writer.sh /tmp/bench-old    # ENV: settings for that run
#
# Build first: dotnet build bench/Gateway.Benchmarks/Gateway.Benchmarks.csproj -c Release
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-bench/Gateway.Benchmarks/bin/Release/net10.0}
DIR=$(cd "$DIR" && pwd)
WARMUP=${WARMUP:-30}
WINDOW=${WINDOW:-20}
ROUND=20000
out=$(mktemp)
# shellcheck disable=SC2086
(cd /tmp && exec env ${ENV:-} timeout $((WARMUP + WINDOW + 120)) dotnet "$DIR/Gateway.Benchmarks.dll" --loop gateway $ROUND 1000 100000 default >"$out" 2>&1) &
runner=$!
trap 'pkill -f "Gateway.Benchmarks.dll --loop" || true; rm -f "$out"' EXIT
sleep "$WARMUP"
pid=$(pgrep -f "^dotnet $DIR/Gateway.Benchmarks.dll --loop" | head -1)
[ -n "$pid" ] || { cat "$out"; echo "the loop is not running" >&2; exit 1; }
tid=$(ps -L -o tid=,comm= -p "$pid" | awk '/SQLite writer/ { print $1 }')
[ -n "$tid" ] || { echo "no SQLite writer thread in $pid" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source bench/lib.sh # stat_ticks: user + system ticks of a stat file ("(SQLite writer)" holds a space)
wchar() { awk '/^wchar/ { print $2 }' "/proc/$pid/io"; }
rounds() { grep -c '^gateway:' "$out" || true; }
w1=$(stat_ticks "/proc/$pid/task/$tid/stat"); p1=$(stat_ticks "/proc/$pid/stat"); b1=$(wchar); r1=$(rounds)
sleep "$WINDOW"
w2=$(stat_ticks "/proc/$pid/task/$tid/stat"); p2=$(stat_ticks "/proc/$pid/stat"); b2=$(wchar); r2=$(rounds)
hz=$(getconf CLK_TCK)
requests=$(( (r2 - r1) * ROUND ))
[ "$requests" -gt 0 ] || { echo "no round completed in the window" >&2; exit 1; }
awk -v w=$((w2 - w1)) -v p=$((p2 - p1)) -v b=$((b2 - b1)) -v n="$requests" -v hz="$hz" -v win="$WINDOW" -v dir="$DIR" -v env="${ENV:-}" 'BEGIN {
  printf "%s %s: %d requests/s; per request: writer thread %.2f us CPU, process %.1f us CPU, %.0f bytes written\n",
    dir, env, n / win, w / hz * 1e6 / n, p / hz * 1e6 / n, b / n }'
kill "$runner" 2>/dev/null || true
