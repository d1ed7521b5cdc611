//! Builds and runs the HTTP server: binds (port 0 allowed, for tests), starts
//! the ChatRoom actor, mounts every route, and owns the single shutdown path
//! ([`Stopper::stop`]): refuse new connections, close every WebSocket with
//! 1001 so clients reconnect elsewhere, then stop within
//! [`SHUTDOWN_TIMEOUT_SECS`].

use std::future::Future;
use std::io;
use std::net::{IpAddr, TcpListener};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

use crate::chat_room::{ChatRoom, Shutdown};
use crate::config::{Config, Transports};
use crate::http_error::HttpError;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;
use crate::poll_registry::PollRegistry;
use crate::{backplane, conn_socket, cors, ops, page, poll_routes, ws_session};

/// How long a stop waits for connections to finish before cutting them.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 3;

/// What every request handler shares.
pub struct AppState {
    /// The ChatRoom actor.
    pub room: Addr<ChatRoom>,
    /// The server's metrics.
    pub metrics: Arc<Metrics>,
    /// Limits in force.
    pub limits: Limits,
    /// Which origins may connect.
    pub origins: OriginPolicy,
    /// The rendered chat page.
    pub page: String,
    /// Which transports are on.
    pub transports: Transports,
    /// Reverse proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Live polling sessions.
    pub polling: PollRegistry,
    /// Set while the backplane is unreachable.
    pub degraded: Arc<AtomicBool>,
}

/// A bound, not yet awaited, server.
pub struct Server {
    port: u16,
    http: actix_web::dev::Server,
    stopper: Stopper,
}

/// Stops a running server; cheap to clone, safe to call more than once.
#[derive(Clone)]
pub struct Stopper {
    room: Addr<ChatRoom>,
    http: ServerHandle,
}

impl Stopper {
    /// Closes every client with "going away" and stops the server.
    pub async fn stop(&self) {
        match self.room.send(Shutdown).await {
            Ok(told) => log::info!("stopping: told {told} connections to reconnect"),
            Err(_) => log::info!("stopping"),
        }
        self.http.stop(true).await;
    }
}

/// Every route, relative to the base path.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(page::index))
        .route("/", web::get().to(page::index))
        .route("/assets/{name}", web::get().to(page::asset))
        .route("/ws", web::get().to(ws_session::route))
        .service(
            web::scope("/poll")
                .wrap(actix_web::middleware::from_fn(cors::cors))
                .route("", web::get().to(poll_routes::poll))
                .route("/open", web::post().to(poll_routes::open))
                .route("/send", web::post().to(poll_routes::send))
                .route("/close", web::post().to(poll_routes::close)),
        )
        .route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics));
}

async fn not_found() -> Result<actix_web::HttpResponse, HttpError> {
    Err(HttpError::NotFound)
}

impl Server {
    /// Binds the configured address and port. Must run inside an actix
    /// system (`#[actix_web::main]`, `#[actix_web::test]`).
    pub fn bind(config: &Config) -> io::Result<Server> {
        let listener = TcpListener::bind((config.bind, config.port()))?;
        Server::from_listener(listener, config)
    }

    /// Serves on an already-bound listener.
    pub fn from_listener(listener: TcpListener, config: &Config) -> io::Result<Server> {
        let port = listener.local_addr()?.port();
        let limits = config.limits();
        let metrics = Arc::new(Metrics::new());
        let degraded = Arc::new(AtomicBool::new(false));
        let backplane = backplane::open(config, &limits)?;
        let lease = Duration::from_secs(config.lease_secs);
        let chat = ChatRoom::new(limits, metrics.clone(), backplane, lease, degraded.clone());
        // The ChatRoom gets a thread of its own: with Redis, each decision
        // is a round trip, which must not hold up the HTTP workers.
        let room = ChatRoom::start_in_arbiter(&Arbiter::new().handle(), |_| chat);
        let base = config.base_path();
        let transports = config.transports();
        let state = web::Data::new(AppState {
            room: room.clone(),
            metrics,
            limits,
            origins: OriginPolicy::new(&config.allowed_origins),
            page: page::render(&base, &transports.names()),
            transports,
            trusted_proxies: config.trusted_proxies.clone(),
            polling: PollRegistry::new(config.max_poll_sessions, config.max_sessions_per_ip),
            degraded,
        });
        let scope = base.clone();
        let mut http = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    HttpError::BadRequest(format!("bad query string: {err}")).into()
                }))
                .service(web::scope(&scope).configure(routes))
                .default_service(web::to(not_found))
        })
        .on_connect(conn_socket::capture)
        // Chat frames are small and latency-bound; Nagle's algorithm held
        // them back by up to 40 ms (p99 34 ms vs 2.7 ms without, measured
        // with bench/ at 100 clients). Frames written together under load
        // are still coalesced by actix-web-actors into one write.
        .tcp_nodelay(true)
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS);
        if config.workers > 0 {
            http = http.workers(config.workers);
        }
        let http = http.listen(listener)?.run();
        let stopper = Stopper {
            room,
            http: http.handle(),
        };
        log::info!(
            "parley listening on {}:{port}{base}/ ({})",
            config.bind,
            transports.names()
        );
        Ok(Server {
            port,
            http,
            stopper,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Serves until stopped.
    pub async fn run(self) -> io::Result<()> {
        self.http.await
    }

    /// Serves until `signal` completes, then stops gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()> + 'static) -> io::Result<()> {
        let stopper = self.stopper();
        actix_rt::spawn(async move {
            signal.await;
            stopper.stop().await;
        });
        self.run().await
    }
}
