//! Rate buckets that outlive connections: one per key (a client's subnet,
//! a resume token), so that reconnecting or taking a session over does not
//! hand out a fresh allowance. The map is bounded in entries: when it is
//! full, buckets that have refilled completely are dropped first (they
//! carry no state: a new bucket is the same), then the longest idle ones,
//! an eighth of the bound at a time so that the scan is paid once per many
//! inserts. An entry is the key and a [`RateBucket`] (32 bytes) in a hash
//! table slot (56 bytes with a `ClientKey`, 48 with a token); the bytes per
//! map at its bound are in `chat_core.rs` (`MAX_BUCKETS`). A dropped bucket
//! that was not full gives its client a fresh one, which needs the bound's
//! worth of other clients active in between. Full buckets are also swept
//! out every [`SWEEP_EVERY_MS`] (the core's reaper asks), so the map holds
//! about as many entries as there are clients active in the last seconds,
//! not every client ever seen: a long-running server's memory stays flat
//! rather than filling to the bound. Pure: the clock is passed in.

use std::collections::HashMap;
use std::hash::Hash;

use crate::core::rules::rate_limit::RateBucket;

/// The allowance every bucket of a map starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allowance {
    /// Frames at once.
    pub(crate) burst: u32,
    /// Frames per second sustained.
    pub(crate) per_sec: u32,
}

/// How often [`BucketMap::sweep`] drops the full buckets: a scan of the
/// whole map, so not at every tick of the reaper.
pub(crate) const SWEEP_EVERY_MS: u64 = 10_000;

/// Buckets by key, at most `max_entries` of them.
#[derive(Debug)]
pub(crate) struct BucketMap<K> {
    buckets: HashMap<K, RateBucket>,
    allowance: Allowance,
    max_entries: usize,
    /// When the full buckets were last swept out.
    swept_ms: u64,
}

impl<K: Eq + Hash + Clone> BucketMap<K> {
    /// An empty map whose buckets get `allowance`.
    pub(crate) fn new(allowance: Allowance, max_entries: usize) -> Self {
        BucketMap {
            buckets: HashMap::new(),
            allowance,
            max_entries: max_entries.max(1),
            swept_ms: 0,
        }
    }

    /// Drops the buckets that have refilled completely (a new one would be
    /// the same), at most once every [`SWEEP_EVERY_MS`].
    pub(crate) fn sweep(&mut self, now_ms: u64) {
        if now_ms < self.swept_ms.saturating_add(SWEEP_EVERY_MS) {
            return;
        }
        self.swept_ms = now_ms;
        self.buckets.retain(|_, b| !b.is_full(now_ms));
        crate::core::shrink::when_sparse(&mut self.buckets);
    }

    /// Takes one token from `key`'s bucket, or says how many milliseconds
    /// until one is there.
    pub(crate) fn take(&mut self, key: &K, now_ms: u64) -> Result<(), u64> {
        if let Some(bucket) = self.buckets.get_mut(key) {
            return bucket.take(now_ms);
        }
        if self.buckets.len() >= self.max_entries {
            self.evict(now_ms);
        }
        let Allowance { burst, per_sec } = self.allowance;
        let mut bucket = RateBucket::new(burst, per_sec, now_ms);
        let taken = bucket.take(now_ms);
        self.buckets.insert(key.clone(), bucket);
        taken
    }

    /// Buckets held.
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Drops every full bucket, then the longest idle ones until an eighth
    /// of the bound is free.
    fn evict(&mut self, now_ms: u64) {
        self.buckets.retain(|_, b| !b.is_full(now_ms));
        let target = self.max_entries - (self.max_entries / 8).max(1);
        if self.buckets.len() > target {
            let mut last: Vec<u64> = self.buckets.values().map(RateBucket::last_ms).collect();
            let excess = self.buckets.len() - target;
            let (_, cutoff, _) = last.select_nth_unstable(excess - 1);
            let cutoff = *cutoff;
            let mut dropped = 0;
            self.buckets.retain(|_, b| {
                let drop = dropped < excess && b.last_ms() <= cutoff;
                dropped += usize::from(drop);
                !drop
            });
        }
        crate::core::shrink::when_sparse(&mut self.buckets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOW: Allowance = Allowance {
        burst: 2,
        per_sec: 1,
    };

    #[test]
    fn entries_are_as_small_as_the_documented_bound_says() {
        use crate::core::client_key::ClientKey;
        use crate::core::ids::ResumeToken;
        assert!(std::mem::size_of::<(ClientKey, RateBucket)>() <= 56);
        assert!(std::mem::size_of::<(ResumeToken, RateBucket)>() <= 48);
    }

    #[test]
    fn a_key_keeps_its_bucket() {
        let mut map = BucketMap::new(SLOW, 10);
        assert!(map.take(&"a", 0).is_ok());
        assert!(map.take(&"a", 0).is_ok());
        assert_eq!(map.take(&"a", 0), Err(1000));
        assert!(map.take(&"b", 0).is_ok(), "another key has its own");
        assert!(map.take(&"a", 1000).is_ok());
    }

    #[test]
    fn the_sweep_drops_full_buckets_every_so_often() {
        let mut map = BucketMap::new(SLOW, 100);
        for i in 0..10u64 {
            map.take(&i, 0).unwrap();
        }
        map.take(&0, 0).unwrap();
        map.sweep(SWEEP_EVERY_MS);
        assert_eq!(map.len(), 0, "all refilled by then");
        for i in 0..10u64 {
            map.take(&i, SWEEP_EVERY_MS).unwrap();
        }
        map.take(&0, SWEEP_EVERY_MS + 1000).unwrap();
        map.take(&0, SWEEP_EVERY_MS + 1000).unwrap();
        map.sweep(SWEEP_EVERY_MS + 1000);
        assert_eq!(map.len(), 10, "too soon: nothing swept");
        map.sweep(2 * SWEEP_EVERY_MS);
        assert_eq!(map.len(), 0);
        map.take(&0, 2 * SWEEP_EVERY_MS).unwrap();
        map.take(&0, 2 * SWEEP_EVERY_MS).unwrap();
        map.sweep(3 * SWEEP_EVERY_MS - 1);
        map.sweep(3 * SWEEP_EVERY_MS);
        assert_eq!(map.len(), 0, "refilled in a second");
    }

    #[test]
    fn full_buckets_go_first_then_the_longest_idle() {
        let mut map = BucketMap::new(SLOW, 8);
        // Keys 0..8 each take one token at time i; by 10_000 every bucket
        // but those drained again is full.
        for i in 0..8u64 {
            map.take(&i, i).unwrap();
        }
        map.take(&7, 10_000).unwrap();
        map.take(&7, 10_000).unwrap();
        assert_eq!(map.len(), 8);
        map.take(&100, 10_000).unwrap();
        assert_eq!(
            map.len(),
            2,
            "full buckets are dropped, the drained one kept"
        );
        assert_eq!(map.take(&7, 10_000), Err(1000), "its state survived");

        // Nothing full: the longest idle go, an eighth of the bound.
        let mut map = BucketMap::new(SLOW, 8);
        for i in 0..8u64 {
            map.take(&i, i * 10).unwrap();
            map.take(&i, i * 10).unwrap();
        }
        map.take(&100, 80).unwrap();
        assert_eq!(map.len(), 8);
        assert!(
            map.take(&0, 80).is_ok(),
            "key 0, idle longest, was dropped and starts afresh"
        );
        assert_eq!(map.take(&7, 80), Err(990), "recent ones kept their state");
    }
}
