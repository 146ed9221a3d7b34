# Shared by the bench scripts (sourced, not run, first thing after the settings). Each calls bench_setup, which
# defines $tmp (its temporary directory, where each process NAME logs to $tmp/NAME.log), $pids and die; the
# caller sets NO_BUILD.

# bench_setup NAME [MAX_SECONDS]: a temporary directory $tmp, removed on exit; $pids, the processes stopped on exit
# (all sent TERM, each then given 10 s before KILL); and, with MAX_SECONDS, a watchdog that stops the whole run
# after that long: a hung start or wrk must not keep the machine busy. die's messages start with NAME.sh.
bench_setup() {
  bench_name=$1
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/gw-$1.XXXXXX")
  pids=()
  watchdog=""
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  if [ -n "${2:-}" ]; then
    # Sleeps in one-second steps so that killing the watchdog leaves no long sleep behind.
    ( for ((i = 0; i < $2; i++)); do sleep 1; done; echo "$1.sh: over ${2}s, stopping" >&2; kill -TERM $$ ) 2>/dev/null &
    watchdog=$!
  fi
}

die() { echo "$bench_name.sh: $*" >&2; exit 1; }

# stop_pid PID: TERM, then KILL if it has not stopped within 10 s.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  if [ -n "$watchdog" ]; then kill "$watchdog" 2>/dev/null || true; fi
  rm -rf "$tmp"
}

# build_release: Release builds of the gateway and BenchHost, unless NO_BUILD is set.
build_release() {
  [ -n "$NO_BUILD" ] && return 0
  local project
  for project in Gateway/Gateway.csproj bench/BenchHost/BenchHost.csproj; do
    dotnet build "$project" -c Release -nologo -v quiet >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; die "build of $project failed"; }
  done
}

# free_port: a loopback port nothing listens on, below the kernel's ephemeral range (so an outgoing
# connection cannot take it between this check and the server's bind), and not handed out before in this
# run (remembered in a file: callers run it in a command substitution, a subshell).
free_port() {
  local port low
  low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "${low:-0}" -gt 11000 ] || low=32768
  while :; do
    port=$(( 10000 + RANDOM % (low - 10000) ))
    grep -qx "$port" "$tmp/ports" 2>/dev/null && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port" >>"$tmp/ports"
      echo "$port"
      return
    fi
  done
}

# wait_http URL PID NAME: until URL answers anything over HTTP, for at most 60 s.
wait_http() {
  for _ in $(seq 1 600); do
    kill -0 "$2" 2>/dev/null || { cat "$tmp/$3.log" >&2; die "$3 exited during start"; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true)" != "000" ] && return 0
    sleep 0.1
  done
  cat "$tmp/$3.log" >&2
  die "$3 did not answer on $1 within 60 s"
}

# start_gateway NAME DIR PROXY_PORT ADMIN_PORT [VAR=VALUE...]: the gateway built in DIR, with its own store,
# one route /bench/{**rest} to the upstream on $up_port, the limits out of the way and $admin_token as its
# admin token; sets started_pid. Used by load.sh and profile.sh.
start_gateway() {
  local name=$1 dir=$2 port=$3 admin=$4
  shift 4
  (cd "$dir" && exec env \
    Kestrel__Endpoints__Proxy__Url="http://127.0.0.1:$port" \
    Kestrel__Endpoints__Admin__Url="http://127.0.0.1:$admin" \
    Gateway__Store__Path="$tmp/store-$name/gateway.db" \
    Gateway__Admin__Token="$admin_token" \
    Gateway__Demo__Enabled=false \
    Gateway__RateLimits__Workspace__PermitLimit=1000000000 Gateway__RateLimits__Workspace__Window=00:01:00 \
    Gateway__RateLimits__Ip__PermitLimit=1000000000 Gateway__RateLimits__Ip__Window=00:01:00 \
    Logging__LogLevel__Default=Warning \
    ReverseProxy__Routes__bench__ClusterId=bench \
    "ReverseProxy__Routes__bench__Match__Path=/bench/{**rest}" \
    "ReverseProxy__Clusters__bench__Destinations__d1__Address=http://127.0.0.1:$up_port/" \
    "$@" ${PIN_PROXY:-} dotnet Gateway.dll) >"$tmp/$name.log" 2>&1 &
  started_pid=$!; pids+=("$started_pid")
}

# bench_key NAME PID ADMIN_PORT: waits for that gateway, creates the bench organization and prints its default key.
bench_key() {
  local org key
  wait_http "http://127.0.0.1:$3/healthz" "$2" "$1"
  org=$(curl -sf -X POST "http://127.0.0.1:$3/admin/orgs" -H "Authorization: Bearer $admin_token" \
    -H 'Content-Type: application/json' -d '{"id":"bench","name":"Bench"}') || die "could not create the bench organization ($1)"
  key=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$org")
  [ -n "$key" ] || die "no key in the admin API's answer ($1): $org"
  echo "$key"
}

# stat_ticks FILE: user + system CPU in clock ticks from a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file. The
# name in it is in parentheses and may hold spaces ("SQLite writer"), so fields are counted from the ") " after it:
# state is then the first, utime the 12th. Prints nothing if the file is gone (a thread that ended).
stat_ticks() { sed 's/.*) //' "$1" 2>/dev/null | awk '{ print $12 + $13 }'; }
