//! A long-polling client that spreads one session's requests over several
//! Parley instances (or sends them all to one proxy that does the
//! spreading): the open goes to the first base URL, and polls and sends
//! each cycle through all of them, polls starting from the second, so that
//! a session is polled and fed on instances other than the one it was
//! opened on, whatever order the test makes its requests in. It records
//! which base served each request.
//!
//! The batch cursor is treated as opaque: every poll echoes the last cursor
//! a server returned, from whichever instance. The only thing assumed of it
//! is what the cluster promises, that it never goes back. It receives as
//! `poll.rs`'s client does (the same [`Received`] frames, the same
//! patience) and gets `next`, `expect` and `until` from [`Inbox`]; the HTTP
//! layer here is the same.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::inbox::{Inbox, PATIENCE};
use crate::common::poll::{Received, POLL_PATIENCE, SESSION};

/// What a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `POST /poll/open`
    Open,
    /// `GET /poll`
    Poll,
    /// `POST /poll/send`
    Send,
    /// `POST /poll/close`
    Close,
}

/// One polling session whose requests go round the instances.
pub struct RoundRobinPoll {
    http: reqwest::Client,
    bases: Vec<String>,
    polls: usize,
    sends: usize,
    /// The polling session token.
    pub session: String,
    /// The cursor of the last batch received, from whichever instance.
    pub cursor: u64,
    /// What the batches brought, not yet read.
    pub received: Received,
    /// Every request made, with the index of the base it went to.
    pub served: Vec<(Request, usize)>,
}

impl RoundRobinPoll {
    /// Opens a session at `bases[0]` with `join`; returns the first frame.
    pub async fn open(bases: &[String], join: Value) -> (RoundRobinPoll, Value) {
        assert!(!bases.is_empty(), "at least one base URL");
        let http = reqwest::Client::builder()
            .timeout(PATIENCE * 4)
            .build()
            .expect("an HTTP client");
        let response = http
            .post(format!("{}/poll/open", bases[0]))
            .body(join.to_string())
            .send()
            .await
            .expect("open a session");
        assert_eq!(response.status(), 200, "open refused");
        let batch: Value = response.json().await.expect("a JSON batch");
        let mut client = RoundRobinPoll {
            http,
            bases: bases.to_vec(),
            polls: 1,
            sends: 0,
            session: batch["session"]
                .as_str()
                .expect("a session token")
                .to_owned(),
            cursor: 0,
            received: Received::default(),
            served: vec![(Request::Open, 0)],
        };
        client.take(&batch);
        let first = client.received.pop().expect("open answers with a frame");
        (client, first)
    }

    fn take(&mut self, batch: &Value) {
        let cursor = batch["cursor"].as_u64().expect("an unsigned cursor");
        assert!(
            cursor >= self.cursor,
            "the cursor went back from {} to {cursor}: {batch}",
            self.cursor
        );
        self.cursor = cursor;
        self.received.take(batch);
    }

    /// The next base for `kind`, recorded as serving it.
    fn base(&mut self, kind: Request) -> String {
        let counter = match kind {
            Request::Poll => &mut self.polls,
            _ => &mut self.sends,
        };
        let index = *counter % self.bases.len();
        *counter += 1;
        self.served.push((kind, index));
        self.bases[index].clone()
    }

    /// How many requests of `kind` went to `bases[index]`.
    pub fn served_by(&self, kind: Request, index: usize) -> usize {
        self.served
            .iter()
            .filter(|served| **served == (kind, index))
            .count()
    }

    /// Polls once, at the next base, with the last cursor; queues what
    /// arrives and returns the batch.
    pub async fn poll(&mut self) -> Value {
        let base = self.base(Request::Poll);
        let response = self
            .http
            .get(format!("{base}/poll?cursor={}", self.cursor))
            .header(SESSION, &self.session)
            .send()
            .await
            .expect("poll");
        assert_eq!(response.status(), 200, "poll at {base} refused");
        let batch: Value = response.json().await.expect("a JSON batch");
        self.take(&batch);
        batch
    }

    /// Sends one frame at the next base; returns `accepted`.
    pub async fn send(&mut self, frame: Value) -> u64 {
        let base = self.base(Request::Send);
        let response = self
            .http
            .post(format!("{base}/poll/send"))
            .header(SESSION, &self.session)
            .body(frame.to_string())
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "send at {base} refused");
        let body: Value = response.json().await.expect("a JSON answer");
        body["accepted"].as_u64().expect("accepted")
    }

    /// Says `text` with `reference` as its ref; returns `accepted`.
    pub async fn say(&mut self, text: &str, reference: &str) -> u64 {
        self.send(json!({"type": "say", "text": text, "ref": reference}))
            .await
    }

    /// Closes the session at the next send base; returns the HTTP status.
    pub async fn close(&mut self) -> u16 {
        let base = self.base(Request::Close);
        self.http
            .post(format!("{base}/poll/close"))
            .header(SESSION, &self.session)
            .send()
            .await
            .expect("close")
            .status()
            .as_u16()
    }
}

impl Inbox for RoundRobinPoll {
    const PATIENCE: Duration = POLL_PATIENCE;

    /// The next frame of the last batch, polling the next base as needed.
    async fn arrival(&mut self) -> Value {
        loop {
            if let Some(frame) = self.received.pop() {
                return frame;
            }
            self.poll().await;
        }
    }
}
