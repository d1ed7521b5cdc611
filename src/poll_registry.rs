//! Which polling sessions exist: token to session, shared by every HTTP
//! worker. It bounds how many sessions there are in all and per client
//! address, so neither a crowd nor one greedy client can grow memory without
//! limit. It holds addresses only; the sessions' state is in their actors.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use actix::Addr;

use crate::chat_core::MemberId;
use crate::poll_session::PollSession;

/// A live session, as the HTTP handlers reach it.
#[derive(Clone)]
pub struct SessionRef {
    /// The room member it is.
    pub id: MemberId,
    /// Its actor.
    pub addr: Addr<PollSession>,
    ip: IpAddr,
}

/// Why a session could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenRefused {
    /// This address holds as many sessions as it may.
    PerAddress,
    /// The server holds as many sessions as it may.
    Total,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<Arc<str>, SessionRef>,
    per_ip: HashMap<IpAddr, usize>,
}

/// The registry.
pub struct PollRegistry {
    inner: Mutex<Inner>,
    max_total: usize,
    max_per_ip: usize,
}

impl PollRegistry {
    /// An empty registry with these bounds.
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        PollRegistry {
            inner: Mutex::new(Inner::default()),
            max_total,
            max_per_ip,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves the maps consistent (every
        // update is a single insert or remove), so a poisoned lock is usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a session for `ip` under `token`, if the bounds allow;
    /// `start` creates it only then.
    pub fn open(
        &self,
        ip: IpAddr,
        token: Arc<str>,
        id: MemberId,
        start: impl FnOnce() -> Addr<PollSession>,
    ) -> Result<SessionRef, OpenRefused> {
        self.insert(&mut self.lock(), ip, token, id, start)
    }

    fn insert(
        &self,
        inner: &mut Inner,
        ip: IpAddr,
        token: Arc<str>,
        id: MemberId,
        start: impl FnOnce() -> Addr<PollSession>,
    ) -> Result<SessionRef, OpenRefused> {
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
    pub fn adopt(
        &self,
        ip: IpAddr,
        token: Arc<str>,
        id: MemberId,
        start: impl FnOnce() -> Addr<PollSession>,
    ) -> Result<(SessionRef, bool), OpenRefused> {
        let mut inner = self.lock();
        if let Some(session) = inner.sessions.get(&token) {
            return Ok((session.clone(), false));
        }
        self.insert(&mut inner, ip, token, id, start)
            .map(|s| (s, true))
    }

    pub fn get(&self, token: &str) -> Option<SessionRef> {
        self.lock().sessions.get(token).cloned()
    }

    /// Forgets a session (its actor has stopped).
    pub fn remove(&self, token: &str) {
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

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
