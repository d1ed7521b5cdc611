//! The ChatRoom shell on a real actor system: connections registered with
//! the real hub of the test's thread, whose frames a stand-in session
//! collects. It checks what the shell adds to the core: frames reach every
//! recipient through its hub, encoded once; a slow reader reported by a hub
//! leaves its room; a stop closes everyone and refuses newcomers. Waiting
//! is on the frames themselves; the timeout only turns a hang into a
//! failure.

use std::time::Duration;

use bytestring::ByteString;
use serde_json::Value;
use tokio::sync::mpsc;

use super::*;
use crate::core::backplane::memory::MemoryBackplane;
use crate::delivery::backlog::Backlog;
use crate::delivery::hub::{self, HubSettings, Sink};
use crate::delivery::member::{Close, PollFeed};
use crate::protocol::parse_client_frame;

/// What a stand-in session heard.
#[derive(Debug)]
enum Heard {
    Frame(ByteString),
    Closed(CloseKind),
}

/// A connection that forwards what it is told to the test.
struct Session(mpsc::UnboundedSender<Heard>);

impl Actor for Session {
    type Context = Context<Self>;
}

impl Handler<PollFeed> for Session {
    type Result = ();
    fn handle(&mut self, msg: PollFeed, _: &mut Context<Self>) {
        if let PollFeed::Frame(text, _) | PollFeed::Reply(text) = msg {
            let _ = self.0.send(Heard::Frame(text));
        }
    }
}

impl Handler<Close> for Session {
    type Result = ();
    fn handle(&mut self, Close(kind): Close, _: &mut Context<Self>) {
        let _ = self.0.send(Heard::Closed(kind));
    }
}

struct Member {
    id: MemberId,
    heard: mpsc::UnboundedReceiver<Heard>,
}

impl Member {
    /// The next thing heard, within a hang guard.
    async fn next(&mut self) -> Heard {
        let next = actix_rt::time::timeout(Duration::from_secs(5), self.heard.recv());
        next.await.expect("heard in time").expect("session alive")
    }

    /// Frames until one of type `kind`, as JSON.
    async fn until(&mut self, kind: &str) -> Value {
        loop {
            match self.next().await {
                Heard::Frame(text) => {
                    let frame: Value = serde_json::from_str(&text).expect("JSON");
                    if frame["type"] == kind {
                        return frame;
                    }
                }
                Heard::Closed(close) => panic!("closed ({close:?}) waiting for {kind}"),
            }
        }
    }
}

fn start_room() -> (Addr<ChatRoom>, HubSettings) {
    let limits = Limits::default();
    let metrics = Arc::new(Metrics::new());
    let backplane = Box::new(MemoryBackplane::new(&limits));
    let degraded = Arc::new(AtomicBool::new(false));
    let lease = Duration::from_secs(15);
    let room = ChatRoom::new(limits, metrics.clone(), backplane, lease, degraded).start();
    let settings = HubSettings {
        max_backlog_bytes: limits.max_outbox_bytes,
        window: limits.coalesce,
        saturation_lag: limits.saturation_lag,
        metrics,
        slow_readers: room.clone().recipient(),
        polled: room.clone().recipient(),
    };
    (room, settings)
}

/// Registers a stand-in session with this thread's hub and connects it.
fn connect(room: &Addr<ChatRoom>, settings: &HubSettings) -> Member {
    let (tx, heard) = mpsc::unbounded_channel();
    let session = Session(tx).start();
    let id = next_member_id();
    let sink = Sink::Poll {
        feed: session.clone().recipient(),
        backlog: Backlog::default(),
    };
    let hub = hub::join(id, session.recipient(), sink, settings);
    let client = ClientKey::v4(0x7f00_0001, 32);
    room.do_send(Connect {
        id,
        hub,
        client,
        poll: None,
    });
    Member { id, heard }
}

fn say(room: &Addr<ChatRoom>, id: MemberId, json: &str) {
    let frame = parse_client_frame(json).expect("a valid frame");
    room.do_send(Inbound { id, frame });
}

/// Ann, then Bob, join `tea`; both welcomed, Ann told of Bob.
async fn ann_and_bob_in_tea(room: &Addr<ChatRoom>, settings: &HubSettings) -> (Member, Member) {
    let mut ann = connect(room, settings);
    let mut bob = connect(room, settings);
    say(room, ann.id, r#"{"type":"join","nick":"Ann","room":"tea"}"#);
    assert_eq!(ann.until("welcome").await["room"], "tea");
    say(room, bob.id, r#"{"type":"join","nick":"Bob","room":"tea"}"#);
    assert_eq!(bob.until("welcome").await["count"], 2);
    assert_eq!(ann.until("joined").await["nick"], "Bob");
    (ann, bob)
}

#[actix_rt::test]
async fn a_message_reaches_every_member_through_the_hub() {
    let (room, settings) = start_room();
    let (mut ann, mut bob) = ann_and_bob_in_tea(&room, &settings).await;
    say(&room, bob.id, r#"{"type":"say","text":"hello","ref":"b1"}"#);
    let to_ann = ann.until("message").await;
    let to_bob = bob.until("message").await;
    assert_eq!(to_ann, to_bob, "one frame for everyone");
    assert_eq!(to_ann["text"], "hello");
    assert_eq!(to_ann["nick"], "Bob");
}

#[actix_rt::test]
async fn a_slow_reader_reported_by_its_hub_leaves_its_room() {
    let (room, settings) = start_room();
    let (mut ann, bob) = ann_and_bob_in_tea(&room, &settings).await;
    room.do_send(SlowReaders(vec![bob.id]));
    let left = ann.until("left").await;
    assert_eq!(left["nick"], "Bob");
    assert_eq!(left["count"], 1);
}

#[actix_rt::test]
async fn a_stop_closes_everyone_and_refuses_newcomers() {
    let (room, settings) = start_room();
    let mut ann = connect(&room, &settings);
    say(&room, ann.id, r#"{"type":"join","nick":"Ann"}"#);
    ann.until("welcome").await;
    assert_eq!(room.send(Shutdown).await.expect("the room answers"), 1);
    assert!(matches!(
        ann.next().await,
        Heard::Closed(CloseKind::GoingAway)
    ));
    let mut late = connect(&room, &settings);
    assert!(matches!(
        late.next().await,
        Heard::Closed(CloseKind::GoingAway)
    ));
}

#[actix_rt::test]
async fn a_frame_from_a_connection_that_has_ended_comes_back_unhandled() {
    let (room, settings) = start_room();
    let (mut ann, bob) = ann_and_bob_in_tea(&room, &settings).await;
    room.do_send(Disconnect {
        id: bob.id,
        why: Some(LeftWhy::Gone),
    });
    let frame = parse_client_frame(r#"{"type":"say","text":"late","ref":"b9"}"#).unwrap();
    let answer = room.send(Inbound { id: bob.id, frame }).await;
    assert!(
        matches!(answer, Ok(Err(ClientFrame::Say { .. }))),
        "the frame is handed back, not dropped: {answer:?}"
    );
    let frame = parse_client_frame(r#"{"type":"say","text":"here","ref":"a1"}"#).unwrap();
    let answer = room.send(Inbound { id: ann.id, frame }).await;
    assert!(matches!(answer, Ok(Ok(()))), "{answer:?}");
    assert_eq!(ann.until("left").await["nick"], "Bob");
    assert_eq!(ann.until("message").await["text"], "here");
}
