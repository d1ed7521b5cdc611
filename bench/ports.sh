# bench/ports.sh: sourced by the bench scripts. Picks loopback ports for the
# servers they start, and waits for them to listen.
#
# The ports come from below the kernel's ephemeral range: the load clients
# open thousands of outgoing connections, each bound to an ephemeral port, so
# a port from that range that nobody listens on can still be taken, and a
# server started on it fails with EADDRINUSE (one CI run did). `ss` sees every
# socket bound to a port, listening, connected or closing.

ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
port_floor=10000
if [ "$ephemeral_low" -le $((port_floor + 1000)) ]; then port_floor=1024; fi
port=$((port_floor + RANDOM % (ephemeral_low - port_floor - 500)))

port_taken() { # port: whether any socket is bound to it
  [ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ] ||
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

next_port() { # moves $port on to one no socket holds
  port=$((port + 1))
  while port_taken "$port"; do port=$((port + 1)); done
}

wait_listening() { # port: returns 1 if nothing listens after 10 s
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}
