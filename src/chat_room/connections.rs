//! The connections the ChatRoom reaches, by the hub of the worker thread
//! each runs on ([`crate::hub`]). What the room sends is gathered per hub
//! as [`Order`]s (a frame to many connections is one order, its bytes
//! shared) and sent as one message per hub. A hub that had nothing within
//! the last `--coalesce-ms` gets its orders at once; otherwise they wait
//! and go together at the flush this schedules ([`crate::coalesce`]). So a
//! broadcast costs one cross-thread wakeup per worker thread rather than
//! one per recipient, a busy server sends each worker at most one batch
//! per window, in which each connection gets all its frames in one write,
//! and every connection gets its frames and closes in the order the room
//! decided them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::chat_core::MemberId;
use crate::coalesce::{Coalescing, Offer};
use crate::hub::{Hub, HubHandle, Order, Orders};
use crate::member::CloseKind;
use crate::metrics::Metrics;
use crate::outbox::Outgoing;

/// The flush of held orders is due ([`Connections::dispatch`] schedules
/// it; the ChatRoom answers it with [`Connections::flush_held`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushHeld;

/// A hub and the orders gathered for it.
struct HubOrders {
    addr: Addr<Hub>,
    orders: Vec<Order>,
    /// Deliveries among `orders`.
    frames: u64,
    coalescing: Coalescing,
}

impl HubOrders {
    fn send(&mut self) {
        self.frames = 0;
        self.addr.do_send(Orders(std::mem::take(&mut self.orders)));
    }
}

/// Every connection of this instance, by id.
pub struct Connections {
    /// Each connection's hub id.
    members: HashMap<MemberId, usize>,
    hubs: HashMap<usize, HubOrders>,
    /// Hubs with orders gathered and not held, in the order they got their
    /// first; and hubs whose orders are held for the flush.
    busy: Vec<usize>,
    held: Vec<usize>,
    window: Duration,
    /// Where the flush is sent when due: the ChatRoom itself. Until it is
    /// known nothing is held.
    flusher: Option<Recipient<FlushHeld>>,
    flush_due: bool,
    metrics: Arc<Metrics>,
}

impl Connections {
    /// None yet; orders are held up to `window`, and held deliveries
    /// counted in `metrics`.
    pub fn new(window: Duration, metrics: Arc<Metrics>) -> Self {
        Connections {
            members: HashMap::new(),
            hubs: HashMap::new(),
            busy: Vec::new(),
            held: Vec::new(),
            window,
            flusher: None,
            flush_due: false,
            metrics,
        }
    }

    /// Names the actor that answers [`FlushHeld`].
    pub fn set_flusher(&mut self, flusher: Recipient<FlushHeld>) {
        self.flusher = Some(flusher);
    }

    /// Adds a connection served by `hub`.
    pub fn insert(&mut self, id: MemberId, hub: HubHandle) {
        self.hubs.entry(hub.id).or_insert_with(|| HubOrders {
            addr: hub.addr,
            orders: Vec::new(),
            frames: 0,
            coalescing: Coalescing::new(Instant::now()),
        });
        self.members.insert(id, hub.id);
    }

    /// Forgets a connection that is gone.
    pub fn remove(&mut self, id: MemberId) -> bool {
        self.members.remove(&id).is_some()
    }

    /// Every connection's id.
    pub fn ids(&self) -> Vec<MemberId> {
        self.members.keys().copied().collect()
    }

    fn hub(&mut self, hub: usize) -> Option<&mut HubOrders> {
        let entry = self.hubs.get_mut(&hub)?;
        // A hub with orders is already listed, as busy or as held.
        if entry.orders.is_empty() {
            self.busy.push(hub);
        }
        Some(entry)
    }

    /// Gathers `frame` for `id`. Answers how many deliveries that was (0
    /// or 1).
    pub fn deliver(&mut self, id: MemberId, frame: &Arc<Outgoing>) -> u64 {
        let Some(&hub) = self.members.get(&id) else {
            return 0;
        };
        let Some(entry) = self.hub(hub) else {
            return 0;
        };
        entry.frames += 1;
        match entry.orders.last_mut() {
            Some(Order::Frame(last, ids)) if Arc::ptr_eq(last, frame) => ids.push(id),
            _ => entry.orders.push(Order::Frame(Arc::clone(frame), vec![id])),
        }
        1
    }

    /// Removes `id` and gathers its close, after what it was sent.
    pub fn close(&mut self, id: MemberId, kind: CloseKind) {
        if let Some(hub) = self.members.remove(&id) {
            if let Some(entry) = self.hub(hub) {
                entry.orders.push(Order::Close(id, kind));
            }
        }
    }

    /// Removes every connection and gathers a close for each. Answers how
    /// many there were.
    pub fn close_all(&mut self, kind: CloseKind) -> usize {
        let ids = self.ids();
        for &id in &ids {
            self.close(id, kind);
        }
        ids.len()
    }

    /// Gathers, for polling session `id`, that the frames that follow
    /// replace what it queued after log seq `after`.
    pub fn restart(&mut self, id: MemberId, after: u64) {
        if let Some(&hub) = self.members.get(&id) {
            if let Some(entry) = self.hub(hub) {
                entry.orders.push(Order::Restart(id, after));
            }
        }
    }

    /// Sends each hub with orders gathered its orders, or holds them for
    /// the flush if it had some within the window.
    pub fn dispatch(&mut self) {
        let now = Instant::now();
        let window = if self.flusher.is_some() {
            self.window
        } else {
            Duration::ZERO
        };
        let mut schedule = false;
        for hub in std::mem::take(&mut self.busy) {
            let Some(entry) = self.hubs.get_mut(&hub) else {
                continue;
            };
            match entry.coalescing.offer(now, window) {
                Offer::Now => entry.send(),
                Offer::Hold => {
                    self.held.push(hub);
                    schedule = true;
                }
                // Not listed as busy while held.
                Offer::Held => {}
            }
        }
        if schedule && !self.flush_due {
            if let Some(flusher) = self.flusher.clone() {
                self.flush_due = true;
                actix::spawn(async move {
                    actix::clock::sleep(window).await;
                    flusher.do_send(FlushHeld);
                });
            }
        }
    }

    /// Sends every hub its held orders.
    pub fn flush_held(&mut self) {
        self.flush_due = false;
        let now = Instant::now();
        for hub in std::mem::take(&mut self.held) {
            if let Some(entry) = self.hubs.get_mut(&hub) {
                if entry.coalescing.release(now, self.window) {
                    self.metrics.deliveries_held.inc_by(entry.frames);
                    entry.send();
                }
            }
        }
    }

    /// Sends every hub everything gathered, held or not (the server is
    /// stopping).
    pub fn dispatch_now(&mut self) {
        self.flush_held();
        for hub in std::mem::take(&mut self.busy) {
            if let Some(entry) = self.hubs.get_mut(&hub) {
                entry.send();
            }
        }
    }
}
