//! A test WebSocket client (tokio-tungstenite) that speaks Parley's JSON
//! frames. It receives by reading the socket, skipping the server's
//! heartbeat pings; `next`, `expect`, `until` and the hang guard come from
//! [`Inbox`]. It can also report how a connection ended.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::inbox::{within, Inbox, PATIENCE};

/// One connected client.
pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(u16),
    /// The TCP connection ended without a close frame.
    Dropped,
}

impl Client {
    /// Connects to `url`.
    pub async fn connect(url: &str) -> Client {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Client { socket }
    }

    /// Connects and joins `room` as `nick`; returns the client and its welcome.
    pub async fn join(url: &str, nick: &str, room: &str) -> (Client, Value) {
        let mut client = Client::connect(url).await;
        client
            .send(json!({"type": "join", "nick": nick, "room": room}))
            .await;
        let welcome = client.expect("welcome").await;
        (client, welcome)
    }

    /// Sends one JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_raw(Message::text(frame.to_string())).await;
    }

    /// Sends any WebSocket message.
    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.expect("send");
    }

    /// Says `text` with reference `reference` and returns (message, ack).
    pub async fn say(&mut self, text: &str, reference: &str) -> (Value, Value) {
        self.send(json!({"type": "say", "text": text, "ref": reference}))
            .await;
        let message = self.until("message").await;
        let ack = self.expect("ack").await;
        (message, ack)
    }

    /// The next JSON frame, or how the connection ended instead.
    pub async fn next_or_end(&mut self) -> Result<Value, Ended> {
        // One guard for the whole wait, as in `next`.
        within(PATIENCE, "a frame or the end", async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return Ok(serde_json::from_str(&text).expect("server sends JSON"))
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Err(Ended::Closed(frame.map_or(1005, |f| u16::from(f.code))));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Err(Ended::Dropped),
                }
            }
        })
        .await
    }

    /// Reads until the connection ends; reports how.
    pub async fn ended(&mut self) -> Ended {
        loop {
            if let Err(ended) = self.next_or_end().await {
                return ended;
            }
        }
    }

    /// Closes politely.
    pub async fn close(mut self) {
        let _ = self
            .socket
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
    }
}

/// Helpers added for the bad-input, lifecycle and resume tests.
impl Client {
    /// Wraps a socket the test connected itself (custom TCP options or
    /// handshake headers).
    pub fn from_socket(socket: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client { socket }
    }

    /// Connects and sends `frame` (a `join` of the test's choosing); returns
    /// the client and the welcome.
    pub async fn join_with(url: &str, frame: Value) -> (Client, Value) {
        let mut client = Client::connect(url).await;
        client.send(frame).await;
        let welcome = client.expect("welcome").await;
        (client, welcome)
    }

    /// Sends a raw text frame, which need not be valid JSON.
    pub async fn send_text(&mut self, text: &str) {
        self.send_raw(Message::text(text)).await;
    }

    /// Pings and asserts the pong is the very next frame: nothing else was
    /// queued for this client before the server handled the ping.
    pub async fn expect_nothing_pending(&mut self) {
        self.send(json!({"type": "ping"})).await;
        let frame = self.next().await;
        assert_eq!(
            frame["type"], "pong",
            "expected nothing before pong, got {frame}"
        );
    }
}

impl Inbox for Client {
    /// Reads the socket until a text frame. Heartbeat pings and pongs are
    /// skipped, but they do not restart the guard around this wait, so a
    /// frame that never comes fails the test instead of hanging it.
    async fn arrival(&mut self) -> Value {
        loop {
            let message = self
                .socket
                .next()
                .await
                .expect("connection still open")
                .expect("valid websocket message");
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(&text).expect("server sends JSON")
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected message {other:?}"),
            }
        }
    }
}
