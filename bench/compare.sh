#!/usr/bin/env bash
# Benchmarks Parley side by side with a Socket.IO 4.8 chat server
# (bench/peers/socketio-chat.js): builds both, then for every scenario and
# every repeat starts each server fresh, pinned to one core, drives it from
# parley-bench pinned to another, and prints the table of medians and
# Parley/Socket.IO ratios (docs/BENCHMARKS.md holds the latest one).
# The cluster-* cases run each server as two instances sharing a fresh
# redis-server (Parley with --redis-url, Socket.IO with its Redis adapter),
# all three pinned to the servers' core; the clients alternate between the
# instances and every sender is on the first, so each message reaches half
# the receivers through Redis. Without redis-server they are skipped.
# The cluster-delay-* cases put bench's delaying TCP proxy (parley-bench
# delay-proxy) between the instances and Redis: 1 ms more per round trip.
# The cluster3-delay-* cases run the same scenarios against a fresh Redis
# Cluster of three masters instead (bench/redis-cluster.sh: Parley with
# --redis-cluster, Socket.IO with node-redis's cluster client), each node
# behind a proxy of its own and announcing the proxy's port, so that every
# client connection to the cluster is 1 ms longer a round trip; the nodes
# share the servers' core. Without redis-cli they are skipped. They run
# every repeat, like the cluster-delay cases: about 1 minute a repeat.
# The *-store cases run Parley alone on the embedded store with --fsync
# always (a fresh data directory each run), beside the memory-only cases
# of the same name without the suffix. The rooms-* cases spread the
# clients over many rooms (client i in room i mod rooms), one sender in
# each, and sweep the offered load as sweep-* does.
#
#   bench/compare.sh            full run (3 repeats of the cases issue 16's
#                               targets rest on; the others once), under
#                               15 minutes from a fresh clone on 2 cores
#   bench/compare.sh --quick    a few seconds per scenario, small N, one
#                               repeat: checks the harness end to end (CI)
#   options: --runs N  --out FILE (keep the raw result lines)
#            --only REGEX (run only the cases whose label matches)
#            --debug (the unoptimised build that the tests already made:
#            with --quick, CI checks the harness without a release build;
#            its figures mean nothing)
#
# Needs: cargo, node 20 and npm (npm ci runs when node_modules is missing),
# taskset (util-linux), and redis-server for the cluster cases, with
# redis-cli for the cluster3 ones (Debian's packages; scripts/test installs
# them). Nothing is written inside the repository except target/ and
# bench/peers/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
runs=3
profile=release
out=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; runs=1 ;;
    --runs) runs="$2"; shift ;;
    --out) out="$2"; shift ;;
    --only) only="$2"; shift ;;
    --debug) profile=debug ;;
    *) echo "usage: bench/compare.sh [--quick] [--runs N] [--out FILE] [--only REGEX] [--debug]" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "compare: $*" >&2; }

for tool in cargo node npm; do
  command -v "$tool" >/dev/null || { say "$tool is required"; exit 1; }
done
# Each client is a file: stay under the machine's hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

say "building ($profile)"
if [ "$profile" = release ]; then build=(--release); else build=(); fi
# The peer's packages download while the servers compile.
npm_pid=""
if [ ! -d bench/peers/node_modules/socket.io ] ||
  [ ! -d bench/peers/node_modules/@socket.io/redis-adapter ]; then
  say "installing the Socket.IO peer (npm ci)"
  (cd bench/peers && npm ci --no-audit --no-fund --loglevel=error >&2) &
  npm_pid=$!
fi
cargo build "${build[@]}" -q -p parley -p parley-bench
if [ -n "$npm_pid" ] && ! wait "$npm_pid"; then
  say "npm ci failed"; exit 1
fi
say "built in $SECONDS s"

# Server on core 0, generator on core 1 (when there are two cores).
server_pin=()
gen_pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_pin=(taskset -c 0)
  gen_pin=(taskset -c 1)
else
  say "fewer than 2 cores or no taskset: server and generator share the CPU"
fi

redis_bin=""
for candidate in "$(command -v redis-server || true)" /usr/sbin/redis-server; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then redis_bin="$candidate"; break; fi
done
if [ -z "$redis_bin" ]; then
  say "redis-server not found: skipping the cluster-* cases (apt-get install redis-server, or run scripts/test once)"
fi
redis_cli=""
for candidate in "$(command -v redis-cli || true)" /usr/bin/redis-cli; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then redis_cli="$candidate"; break; fi
done
if [ -n "$redis_bin" ] && [ -z "$redis_cli" ]; then
  say "redis-cli not found: skipping the cluster3-* cases (Redis Cluster; apt-get install redis-tools)"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/parley-bench.XXXXXX")"
results="$work/results.txt"
: > "$results"
# The running case's servers (one, or a cluster's two instances), their
# URLs, and the cluster's redis-server(s) and delaying proxies (pids,
# space-separated: one of each, or three with a Redis Cluster).
pids=()
urls=()
redis_pid=""
proxy_pid=""
cleanup() {
  for pid in "${pids[@]}" $redis_pid $proxy_pid; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

. bench/ports.sh
. bench/redis-cluster.sh
# Every client comes from a few loopback addresses and the load is far above
# what one person sends: the per-user, per-address and per-room rate limits
# and the per-address connection caps are lifted, as Socket.IO has none.
PARLEY_FLAGS=(--bind 127.0.0.1 --rate-burst 1000000 --rate-per-sec 1000000
  --address-rate-burst 1000000 --address-rate-per-sec 1000000
  --room-rate-burst 1000000 --room-rate-per-sec 1000000
  --max-websockets-per-ip 1000000 --connect-burst 1000000 --connect-per-sec 1000000
  --max-sessions-per-ip 100000 --max-poll-sessions 100000
  --max-websockets 100000 --max-http-connections 100000 --max-queued-bytes 4294967296
  --max-room-members 100000 --history-on-join 0)

wait_port() { # port name log
  wait_listening "$1" || { say "$2 did not start:"; cat "$3" >&2; exit 1; }
}

start_server() { # target [redis-url]: one server, or one instance of a cluster
  local redis="${2:-}" log="$work/server-${#pids[@]}.log"
  next_port
  case "$1" in
    socketio) "${server_pin[@]}" node bench/peers/socketio-chat.js "$port" 127.0.0.1 \
      ${redis:+"$redis"} ${redis_cluster:+cluster} >"$log" 2>&1 & ;;
    *) RUST_LOG=warn "${server_pin[@]}" target/$profile/parley --port "$port" "${PARLEY_FLAGS[@]}" \
      ${redis:+--redis-url "$redis"} ${redis_cluster:+--redis-cluster} "${store_flags[@]}" >"$log" 2>&1 & ;;
  esac
  pids+=($!)
  urls+=("http://127.0.0.1:$port")
  wait_port "$port" "the $1 server" "$log"
}

start_cluster() { # target [round-trip-ms]: a fresh redis-server, then two instances using it
  if [ -n "$redis_cluster" ]; then
    # A fresh three-master Redis Cluster instead, each node behind its
    # own delaying proxy (bench/redis-cluster.sh); the instances are given
    # the proxies' addresses.
    start_redis_cluster "$2"
    local url
    url="redis://${cluster_nodes//,/,redis://}"
    start_server "$1" "$url"
    start_server "$1" "$url"
    return
  fi
  rm -rf "$work/redis" && mkdir "$work/redis"
  next_port
  local redis_port=$port
  "${server_pin[@]}" "$redis_bin" --port "$redis_port" --bind 127.0.0.1 --save "" \
    --appendonly no --dir "$work/redis" >"$work/redis.log" 2>&1 &
  redis_pid=$!
  wait_port "$redis_port" redis-server "$work/redis.log"
  if [ -n "${2:-}" ]; then
    # The instances reach Redis through the delaying proxy, as across a
    # network: every round trip to Redis takes $2 ms more. The proxy sits
    # on the generator's core, so its threads do not take the servers'.
    next_port
    "${gen_pin[@]}" target/$profile/parley-bench delay-proxy --listen "127.0.0.1:$port" \
      --to "127.0.0.1:$redis_port" --round-trip-ms "$2" >"$work/proxy.log" 2>&1 &
    proxy_pid=$!
    wait_port "$port" delay-proxy "$work/proxy.log"
    redis_port=$port
  fi
  start_server "$1" "redis://127.0.0.1:$redis_port/0"
  start_server "$1" "redis://127.0.0.1:$redis_port/0"
}

stop_servers() {
  # The instances first, so that none of them sees Redis go.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for pid in $proxy_pid $redis_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
  urls=()
  redis_pid=""
  proxy_pid=""
  # A moment for the closed connections' last packets before the next
  # server.
  sleep 0.3
}

run_case() { # instances label run target scenario-args...
  local instances="$1" label="$2" run="$3" target="$4"
  shift 4
  if [ -n "$only" ] && ! [[ "$label" =~ $only ]]; then return 0; fi
  case_started=$SECONDS
  if [ "$instances" = 1 ]; then
    start_server "$target"
  else
    [ -n "$redis_bin" ] || return 0
    if [ -n "$redis_cluster" ] && [ -z "$redis_cli" ]; then return 0; fi
    start_cluster "$target" "$delay"
  fi
  say "$label run $run: $target"
  local where=()
  for url in "${urls[@]}"; do where+=(--url "$url"); done
  # A cluster's pids are numbered 1 and 2 (the instances) and 3 (Redis),
  # or 3 to 5 (a Redis Cluster's nodes).
  for pid in "${pids[@]}" $redis_pid; do where+=(--server-pid "$pid"); done
  if ! "${gen_pin[@]}" target/$profile/parley-bench --target "$target" "${where[@]}" \
    --label "$label" --run "$run" "$@" >>"$results" 2>"$work/gen.log"; then
    say "$label run $run against $target failed:"; tail -20 "$work/gen.log" >&2
    stop_servers
    exit 1
  fi
  grep '^sweep step' "$work/gen.log" >&2 || true
  stop_servers
  say "$label run $run: $target took $((SECONDS - case_started)) s"
}

case_run() { # label run target scenario-args...   (one server)
  run_case 1 "$@"
}

cluster_run() { # label run target scenario-args...   (two instances, one Redis)
  run_case 2 "$@"
}

both() { # label run scenario-args...
  local label="$1" run="$2"
  shift 2
  case_run "$label" "$run" parley-ws "$@"
  case_run "$label" "$run" socketio "$@"
}

# Memory only, except in the embedded store's cases: Parley alone, on a
# fresh data directory, every commit fsynced.
store_flags=(--data-dir none)
store_run() { # label run scenario-args...
  local label="$1" run="$2"
  shift 2
  store_flags=(--data-dir "$work/store-$label-$run" --fsync always)
  case_run "$label" "$run" parley-ws "$@"
  store_flags=(--data-dir none)
  rm -rf "$work/store-$label-$run"
}

cluster_both() { # label run scenario-args...
  local label="$1" run="$2"
  shift 2
  cluster_run "$label" "$run" parley-ws "$@"
  cluster_run "$label" "$run" socketio "$@"
}

# Round trip added between the instances and Redis (ms), for the
# cluster-delay-* cases; empty: none.
delay=""
delay_both() { # label run scenario-args...   (cluster_both, Redis 1 ms away)
  delay=1
  cluster_both "$@"
  delay=""
}

# Set: the cluster cases use a three-master Redis Cluster, not one Redis.
redis_cluster=""
cluster3_delay_both() { # label run scenario-args...   (delay_both, on a Redis Cluster)
  redis_cluster=1
  delay_both "$@"
  redis_cluster=""
}

started=$SECONDS
for run in $(seq 1 "$runs"); do
  if [ "$quick" = 1 ]; then
    both hold-50 "$run" --scenario hold --conns 50 --settle-secs 0.5 --hold-secs 0.5
    both fanout-20 "$run" --scenario fanout --clients 20 --senders 4 --rate 100 --secs 1
    both sweep-20 "$run" --scenario sweep --clients 20 --senders 4 --secs 1 --sweep-start 1000 --sweep-factor 2 --sweep-steps 2
    store_run fanout-20-store "$run" --scenario fanout --clients 20 --senders 4 --rate 100 --secs 1
    store_run sweep-20-store "$run" --scenario sweep --clients 20 --senders 4 --secs 1 --sweep-start 1000 --sweep-factor 2 --sweep-steps 2
    both storm-50 "$run" --scenario storm --users 50 --deadline-secs 20
    case_run poll-fanout-50 "$run" parley-poll --scenario fanout --clients 50 --senders 2 --rate 20 --secs 1
    case_run poll-storm-50 "$run" parley-poll --scenario storm --users 50 --deadline-secs 20
    cluster_both cluster-fanout-20 "$run" --scenario fanout --clients 20 --senders 4 --rate 100 --secs 1
    cluster_run cluster-storm-50 "$run" parley-ws --scenario storm --users 50 --deadline-secs 20
    case_run hold-200-login "$run" parley-ws --scenario hold --conns 200 --room-size 200 --settle-secs 0.5 --hold-secs 0.5
    both rooms-10 "$run" --scenario sweep --clients 40 --rooms 10 --senders 10 --secs 1 --sweep-start 1000 --sweep-factor 2 --sweep-steps 2
    delay_both cluster-delay-sweep-20 "$run" --scenario sweep --clients 20 --senders 4 --secs 1 --sweep-start 1000 --sweep-factor 2 --sweep-steps 2
    cluster3_delay_both cluster3-delay-sweep-20 "$run" --scenario sweep --clients 20 --senders 4 --secs 1 --sweep-start 1000 --sweep-factor 2 --sweep-steps 2
  else
    # The cases issue 16's targets are measured on, every run.
    case_run hold-19000 "$run" parley-ws --scenario hold --conns 19000 --hold-secs 1
    # Logins into one big room (Parley only: Socket.IO's chat tells every
    # member of every login, 180 million messages here).
    case_run hold-19000-login "$run" parley-ws --scenario hold --conns 19000 --room-size 19000 --hold-secs 1
    both fanout-100 "$run" --scenario fanout --clients 100 --senders 10 --rate 500 --secs 3
    both sweep-1000 "$run" --scenario sweep --clients 1000 --senders 10 --secs 1 --sweep-start 32000 --sweep-factor 1.6
    # Many busy rooms: 500 rooms of 10, one sender in each.
    both rooms-500 "$run" --scenario sweep --clients 5000 --rooms 500 --senders 500 --secs 1 --sweep-start 20000 --sweep-factor 1.6
    both fanout-1000 "$run" --scenario fanout --clients 1000 --senders 10 --rate 50 --secs 3
    # Redis 1 ms away (a round trip through bench's delaying proxy):
    # sustained messages/s into one room of 100, and over 100 rooms of 10.
    delay_both cluster-delay-sweep-100 "$run" --scenario sweep --clients 100 --senders 10 --secs 1 --sweep-start 40000 --sweep-factor 2
    delay_both cluster-delay-rooms-100 "$run" --scenario sweep --clients 1000 --rooms 100 --senders 100 --secs 1 --sweep-start 5000 --sweep-factor 2
    # Once each, to keep the whole under 15 minutes from a fresh clone:
    # Socket.IO's memory per connection (the same within 1 % in every run
    # so far), the store's cases (compared with the memory cases of the
    # same run, not with a peer), the storms (Socket.IO's never finishes
    # within its deadline), the long-polling case, the scale-out cases
    # without delay and the logins into a room of 2,000; their earlier
    # figures in BENCHMARKS.md are medians of 3. With --only they repeat
    # like the others, for medians of those chosen.
    if [ "$run" = 1 ] || [ -n "$only" ]; then
      case_run hold-19000 "$run" socketio --scenario hold --conns 19000 --hold-secs 1
      store_run fanout-100-store "$run" --scenario fanout --clients 100 --senders 10 --rate 500 --secs 3
      store_run sweep-1000-store "$run" --scenario sweep --clients 1000 --senders 10 --secs 1 --sweep-start 32000 --sweep-factor 1.6
      case_run storm-5000 "$run" parley-ws --scenario storm --users 5000 --deadline-secs 40
      case_run storm-5000 "$run" socketio --scenario storm --users 5000 --deadline-secs 5
      case_run poll-fanout-5000 "$run" parley-poll --scenario fanout --clients 5000 --senders 1 --rate 0.3 --secs 7
      cluster_both cluster-fanout-100 "$run" --scenario fanout --clients 100 --senders 10 --rate 500 --secs 3
      cluster_both cluster-fanout-1000 "$run" --scenario fanout --clients 1000 --senders 10 --rate 50 --secs 3
      # The same logins into one of 2,000, for the bytes per login at
      # another size.
      case_run hold-2000-login "$run" parley-ws --scenario hold --conns 2000 --room-size 2000 --hold-secs 1
      case_run poll-storm-5000 "$run" parley-poll --scenario storm --users 5000 --deadline-secs 60
      cluster_run cluster-storm-5000 "$run" parley-ws --scenario storm --users 5000 --deadline-secs 40
      # The two Redis 1 ms away cases against a Redis Cluster of three
      # masters, each node 1 ms away (about a minute a run: for medians,
      # --runs 3 --only cluster3).
      cluster3_delay_both cluster3-delay-sweep-100 "$run" --scenario sweep --clients 100 --senders 10 --secs 1 --sweep-start 20000 --sweep-factor 2
      cluster3_delay_both cluster3-delay-rooms-100 "$run" --scenario sweep --clients 1000 --rooms 100 --senders 100 --secs 1 --sweep-start 5000 --sweep-factor 2
      # The same logins with Redis 1 ms away: each join is four or five
      # round trips, run by the instances' deciders eight at a time.
      delay=1
      cluster_run cluster-delay-storm-2000 "$run" parley-ws --scenario storm --users 2000 --deadline-secs 40
      delay=""
    fi
  fi
done

if [ -n "$out" ]; then cp "$results" "$out"; fi
echo
echo "parley-bench: $runs run(s) per case in $((SECONDS - started)) s; $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); raw results: $results"
echo
target/$profile/parley-bench summarize "$results"
