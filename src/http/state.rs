//! What every request handler shares: [`AppState`], built once by
//! `server.rs` and handed to the routes as `web::Data`. It names the room
//! server, the delivery settings and the HTTP edge's policies; it imports no
//! transport, so every transport and handler can import it without a cycle
//! (it lives in `http/` because the origin policy does: a file at the top
//! importing `http/` that `http/` imports back would be a cycle of folders).
//! The long-polling transport keeps its session registry in app data of its
//! own (`transport/poll/registry.rs`).

use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::Transports;
use crate::core::limits::Limits;
use crate::delivery::backlog::QueuePool;
use crate::delivery::hub::HubSettings;
use crate::http::client_gate::ClientGate;
use crate::http::origin::OriginPolicy;
use crate::metrics::Metrics;
use crate::room_server::shards::RoomShards;

/// What every request handler shares.
pub(crate) struct AppState {
    /// The room shards (ChatRoom actors), reached through the handle that
    /// sends each connection's messages to the shard serving it.
    pub(crate) rooms: RoomShards,
    /// What a thread's hub is started with.
    pub(crate) delivery: HubSettings,
    /// The server's metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Limits in force.
    pub(crate) limits: Limits,
    /// Which origins may connect.
    pub(crate) origins: OriginPolicy,
    /// The rendered chat page.
    pub(crate) page: String,
    /// The rendered transport check page.
    pub(crate) check_page: String,
    /// The base path ("" at the root).
    pub(crate) base_path: String,
    /// `--public-url`, as given.
    pub(crate) public_url: Option<String>,
    /// Which transports are on.
    pub(crate) transports: Transports,
    /// Reverse proxies whose forwarding headers are believed.
    pub(crate) trusted_proxies: Vec<IpAddr>,
    /// Per-client connection limits.
    pub(crate) gate: Arc<ClientGate>,
    /// Set while the backplane is unreachable.
    pub(crate) degraded: Arc<AtomicBool>,
    /// The bound on bytes queued to all connections together.
    pub(crate) queued: Arc<QueuePool>,
}
