#!/usr/bin/env bash
# 9P tree: N clients (each its own TCP connection, each logged in with the afid exchange as its
# own extension, or as the domain admin for the directory operations) against `switchboard
# serve` (release), for a fixed time each:
#   read    walk+open+read+clunk of the extension's `presence` (call-free, four round trips),
#   metadata walk+open+read+clunk of `ongoing/<call>/metadata` of one live call held for the
#           whole run (SIPp: user1 calls user0 of domain 127.0.0.1, whose UAS answers; the
#           clients log in as user0 and user1 in turn, the call's two parties),
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
# env:   SECONDS_PER_RUN (5), WARMUP (1), OPS (read,metadata,stat,dirread), DIR_ENTRIES (1000),
#        MSIZE (65536), NICE (0: niceness of both servers and the load generator),
#        SWITCHBOARD_BIN (a release switchboard binary to use instead of building one),
#        SWITCHBOARD_COMMIT (what to print as its commit; default: this tree's HEAD),
#        RUST_LOG (warn, for the server)
# needs: curl, and the Rust toolchain (both binaries are built here in release mode); for
#        metadata also sipp (sip-tester) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CLIENTS=("${@:-}")
[ $# -gt 0 ] || CLIENTS=(1 4 16)
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
WARMUP=${WARMUP:-1}
OPS=${OPS:-read,metadata,stat,dirread}
DIR_ENTRIES=${DIR_ENTRIES:-1000}
MSIZE=${MSIZE:-65536}
NICE=${NICE:-0}
export RUST_LOG=${RUST_LOG:-warn}
need=(curl)
case ",$OPS," in *,metadata,*) need+=(sipp python3) ;; esac
for p in "${need[@]}"; do
  command -v "$p" >/dev/null || { echo "bench/ninep.sh: $p is missing" >&2; exit 2; }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${SWITCHBOARD_BIN:-}" ]; then
  cargo build --release --quiet --bin switchboard
  SWITCHBOARD_BIN=$CARGO_TARGET_DIR/release/switchboard
fi
(cd bench/ninep && cargo build --release --quiet)
BIN=$CARGO_TARGET_DIR/release

RUN=$(mktemp -d /tmp/switchboard-ninep-bench.XXXXXX)
pids=()
# TERM first, then KILL what is left (a SIPp whose server is gone waits for its BYE's answer,
# and would otherwise outlive the script, holding whatever the script inherited).
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do pkill -KILL -P "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Users: bench.local has one extension per client (user<i>, secret pw<i>); big.local has
# DIR_ENTRIES extensions and an admin (set over HTTP below: the config has no admin key);
# 127.0.0.1 (the domain SIPp's requests name) has the call's two parties, user0 and user1. No
# keepalives to SIPp and no media timeout: the held call carries no RTP.
max_clients=$(printf '%s\n' "${CLIENTS[@]}" | sort -n | tail -1)
{
  echo '[registrar]'; echo 'keepalive_secs = 0'
  echo '[calls]'; echo 'media_timeout_secs = 0'
  echo '[[domain]]'; echo 'name = "127.0.0.1"'; echo 'users = ['
  echo '  { username = "user0", secret = "pw0" },'; echo '  { username = "user1", secret = "pw1" },'
  echo ']'
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
  SIP=$(listening sip/udp "$RUN/switchboard.out")
  PLAIN=$(sed -n 's/^listening //p' "$RUN/plain.out")
  [ -n "$NINEP" ] && [ -n "$HTTP" ] && [ -n "$PLAIN" ] && break
  sleep 0.05
done
[ -n "$NINEP" ] && [ -n "$PLAIN" ] || {
  echo "servers did not start:"; cat "$RUN/switchboard.err" "$RUN/plain.err"; exit 1; }
curl -fsS -X PUT -H 'Content-Type: application/json' -d '{"admin": {"secret": "adminpw"}}' \
  "http://$HTTP/dir/big.local" > /dev/null

# The live call of `metadata`: user0 registers with SIPp from port P (bench/register.xml), a
# SIPp UAS on P answers (bench/calls-uas.xml), a SIPp UAC as user1 calls user0
# (bench/calls-uac.xml) and holds the call for an hour; both are stopped on exit.
free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
case ",$OPS," in *,metadata,*)
  uas_port=$(free_port); uac_port=$(free_port); uas_media=$(free_port); uac_media=$(free_port)
  # SIPp binds its media port and the three after it.
  while [ $((uac_media - uas_media)) -lt 4 ] && [ $((uas_media - uac_media)) -lt 4 ]; do uac_media=$(free_port); done
  echo 'SEQUENTIAL' > "$RUN/user0.csv"; echo 'user0;[authentication username=user0 password=pw0];' >> "$RUN/user0.csv"
  echo 'SEQUENTIAL' > "$RUN/user1.csv"; echo 'user1;[authentication username=user1 password=pw1];' >> "$RUN/user1.csv"
  (cd "$RUN" && timeout 30 sipp -sf "$ROOT/bench/register.xml" -inf user0.csv "$SIP" -i 127.0.0.1 \
      -p "$uas_port" -m 1 -nostdin -timeout 20 -timeout_error > reg.out 2>&1) ||
    { echo "bench/ninep.sh: user0's REGISTER failed (see $RUN/reg.out)" >&2; exit 1; }
  (cd "$RUN" && exec timeout 3700 sipp -sf "$ROOT/bench/calls-uas.xml" "$SIP" -i 127.0.0.1 \
      -p "$uas_port" -mi 127.0.0.1 -mp "$uas_media" -m 1 -nostdin > uas.out 2>&1) &
  pids+=("$!")
  sleep 0.5
  (cd "$RUN" && exec timeout 3700 sipp -sf "$ROOT/bench/calls-uac.xml" -inf user1.csv -s user0 "$SIP" \
      -i 127.0.0.1 -p "$uac_port" -mi 127.0.0.1 -mp "$uac_media" -m 1 -d 3600000 -nostdin \
      > uac.out 2>&1) &
  pids+=("$!")
  up=0
  for _ in $(seq 100); do
    up=$(curl -s --max-time 5 "http://$HTTP/call" |
      python3 -c 'import json, sys; print(sum(c["state"] == "up" for c in json.load(sys.stdin)["calls"]))' 2>/dev/null || echo 0)
    [ "$up" = 1 ] && break
    sleep 0.1
  done
  [ "$up" = 1 ] || { echo "bench/ninep.sh: the call did not come up (see $RUN/uas.out, uac.out)" >&2; exit 1; }
  ;;
esac

if [ -n "${SWITCHBOARD_COMMIT:-}" ]; then
  commit=$SWITCHBOARD_COMMIT
else
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD -- crates src Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+dirty"
fi
echo "# 9P tree, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), kernel $(uname -r)"
echo "# switchboard $commit (release, $SWITCHBOARD_BIN) on 9p/tcp $NINEP, pid $SB_PID, RUST_LOG=$RUST_LOG; plain server $PLAIN, pid $PLAIN_PID"
echo "# users: bench.local user0..user$((max_clients - 1)); big.local ext0..ext$((DIR_ENTRIES - 1)) + admin; 127.0.0.1 user0, user1 (metadata: user1 calls user0, held, $({ sipp -v 2>&1 || true; } | grep -o 'SIPp v[^ ]*' | head -1 | sed 's/[.]$//')); niceness $NICE"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n "$NICE" "$BIN/load" --ninep "$NINEP" --plain "$PLAIN" \
  --clients "$(IFS=,; echo "${CLIENTS[*]}")" --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" \
  --ops "$OPS" --domain bench.local --user-prefix user --secret-prefix pw --file presence \
  --call-domain 127.0.0.1 --call-users user0,user1 --call-secrets pw0,pw1 \
  --admin-domain big.local --admin-secret adminpw --msize "$MSIZE" \
  --server-pid "$SB_PID" --plain-pid "$PLAIN_PID" --clk-tck "$(getconf CLK_TCK)"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# files: $RUN"
