//! Two users who chat through an attack: one on a WebSocket (from
//! 127.0.0.2), one long-polling (from 127.0.0.1), in the attacked room.
//! Each runs in a task of its own that reads all the time: it says a line,
//! reads until the line's `ack` (waiting `retry_ms` and saying it again if
//! the room's budget refused it), and reads on between lines. When the
//! attack is over, [`Bystanders::finish`] stops them, lets each read until
//! it has every line the other had acknowledged, and asserts what the
//! protocol promises (docs/PROTOCOL.md section 8): each saw the room's
//! message ids one by one with none missing or repeated, so every line the
//! other had acknowledged reached it, in order.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpSocket;
use tokio::task::JoinHandle;
use tokio_tungstenite::MaybeTlsStream;

use super::inbox::Inbox;
use super::poll::PollClient;
use super::ws::Client;

/// Lines each says before it may stop, so that the chat spans the attack
/// even when the attack is quick.
const MIN_LINES: u64 = 3;

/// The pause between a bystander's lines: a pace, not a deadline. It keeps
/// them within the default per-user rate.
const PACE: Duration = Duration::from_millis(150);

/// What one bystander did and saw.
struct Log<C> {
    client: C,
    name: &'static str,
    /// The room's newest id when it joined.
    start: u64,
    /// Every message id it received, in order.
    seen: Vec<u64>,
    /// The ids of its own lines, as acknowledged.
    acked: Vec<u64>,
    /// Refusals by the room's or its own budget (then said again).
    refused: u64,
}

impl<C: Chat> Log<C> {
    /// Takes one frame: a message's id is recorded, and anything but the
    /// chat's ordinary traffic fails the test.
    fn take(&mut self, frame: &Value) {
        match frame["type"].as_str() {
            Some("message") => self.seen.push(frame["id"].as_u64().expect("an id")),
            Some("joined" | "left" | "presence" | "renamed" | "typing" | "ack" | "error") => {}
            _ => panic!("{}: unexpected {frame}", self.name),
        }
    }

    /// Reads frames for `pause` (or a little longer: see
    /// [`Chat::read_until`]).
    async fn read_for(&mut self, pause: Duration) {
        let until = tokio::time::Instant::now() + pause;
        while tokio::time::Instant::now() < until {
            for frame in self.client.read_until(until).await {
                self.take(&frame);
            }
        }
    }

    /// Reads until it has seen `ids`.
    async fn read_until(&mut self, ids: &BTreeSet<u64>) {
        while !ids.iter().all(|id| self.seen.contains(id)) {
            let frame = self.client.next().await;
            self.take(&frame);
        }
    }

    /// Checks that ids came one by one from just after the join.
    fn assert_in_order(&self) {
        for (i, id) in self.seen.iter().enumerate() {
            assert_eq!(
                *id,
                self.start + 1 + i as u64,
                "{} saw ids {:?} from {}",
                self.name,
                self.seen,
                self.start
            );
        }
    }
}

/// What each transport does its own way.
trait Chat: Inbox {
    /// Sends a `say`.
    async fn say(&mut self, line: &Value);

    /// The frames that arrive until `until`, or a little after it.
    async fn read_until(&mut self, until: tokio::time::Instant) -> Vec<Value>;
}

impl Chat for Client {
    async fn say(&mut self, line: &Value) {
        self.send(line.clone()).await;
    }

    /// A WebSocket read can be given up at any moment and lose nothing.
    async fn read_until(&mut self, until: tokio::time::Instant) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Ok(frame) = tokio::time::timeout_at(until, self.next()).await {
            frames.push(frame);
        }
        frames
    }
}

impl Chat for PollClient {
    async fn say(&mut self, line: &Value) {
        let response = self.send(line.clone()).await;
        assert_eq!(response.status(), 200, "a bystander's send");
    }

    /// A poll is not given up half-way: a poll dropped while the server
    /// holds it, and the next one at the same cursor, would each count as a
    /// poll that acknowledges nothing, and past five a second the server
    /// answers 429 (docs/PROTOCOL.md 2.3.4). So this takes the frames
    /// already received, or makes one whole poll, which comes back with the
    /// next frames or after `--poll-wait-secs`.
    async fn read_until(&mut self, _until: tokio::time::Instant) -> Vec<Value> {
        let mut frames = Vec::new();
        if self.received.is_empty() {
            self.poll().await;
        }
        while let Some(frame) = self.received.pop_if_any() {
            frames.push(frame);
        }
        frames
    }
}

/// Chats until `stop`: a line, its ack, a pause; returns the log.
async fn chat<C: Chat>(mut log: Log<C>, stop: Arc<AtomicBool>) -> Log<C> {
    let mut n = 0u64;
    while n < MIN_LINES || !stop.load(Ordering::Relaxed) {
        n += 1;
        let reference = format!("{}{n}", log.name);
        let line =
            json!({"type": "say", "text": format!("{} line {n}", log.name), "ref": reference});
        log.client.say(&line).await;
        loop {
            let frame = log.client.next().await;
            log.take(&frame);
            if frame["ref"] != reference.as_str() {
                continue;
            }
            if frame["type"] == "ack" {
                log.acked
                    .push(frame["id"].as_u64().expect("an ack names its id"));
                break;
            }
            assert_eq!(
                frame["code"], "rate_limited",
                "{}: a bystander's line refused: {frame}",
                log.name
            );
            log.refused += 1;
            let wait = frame["retry_ms"].as_u64().expect("retry_ms");
            log.read_for(Duration::from_millis(wait + 5)).await;
            log.client.say(&line).await;
        }
        log.read_for(PACE).await;
    }
    log
}

/// The two bystanders, chatting.
pub struct Bystanders {
    stop: Arc<AtomicBool>,
    ws: JoinHandle<Log<Client>>,
    poll: JoinHandle<Log<PollClient>>,
}

impl Bystanders {
    /// Joins both to `room` of the server at `port` and starts them.
    pub async fn start(port: u16, room: &str) -> Bystanders {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket
            .bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 0)))
            .expect("bind 127.0.0.2");
        let stream = socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .expect("connects");
        let url = format!("ws://127.0.0.1:{port}/ws");
        let (socket, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
            .await
            .expect("the bystander's upgrade");
        let mut ws = Client::from_socket(socket);
        ws.send(json!({"type": "join", "nick": "Wendy", "room": room}))
            .await;
        let welcome = ws.expect("welcome").await;
        let ws = Log {
            client: ws,
            name: "Wendy",
            start: welcome["cursor"].as_u64().expect("a cursor"),
            seen: Vec::new(),
            acked: Vec::new(),
            refused: 0,
        };
        let base = format!("http://127.0.0.1:{port}");
        let (poll, welcome) = PollClient::open(&base, "Paul", room).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        let poll = Log {
            client: poll,
            name: "Paul",
            start: welcome["cursor"].as_u64().expect("a cursor"),
            seen: Vec::new(),
            acked: Vec::new(),
            refused: 0,
        };
        let stop = Arc::new(AtomicBool::new(false));
        Bystanders {
            ws: tokio::spawn(chat(ws, stop.clone())),
            poll: tokio::spawn(chat(poll, stop.clone())),
            stop,
        }
    }

    /// Stops them and asserts that each received every line the other had
    /// acknowledged, in order, and every message of the room since it
    /// joined, one id after another. Returns the ids both acknowledged.
    pub async fn finish(self) -> BTreeSet<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let mut ws = self.ws.await.expect("the WebSocket bystander chatted");
        let mut poll = self.poll.await.expect("the polling bystander chatted");
        let ws_acked: BTreeSet<u64> = ws.acked.iter().copied().collect();
        let poll_acked: BTreeSet<u64> = poll.acked.iter().copied().collect();
        ws.read_until(&poll_acked).await;
        poll.read_until(&ws_acked).await;
        ws.assert_in_order();
        poll.assert_in_order();
        // The two started at different ids: compare what both were there for.
        let from = ws.start.max(poll.start);
        let both =
            |seen: &[u64]| -> Vec<u64> { seen.iter().copied().filter(|id| *id > from).collect() };
        let (a, b) = (both(&ws.seen), both(&poll.seen));
        let common = a.len().min(b.len());
        assert_eq!(a[..common], b[..common], "the two saw one order");
        assert!(ws.acked.len() as u64 >= MIN_LINES && poll.acked.len() as u64 >= MIN_LINES);
        ws_acked.union(&poll_acked).copied().collect()
    }
}
