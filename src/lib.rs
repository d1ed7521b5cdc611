//! Parley: a real-time chat server on actix-web, one protocol over two
//! transports (WebSocket and HTTP long-polling).
//!
//! The layout follows a frame from the socket inwards and back out; each
//! folder is a layer, and imports point only down this list:
//!
//! - `main.rs` wires: command, configuration, logging, run. `cli.rs` reads
//!   the command line: serve, or `parley config TARGET`, `parley export`
//!   or `parley import` with the same flags. `deploy/` writes those configurations (one file per target:
//!   nginx, Apache, IIS, systemd) from the server's own settings.
//!   `server.rs` binds, mounts the routes and owns the one shutdown path;
//!   `config.rs` is the whole configuration.
//! - `transport/` is thin. `transport/ws/`: the route and one actor per
//!   WebSocket (`session.rs`), a heartbeat per thread (`heartbeat.rs`), the
//!   upgraded connection outside actix-http's dispatcher (`upgrade.rs`) and
//!   its raw socket (`socket.rs`). `transport/poll/`: the HTTP endpoints
//!   (`routes.rs`), one actor per session (`session.rs`), the bounded token
//!   map (`registry.rs`) and CORS for listed origins (`cors.rs`).
//! - `http/` is the rest of the HTTP edge: the state every handler shares
//!   (`state.rs`), origin check, client address and its subnet key, the
//!   per-client connection limits (`client_gate.rs`), the JSON error shape,
//!   the page and its assets, health and metrics.
//! - `room_server/` is the ChatRoom actor, one per room shard, owner of
//!   its shard's rooms and the connections in them (`chat_room.rs`), its
//!   table of connections by hub, the shards' placement of rooms and
//!   connections (`placement.rs`, `shards.rs`) and the backplane they share
//!   (`shared_backplane.rs`).
//! - `delivery/` owns "frames for member M reach M's client", for both
//!   transports: a hub per worker thread, one byte bound per member
//!   (`backlog.rs`), a WebSocket's encoded outbox and its write coalescing.
//! - `core/` is pure (no actix, no tokio, no I/O): the room core
//!   (`chat_core.rs`), a room's mirror and history, presence batching, the
//!   backplane contract with its in-memory implementation, the parsing
//!   rules, ids and limits, client keys and the rate buckets kept per
//!   client (`bucket_map.rs`).
//! - `backplane/` holds the backplanes that do I/O and the choice: the
//!   embedded store (`store.rs`, a redb file under `--data-dir`, the single
//!   instance's default) and Redis (`redis.rs`); `contract.rs` is the test
//!   script all backplanes must agree on; `transfer.rs` is `parley export`
//!   and `parley import`.
//! - `doctor.rs` is `parley doctor URL`: the connection check from the
//!   command line, a client of the deployed server, beside it rather than
//!   in it.
//! - `protocol.rs` holds the wire frames both transports speak;
//!   `metrics.rs` the Prometheus metrics. Both are leaves.
//! - `fuzzing/` is outside the server: the entry points of the fuzz
//!   targets in `fuzz/` (one per parser of network input, with the
//!   invariants they check), hidden from the documentation.
//!
//! The library exposes what the binary, the tests and the benchmark need:
//! [`Command`], [`Config`], [`Server`] with its [`Stopper`], [`Limits`],
//! and [`export`] and [`import`] for the binary's subcommands.

mod backplane;
mod cli;
mod config;
mod core;
mod delivery;
mod deploy;
pub mod doctor;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod metrics;
mod protocol;
mod room_server;
mod server;
mod transport;

pub use crate::backplane::transfer::{export, import};
pub use crate::cli::Command;
pub use crate::config::Config;
pub use crate::core::limits::Limits;
pub use crate::metrics::{set_heap_probe, HeapStats};
pub use crate::server::{Server, Stopper};

/// The room shard (of `shards`) that owns the room named `room`, `None`
/// for a name that is not a valid room name: what `--room-shards` places
/// by, exposed so tests can pick rooms on different shards.
#[doc(hidden)]
pub fn room_shard(room: &str, shards: usize) -> Option<usize> {
    let room = crate::core::rules::room_name::RoomName::parse(room).ok()?;
    Some(crate::room_server::placement::shard_of(&room, shards))
}
