//! Parley: a real-time chat server on actix-web.
//!
//! Layout, from the wire inwards:
//! - `server.rs` binds, mounts routes and owns the one shutdown path;
//!   `config.rs` is the whole configuration; `ops.rs` serves `/healthz` and
//!   `/metrics` (`metrics.rs`); `page.rs` serves the askama page and assets.
//! - Transports are thin: `ws_session.rs` (one actor per WebSocket, with
//!   `outbox.rs` and `conn_socket.rs` bounding what a non-reader can cost,
//!   `ws_heartbeat.rs` pinging it, and `upgrade.rs` carrying it outside
//!   actix-http's HTTP/1 dispatcher and its per-connection buffers);
//!   long-polling in `poll_routes.rs` (HTTP endpoints), `poll_session.rs`
//!   (one actor per session, delivery by cursor) and `poll_registry.rs`
//!   (bounded token map); `origin.rs`, `cors.rs`, `client_addr.rs` and
//!   `http_error.rs` guard the HTTP edge.
//! - `protocol.rs` holds the wire frames both transports speak.
//! - `chat_room.rs` is the ChatRoom actor, a shell around `chat_core.rs`,
//!   the transport-agnostic core (with `chat_core/joining.rs`) over `room.rs`, `history.rs`,
//!   `nickname.rs`, `room_name.rs`, `message_text.rs`, `rate_limit.rs`,
//!   `token.rs` and `limits.rs`, all pure and unit-tested in place.
//!   `presence_batch.rs` coalesces joins and leaves so a storm is not N².
//! - `member.rs` is the only thing a transport knows of the room.

pub mod backplane;
pub mod chat_core;
pub mod chat_room;
pub mod client_addr;
pub mod coalesce;
pub mod config;
pub mod conn_socket;
pub mod cors;
pub mod history;
pub mod http_error;
pub mod hub;
pub mod limits;
pub mod member;
pub mod message_text;
pub mod metrics;
pub mod nickname;
pub mod ops;
pub mod origin;
pub mod outbox;
pub mod page;
pub mod poll_registry;
pub mod poll_routes;
pub mod poll_session;
pub mod presence_batch;
pub mod protocol;
pub mod rate_limit;
pub mod room;
pub mod room_name;
pub mod server;
pub mod shrink;
pub mod token;
pub mod upgrade;
pub mod ws_heartbeat;
pub mod ws_session;

pub use config::Config;
pub use server::{Server, Stopper};
