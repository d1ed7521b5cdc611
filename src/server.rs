//! Builds and runs the HTTP server: binds (port 0 allowed, for tests), starts
//! the room shards (ChatRoom actors, `room_server/shards.rs`), mounts every route, and owns the single shutdown path
//! ([`Stopper::stop`]): refuse new connections, close every WebSocket with
//! 1001 so clients reconnect elsewhere, then stop within
//! [`SHUTDOWN_TIMEOUT_SECS`].

use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_http::{HttpService, KeepAlive};
use actix_service::{boxed, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::Service as _;
use actix_web::dev::{
    AppConfig, Extensions, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse,
};
use actix_web::rt::net::TcpStream;
use actix_web::{web, App};

use crate::backplane;
use crate::config::Config;
use crate::core::instance_share::InstanceShare;
use crate::delivery::backlog::QueuePool;
use crate::delivery::hub::HubSettings;
use crate::http::client_gate::ClientGate;
use crate::http::error::{HttpError, RefusalCode};
use crate::http::origin::OriginPolicy;
use crate::http::state::AppState;
use crate::http::{check, ops, page};
use crate::metrics::Metrics;
use crate::room_server::chat_room::{ChatRoom, Release, Shard, Shutdown};
use crate::room_server::shards::RoomShards;
use crate::room_server::shared_backplane::SharedBackplane;
use crate::transport::poll::session::Sessions;
use crate::transport::poll::{cors, routes as poll_routes};
use crate::transport::ws::{session as ws_session, socket as conn_socket, upgrade};

/// How long a stop waits for connections to finish before cutting them.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 3;

/// How long a stop waits for the room server to close its backplane (the
/// embedded store commits and syncs what it holds); more than the store's
/// own patience for its writer, so that one gives up first.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(12);

/// A bound, not yet awaited, server.
pub struct Server {
    port: u16,
    http: actix_web::dev::Server,
    stopper: Stopper,
}

/// Stops a running server; cheap to clone, safe to call more than once.
#[derive(Clone)]
pub struct Stopper {
    rooms: RoomShards,
    http: ServerHandle,
    open: upgrade::OpenConnections,
    /// One per shard: each fails its `changed()` once its shard is gone;
    /// the backplane goes with the last.
    released: Vec<tokio::sync::watch::Receiver<()>>,
}

impl Stopper {
    /// Closes every client with "going away" and stops the server.
    pub async fn stop(&self) {
        let mut told = 0;
        for shard in self.rooms.all() {
            told += shard.send(Shutdown).await.unwrap_or(0);
        }
        log::info!("stopping: told {told} connections to reconnect");
        // WebSockets run outside actix-server's count of connections
        // (src/transport/ws/upgrade.rs): stop accepting and give them the same time it
        // gives the others to send their close and hear the client's.
        self.http.pause().await;
        let deadline = Duration::from_secs(SHUTDOWN_TIMEOUT_SECS);
        let _ = actix_rt::time::timeout(deadline, self.open.drained()).await;
        // Before the HTTP server stops, which lets the binary exit: the
        // store must have closed its file by then.
        for shard in self.rooms.all() {
            shard.do_send(Release);
        }
        let released = self.released.clone();
        let closed = async move {
            for mut shard in released {
                while shard.changed().await.is_ok() {}
            }
        };
        if actix_rt::time::timeout(RELEASE_TIMEOUT, closed)
            .await
            .is_err()
        {
            log::warn!("stopping: the backplane did not close in time");
        }
        self.http.stop(true).await;
    }
}

/// Every route, relative to the base path. Routes are tried in order, so
/// the long-polling ones, by far the most requested, come first.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/poll")
            .wrap(actix_web::middleware::from_fn(cors::cors))
            .route("", web::get().to(poll_routes::poll))
            .route("/send", web::post().to(poll_routes::send))
            .route("/open", web::post().to(poll_routes::open))
            .route("/close", web::post().to(poll_routes::close))
            .route("/probe", web::get().to(poll_routes::probe)),
    )
    .route("", web::get().to(page::index))
    .route("/", web::get().to(page::index))
    .route(page::ASSET_ROUTE, web::get().to(page::asset))
    .route("/ws", web::get().to(ws_session::route))
    .route("/check", web::get().to(check::page))
    .route("/check/seen", web::post().to(check::seen))
    .route("/check/wait", web::get().to(check::wait))
    .route("/healthz", web::get().to(ops::healthz))
    .route("/readyz", web::get().to(ops::readyz))
    .route("/metrics", web::get().to(ops::metrics));
}

/// The routes of the Autobahn|Testsuite target: only `/ws`, echoing.
fn echo_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(ws_session::echo_route));
}

async fn not_found() -> Result<actix_web::HttpResponse, HttpError> {
    Err(HttpError::NotFound)
}

/// What actix-web's `HttpServer` does with one listener (same defaults:
/// keep-alive, 5 s for a request head, 1 s for a client to close, half-closed
/// reads allowed, graceful shutdown of idle keep-alive connections), plus an
/// upgrade service: requests that ask for a WebSocket are served by
/// [`upgrade`], outside the HTTP/1 dispatcher and its two 8 KiB buffers per
/// connection. `HttpServer` has no way to add one.
///
/// The application sees `AppConfig::default()` (host `localhost:8080`)
/// where `HttpServer` would give the bound address: Parley reads neither
/// (`http/client_addr.rs` uses the peer address and forwarding headers).
fn serve<F, T>(
    listener: TcpListener,
    workers: usize,
    max_http_connections: usize,
    open: upgrade::OpenConnections,
    app: F,
) -> io::Result<actix_web::dev::Server>
where
    F: Fn() -> App<T> + Clone + Send + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    let local_addr = listener.local_addr()?;
    let mut builder = actix_web::dev::Server::build();
    let drain = builder.graceful_shutdown_signal();
    builder = builder
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS);
    if workers > 0 {
        builder = builder.workers(workers);
    }
    // actix-server caps connections per worker; upgraded WebSockets leave
    // its count (they run as tasks of their own) and have their own cap.
    let threads = if workers > 0 {
        workers
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    };
    builder = builder.max_concurrent_connections(max_http_connections.div_ceil(threads).max(1));
    let name = format!("parley-{local_addr}");
    let builder = builder.listen(name, listener, move || {
        let drain = drain.clone();
        let open = open.clone();
        let upgrade_app: upgrade::AppFactory =
            boxed::factory(map_config(app().into_factory(), |_| AppConfig::default()));
        let main_app = map_config(
            app()
                .into_factory()
                .map_err(|err: actix_web::Error| err.error_response()),
            |_| AppConfig::default(),
        );
        HttpService::build()
            .graceful_shutdown_signal(move || {
                let drain = drain.clone();
                async move { drain.notified().await }
            })
            .keep_alive(KeepAlive::default())
            .client_request_timeout(Duration::from_secs(5))
            .client_disconnect_timeout(Duration::from_secs(1))
            .h1_allow_half_closed(true)
            .local_addr(local_addr)
            // Chat frames are small and latency-bound; Nagle's algorithm held
            // them back by up to 40 ms (p99 34 ms vs 2.7 ms without, measured
            // with bench/ at 100 clients). Frames written together under load
            // are still coalesced by actix-web-actors into one write.
            .tcp_nodelay(true)
            .on_connect_ext(|io: &TcpStream, ext: &mut Extensions| conn_socket::capture(io, ext))
            .upgrade(upgrade::service(upgrade_app, open.clone()))
            .finish(main_app)
            .tcp()
    })?;
    Ok(builder.run())
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
        Server::build(listener, config, routes)
    }

    /// A server whose only route is `/ws`, on the production WebSocket
    /// path (upgrade, frame gate, codec, limits, close handling), echoing
    /// every message: the target `examples/autobahn_echo.rs` puts in front
    /// of Autobahn|Testsuite. Not for chat.
    #[doc(hidden)]
    pub fn echo_from_listener(listener: TcpListener, config: &Config) -> io::Result<Server> {
        Server::build(listener, config, echo_routes)
    }

    fn build(
        listener: TcpListener,
        config: &Config,
        routes: fn(&mut web::ServiceConfig),
    ) -> io::Result<Server> {
        let port = listener.local_addr()?.port();
        let limits = config.limits();
        let metrics = Arc::new(Metrics::new());
        let degraded = Arc::new(AtomicBool::new(false));
        let backplane = backplane::open(config, &limits)?;
        let lease = Duration::from_secs(config.lease_secs);
        let node: Arc<str> = Arc::from(&crate::core::ids::new_secret()[..12]);
        let share = Arc::new(InstanceShare::new(&limits));
        let mut released = Vec::new();
        let mut shards = Vec::new();
        for (index, backplane) in SharedBackplane::split(backplane, config.room_shards())
            .into_iter()
            .enumerate()
        {
            let shard = Shard {
                index,
                node: node.clone(),
                share: share.clone(),
            };
            let chat = ChatRoom::shard(
                limits,
                metrics.clone(),
                Box::new(backplane),
                lease,
                degraded.clone(),
                shard,
            );
            released.push(chat.on_release());
            // Each shard gets a thread of its own: with Redis, each
            // decision is a round trip, which must not hold up the HTTP
            // workers, and many busy rooms use every core.
            shards.push(ChatRoom::start_in_arbiter(&Arbiter::new().handle(), |_| {
                chat
            }));
        }
        let rooms = RoomShards::new(shards);
        // The hubs report to the first shard, which passes on what is
        // another's.
        let room = rooms.all()[0].clone();
        let base = config.base_path();
        let transports = config.transports();
        let delivery = HubSettings {
            max_backlog_bytes: limits.max_outbox_bytes,
            window: limits.coalesce,
            saturation_lag: limits.saturation_lag,
            metrics: metrics.clone(),
            slow_readers: room.clone().recipient(),
            polled: room.clone().recipient(),
        };
        let polling = web::Data::new(Sessions::new(
            config.max_poll_sessions,
            config.max_sessions_per_ip,
        ));
        let evictions = metrics.queue_evictions.clone();
        let state = web::Data::new(AppState {
            rooms: rooms.clone(),
            delivery,
            metrics,
            limits,
            origins: OriginPolicy::new(&config.allowed_origins, config.public_url.as_ref(), &base),
            page: page::render(&base, &transports.names()),
            check_page: check::render(&base, &transports.names()),
            base_path: base.clone(),
            public_url: config
                .public_url
                .as_ref()
                .map(|u| format!("{}{}", u.origin, u.path)),
            transports,
            trusted_proxies: config.trusted_proxies.clone(),
            gate: Arc::new(ClientGate::new(&limits)),
            degraded,
            queued: QueuePool::new(limits.max_queued_bytes, evictions),
        });
        let scope = base.clone();
        for code in HttpError::CODES {
            state.metrics.refusals.with_label_values(&[code]);
        }
        let app = move || {
            let metrics = state.metrics.clone();
            App::new()
                // Counts every refusal by its code, whichever route refused.
                .wrap_fn(move |req, service| {
                    let answered = service.call(req);
                    let metrics = metrics.clone();
                    async move {
                        let response = answered.await?;
                        if let Some(RefusalCode(code)) = response
                            .response()
                            .extensions()
                            .get::<RefusalCode>()
                            .copied()
                        {
                            metrics.refusals.with_label_values(&[code]).inc();
                        }
                        Ok(response)
                    }
                })
                .app_data(state.clone())
                .app_data(polling.clone())
                .app_data(web::QueryConfig::default().error_handler(|err, _| {
                    HttpError::BadRequest(format!("bad query string: {err}")).into()
                }))
                .service(web::scope(&scope).configure(routes))
                .default_service(web::to(not_found))
        };
        let open = upgrade::OpenConnections::default();
        let http = serve(
            listener,
            config.workers,
            config.max_http_connections,
            open.clone(),
            app,
        )?;
        let stopper = Stopper {
            rooms,
            http: http.handle(),
            open,
            released,
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
