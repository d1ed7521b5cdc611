//! Which polling sessions exist: token to session, shared by every HTTP
//! worker. It bounds how many sessions there are in all and per client
//! address, so neither a crowd nor one greedy client can grow memory without
//! limit. It holds handles only (the session actors' addresses, a type it
//! does not name); the sessions' state is in their actors.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::core::ids::MemberId;

/// A live session, as the HTTP handlers reach it.
#[derive(Clone)]
pub(crate) struct SessionRef<H> {
    /// The room member it is.
    pub(crate) id: MemberId,
    /// Its actor.
    pub(crate) addr: H,
    ip: IpAddr,
}

/// Why a session could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenRefused {
    /// This address holds as many sessions as it may.
    PerAddress,
    /// The server holds as many sessions as it may.
    Total,
}

struct Inner<H> {
    sessions: HashMap<Arc<str>, SessionRef<H>>,
    per_ip: HashMap<IpAddr, usize>,
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
                per_ip: HashMap::new(),
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

    /// Registers a session for `ip` under `token`, if the bounds allow;
    /// `start` creates it only then.
    pub(crate) fn open(
        &self,
        ip: IpAddr,
        token: Arc<str>,
        id: MemberId,
        start: impl FnOnce() -> H,
    ) -> Result<SessionRef<H>, OpenRefused> {
        self.insert(&mut self.lock(), ip, token, id, start)
    }

    fn insert(
        &self,
        inner: &mut Inner<H>,
        ip: IpAddr,
        token: Arc<str>,
        id: MemberId,
        start: impl FnOnce() -> H,
    ) -> Result<SessionRef<H>, OpenRefused> {
        if inner.sessions.len() >= self.max_total {
            return Err(OpenRefused::Total);
        }
        let count = inner.per_ip.entry(ip).or_default();
        if *count >= self.max_per_ip {
            return Err(OpenRefused::PerAddress);
        }
        *count += 1;
        let session = SessionRef {
            id,
            addr: start(),
            ip,
        };
        inner.sessions.insert(token, session.clone());
        Ok(session)
    }

    /// The session under `token`, starting it with `start` when this
    /// instance has none (a session opened on another instance); the flag
    /// says whether it was started now.
    pub(crate) fn adopt(
        &self,
        ip: IpAddr,
        token: Arc<str>,
        id: MemberId,
        start: impl FnOnce() -> H,
    ) -> Result<(SessionRef<H>, bool), OpenRefused> {
        let mut inner = self.lock();
        if let Some(session) = inner.sessions.get(&token) {
            return Ok((session.clone(), false));
        }
        self.insert(&mut inner, ip, token, id, start)
            .map(|s| (s, true))
    }

    /// The session under `token`, if this instance serves it.
    pub(crate) fn get(&self, token: &str) -> Option<SessionRef<H>> {
        self.lock().sessions.get(token).cloned()
    }

    /// Forgets a session (its actor has stopped).
    pub(crate) fn remove(&self, token: &str) {
        let mut inner = self.lock();
        if let Some(session) = inner.sessions.remove(token) {
            if let Some(count) = inner.per_ip.get_mut(&session.ip) {
                *count -= 1;
                if *count == 0 {
                    inner.per_ip.remove(&session.ip);
                }
            }
        }
    }
}
