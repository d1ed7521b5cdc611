#!/usr/bin/env bash
# Benchmarks Parley side by side with a Socket.IO 4.8 chat server
# (bench/peers/socketio-chat.js): builds both, then for every scenario and
# every repeat starts each server fresh, pinned to one core, drives it from
# parley-bench pinned to another, and prints the table of medians and
# Parley/Socket.IO ratios (docs/BENCHMARKS.md holds the latest one).
#
#   bench/compare.sh            full run (3 repeats; under 15 minutes)
#   bench/compare.sh --quick    a few seconds per scenario, small N, one
#                               repeat: checks the harness end to end (CI)
#   options: --runs N  --out FILE (keep the raw result lines)
#            --only REGEX (run only the cases whose label matches)
#
# Needs: cargo, node 20 and npm (npm ci runs when node_modules is missing),
# taskset (util-linux). Nothing is written inside the repository except
# target/ and bench/peers/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
runs=3
out=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; runs=1 ;;
    --runs) runs="$2"; shift ;;
    --out) out="$2"; shift ;;
    --only) only="$2"; shift ;;
    *) echo "usage: bench/compare.sh [--quick] [--runs N] [--out FILE] [--only REGEX]" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "compare: $*" >&2; }

for tool in cargo node npm; do
  command -v "$tool" >/dev/null || { say "$tool is required"; exit 1; }
done
# Each client is a file: stay under the machine's hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

say "building (release)"
cargo build --release -q -p parley -p parley-bench
if [ ! -d bench/peers/node_modules/socket.io ]; then
  say "installing the Socket.IO peer (npm ci)"
  (cd bench/peers && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

# Server on core 0, generator on core 1 (when there are two cores).
server_pin=()
gen_pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_pin=(taskset -c 0)
  gen_pin=(taskset -c 1)
else
  say "fewer than 2 cores or no taskset: server and generator share the CPU"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/parley-bench.XXXXXX")"
results="$work/results.txt"
: > "$results"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
PARLEY_FLAGS=(--bind 127.0.0.1 --rate-burst 1000000 --rate-per-sec 1000000
  --max-sessions-per-ip 100000 --max-poll-sessions 100000
  --max-room-members 100000 --history-on-join 0)

start_server() { # target
  port=$((port + 1))
  case "$1" in
    socketio) "${server_pin[@]}" node bench/peers/socketio-chat.js "$port" 127.0.0.1 >"$work/server.log" 2>&1 & ;;
    *) RUST_LOG=warn "${server_pin[@]}" target/release/parley --port "$port" "${PARLEY_FLAGS[@]}" >"$work/server.log" 2>&1 & ;;
  esac
  server_pid=$!
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  say "the $1 server did not start:"; cat "$work/server.log" >&2; exit 1
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  # Let the kernel retire the closed connections before the next server.
  sleep 1
}

case_run() { # label run target scenario-args...
  local label="$1" run="$2" target="$3"
  shift 3
  if [ -n "$only" ] && ! [[ "$label" =~ $only ]]; then return 0; fi
  start_server "$target"
  say "$label run $run: $target"
  if ! "${gen_pin[@]}" target/release/parley-bench --target "$target" \
    --url "http://127.0.0.1:$port" --server-pid "$server_pid" \
    --label "$label" --run "$run" "$@" >>"$results" 2>"$work/gen.log"; then
    say "$label run $run against $target failed:"; tail -20 "$work/gen.log" >&2
    stop_server
    exit 1
  fi
  grep '^sweep step' "$work/gen.log" >&2 || true
  stop_server
}

both() { # label run scenario-args...
  local label="$1" run="$2"
  shift 2
  case_run "$label" "$run" parley-ws "$@"
  case_run "$label" "$run" socketio "$@"
}

started=$SECONDS
for run in $(seq 1 "$runs"); do
  if [ "$quick" = 1 ]; then
    both hold-50 "$run" --scenario hold --conns 50 --settle-secs 0.5 --hold-secs 0.5
    both fanout-20 "$run" --scenario fanout --clients 20 --senders 4 --rate 100 --secs 1
    both sweep-20 "$run" --scenario sweep --clients 20 --senders 4 --secs 1 --sweep-start 1000 --sweep-factor 2 --sweep-steps 2
    both storm-50 "$run" --scenario storm --users 50 --deadline-secs 20
    case_run poll-fanout-50 "$run" parley-poll --scenario fanout --clients 50 --senders 2 --rate 20 --secs 1
    case_run poll-storm-50 "$run" parley-poll --scenario storm --users 50 --deadline-secs 20
  else
    both hold-19000 "$run" --scenario hold --conns 19000
    both fanout-100 "$run" --scenario fanout --clients 100 --senders 10 --rate 500 --secs 5
    both sweep-1000 "$run" --scenario sweep --clients 1000 --senders 10 --secs 2 --sweep-start 20000 --sweep-factor 1.6
    both storm-5000 "$run" --scenario storm --users 5000 --deadline-secs 40
    case_run poll-fanout-5000 "$run" parley-poll --scenario fanout --clients 5000 --senders 1 --rate 0.2 --secs 15
    case_run poll-storm-5000 "$run" parley-poll --scenario storm --users 5000 --deadline-secs 60
  fi
done

if [ -n "$out" ]; then cp "$results" "$out"; fi
echo
echo "parley-bench: $runs run(s) per case in $((SECONDS - started)) s; $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); raw results: $results"
echo
target/release/parley-bench summarize "$results"
