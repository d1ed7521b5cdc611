//! What the room shards of one instance share (`room_server/shards.rs`):
//! the frame allowances kept per client (its address, its resume token,
//! its token's `history` requests), which must not grow N times weaker
//! because a client's connections sit in rooms of N shards, and the
//! instance-wide bounds on mirrors (`--max-rooms`) and on the bytes their
//! histories hold (`--max-history-bytes`). Each shard's core holds an
//! `Arc` of it; with one shard it is that shard's alone. The allowances sit
//! behind one lock taken once per frame for a few hundred nanoseconds; the
//! counts are atomics. Pure: no I/O, the clock is passed in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::core::backplane::ResumeToken;
use crate::core::bucket_map::BucketMap;
use crate::core::client_key::ClientKey;
use crate::core::limits::Limits;

/// Rate buckets kept per map (addresses, tokens, tokens' `history`
/// requests). At the bound a map's table has 131,072 slots: about 7.5 MB
/// for addresses (56-byte entries), about 11 MB for tokens (48-byte
/// entries, plus the 48-byte token string once no connection shares it);
/// sizes checked in `bucket_map.rs`.
pub(crate) const MAX_BUCKETS: usize = 100_000;

/// The per-client allowances.
#[derive(Debug)]
pub(crate) struct Allowances {
    /// Frame allowance per address, across its connections.
    pub(crate) address: BucketMap<ClientKey>,
    /// Frame allowance per resume token, across reconnects and takeovers.
    pub(crate) token: BucketMap<ResumeToken>,
    /// `history` request allowance per resume token.
    pub(crate) history: BucketMap<ResumeToken>,
}

/// What an instance's shards share.
#[derive(Debug)]
pub(crate) struct InstanceShare {
    allowances: Mutex<Allowances>,
    /// Rooms mirrored by all shards together.
    mirrors: AtomicUsize,
    /// Bytes all shards' mirrors' histories hold.
    mirror_bytes: AtomicUsize,
}

impl InstanceShare {
    /// Empty allowances and counts for these limits.
    pub(crate) fn new(limits: &Limits) -> Self {
        InstanceShare {
            allowances: Mutex::new(Allowances {
                address: BucketMap::new(limits.address_allowance(), MAX_BUCKETS),
                token: BucketMap::new(limits.client_allowance(), MAX_BUCKETS),
                history: BucketMap::new(limits.history_allowance(), MAX_BUCKETS),
            }),
            mirrors: AtomicUsize::new(0),
            mirror_bytes: AtomicUsize::new(0),
        }
    }

    /// The allowances, locked. A shard that panicked holding the lock left
    /// buckets that are still buckets: the lock is taken regardless.
    pub(crate) fn allowances(&self) -> MutexGuard<'_, Allowances> {
        self.allowances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Rooms mirrored by the instance.
    pub(crate) fn mirrors(&self) -> usize {
        self.mirrors.load(Ordering::Relaxed)
    }

    /// A shard started (`true`) or stopped (`false`) mirroring a room.
    pub(crate) fn count_mirror(&self, opened: bool) {
        if opened {
            self.mirrors.fetch_add(1, Ordering::Relaxed);
        } else {
            self.mirrors.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Bytes the instance's mirrors hold.
    pub(crate) fn mirror_bytes(&self) -> usize {
        self.mirror_bytes.load(Ordering::Relaxed)
    }

    /// A shard's mirrors now hold `added` more bytes and `removed` fewer.
    pub(crate) fn count_bytes(&self, added: usize, removed: usize) {
        if added > 0 {
            self.mirror_bytes.fetch_add(added, Ordering::Relaxed);
        }
        if removed > 0 {
            self.mirror_bytes.fetch_sub(removed, Ordering::Relaxed);
        }
    }
}
