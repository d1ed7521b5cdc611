//! A WebSocket client that writes frames by hand, for attacks a proper
//! client library will not make: a header declaring more than it sends,
//! payloads streamed after the header, pings with no reading, a receive
//! buffer of a few KiB. It connects from a chosen 127.0.0.x so each
//! attacker is an address of its own, and reads the server's frames only
//! when asked to.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::inbox::{within, PATIENCE};

/// A raw WebSocket after the opening handshake.
pub struct Raw {
    /// The socket, for writing (and reading) directly.
    pub socket: TcpStream,
    buf: Vec<u8>,
}

/// A TCP connection to `port` from `from`, with a receive buffer of
/// `recv_buffer` bytes when given.
pub async fn tcp(port: u16, from: Ipv4Addr, recv_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind the source address");
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("tcp connects")
}

/// A masked frame with this first byte (FIN and opcode) and payload; the
/// length field says `declared`, which may be more than the payload.
pub fn frame(first: u8, payload: &[u8], declared: u64) -> Vec<u8> {
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
    frame
}

impl Raw {
    /// Connects from `from` and upgrades at `/ws`.
    pub async fn connect(port: u16, from: Ipv4Addr, recv_buffer: Option<u32>) -> Raw {
        let socket = tcp(port, from, recv_buffer).await;
        let mut raw = Raw {
            socket,
            buf: Vec::new(),
        };
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        raw.socket
            .write_all(request.as_bytes())
            .await
            .expect("handshake sent");
        within(PATIENCE, "the upgrade", async {
            loop {
                if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw.buf[..end]).into_owned();
                    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                    raw.buf.drain(..end + 4);
                    return;
                }
                assert!(raw.fill().await > 0, "closed during the handshake");
            }
        })
        .await;
        raw
    }

    /// Reads what is there (waiting for something); 0 at the end of the
    /// stream or on a reset.
    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 8192];
        let n = self.socket.read(&mut chunk).await.unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Sends a frame (see [`frame`]).
    pub async fn send(&mut self, first: u8, payload: &[u8], declared: u64) {
        self.socket
            .write_all(&frame(first, payload, declared))
            .await
            .expect("frame sent");
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.send(0x81, text.as_bytes(), text.len() as u64).await;
    }

    /// The whole frames received so far: (opcode, payload).
    fn frames(&mut self) -> Vec<(u8, Vec<u8>)> {
        take_frames(&mut self.buf)
    }

    /// Reads until the server's close frame and returns its code, or
    /// `None` if the connection ended without one. Text frames before it
    /// go to `texts`.
    pub async fn close_code(&mut self, texts: &mut Vec<String>) -> Option<u16> {
        within(PATIENCE, "the server's close", async {
            loop {
                for (opcode, payload) in self.frames() {
                    match opcode {
                        8 => return Some(u16::from_be_bytes([payload[0], payload[1]])),
                        1 => texts.push(String::from_utf8_lossy(&payload).into_owned()),
                        _ => {}
                    }
                }
                if self.fill().await == 0 {
                    return None;
                }
            }
        })
        .await
    }

    /// Reads and discards until the server ends the connection (the end
    /// of the stream or a reset).
    pub async fn until_cut(&mut self) {
        within(PATIENCE, "the server cutting the connection", async {
            while self.fill().await > 0 {
                self.buf.clear();
            }
        })
        .await;
    }

    /// Streams zeros (up to `max` bytes) while reading for the server's
    /// close frame: the close code, or `None` if the connection ended
    /// without one, and how many zeros were sent when it came.
    pub async fn close_code_while_sending(&mut self, max: u64) -> (Option<u16>, u64) {
        let Raw { socket, buf } = self;
        let (mut reader, mut writer) = socket.split();
        let done = AtomicBool::new(false);
        let sent = AtomicU64::new(0);
        let writing = async {
            let zeros = vec![0u8; 64 * 1024];
            while !done.load(Ordering::Relaxed) && sent.load(Ordering::Relaxed) < max {
                if writer.write_all(&zeros).await.is_err() {
                    return;
                }
                sent.fetch_add(zeros.len() as u64, Ordering::Relaxed);
            }
        };
        let reading = async {
            let mut chunk = [0u8; 8192];
            let code = loop {
                if let Some(code) = take_frames(buf)
                    .into_iter()
                    .find_map(|(opcode, p)| (opcode == 8).then(|| u16::from_be_bytes([p[0], p[1]])))
                {
                    break Some(code);
                }
                match reader.read(&mut chunk).await {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let at = sent.load(Ordering::Relaxed);
            done.store(true, Ordering::Relaxed);
            (code, at)
        };
        // The writer stops at the close, at `max`, or when the server's end
        // refuses more (it closes TCP after its close frame).
        let (outcome, ()) = within(PATIENCE, "the server's close while sending", async {
            tokio::join!(reading, writing)
        })
        .await;
        outcome
    }
}

/// Takes the whole frames at the front of `buf`: (opcode, payload).
fn take_frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while buf.len() >= 2 {
        let (start, len) = match buf[1] & 0x7f {
            126 if buf.len() >= 4 => (4, usize::from(u16::from_be_bytes([buf[2], buf[3]]))),
            127 if buf.len() >= 10 => (
                10,
                // unwrap: eight bytes, checked just above.
                u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
            ),
            126 | 127 => break,
            n => (2, usize::from(n)),
        };
        if buf.len() < start + len {
            break;
        }
        frames.push((buf[0] & 0x0f, buf[start..start + len].to_vec()));
        buf.drain(..start + len);
    }
    frames
}
