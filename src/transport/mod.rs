//! The two transports, thin and alike: each turns its wire into protocol
//! frames for the ChatRoom ([`crate::room_server`]) and joins the hub of
//! its thread ([`crate::delivery`]) to be handed the room's frames. [`ws`]
//! is one actor per WebSocket; [`poll`] is HTTP long-polling, one actor per
//! session. Neither holds chat state, and neither imports the other.

pub(crate) mod poll;
pub(crate) mod ws;
