//! Protocol adapters: one file per protocol, all offering the same three
//! steps so the scenarios never know which server they drive. [`open`]
//! makes the transport connection (not yet logged in), [`Conn::login`]
//! sends the login and splits the client into a receiving half ([`Rx`],
//! which also answers the server's keep-alives) and a sending half ([`Tx`]).

pub mod parley_poll;
pub mod parley_ws;
pub mod socketio;
pub(crate) mod ws;

use std::io;
use std::time::Duration;

use clap::ValueEnum;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::event::Event;
use crate::net::{ServerUrl, SourceAddrs};

/// Which server and transport a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Parley over WebSocket (`/ws`).
    ParleyWs,
    /// Parley over HTTP long-polling (`/poll`).
    ParleyPoll,
    /// Socket.IO 4 (Engine.IO 4 over its websocket transport).
    Socketio,
}

impl Target {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::ParleyWs => "parley-ws",
            Target::ParleyPoll => "parley-poll",
            Target::Socketio => "socketio",
        }
    }

    /// Whether a sender receives its own message (Parley sends a message
    /// to the whole room; the Socket.IO chat broadcasts to everyone else).
    pub fn echoes_to_sender(self) -> bool {
        self != Target::Socketio
    }
}

/// What every client of a run shares.
pub struct Env {
    /// The protocol.
    pub target: Target,
    /// The server, or a cluster's instances (see [`Env::url`]).
    pub urls: Vec<ServerUrl>,
    /// Local addresses to connect from.
    pub sources: SourceAddrs,
    /// Buffer sizes for WebSocket clients.
    pub ws_config: WebSocketConfig,
    /// One HTTP client (connection pool) per source address, for polling.
    pub http: Vec<reqwest::Client>,
}

impl Env {
    /// Builds the shared state; `read_buffer` is each WebSocket's read
    /// buffer, which is also the most one read syscall can take. `urls`
    /// must not be empty.
    pub fn new(
        target: Target,
        urls: Vec<ServerUrl>,
        sources: SourceAddrs,
        read_buffer: usize,
    ) -> io::Result<Env> {
        if urls.is_empty() {
            return Err(io::Error::other("no server URL"));
        }
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(read_buffer)
            .write_buffer_size(0);
        let mut locals: Vec<Option<std::net::IpAddr>> =
            sources.all().iter().map(|&a| Some(a.into())).collect();
        if locals.is_empty() {
            locals.push(None);
        }
        let http = locals
            .into_iter()
            .map(|local| {
                reqwest::Client::builder()
                    .no_proxy()
                    .http1_only()
                    // Well below the server's keep-alive (actix's 5 s, kept
                    // on a coarse clock), so that a request never goes out on
                    // a connection the server is closing for idleness (soaks
                    // saw a /poll/send fail so, still at 4 s).
                    .pool_idle_timeout(Duration::from_secs(2))
                    .tcp_nodelay(true)
                    .local_address(local)
                    .build()
                    .map_err(io::Error::other)
            })
            .collect::<io::Result<_>>()?;
        Ok(Env {
            target,
            urls,
            sources,
            ws_config,
            http,
        })
    }

    /// Where client `index` connects: the URLs in turn.
    pub fn url(&self, index: usize) -> &ServerUrl {
        &self.urls[index % self.urls.len()]
    }

    /// Which of the URLs client `index` connects to (0: the first).
    pub fn url_index(&self, index: usize) -> usize {
        index % self.urls.len()
    }
}

/// A connected client, not yet logged in.
pub enum Conn {
    /// Parley WebSocket.
    ParleyWs(parley_ws::Conn),
    /// Parley long-polling.
    ParleyPoll(parley_poll::Conn),
    /// Socket.IO.
    Socketio(socketio::Conn),
}

/// The receiving half of a logged-in client.
pub enum Rx {
    /// Parley WebSocket.
    ParleyWs(parley_ws::Rx),
    /// Parley long-polling.
    ParleyPoll(parley_poll::Rx),
    /// Socket.IO.
    Socketio(socketio::Rx),
}

/// The sending half of a logged-in client.
pub enum Tx {
    /// Parley WebSocket.
    ParleyWs(parley_ws::Tx),
    /// Parley long-polling.
    ParleyPoll(parley_poll::Tx),
    /// Socket.IO.
    Socketio(socketio::Tx),
}

/// Connects client `index`; `room` is where it will log in (Socket.IO
/// takes it in the handshake, Parley in the login).
pub async fn open(env: &Env, index: usize, room: &str) -> io::Result<Conn> {
    Ok(match env.target {
        Target::ParleyWs => Conn::ParleyWs(parley_ws::open(env, index).await?),
        Target::ParleyPoll => Conn::ParleyPoll(parley_poll::open(env, index)),
        Target::Socketio => Conn::Socketio(socketio::open(env, index, room).await?),
    })
}

impl Conn {
    /// Sends the login and splits the client. The login's answer arrives
    /// through [`Rx::recv`] as [`Event::Welcome`].
    pub async fn login(self, nick: &str, room: &str) -> io::Result<(Rx, Tx)> {
        Ok(match self {
            Conn::ParleyWs(c) => {
                let (rx, tx) = c.login(nick, room).await?;
                (Rx::ParleyWs(rx), Tx::ParleyWs(tx))
            }
            Conn::ParleyPoll(c) => {
                let (rx, tx) = c.login(nick, room).await?;
                (Rx::ParleyPoll(rx), Tx::ParleyPoll(tx))
            }
            Conn::Socketio(c) => {
                let (rx, tx) = c.login(nick).await?;
                (Rx::Socketio(rx), Tx::Socketio(tx))
            }
        })
    }
}

impl Rx {
    /// Waits for what the server sends next and appends every event that
    /// is already there (many frames per read). An error ends the client;
    /// [`Event::Closed`] is appended first.
    pub async fn recv(&mut self, out: &mut Vec<Event>) -> io::Result<()> {
        match self {
            Rx::ParleyWs(rx) => rx.recv(out).await,
            Rx::ParleyPoll(rx) => rx.recv(out).await,
            Rx::Socketio(rx) => rx.recv(out).await,
        }
    }
}

impl Tx {
    /// Sends one chat message.
    pub async fn say(&mut self, text: &str) -> io::Result<()> {
        match self {
            Tx::ParleyWs(tx) => tx.say(text).await,
            Tx::ParleyPoll(tx) => tx.say(text).await,
            Tx::Socketio(tx) => tx.say(text).await,
        }
    }
}
