//! The embedded store: a single instance's backplane that keeps every
//! room's messages, ids and epoch in a redb file under `--data-dir`, so a
//! restart or a crash loses no acknowledged message and clients resume
//! with their cursors as if nothing happened.
//!
//! Decisions are the in-memory backplane's, unchanged: [`StoreBackplane`]
//! wraps a [`MemoryBackplane`] (restored from the file at start) and hands
//! every entry it writes to the writer thread (`store/writer.rs`), which
//! commits them in groups. A call answers with no entries; they come back
//! through the feed once committed, as entries from other instances do on
//! Redis, and only then does the ChatRoom apply, deliver and acknowledge
//! them. The two reads that could show an entry not yet on disk (a
//! snapshot, and the id of a resent message) first wait for the writer to
//! catch up ([`StoreBackplane::settle`]). The tables are `store/tables.rs`'s.
//!
//! Who holds which nickname in which room is kept too: after a restart
//! each member holds its place for one grace period (`--lease-secs`), so a
//! client that resumes within it is back unseen. Polling sessions are kept
//! as well, so a polling client goes on with its session: a new session is
//! synced (with `--fsync always`), and a session's expiry is written again
//! only once half its lease has passed, not on every poll.

mod export;
mod paging;
mod retention;
mod tables;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use redb::DatabaseError;

pub(crate) use self::export::read_room;
pub(crate) use self::retention::Swept;
use self::tables::{Batch, PollChange};
use self::writer::{lock, Shared, Writer};
use crate::config::{Fsync, Retention};
use crate::core::backplane::memory::MemoryBackplane;
use crate::core::backplane::{
    Backplane, Entry, JoinRequest, LeftWhy, LogFeed, Logged, Page, PollRecord, Refusal,
    ResumeToken, Said, Snapshot, StoreStats, LOG_TAIL,
};
use crate::core::limits::Limits;
use crate::core::rules::nickname::Nickname;
use crate::core::rules::room_name::RoomName;

/// The file in the data directory.
pub(crate) const FILE_NAME: &str = "parley.redb";
/// Batches the writer may have waiting; past it a decision waits for the
/// disk (the ChatRoom slows down rather than memory growing).
const QUEUE: usize = 4_096;
/// Longest wait for the writer before a read that needs it is refused as
/// degraded.
const SETTLE_PATIENCE: Duration = Duration::from_secs(5);
/// Longest wait at a stop for the writer to commit and sync what it holds
/// (it may be stuck retrying a failing disk).
const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// The embedded store's backplane.
pub(crate) struct StoreBackplane {
    memory: MemoryBackplane,
    /// `None` once dropping.
    to_writer: Option<SyncSender<Batch>>,
    writer: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    /// The seq of the newest entry handed to the writer.
    decided: u64,
    /// Each polling session kept, with the expiry the file holds for it.
    kept_polls: HashMap<String, u64>,
}

impl std::fmt::Debug for StoreBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBackplane")
            .field("decided", &self.decided)
            .field("committed", &*lock(&self.shared.committed))
            .finish()
    }
}

/// What opening the store found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opened {
    /// Rooms restored.
    pub(crate) rooms: usize,
    /// Messages restored into memory, all rooms together.
    pub(crate) messages: usize,
    /// Time taken to open and load.
    pub(crate) took: Duration,
    /// What retention deleted first.
    pub(crate) swept: Swept,
}

/// Wall-clock ms since the Unix epoch, as kept in the file.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl StoreBackplane {
    /// Opens (creating it if missing) the store in `dir`, loads every
    /// room's history, log tail, ids, epoch and members (who hold their
    /// places for `grace` from now), and starts the writer.
    /// Fails with a message naming the path when the directory cannot be
    /// made or the file opened (in use by another process, unreadable, of
    /// another format).
    pub(crate) fn open(
        dir: &Path,
        fsync: Fsync,
        retention: Retention,
        limits: &Limits,
        grace: Duration,
    ) -> Result<(StoreBackplane, Opened), String> {
        let started = Instant::now();
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("cannot resolve the data directory {}: {e}", dir.display()))?;
        let path = dir.join(FILE_NAME);
        let db = tables::open(&path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => format!(
                "the data directory {} is in use by another process (is another Parley running on it?)",
                dir.display()
            ),
            e => format!("cannot open the store {}: {e}", path.display()),
        })?;
        let log_cap = limits.history_size + LOG_TAIL;
        // What retention deletes goes before anything is loaded.
        let swept = retention::sweep(&db, &retention, now_ms(), None)
            .map_err(|e| format!("cannot sweep the store {}: {e}", path.display()))?;
        let bounds = tables::LoadBounds {
            history: limits.history_size,
            log_cap,
            room_bytes: limits.max_room_history_bytes,
            all_bytes: limits.max_history_bytes,
        };
        let (seq, rooms, polls) = tables::load(&db, bounds, now_ms())
            .map_err(|e| format!("cannot read the store {}: {e}", path.display()))?;
        let opened = Opened {
            swept,
            rooms: rooms.len(),
            messages: rooms.iter().map(|r| r.history.len()).sum(),
            took: Duration::ZERO,
        };
        let kept_polls = polls.iter().map(|p| (p.poll.clone(), p.until_ms)).collect();
        let memory = MemoryBackplane::restore(limits, seq, rooms, polls, grace.as_millis() as u64);
        let shared = Arc::new(Shared::default());
        *lock(&shared.committed) = seq;
        let (to_writer, batches) = sync_channel(QUEUE);
        shared
            .swept_messages
            .store(swept.messages, Ordering::Relaxed);
        shared.swept_rooms.store(swept.rooms, Ordering::Relaxed);
        let writer = Writer::new(
            Arc::new(db),
            path.clone(),
            fsync,
            log_cap,
            retention,
            shared.clone(),
        );
        let writer = thread::Builder::new()
            .name("parley-store".into())
            .spawn(move || writer.run(batches))
            .map_err(|e| format!("cannot start the store's writer: {e}"))?;
        let backplane = StoreBackplane {
            memory,
            to_writer: Some(to_writer),
            writer: Some(writer),
            shared,
            decided: seq,
            kept_polls,
        };
        Ok((
            backplane,
            Opened {
                took: started.elapsed(),
                ..opened
            },
        ))
    }

    fn check(&self) -> Result<(), Refusal> {
        if self.shared.failing.load(Ordering::SeqCst) {
            return Err(Refusal::degraded());
        }
        Ok(())
    }

    /// Hands what a decision wrote to the writer; answers no entries, as
    /// they come back through the feed once committed.
    fn hand(&mut self, entries: Vec<Entry>) -> Result<Vec<Entry>, Refusal> {
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(entries);
        };
        let mut epochs = HashMap::new();
        for entry in &entries {
            if !epochs.contains_key(&entry.room) {
                let epoch = self.memory.epoch(&entry.room).unwrap_or_default();
                epochs.insert(entry.room.clone(), epoch.to_owned());
            }
        }
        self.decided = last;
        self.send(Batch {
            entries,
            epochs,
            polls: Vec::new(),
        })?;
        Ok(Vec::new())
    }

    /// Passes a batch to the writer, waiting while its queue is full.
    fn send(&mut self, batch: Batch) -> Result<(), Refusal> {
        let sent = self
            .to_writer
            .as_ref()
            .is_some_and(|to| to.send(batch).is_ok());
        if !sent {
            log::error!("store: the writer is gone; the chat is degraded");
            self.shared.failing.store(true, Ordering::SeqCst);
            return Err(Refusal::degraded());
        }
        Ok(())
    }

    /// Passes a change of the polling sessions to the writer, unless it is
    /// failing or behind: every poll may renew a session, and no poll may
    /// wait for the disk. A change not kept here is forgotten (the session
    /// goes on in memory, and is written at its next renewal).
    fn keep_poll(&mut self, change: PollChange) -> Result<(), Refusal> {
        if self.shared.failing.load(Ordering::SeqCst) {
            self.forget_kept(&change);
            return Ok(());
        }
        let batch = Batch {
            polls: vec![change],
            ..Batch::default()
        };
        let Some(to) = self.to_writer.as_ref() else {
            return Ok(());
        };
        if let Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) =
            to.try_send(batch)
        {
            if let Some(change) = batch.polls.first() {
                self.forget_kept(change);
            }
        }
        Ok(())
    }

    /// Notes that `change` did not reach the file.
    fn forget_kept(&mut self, change: &PollChange) {
        if let PollChange::Open(poll, ..) | PollChange::Renew(poll, ..) = change {
            self.kept_polls.remove(poll);
        }
    }

    /// Waits until everything decided is committed, so that what is read
    /// next from memory is on disk too; refused as degraded when the
    /// writer cannot get there within [`SETTLE_PATIENCE`].
    fn settle(&self) -> Result<(), Refusal> {
        let deadline = Instant::now() + SETTLE_PATIENCE;
        let mut committed = lock(&self.shared.committed);
        while *committed < self.decided {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Refusal::degraded());
            }
            committed = self
                .shared
                .settled
                .wait_timeout(committed, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        Ok(())
    }
}

impl Drop for StoreBackplane {
    /// Lets the writer commit what it holds and sync, then waits for it.
    fn drop(&mut self) {
        self.to_writer = None;
        let Some(writer) = self.writer.take() else {
            return;
        };
        let deadline = Instant::now() + STOP_PATIENCE;
        while !writer.is_finished() {
            if Instant::now() >= deadline {
                log::error!(
                    "store: the writer did not finish in time; unsynced commits may be lost"
                );
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = writer.join();
    }
}

impl Backplane for StoreBackplane {
    fn join(&mut self, request: JoinRequest) -> Result<Vec<Entry>, Refusal> {
        self.check()?;
        let entries = self.memory.join(request)?;
        self.hand(entries)
    }

    fn leave(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        self.check()?;
        let entries = self.memory.leave(room, token, why)?;
        self.hand(entries)
    }

    fn rename(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        nick: &Nickname,
    ) -> Result<Vec<Entry>, Refusal> {
        self.check()?;
        let entries = self.memory.rename(room, token, nick)?;
        self.hand(entries)
    }

    fn typing(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        on: bool,
    ) -> Result<Vec<Entry>, Refusal> {
        self.check()?;
        let entries = self.memory.typing(room, token, on)?;
        self.hand(entries)
    }

    fn say(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        text: String,
        reference: Option<String>,
        now_ms: u64,
    ) -> Result<Said, Refusal> {
        self.check()?;
        let said = self.memory.say(room, token, text, reference, now_ms)?;
        if said.resend {
            // The original may still be on its way to the disk: the sender
            // is acknowledged again only once it is there.
            self.settle()?;
            return Ok(said);
        }
        let entries = self.hand(said.entries)?;
        Ok(Said { entries, ..said })
    }

    fn snapshot(&mut self, room: &RoomName) -> Result<Snapshot, Refusal> {
        self.check()?;
        self.settle()?;
        self.memory.snapshot(room)
    }

    /// From memory when its hot tail holds the whole page; otherwise from
    /// the file, which keeps what retention has not deleted.
    fn before(&mut self, room: &RoomName, before: u64, limit: usize) -> Result<Page, Refusal> {
        let page = self.memory.before(room, before, limit)?;
        if page.messages.len() >= limit {
            return Ok(page);
        }
        let Some(db) = lock(&self.shared.reader).clone() else {
            return Err(Refusal::degraded());
        };
        paging::before(&db, room, before, limit).map_err(|e| {
            log::warn!("store: reading older messages of {room} failed: {e}");
            Refusal::degraded()
        })
    }

    fn read(&mut self, room: &RoomName, after: u64) -> Result<Option<Vec<Entry>>, Refusal> {
        // Callers read up to entries they were fed, which are committed.
        self.memory.read(room, after)
    }

    fn renew(&mut self, tokens: &[ResumeToken], ttl_ms: u64) -> Result<(), Refusal> {
        self.memory.renew(tokens, ttl_ms)
    }

    fn reap(&mut self) -> Result<Vec<Entry>, Refusal> {
        self.check()?;
        let entries = self.memory.reap()?;
        // Expired sessions: the writer deletes their rows now and then.
        let now = now_ms();
        self.kept_polls.retain(|_, until| *until > now);
        self.hand(entries)
    }

    fn save_poll(&mut self, poll: &str, record: &PollRecord, ttl_ms: u64) -> Result<(), Refusal> {
        self.memory.save_poll(poll, record, ttl_ms)?;
        let now = now_ms();
        let until = now + ttl_ms;
        let change = match self.kept_polls.get(poll) {
            None => PollChange::Open(poll.to_owned(), record.token.clone(), until),
            // The file's expiry still covers half a lease: a restart
            // extends every session by a grace period anyway.
            Some(&kept) if kept >= now + ttl_ms / 2 => return Ok(()),
            Some(_) => PollChange::Renew(poll.to_owned(), record.token.clone(), until),
        };
        self.kept_polls.insert(poll.to_owned(), until);
        self.keep_poll(change)
    }

    fn find_poll(&mut self, poll: &str) -> Result<Option<PollRecord>, Refusal> {
        self.memory.find_poll(poll)
    }

    fn drop_poll(&mut self, poll: &str) -> Result<(), Refusal> {
        self.memory.drop_poll(poll)?;
        if self.kept_polls.remove(poll).is_none() {
            return Ok(());
        }
        self.keep_poll(PollChange::Drop(poll.to_owned()))
    }

    fn subscribe(&mut self, to: LogFeed) {
        let mut feed = lock(&self.shared.feed);
        let held = std::mem::take(&mut feed.held);
        if !held.is_empty() {
            to(Logged::Entries(held));
        }
        if self.shared.failing.load(Ordering::SeqCst) {
            to(Logged::Degraded(true));
        }
        feed.to = Some(to);
    }

    fn history_bytes(&self) -> usize {
        self.memory.history_bytes()
    }

    fn healthy(&self) -> bool {
        !self.shared.failing.load(Ordering::SeqCst)
    }

    fn store_stats(&self) -> Option<StoreStats> {
        Some(StoreStats {
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            swept_messages: self.shared.swept_messages.load(Ordering::Relaxed),
            swept_rooms: self.shared.swept_rooms.load(Ordering::Relaxed),
        })
    }
}
