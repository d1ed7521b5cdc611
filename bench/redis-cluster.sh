# bench/redis-cluster.sh: sourced by compare.sh after ports.sh. Starts a
# fresh Redis Cluster of three masters (no replicas) on loopback with each
# node behind a delaying proxy of its own (parley-bench delay-proxy), so that
# every round trip a client makes to any node is longer by the given time.
#
# A cluster client learns the nodes' addresses from the nodes themselves
# (CLUSTER SLOTS, CLUSTER NODES, MOVED), not from the addresses it was given,
# so each node announces its proxy's port (--cluster-announce-port) and the
# clients, Parley's and Socket.IO's alike, never reach a node directly. The
# nodes' own cluster bus (gossip, and the PUBLISH that a cluster passes to
# every node) is not delayed: its port is announced as it is.
#
# Uses from the caller: redis_bin and redis_cli (the programs), profile,
# work (a scratch directory), server_pin and gen_pin (taskset prefixes),
# next_port and wait_port. Appends the nodes' pids to redis_pid and the
# proxies' to proxy_pid (space-separated), and sets cluster_nodes to the
# proxies' host:port, comma-separated.

cluster_nodes=""

start_redis_cluster() { # round-trip-ms
  local delay="$1" node bus proxy i addresses=() proxies=() nodes=()
  rm -rf "$work/redis" && mkdir "$work/redis"
  for i in 0 1 2; do
    next_port; node=$port
    next_port; bus=$port
    next_port; proxy=$port
    # The proxies sit on the generator's core, as the one-Redis delay
    # cases' proxy does; the nodes on the servers' core, as its Redis.
    "${gen_pin[@]}" target/$profile/parley-bench delay-proxy --listen "127.0.0.1:$proxy" \
      --to "127.0.0.1:$node" --round-trip-ms "$delay" >"$work/proxy-$i.log" 2>&1 &
    proxy_pid="${proxy_pid:+$proxy_pid }$!"
    "${server_pin[@]}" "$redis_bin" --port "$node" --bind 127.0.0.1 --save "" \
      --appendonly no --dir "$work/redis" --cluster-enabled yes \
      --cluster-config-file "nodes-$node.conf" --cluster-port "$bus" \
      --cluster-announce-ip 127.0.0.1 --cluster-announce-port "$proxy" \
      --cluster-announce-bus-port "$bus" >"$work/redis-$i.log" 2>&1 &
    redis_pid="${redis_pid:+$redis_pid }$!"
    nodes+=("$node")
    proxies+=("$proxy")
    addresses+=("127.0.0.1:$node")
  done
  for i in 0 1 2; do
    wait_port "${nodes[$i]}" "redis-server (cluster node $i)" "$work/redis-$i.log"
    wait_port "${proxies[$i]}" "delay-proxy (cluster node $i)" "$work/proxy-$i.log"
  done
  # Created from the nodes' own ports: setting the cluster up is not
  # measured, and needs no delay.
  if ! "$redis_cli" --cluster create "${addresses[@]}" --cluster-replicas 0 --cluster-yes \
    >"$work/cluster-create.log" 2>&1; then
    say "redis-cli --cluster create failed:"; cat "$work/cluster-create.log" >&2
    exit 1
  fi
  for i in 0 1 2; do
    local ok=""
    for _ in $(seq 1 300); do
      if "$redis_cli" -p "${nodes[$i]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; then
        ok=1; break
      fi
      sleep 0.1
    done
    [ -n "$ok" ] || { say "cluster node $i not ok after 30 s:"; cat "$work/redis-$i.log" >&2; exit 1; }
  done
  # Every address a client can be sent to must be a proxy's: ask through
  # the first proxy which ports the masters announce (the nodes met at
  # their own ports, and learn each other's announced ones by gossip).
  local announced expected
  expected="$(printf '%s\n' "${proxies[@]}" | sort -n | xargs)"
  for _ in $(seq 1 100); do
    announced="$("$redis_cli" -p "${proxies[0]}" cluster nodes | awk '{ split($2, a, "[:@]"); print a[2] }' | sort -n | xargs)"
    [ "$announced" = "$expected" ] && break
    sleep 0.1
  done
  if [ "$announced" != "$expected" ]; then
    say "the cluster announces ports $announced, not its proxies' $expected"
    exit 1
  fi
  cluster_nodes="$(printf '127.0.0.1:%s,' "${proxies[@]}")"
  cluster_nodes="${cluster_nodes%,}"
}
