"""Finding 1 of the hardening issue, re-measured: a WebSocket frame header
declaring 2^62 bytes, then zeros for at most 5 s, against a running Parley;
prints how much the server took before closing, its close code and the
server's RSS before, after and at peak (from /proc).

    python3 bench/hardening/oversize.py PORT SERVER_PID
"""
import socket, struct, sys, time, os
port, pid = int(sys.argv[1]), int(sys.argv[2])
def rss(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field): return int(line.split()[1]) // 1024
s = socket.create_connection(("127.0.0.1", port))
s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
head = b""
while b"\r\n\r\n" not in head: head += s.recv(4096)
rest = head.split(b"\r\n\r\n", 1)[1]
print("RSS before:", rss("VmRSS:"), "MiB")
s.sendall(bytes([0x82, 0xff]) + struct.pack(">Q", 1 << 62) + b"\0\0\0\0")
s.setblocking(False)
zeros = b"\0" * 65536
sent, start, answer = 0, time.time(), rest
while time.time() - start < 5:
    try:
        sent += s.send(zeros)
    except BlockingIOError:
        time.sleep(0.001)
    except (BrokenPipeError, ConnectionResetError):
        break
    try:
        data = s.recv(4096)
        if data: answer += data
        elif data == b"": break
    except BlockingIOError:
        pass
s.settimeout(1)
try:
    while True:
        data = s.recv(4096)
        if not data: break
        answer += data
except OSError:
    pass
code = None
while len(answer) >= 2:
    n = answer[1] & 0x7f
    off = 2
    if n == 126: n, off = struct.unpack(">H", answer[2:4])[0], 4
    if answer[0] & 0x0f == 8:
        code = struct.unpack(">H", answer[off:off+2])[0]
        break
    answer = answer[off+n:]
print(f"sent {sent/1e6:.1f} MB in {time.time()-start:.2f} s; close code {code}; RSS after {rss('VmRSS:')} MiB, peak {rss('VmHWM:')} MiB")
