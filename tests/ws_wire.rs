//! The WebSocket path at the level of bytes, with a raw TCP client that
//! writes frames by hand: an oversized frame is refused from its header
//! (1009 with not one byte of payload sent), text that is not UTF-8 closes
//! with 1007 (whole, and fragmented as soon as a fragment is invalid),
//! reserved bits with 1002, and after the closing handshake the server
//! closes TCP first. A ping flood gets a bounded number of pongs; a client
//! that stops reading while under its backlog bound is cut by the
//! write-stall timeout. Meanwhile two users chat in the same room and lose
//! nothing. Every wait is for the server's own bytes or events; the
//! timeout only turns a hang into a failure.

mod common;

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use common::inbox::Inbox;
use common::ws::Client;

const PATIENCE: Duration = Duration::from_secs(10);

/// A raw client after the opening handshake.
struct Raw {
    socket: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    async fn connect(port: u16) -> Raw {
        let socket = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connects");
        Raw::handshake(socket, port).await
    }

    /// Connects with a 4 KiB receive buffer, so that not reading backs up
    /// into the server at once.
    async fn connect_tiny(port: u16) -> Raw {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let socket = socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("connects");
        Raw::handshake(socket, port).await
    }

    async fn handshake(mut socket: TcpStream, port: u16) -> Raw {
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        socket
            .write_all(request.as_bytes())
            .await
            .expect("handshake sent");
        let mut raw = Raw {
            socket,
            buf: Vec::new(),
        };
        loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw.buf[..end]).into_owned();
                assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                raw.buf.drain(..end + 4);
                return raw;
            }
            assert!(raw.fill().await > 0, "closed during the handshake");
        }
    }

    /// Reads more; answers how many bytes came (0 at the end).
    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(PATIENCE, self.socket.read(&mut chunk));
        let n = read.await.expect("the server answers in time").unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Sends a masked frame with this first byte and payload; the length
    /// may be declared larger than the payload sent.
    async fn send(&mut self, first: u8, payload: &[u8], declared: u64) {
        let mut frame = vec![first];
        if declared < 126 {
            frame.push(0x80 | declared as u8);
        } else if declared < 65536 {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(declared as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&declared.to_be_bytes());
        }
        // A zero mask leaves the payload as it is.
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(payload);
        self.socket.write_all(&frame).await.expect("frame sent");
    }

    /// Every whole frame received so far: (opcode, payload).
    fn frames(&mut self) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while self.buf.len() >= 2 {
            let len = usize::from(self.buf[1] & 0x7f);
            let (start, len) = match len {
                126 if self.buf.len() >= 4 => (
                    4,
                    usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                ),
                126 | 127 => break,
                n => (2, n),
            };
            if self.buf.len() < start + len {
                break;
            }
            frames.push((self.buf[0] & 0x0f, self.buf[start..start + len].to_vec()));
            self.buf.drain(..start + len);
        }
        frames
    }

    /// Frames from the server until a close: its code, and the frames
    /// before it.
    async fn until_close(&mut self) -> (u16, Vec<(u8, Vec<u8>)>) {
        let mut before = Vec::new();
        loop {
            for (opcode, payload) in self.frames() {
                if opcode == 8 {
                    return (u16::from_be_bytes([payload[0], payload[1]]), before);
                }
                before.push((opcode, payload));
            }
            assert!(self.fill().await > 0, "ended without a close frame");
        }
    }

    /// The code of the server's close frame.
    async fn close_code(&mut self) -> u16 {
        self.until_close().await.0
    }

    /// Whether the server has ended its side: reading gives the end of the
    /// stream while this client has not closed its own.
    async fn server_closed(&mut self) -> bool {
        loop {
            if self.fill().await == 0 {
                return true;
            }
        }
    }
}

/// Two users chatting in `lobby`, who must see each other's messages
/// whatever the raw client does.
async fn bystanders(url: &str) -> (Client, Client) {
    let (ann, _) = Client::join(url, "Ann", "lobby").await;
    let (bob, _) = Client::join(url, "Bob", "lobby").await;
    (ann, bob)
}

async fn still_chatting(ann: &mut Client, bob: &mut Client, text: &str) {
    ann.send(json!({"type": "say", "text": text})).await;
    // Bob may still have older messages to read first.
    let heard = bob
        .until_matches(|frame| frame["type"] == "message" && frame["text"] == text)
        .await;
    assert_eq!(heard["nick"], "Ann");
}

#[tokio::test]
async fn an_oversized_frame_is_refused_from_its_header_alone() {
    let server = common::start(&[]);
    let (mut ann, mut bob) = bystanders(&server.ws_url()).await;
    let mut raw = Raw::connect(server.port).await;
    // A header declaring 2^62 bytes, and not one byte of payload.
    raw.send(0x82, &[], 1 << 62).await;
    assert_eq!(raw.close_code().await, 1009);
    assert!(raw.server_closed().await);
    // Just over the limit, text this time.
    let mut raw = Raw::connect(server.port).await;
    raw.send(0x81, &[], 64 * 1024 + 1).await;
    assert_eq!(raw.close_code().await, 1009);
    still_chatting(&mut ann, &mut bob, "still here").await;
    server.stop().await;
}

#[tokio::test]
async fn text_that_is_not_utf8_closes_with_1007() {
    let server = common::start(&[]);
    let (mut ann, mut bob) = bystanders(&server.ws_url()).await;
    let mut raw = Raw::connect(server.port).await;
    raw.send(0x81, b"\xff\xfe", 2).await;
    assert_eq!(raw.close_code().await, 1007);
    // Fragmented: the first fragment is already invalid, and the server
    // does not wait for the last.
    let mut raw = Raw::connect(server.port).await;
    raw.send(0x01, b"ok \xc0\xaf", 5).await;
    assert_eq!(raw.close_code().await, 1007);
    // A character cut between two fragments is fine.
    let mut raw = Raw::connect(server.port).await;
    let ping = [br#"{"type":"ping","t":""#.as_slice(), &[0xc3]].concat();
    raw.send(0x01, &ping, ping.len() as u64).await;
    raw.send(0x80, b"\xa9\"}", 3).await;
    raw.send(0x88, &1000u16.to_be_bytes(), 2).await;
    assert_eq!(
        raw.close_code().await,
        1000,
        "the message was taken, then the close"
    );
    still_chatting(&mut ann, &mut bob, "after the bad bytes").await;
    server.stop().await;
}

#[tokio::test]
async fn reserved_bits_close_with_1002() {
    let server = common::start(&[]);
    let mut raw = Raw::connect(server.port).await;
    raw.send(0xc1, b"{}", 2).await;
    assert_eq!(raw.close_code().await, 1002);
    server.stop().await;
}

#[tokio::test]
async fn after_the_closing_handshake_the_server_closes_tcp_first() {
    let server = common::start(&[]);
    let mut raw = Raw::connect(server.port).await;
    raw.send(0x88, &1000u16.to_be_bytes(), 2).await;
    assert_eq!(raw.close_code().await, 1000);
    // This client keeps its side open: the end of the stream is the
    // server's doing.
    assert!(raw.server_closed().await);
    server.stop().await;
}

#[tokio::test]
async fn a_ping_flood_gets_a_bounded_number_of_answers() {
    let server = common::start(&[]);
    let (mut ann, mut bob) = bystanders(&server.ws_url()).await;
    let mut raw = Raw::connect(server.port).await;
    let started = std::time::Instant::now();
    for _ in 0..2000 {
        raw.send(0x89, &[b'p'; 125], 125).await;
    }
    raw.send(0x88, &1000u16.to_be_bytes(), 2).await;
    let (code, before) = raw.until_close().await;
    assert_eq!(code, 1000);
    let elapsed = started.elapsed().as_secs_f64();
    let pongs = before.iter().filter(|(opcode, _)| *opcode == 10).count();
    let notices: Vec<String> = before
        .iter()
        .filter(|(opcode, _)| *opcode == 1)
        .map(|(_, text)| String::from_utf8_lossy(text).into_owned())
        .collect();
    // A burst of 20, then 10 a second (src/transport/ws/session.rs).
    let allowed = 20 + (10.0 * elapsed).ceil() as usize;
    assert!(
        pongs <= allowed,
        "{pongs} pongs in {elapsed:.2} s; allowed {allowed}"
    );
    assert!(pongs >= 20, "the burst is answered: {pongs}");
    assert!(
        notices.iter().any(|n| n.contains("rate_limited")),
        "told once: {notices:?}"
    );
    still_chatting(&mut ann, &mut bob, "after the pings").await;
    server.stop().await;
}

#[tokio::test]
async fn a_reader_that_stops_under_its_bound_is_cut_by_the_write_stall() {
    let server = common::start(&[
        "--write-stall-secs",
        "1",
        "--max-outbox-bytes",
        "16777216",
        "--rate-burst",
        "100000",
        "--rate-per-sec",
        "100000",
    ]);
    let (mut ann, mut bob) = bystanders(&server.ws_url()).await;
    let mut raw = Raw::connect_tiny(server.port).await;
    let join = br#"{"type":"join","nick":"Stuck","room":"lobby"}"#;
    raw.send(0x81, join, join.len() as u64).await;
    bob.until("joined").await;
    // From here on Stuck reads nothing. Ann's messages fill its socket's
    // buffers and then wait in its writer, always under the 16 MiB backlog
    // bound set for this test.
    let text = "x".repeat(1900);
    let mut sent = 0;
    loop {
        for _ in 0..20 {
            ann.send(json!({"type": "say", "text": text})).await;
            sent += 1;
        }
        assert!(sent < 6000, "never cut after {sent} messages");
        // Bob hears Stuck leave once the writer has cut it.
        let mut left = false;
        for _ in 0..20 {
            let frame = bob.next().await;
            if frame["type"] == "left" && frame["nick"] == "Stuck" {
                left = true;
                break;
            }
        }
        if left {
            break;
        }
    }
    assert_eq!(
        server.metric("parley_slow_clients_dropped_total").await,
        0.0,
        "cut by the stall timeout, not by the backlog bound"
    );
    still_chatting(&mut ann, &mut bob, "after the stall").await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_far_past_the_rate_limit_is_closed_before_the_room_hears_it() {
    let server = common::start(&[]);
    let (mut ann, mut bob) = bystanders(&server.ws_url()).await;
    let mut raw = Raw::connect(server.port).await;
    // Five times the per-user burst (20) is let through, each answered by
    // the room; the 101st message in a burst closes the connection.
    let ping = br#"{"type":"ping"}"#;
    for _ in 0..150 {
        raw.send(0x81, ping, ping.len() as u64).await;
    }
    assert_eq!(raw.close_code().await, 1008);
    still_chatting(&mut ann, &mut bob, "after the flood").await;
    server.stop().await;
}

#[tokio::test]
async fn at_the_servers_queued_bound_the_reader_with_most_waiting_is_dropped() {
    // Each reader may hold 16 MiB, the server 256 KiB in all, and nobody is
    // cut for stalling: only the pool's bound can end Stuck.
    let server = common::start(&[
        "--max-queued-bytes",
        "262144",
        "--max-outbox-bytes",
        "16777216",
        "--write-stall-secs",
        "600",
        "--rate-burst",
        "100000",
        "--rate-per-sec",
        "100000",
        "--room-rate-burst",
        "100000",
        "--room-rate-per-sec",
        "100000",
    ]);
    let (mut ann, mut bob) = bystanders(&server.ws_url()).await;
    let mut raw = Raw::connect_tiny(server.port).await;
    let join = br#"{"type":"join","nick":"Stuck","room":"lobby"}"#;
    raw.send(0x81, join, join.len() as u64).await;
    bob.until("joined").await;
    ann.until("joined").await;
    // Stuck reads nothing from here on; Ann and Bob read everything.
    let text = "x".repeat(1900);
    let (mut sent, mut heard, mut acked) = (0u64, 0u64, 0u64);
    let mut stuck_left = false;
    while !stuck_left {
        assert!(sent < 2000, "Stuck never dropped after {sent} messages");
        for _ in 0..10 {
            ann.send(json!({"type": "say", "text": text, "ref": sent.to_string()}))
                .await;
            sent += 1;
        }
        while acked < sent {
            if ann.next().await["type"] == "ack" {
                acked += 1;
            }
        }
        while heard < sent {
            let frame = bob.next().await;
            match frame["type"].as_str() {
                Some("message") => {
                    assert_eq!(frame["text"], text.as_str());
                    heard += 1;
                }
                Some("left") => {
                    assert_eq!(frame["nick"], "Stuck");
                    stuck_left = true;
                }
                _ => {}
            }
        }
    }
    assert!(server.metric("parley_queue_evictions_total").await >= 1.0);
    assert!(raw.server_closed().await, "Stuck's connection was ended");
    // Every message was acknowledged and heard, and the two readers were
    // never cut.
    still_chatting(&mut ann, &mut bob, "after the eviction").await;
    server.stop().await;
}
