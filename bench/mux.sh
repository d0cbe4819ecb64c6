#!/usr/bin/env bash
# 9P multiplexer: N clients (each its own connection, each logged in with the afid exchange)
# through one `switchboard mux` (its one upstream connection to `switchboard serve`), against
# the same N clients each on its own direct TCP connection to the same server, in the same run
# (direct first, then through the mux, for each N and each operation):
#   fread  one Tread (offset 0) of a 1 KiB file, opened once per client: the `presence` of
#          domain mux.local, whose users are named so that it is exactly 1,024 bytes
#          (c0..c111 and padding1, all idle); client i is extension c<i>;
#   dread  one Tread (offset 0, count 65536) of a directory opened once per client: the root
#          of admin@big.local, DIR_ENTRIES (1,000) extensions, about 95 KB of stat entries,
#          so every read returns a full 64 KiB less the part of an entry that does not fit.
# Then, same run, the same clients through each floor hop in HOP (bench/ninep's `hop`: the
# cheapest userspace intermediary, no 9P work, each client its own upstream connection to the
# server, bytes copied both ways as they come; listening like the mux, per MUX_LISTEN):
#   copy     one thread, one mio event loop, read/write (the mux's shape, minus 9P);
#   splice   the same loop, each direction through a pipe with splice(2): the payload never
#            enters userspace;
#   threads  two blocking threads per client, read then write, no event loop.
# With one client a floor is a true lower bound on what any userspace hop (the mux too) adds;
# with 4 or 16 only an approximate one: the hop gives each client its own upstream
# connection, so it cannot batch many clients' messages in one write as the mux does.
# bench/ninep's `load` (the load generator of bench/ninep.sh) prints ops/s, p50/p99 latency,
# the server's, the mux's (or hop's) and its own CPU per operation, and the ratios
# (`ratio` lines: mux/direct; `floor` lines: hop/direct and mux/hop); the target (issue 6) is
# at least 90% of direct throughput through the mux.
#
# usage: bench/mux.sh [CLIENTS...]      default: 1 4 16
# env:   SECONDS_PER_RUN (5), WARMUP (1), OPS (fread,dread), DIR_ENTRIES (1000),
#        MSIZE (131072: room for count 65536), COUNT (65536, dread's count; fread reads all),
#        MUX_LISTEN (unix: the clients reach the mux on a Unix socket, as README "Running"
#        shows; tcp: on 127.0.0.1 TCP), NICE (0: niceness of the server, the mux and the load
#        generator), SWITCHBOARD_BIN (a release switchboard binary to use instead of building
#        one), SWITCHBOARD_COMMIT (what to print as its commit; default: this tree's HEAD),
#        RUST_LOG (warn, for the server and the mux), MUX_ARGS (more flags for `switchboard
#        mux`, e.g. "--spin-us 0"; the default is 50), HOP (copy,splice: the floor hops to
#        run after the mux, any of copy, splice, threads, comma separated; none for none),
#        MUX_B_ARGS (if set, even empty: a second `switchboard mux` with these flags instead
#        of MUX_ARGS, measured after the first as `hop-muxb`, before the hops: an A/B of two
#        mux settings in one run)
# needs: curl, and the Rust toolchain (switchboard and bench/ninep are built here in release
#        mode).
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=("${@:-}")
[ $# -gt 0 ] || CLIENTS=(1 4 16)
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
WARMUP=${WARMUP:-1}
OPS=${OPS:-fread,dread}
DIR_ENTRIES=${DIR_ENTRIES:-1000}
MSIZE=${MSIZE:-131072}
COUNT=${COUNT:-65536}
MUX_LISTEN=${MUX_LISTEN:-unix}
NICE=${NICE:-0}
HOP=${HOP:-copy,splice}
[ "$HOP" != none ] || HOP=
export RUST_LOG=${RUST_LOG:-warn}
command -v curl >/dev/null || { echo "bench/mux.sh: curl is missing" >&2; exit 2; }
max_clients=$(printf '%s\n' "${CLIENTS[@]}" | sort -n | tail -1)
[ "$max_clients" -le 112 ] || { echo "bench/mux.sh: at most 112 clients (mux.local's users)" >&2; exit 2; }

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${SWITCHBOARD_BIN:-}" ]; then
  cargo build --release --quiet --bin switchboard
  SWITCHBOARD_BIN=$CARGO_TARGET_DIR/release/switchboard
fi
(cd bench/ninep && cargo build --release --quiet)
BIN=$CARGO_TARGET_DIR/release

RUN=$(mktemp -d /tmp/switchboard-mux-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Users: mux.local c0..c111 and padding1: presence lines "c0 idle\n" (8 bytes) .. "c9", "c10"
# .. "c99" (9), "c100" .. "c111" (10) and "padding1 idle\n" (14): 80 + 810 + 120 + 14 = 1,024
# bytes. big.local: DIR_ENTRIES extensions and an admin (set over HTTP below).
{
  echo '[[domain]]'; echo 'name = "mux.local"'; echo 'users = ['
  for ((i = 0; i < 112; i++)); do echo "  { username = \"c$i\", secret = \"pw$i\" },"; done
  echo '  { username = "padding1", secret = "padding" },'
  echo ']'
  echo '[[domain]]'; echo 'name = "big.local"'; echo 'users = ['
  for ((i = 0; i < DIR_ENTRIES; i++)); do echo "  { username = \"ext$i\", secret = \"s$i\" },"; done
  echo ']'
} > "$RUN/switchboard.toml"

nice -n "$NICE" "$SWITCHBOARD_BIN" serve --config "$RUN/switchboard.toml" --data "$RUN/data" \
  --sip 127.0.0.1:0 --http 127.0.0.1:0 --ninep 127.0.0.1:0 > "$RUN/switchboard.out" 2> "$RUN/switchboard.err" &
SB_PID=$!; pids+=("$SB_PID")

listening() { sed -n "s|^listening $1 ||p" "$2" | head -1; }
# await KIND NAME WHAT: the address NAME (RUN/NAME.out) announces as KIND, within 10 s, or exit.
await() {
  local addr=
  for _ in $(seq 200); do
    addr=$(listening "$1" "$RUN/$2.out")
    [ -n "$addr" ] && { echo "$addr"; return; }
    sleep 0.05
  done
  echo "$3 did not start:" >&2; cat "$RUN/$2.err" >&2; exit 1
}
for _ in $(seq 200); do
  NINEP=$(listening 9p/tcp "$RUN/switchboard.out"); HTTP=$(listening http "$RUN/switchboard.out")
  [ -n "$NINEP" ] && [ -n "$HTTP" ] && break
  sleep 0.05
done
[ -n "$NINEP" ] && [ -n "$HTTP" ] || { echo "switchboard did not start:"; cat "$RUN/switchboard.err"; exit 1; }
curl -fsS -X PUT -H 'Content-Type: application/json' -d '{"admin": {"secret": "adminpw"}}' \
  "http://$HTTP/dir/big.local" > /dev/null

case "$MUX_LISTEN" in
  unix) listen="unix!$RUN/mux.9p"; kind=9p-mux/unix ;;
  tcp) listen="tcp!127.0.0.1!0"; kind=9p-mux/tcp ;;
  *) echo "bench/mux.sh: MUX_LISTEN is unix or tcp" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086 # MUX_ARGS is split into flags on purpose
nice -n "$NICE" "$SWITCHBOARD_BIN" mux --listen "$listen" --upstream "tcp!${NINEP%:*}!${NINEP##*:}" ${MUX_ARGS:-} \
  > "$RUN/mux.out" 2> "$RUN/mux.err" &
MUX_PID=$!; pids+=("$MUX_PID")
MUX=$(await "$kind" mux "the mux")
if [ "$MUX_LISTEN" = unix ]; then MUX="unix!$MUX"; else MUX="tcp!${MUX%:*}!${MUX##*:}"; fi

# The floor hops, each listening like the mux.
hop_args=()
hop_line=
if [ -n "${MUX_B_ARGS+set}" ]; then
  case "$MUX_LISTEN" in
    unix) blisten="unix!$RUN/muxb.9p" ;;
    tcp) blisten="tcp!127.0.0.1!0" ;;
  esac
  # shellcheck disable=SC2086 # MUX_B_ARGS is split into flags on purpose
  nice -n "$NICE" "$SWITCHBOARD_BIN" mux --listen "$blisten" --upstream "tcp!${NINEP%:*}!${NINEP##*:}" $MUX_B_ARGS \
    > "$RUN/muxb.out" 2> "$RUN/muxb.err" &
  bpid=$!; pids+=("$bpid")
  B=$(await "$kind" muxb "the second mux")
  if [ "$MUX_LISTEN" = unix ]; then B="unix!$B"; else B="tcp!${B%:*}!${B##*:}"; fi
  hop_args+=(--hop "muxb=$B" --hop-pid "muxb=$bpid")
  hop_line="; hop-muxb: a second mux $B (${MUX_B_ARGS:-no flags}), pid $bpid"
fi
IFS=, read -r -a hops <<< "$HOP"
for h in "${hops[@]}"; do
  case "$h" in
    copy | splice | threads) ;;
    *) echo "bench/mux.sh: HOP is a list of copy, splice, threads (or none), not $h" >&2; exit 2 ;;
  esac
  case "$MUX_LISTEN" in
    unix) hlisten="unix!$RUN/hop-$h.9p"; hkind=hop-$h/unix ;;
    tcp) hlisten="tcp!127.0.0.1!0"; hkind=hop-$h/tcp ;;
  esac
  nice -n "$NICE" "$BIN/hop" --mode "$h" --listen "$hlisten" --upstream "tcp!${NINEP%:*}!${NINEP##*:}" \
    > "$RUN/hop-$h.out" 2> "$RUN/hop-$h.err" &
  hpid=$!; pids+=("$hpid")
  HADDR=$(await "$hkind" "hop-$h" "the $h hop")
  if [ "$MUX_LISTEN" = unix ]; then HADDR="unix!$HADDR"; else HADDR="tcp!${HADDR%:*}!${HADDR##*:}"; fi
  hop_args+=(--hop "$h=$HADDR" --hop-pid "$h=$hpid")
  hop_line="$hop_line; hop-$h $HADDR, pid $hpid"
done

if [ -n "${SWITCHBOARD_COMMIT:-}" ]; then
  commit=$SWITCHBOARD_COMMIT
else
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD -- crates src Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+dirty"
fi
echo "# 9P mux, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), kernel $(uname -r)"
echo "# switchboard $commit (release, $SWITCHBOARD_BIN) serve on 9p/tcp $NINEP, pid $SB_PID; mux $MUX (upstream tcp!$NINEP${MUX_ARGS:+, $MUX_ARGS}), pid $MUX_PID$hop_line; RUST_LOG=$RUST_LOG"
echo "# users: mux.local c0..c111 + padding1; big.local ext0..ext$((DIR_ENTRIES - 1)) + admin; niceness $NICE"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n "$NICE" "$BIN/load" --ninep "$NINEP" --mux "$MUX" \
  --clients "$(IFS=,; echo "${CLIENTS[*]}")" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" \
  --ops "$OPS" --domain mux.local --user-prefix c --secret-prefix pw --file presence \
  --count "$COUNT" --admin-domain big.local --admin-secret adminpw --msize "$MSIZE" \
  --server-pid "$SB_PID" --mux-pid "$MUX_PID" --clk-tck "$(getconf CLK_TCK)" "${hop_args[@]}"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# files: $RUN"
