//! Parley's WebSocket protocol (docs/PROTOCOL.md): JSON text frames on
//! `/ws`; `join` is answered by `welcome` (with the room's `count`),
//! `say` by a `message` to the whole room, sender included. Control
//! frames (the server's pings) are answered by tungstenite as it reads.

use std::io;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::ws::{self, Ws};
use super::Env;
use crate::event::{number_after, Event, Marker};

/// A connected, not yet joined, client.
pub struct Conn {
    ws: Ws,
}

/// The receiving half.
pub struct Rx {
    stream: SplitStream<Ws>,
}

/// The sending half.
pub struct Tx {
    sink: SplitSink<Ws, Message>,
}

/// Connects client `index` to `/ws`.
pub async fn open(env: &Env, index: usize) -> io::Result<Conn> {
    Ok(Conn {
        ws: ws::connect(env, index, "/ws").await?,
    })
}

impl Conn {
    /// Sends `join`.
    pub async fn login(mut self, nick: &str, room: &str) -> io::Result<(Rx, Tx)> {
        // Minor 2: the roster in pages, as a current client reads it.
        let join = serde_json::json!({"type": "join", "nick": nick, "room": room, "minor": 2});
        self.ws
            .send(Message::text(join.to_string()))
            .await
            .map_err(io::Error::other)?;
        let (sink, stream) = self.ws.split();
        Ok((Rx { stream }, Tx { sink }))
    }
}

impl Rx {
    /// See [`super::Rx::recv`].
    pub async fn recv(&mut self, out: &mut Vec<Event>) -> io::Result<()> {
        let mut closed = false;
        let open = ws::recv_batch(&mut self.stream, |message| match message {
            Message::Text(text) => out.push(event(text.as_str())),
            Message::Close(_) => closed = true,
            _ => {}
        })
        .await;
        if closed || !matches!(open, Ok(true)) {
            out.push(Event::Closed);
            return Err(open.err().unwrap_or_else(ws::closed));
        }
        Ok(())
    }
}

impl Tx {
    /// Sends `say`.
    pub async fn say(&mut self, text: &str) -> io::Result<()> {
        let say = serde_json::json!({"type": "say", "text": text});
        self.sink
            .send(Message::text(say.to_string()))
            .await
            .map_err(io::Error::other)
    }
}

/// Reads one server frame. Every frame starts with its `type` member.
pub fn event(frame: &str) -> Event {
    let kind = frame
        .strip_prefix(r#"{"type":""#)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default();
    let count = || number_after(frame, r#""count":"#).unwrap_or(0);
    match kind {
        "message" => Event::Message(Marker::find(frame)),
        "welcome" => Event::Welcome { count: count() },
        "joined" => Event::Joined { count: count() },
        "left" => Event::Left { count: count() },
        "presence" => Event::Presence { count: count() },
        "error" => Event::Refused,
        _ => Event::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_events() {
        assert_eq!(
            event(r#"{"type":"joined","nick":"u1","count":3}"#),
            Event::Joined { count: 3 }
        );
        assert_eq!(
            event(r#"{"type":"welcome","v":1,"roster":[],"count":2,"history":[]}"#),
            Event::Welcome { count: 2 }
        );
        assert_eq!(
            event(r#"{"type":"message","id":1,"nick":"u1","text":"hi"}"#),
            Event::Message(None)
        );
        assert_eq!(event(r#"{"type":"pong"}"#), Event::Other);
        assert_eq!(
            event(r#"{"type":"error","code":"rate_limited","retry_ms":100}"#),
            Event::Refused
        );
    }
}
