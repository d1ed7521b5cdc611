#!/usr/bin/env bash
# The soak (docs/BENCHMARKS.md, "Soak (30 minutes)"): builds the release
# binaries, starts `parley` on a free loopback port and runs parley-bench's
# soak scenario against it for N minutes: WebSocket and long-polling users
# joining, chatting, renaming, leaving, dropping, being taken over and
# resuming in 12 rooms, plus a reader that stops reading every minute. It
# samples the server's VmRSS and open descriptors every 10 s into a CSV
# and prints the summary (the `result` line and a table).
#
#   bench/soak.sh                 30 minutes
#   bench/soak.sh --minutes 2 --warmup-secs 30    a quick check
#   any other option is passed to parley-bench (--soak-ws, --soak-poll,
#   --soak-rooms, --stuck-every-secs, --sample-secs, --warmup-secs)
#
# Writes target/soak/soak-<time>.csv, .log (the generator) and
# .server.log. Needs cargo; nothing is written outside target/.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "soak: $*" >&2; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
say "building (release)"
cargo build --release -q -p parley -p parley-bench

# The users come from eight loopback addresses, so the limits per address
# (frames, connection attempts, open WebSockets and polling sessions) are
# lifted; everything per user, per room and per connection keeps its
# default: the users send within the per-user rate (10 a second) and the
# rooms' budgets (10 a second), and the stuck readers meet the default
# byte bound, write stall, heartbeat and session grace.
PARLEY_FLAGS=(--bind 127.0.0.1
  --address-rate-burst 1000000 --address-rate-per-sec 1000000
  --connect-burst 1000000 --connect-per-sec 1000000
  --max-websockets-per-ip 1000000 --max-sessions-per-ip 100000 --data-dir none)

. bench/ports.sh
next_port

mkdir -p target/soak
stem="target/soak/soak-$(date -u +%Y%m%dT%H%M%SZ)"
RUST_LOG=warn target/release/parley --port "$port" "${PARLEY_FLAGS[@]}" >"$stem.server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
wait_listening "$port" || { say "the server did not start:"; cat "$stem.server.log" >&2; exit 1; }
say "server pid $server on port $port; flags: ${PARLEY_FLAGS[*]}"
say "samples in $stem.csv"

target/release/parley-bench --scenario soak --url "http://127.0.0.1:$port" \
  --server-pid "$server" --csv "$stem.csv" "$@" 2> >(tee "$stem.log" >&2)
