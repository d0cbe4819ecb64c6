#!/usr/bin/env bash
# Media relay: N concurrent G.711 calls (20 ms, both directions: 100 packets/s per call) relayed
# by switchboard's media engine (net::media, driven by bench/media's `relay` harness) and by
# rtpengine in userspace forwarding mode (no kernel module, controlled over its ng protocol by
# bench/media's `ng`), in the same run, one after the other for each N. bench/media's `gen`
# sends and receives the RTP and measures loss and one-way latency; the relay's CPU time
# (utime+stime of the relay process only, all threads) is read from /proc at the edges of the
# measured window. A direct run (phones sending to each other, no relay) gives the latency
# baseline.
#
# usage: bench/media.sh [CALLS...]      default: 250 500 1000
# env:   SECONDS_PER_RUN (10), WARMUP (3), SB_WORKERS (1), RTPENGINE_THREADS (2),
#        ENGINES ("direct switchboard rtpengine"; add "tokio" for the task-per-session design,
#        "floor floor-conn floor-et floor-mmsg floor-mmsg-conn" for the least a userspace relay
#        can do per packet: bench/media/src/floor.rs; they run with SB_WORKERS threads too),
#        "switchboard-alt" for another build of bench/media's relay, ALT_RELAY=PATH (e.g. one
#        built from an older commit: before/after in the same run),
#        "switchboard-rt rtpengine-rt" for both relays with their real-time option: switchboard's
#        relay threads under SCHED_FIFO at priority REALTIME (MediaConfig::realtime_priority),
#        rtpengine with --scheduling=fifo --priority=REALTIME; REALTIME (10),
#        NICE (-10: the generator and both relays run at this niceness, so that other work on
#        a shared machine, such as compiles, does not starve them; 0 to leave it)
# needs: rtpengine (Debian rtpengine-daemon); the rest is built here.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=("${@:-}")
[ $# -gt 0 ] || CALLS=(250 500 1000)
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WARMUP=${WARMUP:-3}
SB_WORKERS=${SB_WORKERS:-1}
RTPENGINE_THREADS=${RTPENGINE_THREADS:-2}
ENGINES=${ENGINES:-direct switchboard rtpengine}
NICE=${NICE:--10}
REALTIME=${REALTIME:-10}
command -v rtpengine >/dev/null || {
  echo "bench/media.sh: rtpengine is missing (apt-get install rtpengine-daemon)" >&2; exit 2; }
# 1,000 calls: 4,000 relay sockets and 2,000 generator sockets.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/bench/media/target}
(cd bench/media && cargo build --release --quiet)
BIN=$CARGO_TARGET_DIR/release
CLK_TCK=$(getconf CLK_TCK)

RUN=$(mktemp -d /tmp/switchboard-media-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# rtpengine: userspace only (--table=-1), its own port range, ng on a free UDP port.
# start_rtpengine NAME PORT_MIN PORT_MAX [OPTIONS...]: writes $RUN/NAME.pid and $RUN/NAME.ng.
start_rtpengine() {
  local name=$1 lo=$2 hi=$3; shift 3
  local ng
  ng=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  nice -n "$NICE" rtpengine --config-file=none --foreground --log-stderr --log-level=4 --table=-1 \
    --interface=127.0.0.1 --listen-ng=127.0.0.1:"$ng" --port-min="$lo" --port-max="$hi" \
    --num-threads="$RTPENGINE_THREADS" --timeout=120 --delete-delay=0 "$@" \
    > "$RUN/$name.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  sleep 1
  kill -0 "$pid" 2>/dev/null || { echo "$name did not start:"; cat "$RUN/$name.log"; exit 1; }
  echo "$pid" > "$RUN/$name.pid"
  echo "$ng" > "$RUN/$name.ng"
}
# rtpengine-rt: the same with its own real-time option (--scheduling=fifo --priority=REALTIME).
if [[ " $ENGINES " == *" rtpengine "* ]]; then start_rtpengine rtpengine 20000 25999; fi
if [[ " $ENGINES " == *" rtpengine-rt "* ]]; then
  start_rtpengine rtpengine-rt 26000 31999 --scheduling=fifo --priority="$REALTIME"
fi

# run ENGINE CALLS -> one result line from gen
run() {
  local engine=$1 calls=$2 prefix="r$2-$(date +%s%N)" relay_pid=
  local dir="$RUN/$engine-$prefix"
  mkdir -p "$dir"
  local gen_args=(--calls "$calls" --phones-out "$dir/phones" --warmup "$WARMUP"
                  --seconds "$SECONDS_PER_RUN" --clk-tck "$CLK_TCK" --label "$engine")
  case $engine in
    direct)
      timeout $((SECONDS_PER_RUN + WARMUP + 60)) nice -n "$NICE" "$BIN/gen" "${gen_args[@]}" --direct
      return ;;
    switchboard|switchboard-rt|switchboard-alt|tokio|floor*)
      gen_args+=(--ports-in "$dir/ports" --relay-pid-file "$dir/relay.pid") ;;
    rtpengine|rtpengine-rt)
      gen_args+=(--ports-in "$dir/ports" --relay-pid-file "$RUN/$engine.pid") ;;
  esac
  timeout $((SECONDS_PER_RUN + WARMUP + 120)) nice -n "$NICE" "$BIN/gen" "${gen_args[@]}" > "$dir/gen.out" &
  local gen=$!
  for _ in $(seq 600); do [ -f "$dir/phones" ] && break; sleep 0.05; done
  case $engine in
    switchboard|switchboard-rt|switchboard-alt|tokio|floor*)
      local rt=() relay_bin=$BIN/relay name=$engine
      [[ $engine == switchboard-* ]] && name=switchboard
      [ "$engine" = switchboard-rt ] && rt=(--realtime "$REALTIME")
      [ "$engine" = switchboard-alt ] && relay_bin=$ALT_RELAY
      nice -n "$NICE" "$relay_bin" --engine "$name" --workers "$SB_WORKERS" --phones "$dir/phones" \
        --ports-out "$dir/ports" --stop-file "$dir/stop" --range 10000-19999 "${rt[@]}" \
        --max-seconds $((SECONDS_PER_RUN + WARMUP + 120)) 2> "$dir/relay.err" &
      relay_pid=$!; pids+=("$relay_pid")
      echo "$relay_pid" > "$dir/relay.pid" ;;
    rtpengine|rtpengine-rt)
      "$BIN/ng" --ng 127.0.0.1:"$(cat "$RUN/$engine.ng")" --phones "$dir/phones" --ports-out "$dir/ports" \
        --prefix "$prefix" ;;
  esac
  wait "$gen" || true
  cat "$dir/gen.out"
  case $engine in
    switchboard|switchboard-rt|switchboard-alt|tokio|floor*) touch "$dir/stop"; wait "$relay_pid" 2>/dev/null || true
                       cat "$dir/relay.err" >&2 ;;
    rtpengine|rtpengine-rt)
      "$BIN/ng" --ng 127.0.0.1:"$(cat "$RUN/$engine.ng")" --phones "$dir/phones" --prefix "$prefix" --delete ;;
  esac
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $2"; }

echo "# media relay, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), kernel $(uname -r)"
echo "# switchboard net::media with $SB_WORKERS relay thread(s); $(rtpengine --version 2>&1 | head -1) userspace (--table=-1), $RTPENGINE_THREADS threads"
echo "# ${SECONDS_PER_RUN}s measured after ${WARMUP}s warm-up per run, niceness $NICE; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for calls in "${CALLS[@]}"; do
  declare -A line=()
  for engine in $ENGINES; do
    line[$engine]=$(run "$engine" "$calls")
    echo "${line[$engine]}"
  done
  if [[ -n "${line[switchboard]:-}" && -n "${line[rtpengine]:-}" ]]; then
    sb=$(field cpu_us_per_pkt "${line[switchboard]}"); re=$(field cpu_us_per_pkt "${line[rtpengine]}")
    s99=$(field lat_p99_us "${line[switchboard]}"); r99=$(field lat_p99_us "${line[rtpengine]}")
    s50=$(field lat_p50_us "${line[switchboard]}"); r50=$(field lat_p50_us "${line[rtpengine]}")
    echo "ratio calls=$calls cpu_per_pkt(switchboard/rtpengine)=$(echo "scale=3; $sb / $re" | bc -l 2>/dev/null || echo nan)" \
      "p50(sb/re)=$(echo "scale=2; $s50 / $r50" | bc -l 2>/dev/null || echo nan)" \
      "p99(sb/re)=$(echo "scale=2; $s99 / $r99" | bc -l 2>/dev/null || echo nan)"
  fi
  if [[ -n "${line[rtpengine]:-}" ]]; then
    re=$(field cpu_us_per_pkt "${line[rtpengine]}")
    for engine in $ENGINES; do
      [[ $engine == direct || $engine == rtpengine || $engine == switchboard || $engine == *-rt ]] && continue
      e=$(field cpu_us_per_pkt "${line[$engine]}")
      echo "ratio calls=$calls cpu_per_pkt($engine/rtpengine)=$(echo "scale=3; $e / $re" | bc -l 2>/dev/null || echo nan)"
    done
  fi
  if [[ -n "${line[switchboard]:-}" && -n "${line[switchboard-alt]:-}" ]]; then
    sb=$(field cpu_us_per_pkt "${line[switchboard]}"); alt=$(field cpu_us_per_pkt "${line[switchboard-alt]}")
    echo "ratio calls=$calls cpu_per_pkt(switchboard/switchboard-alt)=$(echo "scale=3; $sb / $alt" | bc -l 2>/dev/null || echo nan)"
  fi
  if [[ -n "${line[switchboard-rt]:-}" && -n "${line[rtpengine-rt]:-}" ]]; then
    sb=$(field cpu_us_per_pkt "${line[switchboard-rt]}"); re=$(field cpu_us_per_pkt "${line[rtpengine-rt]}")
    s99=$(field lat_p99_us "${line[switchboard-rt]}"); r99=$(field lat_p99_us "${line[rtpengine-rt]}")
    echo "ratio calls=$calls cpu_per_pkt(switchboard-rt/rtpengine-rt)=$(echo "scale=3; $sb / $re" | bc -l 2>/dev/null || echo nan)" \
      "p99(sb-rt/re-rt)=$(echo "scale=2; $s99 / $r99" | bc -l 2>/dev/null || echo nan)"
  fi
  unset line
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
