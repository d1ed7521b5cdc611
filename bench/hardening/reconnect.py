"""Finding 4 of the hardening issue, re-measured: one client that reconnects
in a loop for 10 s, each time joining the lobby as a new nickname and
sending 30 messages at once, counting those the server acknowledged (an `ack`)
and those refused (an `error` with our ref).

    python3 bench/hardening/reconnect.py PORT
"""
import json, socket, struct, sys, time
port = int(sys.argv[1])

def frame(text):
    data = text.encode()
    head = bytes([0x81])
    n = len(data)
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return head + b"\0\0\0\0" + data

def frames(sock, buf):
    while True:
        while len(buf) >= 2:
            n, off = buf[1] & 0x7f, 2
            if n == 126:
                if len(buf) < 4: break
                n, off = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10: break
                n, off = struct.unpack(">Q", buf[2:10])[0], 10
            if len(buf) < off + n: break
            op, payload = buf[0] & 0x0f, bytes(buf[off:off + n])
            del buf[:off + n]
            yield op, payload
        chunk = sock.recv(65536)
        if not chunk: return
        buf += chunk

acked = refused = rounds = 0
codes = {}
start = time.time()
while time.time() - start < 10:
    rounds += 1
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(2)
    s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk: break
            head += chunk
    except socket.timeout:
        s.close(); continue
    if not head.startswith(b"HTTP/1.1 101"):
        s.close(); time.sleep(0.05); continue
    buf = bytearray(head.split(b"\r\n\r\n", 1)[1])
    s.sendall(frame(json.dumps({"type": "join", "nick": f"loop{rounds}", "room": "lobby"})))
    s.sendall(b"".join(frame(json.dumps({"type": "say", "text": "spam", "ref": f"r{i}"})) for i in range(30)))
    answered = 0
    try:
        for op, payload in frames(s, buf):
            if op != 1: continue
            f = json.loads(payload)
            if f.get("type") == "ack": acked += 1; answered += 1
            elif f.get("type") == "error" and f.get("ref"):
                refused += 1; answered += 1; codes[f.get("code")] = codes.get(f.get("code"), 0) + 1
            if answered >= 30: break
    except (socket.timeout, ConnectionError):
        pass
    s.close()
elapsed = time.time() - start
print(f"{rounds} connections in {elapsed:.1f} s; {acked} messages acknowledged ({acked/elapsed:.0f}/s), {refused} refused {codes}")
