#!/usr/bin/env bash
# OPTIONS load: SIPp sends OPTIONS at fixed rates to `switchboard serve` and to Kamailio
# (bench/kamailio-options.cfg), one after the other, on loopback; prints the CPU seconds each
# server spent per 10,000 requests and their ratio (switchboard / kamailio: below 1 is better).
#
# usage: bench/options.sh [RATE...]      default rates: 2000 5000 10000 (requests/s, 10 s each)
# needs: sipp (Debian sip-tester) and kamailio; builds switchboard in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=("${@:-2000}")
[ $# -gt 0 ] || RATES=(2000 5000 10000)
SECONDS_PER_RATE=${SECONDS_PER_RATE:-10}
for p in sipp kamailio; do
  command -v "$p" >/dev/null || { echo "bench/options.sh: $p is missing (apt-get install sip-tester kamailio)" >&2; exit 2; }
done
cargo build --release --quiet

RUN=$(mktemp -d /tmp/switchboard-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
CLK_TCK=$(getconf CLK_TCK)

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

# switchboard, on a free port, with defaults and an empty data directory.
: > "$RUN/empty.toml"
target/release/switchboard serve --config "$RUN/empty.toml" --sip 127.0.0.1:0 --data "$RUN/data" \
  > "$RUN/switchboard.out" 2> "$RUN/switchboard.err" &
pids+=($!); SB_PID=$!
for _ in $(seq 100); do grep -q 'listening sip/udp' "$RUN/switchboard.out" 2>/dev/null && break; sleep 0.1; done
SB_ADDR=$(awk '/listening sip\/udp/ {print $3}' "$RUN/switchboard.out")
[ -n "$SB_ADDR" ] || { echo "switchboard did not start:"; cat "$RUN/switchboard.err"; exit 1; }

# Kamailio on another free port.
KAM_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
kamailio -f bench/kamailio-options.cfg -DD -E -m 256 -M 32 -P "$RUN/kamailio.pid" \
  -l "udp:127.0.0.1:$KAM_PORT" -l "tcp:127.0.0.1:$KAM_PORT" > "$RUN/kamailio.log" 2>&1 &
pids+=($!); KAM_PID=$!
sleep 1.5
kill -0 "$KAM_PID" 2>/dev/null || { echo "kamailio did not start:"; cat "$RUN/kamailio.log"; exit 1; }
kam_pids() { echo "$KAM_PID $(pgrep -P "$KAM_PID" | tr '\n' ' ')"; }

# run NAME TARGET RATE PIDS... -> "ok cpu_seconds"
run() {
  local name=$1 target=$2 rate=$3; shift 3
  local total=$((rate * SECONDS_PER_RATE)) c0 c1 ok
  c0=$(cpu_ticks "$@")
  (cd "$RUN" && timeout $((SECONDS_PER_RATE + 60)) sipp -sf "$OLDPWD/bench/options.xml" "$target" \
      -i 127.0.0.1 -r "$rate" -m "$total" -l 20000 -buff_size 4194304 -nostdin \
      -timeout $((SECONDS_PER_RATE + 30)) -timeout_error -recv_timeout 5000 \
      -trace_stat -stf "$RUN/${name}_$rate.csv" -fd 1 -trace_err > "$RUN/${name}_$rate.out" 2>&1) || true
  c1=$(cpu_ticks "$@")
  ok=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="SuccessfulCall(C)") k=i; next} {v=$k} END{print v+0}' \
    "$RUN/${name}_$rate.csv")
  echo "$ok $(echo "scale=4; ($c1 - $c0) / $CLK_TCK" | bc -l)"
}

echo "# OPTIONS load, $(date -u +%Y-%m-%d), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
echo "# switchboard $SB_ADDR (pid $SB_PID), kamailio 127.0.0.1:$KAM_PORT ($(kamailio -v | head -1))"
printf '%-8s %-8s | %-12s %-10s %-13s | %-12s %-10s %-13s | %s\n' rate total \
  sb_ok sb_cpu_s sb_cpu/10k kam_ok kam_cpu_s kam_cpu/10k ratio
for rate in "${RATES[@]}"; do
  read -r sb_ok sb_cpu < <(run switchboard "$SB_ADDR" "$rate" "$SB_PID")
  # shellcheck disable=SC2046
  read -r kam_ok kam_cpu < <(run kamailio "127.0.0.1:$KAM_PORT" "$rate" $(kam_pids))
  per() { if [ "$1" -gt 0 ]; then echo "scale=4; $2 * 10000 / $1" | bc -l; else echo nan; fi; }
  sb_per=$(per "$sb_ok" "$sb_cpu"); kam_per=$(per "$kam_ok" "$kam_cpu")
  ratio=$(echo "scale=2; $sb_per / $kam_per" | bc -l 2>/dev/null || echo nan)
  printf '%-8s %-8s | %-12s %-10s %-13s | %-12s %-10s %-13s | %s\n' "$rate" \
    $((rate * SECONDS_PER_RATE)) "$sb_ok" "$sb_cpu" "$sb_per" "$kam_ok" "$kam_cpu" "$kam_per" "$ratio"
done
