//! The ChatRoom's agent on each worker thread. The ChatRoom runs on a
//! thread of its own; handing a frame straight to each recipient meant one
//! cross-thread wakeup per recipient, and with the room and a worker on
//! one core the two threads took turns once every few recipients
//! (docs/BENCHMARKS.md, "Long-polling at 5,000 clients"). Instead, what
//! the room decides for one event reaches each worker thread as one
//! message of [`Orders`], and that thread's hub hands everything on
//! locally, in order.
//!
//! The hub keeps this thread's connections. For a WebSocket, its outbox
//! and its write coalescing ([`crate::coalesce`]): a frame is reserved in
//! the outbox (a reader past its limit is dropped, and the room told with
//! [`SlowReaders`]) and queued there already encoded; once the orders are
//! carried out, each writer that got frames is woken, at once if its
//! connection is quiet, else at the hub's next flush, so a busy connection
//! gets about one write per window and a quiet one no delay. A polling
//! session gets the frame as a message to its actor, at once: it answers
//! its waiting poll with whatever has gathered, which batches by itself.
//! Closes and restarts travel in the same orders, so they never overtake a
//! frame. Connections join the hub of the thread they run on,
//! synchronously, before the room hears of them.
//!
//! The other way, polling sessions report that they were polled (which
//! renews their lease) through their hub, which tells the room about all
//! of them at once, [`TOUCH_BATCH`] after the first: thousands of pollers
//! answered in one burst then cost the room one message, not thousands.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::chat_core::MemberId;
use crate::chat_room::{ChatRoom, Touch};
use crate::coalesce::{Coalescing, Offer};
use crate::member::{CloseKind, ToMember};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Outgoing};
use crate::server::AppState;

/// What the room orders for one connection of a hub's thread.
#[derive(Debug)]
pub enum Order {
    /// This frame to each of these connections.
    Frame(Arc<Outgoing>, Vec<MemberId>),
    /// Close this connection (after what it was sent).
    Close(MemberId, CloseKind),
    /// A polling session starts over after a log seq (see
    /// [`ToMember::Restart`]).
    Restart(MemberId, u64),
}

/// The room's orders for one hub, to be carried out in order.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Orders(pub Vec<Order>);

/// Connections a hub dropped for not reading: the room makes them leave.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SlowReaders(pub Vec<MemberId>);

/// How the room reaches a thread's hub.
#[derive(Clone)]
pub struct HubHandle {
    /// Unique in the process.
    pub id: usize,
    /// The hub's mailbox.
    pub addr: Addr<Hub>,
}

static NEXT_HUB: AtomicUsize = AtomicUsize::new(1);

/// How long a hub gathers polled sessions before telling the room. Far
/// below any lease (`Limits::poll_lease`), which it only delays renewing.
pub const TOUCH_BATCH: Duration = Duration::from_millis(250);

/// One connection as its hub reaches it.
struct Local {
    to: Recipient<ToMember>,
    outbox: Option<Outbox>,
    coalescing: Coalescing,
}

/// A thread's connections and what the hub needs to serve them.
struct Registry {
    handle: HubHandle,
    members: HashMap<MemberId, Local>,
    max_outbox_bytes: usize,
    /// Connections whose writer waits for the flush, and whether the
    /// flush is scheduled.
    held: Vec<MemberId>,
    flush_due: bool,
    window: Duration,
    metrics: Arc<Metrics>,
    room: Addr<ChatRoom>,
    /// Polling sessions polled since the room was last told.
    touched: Vec<MemberId>,
}

thread_local! {
    /// This thread's hub; `None` until the first connection joins.
    static REGISTRY: RefCell<Option<Registry>> = const { RefCell::new(None) };
}

/// Registers connection `id` with this thread's hub (started on first
/// use) and answers the hub, to be given to the room. `outbox` is a
/// WebSocket's; a polling session has none and gets frames as messages.
pub fn join(
    id: MemberId,
    to: Recipient<ToMember>,
    outbox: Option<Outbox>,
    state: &AppState,
) -> HubHandle {
    REGISTRY.with(|registry| {
        let mut registry = registry.borrow_mut();
        let registry = registry.get_or_insert_with(|| Registry {
            handle: HubHandle {
                id: NEXT_HUB.fetch_add(1, Ordering::Relaxed),
                addr: Hub.start(),
            },
            members: HashMap::new(),
            max_outbox_bytes: state.limits.max_outbox_bytes,
            held: Vec::new(),
            flush_due: false,
            window: state.limits.coalesce,
            metrics: Arc::clone(&state.metrics),
            room: state.room.clone(),
            touched: Vec::new(),
        });
        let coalescing = Coalescing::new(Instant::now());
        let local = Local {
            to,
            outbox,
            coalescing,
        };
        registry.members.insert(id, local);
        registry.handle.clone()
    })
}

/// Notes that polling session `id` was polled; the room hears of it with
/// the others polled within [`TOUCH_BATCH`].
pub fn touch(id: MemberId) {
    REGISTRY.with(|registry| {
        let mut registry = registry.borrow_mut();
        let Some(registry) = registry.as_mut() else {
            return;
        };
        registry.touched.push(id);
        if registry.touched.len() == 1 {
            actix_rt::spawn(async {
                actix_rt::time::sleep(TOUCH_BATCH).await;
                REGISTRY.with(|registry| {
                    if let Some(registry) = registry.borrow_mut().as_mut() {
                        let ids = std::mem::take(&mut registry.touched);
                        registry.room.do_send(Touch { ids });
                    }
                });
            });
        }
    });
}

/// Unregisters connection `id`, which has stopped.
pub fn leave(id: MemberId) {
    REGISTRY.with(|registry| {
        if let Some(registry) = registry.borrow_mut().as_mut() {
            registry.members.remove(&id);
            crate::shrink::when_sparse(&mut registry.members);
        }
    });
}

impl Registry {
    /// Carries out `orders`, then wakes each writer that got frames, or
    /// holds it for the flush. Answers whether the flush is to be
    /// scheduled.
    fn carry_out(&mut self, orders: Vec<Order>) -> bool {
        let mut slow = Vec::new();
        let mut woken: Vec<MemberId> = Vec::new();
        for order in orders {
            match order {
                Order::Frame(frame, ids) => {
                    for id in ids {
                        if self.deliver(id, &frame, &mut slow) {
                            woken.push(id);
                        }
                    }
                }
                Order::Close(id, kind) => {
                    if let Some(local) = self.members.get(&id) {
                        local.to.do_send(ToMember::Close(kind));
                    }
                }
                Order::Restart(id, after) => {
                    if let Some(local) = self.members.get(&id) {
                        local.to.do_send(ToMember::Restart(after));
                    }
                }
            }
        }
        if !slow.is_empty() {
            self.room.do_send(SlowReaders(slow));
        }
        // One decision per connection, after everything is queued: one
        // write carries all of a connection's frames.
        woken.sort_unstable();
        let now = Instant::now();
        let mut schedule = false;
        for run in woken.chunk_by(|a, b| a == b) {
            let id = run[0];
            let Some(local) = self.members.get_mut(&id) else {
                continue;
            };
            match local.coalescing.offer(now, self.window) {
                Offer::Now => {
                    if let Some(outbox) = &local.outbox {
                        outbox.wake();
                    }
                    continue;
                }
                Offer::Hold => {
                    self.held.push(id);
                    schedule = true;
                }
                Offer::Held => {}
            }
            self.metrics.deliveries_held.inc_by(run.len() as u64);
        }
        schedule && !std::mem::replace(&mut self.flush_due, true)
    }

    /// Wakes the writer of every connection held for the flush.
    fn flush(&mut self) {
        self.flush_due = false;
        for id in std::mem::take(&mut self.held) {
            if let Some(local) = self.members.get_mut(&id) {
                if local.coalescing.release() {
                    if let Some(outbox) = &local.outbox {
                        outbox.wake();
                    }
                }
            }
        }
    }

    /// Hands one frame to `id`; answers whether it was queued in an
    /// outbox, whose writer is to be woken.
    fn deliver(&mut self, id: MemberId, frame: &Outgoing, slow: &mut Vec<MemberId>) -> bool {
        let Some(local) = self.members.get_mut(&id) else {
            return false;
        };
        let Some(outbox) = &local.outbox else {
            local
                .to
                .do_send(ToMember::Frame(frame.text().clone(), frame.at()));
            return false;
        };
        if !outbox.try_reserve(frame.text().len(), self.max_outbox_bytes) {
            // Nothing more is queued for it; its connection is cut.
            log::warn!("connection {id} is not reading; dropping it");
            self.metrics.slow_clients_dropped.inc();
            outbox.drop_reader();
            local.to.do_send(ToMember::Close(CloseKind::SlowReader));
            self.members.remove(&id);
            slow.push(id);
            return false;
        }
        outbox.push(frame);
        true
    }
}

/// The mailbox of a thread's hub; its state is the thread's registry.
pub struct Hub;

impl Actor for Hub {
    type Context = Context<Self>;
}

impl Handler<Orders> for Hub {
    type Result = ();

    fn handle(&mut self, orders: Orders, ctx: &mut Context<Self>) {
        let flush_in = REGISTRY.with(|registry| {
            let mut registry = registry.borrow_mut();
            let registry = registry.as_mut()?;
            registry.carry_out(orders.0).then_some(registry.window)
        });
        if let Some(window) = flush_in {
            ctx.run_later(window, |_, _| {
                REGISTRY.with(|registry| {
                    if let Some(registry) = registry.borrow_mut().as_mut() {
                        registry.flush();
                    }
                });
            });
        }
    }
}
