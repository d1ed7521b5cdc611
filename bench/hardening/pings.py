"""Finding 2 of the hardening issue, re-measured: 50 WebSockets (4 KiB
receive buffers, spread over 127.0.0.2-6) that send 125-byte pings as fast
as they can for 10 s and never read; prints the server's RSS before, at
peak and after, and how many pings were sent.

    python3 bench/hardening/pings.py PORT SERVER_PID
"""
import socket, struct, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
def rss(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field): return int(line.split()[1]) // 1024
print("RSS before:", rss("VmRSS:"), "MiB")
socks = []
for i in range(50):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((f"127.0.0.{2 + i % 5}", 0))
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head: head += s.recv(1)
    s.setblocking(False)
    socks.append(s)
ping = bytes([0x89, 0x80 | 125, 0, 0, 0, 0]) + b"p" * 125
burst = ping * 64
sent, start, peak = 0, time.time(), 0
while time.time() - start < 10:
    for s in socks:
        try:
            sent += s.send(burst) // len(ping)
        except (BlockingIOError, BrokenPipeError, ConnectionResetError, OSError):
            pass
    peak = max(peak, rss("VmRSS:"))
print(f"sent {sent} pings in 10 s; RSS peak {peak} MiB (VmHWM {rss('VmHWM:')} MiB); after {rss('VmRSS:')} MiB")
