//! The connections the ChatRoom reaches, by the hub of the worker thread
//! each runs on ([`crate::delivery::hub`]). What the room sends while handling one
//! event is gathered per hub as [`Order`]s (a frame to many connections
//! is one order, its bytes shared) and sent with [`Connections::dispatch`]
//! as one message per hub, so a broadcast costs one cross-thread wakeup
//! per worker thread rather than one per recipient, and every connection
//! gets its frames and closes in the order the room decided them.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use crate::core::ids::MemberId;
use crate::delivery::hub::{Hub, HubHandle, Order, Orders};
use crate::delivery::member::CloseKind;
use crate::delivery::outbox::SharedFrame;

/// A hub and the orders gathered for it.
struct HubOrders {
    addr: Addr<Hub>,
    orders: Vec<Order>,
}

/// Every connection of this instance, by id.
#[derive(Default)]
pub(crate) struct Connections {
    /// Each connection's hub id.
    members: HashMap<MemberId, usize>,
    hubs: HashMap<usize, HubOrders>,
    /// Hubs with orders gathered, in the order they got their first.
    busy: Vec<usize>,
}

impl Connections {
    /// Adds a connection served by `hub`.
    pub(crate) fn insert(&mut self, id: MemberId, hub: HubHandle) {
        self.hubs.entry(hub.id).or_insert_with(|| HubOrders {
            addr: hub.addr,
            orders: Vec::new(),
        });
        self.members.insert(id, hub.id);
    }

    /// The hub serving `id`, for handing the connection to another shard.
    pub(crate) fn hub_of(&self, id: MemberId) -> Option<HubHandle> {
        let hub = *self.members.get(&id)?;
        let entry = self.hubs.get(&hub)?;
        Some(HubHandle {
            id: hub,
            addr: entry.addr.clone(),
        })
    }

    /// Forgets a connection that is gone.
    pub(crate) fn remove(&mut self, id: MemberId) -> bool {
        let removed = self.members.remove(&id).is_some();
        crate::core::shrink::when_sparse(&mut self.members);
        removed
    }

    /// Every connection's id.
    pub(crate) fn ids(&self) -> Vec<MemberId> {
        self.members.keys().copied().collect()
    }

    fn orders_of(&mut self, hub: usize) -> Option<&mut Vec<Order>> {
        let entry = self.hubs.get_mut(&hub)?;
        if entry.orders.is_empty() {
            self.busy.push(hub);
        }
        Some(&mut entry.orders)
    }

    /// Gathers `frame` for `id`. Answers how many deliveries that was (0
    /// or 1).
    pub(crate) fn deliver(&mut self, id: MemberId, frame: &Arc<SharedFrame>) -> u64 {
        let Some(&hub) = self.members.get(&id) else {
            return 0;
        };
        let Some(orders) = self.orders_of(hub) else {
            return 0;
        };
        match orders.last_mut() {
            Some(Order::Frame(last, ids)) if Arc::ptr_eq(last, frame) => ids.push(id),
            _ => orders.push(Order::Frame(Arc::clone(frame), vec![id])),
        }
        1
    }

    /// Removes `id` and gathers its close, after what it was sent.
    pub(crate) fn close(&mut self, id: MemberId, kind: CloseKind) {
        if let Some(hub) = self.members.remove(&id) {
            crate::core::shrink::when_sparse(&mut self.members);
            if let Some(orders) = self.orders_of(hub) {
                orders.push(Order::Close(id, kind));
            }
        }
    }

    /// Removes every connection and gathers a close for each. Answers how
    /// many there were.
    pub(crate) fn close_all(&mut self, kind: CloseKind) -> usize {
        let ids = self.ids();
        for &id in &ids {
            self.close(id, kind);
        }
        ids.len()
    }

    /// Gathers, for polling session `id`, that the frames that follow
    /// replace what it queued after log seq `after`.
    pub(crate) fn restart(&mut self, id: MemberId, after: u64) {
        if let Some(&hub) = self.members.get(&id) {
            if let Some(orders) = self.orders_of(hub) {
                orders.push(Order::Restart(id, after));
            }
        }
    }

    /// Sends every hub the orders gathered for it.
    pub(crate) fn dispatch(&mut self) {
        for hub in self.busy.drain(..) {
            if let Some(entry) = self.hubs.get_mut(&hub) {
                let orders = std::mem::take(&mut entry.orders);
                entry.addr.do_send(Orders::new(orders));
            }
        }
    }
}
