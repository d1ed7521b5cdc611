//! Integration tests over real WebSockets: chatting, presence, typing,
//! history and resume, against the real server on port 0.

mod common;

use common::ws::Client;
use serde_json::json;

#[tokio::test]
async fn two_users_chat() {
    let server = common::start(&[]);
    let (mut ann, welcome) = Client::join(&server.ws_url(), "ann", "lobby").await;
    assert_eq!(welcome["nick"], "ann");
    assert_eq!(welcome["count"], 1);
    let (mut bob, welcome) = Client::join(&server.ws_url(), "bob", "lobby").await;
    assert_eq!(welcome["count"], 2);
    assert_eq!(
        ann.expect("joined").await,
        json!({"type": "joined", "nick": "bob", "count": 2})
    );
    let (message, ack) = ann.say("hello bob", "a1").await;
    assert_eq!(message["text"], "hello bob");
    assert_eq!(
        ack,
        json!({"type": "ack", "ref": "a1", "id": message["id"]})
    );
    let seen = bob.expect("message").await;
    assert_eq!(seen, message);
    server.stop().await;
}
