#!/usr/bin/env bash
# A/B of two Parley binaries on the same cases, alternating, server pinned
# to core 0 and parley-bench to core 1, with bench/compare.sh's flags
# (rate limits and caps lifted); prints the medians. Each binary gets the
# common flags plus its own (a binary older than a flag cannot take it):
#
#   OLD_FLAGS="" NEW_FLAGS="--data-dir none --max-queued-bytes 4294967296" \
#     bench/ab.sh /tmp/parley-before target/release/parley [RUNS]
#
# Cases: fanout-100 and hold-19000, as compare.sh runs them, or those named
# in AB_CASES (among fanout-100, fanout-1000, hold-19000, and sweep-1000-fine:
# sweep-1000 from 600,000 deliveries/s up in steps of 1.15 instead of 1.6,
# to tell two configurations apart near the top). A flag value @fresh is
# replaced by a new empty directory for each run (`--data-dir @fresh`), so
# one binary can be set against itself with and without the store:
#
#   AB_CASES=sweep-1000-fine OLD_FLAGS="--data-dir none" \
#     NEW_FLAGS="--data-dir @fresh --fsync always" \
#     bench/ab.sh target/release/parley target/release/parley
#
# Needs a
# release build of parley-bench (cargo build --release -p parley-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/ab.sh OLD_BINARY NEW_BINARY [RUNS]" >&2; exit 2; }
old="$1" new="$2" runs="${3:-3}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
common=(--bind 127.0.0.1 --rate-burst 1000000 --rate-per-sec 1000000
  --address-rate-burst 1000000 --address-rate-per-sec 1000000
  --room-rate-burst 1000000 --room-rate-per-sec 1000000
  --max-websockets-per-ip 1000000 --connect-burst 1000000 --connect-per-sec 1000000
  --max-sessions-per-ip 100000 --max-poll-sessions 100000
  --max-room-members 100000 --history-on-join 0)
read -r -a old_flags <<<"${OLD_FLAGS:-}"
read -r -a new_flags <<<"${NEW_FLAGS:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
. bench/ports.sh
for run in $(seq 1 "$runs"); do
  for which in old new; do
    for case in ${AB_CASES:-fanout-100 hold-19000}; do
      next_port
      if [ "$which" = old ]; then bin="$old" flags=("${common[@]}" "${old_flags[@]}")
      else bin="$new" flags=("${common[@]}" "${new_flags[@]}"); fi
      fresh="$work/data-$which-$case-$run"
      flags=("${flags[@]/#@fresh/$fresh}")
      RUST_LOG=warn taskset -c 0 "$bin" --port "$port" "${flags[@]}" >"$work/server.log" 2>&1 &
      pid=$!
      wait_listening "$port" || { echo "ab: $which did not start" >&2; cat "$work/server.log" >&2; exit 1; }
      case "$case" in
        fanout-100) args=(--scenario fanout --clients 100 --senders 10 --rate 500 --secs 5) ;;
        fanout-1000) args=(--scenario fanout --clients 1000 --senders 10 --rate 50 --secs 5) ;;
        hold-19000) args=(--scenario hold --conns 19000) ;;
        sweep-1000-fine) args=(--scenario sweep --clients 1000 --senders 10 --secs 2
          --sweep-start 600000 --sweep-factor 1.15) ;;
      esac
      echo "ab: $case run $run: $which" >&2
      taskset -c 1 target/release/parley-bench --target parley-ws --url "http://127.0.0.1:$port" \
        --server-pid "$pid" --label "$case-$which" --run "$run" "${args[@]}" \
        >>"$work/results.txt" 2>"$work/gen.log" || { echo "ab: $case $which failed" >&2; tail "$work/gen.log" >&2; }
      grep '^sweep step' "$work/gen.log" >&2 || true
      kill "$pid"; wait "$pid" 2>/dev/null || true
      rm -rf "$fresh"
      sleep 1
    done
  done
done
target/release/parley-bench summarize "$work/results.txt"
