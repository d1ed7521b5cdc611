//! Prometheus metrics: one registry per server (so tests running several
//! servers in one process do not share counters), rendered in the text
//! exposition format at `/metrics`.

use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::protocol::ErrorCode;

/// A transport, as a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// A WebSocket connection.
    WebSocket,
    /// A long-polling session.
    Polling,
}

impl Transport {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Polling => "polling",
        }
    }
}

/// Every metric the server keeps.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    /// Open connections by transport.
    pub(crate) connections: IntGaugeVec,
    /// Rooms held.
    pub(crate) rooms: IntGauge,
    /// Members in rooms.
    pub(crate) users: IntGauge,
    /// Bytes of history held, by holder: `backplane` (the in-memory one's
    /// histories) and `mirrors` (this instance's rooms), which share their
    /// messages' allocations. Resolved once, as they are set after every
    /// event.
    pub(crate) history_bytes: [IntGauge; 2],
    /// Rate buckets kept, per client address, per resume token, and per
    /// resume token for `history` requests (each map bounded by
    /// `MAX_BUCKETS`; docs/DEPLOY.md counts them in the worst case).
    pub(crate) rate_buckets: [IntGauge; 3],
    /// Chat messages accepted.
    pub(crate) messages_in: IntCounter,
    /// Frames handed to connections (one per recipient).
    pub(crate) deliveries: IntCounter,
    /// Deliveries to WebSocket connections that waited to be written with
    /// later ones ([`crate::delivery::coalesce`]).
    pub(crate) deliveries_held: IntCounter,
    /// Spells in which a worker thread was saturated (the room's orders
    /// waited in its mailbox), when busy connections' frames may be held.
    pub(crate) hub_saturated: IntCounter,
    /// Connections dropped for not reading.
    pub(crate) slow_clients_dropped: IntCounter,
    /// Frames that reached the room after their connection had ended, so
    /// were not handled (a long-polling send answers those with 404).
    pub(crate) frames_unheard: IntCounter,
    /// Bytes queued to all connections (`--max-queued-bytes` bounds it),
    /// read from the pool when the metrics are rendered.
    pub(crate) queued_bytes: IntGauge,
    /// Readers dropped to keep the server's queued bytes within bound.
    pub(crate) queue_evictions: IntCounter,
    /// Error frames and refusals sent, by code.
    pub(crate) errors: IntCounterVec,
    /// HTTP refusals (403, 404, 429, 503...) answered, by code.
    pub(crate) refusals: IntCounterVec,
    /// 1 while the backplane is unreachable.
    pub(crate) degraded: IntGauge,
    /// The embedded store's file size, bytes (0 without one).
    pub(crate) store_bytes: IntGauge,
    /// Messages the embedded store's retention deleted.
    pub(crate) store_swept_messages: IntCounter,
    /// Empty rooms the embedded store deleted.
    pub(crate) store_swept_rooms: IntCounter,
}

impl Metrics {
    /// Fresh metrics in a fresh registry.
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        // unwrap: the names and labels below are valid constants, and each is
        // registered once in a registry of its own.
        let connections = IntGaugeVec::new(
            Opts::new("parley_connections", "Open connections by transport"),
            &["transport"],
        )
        .unwrap();
        let rooms = IntGauge::new("parley_rooms", "Rooms held").unwrap();
        let users = IntGauge::new("parley_users", "Members in rooms").unwrap();
        let history_bytes = IntGaugeVec::new(
            Opts::new("parley_history_bytes", "Bytes of history held, by holder"),
            &["holder"],
        )
        .unwrap();
        let rate_buckets = IntGaugeVec::new(
            Opts::new(
                "parley_rate_buckets",
                "Rate buckets kept, by what they are keyed by",
            ),
            &["per"],
        )
        .unwrap();
        let messages_in =
            IntCounter::new("parley_messages_in_total", "Chat messages accepted").unwrap();
        let deliveries =
            IntCounter::new("parley_deliveries_total", "Frames handed to connections").unwrap();
        let deliveries_held = IntCounter::new(
            "parley_deliveries_held_total",
            "Deliveries that waited to be written together with later ones",
        )
        .unwrap();
        let hub_saturated = IntCounter::new(
            "parley_hub_saturated_total",
            "Spells in which a worker thread was saturated and busy connections' frames could be held",
        )
        .unwrap();
        let slow_clients_dropped = IntCounter::new(
            "parley_slow_clients_dropped_total",
            "Connections dropped for not reading",
        )
        .unwrap();
        let frames_unheard = IntCounter::new(
            "parley_frames_unheard_total",
            "Frames that reached the room after their connection had ended, not handled",
        )
        .unwrap();
        let queued_bytes = IntGauge::new(
            "parley_queued_bytes",
            "Bytes queued to all connections and not yet taken by their clients",
        )
        .unwrap();
        let queue_evictions = IntCounter::new(
            "parley_queue_evictions_total",
            "Readers dropped, most bytes waiting first, to keep the queued bytes within bound",
        )
        .unwrap();
        let degraded = IntGauge::new(
            "parley_backplane_degraded",
            "1 while the backplane (Redis, or the data directory) cannot be reached or written",
        )
        .unwrap();
        let store_bytes = IntGauge::new(
            "parley_store_bytes",
            "Size of the embedded store's file in the data directory, bytes",
        )
        .unwrap();
        let store_swept_messages = IntCounter::new(
            "parley_store_retention_messages_deleted_total",
            "Messages deleted by --retention-messages and --retention-days",
        )
        .unwrap();
        let store_swept_rooms = IntCounter::new(
            "parley_store_empty_rooms_deleted_total",
            "Rooms deleted by --empty-room-days",
        )
        .unwrap();
        let refusals = IntCounterVec::new(
            Opts::new(
                "parley_http_refusals_total",
                "HTTP requests refused, by code",
            ),
            &["code"],
        )
        .unwrap();
        let errors = IntCounterVec::new(
            Opts::new("parley_errors_total", "Errors sent to clients, by code"),
            &["code"],
        )
        .unwrap();
        for collector in [
            Box::new(connections.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rooms.clone()),
            Box::new(users.clone()),
            Box::new(history_bytes.clone()),
            Box::new(rate_buckets.clone()),
            Box::new(messages_in.clone()),
            Box::new(deliveries.clone()),
            Box::new(deliveries_held.clone()),
            Box::new(hub_saturated.clone()),
            Box::new(slow_clients_dropped.clone()),
            Box::new(frames_unheard.clone()),
            Box::new(queued_bytes.clone()),
            Box::new(queue_evictions.clone()),
            Box::new(errors.clone()),
            Box::new(refusals.clone()),
            Box::new(degraded.clone()),
            Box::new(store_bytes.clone()),
            Box::new(store_swept_messages.clone()),
            Box::new(store_swept_rooms.clone()),
        ] {
            registry.register(collector).unwrap();
        }
        for transport in [Transport::WebSocket, Transport::Polling] {
            connections.with_label_values(&[transport.as_str()]);
        }
        for code in ErrorCode::ALL {
            errors.with_label_values(&[code.as_str()]);
        }
        Metrics {
            registry,
            connections,
            rooms,
            users,
            history_bytes: ["backplane", "mirrors"].map(|h| history_bytes.with_label_values(&[h])),
            rate_buckets: ["address", "token", "history"]
                .map(|per| rate_buckets.with_label_values(&[per])),
            messages_in,
            deliveries,
            deliveries_held,
            hub_saturated,
            slow_clients_dropped,
            frames_unheard,
            queued_bytes,
            queue_evictions,
            errors,
            refusals,
            degraded,
            store_bytes,
            store_swept_messages,
            store_swept_rooms,
        }
    }

    /// Counts one error sent.
    pub(crate) fn error(&self, code: ErrorCode) {
        self.errors.with_label_values(&[code.as_str()]).inc();
    }

    /// The gauge of open connections of one transport.
    pub(crate) fn connections_of(&self, transport: Transport) -> IntGauge {
        self.connections.with_label_values(&[transport.as_str()])
    }

    /// The text exposition of every metric, and the heap's when the
    /// binary has said how to read it ([`set_heap_probe`]).
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::new();
        // unwrap: encoding into a Vec cannot fail for well-formed metrics.
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .unwrap();
        let mut text = String::from_utf8_lossy(&out).into_owned();
        if let Some(heap) = HEAP_PROBE.get().and_then(|probe| probe()) {
            text.push_str(&heap.render());
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// What the binary's allocator says of the heap. Telling a leak from an
/// allocator that keeps freed pages needs both: `allocated` grows with a
/// leak, `resident` alone may grow with fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes in blocks the program holds.
    pub allocated: u64,
    /// Bytes of memory the allocator keeps resident (its metadata and
    /// freed pages not yet returned included).
    pub resident: u64,
}

impl HeapStats {
    /// The two gauges in the text exposition format.
    fn render(&self) -> String {
        format!(
            "# HELP parley_heap_allocated_bytes Bytes in heap blocks the server holds, by its allocator\n\
             # TYPE parley_heap_allocated_bytes gauge\n\
             parley_heap_allocated_bytes {}\n\
             # HELP parley_heap_resident_bytes Bytes the server's allocator keeps resident, freed pages not yet returned included\n\
             # TYPE parley_heap_resident_bytes gauge\n\
             parley_heap_resident_bytes {}\n",
            self.allocated, self.resident
        )
    }
}

/// How to read the heap's statistics, set once by the binary (the library
/// does not know which allocator it runs on).
static HEAP_PROBE: std::sync::OnceLock<fn() -> Option<HeapStats>> = std::sync::OnceLock::new();

/// Says how `/metrics` reads the heap's statistics; only the first call
/// counts.
pub fn set_heap_probe(probe: fn() -> Option<HeapStats>) {
    let _ = HEAP_PROBE.set(probe);
}
