//! Parley's long-polling transport (docs/PROTOCOL.md section 2.3): the
//! login is `POST /poll/open` with a `join` body, which answers the first
//! batch; each `recv` is one `GET /poll?cursor=N` (named by the
//! `Parley-Session` header) that returns every frame queued since, so one
//! request carries many frames; `say` is `POST /poll/send`.
//!
//! The polls, which are what the long-polling scenarios time, go over one
//! keep-alive HTTP/1.1 connection per client (hyper's connection-level
//! client, no pool to share and lock), and batches are decoded into
//! borrowed fields rather than a JSON tree: with 5,000 pollers answered in
//! one burst, the generator must read a batch in less time than the server
//! takes to write one. Logins and sends go through reqwest's pool.

use std::borrow::Cow;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HOST;
use hyper::Request;
use hyper_util::rt::TokioIo;
use reqwest::StatusCode;
use serde::Deserialize;

use super::Env;
use crate::event::{Event, Marker};
use crate::net;

/// The header that names a polling session.
const SESSION_HEADER: &str = "Parley-Session";

/// Transport errors in a row before a poller gives up. A pooled keep-alive
/// connection the server has just closed fails one request; polling again
/// with the same cursor is safe (the protocol repeats unacknowledged frames).
const RETRIES: u32 = 3;

/// A client with an HTTP connection pool, no session yet.
pub struct Conn {
    http: reqwest::Client,
    base: String,
    poll_from: Option<Ipv4Addr>,
    poll_to: SocketAddr,
    authority: String,
}

/// The polling loop's state: its connection, session, cursor, frames not
/// yet handed out.
pub struct Rx {
    /// The poll connection, opened at login; `None` after it failed, until
    /// the next poll opens another.
    poller: Option<SendRequest<Empty<Bytes>>>,
    from: Option<Ipv4Addr>,
    to: SocketAddr,
    authority: String,
    session: String,
    cursor: u64,
    first: Vec<Event>,
    errors: u32,
}

/// Sends through `/poll/send` on the same session.
pub struct Tx {
    http: reqwest::Client,
    base: String,
    session: String,
}

/// Picks client `index`'s connection pool (its source address).
pub fn open(env: &Env, index: usize) -> Conn {
    let url = env.url(index);
    Conn {
        http: env.http[index % env.http.len()].clone(),
        base: url.base.clone(),
        poll_from: env.sources.for_client(index),
        poll_to: url.addr,
        authority: url.authority.clone(),
    }
}

/// The receive buffer of a poll connection. With the kernel's default
/// (self-tuned from 128 KiB), some runs of 5,000 pollers had nearly every
/// poll connection advertise a zero window once, and answers then waited
/// for the server's window probes, 200 ms or more: a p99 of 300 to 600 ms
/// (`nstat`: TcpExtTCPToZeroWindowAdv and TcpExtTCPWinProbe in the
/// thousands). With 1 MiB, four runs in a row had none.
const POLL_RECV_BUFFER: u32 = 1 << 20;

/// Opens a poll connection.
async fn connect(from: Option<Ipv4Addr>, to: SocketAddr) -> io::Result<SendRequest<Empty<Bytes>>> {
    let stream = net::connect(from, to, Some(POLL_RECV_BUFFER)).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        // Ends when the server closes the connection or the sender goes.
        let _ = connection.await;
    });
    Ok(sender)
}

impl Conn {
    /// Opens the session with `join`.
    pub async fn login(self, nick: &str, room: &str) -> io::Result<(Rx, Tx)> {
        // Minor 2: the roster in pages, as a current client reads it.
        let join = serde_json::json!({"type": "join", "nick": nick, "room": room, "minor": 2});
        // A 408 means actix gave up reading the request's headers (thousands
        // of clients connecting at once): nothing was opened, so asking
        // again is safe.
        let mut attempts = 0;
        let response = loop {
            let response = self
                .http
                .post(format!("{}/poll/open", self.base))
                .body(join.to_string())
                .send()
                .await
                .map_err(io::Error::other)?;
            attempts += 1;
            if response.status() != StatusCode::REQUEST_TIMEOUT || attempts > RETRIES {
                break response;
            }
        };
        if response.status() != StatusCode::OK {
            return Err(io::Error::other(format!(
                "/poll/open answered {}",
                response.status()
            )));
        }
        let body = response.bytes().await.map_err(io::Error::other)?;
        let batch = batch(&body)?;
        let session = batch.session.as_deref().unwrap_or_default().to_string();
        let mut first = Vec::new();
        let cursor = read_batch(&batch, &mut first);
        let tx = Tx {
            http: self.http,
            base: self.base,
            session: session.clone(),
        };
        // Connected now, in the untimed login phase: thousands of
        // connections opened at the first timed poll would overflow the
        // server's accept queue, and a dropped SYN waits a second.
        let poller = connect(self.poll_from, self.poll_to).await?;
        let rx = Rx {
            poller: Some(poller),
            from: self.poll_from,
            to: self.poll_to,
            authority: self.authority,
            session,
            cursor,
            first,
            errors: 0,
        };
        Ok((rx, tx))
    }
}

impl Rx {
    /// One long poll (see [`super::Rx::recv`]).
    pub async fn recv(&mut self, out: &mut Vec<Event>) -> io::Result<()> {
        if !self.first.is_empty() {
            out.append(&mut self.first);
            return Ok(());
        }
        let response = match self.poll().await {
            Ok(response) => response,
            Err(err) if self.errors < RETRIES => {
                self.errors += 1;
                eprintln!("poll: retrying after {err}");
                return Ok(());
            }
            Err(err) => {
                out.push(Event::Closed);
                return Err(io::Error::other(err));
            }
        };
        self.errors = 0;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Ok(());
            }
            // actix-web answers 408 when a new connection's request headers
            // take over 5 s to arrive, as they can from a saturated
            // generator; repeating the poll with the same cursor is safe.
            StatusCode::REQUEST_TIMEOUT if self.errors < RETRIES => {
                self.errors += 1;
                return Ok(());
            }
            status => {
                out.push(Event::Closed);
                return Err(io::Error::other(format!("/poll answered {status}")));
            }
        }
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            // Cut off mid-answer: nothing was acknowledged, poll again.
            Err(err) if self.errors < RETRIES => {
                eprintln!("poll: retrying after {err}");
                self.errors += 1;
                self.poller = None;
                return Ok(());
            }
            Err(err) => return Err(io::Error::other(err)),
        };
        let batch = batch(&body)?;
        self.cursor = read_batch(&batch, out);
        if batch.closed.is_some() {
            out.push(Event::Closed);
            return Err(io::Error::other("the session was closed"));
        }
        Ok(())
    }
}

impl Rx {
    /// Sends one poll on the client's connection, opening it first if it
    /// is not open.
    async fn poll(&mut self) -> io::Result<hyper::Response<hyper::body::Incoming>> {
        let mut poller = match self.poller.take() {
            Some(poller) if !poller.is_closed() => poller,
            previous => {
                if previous.is_some() {
                    eprintln!("poll: the server closed the connection; reconnecting");
                }
                connect(self.from, self.to).await?
            }
        };
        poller.ready().await.map_err(io::Error::other)?;
        let request = Request::get(format!("/poll?cursor={}", self.cursor))
            .header(HOST, &self.authority)
            .header(SESSION_HEADER, &self.session)
            .body(Empty::new())
            .map_err(io::Error::other)?;
        let response = poller
            .send_request(request)
            .await
            .map_err(io::Error::other)?;
        self.poller = Some(poller);
        Ok(response)
    }
}

impl Tx {
    /// Posts one `say`.
    pub async fn say(&mut self, text: &str) -> io::Result<()> {
        let say = serde_json::json!({"type": "say", "text": text});
        let response = self
            .http
            .post(format!("{}/poll/send", self.base))
            .header(SESSION_HEADER, &self.session)
            .body(say.to_string())
            .send()
            .await
            .map_err(io::Error::other)?;
        if response.status() != StatusCode::OK {
            return Err(io::Error::other(format!(
                "/poll/send answered {}",
                response.status()
            )));
        }
        Ok(())
    }
}

/// A batch as the server sends it (docs/PROTOCOL.md section 2.3), with
/// only what the scenarios read; the rest is skipped.
#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(default)]
    cursor: u64,
    #[serde(default, borrow)]
    frames: Vec<Frame<'a>>,
    #[serde(default)]
    closed: Option<serde::de::IgnoredAny>,
    #[serde(default, borrow)]
    session: Option<Cow<'a, str>>,
}

/// One frame of a batch, with only what [`Event`] needs.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    count: u64,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

fn batch(body: &[u8]) -> io::Result<Batch<'_>> {
    serde_json::from_slice(body).map_err(io::Error::other)
}

/// Appends a batch's frames as events; returns its cursor.
fn read_batch(batch: &Batch<'_>, out: &mut Vec<Event>) -> u64 {
    out.extend(batch.frames.iter().map(event));
    batch.cursor
}

/// One server frame, already decoded.
fn event(frame: &Frame<'_>) -> Event {
    let count = frame.count;
    match &*frame.kind {
        "message" => Event::Message(frame.text.as_deref().and_then(Marker::find)),
        "welcome" => Event::Welcome { count },
        "joined" => Event::Joined { count },
        "left" => Event::Left { count },
        "presence" => Event::Presence { count },
        "error" => Event::Refused,
        _ => Event::Other,
    }
}
