//! Which polling sessions exist: token to session, shared by every HTTP
//! worker. It bounds how many sessions there are in all and per client
//! (its address's subnet, a [`ClientKey`]), so neither a crowd nor one greedy client can grow memory without
//! limit. It holds handles only (the session actors' addresses, a type it
//! does not name); the sessions' state is in their actors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::core::client_key::ClientKey;
use crate::core::ids::MemberId;

/// A live session, as the HTTP handlers reach it.
#[derive(Clone)]
pub(crate) struct SessionRef<H> {
    /// The room member it is.
    pub(crate) id: MemberId,
    /// Its actor.
    pub(crate) addr: H,
    client: ClientKey,
}

/// Why a session could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenRefused {
    /// This client (subnet) holds as many sessions as it may.
    PerAddress,
    /// The server holds as many sessions as it may.
    Total,
}

struct Inner<H> {
    sessions: HashMap<Arc<str>, SessionRef<H>>,
    per_client: HashMap<ClientKey, usize>,
}

/// The registry, of sessions reached through handles of type `H`.
pub(crate) struct PollRegistry<H> {
    inner: Mutex<Inner<H>>,
    max_total: usize,
    max_per_ip: usize,
}

impl<H: Clone> PollRegistry<H> {
    /// An empty registry with these bounds.
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Self {
        PollRegistry {
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                per_client: HashMap::new(),
            }),
            max_total,
            max_per_ip,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<H>> {
        // A panic while holding this lock leaves the maps consistent (every
        // update is a single insert or remove), so a poisoned lock is usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a session for `client` under `token`, if the bounds allow;
    /// `start` creates it only then.
    pub(crate) fn open(
        &self,
        client: ClientKey,
        token: Arc<str>,
        id: MemberId,
        start: impl FnOnce() -> H,
    ) -> Result<SessionRef<H>, OpenRefused> {
        self.insert(&mut self.lock(), client, token, id, start)
    }

    fn insert(
        &self,
        inner: &mut Inner<H>,
        client: ClientKey,
        token: Arc<str>,
        id: MemberId,
        start: impl FnOnce() -> H,
    ) -> Result<SessionRef<H>, OpenRefused> {
        if inner.sessions.len() >= self.max_total {
            return Err(OpenRefused::Total);
        }
        let count = inner.per_client.entry(client).or_default();
        if *count >= self.max_per_ip {
            return Err(OpenRefused::PerAddress);
        }
        *count += 1;
        let session = SessionRef {
            id,
            addr: start(),
            client,
        };
        inner.sessions.insert(token, session.clone());
        Ok(session)
    }

    /// The session under `token`, starting it with `start` when this
    /// instance has none (a session opened on another instance); the flag
    /// says whether it was started now.
    pub(crate) fn adopt(
        &self,
        client: ClientKey,
        token: Arc<str>,
        id: MemberId,
        start: impl FnOnce() -> H,
    ) -> Result<(SessionRef<H>, bool), OpenRefused> {
        let mut inner = self.lock();
        if let Some(session) = inner.sessions.get(&token) {
            return Ok((session.clone(), false));
        }
        self.insert(&mut inner, client, token, id, start)
            .map(|s| (s, true))
    }

    /// The session under `token`, if this instance serves it.
    pub(crate) fn get(&self, token: &str) -> Option<SessionRef<H>> {
        self.lock().sessions.get(token).cloned()
    }

    /// Forgets session `token` if member `id` is still the one serving it
    /// here (its actor has stopped): a newer session under the same token,
    /// started once the old one was known to be gone, stays.
    pub(crate) fn remove(&self, token: &str, id: MemberId) {
        let mut inner = self.lock();
        if inner.sessions.get(token).is_none_or(|s| s.id != id) {
            return;
        }
        if let Some(session) = inner.sessions.remove(token) {
            if let Some(count) = inner.per_client.get_mut(&session.client) {
                *count -= 1;
                if *count == 0 {
                    inner.per_client.remove(&session.client);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_sessions_removal_leaves_the_one_that_replaced_it() {
        let registry = PollRegistry::<&str>::new(10, 10);
        let client = ClientKey::v4(0x7f00_0001, 32);
        let token: Arc<str> = Arc::from("t");
        registry.open(client, token.clone(), 1, || "old").unwrap();
        registry.remove(&token, 1);
        let (_, started) = registry.adopt(client, token.clone(), 2, || "new").unwrap();
        assert!(started);
        // The old actor's own removal comes late: the new session stays.
        registry.remove(&token, 1);
        assert_eq!(registry.get(&token).map(|s| s.addr), Some("new"));
        registry.remove(&token, 2);
        assert!(registry.get(&token).is_none());
        assert!(
            registry.lock().per_client.is_empty(),
            "the count went with it"
        );
    }
}
