#!/usr/bin/env bash
# Starts BINARY fresh on 127.0.0.1 with the rate limit and outbox raised (so
# one client per room can fill it at once), runs bench/history-memory.mjs
# against it, and stops it. docs/BENCHMARKS.md ("History memory") has the
# runs and their figures.
#   bench/history-memory.sh BINARY ROOMS MSGS KEEP(1|0) [server flags...]
set -euo pipefail
bin=$1 rooms=$2 msgs=$3 keep=$4
shift 4
here=$(dirname "$0")
log=$(mktemp)
"$bin" --port 0 --bind 127.0.0.1 --rate-burst 100000 --rate-per-sec 100000 \
  --max-outbox-bytes 268435456 "$@" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
port=
for _ in $(seq 50); do
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
SETTLE_MS=${SETTLE_MS:-12000} timeout 300 \
  node --experimental-websocket "$here/history-memory.mjs" "$port" "$pid" "$rooms" "$msgs" "$keep" 2>&1 |
  grep -v -i warning
