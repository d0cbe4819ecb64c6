#!/usr/bin/env bash
# REGISTER load: SIPp registers users with digest authentication (REGISTER, 401, REGISTER with
# credentials, 200: bench/register.xml) at fixed rates against `switchboard serve` and against
# Kamailio (the registrar + auth reference in ../shared/interop/kamailio/kamailio.cfg), both in
# the same run, on loopback. For each rate and server it prints the successful and failed
# registrations, SIPp's retransmissions, the CPU seconds the server spent per 10,000
# registrations and the ratio switchboard / kamailio (below 1 is better); then the highest rate
# each server sustained with no failure and no retransmission (a ramp: a server's ramp stops at
# its first failing rate, the other's goes on); then, on fresh servers, the resident memory each
# needs per registration.
#
# usage: bench/register.sh [RATE...]   default rates: 500 1000 2000 4000 8000 (registrations/s)
# env:   SECONDS_PER_RATE (10), MEM_RATE (500 registrations/s for the memory runs),
#        MEM_SETTLE (35 s: a second memory reading that long after the run), SKIP_MEMORY=1,
#        SKIP_RATES=1 (the memory runs only),
#        SB_GUARD=off (switchboard's brute-force guard off, as Kamailio's reference has none;
#        default: on, as switchboard ships)
# needs: sipp (Debian sip-tester), kamailio (+ kamcmd), curl, bc; builds switchboard in release
#        mode. Users: user0..user1999 for the rates (Kamailio's table has no more),
#        user0..user9999 for switchboard's memory run; the password of userN is pwN.
set -euo pipefail
KAM_CFG_SRC="$(dirname "$0")/../../shared/interop/kamailio/kamailio.cfg"
cd "$(dirname "$0")/.."
if [ ! -f "$KAM_CFG_SRC" ]; then
  echo "bench/register.sh: Kamailio's reference config is missing: $KAM_CFG_SRC" >&2
  echo "  (it lives in shared/interop/ beside this repository; see shared/interop/README.md section 1)" >&2
  exit 2
fi
KAM_CFG_SRC=$(cd "$(dirname "$KAM_CFG_SRC")" && pwd)/kamailio.cfg
RATES=("$@")
[ $# -gt 0 ] || RATES=(500 1000 2000 4000 8000)
SECONDS_PER_RATE=${SECONDS_PER_RATE:-10}
MEM_RATE=${MEM_RATE:-500}
MEM_SETTLE=${MEM_SETTLE:-35}
for p in sipp kamailio curl bc; do
  command -v "$p" >/dev/null || { echo "bench/register.sh: $p is missing (apt-get install sip-tester kamailio curl bc)" >&2; exit 2; }
done
cargo build --release --quiet

RUN=$(mktemp -d /tmp/switchboard-bench-register.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
CLK_TCK=$(getconf CLK_TCK)
SCENARIO=$PWD/bench/register.xml

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# utime + stime, in clock ticks, of the given processes (threads included).
cpu_ticks() {
  local t=0 p f
  for p in "$@"; do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) }
    # shellcheck disable=SC2086
    set -- $f
    t=$((t + ${12} + ${13}))
  done
  echo "$t"
}
# Datagrams the kernel dropped at the UDP socket bound to 127.0.0.1:PORT (receive buffer full).
udp_drops() { awk -v a="$(printf '0100007F:%04X' "$1")" '$2 == a {d += $NF} END {print d + 0}' /proc/net/udp; }
rcvbuf_errors() { awk '/^Udp:/ && ++n == 2 {print $6}' /proc/net/snmp; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# Proportional set size, summed: shared pages (Kamailio's shm) counted once over all processes.
pss_kib() { local p; for p in "$@"; do cat "/proc/$p/smaps_rollup" 2>/dev/null; done | awk '/^Pss:/ {s += $2} END {print s + 0}'; }

# Users: userN / pwN, as SIPp injection files and as a switchboard config.
csv() { # csv FILE N
  { echo SEQUENTIAL; for ((i = 0; i < $2; i++)); do echo "user$i;[authentication username=user$i password=pw$i];"; done; } > "$1"
}
csv "$RUN/users2000.csv" 2000
csv "$RUN/users10000.csv" 10000
{
  echo '# bench/register.sh: defaults, except no OPTIONS keepalives to the registered contacts'
  echo '# (the Kamailio reference sends none; they are not part of the cost of a REGISTER).'
  echo '[registrar]'
  echo 'keepalive_secs = 0'
  echo
  if [ "${SB_GUARD:-on}" = off ]; then echo '[guard]'; echo 'enabled = false'; echo; fi
  echo '[[domain]]'
  echo 'name = "127.0.0.1"'
  echo 'users = ['
  for ((i = 0; i < 10000; i++)); do echo "  { username = \"user$i\", secret = \"pw$i\" },"; done
  echo ']'
} > "$RUN/switchboard.toml"

# start_switchboard TAG: a fresh switchboard (empty data directory) on free ports.
start_switchboard() {
  local tag=$1
  target/release/switchboard serve --config "$RUN/switchboard.toml" --sip 127.0.0.1:0 \
    --http 127.0.0.1:0 --ninep 127.0.0.1:0 --data "$RUN/data-$tag" \
    > "$RUN/switchboard-$tag.out" 2> "$RUN/switchboard-$tag.err" &
  SB_PID=$!; pids+=("$SB_PID")
  for _ in $(seq 200); do grep -q 'listening http' "$RUN/switchboard-$tag.out" 2>/dev/null && break; sleep 0.1; done
  SB_ADDR=$(awk '/listening sip\/udp/ {print $3}' "$RUN/switchboard-$tag.out")
  SB_HTTP=$(awk '/listening http/ {print $3}' "$RUN/switchboard-$tag.out")
  [ -n "$SB_ADDR" ] && [ -n "$SB_HTTP" ] || { echo "switchboard did not start:"; cat "$RUN/switchboard-$tag.err"; exit 1; }
}

# start_kamailio TAG: a fresh Kamailio on a free port. The reference config is used as it is,
# except its fixed listen lines, alias port and control socket (5070, /tmp/harness-run), which
# are moved to this run's port and directory so that it clashes with nothing else.
start_kamailio() {
  local tag=$1
  local cfg="$RUN/kamailio-$tag.cfg" ctl="$RUN/kamailio-$tag.ctl" log="$RUN/kamailio-$tag.log"
  KAM_PORT=$(free_port)
  sed -e '/^listen=/d' -e "s|alias=\"\([a-z0-9.]*\):5070\"|alias=\"\1:$KAM_PORT\"|" \
      -e "s|unix:/tmp/harness-run/kamailio_ctl|unix:$ctl|" "$KAM_CFG_SRC" > "$cfg"
  if grep -v '^[[:space:]]*#' "$cfg" | grep -q '5070\|/tmp/harness-run'; then
    echo "bench/register.sh: $KAM_CFG_SRC has changed shape (a port 5070 or /tmp/harness-run is left):" >&2
    grep -n '5070\|/tmp/harness-run' "$cfg" >&2; exit 1
  fi
  KAM_CTL=$ctl
  kamailio -f "$cfg" -DD -E -m 2048 -M 32 -P "$RUN/kamailio-$tag.pid" \
    -l "udp:127.0.0.1:$KAM_PORT" -l "tcp:127.0.0.1:$KAM_PORT" > "$log" 2>&1 &
  KAM_PID=$!; pids+=("$KAM_PID")
  for _ in $(seq 100); do
    grep -q 'harness: user table loaded' "$log" 2>/dev/null && [ -S "$ctl" ] && break
    kill -0 "$KAM_PID" 2>/dev/null || break
    sleep 0.1
  done
  sleep 0.5
  kill -0 "$KAM_PID" 2>/dev/null && grep -q 'harness: user table loaded' "$log" ||
    { echo "kamailio did not start:"; tail -20 "$log"; exit 1; }
}
kam_pids() { echo "$KAM_PID $(pgrep -P "$KAM_PID" | tr '\n' ' ')"; }
stop() { # stop PID: ends a server this script started, waiting at most 10 s
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  wait "$1" 2>/dev/null || true
}

# sipp_run NAME TARGET RATE TOTAL CSV PORT -> "successful failed retransmissions"
sipp_run() {
  local name=$1 target=$2 rate=$3 total=$4 users=$5 port=$6 try
  local secs=$(((total + rate - 1) / rate))
  for try in 1 2 3; do
    rm -f "$RUN/$name.csv" "$RUN/$name.errors"
    (cd "$RUN" && timeout $((secs + 60)) sipp -sf "$SCENARIO" -inf "$users" "$target" \
        -i 127.0.0.1 -p "$port" -r "$rate" -m "$total" -l 20000 -buff_size 4194304 -nostdin \
        -timeout $((secs + 30)) -timeout_error -recv_timeout 5000 -default_behaviors all,-abortunexp \
        -trace_stat -stf "$RUN/$name.csv" -fd 1 -trace_err -error_file "$RUN/$name.errors" \
        > "$RUN/$name.out" 2>&1) || true
    # Another program on the machine may take the free port between free_port and SIPp's
    # bind: then SIPp sends nothing, and it is run again on another port.
    grep -q 'Unable to bind main socket' "$RUN/$name.errors" 2>/dev/null || break
    echo "# sipp $name: port $port taken (try $try), again on another" >&2
    port=$(free_port)
  done
  [ -f "$RUN/$name.csv" ] || { echo "0 0 0"; return; }
  awk -F';' 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
             {ok = $c["SuccessfulCall(C)"]; ko = $c["FailedCall(C)"]; re = $c["Retransmissions(C)"]}
             END {print ok + 0, ko + 0, re + 0}' "$RUN/$name.csv"
}
# The status lines SIPp did not expect (503, 403...), counted, from its error log.
unexpected() { # unexpected NAME...
  local n
  for n in "$@"; do [ -f "$RUN/$n.errors" ] && cat "$RUN/$n.errors"; done |
    grep -o "received 'SIP/2.0 [0-9][0-9][0-9]" | sed 's/.*SIP\/2.0 //' | sort | uniq -c |
    awk '{printf "%s%s x %s", sep, $2, $1; sep = ", "} END {if (NR == 0) printf "none"}'
}
per10k() { if [ "$1" -gt 0 ]; then echo "scale=4; $2 * 10000 / $1" | bc -l; else echo nan; fi; }

if [ "${SKIP_RATES:-0}" = 1 ]; then
  echo "# REGISTER load, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'): ramp skipped (SKIP_RATES=1)"
  echo "# switchboard $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates src Cargo.toml Cargo.lock || echo '+changes')"
else
  start_switchboard rates
  start_kamailio rates
  SB_SIPP_PORT=$(free_port); KAM_SIPP_PORT=$(free_port)
  while [ "$KAM_SIPP_PORT" = "$SB_SIPP_PORT" ]; do KAM_SIPP_PORT=$(free_port); done

  echo "# REGISTER load, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
  echo "# switchboard $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates src Cargo.toml Cargo.lock || echo '+changes') at $SB_ADDR (pid $SB_PID)," \
    "kamailio 127.0.0.1:$KAM_PORT ($(kamailio -v | head -1 | sed 's/^version: //;s/ *$//')), $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*')"
  echo "# $SECONDS_PER_RATE s per rate, users user0..user1999; each registration = REGISTER, 401, REGISTER with digest, 200"
  echo "# switchboard config: defaults, no keepalives, guard ${SB_GUARD:-on}; Kamailio: $KAM_CFG_SRC"
  echo "# ok, ko: successful, failed registrations (SIPp); ret: SIPp's retransmissions; drop: datagrams the"
  echo "# kernel dropped at the server's UDP socket (receive buffer full); cpu/10k: CPU seconds (utime+stime;"
  echo "# Kamailio: main and children) per 10,000 successful registrations; ratio: switchboard / kamailio"
  SB_PORT=${SB_ADDR##*:}
  # shellcheck disable=SC2046
  c0=$(cpu_ticks "$SB_PID"); k0=$(cpu_ticks $(kam_pids)); sleep "$SECONDS_PER_RATE"
  # shellcheck disable=SC2046
  echo "# idle, before the ramp: switchboard $(echo "scale=2; ($(cpu_ticks "$SB_PID") - $c0) / $CLK_TCK" | bc -l) CPU s," \
    "kamailio $(echo "scale=2; ($(cpu_ticks $(kam_pids)) - $k0) / $CLK_TCK" | bc -l) CPU s in $SECONDS_PER_RATE s"
  rcv0=$(rcvbuf_errors)
  printf '%-6s %-6s | %-6s %-6s %-6s %-5s %-7s %-7s | %-6s %-6s %-6s %-5s %-7s %-7s | %s\n' rate total \
    sb_ok sb_ko sb_ret drop cpu_s cpu/10k kam_ok kam_ko kam_ret drop cpu_s cpu/10k ratio
  sb_on=1; kam_on=1; sb_max=none; kam_max=none; sb_runs=(); kam_runs=()
  for rate in "${RATES[@]}"; do
    [ "$sb_on$kam_on" != 00 ] || break
    total=$((rate * SECONDS_PER_RATE))
    sb=(- - - - - -); kam=(- - - - - -)
    if [ "$sb_on" = 1 ]; then
      c0=$(cpu_ticks "$SB_PID"); d0=$(udp_drops "$SB_PORT")
      read -r ok ko re < <(sipp_run "sb_$rate" "$SB_ADDR" "$rate" "$total" "$RUN/users2000.csv" "$SB_SIPP_PORT")
      c1=$(cpu_ticks "$SB_PID"); d1=$(udp_drops "$SB_PORT")
      cpu=$(echo "scale=2; ($c1 - $c0) / $CLK_TCK" | bc -l)
      sb=("$ok" "$ko" "$re" $((d1 - d0)) "$cpu" "$(per10k "$ok" "$cpu")"); sb_runs+=("sb_$rate")
      if [ "$ok" = "$total" ] && [ "$ko" = 0 ] && [ "$re" = 0 ]; then sb_max=$rate; else sb_on=0; fi
      sleep 1
    fi
    if [ "$kam_on" = 1 ]; then
      # shellcheck disable=SC2046
      c0=$(cpu_ticks $(kam_pids)); d0=$(udp_drops "$KAM_PORT")
      read -r ok ko re < <(sipp_run "kam_$rate" "127.0.0.1:$KAM_PORT" "$rate" "$total" "$RUN/users2000.csv" "$KAM_SIPP_PORT")
      # shellcheck disable=SC2046
      c1=$(cpu_ticks $(kam_pids)); d1=$(udp_drops "$KAM_PORT")
      cpu=$(echo "scale=2; ($c1 - $c0) / $CLK_TCK" | bc -l)
      kam=("$ok" "$ko" "$re" $((d1 - d0)) "$cpu" "$(per10k "$ok" "$cpu")"); kam_runs+=("kam_$rate")
      if [ "$ok" = "$total" ] && [ "$ko" = 0 ] && [ "$re" = 0 ]; then kam_max=$rate; else kam_on=0; fi
      sleep 1
    fi
    ratio=-
    if [ "${sb[5]}" != - ] && [ "${kam[5]}" != - ] && [ "${sb[5]}" != nan ] && [ "${kam[5]}" != nan ]; then
      ratio=$(echo "scale=2; ${sb[5]} / ${kam[5]}" | bc -l 2>/dev/null || echo nan)
    fi
    printf '%-6s %-6s | %-6s %-6s %-6s %-5s %-7s %-7s | %-6s %-6s %-6s %-5s %-7s %-7s | %s\n' "$rate" "$total" \
      "${sb[@]}" "${kam[@]}" "$ratio"
  done
  echo "# highest rate sustained with no failure and no retransmission (of the rates tested):" \
    "switchboard $sb_max, kamailio $kam_max"
  echo "# UDP receive-buffer drops on the whole machine during the ramp (kernel RcvbufErrors, SIPp's sockets" \
    "included): $(($(rcvbuf_errors) - rcv0))"
  echo "# responses SIPp did not expect: switchboard $(unexpected "${sb_runs[@]}"); kamailio $(unexpected "${kam_runs[@]}")"
  echo "# switchboard /metrics: $(curl -s --max-time 5 "http://$SB_HTTP/metrics" | grep -E '^switchboard_(auth_failures_total|blocked_sources|registrations) ' | tr '\n' ' ')"
  grep -h 'source blocked' "$RUN/switchboard-rates.err" | sed 's/^/# switchboard log: /' || true
  echo "# files: $RUN"
  stop "$SB_PID"; stop "$KAM_PID"
fi
[ "${SKIP_MEMORY:-0}" = 1 ] && exit 0

# Memory: fresh servers, resident memory before and after registering distinct users, each
# with its own contact (sip:userN@127.0.0.1:PORT), in one SIPp run at MEM_RATE.
echo "# memory per registration: one SIPp run at $MEM_RATE registrations/s on a fresh server"
start_switchboard memory
sleep 1
before=$(rss_kib "$SB_PID")
read -r ok ko re < <(sipp_run sb_memory "$SB_ADDR" "$MEM_RATE" 10000 "$RUN/users10000.csv" "$(free_port)")
count=$(curl -s --max-time 5 "http://$SB_HTTP/reg" | grep -o '"count": *[0-9]*' | grep -o '[0-9]*$' || echo '?')
after=$(rss_kib "$SB_PID")
sleep "$MEM_SETTLE"
settled=$(rss_kib "$SB_PID")
echo "switchboard: users 10000, sipp ok $ok failed $ko retrans $re, GET /reg count $count;" \
  "VmRSS before $before KiB, after $after KiB, $MEM_SETTLE s later $settled KiB"
echo "switchboard: KiB per registration $(echo "scale=3; ($after - $before) / 10000" | bc -l)" \
  "($(echo "scale=3; ($settled - $before) / 10000" | bc -l) from the later reading)" \
  "$([ "$count" = 10000 ] || echo "-- WARNING: $count registered, not 10000")"
stop "$SB_PID"

# Kamailio: user0..user1999 only (its user table). Its registrations live in shared memory,
# mapped by every process, so the figure is the sum of the processes' PSS, cross-checked with
# Kamailio's own shm accounting (kamcmd core.shmmem real_used).
start_kamailio memory
shm_used() { command -v kamcmd >/dev/null && kamcmd -s "unix:$KAM_CTL" core.shmmem 2>/dev/null | awk '/real_used/ {print $2}'; }
# shellcheck disable=SC2046
before=$(pss_kib $(kam_pids)); shm0=$(shm_used || true)
read -r ok ko re < <(sipp_run kam_memory "127.0.0.1:$KAM_PORT" "$MEM_RATE" 2000 "$RUN/users2000.csv" "$(free_port)")
count=$( (command -v kamcmd >/dev/null && kamcmd -s "unix:$KAM_CTL" stats.get_statistics registered_users 2>/dev/null) | grep -o '[0-9]*$' || echo '?')
# shellcheck disable=SC2046
after=$(pss_kib $(kam_pids)); shm1=$(shm_used || true)
echo "kamailio: users 2000, sipp ok $ok failed $ko retrans $re, usrloc registered_users $count;" \
  "PSS (all processes) before $before KiB, after $after KiB; shm real_used before ${shm0:-?} B, after ${shm1:-?} B"
echo "kamailio: KiB per registration $(echo "scale=3; ($after - $before) / 2000" | bc -l) (PSS)," \
  "$([ -n "${shm0:-}" ] && [ -n "${shm1:-}" ] && echo "scale=3; ($shm1 - $shm0) / 2000 / 1024" | bc -l || echo '?') (shm)"
