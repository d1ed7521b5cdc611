//! fanout: C clients in one room (or spread over `--rooms` rooms, client i
//! in room i mod rooms), S of them sending at R messages per second in
//! total. Each message carries its scheduled send time, and
//! latency is measured from that schedule, so a server (or a sender) that
//! falls behind shows up as latency instead of slowing the offered load (no
//! coordinated omission). Reports deliveries, loss, delivered per second,
//! latency percentiles, and the server's CPU per delivered message.
//! [`Room`] is also what `sweep.rs` runs its steps on.
//!
//! Against a cluster (`--url` repeated), the clients go to the instances in
//! turn and every sender to the first, so each message reaches the other
//! instances' receivers through the backplane; latency is then also
//! reported per instance, and CPU per server process.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::{login, nick};
use crate::adapters::{Env, Tx};
use crate::args::Args;
use crate::event::{instant_us, now_us, Event, Marker};
use crate::report::Report;
use crate::stats::{Snapshot, Usage};

/// The room every fanout client joins (with several rooms, its prefix).
const ROOM: &str = "fanout";

/// The room of client `index` when there are `rooms` of them.
fn room_of(index: usize, rooms: usize) -> String {
    if rooms <= 1 {
        ROOM.to_string()
    } else {
        format!("{ROOM}{}", index % rooms)
    }
}

/// How long a step waits, after its last send, for stragglers.
const DRAIN: Duration = Duration::from_secs(5);

/// What the receivers share: the step being counted, and per-receiver
/// latency histograms (microseconds), each locked by its receiver only
/// until the step is read.
struct Shared {
    step: AtomicU32,
    delivered: AtomicU64,
    /// Requests the server refused during the step (`error` frames).
    refused: AtomicU64,
    closed: AtomicUsize,
    latency: Vec<Mutex<Histogram<u64>>>,
}

/// C logged-in clients in one room (or several), receivers running.
pub struct Room {
    clients: usize,
    /// Clients in each room.
    members: Vec<usize>,
    /// The room of each sender, by position in `senders`.
    sender_rooms: Vec<usize>,
    echo: bool,
    /// Which URL each client connected to.
    url_of: Vec<usize>,
    urls: usize,
    senders: Vec<Option<Tx>>,
    shared: Arc<Shared>,
    receivers: Vec<JoinHandle<()>>,
}

/// One step's results.
#[derive(Debug, Clone)]
pub struct Step {
    /// Messages sent per second, offered.
    pub rate: f64,
    /// Messages sent.
    pub sent: u64,
    /// Deliveries expected (sent times recipients per message).
    pub expected: u64,
    /// Deliveries counted.
    pub delivered: u64,
    /// Messages the server refused (`error` frames to senders): their
    /// deliveries are among the lost.
    pub refused: u64,
    /// Latency percentiles and maximum, ms.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// Against several URLs: p50 and p99 of the receivers on each, ms.
    pub by_url: Vec<(f64, f64)>,
    /// Clients whose connection ended so far.
    pub closed: usize,
    /// Send errors.
    pub send_errors: u64,
    /// CPU and wall time from the first scheduled send to the last delivery.
    pub usage: Usage,
}

impl Step {
    /// Deliveries lost.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }

    /// Deliveries per second over the step.
    pub fn delivered_per_s(&self) -> f64 {
        self.delivered as f64 / self.usage.wall_s.max(1e-9)
    }

    /// Server CPU microseconds per delivery.
    pub fn server_us_per_delivery(&self) -> f64 {
        self.usage.server_cpu_s * 1e6 / self.delivered.max(1) as f64
    }

    /// Adds this step's results to `report`.
    pub fn add_to(&self, report: &mut Report, clients: usize) {
        report.add("clients", clients);
        report.num("rate_msgs_per_s", self.rate, 1);
        report.add("sent", self.sent);
        report.add("expected", self.expected);
        report.add("delivered", self.delivered);
        report.add("lost", self.lost());
        report.add("refused", self.refused);
        report.num("delivered_per_s", self.delivered_per_s(), 0);
        report.num("p50_ms", self.p50_ms, 2);
        report.num("p90_ms", self.p90_ms, 2);
        report.num("p99_ms", self.p99_ms, 2);
        report.num("max_ms", self.max_ms, 2);
        for (i, (p50, p99)) in self.by_url.iter().enumerate() {
            report.num(&format!("p50_ms_url{}", i + 1), *p50, 2);
            report.num(&format!("p99_ms_url{}", i + 1), *p99, 2);
        }
        report.num("server_cpu_pct", self.usage.server_cpu_pct(), 0);
        report.num(
            "server_cpu_us_per_delivery",
            self.server_us_per_delivery(),
            3,
        );
        if self.usage.server_cpu_each_s.len() > 1 {
            for (i, cpu_s) in self.usage.server_cpu_each_s.iter().enumerate() {
                let us = cpu_s * 1e6 / self.delivered.max(1) as f64;
                report.num(&format!("server_cpu_us_per_delivery_{}", i + 1), us, 3);
            }
        }
        report.num("gen_cpu_pct", self.usage.gen_cpu_pct(), 0);
        report.add("closed", self.closed);
        report.add("send_errors", self.send_errors);
    }
}

impl Room {
    /// Logs `clients` clients into one room (or `--rooms`); the first
    /// `senders` of those on the first URL send (with one URL: the first
    /// `senders`).
    pub async fn setup(env: Arc<Env>, args: &Args) -> io::Result<Room> {
        let clients = args.clients.max(1);
        let rooms = args.rooms.clamp(1, clients);
        let shared = Arc::new(Shared {
            step: AtomicU32::new(0),
            delivered: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            closed: AtomicUsize::new(0),
            latency: (0..clients)
                // unwrap: 1 µs to 10 min at 3 significant digits is a valid range.
                .map(|_| Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()))
                .collect(),
        });
        let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
        let logins: Vec<_> = (0..clients)
            .map(|i| {
                let (env, gate) = (env.clone(), gate.clone());
                tokio::spawn(async move {
                    let _permit = gate.acquire_owned().await;
                    login(&env, i, &nick(i), &room_of(i, rooms)).await
                })
            })
            .collect();
        let urls = env.urls.len();
        let url_of: Vec<usize> = (0..clients).map(|i| env.url_index(i)).collect();
        let mut senders = Vec::new();
        let mut sender_rooms = Vec::new();
        let mut members = vec![0; rooms];
        let mut receivers = Vec::new();
        for (i, joined) in logins.into_iter().enumerate() {
            let (rx, tx, _) = joined.await.map_err(io::Error::other)??;
            members[i % rooms] += 1;
            if is_sender(i, urls, args.senders) {
                senders.push(Some(tx));
                sender_rooms.push(i % rooms);
            }
            receivers.push(tokio::spawn(receive(rx, i, shared.clone())));
        }
        // Let the join notices drain before anything is measured.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(Room {
            clients,
            members,
            sender_rooms,
            echo: env.target.echoes_to_sender(),
            url_of,
            urls,
            senders,
            shared,
            receivers,
        })
    }

    /// Clients in the room.
    pub fn clients(&self) -> usize {
        self.clients
    }

    /// Recipients of one message, averaged over the senders (all the
    /// room's clients, or all but the sender where it gets no echo).
    pub fn recipients(&self) -> f64 {
        let senders = self.sender_rooms.len().max(1);
        let total: usize = (0..senders).map(|j| self.recipients_of(j)).sum();
        total as f64 / senders as f64
    }

    /// Recipients of a message from sender `j`.
    fn recipients_of(&self, j: usize) -> usize {
        let room = self.sender_rooms.get(j).copied().unwrap_or(0);
        let members = self.members[room];
        if self.echo {
            members
        } else {
            members - 1
        }
    }

    /// Sends at `rate` messages per second for `secs` and counts what
    /// arrives, marked as step `step`.
    pub async fn step(&mut self, step: u32, rate: f64, secs: f64, pids: &[u32]) -> Step {
        for histogram in &self.shared.latency {
            // unwrap: a receiver never panics while holding its lock.
            histogram.lock().unwrap().reset();
        }
        self.shared.delivered.store(0, Ordering::Relaxed);
        self.shared.refused.store(0, Ordering::Relaxed);
        self.shared.step.store(step, Ordering::Relaxed);
        let senders = self.senders.len();
        let per_sender = rate / senders as f64;
        let count = (secs * per_sender).round().max(1.0) as u32;
        let start = Instant::now() + Duration::from_millis(20);
        let before = Snapshot::take(pids);
        let tasks: Vec<_> = self
            .senders
            .iter_mut()
            .enumerate()
            .filter_map(|(j, slot)| Some((j, slot.take()?)))
            .map(|(j, mut tx)| {
                // Senders are staggered so the room sees an even stream.
                let offset = Duration::from_secs_f64(j as f64 / rate);
                let interval = Duration::from_secs_f64(1.0 / per_sender);
                tokio::spawn(async move {
                    let (mut sent, mut errors) = (0u64, 0u64);
                    for seq in 0..count {
                        let at = start + offset + interval * seq;
                        tokio::time::sleep_until(at.into()).await;
                        let marker = Marker {
                            step,
                            sender: j as u32,
                            seq,
                            sched_us: instant_us(at),
                        };
                        match tx.say(&marker.encode()).await {
                            Ok(()) => sent += 1,
                            Err(_) => errors += 1,
                        }
                    }
                    (j, tx, sent, errors)
                })
            })
            .collect();
        let (mut sent, mut send_errors, mut expected) = (0, 0, 0);
        for task in tasks {
            // unwrap: sender tasks do not panic.
            let (j, tx, s, e) = task.await.unwrap();
            self.senders[j] = Some(tx);
            sent += s;
            send_errors += e;
            expected += s * self.recipients_of(j) as u64;
        }
        let deadline = Instant::now() + DRAIN;
        while self.shared.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let after = Snapshot::take(pids);
        // unwrap: 1 µs to 10 min at 3 significant digits is a valid range.
        let empty = || Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
        let mut all = empty();
        let mut per_url: Vec<Histogram<u64>> = (0..self.urls).map(|_| empty()).collect();
        for (i, histogram) in self.shared.latency.iter().enumerate() {
            // unwrap: same bounds, so adding cannot fail; see above for lock.
            let histogram = histogram.lock().unwrap();
            all.add(&*histogram).unwrap();
            if self.urls > 1 {
                per_url[self.url_of[i]].add(&*histogram).unwrap();
            }
        }
        let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
        let by_url = if self.urls > 1 {
            let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            per_url.iter().map(|h| (ms(h, 0.5), ms(h, 0.99))).collect()
        } else {
            Vec::new()
        };
        Step {
            rate,
            sent,
            expected,
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            refused: self.shared.refused.load(Ordering::Relaxed),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            max_ms: all.max() as f64 / 1000.0,
            by_url,
            closed: self.shared.closed.load(Ordering::Relaxed),
            send_errors,
            usage: after.since(&before),
        }
    }

    /// Stops the receivers (the connections close as the halves drop).
    pub fn close(self) {
        for receiver in &self.receivers {
            receiver.abort();
        }
    }
}

/// Whether client `index` sends, with clients spread over `urls` URLs in
/// turn: the first `senders` clients of the first URL do (with one URL,
/// simply the first `senders`).
fn is_sender(index: usize, urls: usize, senders: usize) -> bool {
    index % urls == 0 && index / urls < senders.max(1)
}

/// Receiver `index`: counts this step's marked messages and records their
/// latency, a whole read's worth at a time.
async fn receive(mut rx: crate::adapters::Rx, index: usize, shared: Arc<Shared>) {
    let mut events = Vec::with_capacity(256);
    while rx.recv(&mut events).await.is_ok() {
        let now = now_us();
        let step = shared.step.load(Ordering::Relaxed);
        let mut counted = 0;
        let refused = events
            .iter()
            .filter(|e| matches!(e, Event::Refused))
            .count();
        if refused > 0 {
            shared.refused.fetch_add(refused as u64, Ordering::Relaxed);
        }
        {
            // unwrap: nothing panics while this lock is held.
            let mut histogram = shared.latency[index].lock().unwrap();
            for event in &events {
                if let Event::Message(Some(marker)) = event {
                    if marker.step == step {
                        histogram.saturating_record(now.saturating_sub(marker.sched_us).max(1));
                        counted += 1;
                    }
                }
            }
        }
        shared.delivered.fetch_add(counted, Ordering::Relaxed);
        events.clear();
    }
    shared.closed.fetch_add(1, Ordering::Relaxed);
}

/// Runs the scenario: one step at `--rate` for `--secs`.
pub async fn run(env: Arc<Env>, args: &Args, report: &mut Report) -> io::Result<()> {
    let mut room = Room::setup(env, args).await?;
    let step = room.step(1, args.rate, args.secs, &args.server_pids).await;
    step.add_to(report, room.clients());
    report.add("senders", args.senders);
    report.add("rooms", args.rooms.max(1));
    room.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{is_sender, room_of};

    #[test]
    fn with_as_many_senders_as_rooms_every_room_has_one() {
        let rooms: Vec<String> = (0..4)
            .filter(|&i| is_sender(i, 1, 4))
            .map(|i| room_of(i, 4))
            .collect();
        assert_eq!(rooms, ["fanout0", "fanout1", "fanout2", "fanout3"]);
        assert_eq!(room_of(7, 1), "fanout");
    }

    #[test]
    fn with_one_url_the_first_clients_send() {
        let chosen: Vec<usize> = (0..20).filter(|&i| is_sender(i, 1, 4)).collect();
        assert_eq!(chosen, [0, 1, 2, 3]);
    }

    #[test]
    fn with_two_urls_every_sender_is_on_the_first() {
        let chosen: Vec<usize> = (0..20).filter(|&i| is_sender(i, 2, 4)).collect();
        assert_eq!(chosen, [0, 2, 4, 6]);
    }
}
