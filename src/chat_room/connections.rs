//! The connections the ChatRoom reaches, and how a frame gets to one. A
//! WebSocket connection has an outbox: the frame is reserved there (a
//! reader that stopped reading is reported, not fed), queued already
//! encoded, and its writer woken at once or at the flush this schedules
//! ([`crate::coalesce`]). A polling session gets the frame as a message to
//! its actor at once: it answers its waiting poll with whatever has
//! gathered, which batches by itself. Closes go to the connection's actor;
//! the writer takes the queued frames before the close.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::chat_core::MemberId;
use crate::coalesce::{Coalescing, Offer};
use crate::limits::Limits;
use crate::member::{CloseKind, ToMember};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Outgoing};

/// The held frames' flush is due ([`Connections::deliver`] schedules it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushHeld;

/// One connection as the room reaches it.
struct Member {
    to: Recipient<ToMember>,
    outbox: Option<Outbox>,
    coalescing: Coalescing,
}

/// Every connection of this instance, by id.
pub struct Connections {
    members: HashMap<MemberId, Member>,
    max_outbox_bytes: usize,
    window: Duration,
    /// Connections with frames held, and whether their flush is scheduled.
    held: Vec<MemberId>,
    flush_due: bool,
    /// Where the flush is sent when due: the ChatRoom itself.
    flusher: Option<Recipient<FlushHeld>>,
    metrics: Arc<Metrics>,
}

impl Connections {
    /// None yet, under `limits`' outbox bound and coalescing window,
    /// counting held deliveries in `metrics`.
    pub fn new(limits: &Limits, metrics: Arc<Metrics>) -> Self {
        Connections {
            members: HashMap::new(),
            max_outbox_bytes: limits.max_outbox_bytes,
            window: limits.coalesce,
            held: Vec::new(),
            flush_due: false,
            flusher: None,
            metrics,
        }
    }

    /// Names the actor that handles [`FlushHeld`] by calling
    /// [`Connections::flush_held`]. Until then nothing is held.
    pub fn set_flusher(&mut self, flusher: Recipient<FlushHeld>) {
        self.flusher = Some(flusher);
    }

    /// Adds a connection.
    pub fn insert(&mut self, id: MemberId, to: Recipient<ToMember>, outbox: Option<Outbox>) {
        let coalescing = Coalescing::new(Instant::now());
        let member = Member {
            to,
            outbox,
            coalescing,
        };
        self.members.insert(id, member);
    }

    /// Forgets a connection that is gone, with whatever was held for it.
    pub fn remove(&mut self, id: MemberId) {
        self.members.remove(&id);
    }

    /// Every connection's id.
    pub fn ids(&self) -> Vec<MemberId> {
        self.members.keys().copied().collect()
    }

    /// Hands `frame` to `id`, unless its outbox is full: then `id` joins
    /// `slow` and gets nothing. Answers how many deliveries that was (0 or
    /// 1).
    pub fn deliver(&mut self, id: MemberId, frame: &Outgoing, slow: &mut Vec<MemberId>) -> u64 {
        let Some(member) = self.members.get_mut(&id) else {
            return 0;
        };
        let Some(outbox) = &member.outbox else {
            member
                .to
                .do_send(ToMember::Frame(frame.text().clone(), frame.at()));
            return 1;
        };
        if !outbox.try_reserve(frame.text().len(), self.max_outbox_bytes) {
            slow.push(id);
            return 0;
        }
        outbox.push(frame);
        // Without a flusher nothing could wake a writer later.
        let window = if self.flusher.is_some() {
            self.window
        } else {
            Duration::ZERO
        };
        match member.coalescing.offer(Instant::now(), window) {
            Offer::Now => outbox.wake(),
            Offer::Hold => {
                self.metrics.deliveries_held.inc();
                self.held.push(id);
                self.schedule_flush();
            }
            Offer::Held => self.metrics.deliveries_held.inc(),
        }
        1
    }

    fn schedule_flush(&mut self) {
        if self.flush_due {
            return;
        }
        if let Some(flusher) = self.flusher.clone() {
            self.flush_due = true;
            let window = self.window;
            actix::spawn(async move {
                actix::clock::sleep(window).await;
                flusher.do_send(FlushHeld);
            });
        }
    }

    /// Wakes the writer of every connection with frames held.
    pub fn flush_held(&mut self) {
        self.flush_due = false;
        let now = Instant::now();
        for id in std::mem::take(&mut self.held) {
            if let Some(member) = self.members.get_mut(&id) {
                if member.coalescing.release(now, self.window) {
                    if let Some(outbox) = &member.outbox {
                        outbox.wake();
                    }
                }
            }
        }
    }

    /// Removes `id` and tells it to close; its writer takes what is queued
    /// first.
    pub fn close(&mut self, id: MemberId, kind: CloseKind) {
        if let Some(member) = self.members.remove(&id) {
            member.to.do_send(ToMember::Close(kind));
        }
    }

    /// Removes every connection and tells each to close. Answers how many
    /// there were.
    pub fn close_all(&mut self, kind: CloseKind) -> usize {
        let members = std::mem::take(&mut self.members);
        for member in members.values() {
            member.to.do_send(ToMember::Close(kind));
        }
        self.held.clear();
        members.len()
    }

    /// Removes a reader that stopped reading: nothing more is queued for
    /// it, what was held is dropped, and its connection is cut. False when
    /// it was gone already.
    pub fn drop_reader(&mut self, id: MemberId) -> bool {
        let Some(member) = self.members.remove(&id) else {
            return false;
        };
        if let Some(outbox) = &member.outbox {
            outbox.drop_reader();
        }
        member.to.do_send(ToMember::Close(CloseKind::SlowReader));
        true
    }

    /// Tells polling session `id` that the frames that follow replace what
    /// it queued after log seq `after`.
    pub fn restart(&self, id: MemberId, after: u64) {
        if let Some(member) = self.members.get(&id) {
            member.to.do_send(ToMember::Restart(after));
        }
    }
}
