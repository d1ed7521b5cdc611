//! The room server: the ChatRoom actors, one per room shard, each the
//! owner of its shard's rooms (a thin shell around
//! [`crate::core::chat_core::ChatCore`] that stamps the clock and carries
//! out the core's effects); how rooms and connections are placed on the
//! shards ([`placement`]) and the transports' handle on them ([`shards`]); the backplane they share ([`shared_backplane`]);
//! and each shard's table of connections by the hub that reaches each ([`connections`]). It depends
//! on the core and on delivery; it knows no transport, and nothing below it
//! (core, delivery) imports it: hubs reach it through recipients.

pub(crate) mod chat_room;
pub(crate) mod connections;
pub(crate) mod placement;
pub(crate) mod shards;
pub(crate) mod shared_backplane;
