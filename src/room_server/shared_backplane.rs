//! One backplane shared by an instance's room shards (`shards.rs`). The
//! backplanes hold instance-wide state a shard must not split: the room
//! count and token places of the in-memory one, the embedded store's one
//! file and writer thread, Redis's one connection and subscription. So
//! there is one, behind a lock each call holds for its length, and each
//! shard holds a [`SharedBackplane`] naming its own index. A call can
//! write entries of rooms of other shards (a join that moves a token
//! writes its leave from the old room; the reaper writes leaves anywhere):
//! the caller keeps its own rooms' entries and the rest are posted, still
//! under the lock, to the shards that own them, so every shard receives a
//! room's entries in log order. What the backplane hears from elsewhere
//! (its feed) is routed the same way, by room; health changes go to every
//! shard. A shard receiving an entry late or twice is what mirrors already
//! handle for entries from other instances (an echo is ignored, a gap is
//! read back from the log).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::core::backplane::{
    Backplane, Entry, JoinRequest, LeftWhy, LogFeed, Logged, Page, PollRecord, Refusal,
    ResumeToken, Said, Snapshot, StoreStats,
};
use crate::core::rules::nickname::Nickname;
use crate::core::rules::room_name::RoomName;
use crate::room_server::placement::shard_of;

/// Where each shard hears what the backplane logged, by index; filled as
/// the shards start.
struct Feeds {
    feeds: Vec<Option<LogFeed>>,
}

impl Feeds {
    /// Posts `entries` to the shards owning their rooms, each shard's in
    /// the order given; answers those of shard `keep`, not posted.
    fn route(&self, entries: Vec<Entry>, keep: Option<usize>) -> Vec<Entry> {
        let n = self.feeds.len();
        if n == 1 {
            if keep.is_some() {
                return entries;
            }
            if let Some(Some(feed)) = self.feeds.first() {
                feed(Logged::Entries(entries));
            }
            return Vec::new();
        }
        let mut by_shard: Vec<Vec<Entry>> = (0..n).map(|_| Vec::new()).collect();
        for entry in entries {
            by_shard[shard_of(&entry.room, n)].push(entry);
        }
        let mut kept = Vec::new();
        for (index, entries) in by_shard.into_iter().enumerate() {
            if Some(index) == keep {
                kept = entries;
            } else if !entries.is_empty() {
                match &self.feeds[index] {
                    Some(feed) => feed(Logged::Entries(entries)),
                    None => log::warn!("entries for room shard {index}, not started yet"),
                }
            }
        }
        kept
    }

    /// Hands a pipelined call's later answer (a join's refusal, the
    /// snapshot of the room it opens) to the shard of its room, where its
    /// sender is.
    fn answer(&self, answered: Logged) {
        let (Logged::Answered { room, .. }
        | Logged::Refused { room, .. }
        | Logged::Opened { room, .. }) = &answered
        else {
            return;
        };
        let index = shard_of(room, self.feeds.len());
        if let Some(Some(feed)) = self.feeds.get(index) {
            feed(answered);
        }
    }

    /// Tells every shard a health change.
    fn tell_all(&self, degraded: bool) {
        for feed in self.feeds.iter().flatten() {
            feed(Logged::Degraded(degraded));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A shard that panicked mid-call left a backplane whose own state is
    // consistent per call; the others go on with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the shards share: the backplane and the feeds. The feeds are apart
/// so that the backplane's own feed can hold them without holding itself.
struct Shared {
    backplane: Mutex<Box<dyn Backplane>>,
    feeds: Arc<Mutex<Feeds>>,
}

/// One shard's handle on the instance's backplane.
pub(crate) struct SharedBackplane {
    shared: Arc<Shared>,
    index: usize,
}

impl SharedBackplane {
    /// Handles for `shards` shards (at least 1) on `backplane`.
    pub(crate) fn split(backplane: Box<dyn Backplane>, shards: usize) -> Vec<SharedBackplane> {
        let shards = shards.max(1);
        let shared = Arc::new(Shared {
            backplane: Mutex::new(backplane),
            feeds: Arc::new(Mutex::new(Feeds {
                feeds: (0..shards).map(|_| None).collect(),
            })),
        });
        (0..shards)
            .map(|index| SharedBackplane {
                shared: shared.clone(),
                index,
            })
            .collect()
    }

    /// Runs `call` on the backplane and keeps this shard's entries of
    /// what it wrote, posting the others before the lock is let go.
    fn routed(
        &self,
        call: impl FnOnce(&mut dyn Backplane) -> Result<Vec<Entry>, Refusal>,
    ) -> Result<Vec<Entry>, Refusal> {
        let mut backplane = lock(&self.shared.backplane);
        let entries = call(backplane.as_mut())?;
        if entries.is_empty() {
            return Ok(entries);
        }
        Ok(lock(&self.shared.feeds).route(entries, Some(self.index)))
    }

    fn plain<T>(&self, call: impl FnOnce(&mut dyn Backplane) -> T) -> T {
        call(lock(&self.shared.backplane).as_mut())
    }
}

impl Backplane for SharedBackplane {
    fn join(&mut self, request: JoinRequest) -> Result<Vec<Entry>, Refusal> {
        self.routed(|b| b.join(request))
    }

    fn leave(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        self.routed(|b| b.leave(room, token, why))
    }

    fn decides_later(&self) -> bool {
        lock(&self.shared.backplane).decides_later()
    }

    fn join_later(&mut self, request: JoinRequest, open: bool) -> Result<Vec<Entry>, Refusal> {
        self.routed(|b| b.join_later(request, open))
    }

    fn leave_later(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        why: LeftWhy,
    ) -> Result<Vec<Entry>, Refusal> {
        self.routed(|b| b.leave_later(room, token, why))
    }

    fn rename(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        nick: &Nickname,
    ) -> Result<Vec<Entry>, Refusal> {
        self.routed(|b| b.rename(room, token, nick))
    }

    fn typing(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        on: bool,
    ) -> Result<Vec<Entry>, Refusal> {
        self.routed(|b| b.typing(room, token, on))
    }

    fn say(
        &mut self,
        room: &RoomName,
        token: &ResumeToken,
        text: String,
        reference: Option<String>,
        now_ms: u64,
    ) -> Result<Said, Refusal> {
        let mut said = None;
        let entries = self.routed(|b| {
            let mut done = b.say(room, token, text, reference, now_ms)?;
            let entries = std::mem::take(&mut done.entries);
            said = Some(done);
            Ok(entries)
        })?;
        // unwrap: set whenever the call above succeeded.
        let mut said = said.unwrap();
        said.entries = entries;
        Ok(said)
    }

    fn snapshot(&mut self, room: &RoomName) -> Result<Snapshot, Refusal> {
        self.plain(|b| b.snapshot(room))
    }

    fn before(&mut self, room: &RoomName, before: u64, limit: usize) -> Result<Page, Refusal> {
        self.plain(|b| b.before(room, before, limit))
    }

    fn read(&mut self, room: &RoomName, after: u64) -> Result<Option<Vec<Entry>>, Refusal> {
        self.plain(|b| b.read(room, after))
    }

    fn wait_decided(&mut self) {
        self.plain(|b| b.wait_decided());
    }

    fn renew(&mut self, tokens: &[ResumeToken], ttl_ms: u64) -> Result<(), Refusal> {
        self.plain(|b| b.renew(tokens, ttl_ms))
    }

    fn reap(&mut self) -> Result<Vec<Entry>, Refusal> {
        self.routed(|b| b.reap())
    }

    fn save_poll(&mut self, poll: &str, record: &PollRecord, ttl_ms: u64) -> Result<(), Refusal> {
        self.plain(|b| b.save_poll(poll, record, ttl_ms))
    }

    fn refresh_poll(&mut self, poll: &str, record: &PollRecord, ttl_ms: u64) {
        self.plain(|b| b.refresh_poll(poll, record, ttl_ms));
    }

    fn find_poll(&mut self, poll: &str) -> Result<Option<PollRecord>, Refusal> {
        self.plain(|b| b.find_poll(poll))
    }

    fn drop_poll(&mut self, poll: &str) -> Result<(), Refusal> {
        self.plain(|b| b.drop_poll(poll))
    }

    /// Registers this shard's feed; the last shard to start subscribes the
    /// backplane, with a feed that routes by room.
    fn subscribe(&mut self, to: LogFeed) {
        let complete = {
            let mut feeds = lock(&self.shared.feeds);
            feeds.feeds[self.index] = Some(to);
            feeds.feeds.iter().all(Option::is_some)
        };
        if !complete {
            return;
        }
        let feeds = self.shared.feeds.clone();
        self.plain(|b| {
            b.subscribe(Box::new(move |logged| {
                let feeds = lock(&feeds);
                match logged {
                    Logged::Entries(entries) => {
                        feeds.route(entries, None);
                    }
                    Logged::Degraded(degraded) => feeds.tell_all(degraded),
                    answered @ (Logged::Answered { .. }
                    | Logged::Refused { .. }
                    | Logged::Opened { .. }) => feeds.answer(answered),
                }
            }))
        });
    }

    fn watch(&mut self, room: &RoomName, on: bool) {
        self.plain(|b| b.watch(room, on));
    }

    fn history_bytes(&self) -> usize {
        lock(&self.shared.backplane).history_bytes()
    }

    fn healthy(&self) -> bool {
        lock(&self.shared.backplane).healthy()
    }

    fn store_stats(&self) -> Option<StoreStats> {
        lock(&self.shared.backplane).store_stats()
    }

    fn probe(&mut self) -> bool {
        self.plain(|b| b.probe())
    }
}
