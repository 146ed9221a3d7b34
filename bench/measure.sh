# Shared by bench/load.sh and bench/features.sh (sourced, not run): one wrk measurement of a target, the
# medians over interleaved rounds, and ratios. The caller sets DURATION, WARMUP, THREADS, CONNECTIONS, ROUNDS,
# tmp, up_pid (the upstream, whose CPU counts in "machine us"), side (a command prefix, or empty), round (the
# current round) and pid_of[NAME] for each target; before_measure may name a function run after each warm-up.

# to_ms VALUE: wrk prints latencies as 512.00us, 1.23ms or 1.05s.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

# run NAME URL [HEADER]: a warm-up pass (JIT, connection pools), then the measured one; results go into
# the *_r arrays under "NAME,ROUND".
declare -A rps p50 p99 errors requests cpu_us machine_us pid_of rps_r p50_r p99_r errors_r requests_r cpu_r machine_r switch_r switches
# cpu_ticks PID: user + system CPU time the process has used, in clock ticks (/proc/PID/stat fields 14 and 15;
# the command name in field 2 has no spaces here). CPU per request is what the process does per request
# whatever the other processes on the machine take, so it is steadier than requests/s on a small box.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# switches PID: context switches of all the process's threads so far (voluntary: a thread went to sleep,
# mostly a thread-pool worker finding no work; involuntary: preempted).
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'; }
before_measure=""
run() {
  local name=$1 url=$2 out="$tmp/wrk-$1.txt"
  local header=()
  [ $# -ge 3 ] && header=(-H "$3")
  local limit=$(( ${DURATION%s} + ${WARMUP%s} + 60 ))
  # Later rounds only reopen the connections: the JIT and the pools are warm.
  local warmup=$WARMUP
  [ "$round" -gt 1 ] && warmup=2s
  timeout "$limit" "${side[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$warmup" "${header[@]}" "$url" >/dev/null
  [ -n "$before_measure" ] && $before_measure
  local cpu_before up_before sw_before; cpu_before=$(cpu_ticks "${pid_of[$name]}"); up_before=$(cpu_ticks "$up_pid")
  sw_before=$(switches "${pid_of[$name]}")
  # bash's time keyword reports the CPU time of wrk itself (user and system seconds).
  local TIMEFORMAT='%U %S'
  { time timeout "$limit" "${side[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${header[@]}" "$url" >"$out"; } 2>"$tmp/wrk-time"
  local k="$name,$round"
  rps_r[$k]=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  requests_r[$k]=$(awk '/requests in/ { print $1 }' "$out")
  cpu_r[$k]=$(awk -v a="$cpu_before" -v b="$(cpu_ticks "${pid_of[$name]}")" -v hz="$(getconf CLK_TCK)" -v r="${requests_r[$k]}" \
    'BEGIN { if (r > 0) printf "%.1f", (b - a) * 1000000 / hz / r; else print "n/a" }')
  switch_r[$k]=$(awk -v a="$sw_before" -v b="$(switches "${pid_of[$name]}")" -v r="${requests_r[$k]}" \
    'BEGIN { if (r > 0) printf "%.3f", (b - a) / r; else print "n/a" }')
  # The whole machine's CPU per request: the process under test, the upstream (unless it is the process
  # under test) and wrk. On a small box the three share the cores, so requests/s follows this sum.
  local up_ticks=0
  [ "${pid_of[$name]}" = "$up_pid" ] || up_ticks=$(( $(cpu_ticks "$up_pid") - up_before ))
  machine_r[$k]=$(awk -v p="${cpu_r[$k]}" -v u="$up_ticks" -v hz="$(getconf CLK_TCK)" -v r="${requests_r[$k]}" -v w="$(cat "$tmp/wrk-time")" \
    'BEGIN { split(w, t, " "); if (r > 0) printf "%.1f", p + (u / hz + t[1] + t[2]) * 1000000 / r; else print "n/a" }')
  p50_r[$k]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  p99_r[$k]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  errors_r[$k]=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
}

# median NAME ARRAY: the median over the rounds of one target's values in ARRAY (the mean of the middle two
# when ROUNDS is even).
median() {
  local -n values=$2
  local r
  for ((r = 1; r <= ROUNDS; r++)); do echo "${values[$1,$r]}"; done | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# summarize NAME: the target's medians (requests and errors summed over the rounds).
summarize() {
  local r
  rps[$1]=$(median "$1" rps_r); p50[$1]=$(median "$1" p50_r); p99[$1]=$(median "$1" p99_r); cpu_us[$1]=$(printf "%.1f" "$(median "$1" cpu_r)")
  machine_us[$1]=$(printf "%.1f" "$(median "$1" machine_r)"); switches[$1]=$(median "$1" switch_r)
  requests[$1]=0; errors[$1]=0
  for ((r = 1; r <= ROUNDS; r++)); do
    requests[$1]=$(( ${requests[$1]} + ${requests_r[$1,$r]} )); errors[$1]=$(( ${errors[$1]} + ${errors_r[$1,$r]} ))
  done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
