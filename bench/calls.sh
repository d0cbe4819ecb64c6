#!/usr/bin/env bash
# Calls end to end: N concurrent relayed G.711 calls (20 ms packets, both directions: 100
# packets/s per call) set up by SIPp through `switchboard serve` (release build: the B2BUA and
# its media relay in one process), and the same N calls through Kamailio + rtpengine
# (Debian, userspace forwarding --table=-1), in the same run, one after the other for each N.
#
# For each server and N:
#   1. fresh servers: switchboard with its own data directory and config (users user0..,
#      bob; no keepalives; no media timeout; its own RTP port range), or rtpengine and then
#      Kamailio with ../shared/interop/kamailio/kamailio.cfg -A WITH_RTPENGINE (its ports,
#      control socket and rtpengine socket moved to free ones);
#   2. the callee: SIPp registers bob (digest, bench/register.xml) from port P, then one SIPp
#      UAS on P answers every call (bench/calls-uas.xml); switchboard calls the address the
#      REGISTER came from, Kamailio the Contact: both are P;
#   3. the callers: one SIPp UAC (bench/calls-uac.xml, digest: switchboard challenges the
#      INVITE with 401, Kamailio with 407), -r RATE -l N -m N, each call held long enough for
#      the media window, then BYE. The set-up is done when every call has its 200 (SIPp's
#      -trace_rtt: one line per call, its INVITE-to-200 time) and the server reports N calls;
#      if it is not done within N/RATE + 20 s, or calls fail, the attempt is stopped and the
#      next (lower) rate of RATES is tried on fresh servers;
#   4. the relay ports of each call: switchboard's `GET /call` (media.caller_port and
#      callee_port), rtpengine's ng `list` + `query` (bench/media's `ng --query`);
#   5. the media: bench/media's `gen`, per call one socket sending to the caller-side port
#      and one to the callee-side port (the relay latches onto them: they are on 127.0.0.1,
#      the legs' signalling address), 50 packets/s each way, WARMUP s not counted (latching;
#      rtpengine confirms a learned address after 3 s) then SECONDS_PER_RUN s measured: loss,
#      one-way latency (median, p99), and the CPU time of the relay process over the window
#      (switchboard: the whole process; rtpengine: its process; Kamailio's processes apart);
#   6. after the window, the server must still hold N calls; SIPp then hangs up (BYE).
# A direct run per N (the generator's sockets sending to each other, no relay) gives the
# latency baseline of the machine.
#
# usage: bench/calls.sh [CALLS...]           default: 250 500 1000
# env:   RATES ("2000 1000 500 250": set-up rates tried in turn, calls/s), SECONDS_PER_RUN (10),
#        WARMUP (5), SERVERS ("switchboard kamailio"), DIRECT (1: the baseline run; 0: none),
#        RTPENGINE_THREADS (2), RTPENGINE_OPTS (more rtpengine options, e.g.
#        --endpoint-learning=immediate; default none), SB_RTP_PORTS (12000-17999), RTPE_PORTS (18000-23999),
#        REALTIME (unset; N: both relays under SCHED_FIFO at priority N, switchboard's
#        [rtp] realtime_priority and rtpengine's --scheduling=fifo --priority=N),
#        SB_RELAY_THREADS (unset: switchboard's default, one per core; N: [rtp] relay_threads;
#        with REALTIME, 1 leaves a core to the generator),
#        SB_GUARD (on; off: switchboard's brute-force guard off), NICE (-10: every process of
#        the benchmark runs at this niceness so that other work on a shared machine does not
#        starve it; 0 to leave it)
# needs: sipp (sip-tester), kamailio, rtpengine (rtpengine-daemon), curl, bc, python3, ss;
#        shared/interop/ beside the repository (Kamailio's config). Builds switchboard and
#        bench/media in release mode. Loopback only; every process it starts is stopped on exit.
set -euo pipefail
KAM_CFG_SRC="$(dirname "$0")/../../shared/interop/kamailio/kamailio.cfg"
cd "$(dirname "$0")/.."
if [ ! -f "$KAM_CFG_SRC" ]; then
  echo "bench/calls.sh: Kamailio's reference config is missing: $KAM_CFG_SRC" >&2
  echo "  (it lives in shared/interop/ beside this repository; see shared/interop/README.md section 1)" >&2
  exit 2
fi
KAM_CFG_SRC=$(cd "$(dirname "$KAM_CFG_SRC")" && pwd)/kamailio.cfg
CALLS=("$@")
[ $# -gt 0 ] || CALLS=(250 500 1000)
read -r -a RATES <<< "${RATES:-2000 1000 500 250}"
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WARMUP=${WARMUP:-5}
SERVERS=${SERVERS:-switchboard kamailio}
DIRECT=${DIRECT:-1}
RTPENGINE_THREADS=${RTPENGINE_THREADS:-2}
RTPENGINE_OPTS=${RTPENGINE_OPTS:-}
REALTIME=${REALTIME:-}
if [ -n "$REALTIME" ]; then RTPENGINE_OPTS="$RTPENGINE_OPTS --scheduling=fifo --priority=$REALTIME"; fi
SB_RTP_PORTS=${SB_RTP_PORTS:-12000-17999}
RTPE_PORTS=${RTPE_PORTS:-18000-23999}
NICE=${NICE:--10}
for p in sipp kamailio rtpengine curl bc python3 ss; do
  command -v "$p" >/dev/null || {
    echo "bench/calls.sh: $p is missing (apt-get install sip-tester kamailio rtpengine-daemon curl bc python3 iproute2)" >&2
    exit 2
  }
done
MAX_CALLS=0
for n in "${CALLS[@]}"; do
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || { echo "bench/calls.sh: not a call count: $n" >&2; exit 2; }
  [ "$n" -gt "$MAX_CALLS" ] && MAX_CALLS=$n
done
# Kamailio's user table holds user0..user1999.
[ "$MAX_CALLS" -le 2000 ] || { echo "bench/calls.sh: at most 2000 calls (Kamailio's users)" >&2; exit 2; }
# 1,000 calls: 4,000 relay sockets, 2,000 generator sockets.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet
SB_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/switchboard
MEDIA_TARGET=${CARGO_TARGET_DIR:-$PWD/bench/media/target}
(cd bench/media && CARGO_TARGET_DIR=$MEDIA_TARGET cargo build --release --quiet)
MEDIA_BIN=$MEDIA_TARGET/release
CLK_TCK=$(getconf CLK_TCK)

RUN=$(mktemp -d /tmp/switchboard-bench-calls.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# The first of 4 consecutive free UDP ports (SIPp binds its media port and the ones after it).
free_ports4() {
  python3 -c '
import socket
for _ in range(200):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p % 2 or p + 4 > 65535: continue
    held = []
    try:
        for q in range(p, p + 4):
            t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.bind(("127.0.0.1", q)); held.append(t)
    except OSError:
        continue
    print(p); break
else:
    raise SystemExit("no block of 4 free UDP ports")'
}
# UDP sockets bound (any address) to a port in LO-HI.
udp_in_range() { ss -Huan | awk -v r="$1" 'BEGIN {split(r, b, "-")} {n = split($4, a, ":"); p = a[n] + 0; if (p >= b[1] + 0 && p <= b[2] + 0) c++} END {print c + 0}'; }
range_size() { echo $(( ${1#*-} - ${1%-*} + 1 )); }
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
# "name ticks" per thread of a process (names as the process set them, e.g. media-relay-0).
thread_ticks() {
  local t f
  for t in /proc/"$1"/task/*; do
    f=$(cat "$t/stat" 2>/dev/null) || continue
    f=${f##*) }
    # shellcheck disable=SC2086
    set -- $f
    echo "$(cat "$t/comm" 2>/dev/null | tr -c 'a-zA-Z0-9_.\n-' _) $((${12} + ${13}))"
  done
}
# CPU seconds per thread name between two thread_ticks snapshots: name:secs,name:secs...
thread_cpu() {
  awk -v hz="$CLK_TCK" 'FNR == NR {a[$1] += $2; next} {b[$1] += $2}
       END {for (n in b) {d = b[n] - a[n]; if (d > 0) printf "%s%s:%.2f", (k++ ? "," : ""), n, d / hz}
            if (!k) printf "none"}' "$1" "$2"
}
stop() { # stop PID: ends a process this script started, waiting at most 10 s
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $2"; }
div() { echo "scale=${3:-3}; ($1) / ($2)" | bc -l 2>/dev/null || echo nan; }

# The relay port ranges must be (nearly) free: each call takes 4 ports (RTP and RTCP per leg).
for r in "$SB_RTP_PORTS" "$RTPE_PORTS"; do
  free=$(( $(range_size "$r") - $(udp_in_range "$r") ))
  if [ "$free" -lt $((4 * MAX_CALLS + 16)) ]; then
    echo "bench/calls.sh: port range $r has $free free ports, $((4 * MAX_CALLS)) needed (set SB_RTP_PORTS / RTPE_PORTS)" >&2
    exit 2
  fi
done

# Users: user0..user(MAX-1) call bob. SIPp injection files and switchboard's config.
{ echo SEQUENTIAL; for ((i = 0; i < MAX_CALLS; i++)); do echo "user$i;[authentication username=user$i password=pw$i];"; done; } > "$RUN/users.csv"
{ echo SEQUENTIAL; echo "bob;[authentication username=bob password=bobpw];"; } > "$RUN/bob.csv"
{
  echo '# bench/calls.sh: no OPTIONS keepalives to the callee (Kamailio sends none), no media'
  echo '# timeout (the calls are set up before the media starts), its own RTP port range.'
  echo '[registrar]'
  echo 'keepalive_secs = 0'
  echo '[calls]'
  echo 'media_timeout_secs = 0'
  echo "max_calls = $((MAX_CALLS + 100))"
  echo '[rtp]'
  echo "ports = \"$SB_RTP_PORTS\""
  if [ -n "$REALTIME" ]; then echo "realtime_priority = $REALTIME"; fi
  if [ -n "${SB_RELAY_THREADS:-}" ]; then echo "relay_threads = $SB_RELAY_THREADS"; fi
  if [ "${SB_GUARD:-on}" = off ]; then echo '[guard]'; echo 'enabled = false'; fi
  echo
  echo '[[domain]]'
  echo 'name = "127.0.0.1"'
  echo 'users = ['
  echo '  { username = "bob", secret = "bobpw" },'
  for ((i = 0; i < MAX_CALLS; i++)); do echo "  { username = \"user$i\", secret = \"pw$i\" },"; done
  echo ']'
} > "$RUN/switchboard.toml"

# start_switchboard DIR: a fresh switchboard (empty data directory) on free ports.
start_switchboard() {
  local dir=$1
  nice -n "$NICE" "$SB_BIN" serve --config "$RUN/switchboard.toml" --sip 127.0.0.1:0 \
    --http 127.0.0.1:0 --ninep 127.0.0.1:0 --data "$dir/data" \
    > "$dir/switchboard.out" 2> "$dir/switchboard.err" &
  SB_PID=$!; pids+=("$SB_PID")
  for _ in $(seq 200); do grep -q 'listening http' "$dir/switchboard.out" 2>/dev/null && break; sleep 0.1; done
  SB_ADDR=$(awk '/listening sip\/udp/ {print $3}' "$dir/switchboard.out")
  SB_HTTP=$(awk '/listening http/ {print $3}' "$dir/switchboard.out")
  [ -n "$SB_ADDR" ] && [ -n "$SB_HTTP" ] || { echo "switchboard did not start:" >&2; cat "$dir/switchboard.err" >&2; exit 1; }
  TARGET=$SB_ADDR; RELAY_PID=$SB_PID; SIG_PIDS=""
}

# start_kamailio DIR: rtpengine (userspace only), then Kamailio with the reference config and
# -A WITH_RTPENGINE, its fixed ports, control socket and rtpengine socket moved to free ones.
start_kamailio() {
  local dir=$1
  local cfg="$dir/kamailio.cfg" ctl="$dir/kamailio.ctl" log="$dir/kamailio.log"
  NG_PORT=$(free_port)
  # RTPENGINE_OPTS: options, split on spaces on purpose.
  # shellcheck disable=SC2086
  nice -n "$NICE" rtpengine --config-file=none --foreground --log-stderr --log-level=5 --table=-1 \
    --interface=127.0.0.1 --listen-ng=127.0.0.1:"$NG_PORT" --port-min="${RTPE_PORTS%-*}" \
    --port-max="${RTPE_PORTS#*-}" --num-threads="$RTPENGINE_THREADS" --timeout=120 --delete-delay=0 \
    ${RTPENGINE_OPTS:-} > "$dir/rtpengine.log" 2>&1 &
  RTPE_PID=$!; pids+=("$RTPE_PID")
  # Ready when its ng socket is bound.
  for _ in $(seq 50); do ss -Huan "sport = :$NG_PORT" | grep -q . && break; sleep 0.1; done
  kill -0 "$RTPE_PID" 2>/dev/null && ss -Huan "sport = :$NG_PORT" | grep -q . ||
    { echo "rtpengine did not start:" >&2; cat "$dir/rtpengine.log" >&2; exit 1; }
  KAM_PORT=$(free_port)
  sed -e '/^listen=/d' -e "s|alias=\"\([a-z0-9.]*\):5070\"|alias=\"\1:$KAM_PORT\"|" \
      -e "s|unix:/tmp/harness-run/kamailio_ctl|unix:$ctl|" \
      -e "s|udp:127.0.0.1:22222|udp:127.0.0.1:$NG_PORT|" "$KAM_CFG_SRC" > "$cfg"
  if grep -v '^[[:space:]]*#' "$cfg" | grep -q '5070\|22222\|/tmp/harness-run'; then
    echo "bench/calls.sh: $KAM_CFG_SRC has changed shape (a port 5070 or 22222 or /tmp/harness-run is left):" >&2
    grep -n '5070\|22222\|/tmp/harness-run' "$cfg" >&2; exit 1
  fi
  nice -n "$NICE" kamailio -f "$cfg" -A WITH_RTPENGINE -DD -E -m 2048 -M 32 -P "$dir/kamailio.pid" \
    -l "udp:127.0.0.1:$KAM_PORT" -l "tcp:127.0.0.1:$KAM_PORT" > "$log" 2>&1 &
  KAM_PID=$!; pids+=("$KAM_PID")
  for _ in $(seq 100); do
    grep -q 'harness: user table loaded' "$log" 2>/dev/null && [ -S "$ctl" ] && break
    kill -0 "$KAM_PID" 2>/dev/null || break
    sleep 0.1
  done
  sleep 0.5
  kill -0 "$KAM_PID" 2>/dev/null && grep -q 'harness: user table loaded' "$log" ||
    { echo "kamailio did not start:" >&2; tail -20 "$log" >&2; exit 1; }
  TARGET=127.0.0.1:$KAM_PORT; RELAY_PID=$RTPE_PID
  SIG_PIDS="$KAM_PID $(pgrep -P "$KAM_PID" | tr '\n' ' ')"
}

# live_calls SERVER: calls the server holds now (switchboard: state "up"; rtpengine: calls
# with both sides), and with ports_file set, the ports file for the generator.
switchboard_calls() { # [PORTS_FILE]
  curl -s --max-time 10 "http://$SB_HTTP/call" | python3 -c '
import json, sys
calls = [c for c in json.load(sys.stdin)["calls"] if c["state"] == "up" and c.get("media")]
if len(sys.argv) > 1:
    with open(sys.argv[1] + ".tmp", "w") as f:
        for c in calls:
            m = c["media"]
            f.write("%s:%d %s:%d\n" % (m["address"], m["caller_port"], m["address"], m["callee_port"]))
print(len(calls))' "$@"
}
rtpengine_calls() { # PORTS_FILE
  timeout 60 "$MEDIA_BIN/ng" --ng 127.0.0.1:"$NG_PORT" --query --ports-out "$1.tmp" --caller-mark caller 2> "$1.err" || true
  local n=0
  [ -f "$1.tmp" ] && n=$(grep -c . "$1.tmp" || true)
  echo "${n:-0}"
}
server_calls() { # SERVER DIR TAG -> count; the ports file DIR/ports-TAG
  local n
  if [ "$1" = switchboard ]; then n=$(switchboard_calls "$2/ports-$3" || echo 0); else n=$(rtpengine_calls "$2/ports-$3"); fi
  echo "${n:-0}"
}

# The UAC's statistics at its end (successful, failed calls, retransmissions).
sipp_stats() {
  [ -f "$1" ] || { echo "0 0 0"; return; }
  awk -F';' 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
             {ok = $c["SuccessfulCall(C)"]; ko = $c["FailedCall(C)"]; re = $c["Retransmissions(C)"]}
             END {print ok + 0, ko + 0, re + 0}' "$1"
}
# Set-up times from SIPp's -trace_rtt file (Date_ms: when the 200 came, ms since SIPp
# started; response_time_ms: since the call's first INVITE): "calls span_s p50_ms p99_ms".
setup_times() {
  python3 -c '
import math, sys
rows = []
for line in open(sys.argv[1]).read().splitlines()[1:]:
    f = line.split(";")
    if len(f) >= 2 and f[0] and f[1]:
        rows.append((float(f[0]), float(f[1])))
if not rows:
    print(0, "nan", "nan", "nan"); sys.exit()
span = max(e for e, _ in rows) - min(e - r for e, r in rows)
rt = sorted(r for _, r in rows)
q = lambda p: rt[max(0, math.ceil(len(rt) * p) - 1)]
print(len(rows), "%.3f" % (span / 1000), "%g" % q(0.5), "%g" % q(0.99))' "$1"
}

# run_server SERVER CALLS RATE -> prints one result line; returns 1 when the set-up failed.
# (Called without a subshell, so that the processes it starts reach the cleanup on exit.)
run_server() {
  local server=$1 calls=$2 rate=$3
  local dir
  dir="$RUN/$server-$calls-$rate"
  mkdir -p "$dir"
  if [ "$server" = switchboard ]; then start_switchboard "$dir"; else start_kamailio "$dir"; fi
  local uas_port uac_port uas_media uac_media
  uas_port=$(free_port); uac_port=$(free_port)
  while [ "$uac_port" = "$uas_port" ]; do uac_port=$(free_port); done
  uas_media=$(free_ports4); uac_media=$(free_ports4)
  while [ "$uac_media" = "$uas_media" ]; do uac_media=$(free_ports4); done
  # Hold: the last call is up N/RATE s after the first; then the ports, the generator's warm-up
  # and window, and a margin.
  local setup_limit=$(( (calls + rate - 1) / rate + 20 ))
  local hold_s=$(( (calls + rate - 1) / rate + WARMUP + SECONDS_PER_RUN + 8 ))
  local bound=$(( setup_limit + hold_s + 60 ))

  # The callee registers from the port its UAS then listens on.
  (cd "$dir" && timeout 30 nice -n "$NICE" sipp -sf "$PWD_ROOT/bench/register.xml" -inf "$RUN/bob.csv" "$TARGET" \
      -i 127.0.0.1 -p "$uas_port" -m 1 -nostdin -timeout 20 -timeout_error -trace_err -error_file reg.errors \
      > reg.out 2>&1) || { echo "# $server: the callee's REGISTER failed (see $dir/reg.out)" >&2; stop_servers "$server"; return 1; }
  (cd "$dir" && exec timeout "$bound" nice -n "$NICE" sipp -sf "$PWD_ROOT/bench/calls-uas.xml" "$TARGET" \
      -i 127.0.0.1 -p "$uas_port" -mi 127.0.0.1 -mp "$uas_media" -m "$calls" -nostdin \
      -timeout "$((bound - 5))" -buff_size 4194304 -trace_err -error_file uas.errors > uas.out 2>&1) &
  local uas=$!; pids+=("$uas")
  sleep 0.5

  local c0 k0 t0 t1 c1 k1
  # shellcheck disable=SC2086
  c0=$(cpu_ticks "$RELAY_PID"); k0=$(cpu_ticks $SIG_PIDS)
  t0=$(date +%s.%N)
  (cd "$dir" && exec timeout "$bound" nice -n "$NICE" sipp -sf "$PWD_ROOT/bench/calls-uac.xml" -inf "$RUN/users.csv" \
      -s bob "$TARGET" -i 127.0.0.1 -p "$uac_port" -mi 127.0.0.1 -mp "$uac_media" \
      -r "$rate" -l "$calls" -m "$calls" -d "$((hold_s * 1000))" -nostdin \
      -timeout "$((bound - 5))" -timeout_error -recv_timeout 30000 -buff_size 4194304 \
      -default_behaviors all,-abortunexp -trace_rtt -rtt_freq 1 -trace_stat -stf stat.csv -fd 1 \
      -trace_err -error_file uac.errors > uac.out 2>&1) &
  local uac=$!; pids+=("$uac")

  # Set-up: every call has its 200 (and none has failed).
  local up=0 rtt= polls=0 failed
  while :; do
    polls=$((polls + 1))
    if [ $((polls % 10)) = 0 ]; then
      read -r _ failed _ < <(sipp_stats "$dir/stat.csv")
      [ "$failed" -gt 0 ] && break
    fi
    rtt=$(ls "$dir"/calls-uac_*_rtt.csv 2>/dev/null | head -1 || true)
    [ -n "$rtt" ] && up=$(( $(grep -c . "$rtt") - 1 ))
    [ "$up" -ge "$calls" ] && break
    kill -0 "$uac" 2>/dev/null || break
    [ "$(echo "$(date +%s.%N) - $t0 > $setup_limit" | bc)" = 1 ] && break
    sleep 0.05
  done
  t1=$(date +%s.%N)
  # shellcheck disable=SC2086
  c1=$(cpu_ticks "$RELAY_PID"); k1=$(cpu_ticks $SIG_PIDS)
  local held
  held=$(server_calls "$server" "$dir" setup)
  local setup_cpu_ms setup_sig_ms
  setup_cpu_ms=$(div "($c1 - $c0) * 1000" "$CLK_TCK * $calls" 3)
  setup_sig_ms=$(div "($k1 - $k0) * 1000" "$CLK_TCK * $calls" 3)
  read -r n_rtt span p50 p99 < <(setup_times "${rtt:-/dev/null}")
  if [ "$up" -lt "$calls" ] || [ "$held" != "$calls" ]; then
    echo "# $server calls=$calls rate=$rate: set-up FAILED: $up of $calls calls answered in $(div "$t1 - $t0" 1 1) s, the server holds $held" >&2
    stop "$uac"; stop "$uas"; stop_servers "$server"
    return 1
  fi
  mv "$dir/ports-setup.tmp" "$dir/ports"

  # The media window.
  local gen_line
  # shellcheck disable=SC2086
  echo "$RELAY_PID" > "$dir/relay.pid"
  timeout $((WARMUP + SECONDS_PER_RUN + 60)) nice -n "$NICE" "$MEDIA_BIN/gen" --calls "$calls" \
      --phones-out "$dir/phones" --ports-in "$dir/ports" --relay-pid-file "$dir/relay.pid" \
      --also-pids "$SIG_PIDS" --warmup "$WARMUP" --seconds "$SECONDS_PER_RUN" --clk-tck "$CLK_TCK" \
      --label "$server" > "$dir/gen.out" 2> "$dir/gen.err" &
  local gen=$!; pids+=("$gen")
  # The relay's CPU per thread, over (nearly) the generator's window: it starts 0.2 s + the
  # warm-up after the generator's epoch, a few ms after its launch.
  sleep "$(echo "$WARMUP + 0.3" | bc)"; thread_ticks "$RELAY_PID" > "$dir/threads0"
  sleep "$(echo "$SECONDS_PER_RUN - 0.2" | bc)"; thread_ticks "$RELAY_PID" > "$dir/threads1"
  wait "$gen" || true
  gen_line=$(cat "$dir/gen.out")
  [ -n "$gen_line" ] || gen_line="label=$server gen=failed"
  gen_line="$gen_line relay_threads_cpu_s=$(thread_cpu "$dir/threads0" "$dir/threads1")"
  local after
  after=$(server_calls "$server" "$dir" after)
  local sb_extra=""
  if [ "$server" = switchboard ]; then
    sb_extra=" sb_rtp_dropped_total=$(curl -s --max-time 5 "http://$SB_HTTP/metrics" | awk '/^switchboard_rtp_packets_dropped_total / {print $2}')"
  fi

  # The hang-up: SIPp sends the BYEs after the hold; the UAS ends after N calls.
  wait "$uac" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$uas" 2>/dev/null || break; sleep 0.1; done
  stop "$uas"
  local ok ko re
  read -r ok ko re < <(sipp_stats "$dir/stat.csv")
  stop_servers "$server"
  echo "server=$server calls=$calls rate=$rate setup_s=$span setup_cps=$(div "$calls" "$span" 0)" \
    "setup_p50_ms=$p50 setup_p99_ms=$p99 setup_cpu_ms_per_call=$setup_cpu_ms setup_sig_cpu_ms_per_call=$setup_sig_ms" \
    "calls_after_window=$after sipp_ok=$ok sipp_failed=$ko sipp_retrans=$re$sb_extra $gen_line"
}
stop_servers() {
  if [ "$1" = switchboard ]; then stop "$SB_PID"; else stop "$KAM_PID"; stop "$RTPE_PID"; fi
}
PWD_ROOT=$PWD

echo "# calls end to end, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), kernel $(uname -r)"
echo "# switchboard $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates src Cargo.toml Cargo.lock || echo '+changes') (release, RTP $SB_RTP_PORTS${REALTIME:+, realtime_priority $REALTIME});" \
  "$(kamailio -v | head -1 | sed 's/^version: //;s/ *$//') + $(rtpengine --version 2>&1 | head -1) userspace (--table=-1), $RTPENGINE_THREADS threads${RTPENGINE_OPTS:+, $RTPENGINE_OPTS};" \
  "$(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*')"
echo "# media: G.711 20 ms both ways per call, ${WARMUP}s warm-up then ${SECONDS_PER_RUN}s measured; set-up rates tried: ${RATES[*]} calls/s; niceness $NICE"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu_us_per_pkt: relay process CPU (switchboard: whole process; kamailio run: rtpengine) per relayed packet"
echo "# = ms per 1,000 packets; also_cpu_s: Kamailio's processes over the same window; setup_cpu_ms_per_call:"
echo "# switchboard / rtpengine CPU during the set-up per call, setup_sig_cpu_ms_per_call: Kamailio's"
declare -A result=()
for calls in "${CALLS[@]}"; do
  if [ "$DIRECT" = 1 ]; then
    mkdir -p "$RUN/direct-$calls"
    timeout $((WARMUP + SECONDS_PER_RUN + 60)) nice -n "$NICE" "$MEDIA_BIN/gen" --calls "$calls" \
      --phones-out "$RUN/direct-$calls/phones" --direct --warmup "$WARMUP" --seconds "$SECONDS_PER_RUN" \
      --clk-tck "$CLK_TCK" --label direct || echo "label=direct calls=$calls gen=failed"
  fi
  for server in $SERVERS; do
    line=
    for rate in "${RATES[@]}"; do
      if run_server "$server" "$calls" "$rate" > "$RUN/result"; then line=$(cat "$RUN/result"); break; fi
    done
    [ -n "$line" ] || line="server=$server calls=$calls setup=failed_at_every_rate"
    echo "$line"
    result[$server]=$line
  done
  sb=${result[switchboard]:-}; ka=${result[kamailio]:-}
  if [ -n "$sb" ] && [ -n "$ka" ]; then
    echo "ratio calls=$calls cpu_per_pkt(switchboard/rtpengine)=$(div "$(field cpu_us_per_pkt "$sb")" "$(field cpu_us_per_pkt "$ka")")" \
      "cpu_per_pkt(switchboard/(rtpengine+kamailio))=$(div "$(field relay_cpu_s "$sb") * $(field received "$ka")" \
        "($(field relay_cpu_s "$ka") + $(field also_cpu_s "$ka")) * $(field received "$sb")")" \
      "p50(sb/re)=$(div "$(field lat_p50_us "$sb")" "$(field lat_p50_us "$ka")" 2)" \
      "p99(sb/re)=$(div "$(field lat_p99_us "$sb")" "$(field lat_p99_us "$ka")" 2)" \
      "setup_s(sb/kam)=$(div "$(field setup_s "$sb")" "$(field setup_s "$ka")" 2)"
  fi
  result=()
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# files: $RUN"
