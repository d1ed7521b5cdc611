//! The JSON of the Redis backplane, as Rust sees it: the entries the
//! scripts return and publish, the parts of an event that Rust serialises
//! for a script to splice in, and the members and messages the scripts
//! keep in room keys; and [`unreadable`], how stored JSON that does not
//! parse is answered. The layout of keys and the JSON the scripts write are
//! `redis/scripts.rs`'s (and `redis/lua/`), and these shapes must follow it.
//!
//! It must not touch a connection: it only turns text into values and back.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::core::backplane::{Entry, Event, Origin, Refusal};
use crate::core::rules::room_name::RoomName;
use crate::protocol::ChatMessage;

/// One entry as the scripts return and publish it.
#[derive(Deserialize)]
struct Wire {
    room: String,
    seq: u64,
    prev: u64,
    ev: Event,
}

/// The entries of a script's answer or of a published message.
pub(super) fn decode_batch(json: &str) -> Result<Vec<Entry>, String> {
    let wires: Vec<Wire> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    wires
        .into_iter()
        .map(|w| {
            Ok(Entry {
                seq: w.seq,
                prev: w.prev,
                room: RoomName::parse(&w.room).map_err(|invalid| invalid.message)?,
                event: w.ev,
            })
        })
        .collect()
}

/// Compact JSON of a value made of strings and numbers.
pub(super) fn json<T: Serialize>(value: &T) -> String {
    // unwrap: structs of strings, numbers and options always serialise.
    serde_json::to_string(value).unwrap()
}

/// The Joined event without what the script decides (`count`, `resumed`).
#[derive(Serialize)]
pub(super) struct JoinedHead<'a> {
    pub(super) e: &'static str,
    pub(super) token: &'a str,
    pub(super) nick: &'a str,
    pub(super) origin: &'a Origin,
    pub(super) since: Option<u64>,
}

/// The Message event without its `message`.
#[derive(Serialize)]
pub(super) struct MessageHead<'a> {
    pub(super) e: &'static str,
    pub(super) token: &'a str,
    #[serde(rename = "ref")]
    pub(super) reference: Option<&'a str>,
}

/// The message without what the script decides (`id`, `nick`).
#[derive(Serialize)]
pub(super) struct MessageBody<'a> {
    pub(super) ts: u64,
    pub(super) text: &'a str,
}

/// A member as `:members` holds it.
#[derive(Deserialize)]
pub(super) struct Held {
    pub(super) nick: String,
    pub(super) order: u64,
}

/// A history entry as `:msgs` holds it.
#[derive(Deserialize)]
struct Kept {
    m: Arc<ChatMessage>,
}

/// The messages of `:msgs` entries, in the order given.
pub(super) fn decode_kept(kept: &[String]) -> Result<Vec<Arc<ChatMessage>>, Refusal> {
    kept.iter()
        .map(|kept| {
            serde_json::from_str::<Kept>(kept)
                .map(|k| k.m)
                .map_err(|e| unreadable("message", e))
        })
        .collect()
}

/// The refusal for stored data this code cannot read: a bug or a foreign
/// writer under our prefix, logged, and answered as an outage.
pub(super) fn unreadable(what: &str, error: impl std::fmt::Display) -> Refusal {
    log::error!("redis backplane: unreadable {what}: {error}");
    Refusal::degraded()
}
