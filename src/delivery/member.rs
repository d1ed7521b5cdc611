//! What a member's connection hears from delivery, whatever its transport:
//! the narrow boundary between the hubs ([`crate::delivery::hub`]) and a
//! connection actor. Every connection handles [`Close`]. A WebSocket gets
//! the room's frames through its outbox and nothing else; a polling session,
//! which keeps frames until its client acknowledges them, gets them as
//! [`PollFeed`]. A transport sees nothing else of the room.

use actix::prelude::*;
use bytestring::ByteString;

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseKind {
    /// The server is stopping (WebSocket 1001).
    GoingAway,
    /// The same user resumed on another connection (WebSocket 4001).
    Replaced,
    /// A polling session was not polled within its grace period (4002).
    Expired,
    /// The client left more unread than the backlog limit (4003).
    SlowReader,
    /// The client closed its session itself (1000).
    ClientLeft,
}

impl CloseKind {
    /// The WebSocket close code this end stands for (polling reports the
    /// same code in its final batch), and a short reason.
    pub(crate) fn code_and_reason(self) -> (u16, &'static str) {
        match self {
            CloseKind::GoingAway => (1001, "server is stopping"),
            CloseKind::Replaced => (4001, "resumed on another connection"),
            CloseKind::Expired => (4002, "session expired"),
            CloseKind::SlowReader => (4003, "too many frames left unread"),
            CloseKind::ClientLeft => (1000, "closed by the client"),
        }
    }
}

/// Close the connection, after what it was sent. For
/// [`CloseKind::SlowReader`] the member's backlog is already marked
/// dropped and nothing more is queued for it.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Close(pub(crate) CloseKind);

/// What a polling session is handed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) enum PollFeed {
    /// A frame of the room, its bytes already reserved in the session's
    /// backlog, with the seq of the log entry it comes from, by which
    /// polling sessions number frames alike on every instance.
    Frame(ByteString, u64),
    /// The session's own reply to its client (an error), not reserved: the
    /// session adds it to its backlog itself.
    Reply(ByteString),
    /// The frames that follow are what the client has missed after this
    /// log seq: the session drops what it queued and takes them instead.
    Restart(u64),
}
