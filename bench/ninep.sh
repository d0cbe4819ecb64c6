#!/usr/bin/env bash
# 9P tree: N clients (each its own TCP connection, each logged in with the afid exchange as its
# own extension, or as the domain admin for the directory operations) against `switchboard
# serve` (release), for a fixed time each:
#   read    walk+open+read+clunk of the extension's `presence` (call-free, four round trips),
#   stat    one Tstat of a directory with DIR_ENTRIES (1,000) entries: the admin's root of a
#           domain with that many extensions,
#   dirread a whole read of that directory (walk, open, Tread until empty, clunk);
# then, in the same run and with the same N, the plain TCP request/response server of
# bench/ninep (`plain`: answers each request with the number of bytes it asks for, nothing
# else) driven with exactly the exchanges of that operation, at the same request and response
# sizes: the physical limit. bench/ninep's `load` prints ops/s, p50/p99 latency, each server's
# CPU per operation, and the ratios; the target (issue 5) is 9P within 2x of the limit.
#
# usage: bench/ninep.sh [CLIENTS...]      default: 1 4 16
# env:   SECONDS_PER_RUN (5), WARMUP (1), OPS (read,stat,dirread), DIR_ENTRIES (1000),
#        MSIZE (65536), NICE (0: niceness of both servers and the load generator),
#        SWITCHBOARD_BIN (a release switchboard binary to use instead of building one),
#        SWITCHBOARD_COMMIT (what to print as its commit; default: this tree's HEAD),
#        RUST_LOG (warn, for the server)
# needs: curl, and the Rust toolchain (both binaries are built here in release mode).
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=("${@:-}")
[ $# -gt 0 ] || CLIENTS=(1 4 16)
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
WARMUP=${WARMUP:-1}
OPS=${OPS:-read,stat,dirread}
DIR_ENTRIES=${DIR_ENTRIES:-1000}
MSIZE=${MSIZE:-65536}
NICE=${NICE:-0}
export RUST_LOG=${RUST_LOG:-warn}
command -v curl >/dev/null || { echo "bench/ninep.sh: curl is missing" >&2; exit 2; }

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${SWITCHBOARD_BIN:-}" ]; then
  cargo build --release --quiet --bin switchboard
  SWITCHBOARD_BIN=$CARGO_TARGET_DIR/release/switchboard
fi
(cd bench/ninep && cargo build --release --quiet)
BIN=$CARGO_TARGET_DIR/release

RUN=$(mktemp -d /tmp/switchboard-ninep-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Users: bench.local has one extension per client (user<i>, secret pw<i>); big.local has
# DIR_ENTRIES extensions and an admin (set over HTTP below: the config has no admin key).
max_clients=$(printf '%s\n' "${CLIENTS[@]}" | sort -n | tail -1)
{
  echo '[[domain]]'; echo 'name = "bench.local"'; echo 'users = ['
  for ((i = 0; i < max_clients; i++)); do echo "  { username = \"user$i\", secret = \"pw$i\" },"; done
  echo ']'
  echo '[[domain]]'; echo 'name = "big.local"'; echo 'users = ['
  for ((i = 0; i < DIR_ENTRIES; i++)); do echo "  { username = \"ext$i\", secret = \"s$i\" },"; done
  echo ']'
} > "$RUN/switchboard.toml"

nice -n "$NICE" "$SWITCHBOARD_BIN" serve --config "$RUN/switchboard.toml" --data "$RUN" \
  --sip 127.0.0.1:0 --http 127.0.0.1:0 --ninep 127.0.0.1:0 > "$RUN/switchboard.out" 2> "$RUN/switchboard.err" &
SB_PID=$!; pids+=("$SB_PID")
nice -n "$NICE" "$BIN/plain" --listen 127.0.0.1:0 --max-seconds 3600 > "$RUN/plain.out" 2> "$RUN/plain.err" &
PLAIN_PID=$!; pids+=("$PLAIN_PID")

listening() { sed -n "s|^listening $1 ||p" "$2" | head -1; }
for _ in $(seq 200); do
  NINEP=$(listening 9p/tcp "$RUN/switchboard.out"); HTTP=$(listening http "$RUN/switchboard.out")
  PLAIN=$(sed -n 's/^listening //p' "$RUN/plain.out")
  [ -n "$NINEP" ] && [ -n "$HTTP" ] && [ -n "$PLAIN" ] && break
  sleep 0.05
done
[ -n "$NINEP" ] && [ -n "$PLAIN" ] || {
  echo "servers did not start:"; cat "$RUN/switchboard.err" "$RUN/plain.err"; exit 1; }
curl -fsS -X PUT -H 'Content-Type: application/json' -d '{"admin": {"secret": "adminpw"}}' \
  "http://$HTTP/dir/big.local" > /dev/null

if [ -n "${SWITCHBOARD_COMMIT:-}" ]; then
  commit=$SWITCHBOARD_COMMIT
else
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD -- crates src Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+dirty"
fi
echo "# 9P tree, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), kernel $(uname -r)"
echo "# switchboard $commit (release, $SWITCHBOARD_BIN) on 9p/tcp $NINEP, pid $SB_PID, RUST_LOG=$RUST_LOG; plain server $PLAIN, pid $PLAIN_PID"
echo "# users: bench.local user0..user$((max_clients - 1)); big.local ext0..ext$((DIR_ENTRIES - 1)) + admin; niceness $NICE"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n "$NICE" "$BIN/load" --ninep "$NINEP" --plain "$PLAIN" \
  --clients "$(IFS=,; echo "${CLIENTS[*]}")" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" \
  --ops "$OPS" --domain bench.local --user-prefix user --secret-prefix pw --file presence \
  --admin-domain big.local --admin-secret adminpw --msize "$MSIZE" \
  --server-pid "$SB_PID" --plain-pid "$PLAIN_PID" --clk-tck "$(getconf CLK_TCK)"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# files: $RUN"
