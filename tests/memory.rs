//! Integration test of the history's byte bounds over real WebSockets:
//! rooms filled past `--max-history-bytes` lose the least recently active
//! room's oldest messages, a late joiner of the active room still gets its
//! recent history, a cursor into what was lost gets the usual gap, and
//! `/metrics` reports the bytes held (`parley_history_bytes`).

mod common;

use common::inbox::Inbox;
use common::ws::Client;
use serde_json::{json, Value};

/// Each message's text: with the nickname (3 bytes) and the fixed cost per
/// message (224 B, `core/history.rs`), 1,227 bytes counted.
const TEXT_BYTES: usize = 1000;
const COUNTED: usize = 224 + 3 + TEXT_BYTES;

fn ids(welcome: &Value) -> Vec<u64> {
    welcome["history"]
        .as_array()
        .expect("a history")
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_global_bound_evicts_the_least_recently_active_rooms_oldest_messages() {
    let bound = (10 * COUNTED).to_string();
    let server = common::start(&["--max-history-bytes", &bound, "--rate-burst", "100"]);
    let text = "x".repeat(TEXT_BYTES);

    // The quiet room: five messages, then its only member leaves.
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "quiet").await;
    for n in 1..=5 {
        ann.say(&text, &format!("q{n}")).await;
    }
    ann.send(json!({"type": "leave"})).await;
    server.wait_metric("parley_users", 0.0).await;

    // The busy room: eight more, three past the bound.
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "busy").await;
    for n in 1..=8 {
        bob.say(&text, &format!("b{n}")).await;
    }
    let held = (10 * COUNTED) as f64;
    server
        .wait_metric("parley_history_bytes{holder=\"backplane\"}", held)
        .await;

    // A late joiner of the busy room gets all of it.
    let (_cat, welcome) = Client::join(&server.ws_url(), "cat", "busy").await;
    assert_eq!(ids(&welcome), (1..=8).collect::<Vec<_>>());
    assert_eq!(welcome["gap"], false);

    // The quiet room lost its three oldest: a cursor before them is a gap,
    // answered with what is kept, and ids go on where they were.
    ann.send(json!({"type": "join", "nick": "ann", "room": "quiet", "since": 1}))
        .await;
    let welcome = ann.until("welcome").await;
    assert_eq!(welcome["gap"], true, "{welcome}");
    assert_eq!(ids(&welcome), vec![4, 5]);
    assert_eq!(welcome["cursor"], 5);
    let (message, _) = ann.say("after", "q6").await;
    assert_eq!(message["id"], 6);

    // The mirrors (busy's eight, quiet's two and its new one) are held to
    // the same bound: quiet is now the most recent, busy's oldest went.
    server
        .wait_metric(
            "parley_history_bytes{holder=\"mirrors\"}",
            held - TEXT_BYTES as f64 + 5.0,
        )
        .await;
    server.stop().await;
}
