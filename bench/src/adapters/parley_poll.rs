//! Parley's long-polling transport (docs/PROTOCOL.md section 2.3): the
//! login is `POST /poll/open` with a `join` body, which answers the first
//! batch; each `recv` is one `GET /poll?cursor=N` (named by the
//! `Parley-Session` header) that returns every frame queued since, so one
//! request carries many frames; `say` is `POST /poll/send`.

use std::io;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::Env;
use crate::event::{Event, Marker};

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
}

/// The polling loop's state: session, cursor, frames not yet handed out.
pub struct Rx {
    http: reqwest::Client,
    base: String,
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
    Conn {
        http: env.http[index % env.http.len()].clone(),
        base: env.url(index).base.clone(),
    }
}

impl Conn {
    /// Opens the session with `join`.
    pub async fn login(self, nick: &str, room: &str) -> io::Result<(Rx, Tx)> {
        let join = serde_json::json!({"type": "join", "nick": nick, "room": room});
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
        let batch = batch(&response.bytes().await.map_err(io::Error::other)?)?;
        let session = batch["session"].as_str().unwrap_or_default().to_string();
        let mut first = Vec::new();
        let cursor = read_batch(&batch, &mut first);
        let tx = Tx {
            http: self.http.clone(),
            base: self.base.clone(),
            session: session.clone(),
        };
        let rx = Rx {
            http: self.http,
            base: self.base,
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
        let sent = self
            .http
            .get(format!("{}/poll?cursor={}", self.base, self.cursor))
            .header(SESSION_HEADER, &self.session)
            .send()
            .await;
        let response = match sent {
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
        let batch = batch(&response.bytes().await.map_err(io::Error::other)?)?;
        self.cursor = read_batch(&batch, out);
        if batch.get("closed").is_some() {
            out.push(Event::Closed);
            return Err(io::Error::other("the session was closed"));
        }
        Ok(())
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

fn batch(body: &[u8]) -> io::Result<Value> {
    serde_json::from_slice(body).map_err(io::Error::other)
}

/// Appends a batch's frames as events; returns its cursor.
fn read_batch(batch: &Value, out: &mut Vec<Event>) -> u64 {
    for frame in batch["frames"].as_array().into_iter().flatten() {
        out.push(event(frame));
    }
    batch["cursor"].as_u64().unwrap_or(0)
}

/// One server frame, already decoded.
fn event(frame: &Value) -> Event {
    let count = || frame["count"].as_u64().unwrap_or(0);
    match frame["type"].as_str().unwrap_or_default() {
        "message" => Event::Message(frame["text"].as_str().and_then(Marker::find)),
        "welcome" => Event::Welcome { count: count() },
        "joined" => Event::Joined { count: count() },
        "left" => Event::Left { count: count() },
        "presence" => Event::Presence { count: count() },
        _ => Event::Other,
    }
}
