"""The server's queued-bytes bound, measured: two rooms are filled with
history (the longest messages, until each room keeps its 256 KiB), then
HOGS WebSockets (4 KiB receive buffers, spread over 127.0.0.2-11) each ask
for JOINS replays (12 by default: join h1, h2, h1, ..., each with since: 0:
about 256 KiB of welcome each, a copy of their own, enough to fill the
kernel's socket buffers and leave just under 1 MiB waiting in the server)
and never read, while a sender posts
into h1 for SECONDS and a bystander there reads everything. Prints the
server's RSS before, at peak and after, what /metrics says, and whether
the bystander heard every message the sender had acknowledged. Run the
server with the rate limits and the connection-attempt budget lifted
(--rate-burst, --rate-per-sec, --address-rate-burst,
--address-rate-per-sec, --room-rate-burst, --room-rate-per-sec,
--connect-burst, --connect-per-sec) so that the setup is quick.

    python3 bench/hardening/hogs.py PORT SERVER_PID [HOGS] [SECONDS] [JOINS]
"""
import json, os, socket, struct, sys, time

port, pid = int(sys.argv[1]), int(sys.argv[2])
hogs = int(sys.argv[3]) if len(sys.argv) > 3 else 300
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 20
joins = int(sys.argv[5]) if len(sys.argv) > 5 else 12


def rss(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) // 1024


def connect(source, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    return s


def send_text(s, text):
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    if n < 126:
        head = bytes([0x81, 0x80 | n])
    elif n < 65536:
        head = bytes([0x81, 0x80 | 126]) + struct.pack(">H", n)
    else:
        head = bytes([0x81, 0x80 | 127]) + struct.pack(">Q", n)
    s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


class Reader:
    """Reads server frames (unmasked, unfragmented) from a blocking socket."""

    def __init__(self, s):
        self.s, self.buf = s, b""

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def frame(self):
        self._need(2)
        op, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
        at = 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(at + n)
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return op, payload

    def json(self):
        while True:
            op, payload = self.frame()
            if op == 0x9:  # ping: answer it so the heartbeat keeps us
                pong = bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload
                self.s.sendall(pong)
            elif op == 0x1:
                return json.loads(payload)


def join(s, nick, room="h1", since=None):
    frame = {"type": "join", "nick": nick, "room": room}
    if since is not None:
        frame["since"] = since
    send_text(s, json.dumps(frame))


def until(reader, kind):
    while True:
        frame = reader.json()
        if frame["type"] == kind:
            return frame


text = "\u00e9" * 2000  # 2 bytes each: 4 KB of text per message
print("RSS before:", rss("VmRSS:"), "MiB")
sender, bystander = connect("127.0.0.20"), connect("127.0.0.21")
sender_r, bystander_r = Reader(sender), Reader(bystander)
for room in ("h2", "h1"):
    join(sender, "sender", room)
    until(sender_r, "welcome")
    for i in range(80):
        send_text(sender, json.dumps({"type": "say", "text": text, "ref": f"{room}{i}"}))
        until(sender_r, "ack")
join(bystander, "bystander", "h1")
until(bystander_r, "welcome")
print("RSS with history:", rss("VmRSS:"), "MiB")
socks = []
for i in range(hogs):
    s = connect(f"127.0.0.{2 + i % 10}", rcvbuf=4096)
    for j in range(joins):
        room = ("h1", "h2")[j % 2]
        join(s, f"hog{i}", room, since=0)
    socks.append(s)
# The sender and the bystander read on threads of their own.
import threading

acked, heard = [], []


def read_sender():
    try:
        while True:
            frame = sender_r.json()
            if frame["type"] == "ack":
                acked.append(frame["id"])
    except (EOFError, OSError):
        pass


def read_bystander():
    try:
        while True:
            frame = bystander_r.json()
            if frame["type"] == "message":
                heard.append(frame["id"])
    except (EOFError, OSError):
        pass


threading.Thread(target=read_sender, daemon=True).start()
threading.Thread(target=read_bystander, daemon=True).start()
start, peak, sent = time.time(), 0, 0
while time.time() - start < seconds:
    send_text(sender, json.dumps({"type": "say", "text": "still chatting", "ref": str(sent)}))
    sent += 1
    peak = max(peak, rss("VmRSS:"))
    time.sleep(0.05)
peak = max(peak, rss("VmRSS:"))
time.sleep(1)
missing = sorted(set(acked) - set(heard))
import urllib.request
metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
for line in metrics.splitlines():
    if line.startswith(("parley_users", "parley_queued_bytes", "parley_queue_evictions", "parley_slow_clients", "parley_connections")):
        print("  ", line)
print(f"{hogs} hogs; {sent} messages sent, {len(acked)} acknowledged in {seconds:.0f} s")
print(f"RSS peak {peak} MiB (VmHWM {rss('VmHWM:')} MiB); after {rss('VmRSS:')} MiB")
print(f"acknowledged messages the bystander missed: {len(missing)}")
