//! The soak's client: one Parley connection, WebSocket or long-polling,
//! seen the same way by the churn: frames arrive as decoded JSON through a
//! channel fed by a reader task (the WebSocket's read half, or a loop of
//! long polls with the batch cursor), and frames leave through `send`. It
//! can end three ways, because the soak exercises all three: politely
//! (close frame, `/poll/close`), abruptly (the socket dropped, the polling
//! session abandoned), or not at all (left open while another connection
//! takes it over). Unlike `adapters/`, it keeps every member of a frame:
//! the soak checks ids, acks and resume tokens, not latency.

use std::io;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::adapters::Env;

/// The header naming a polling session.
const SESSION_HEADER: &str = "Parley-Session";

/// Which transport a client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `/ws`.
    Ws,
    /// `/poll/*`.
    Poll,
}

/// What the reader task hands over.
#[derive(Debug)]
pub enum Incoming {
    /// A server frame.
    Frame(Value),
    /// The connection or session ended: `close 1000`, `closed 4001`,
    /// `dropped`, `unknown_session` and the like.
    End(String),
}

/// How frames leave.
enum Out {
    Ws(SplitSink<crate::adapters::ws::Ws, Message>),
    Poll {
        http: reqwest::Client,
        base: String,
        session: String,
    },
}

/// One connection and its reader.
pub struct Client {
    out: Out,
    inbox: mpsc::UnboundedReceiver<Incoming>,
    reader: JoinHandle<()>,
}

impl Client {
    /// Connects client `index` over `transport` and sends `join`. The
    /// `welcome` (or error) arrives through [`Client::next`].
    pub async fn open(
        env: &Env,
        index: usize,
        transport: Transport,
        join: &Value,
    ) -> io::Result<Client> {
        match transport {
            Transport::Ws => Client::open_ws(env, index, join).await,
            Transport::Poll => Client::open_poll(env, index, join).await,
        }
    }

    async fn open_ws(env: &Env, index: usize, join: &Value) -> io::Result<Client> {
        let ws = crate::adapters::ws::connect(env, index, "/ws").await?;
        let (mut sink, mut stream) = ws.split();
        sink.send(Message::text(join.to_string()))
            .await
            .map_err(io::Error::other)?;
        let (tx, inbox) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            // Reading also answers the server's pings (tungstenite queues
            // the pong and writes it as it reads).
            let end = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => match serde_json::from_str(&text) {
                        Ok(frame) => {
                            if tx.send(Incoming::Frame(frame)).is_err() {
                                return;
                            }
                        }
                        Err(_) => break format!("not JSON: {text}"),
                    },
                    Some(Ok(Message::Close(frame))) => {
                        break format!("close {}", frame.map_or(1005, |f| u16::from(f.code)));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break "dropped".to_string(),
                }
            };
            let _ = tx.send(Incoming::End(end));
        });
        Ok(Client {
            out: Out::Ws(sink),
            inbox,
            reader,
        })
    }

    async fn open_poll(env: &Env, index: usize, join: &Value) -> io::Result<Client> {
        let http = env.http[index % env.http.len()].clone();
        let base = env.url(index).base.clone();
        let response = http
            .post(format!("{base}/poll/open"))
            .body(join.to_string())
            .send()
            .await
            .map_err(io::Error::other)?;
        if response.status() != StatusCode::OK {
            return Err(io::Error::other(format!(
                "/poll/open answered {}",
                response.status()
            )));
        }
        let body = response.bytes().await.map_err(io::Error::other)?;
        let batch: Value = serde_json::from_slice(&body).map_err(io::Error::other)?;
        let session = batch["session"]
            .as_str()
            .ok_or_else(|| io::Error::other("no session in the open's answer"))?
            .to_string();
        let (tx, inbox) = mpsc::unbounded_channel();
        let cursor = take_batch(&batch, &tx);
        let reader = tokio::spawn(poll_loop(
            http.clone(),
            base.clone(),
            session.clone(),
            cursor,
            tx,
        ));
        Ok(Client {
            out: Out::Poll {
                http,
                base,
                session,
            },
            inbox,
            reader,
        })
    }

    /// Sends one client frame. Over long-polling the send answers once the
    /// room has handled the frame.
    pub async fn send(&mut self, frame: &Value) -> io::Result<()> {
        match &mut self.out {
            Out::Ws(sink) => sink
                .send(Message::text(frame.to_string()))
                .await
                .map_err(io::Error::other),
            Out::Poll {
                http,
                base,
                session,
            } => {
                let response = http
                    .post(format!("{base}/poll/send"))
                    .header(SESSION_HEADER, session.as_str())
                    .body(frame.to_string())
                    .send()
                    .await
                    .map_err(io::Error::other)?;
                match response.status() {
                    StatusCode::OK => Ok(()),
                    status => Err(io::Error::other(format!("/poll/send answered {status}"))),
                }
            }
        }
    }

    /// The next thing from the server, if it comes within `wait`; after
    /// the end, `End("gone")` at once.
    pub async fn next(&mut self, wait: Duration) -> Option<Incoming> {
        match tokio::time::timeout(wait, self.inbox.recv()).await {
            Ok(Some(incoming)) => Some(incoming),
            Ok(None) => Some(Incoming::End("gone".to_string())),
            Err(_) => None,
        }
    }

    /// Ends politely: a close frame, or `/poll/close`.
    pub async fn close(mut self) {
        match &mut self.out {
            Out::Ws(sink) => {
                let _ = sink.send(Message::Close(None)).await;
                // The server answers and closes TCP first; give the reader
                // a moment to see it, then let go either way.
                let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.reader).await;
            }
            Out::Poll {
                http,
                base,
                session,
            } => {
                let _ = http
                    .post(format!("{base}/poll/close"))
                    .header(SESSION_HEADER, session.as_str())
                    .send()
                    .await;
            }
        }
        self.reader.abort();
    }

    /// Ends without a word: the WebSocket's socket is dropped, the polling
    /// session abandoned (it expires, or a resume takes it over).
    pub fn abandon(self) {
        self.reader.abort();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Queues a batch's frames (and its end, if it has one); returns its cursor.
fn take_batch(batch: &Value, tx: &mpsc::UnboundedSender<Incoming>) -> u64 {
    for frame in batch["frames"].as_array().into_iter().flatten() {
        let _ = tx.send(Incoming::Frame(frame.clone()));
    }
    if let Some(code) = batch["closed"]["code"].as_u64() {
        let _ = tx.send(Incoming::End(format!("closed {code}")));
    }
    batch["cursor"].as_u64().unwrap_or(0)
}

/// Long-polls until the session ends or the client goes.
async fn poll_loop(
    http: reqwest::Client,
    base: String,
    session: String,
    mut cursor: u64,
    tx: mpsc::UnboundedSender<Incoming>,
) {
    let mut failures = 0;
    loop {
        let response = http
            .get(format!("{base}/poll?cursor={cursor}"))
            .header(SESSION_HEADER, session.as_str())
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            // A pooled keep-alive connection the server has just closed
            // fails one request; the same cursor again is safe.
            Err(err) if failures < 3 => {
                failures += 1;
                eprintln!("soak: poll retried after {err}");
                continue;
            }
            Err(_) => break,
        };
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                let _ = tx.send(Incoming::End("unknown_session".to_string()));
                return;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            status => {
                let _ = tx.send(Incoming::End(format!("poll answered {status}")));
                return;
            }
        }
        let batch: Value = match response.bytes().await.map(|b| serde_json::from_slice(&b)) {
            Ok(Ok(batch)) => batch,
            _ if failures < 3 => {
                failures += 1;
                continue;
            }
            _ => break,
        };
        failures = 0;
        cursor = take_batch(&batch, &tx);
        if !batch["closed"].is_null() || tx.is_closed() {
            return;
        }
    }
    let _ = tx.send(Incoming::End("dropped".to_string()));
}
