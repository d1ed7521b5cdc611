//! A test long-polling client over real HTTP (reqwest). It keeps the
//! session token and the cursor as a browser would; it receives by polling
//! whenever it has no frame left from the last batch, and gets `next`,
//! `expect`, `until` and the hang guard from [`Inbox`], like the WebSocket
//! client. [`Received`], the frames batches have brought and not yet read,
//! serves the round-robin polling client too.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Value};

use super::inbox::{Inbox, PATIENCE};

/// The session header.
pub const SESSION: &str = "Parley-Session";

/// How long a polling client waits for a frame: three times a WebSocket
/// client's, as these clients always have, since a wait may span polls
/// that the server holds open.
pub const POLL_PATIENCE: Duration = PATIENCE.saturating_mul(3);

/// Frames that polled batches brought and the test has not read yet.
#[derive(Default)]
pub struct Received {
    queue: VecDeque<Value>,
    /// The `closed` member of the last batch that had one.
    pub closed: Option<Value>,
}

impl Received {
    /// Queues a batch's frames and notes its `closed`, if it has one.
    pub fn take(&mut self, batch: &Value) {
        self.queue
            .extend(batch["frames"].as_array().expect("frames").iter().cloned());
        if !batch["closed"].is_null() {
            self.closed = Some(batch["closed"].clone());
        }
    }

    /// Whether no frame is left to read.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The oldest frame not yet read, if any; unlike [`Received::pop`], a
    /// closed session is not a failure here.
    pub fn pop_if_any(&mut self) -> Option<Value> {
        self.queue.pop_front()
    }

    /// The oldest frame not yet read, or `None` if the client must poll for
    /// more. Fails the test if none is left and the session was closed, as
    /// no poll would bring another.
    pub fn pop(&mut self) -> Option<Value> {
        let frame = self.queue.pop_front();
        assert!(
            frame.is_some() || self.closed.is_none(),
            "session closed: {:?}",
            self.closed
        );
        frame
    }
}

/// One polling client.
pub struct PollClient {
    http: reqwest::Client,
    base: String,
    /// The session token.
    pub session: String,
    /// The cursor of the last batch received.
    pub cursor: u64,
    /// What the batches brought, not yet read.
    pub received: Received,
}

impl PollClient {
    /// The same session, its requests sent to `base` instead (another
    /// instance of a cluster), from the same cursor.
    pub fn at(&self, base: &str) -> PollClient {
        PollClient {
            http: self.http.clone(),
            base: base.to_owned(),
            session: self.session.clone(),
            cursor: self.cursor,
            received: Received::default(),
        }
    }

    /// Opens a session at `base` (e.g. `http://127.0.0.1:PORT`) with a join.
    pub async fn open(base: &str, nick: &str, room: &str) -> (PollClient, Value) {
        Self::open_with(base, json!({"type": "join", "nick": nick, "room": room})).await
    }

    /// Opens a session with any join frame; returns the first frame.
    pub async fn open_with(base: &str, join: Value) -> (PollClient, Value) {
        let http = reqwest::Client::builder()
            .timeout(PATIENCE * 4)
            .build()
            .unwrap();
        let response = http
            .post(format!("{base}/poll/open"))
            .body(join.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "open refused: {}",
            response.text().await.unwrap()
        );
        let body: Value = response.json().await.unwrap();
        let mut client = PollClient {
            http,
            base: base.to_owned(),
            session: body["session"]
                .as_str()
                .expect("a session token")
                .to_owned(),
            cursor: 0,
            received: Received::default(),
        };
        client.take(&body);
        let first = client.received.pop().expect("open answers with a frame");
        (client, first)
    }

    fn take(&mut self, batch: &Value) {
        self.cursor = batch["cursor"].as_u64().expect("a cursor");
        self.received.take(batch);
    }

    /// One raw poll at `cursor`: the HTTP response.
    pub async fn poll_at(&self, cursor: u64) -> reqwest::Response {
        self.http
            .get(format!("{}/poll?cursor={cursor}", self.base))
            .header(SESSION, &self.session)
            .send()
            .await
            .unwrap()
    }

    /// A poll that is certainly waiting at the server, as a task: of two
    /// polls at one cursor the server answers the older at once, so when one
    /// comes back the other is parked. Returns the parked one.
    pub async fn parked_poll(&self) -> tokio::task::JoinHandle<Value> {
        let spawn = || {
            let (http, session) = (self.http.clone(), self.session.clone());
            let url = format!("{}/poll?cursor={}", self.base, self.cursor);
            tokio::spawn(async move {
                let response = http.get(url).header(SESSION, session).send().await.unwrap();
                assert_eq!(response.status(), 200);
                response.json::<Value>().await.unwrap()
            })
        };
        let (mut first, mut second) = (spawn(), spawn());
        tokio::select! {
            answered = &mut first => {
                assert!(answered.unwrap()["frames"].as_array().unwrap().is_empty());
                second
            }
            answered = &mut second => {
                assert!(answered.unwrap()["frames"].as_array().unwrap().is_empty());
                first
            }
        }
    }

    /// Polls once at the current cursor and queues what arrives.
    pub async fn poll(&mut self) -> Value {
        let response = self.poll_at(self.cursor).await;
        assert_eq!(response.status(), 200);
        let batch: Value = response.json().await.unwrap();
        self.take(&batch);
        batch
    }

    /// Sends one frame (or an array); returns the HTTP response.
    pub async fn send(&self, frame: Value) -> reqwest::Response {
        self.send_raw(frame.to_string()).await
    }

    /// Sends a raw body.
    pub async fn send_raw(&self, body: String) -> reqwest::Response {
        self.http
            .post(format!("{}/poll/send", self.base))
            .header(SESSION, &self.session)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Says `text` and returns (message, ack).
    pub async fn say(&mut self, text: &str, reference: &str) -> (Value, Value) {
        let response = self
            .send(json!({"type": "say", "text": text, "ref": reference}))
            .await;
        assert_eq!(response.status(), 200);
        let message = self.until("message").await;
        let ack = self.expect("ack").await;
        (message, ack)
    }

    /// Closes the session.
    pub async fn close(&self) -> reqwest::Response {
        self.http
            .post(format!("{}/poll/close", self.base))
            .header(SESSION, &self.session)
            .send()
            .await
            .unwrap()
    }
}

impl Inbox for PollClient {
    const PATIENCE: Duration = POLL_PATIENCE;

    /// The next frame of the last batch, polling for more as needed.
    async fn arrival(&mut self) -> Value {
        loop {
            if let Some(frame) = self.received.pop() {
                return frame;
            }
            self.poll().await;
        }
    }
}
