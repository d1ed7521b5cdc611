//! The Autobahn|Testsuite target: Parley's own WebSocket path (the same
//! upgrade, frame gate, codec, limits and close handling as the server's
//! `/ws`) with a session that echoes every text and binary message instead
//! of speaking the chat protocol. It takes the server's flags:
//!
//!   cargo run --release --example autobahn_echo -- --port 9001 --max-frame-bytes 20000000
//!
//! then point `wstest -m fuzzingclient` at `ws://127.0.0.1:9001/ws`
//! (`scripts/autobahn` does both; docs/HARDENING.md has the results).
//! Ctrl-C stops it.

use std::net::TcpListener;

use parley::{Config, Server};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let config = Config::from_args();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let port = config.port();
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let server = Server::echo_from_listener(listener, &config)?;
    println!(
        "autobahn_echo listening on ws://127.0.0.1:{}/ws",
        server.port()
    );
    server
        .run_until(async {
            let _ = actix_rt::signal::ctrl_c().await;
        })
        .await
}
