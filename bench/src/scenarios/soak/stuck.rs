//! The soak's readers that stop reading: now and then one joins a room with
//! `since: 0` (the whole history in its `welcome`) and then reads nothing.
//! A WebSocket one uses a raw socket with a 4 KiB receive buffer and never
//! answers a ping; a polling one opens its session and never polls. Each
//! must be cut by the server (the byte bound, the write stall or the
//! heartbeat for the WebSocket, the byte bound or the session's expiry for
//! polling) before the soak looks again, 80 s later. One still served then
//! is an error.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::worker::room_name;
use super::Counts;
use crate::adapters::Env;
use crate::net;

/// How long a stuck client waits before it looks whether it was cut: more
/// than the heartbeat's 20 s, the write stall's 30 s and a polling
/// session's 45 to 61 s of grace.
pub const LOOK_AFTER: Duration = Duration::from_secs(80);

/// A WebSocket that joins and then never reads; true if the server cut it.
async fn stuck_ws(env: &Env, index: usize, room: &str) -> io::Result<bool> {
    let server = env.url(index);
    let mut socket = net::connect(env.sources.for_client(index), server.addr, Some(4096)).await?;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.authority
    );
    socket.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await? == 0 {
            return Err(io::Error::other("closed during the handshake"));
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other(
            String::from_utf8_lossy(&head).into_owned(),
        ));
    }
    let join = json!({"type": "join", "nick": format!("stuck{index}"), "room": room, "since": 0})
        .to_string();
    // A masked text frame (a zero mask leaves the payload as it is).
    let mut frame = vec![0x81, 0x80 | 126];
    frame.extend_from_slice(&(join.len() as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(join.as_bytes());
    socket.write_all(&frame).await?;
    tokio::time::sleep(LOOK_AFTER).await;
    // Whatever the buffers hold comes first; a cut connection then ends.
    let mut chunk = vec![0u8; 64 * 1024];
    let drained = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    Ok(drained.await.is_ok())
}

/// A polling session that joins and is never polled; true if the server
/// ended it.
async fn stuck_poll(env: &Env, index: usize, room: &str) -> io::Result<bool> {
    let http = &env.http[index % env.http.len()];
    let base = &env.url(index).base;
    let join = json!({"type": "join", "nick": format!("stuck{index}"), "room": room, "since": 0});
    let response = http
        .post(format!("{base}/poll/open"))
        .body(join.to_string())
        .send()
        .await
        .map_err(io::Error::other)?;
    if response.status() != StatusCode::OK {
        return Err(io::Error::other(format!(
            "open answered {}",
            response.status()
        )));
    }
    let body = response.bytes().await.map_err(io::Error::other)?;
    let batch: serde_json::Value = serde_json::from_slice(&body).map_err(io::Error::other)?;
    let session = batch["session"].as_str().unwrap_or_default().to_string();
    tokio::time::sleep(LOOK_AFTER).await;
    let answer = http
        .get(format!("{base}/poll?cursor=0"))
        .header("Parley-Session", session)
        .send()
        .await
        .map_err(io::Error::other)?;
    Ok(answer.status() == StatusCode::NOT_FOUND)
}

/// Runs stuck client `n` (WebSocket for even `n`, polling for odd) and
/// counts how it ended.
pub async fn run(env: Arc<Env>, counts: Arc<Counts>, index: usize, n: usize, rooms: usize) {
    let room = room_name(n % rooms);
    counts.stuck_open.fetch_add(1, Ordering::Relaxed);
    let outcome = if n % 2 == 0 {
        stuck_ws(&env, index, &room).await
    } else {
        stuck_poll(&env, index, &room).await
    };
    counts.stuck_open.fetch_sub(1, Ordering::Relaxed);
    match outcome {
        Ok(true) => {
            counts.stuck_cut.fetch_add(1, Ordering::Relaxed);
        }
        Ok(false) => counts.error(&format!("stuck client {n} was still served")),
        Err(err) => counts.error(&format!("stuck client {n}: {err}")),
    }
}
