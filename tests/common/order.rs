//! What the tests where many people talk at once check, written once: a
//! `say` whose ref is its text, reading exactly the messages and acks a
//! burst causes ([`gather`]), and the two verdicts on them: every client
//! saw one order with consecutive ids and each sender's texts once, in the
//! order sent ([`check_one_order`]), and each sender got one ack per
//! message, naming its id ([`check_acks`]); and the chat between a
//! WebSocket user and a polling user whose requests go round several
//! instances ([`round_robin_chat`]).

use serde_json::{json, Value};

use super::inbox::Inbox;
use super::redis::round_robin::RoundRobinPoll;
use super::ws::Client;

/// A `say` whose ref is its text (so texts must be unique per sender).
pub fn say(text: &str) -> Value {
    json!({"type": "say", "text": text, "ref": text})
}

/// Reads until exactly `messages` messages and `acks` acks have come, in
/// arrival order; any other frame, or one too many, fails the test.
pub async fn gather(
    inbox: &mut impl Inbox,
    messages: usize,
    acks: usize,
) -> (Vec<Value>, Vec<Value>) {
    let (mut got, mut acked) = (Vec::new(), Vec::new());
    while got.len() < messages || acked.len() < acks {
        let frame = inbox.next().await;
        let (list, wanted) = match frame["type"].as_str() {
            Some("message") => (&mut got, messages),
            Some("ack") => (&mut acked, acks),
            _ => panic!("expected only messages and acks, got {frame}"),
        };
        assert!(list.len() < wanted, "one frame too many: {frame}");
        list.push(frame);
    }
    (got, acked)
}

/// The ids of `messages`, in order.
pub fn ids(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| m["id"].as_u64().expect("message id"))
        .collect()
}

/// Checks what each client received after `senders` each said `each`
/// texts `"{nick} {i}"`, all at once, into a room with no messages yet:
/// every client got the same messages in the same order, with ids 1, 2,
/// 3..., each text once and each sender's in the order it sent them.
pub fn check_one_order(seen: &[Vec<Value>], senders: &[&str], each: usize) {
    let first = &seen[0];
    for (i, other) in seen.iter().enumerate().skip(1) {
        assert_eq!(other, first, "client {i} saw another order than client 0");
    }
    let total = (senders.len() * each) as u64;
    assert_eq!(
        ids(first),
        (1..=total).collect::<Vec<_>>(),
        "consecutive ids"
    );
    for nick in senders {
        let texts: Vec<&str> = first
            .iter()
            .filter(|m| m["nick"] == *nick)
            .map(|m| m["text"].as_str().expect("text"))
            .collect();
        let sent: Vec<String> = (0..each).map(|i| format!("{nick} {i}")).collect();
        assert_eq!(texts, sent, "{nick}'s messages, once each, in order");
    }
}

/// One ack per message `nick` said, in order, naming its id.
pub fn check_acks(acks: &[Value], messages: &[Value], nick: &str) {
    let mine: Vec<&Value> = messages.iter().filter(|m| m["nick"] == nick).collect();
    assert_eq!(acks.len(), mine.len(), "{nick}'s acks: {acks:?}");
    for (ack, message) in acks.iter().zip(mine) {
        assert_eq!(
            *ack,
            json!({"type": "ack", "ref": message["text"], "id": message["id"]})
        );
    }
}

/// ann on a WebSocket at `ws_url` and bob polling through `bases` (see
/// `RoundRobinPoll`) chat in a room of their own: in each of `rounds`
/// rounds each says two messages (bob in two requests) and bob polls once;
/// then both read the rest. Both must see the same messages with ids 1, 2,
/// 3..., each once and in each sender's order, and every say acknowledged
/// with its message's id. Three requests a round, so that a balancer taking
/// turns sends bob's polls and sends to every instance. Returns both
/// clients: bob's holds its record of who served what.
pub async fn round_robin_chat(
    ws_url: &str,
    bases: &[String],
    rounds: usize,
) -> (Client, RoundRobinPoll) {
    let (mut ann, _) = Client::join(ws_url, "ann", "spread").await;
    let join = json!({"type": "join", "nick": "bob", "room": "spread"});
    let (mut bob, welcome) = RoundRobinPoll::open(bases, join).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["count"], 2);
    assert_eq!(
        ann.next().await,
        json!({"type": "joined", "nick": "bob", "count": 2})
    );
    for round in 0..rounds {
        for i in [2 * round, 2 * round + 1] {
            ann.send(say(&format!("ann {i}"))).await;
            assert_eq!(bob.say(&format!("bob {i}"), &format!("bob {i}")).await, 1);
        }
        // Bob's own outcomes are coming, so this poll does not park.
        bob.poll().await;
    }
    let each = 2 * rounds;
    let (ann_seen, ann_acks) = gather(&mut ann, 2 * each, each).await;
    let (bob_seen, bob_acks) = gather(&mut bob, 2 * each, each).await;
    check_acks(&ann_acks, &ann_seen, "ann");
    check_acks(&bob_acks, &bob_seen, "bob");
    check_one_order(&[ann_seen, bob_seen], &["ann", "bob"], each);
    (ann, bob)
}
