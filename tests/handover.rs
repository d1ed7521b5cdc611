//! A WebSocket closed by its client with 4100 ("handover": another tab of
//! the same browser is about to resume the member, clients/js/tab-link.js)
//! keeps the member's place: a resume with its token takes it back with
//! nobody told, and without one the member leaves once its lease lapses,
//! as after a crash. Waits are bounded by the inbox's hang guard; nothing
//! here measures time.

mod common;

use common::inbox::Inbox;
use common::ws::Client;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// Closes `client` with the handover code.
async fn hand_over(mut client: Client) {
    client
        .send_raw(Message::Close(Some(CloseFrame {
            code: CloseCode::from(4100),
            reason: "handover".into(),
        })))
        .await;
    client.ended().await;
}

#[tokio::test]
async fn a_handed_over_member_is_resumed_with_nobody_told() {
    let server = common::start(&[]);
    let (ann, welcome) = Client::join(&server.ws_url(), "ann", "tea").await;
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "tea").await;
    let token = welcome["session"].as_str().expect("a token").to_owned();
    hand_over(ann).await;

    let (mut again, resumed) = Client::join_with(
        &server.ws_url(),
        json!({"type": "join", "nick": "ann", "room": "tea", "since": 0, "resume": token}),
    )
    .await;
    assert_eq!(resumed["nick"], "ann");
    assert_eq!(resumed["count"], 2, "ann kept her place");
    // bob heard nothing of it: no left, no joined.
    bob.expect_nothing_pending().await;
    let (message, _) = again.say("still here", "r1").await;
    assert_eq!(message["nick"], "ann");
    assert_eq!(bob.expect("message").await["text"], "still here");
}

#[tokio::test]
async fn a_handed_over_member_nobody_resumes_leaves_when_its_lease_lapses() {
    let server = common::start(&["--lease-secs", "3"]);
    let (ann, _) = Client::join(&server.ws_url(), "ann", "tea").await;
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "tea").await;
    hand_over(ann).await;
    let left = bob.until("left").await;
    assert_eq!(left["nick"], "ann");
    assert_eq!(left["count"], 1);
}
