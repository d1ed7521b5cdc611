//! The WebSocket plumbing both WebSocket adapters share: connect from the
//! client's source address and upgrade, and read every message that is
//! already buffered after the first one arrives.

use std::io;

use futures_util::stream::SplitStream;
use futures_util::{FutureExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::Env;
use crate::net;

/// A client WebSocket over plain TCP.
pub type Ws = WebSocketStream<TcpStream>;

/// Most messages taken in one [`recv_batch`].
const BATCH: usize = 256;

/// Connects client `index` and upgrades at `path` (with its query).
pub async fn connect(env: &Env, index: usize, path: &str) -> io::Result<Ws> {
    let server = env.url(index);
    let tcp = net::connect(env.sources.for_client(index), server.addr, None).await?;
    let url = format!("ws://{}{path}", server.authority);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(env.ws_config))
        .await
        .map_err(io::Error::other)?;
    Ok(ws)
}

/// Waits for one message, then takes the ones already read from the
/// socket, and hands each to `each`. `Ok(false)` means the peer closed.
pub async fn recv_batch(
    stream: &mut SplitStream<Ws>,
    mut each: impl FnMut(Message),
) -> io::Result<bool> {
    match stream.next().await {
        Some(Ok(message)) => each(message),
        Some(Err(err)) => return Err(io::Error::other(err)),
        None => return Ok(false),
    }
    for _ in 1..BATCH {
        match stream.next().now_or_never() {
            Some(Some(Ok(message))) => each(message),
            Some(Some(Err(err))) => return Err(io::Error::other(err)),
            Some(None) => return Ok(false),
            None => break,
        }
    }
    Ok(true)
}

/// The error a closed connection ends `recv` with.
pub fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the server closed")
}
