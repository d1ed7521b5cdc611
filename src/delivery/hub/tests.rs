//! The hub's rules, on a registry driven directly: one byte bound and one
//! "too slow" rule for both sinks, orders kept in order, restarts only for
//! polling sessions. What the hub sends is recorded by a stand-in actor,
//! and each check first awaits a request to that actor, which its mailbox
//! answers only after every message sent to it before.

use std::sync::Mutex;

use bytestring::ByteString;

use super::*;

/// Everything the hub told the room or a connection, in order.
#[derive(Default)]
struct Recorder {
    heard: Arc<Mutex<Vec<String>>>,
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Recorder {
    fn note(&self, what: String) {
        self.heard.lock().unwrap().push(what);
    }
}

impl Handler<Close> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: Close, _: &mut Context<Self>) {
        self.note(format!("close {:?}", msg.0));
    }
}

impl Handler<PollFeed> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: PollFeed, _: &mut Context<Self>) {
        self.note(match msg {
            PollFeed::Frame(text, at) => format!("frame {text} @{at}"),
            PollFeed::Reply(text) => format!("reply {text}"),
            PollFeed::Restart(after) => format!("restart {after}"),
        });
    }
}

impl Handler<SlowReaders> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: SlowReaders, _: &mut Context<Self>) {
        self.note(format!("slow {:?}", msg.0));
    }
}

impl Handler<Polled> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: Polled, _: &mut Context<Self>) {
        self.note(format!("polled {:?}", msg.0));
    }
}

/// Answered after everything sent before it.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
struct Heard;

impl Handler<Heard> for Recorder {
    type Result = Vec<String>;
    fn handle(&mut self, _: Heard, _: &mut Context<Self>) -> Vec<String> {
        std::mem::take(&mut *self.heard.lock().unwrap())
    }
}

/// Two WebSocket frames of 5 bytes (7 with their headers), or one polling
/// frame of 8 and not two.
const LIMIT: usize = 14;

fn registry(recorder: &Addr<Recorder>) -> Registry {
    Registry::new(HubSettings {
        max_backlog_bytes: LIMIT,
        window: Duration::from_millis(20),
        saturation_lag: Duration::from_millis(2),
        metrics: Arc::new(Metrics::new()),
        slow_readers: recorder.clone().recipient(),
        polled: recorder.clone().recipient(),
    })
}

fn frame(text: &'static str, at: u64) -> Arc<SharedFrame> {
    Arc::new(SharedFrame::new(ByteString::from_static(text), at))
}

fn add(registry: &mut Registry, id: MemberId, sink: Sink, recorder: &Addr<Recorder>) {
    let local = Local {
        close: recorder.clone().recipient(),
        sink,
        coalescing: Coalescing::new(Instant::now()),
    };
    registry.members.insert(id, local);
}

#[actix_rt::test]
async fn a_websocket_past_its_bound_is_dropped_and_the_room_told() {
    let recorder = Recorder::default().start();
    let mut hub = registry(&recorder);
    let outbox = Outbox::default();
    add(&mut hub, 1, Sink::Socket(outbox.clone()), &recorder);
    let now = Instant::now();
    let orders = vec![
        Order::Frame(frame("hello", 1), vec![1]),
        Order::Frame(frame("world", 2), vec![1]),
    ];
    hub.carry_out(orders, now);
    assert_eq!(outbox.backlog().pending(), 14, "both fit, headers counted");
    hub.carry_out(vec![Order::Frame(frame("!", 3), vec![1])], now);
    assert!(outbox.backlog().is_dropped());
    assert_eq!(outbox.backlog().pending(), 14, "nothing more queued");
    assert!(!hub.members.contains_key(&1), "forgotten by the hub");
    let heard = recorder.send(Heard).await.unwrap();
    assert_eq!(heard, ["close SlowReader", "slow [1]"]);
}

#[actix_rt::test]
async fn a_polling_session_gets_frames_in_order_under_the_same_bound() {
    let recorder = Recorder::default().start();
    let mut hub = registry(&recorder);
    let backlog = Backlog::default();
    let sink = Sink::Poll {
        feed: recorder.clone().recipient(),
        backlog: backlog.clone(),
    };
    add(&mut hub, 7, sink, &recorder);
    let now = Instant::now();
    let orders = vec![
        Order::Restart(7, 4),
        Order::Frame(frame("abcdefgh", 5), vec![7]),
        Order::Close(7, CloseKind::Expired),
    ];
    // Nothing is woken for a polling session: it answers its poll itself.
    assert!(!hub.carry_out(orders, now));
    assert_eq!(backlog.pending(), 8, "a polling frame costs its text");
    let heard = recorder.send(Heard).await.unwrap();
    assert_eq!(heard, ["restart 4", "frame abcdefgh @5", "close Expired"]);
    hub.carry_out(vec![Order::Frame(frame("ijklmnop", 6), vec![7])], now);
    assert!(backlog.is_dropped(), "the same rule as a WebSocket's");
    let heard = recorder.send(Heard).await.unwrap();
    assert_eq!(heard, ["close SlowReader", "slow [7]"]);
}

#[actix_rt::test]
async fn restarts_reach_polling_sessions_only_and_unknown_ids_nothing() {
    let recorder = Recorder::default().start();
    let mut hub = registry(&recorder);
    add(&mut hub, 1, Sink::Socket(Outbox::default()), &recorder);
    let orders = vec![
        Order::Restart(1, 9),
        Order::Frame(frame("x", 1), vec![2]),
        Order::Close(3, CloseKind::GoingAway),
    ];
    hub.carry_out(orders, Instant::now());
    assert!(recorder.send(Heard).await.unwrap().is_empty());
}

#[actix_rt::test]
async fn a_busy_websocket_on_a_thread_that_keeps_up_is_written_at_once() {
    let recorder = Recorder::default().start();
    let mut hub = registry(&recorder);
    add(&mut hub, 1, Sink::Socket(Outbox::default()), &recorder);
    let start = Instant::now();
    for at in 0..5 {
        let now = start + Duration::from_millis(at);
        hub.note_wait(now, now);
        let orders = vec![Order::Frame(frame("a", at + 1), vec![1])];
        assert!(!hub.carry_out(orders, now), "no flush at {at} ms");
    }
    assert!(hub.held.is_empty());
    assert_eq!(hub.settings.metrics.deliveries_held.get(), 0);
    assert_eq!(hub.settings.metrics.hub_saturated.get(), 0);
}

#[actix_rt::test]
async fn a_busy_websocket_on_a_saturated_thread_is_held_for_one_flush() {
    let recorder = Recorder::default().start();
    let mut hub = registry(&recorder);
    let outbox = Outbox::default();
    add(&mut hub, 1, Sink::Socket(outbox), &recorder);
    let start = Instant::now();
    // These orders waited 5 ms in the mailbox: the thread is saturated.
    hub.note_wait(start - Duration::from_millis(5), start);
    assert_eq!(hub.settings.metrics.hub_saturated.get(), 1);
    assert!(!hub.carry_out(vec![Order::Frame(frame("a", 1), vec![1])], start));
    // A second frame within a quarter window: held, and a flush is due.
    let soon = start + Duration::from_millis(1);
    assert!(hub.carry_out(vec![Order::Frame(frame("b", 2), vec![1])], soon));
    assert_eq!(hub.held, [1]);
    // Already due: a third asks for no second flush.
    assert!(!hub.carry_out(vec![Order::Frame(frame("c", 3), vec![1])], soon));
    hub.flush();
    assert!(hub.held.is_empty() && !hub.flush_due);
}

#[actix_rt::test]
async fn a_reader_its_session_dropped_is_not_dropped_twice() {
    let recorder = Recorder::default().start();
    let mut hub = registry(&recorder);
    let outbox = Outbox::default();
    add(&mut hub, 1, Sink::Socket(outbox.clone()), &recorder);
    outbox.backlog().drop_reader();
    hub.carry_out(
        vec![Order::Frame(frame("hello", 1), vec![1])],
        Instant::now(),
    );
    assert_eq!(outbox.backlog().pending(), 0, "nothing queued");
    assert_eq!(hub.settings.metrics.slow_clients_dropped.get(), 0);
    assert!(
        recorder.send(Heard).await.unwrap().is_empty(),
        "its session tells the room"
    );
}
