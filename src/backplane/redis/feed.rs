//! The subscription thread of the Redis backplane: one thread per
//! backplane listens on the cluster's pub/sub channel, passes on the
//! entries of the rooms it watches, pings a quiet link to find a dead one,
//! and reconnects every [`RETRY_EVERY`] while Redis is away. It also owns
//! [`FeedState`], what this thread and the command path share (watched rooms,
//! the recipient, each link's health), and tells the recipient each change
//! of the degraded state once.
//!
//! It must not run commands or decide anything: it only reads what the
//! scripts published, and it leaves the command connection to `redis.rs`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use redis::{Client, RedisResult, Value};

use super::link::open;
use super::wire::decode_batch;
use super::{IO_TIMEOUT, RETRY_EVERY};
use crate::core::backplane::{LogFeed, Logged};
use crate::core::rules::room_name::RoomName;

/// How often the subscription thread wakes while nothing is published, to
/// notice that its backplane is gone.
const FEED_TICK: Duration = Duration::from_millis(250);
/// Silence after which the subscription pings Redis, to find a link that
/// died without closing (a partition rather than a crash).
const FEED_PING_AFTER: Duration = Duration::from_secs(3);

/// What the command path and the subscription thread share.
#[derive(Default)]
pub(super) struct FeedState {
    /// Rooms whose entries are passed on.
    pub(super) watched: Mutex<HashSet<RoomName>>,
    pub(super) deliver: Mutex<Option<LogFeed>>,
    pub(super) command_down: AtomicBool,
    pub(super) feed_down: AtomicBool,
    /// The degraded state last told, so each change is told once.
    told: Mutex<bool>,
    pub(super) feed_started: AtomicBool,
    /// How many times a link went down: a connection opened before the
    /// last outage may be dead without knowing it (the pipeline's).
    pub(super) outages: AtomicU64,
    /// Set when the backplane is dropped: the subscription thread ends.
    pub(super) stop: AtomicBool,
    /// The highest seq heard, on the channel or in the command path's
    /// answers: a join is numbered past it, so that the entries a member
    /// is sent keep increasing when it moves between rooms (seqs count
    /// per room).
    pub(super) high_water: AtomicU64,
    /// A reap is queued to the pipeline and not yet done.
    pub(super) reap_queued: AtomicBool,
    /// Lease renewals queued to the pipeline and not yet done.
    pub(super) renewals_queued: AtomicUsize,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FeedState {
    /// Records one link's state, telling the subscriber when that changes
    /// the whole.
    pub(super) fn set(&self, flag: &AtomicBool, down: bool) {
        if flag.swap(down, Ordering::SeqCst) != down {
            if down {
                self.outages.fetch_add(1, Ordering::SeqCst);
            }
            self.report();
        }
    }

    /// Tells the subscriber the degraded state if it changed since told.
    pub(super) fn report(&self) {
        let deliver = lock(&self.deliver);
        let Some(deliver) = deliver.as_ref() else {
            return;
        };
        let mut told = lock(&self.told);
        let now = !self.healthy();
        if *told != now {
            *told = now;
            deliver(Logged::Degraded(now));
        }
    }

    pub(super) fn healthy(&self) -> bool {
        !self.command_down.load(Ordering::SeqCst) && !self.feed_down.load(Ordering::SeqCst)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// The subscription thread: listens on `channel` until the backplane is
/// dropped, reconnecting every [`RETRY_EVERY`] while Redis is away, to
/// the next of `clients` each time (the nodes given for a cluster, any of
/// which hears every PUBLISH).
pub(super) fn run_feed(clients: &[Client], channel: &str, shared: &FeedState) {
    for client in clients.iter().cycle() {
        if shared.stopped() {
            return;
        }
        let Err(e) = listen(client, channel, shared) else {
            return;
        };
        if !shared.feed_down.load(Ordering::SeqCst) {
            log::warn!("redis backplane: subscription lost: {e}");
        }
        shared.set(&shared.feed_down, true);
        let until = Instant::now() + RETRY_EVERY;
        while Instant::now() < until && !shared.stopped() {
            thread::sleep(FEED_TICK.min(until.saturating_duration_since(Instant::now())));
        }
    }
}

/// One subscription, until it fails (an error) or the backplane is
/// dropped (`Ok`).
fn listen(client: &Client, channel: &str, shared: &FeedState) -> RedisResult<()> {
    let mut conn = open(client)?;
    let mut pubsub = conn.as_pubsub();
    pubsub.subscribe(channel)?;
    pubsub.set_read_timeout(Some(FEED_TICK))?;
    if shared.feed_down.load(Ordering::SeqCst) {
        log::info!("redis backplane: subscription back");
    }
    shared.set(&shared.feed_down, false);
    let mut heard = Instant::now();
    while !shared.stopped() {
        let message = match pubsub.get_message() {
            Ok(message) => message,
            Err(e) if e.is_timeout() => {
                if heard.elapsed() >= FEED_PING_AFTER {
                    pubsub.set_read_timeout(Some(IO_TIMEOUT))?;
                    pubsub.ping::<Value>()?;
                    pubsub.set_read_timeout(Some(FEED_TICK))?;
                    heard = Instant::now();
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        heard = Instant::now();
        let entries = message
            .get_payload::<String>()
            .map_err(|e| e.to_string())
            .and_then(|payload| decode_batch(&payload));
        let mut entries = match entries {
            Ok(entries) => entries,
            Err(e) => {
                log::error!("redis backplane: unreadable entries on {channel}: {e}");
                continue;
            }
        };
        if let Some(top) = entries.iter().map(|e| e.seq).max() {
            shared.high_water.fetch_max(top, Ordering::SeqCst);
        }
        {
            let watched = lock(&shared.watched);
            entries.retain(|entry| watched.contains(&entry.room));
        }
        if !entries.is_empty() {
            if let Some(deliver) = lock(&shared.deliver).as_ref() {
                deliver(Logged::Entries(entries));
            }
        }
    }
    Ok(())
}
