//! The store's writer thread: the one owner of the redb file while the
//! server runs. It takes the batches the ChatRoom's decisions hand it, in
//! order, and groups them: whatever arrived while the previous commit was
//! syncing goes into the next one, so under load one fsync covers many
//! messages. Only once a commit is done does it pass the entries on (as
//! [`Logged::Entries`], through the feed the ChatRoom subscribed), which
//! is when they are applied, delivered and acknowledged.
//!
//! A failing commit (disk full, I/O error) is retried every
//! [`RETRY_EVERY`] with the same entries, reopening the file, while the
//! store says it is degraded ([`Logged::Degraded`]); nothing is dropped
//! and nothing is acknowledged before it is written. This file must not
//! decide anything: the decisions are the in-memory backplane's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use redb::Database;

use super::retention::{self, Swept};
use super::tables::{self, Batch, PollChange};
use crate::config::{Fsync, Retention};
use crate::core::backplane::{Entry, LogFeed, Logged};
use crate::core::rules::room_name::RoomName;

/// Least time between two attempts at a failed commit.
pub(super) const RETRY_EVERY: Duration = Duration::from_millis(500);
/// With `--fsync batch`, longest time a commit stays unsynced.
pub(super) const BATCH_SYNC: Duration = Duration::from_secs(1);
/// Most entries one commit takes, so that a backlog after a stall is
/// written in steps that each release their part.
pub(super) const MAX_GROUP: usize = 16_384;
/// A room's log is trimmed back to its tail after this many entries.
const TRIM_EVERY: u32 = 256;
/// How often the writer sweeps: expired polling sessions, and what
/// retention deletes in every room (a room that got [`TRIM_EVERY`]
/// entries is swept at once as well).
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Where committed entries go, and those committed before anyone listened.
#[derive(Default)]
pub(super) struct Feed {
    pub(super) to: Option<LogFeed>,
    pub(super) held: Vec<Entry>,
}

/// What the writer and the backplane share.
#[derive(Default)]
pub(super) struct Shared {
    pub(super) feed: Mutex<Feed>,
    /// The file as the writer has it open, for reads of older messages;
    /// `None` while it is closed after a failure (a read is then refused
    /// as degraded).
    pub(super) reader: Mutex<Option<Arc<Database>>>,
    /// The seq of the newest entry committed.
    pub(super) committed: Mutex<u64>,
    /// Signalled after every commit.
    pub(super) settled: Condvar,
    /// Set while commits fail.
    pub(super) failing: AtomicBool,
    /// The file's size, bytes, as of the last commit.
    pub(super) bytes: AtomicU64,
    /// Messages retention deleted since the start.
    pub(super) swept_messages: AtomicU64,
    /// Empty rooms deleted since the start.
    pub(super) swept_rooms: AtomicU64,
}

/// The lock, even if a thread panicked holding it: the values behind it
/// are a counter and a callback, valid at every step.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn send(&self, logged: Logged) {
        let mut feed = lock(&self.feed);
        match (&feed.to, logged) {
            (Some(to), logged) => to(logged),
            (None, Logged::Entries(entries)) => feed.held.extend(entries),
            // The store answers every say and join as it is made.
            (
                None,
                Logged::Degraded(_)
                | Logged::Answered { .. }
                | Logged::Refused { .. }
                | Logged::Opened { .. },
            ) => {}
        }
    }

    fn set_failing(&self, failing: bool) {
        if self.failing.swap(failing, Ordering::SeqCst) != failing {
            self.send(Logged::Degraded(failing));
        }
    }
}

/// The writer's state.
pub(super) struct Writer {
    pub(super) db: Option<Arc<Database>>,
    pub(super) path: PathBuf,
    pub(super) fsync: Fsync,
    pub(super) log_cap: usize,
    pub(super) shared: Arc<Shared>,
    retention: Retention,
    /// Entries per room since its log was last trimmed.
    since_trim: HashMap<RoomName, u32>,
    /// Committed but not yet synced (`--fsync batch` and `never`).
    dirty: bool,
    last_sync: Instant,
    last_sweep: Instant,
}

impl Writer {
    /// A writer over the open `db` at `path`.
    pub(super) fn new(
        db: Arc<Database>,
        path: PathBuf,
        fsync: Fsync,
        log_cap: usize,
        retention: Retention,
        shared: Arc<Shared>,
    ) -> Self {
        *lock(&shared.reader) = Some(db.clone());
        let writer = Writer {
            db: Some(db),
            path,
            fsync,
            log_cap,
            shared,
            retention,
            since_trim: HashMap::new(),
            dirty: false,
            last_sync: Instant::now(),
            last_sweep: Instant::now(),
        };
        writer.note_size();
        writer
    }

    /// Sweeps every room (and expired polling sessions) once a
    /// [`SWEEP_EVERY`].
    fn sweep_if_due(&mut self) {
        if self.last_sweep.elapsed() < SWEEP_EVERY {
            return;
        }
        self.last_sweep = Instant::now();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let Some(db) = &self.db else { return };
        if let Err(e) = tables::expire_polls(db, now) {
            log::warn!("store: deleting expired polling sessions failed: {e}");
        }
        match retention::sweep(db, &self.retention, now, None) {
            Ok(swept) => self.count(swept),
            Err(e) => log::warn!("store: the retention sweep failed: {e}"),
        }
        self.note_size();
    }

    fn count(&self, swept: Swept) {
        self.shared
            .swept_messages
            .fetch_add(swept.messages, Ordering::Relaxed);
        self.shared
            .swept_rooms
            .fetch_add(swept.rooms, Ordering::Relaxed);
    }

    /// Notes the file's size for `/metrics`.
    fn note_size(&self) {
        if let Ok(meta) = std::fs::metadata(&self.path) {
            self.shared.bytes.store(meta.len(), Ordering::Relaxed);
        }
    }

    /// Runs until every sender is gone, then syncs what is unsynced.
    pub(super) fn run(mut self, batches: Receiver<Batch>) {
        let mut next: Option<Batch> = None;
        loop {
            let first = match next.take() {
                Some(batch) => batch,
                None => match batches.recv_timeout(BATCH_SYNC) {
                    Ok(batch) => batch,
                    Err(RecvTimeoutError::Timeout) => {
                        // Unsynced commits: polling sessions (any mode),
                        // or everything with `batch`.
                        if self.dirty && self.fsync != Fsync::Never {
                            self.with_retries(tables::sync);
                            self.dirty = false;
                            self.last_sync = Instant::now();
                        }
                        self.sweep_if_due();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
            };
            let mut group = first;
            // Everything that arrived meanwhile goes into this commit,
            // unless a room changed incarnation between (its old rows must
            // go first, in a commit of their own).
            while group.entries.len() < MAX_GROUP {
                let Ok(more) = batches.try_recv() else { break };
                let clash = more
                    .epochs
                    .iter()
                    .any(|(room, epoch)| group.epochs.get(room).is_some_and(|e| e != epoch));
                if clash {
                    next = Some(more);
                    break;
                }
                group.entries.extend(more.entries);
                group.epochs.extend(more.epochs);
                group.polls.extend(more.polls);
            }
            self.write(group);
        }
        if self.dirty {
            if let Some(db) = &self.db {
                if let Err(e) = tables::sync(db) {
                    log::error!("store: the last sync at stop failed: {e}");
                }
            }
        }
    }

    fn write(&mut self, group: Batch) {
        let durable = match self.fsync {
            // A renewed polling session needs no sync of its own: it is
            // synced with the next entries, or within a second. A new one
            // is, so that a crash does not end it.
            Fsync::Always => {
                !group.entries.is_empty()
                    || group
                        .polls
                        .iter()
                        .any(|p| matches!(p, PollChange::Open(..)))
            }
            Fsync::Batch => self.last_sync.elapsed() >= BATCH_SYNC,
            Fsync::Never => false,
        };
        self.with_retries(|db| tables::commit(db, &group, durable));
        if durable {
            self.last_sync = Instant::now();
            self.dirty = false;
        } else {
            self.dirty = true;
        }
        self.sweep_if_due();
        self.note_size();
        let Some(last) = group.entries.last().map(|e| e.seq) else {
            return;
        };
        for entry in &group.entries {
            *self.since_trim.entry(entry.room.clone()).or_default() += 1;
        }
        let due: Vec<RoomName> = self
            .since_trim
            .iter()
            .filter(|(_, n)| **n >= TRIM_EVERY)
            .map(|(room, _)| room.clone())
            .collect();
        for room in due {
            self.since_trim.remove(&room);
            if let Some(db) = &self.db {
                if let Err(e) = tables::trim_log(db, &room, self.log_cap) {
                    log::warn!("store: trimming the log of {room} failed: {e}");
                }
                if self.retention.messages.is_some() {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64);
                    match retention::sweep(db, &self.retention, now, Some(room.as_str())) {
                        Ok(swept) => {
                            self.shared
                                .swept_messages
                                .fetch_add(swept.messages, Ordering::Relaxed);
                        }
                        Err(e) => log::warn!("store: the retention sweep of {room} failed: {e}"),
                    }
                }
            }
        }
        // Fed before the count moves, so whoever waited for the count
        // finds the entries already posted.
        self.shared.send(Logged::Entries(group.entries));
        *lock(&self.shared.committed) = last;
        self.shared.settled.notify_all();
    }

    /// Runs `step` until it succeeds, reopening the file between tries and
    /// saying the store is degraded while it fails.
    fn with_retries(&mut self, mut step: impl FnMut(&Database) -> Result<(), tables::Failure>) {
        loop {
            if self.db.is_none() {
                match tables::open(&self.path) {
                    Ok(db) => {
                        let db = Arc::new(db);
                        *lock(&self.shared.reader) = Some(db.clone());
                        self.db = Some(db);
                    }
                    Err(e) => {
                        log::error!("store: cannot reopen {}: {e}", self.path.display());
                        thread::sleep(RETRY_EVERY);
                        continue;
                    }
                }
            }
            // unwrap: opened just above when missing.
            let db = self.db.as_ref().unwrap();
            match step(db) {
                Ok(()) => {
                    if self.shared.failing.load(Ordering::SeqCst) {
                        log::warn!("store: {} is written again", self.path.display());
                    }
                    self.shared.set_failing(false);
                    return;
                }
                Err(e) => {
                    if !self.shared.failing.load(Ordering::SeqCst) {
                        log::error!(
                            "store: writing {} failed, the chat is degraded: {e}",
                            self.path.display()
                        );
                    }
                    self.shared.set_failing(true);
                    // After an I/O error redb wants the file reopened.
                    *lock(&self.shared.reader) = None;
                    self.db = None;
                    thread::sleep(RETRY_EVERY);
                }
            }
        }
    }
}
