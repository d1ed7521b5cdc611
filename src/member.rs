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
}

/// What the room sends a member.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum ToMember {
    /// One frame, encoded once and shared by every recipient.
    Frame(ByteString),
    /// Close the connection.
    Close(CloseKind),
}
