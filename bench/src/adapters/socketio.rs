//! Socket.IO 4 over Engine.IO 4's websocket transport, as the chat peer
//! speaks it: the server opens with `0{...}`, the client connects to the
//! main namespace with `40` and gets `40{...}`; events are
//! `42["name",data]`; the server pings with `2` and must get `3` back
//! within its ping timeout, so the receiving half shares the sink.

use std::io;
use std::sync::Arc;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use super::ws::{self, Ws};
use super::Env;
use crate::event::{number_after, Event, Marker};

type Sink = Arc<Mutex<SplitSink<Ws, Message>>>;

/// A client connected to the main namespace, not yet logged in.
pub struct Conn {
    ws: Ws,
}

/// The receiving half; answers pings.
pub struct Rx {
    stream: SplitStream<Ws>,
    sink: Sink,
    pongs: usize,
}

/// The sending half.
pub struct Tx {
    sink: Sink,
}

/// Connects client `index`, with the peer's optional `room` parameter.
pub async fn open(env: &Env, index: usize, room: &str) -> io::Result<Conn> {
    let mut path = String::from("/socket.io/?EIO=4&transport=websocket");
    if !room.is_empty() {
        path.push_str("&room=");
        path.push_str(room);
    }
    let mut ws = ws::connect(env, index, &path).await?;
    expect(&mut ws, "0").await?;
    ws.send(Message::text("40"))
        .await
        .map_err(io::Error::other)?;
    expect(&mut ws, "40").await?;
    Ok(Conn { ws })
}

/// Reads until a text message starting with `prefix` (answering pings).
async fn expect(ws: &mut Ws, prefix: &str) -> io::Result<()> {
    while let Some(message) = ws.next().await {
        if let Message::Text(text) = message.map_err(io::Error::other)? {
            if text.as_str() == "2" {
                ws.send(Message::text("3"))
                    .await
                    .map_err(io::Error::other)?;
            } else if text.as_str().starts_with(prefix) {
                return Ok(());
            }
        }
    }
    Err(ws::closed())
}

impl Conn {
    /// Emits `add user`.
    pub async fn login(mut self, nick: &str) -> io::Result<(Rx, Tx)> {
        let frame = format!(r#"42["add user",{}]"#, serde_json::Value::from(nick));
        self.ws
            .send(Message::text(frame))
            .await
            .map_err(io::Error::other)?;
        let (sink, stream) = self.ws.split();
        let sink = Arc::new(Mutex::new(sink));
        Ok((
            Rx {
                stream,
                sink: sink.clone(),
                pongs: 0,
            },
            Tx { sink },
        ))
    }
}

impl Rx {
    /// See [`super::Rx::recv`].
    pub async fn recv(&mut self, out: &mut Vec<Event>) -> io::Result<()> {
        let mut closed = false;
        let pongs = &mut self.pongs;
        let open = ws::recv_batch(&mut self.stream, |message| match message {
            Message::Text(text) => match text.as_str() {
                "2" => *pongs += 1,
                t if t.starts_with("41") => closed = true,
                t => out.push(event(t)),
            },
            Message::Close(_) => closed = true,
            _ => {}
        })
        .await;
        if closed || !matches!(open, Ok(true)) {
            out.push(Event::Closed);
            return Err(open.err().unwrap_or_else(ws::closed));
        }
        while self.pongs > 0 {
            self.pongs -= 1;
            self.sink
                .lock()
                .await
                .send(Message::text("3"))
                .await
                .map_err(io::Error::other)?;
        }
        Ok(())
    }
}

impl Tx {
    /// Emits `new message`.
    pub async fn say(&mut self, text: &str) -> io::Result<()> {
        let frame = format!(r#"42["new message",{}]"#, serde_json::Value::from(text));
        self.sink
            .lock()
            .await
            .send(Message::text(frame))
            .await
            .map_err(io::Error::other)
    }
}

/// Reads one Engine.IO packet from the server.
pub fn event(packet: &str) -> Event {
    let Some(rest) = packet.strip_prefix(r#"42[""#) else {
        return Event::Other;
    };
    let name = rest.split('"').next().unwrap_or_default();
    let count = || number_after(packet, r#""numUsers":"#).unwrap_or(0);
    match name {
        "new message" => Event::Message(Marker::find(packet)),
        "login" => Event::Welcome { count: count() },
        "user joined" => Event::Joined { count: count() },
        "user left" => Event::Left { count: count() },
        _ => Event::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_become_events() {
        assert_eq!(
            event(r#"42["login",{"numUsers":4}]"#),
            Event::Welcome { count: 4 }
        );
        assert_eq!(
            event(r#"42["user joined",{"username":"u2","numUsers":5}]"#),
            Event::Joined { count: 5 }
        );
        assert_eq!(event("40{\"sid\":\"x\"}"), Event::Other);
    }
}
