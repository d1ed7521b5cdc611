//! The narrow boundary between the ChatRoom actor and a connection actor of
//! any transport: the room hands each member encoded frames and, rarely, an
//! order to close. A transport sees nothing else of the room.

use actix::prelude::*;
use bytestring::ByteString;

/// Why the room asks a connection to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// The server is stopping (WebSocket 1001).
    GoingAway,
    /// The same user resumed on another connection (WebSocket 4001).
    Replaced,
    /// A polling session was not polled within its grace period (4002).
    Expired,
    /// The client left more unread than the outbox limit (4003).
    SlowReader,
    /// The client closed its session itself (1000).
    ClientLeft,
}

impl CloseKind {
    /// The WebSocket close code this end stands for (polling reports the
    /// same code in its final batch), and a short reason.
    pub fn code_and_reason(self) -> (u16, &'static str) {
        match self {
            CloseKind::GoingAway => (1001, "server is stopping"),
            CloseKind::Replaced => (4001, "resumed on another connection"),
            CloseKind::Expired => (4002, "session expired"),
            CloseKind::SlowReader => (4003, "too many frames left unread"),
            CloseKind::ClientLeft => (1000, "closed by the client"),
        }
    }
}

/// What the room sends a member.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum ToMember {
    /// One frame, encoded once and shared by every recipient, with the seq
    /// of the log entry it comes from (0 for a frame of this connection
    /// alone), by which polling sessions number frames alike on every
    /// instance.
    Frame(ByteString, u64),
    /// Close the connection.
    Close(CloseKind),
    /// The frames that follow are what the client has missed after this
    /// log seq: a polling session drops what it queued and takes them
    /// instead. WebSocket connections never get it.
    Restart(u64),
}
