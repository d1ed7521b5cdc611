//! One simulated user of the soak, for its whole run: it joins a room,
//! says a few messages one at a time (each acknowledged before the next, at
//! about one a second, within the default per-user and per-room limits),
//! renames now and then, and ends each visit one of four ways: its
//! connection dropped with a message in flight, a takeover by a new
//! connection while the old one is still open, a `leave` and a fresh join
//! elsewhere, or a polite close; every way but the leave comes back with
//! `resume`, `since` and `epoch` (docs/PROTOCOL.md section 7).
//!
//! It checks what it receives against the protocol's promises: message ids
//! on a live connection go up by exactly one, a resume's `welcome` replays
//! exactly the ids after `since` (no gap while the room keeps them, which
//! the soak's rates guarantee), every `ack` names the id its `message` had,
//! a message in flight at a drop is acknowledged after the resume, and a
//! taken-over connection ends with 4001. Anything else counts as an error.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::client::{Client, Incoming, Transport};
use super::{Counts, Rng};
use crate::adapters::Env;

/// Longest wait for any one answer before the visit is given up (and
/// counted as an error): a hang guard, not a latency bound.
const ANSWER: Duration = Duration::from_secs(20);

/// What the user keeps between visits (docs/PROTOCOL.md 7.1).
struct Place {
    room: String,
    nick: String,
    token: Option<String>,
    epoch: Option<String>,
    last_id: u64,
}

/// How the next visit starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// A join without `since` (the first one, or after a `leave`).
    Fresh,
    /// A join with `resume`, `since` and `epoch`.
    Resume,
}

/// Why a visit ended early.
struct Ended(String);

/// One user.
pub struct Worker {
    /// Its client index (source address, nickname).
    pub index: usize,
    /// Its transport, fixed for the run.
    pub transport: Transport,
    /// Shared client state.
    pub env: Arc<Env>,
    /// The run's counters.
    pub counts: Arc<Counts>,
    /// Its own random sequence.
    pub rng: Rng,
    /// When to stop starting visits.
    pub deadline: Instant,
    /// Rooms to choose from.
    pub rooms: usize,
}

impl Worker {
    /// Visits until the deadline.
    pub async fn run(mut self) {
        let mut place = Place {
            room: room_name(self.index % self.rooms),
            nick: format!("s{}", self.index),
            token: None,
            epoch: None,
            last_id: 0,
        };
        let mut arrival = Arrival::Fresh;
        let mut pending: Option<(String, String)> = None;
        let mut ghost: Option<Client> = None;
        let mut seq = 0u64;
        let mut renames = 0u32;
        while Instant::now() < self.deadline {
            let mut client = match self.arrive(&mut place, arrival).await {
                Ok(client) => client,
                Err(Ended(why)) => {
                    self.counts
                        .error(&format!("client {}: join: {why}", self.index));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            self.gauge(1);
            if let Some(old) = ghost.take() {
                self.taken_over(old).await;
            }
            let visit = self.visit(
                &mut client,
                &mut place,
                &mut pending,
                &mut seq,
                &mut renames,
            );
            if let Err(Ended(why)) = visit.await {
                self.counts
                    .error(&format!("client {}: visit: {why}", self.index));
                self.gauge(-1);
                arrival = Arrival::Resume;
                continue;
            }
            arrival = Arrival::Resume;
            match self.rng.below(100) {
                0..=34 => {
                    // Dropped with a message in flight: resent after the
                    // resume, where it must be acknowledged once.
                    seq += 1;
                    let (reference, text) = self.line(seq);
                    let say = json!({"type": "say", "text": text, "ref": reference});
                    if client.send(&say).await.is_ok() {
                        pending = Some((reference, text));
                    }
                    client.abandon();
                }
                35..=54 => ghost = Some(client),
                55..=79 => {
                    if self.leave(&mut client, &mut place).await.is_ok() {
                        self.counts.leaves.fetch_add(1, Ordering::Relaxed);
                        place.room = room_name(self.rng.below(self.rooms as u64) as usize);
                        place.token = None;
                        arrival = Arrival::Fresh;
                    }
                    client.close().await;
                }
                _ => client.close().await,
            }
            if ghost.is_none() {
                self.gauge(-1);
            }
        }
        if let Some(old) = ghost {
            old.close().await;
            self.gauge(-1);
        }
    }

    /// Moves the open-connection gauge of this worker's transport.
    fn gauge(&self, by: i64) {
        let gauge = match self.transport {
            Transport::Ws => &self.counts.ws_open,
            Transport::Poll => &self.counts.poll_open,
        };
        gauge.fetch_add(by, Ordering::Relaxed);
    }

    /// A message's ref and text.
    fn line(&self, seq: u64) -> (String, String) {
        (
            format!("c{}-{seq}", self.index),
            format!("soak {} says {seq}", self.index),
        )
    }

    /// Connects, joins and checks the `welcome`; retries a join refused for
    /// a reason that passes (the old connection not gone yet, a limit).
    async fn arrive(&mut self, place: &mut Place, arrival: Arrival) -> Result<Client, Ended> {
        for _attempt in 0..10 {
            let mut join = json!({"type": "join", "nick": place.nick, "room": place.room});
            if arrival == Arrival::Resume {
                join["since"] = json!(place.last_id);
                if let Some(epoch) = &place.epoch {
                    join["epoch"] = json!(epoch);
                }
                if let Some(token) = &place.token {
                    join["resume"] = json!(token);
                }
            }
            let mut client = Client::open(&self.env, self.index, self.transport, &join)
                .await
                .map_err(|e| Ended(e.to_string()))?;
            let first = loop {
                match client.next(ANSWER).await {
                    Some(Incoming::Frame(frame)) if frame["type"] == "welcome" => break frame,
                    Some(Incoming::Frame(frame)) if frame["type"] == "error" => {
                        let code = frame["code"].as_str().unwrap_or_default().to_string();
                        if code != "nick_taken" && code != "rate_limited" {
                            return Err(Ended(format!("join refused: {frame}")));
                        }
                        break frame;
                    }
                    Some(Incoming::Frame(_)) => continue,
                    Some(Incoming::End(why)) => return Err(Ended(format!("ended: {why}"))),
                    None => return Err(Ended("no welcome".into())),
                }
            };
            if first["type"] == "error" {
                self.counts.join_retries.fetch_add(1, Ordering::Relaxed);
                client.close().await;
                let wait = first["retry_ms"].as_u64().unwrap_or(300).max(100);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                continue;
            }
            self.welcomed(place, arrival, &first);
            return Ok(client);
        }
        Err(Ended("join refused ten times".into()))
    }

    /// Checks a `welcome` against the place the user kept, and takes it.
    fn welcomed(&mut self, place: &mut Place, arrival: Arrival, welcome: &Value) {
        let counts = &self.counts;
        counts.joins.fetch_add(1, Ordering::Relaxed);
        let epoch = welcome["epoch"].as_str().map(str::to_string);
        let cursor = welcome["cursor"].as_u64().unwrap_or(0);
        let ids: Vec<u64> = welcome["history"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_u64())
            .collect();
        if arrival == Arrival::Resume && epoch.is_some() && epoch == place.epoch {
            counts.resumes.fetch_add(1, Ordering::Relaxed);
            let expected: Vec<u64> = (place.last_id + 1..=cursor).collect();
            if welcome["gap"] != false || ids != expected {
                counts.gaps.fetch_add(1, Ordering::Relaxed);
                counts.error(&format!(
                    "client {}: resume since {} replayed {ids:?} to cursor {cursor}, gap {}",
                    self.index, place.last_id, welcome["gap"]
                ));
            }
            counts
                .delivered
                .fetch_add(ids.len() as u64, Ordering::Relaxed);
        } else if arrival == Arrival::Resume && place.epoch.is_some() {
            counts.error(&format!(
                "client {}: the room's epoch changed under a resume",
                self.index
            ));
        }
        place.last_id = cursor;
        place.epoch = epoch;
        place.nick = welcome["nick"].as_str().unwrap_or(&place.nick).to_string();
        place.token = welcome["session"].as_str().map(str::to_string);
    }

    /// A visit: the message left in flight last time, then a few more,
    /// now and then a rename.
    async fn visit(
        &mut self,
        client: &mut Client,
        place: &mut Place,
        pending: &mut Option<(String, String)>,
        seq: &mut u64,
        renames: &mut u32,
    ) -> Result<(), Ended> {
        if let Some((reference, text)) = pending.clone() {
            self.say(client, place, &reference, &text).await?;
            self.counts.resent.fetch_add(1, Ordering::Relaxed);
            *pending = None;
        }
        let messages = 5 + self.rng.below(25);
        for _ in 0..messages {
            if Instant::now() >= self.deadline {
                break;
            }
            let pause = Duration::from_millis(300 + self.rng.below(2200));
            self.idle(client, place, pause).await?;
            if self.rng.below(15) == 0 {
                *renames += 1;
                let nick = format!("s{}r{renames}", self.index);
                self.rename(client, place, nick).await?;
            }
            *seq += 1;
            let (reference, text) = self.line(*seq);
            *pending = Some((reference.clone(), text.clone()));
            self.say(client, place, &reference, &text).await?;
            *pending = None;
        }
        Ok(())
    }

    /// Reads and checks what arrives for `pause`.
    async fn idle(
        &mut self,
        client: &mut Client,
        place: &mut Place,
        pause: Duration,
    ) -> Result<(), Ended> {
        let until = Instant::now() + pause;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            if let Some(frame) = self.receive(client, place, left).await? {
                if frame["type"] != "message" {
                    self.unexpected(&frame);
                }
            }
        }
    }

    /// The next frame within `wait`; a message is taken into the place's
    /// cursor (and checked) before it is returned.
    async fn receive(
        &mut self,
        client: &mut Client,
        place: &mut Place,
        wait: Duration,
    ) -> Result<Option<Value>, Ended> {
        match client.next(wait).await {
            None => Ok(None),
            Some(Incoming::End(why)) => Err(Ended(format!("connection ended: {why}"))),
            Some(Incoming::Frame(frame)) => {
                if frame["type"] == "message" {
                    self.message(place, &frame);
                }
                Ok(Some(frame))
            }
        }
    }

    /// Takes a message into the place's cursor; a jump or a repeat is an
    /// error (docs/PROTOCOL.md section 8, item 4).
    fn message(&self, place: &mut Place, frame: &Value) {
        let id = frame["id"].as_u64().unwrap_or(0);
        if id != place.last_id + 1 {
            self.counts.gaps.fetch_add(1, Ordering::Relaxed);
            self.counts.error(&format!(
                "client {}: message {id} after {} in {}",
                self.index, place.last_id, place.room
            ));
        }
        self.counts.delivered.fetch_add(1, Ordering::Relaxed);
        place.last_id = place.last_id.max(id);
    }

    /// Frames nobody waits for: presence, typing, others' renames are
    /// fine; an error is not.
    fn unexpected(&self, frame: &Value) {
        if frame["type"] == "error" || frame["type"] == "welcome" {
            self.counts
                .error(&format!("client {}: unexpected {frame}", self.index));
        }
    }

    /// Says `text` under `reference` and waits for its `ack`, waiting and
    /// resending when the room or the bucket is full. The ack must name the
    /// id of the message seen for it, if one was.
    async fn say(
        &mut self,
        client: &mut Client,
        place: &mut Place,
        reference: &str,
        text: &str,
    ) -> Result<(), Ended> {
        let say = json!({"type": "say", "text": text, "ref": reference});
        client.send(&say).await.map_err(|e| Ended(e.to_string()))?;
        self.counts.said.fetch_add(1, Ordering::Relaxed);
        let mut seen = None;
        loop {
            let Some(frame) = self.receive(client, place, ANSWER).await? else {
                return Err(self.late_answer(client, place, reference).await);
            };
            match frame["type"].as_str() {
                Some("message") => {
                    if frame["nick"] == place.nick.as_str() && frame["text"] == text {
                        seen = frame["id"].as_u64();
                    }
                }
                Some("ack") if frame["ref"] == reference => {
                    let id = frame["id"].as_u64();
                    if seen.is_some() && seen != id {
                        self.counts.error(&format!(
                            "client {}: ack {frame} for message {seen:?}",
                            self.index
                        ));
                    }
                    self.counts.acked.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Some("error") if frame["ref"] == reference && frame["code"] == "rate_limited" => {
                    self.counts.rate_limited.fetch_add(1, Ordering::Relaxed);
                    let wait = frame["retry_ms"].as_u64().unwrap_or(100);
                    self.idle(client, place, Duration::from_millis(wait + 10))
                        .await?;
                    client.send(&say).await.map_err(|e| Ended(e.to_string()))?;
                }
                _ => self.unexpected(&frame),
            }
        }
    }

    /// After no answer within [`ANSWER`]: waits as long again, to tell an
    /// answer that comes late (such as after a long poll's full wait) from
    /// one that never comes; either way the visit ends with an error.
    async fn late_answer(
        &mut self,
        client: &mut Client,
        place: &mut Place,
        reference: &str,
    ) -> Ended {
        let asked = Instant::now();
        loop {
            match self.receive(client, place, ANSWER).await {
                Ok(Some(frame)) if frame["ref"] == reference => {
                    return Ended(format!(
                        "the answer to {reference} came {:.1} s late: {frame}",
                        ANSWER.as_secs_f64() + asked.elapsed().as_secs_f64()
                    ));
                }
                Ok(Some(_)) => {}
                Ok(None) => return Ended(format!("no answer to {reference}")),
                // Whether the connection went on matters to the cause.
                Err(Ended(why)) => return Ended(format!("no answer to {reference}, then {why}")),
            }
        }
    }

    /// Renames and waits for the `renamed` about itself.
    async fn rename(
        &mut self,
        client: &mut Client,
        place: &mut Place,
        nick: String,
    ) -> Result<(), Ended> {
        client
            .send(&json!({"type": "nick", "nick": nick}))
            .await
            .map_err(|e| Ended(e.to_string()))?;
        loop {
            let Some(frame) = self.receive(client, place, ANSWER).await? else {
                return Err(Ended("no answer to a rename".into()));
            };
            match frame["type"].as_str() {
                Some("message") => {}
                Some("renamed") if frame["old"] == place.nick.as_str() => {
                    place.nick = nick;
                    self.counts.renames.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                _ => self.unexpected(&frame),
            }
        }
    }

    /// Sends `leave` and waits for `left_room`.
    async fn leave(&mut self, client: &mut Client, place: &mut Place) -> Result<(), Ended> {
        client
            .send(&json!({"type": "leave"}))
            .await
            .map_err(|e| Ended(e.to_string()))?;
        loop {
            let Some(frame) = self.receive(client, place, ANSWER).await? else {
                return Err(Ended("no answer to a leave".into()));
            };
            if frame["type"] == "left_room" {
                return Ok(());
            }
        }
    }

    /// The connection a resume took over must end with 4001.
    async fn taken_over(&self, mut old: Client) {
        loop {
            match old.next(ANSWER).await {
                Some(Incoming::Frame(_)) => continue,
                Some(Incoming::End(why)) if why.ends_with("4001") => {
                    self.counts.takeovers.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Some(Incoming::End(why)) => {
                    self.counts.error(&format!(
                        "client {}: a taken-over connection ended with {why}",
                        self.index
                    ));
                    break;
                }
                None => {
                    self.counts.error(&format!(
                        "client {}: a taken-over connection stayed open",
                        self.index
                    ));
                    break;
                }
            }
        }
        self.gauge(-1);
    }
}

/// The name of room `i`.
pub fn room_name(i: usize) -> String {
    format!("soak{i}")
}
