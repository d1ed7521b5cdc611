//! The room server: the ChatRoom actor, which owns every room of this
//! instance (a thin shell around [`crate::core::chat_core::ChatCore`] that
//! stamps the clock and carries out the core's effects), and its table of
//! connections by the hub that reaches each ([`connections`]). It depends
//! on the core and on delivery; it knows no transport, and nothing below it
//! (core, delivery) imports it: hubs reach it through recipients.

pub(crate) mod chat_room;
pub(crate) mod connections;
pub(crate) mod shards;
pub(crate) mod shared_backplane;
