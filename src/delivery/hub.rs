//! The ChatRoom's agent on each worker thread. The ChatRoom runs on a
//! thread of its own; handing a frame straight to each recipient meant one
//! cross-thread wakeup per recipient, and with the room and a worker on
//! one core the two threads took turns once every few recipients
//! (docs/BENCHMARKS.md, "Long-polling at 5,000 clients"). Instead, what
//! the room decides for one event reaches each worker thread as one
//! message of [`Orders`], and that thread's hub hands everything on
//! locally, in order.
//!
//! The hub keeps this thread's connections, each with one [`Sink`] and
//! one [`Backlog`]: the single owner of "frames for member M reach M's
//! client". Every frame, for either transport, is first reserved in the
//! member's backlog; a member past its limit is dropped (its backlog marked,
//! its connection told to close, the room told with [`SlowReaders`]), the
//! same rule for both. A WebSocket's frame is then queued in its outbox
//! already encoded and, once the orders are carried out, its writer is
//! woken: at once, unless the thread is saturated (the orders waited in the
//! hub's mailbox) and the connection busy, when it waits for the hub's next
//! flush ([`crate::delivery::coalesce`]); so frames wait only while the CPU
//! is short, and then a busy connection gets about one write per window. A
//! polling session gets the
//! frame as a [`PollFeed`] message, at once: it answers its waiting poll
//! with whatever has gathered, which batches by itself, and releases the
//! bytes as its client acknowledges them. Closes and restarts travel in the
//! same orders, so they never overtake a frame. Connections join the hub of
//! the thread they run on, synchronously, before the room hears of them.
//! The hub knows the room only by the two recipients in [`HubSettings`].
//!
//! The other way, polling sessions report that they were polled (which
//! renews their lease) through their hub, which tells the room about all
//! of them at once ([`Polled`]), [`POLLED_BATCH`] after the first: thousands of pollers
//! answered in one burst then cost the room one message, not thousands.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::core::ids::MemberId;
use crate::delivery::backlog::Backlog;
use crate::delivery::coalesce::{Coalescing, Offer, Saturation};
use crate::delivery::member::{Close, CloseKind, PollFeed};
use crate::delivery::outbox::{Outbox, SharedFrame};
use crate::metrics::Metrics;

/// What the room orders for one connection of a hub's thread.
#[derive(Debug)]
pub(crate) enum Order {
    /// This frame to each of these connections.
    Frame(Arc<SharedFrame>, Vec<MemberId>),
    /// Close this connection (after what it was sent).
    Close(MemberId, CloseKind),
    /// A polling session starts over after a log seq (see
    /// [`PollFeed::Restart`]).
    Restart(MemberId, u64),
}

/// The room's orders for one hub, to be carried out in order, and when the
/// room sent them: how long they waited tells the hub whether its thread
/// is saturated.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub(crate) struct Orders {
    pub(crate) orders: Vec<Order>,
    pub(crate) sent: Instant,
}

impl Orders {
    /// `orders`, sent now.
    pub(crate) fn new(orders: Vec<Order>) -> Self {
        Orders {
            orders,
            sent: Instant::now(),
        }
    }
}

/// Connections a hub dropped for not reading: the room makes them leave.
#[derive(Message, Debug, PartialEq, Eq)]
#[rtype(result = "()")]
pub(crate) struct SlowReaders(pub(crate) Vec<MemberId>);

/// Polling sessions were polled: their members are alive.
#[derive(Message, Debug, PartialEq, Eq)]
#[rtype(result = "()")]
pub(crate) struct Polled(pub(crate) Vec<MemberId>);

/// How the room reaches a thread's hub.
#[derive(Clone)]
pub(crate) struct HubHandle {
    /// Unique in the process.
    pub(crate) id: usize,
    /// The hub's mailbox.
    pub(crate) addr: Addr<Hub>,
}

/// What every hub is started with: the bound, the coalescing window, and
/// where it reports to.
#[derive(Clone)]
pub(crate) struct HubSettings {
    /// Bytes that may wait for one member's client.
    pub(crate) max_backlog_bytes: usize,
    /// The write-coalescing window.
    pub(crate) window: Duration,
    /// How long orders may wait before the thread counts as saturated.
    pub(crate) saturation_lag: Duration,
    /// The server's metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// Where dropped readers are reported (the room).
    pub(crate) slow_readers: Recipient<SlowReaders>,
    /// Where polled sessions are reported (the room).
    pub(crate) polled: Recipient<Polled>,
}

/// Where one member's frames go.
pub(crate) enum Sink {
    /// A WebSocket: frames queued encoded in its outbox, its writer woken.
    Socket(Outbox),
    /// A polling session: frames handed to its actor, which keeps them
    /// until its client acknowledges them and then releases `backlog`.
    Poll {
        /// The session's actor.
        feed: Recipient<PollFeed>,
        /// The session's byte count.
        backlog: Backlog,
    },
}

impl Sink {
    fn backlog(&self) -> &Backlog {
        match self {
            Sink::Socket(outbox) => outbox.backlog(),
            Sink::Poll { backlog, .. } => backlog,
        }
    }
}

static NEXT_HUB: AtomicUsize = AtomicUsize::new(1);

/// How long a hub gathers polled sessions before telling the room. Far
/// below any lease (`Limits::poll_lease`), which it only delays renewing.
pub(crate) const POLLED_BATCH: Duration = Duration::from_millis(250);

/// One connection as its hub reaches it.
struct Local {
    close: Recipient<Close>,
    sink: Sink,
    coalescing: Coalescing,
}

/// A thread's connections and what the hub needs to serve them.
struct Registry {
    handle: HubHandle,
    members: HashMap<MemberId, Local>,
    settings: HubSettings,
    /// Connections whose writer waits for the flush, and whether the
    /// flush is scheduled.
    held: Vec<MemberId>,
    flush_due: bool,
    /// Whether this thread is saturated, from how long orders waited.
    saturation: Saturation,
    /// Polling sessions polled since the room was last told.
    polled: Vec<MemberId>,
}

thread_local! {
    /// This thread's hub; `None` until the first connection joins.
    static REGISTRY: RefCell<Option<Registry>> = const { RefCell::new(None) };
}

/// Registers connection `id` with this thread's hub (started on first
/// use with `settings`) and answers the hub, to be given to the room.
pub(crate) fn join(
    id: MemberId,
    close: Recipient<Close>,
    sink: Sink,
    settings: &HubSettings,
) -> HubHandle {
    REGISTRY.with(|registry| {
        let mut registry = registry.borrow_mut();
        let registry = registry.get_or_insert_with(|| Registry::new(settings.clone()));
        let local = Local {
            close,
            sink,
            coalescing: Coalescing::new(Instant::now()),
        };
        registry.members.insert(id, local);
        registry.handle.clone()
    })
}

/// Notes that polling session `id` was polled; the room hears of it with
/// the others polled within [`POLLED_BATCH`].
pub(crate) fn polled(id: MemberId) {
    REGISTRY.with(|registry| {
        let mut registry = registry.borrow_mut();
        let Some(registry) = registry.as_mut() else {
            return;
        };
        registry.polled.push(id);
        if registry.polled.len() == 1 {
            actix_rt::spawn(async {
                actix_rt::time::sleep(POLLED_BATCH).await;
                REGISTRY.with(|registry| {
                    if let Some(registry) = registry.borrow_mut().as_mut() {
                        let ids = std::mem::take(&mut registry.polled);
                        registry.settings.polled.do_send(Polled(ids));
                    }
                });
            });
        }
    });
}

/// Unregisters connection `id`, which has stopped.
pub(crate) fn leave(id: MemberId) {
    REGISTRY.with(|registry| {
        if let Some(registry) = registry.borrow_mut().as_mut() {
            registry.members.remove(&id);
            crate::core::shrink::when_sparse(&mut registry.members);
        }
    });
}

impl Registry {
    fn new(settings: HubSettings) -> Self {
        Registry {
            handle: HubHandle {
                id: NEXT_HUB.fetch_add(1, Ordering::Relaxed),
                addr: Hub.start(),
            },
            members: HashMap::new(),
            settings,
            held: Vec::new(),
            flush_due: false,
            saturation: Saturation::new(Instant::now()),
            polled: Vec::new(),
        }
    }

    /// Carries out `orders`, then wakes each writer that got frames, or
    /// holds it for the flush. Answers whether the flush is to be
    /// scheduled.
    fn carry_out(&mut self, orders: Vec<Order>, now: Instant) -> bool {
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
                        local.close.do_send(Close(kind));
                    }
                }
                Order::Restart(id, after) => {
                    if let Some(Local {
                        sink: Sink::Poll { feed, .. },
                        ..
                    }) = self.members.get(&id)
                    {
                        feed.do_send(PollFeed::Restart(after));
                    }
                }
            }
        }
        if !slow.is_empty() {
            self.settings.slow_readers.do_send(SlowReaders(slow));
        }
        // One decision per connection, after everything is queued: one
        // write carries all of a connection's frames.
        woken.sort_unstable();
        let saturated = self.saturation.at(now);
        let mut schedule = false;
        for run in woken.chunk_by(|a, b| a == b) {
            let id = run[0];
            let Some(local) = self.members.get_mut(&id) else {
                continue;
            };
            match local.coalescing.offer(now, self.settings.window, saturated) {
                Offer::Now => {
                    if let Sink::Socket(outbox) = &local.sink {
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
            self.settings
                .metrics
                .deliveries_held
                .inc_by(run.len() as u64);
        }
        schedule && !std::mem::replace(&mut self.flush_due, true)
    }

    /// Orders sent at `sent` are handled at `now`: whether the thread is
    /// saturated, counted in the metrics when a spell starts.
    fn note_wait(&mut self, sent: Instant, now: Instant) {
        let settings = &self.settings;
        if self
            .saturation
            .note(sent, now, settings.saturation_lag, settings.window)
        {
            self.settings.metrics.hub_saturated.inc();
        }
    }

    /// Wakes the writer of every connection held for the flush.
    fn flush(&mut self) {
        self.flush_due = false;
        for id in std::mem::take(&mut self.held) {
            if let Some(local) = self.members.get_mut(&id) {
                if local.coalescing.release() {
                    if let Sink::Socket(outbox) = &local.sink {
                        outbox.wake();
                    }
                }
            }
        }
    }

    /// Hands one frame to `id`, within its backlog's bound; answers
    /// whether it was queued in an outbox, whose writer is to be woken.
    fn deliver(&mut self, id: MemberId, frame: &SharedFrame, slow: &mut Vec<MemberId>) -> bool {
        let Some(local) = self.members.get_mut(&id) else {
            return false;
        };
        let backlog = local.sink.backlog();
        if backlog.is_dropped() {
            // Dropped already (by its session, for its own replies): it
            // leaves through its session; nothing more is queued or counted.
            return false;
        }
        let cost = match &local.sink {
            Sink::Socket(_) => frame.wire_len(),
            Sink::Poll { .. } => frame.text().len(),
        };
        // Its own bound first, then the server's: the frame's bytes are
        // charged to the pool once, by the first recipient that needs them
        // in that form.
        let queued = backlog.try_reserve(cost, self.settings.max_backlog_bytes)
            && match &local.sink {
                Sink::Socket(outbox) => frame.encoded_for(backlog).map(|b| outbox.push(b)),
                Sink::Poll { feed, .. } => frame
                    .text_for(backlog)
                    .map(|text| feed.do_send(PollFeed::Frame(text, frame.at()))),
            }
            .is_some();
        if queued {
            return matches!(local.sink, Sink::Socket(_));
        }
        // Nothing more is queued for it; its connection is cut.
        log::warn!(
            "connection {id} is not reading ({} bytes waiting); dropping it",
            backlog.pending()
        );
        self.settings.metrics.slow_clients_dropped.inc();
        backlog.drop_reader();
        // A WebSocket's writer ends the connection when it sees the
        // mark, even if the socket is full and its session cannot run.
        if let Sink::Socket(outbox) = &local.sink {
            outbox.wake();
        }
        local.close.do_send(Close(CloseKind::SlowReader));
        self.members.remove(&id);
        slow.push(id);
        false
    }
}

/// The mailbox of a thread's hub; its state is the thread's registry.
pub(crate) struct Hub;

impl Actor for Hub {
    type Context = Context<Self>;
}

impl Handler<Orders> for Hub {
    type Result = ();

    fn handle(&mut self, orders: Orders, ctx: &mut Context<Self>) {
        let flush_in = REGISTRY.with(|registry| {
            let mut registry = registry.borrow_mut();
            let registry = registry.as_mut()?;
            let now = Instant::now();
            registry.note_wait(orders.sent, now);
            registry
                .carry_out(orders.orders, now)
                .then_some(registry.settings.window)
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

#[cfg(test)]
#[path = "hub/tests.rs"]
mod tests;
