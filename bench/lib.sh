# Shared by bench/load.sh and bench/soak.sh (sourced, not run). The caller defines `die` and `tmp`
# (its temporary directory, where each process NAME logs to $tmp/NAME.log) and sets NO_BUILD.

# build_release: Release builds of the gateway and BenchHost, unless NO_BUILD is set.
build_release() {
  [ -n "$NO_BUILD" ] && return 0
  local project
  for project in Gateway/Gateway.csproj bench/BenchHost/BenchHost.csproj; do
    dotnet build "$project" -c Release -nologo -v quiet >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; die "build of $project failed"; }
  done
}

used=" "
# free_port: a loopback port nothing listens on.
free_port() {
  local port
  while :; do
    port=$(( 20000 + RANDOM % 40000 ))
    case "$used" in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      used="$used$port "
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
