//! Write coalescing seen from the outside: frames to a connection that
//! receives them fast, on a saturated thread, wait to be written together
//! (`--coalesce-ms`), and still arrive whole, in order, and before a close
//! that follows them; on a thread that keeps up, or with the window at
//! zero, nothing waits. Whether a thread is saturated depends on load, so
//! each test sets it: `--saturation-lag-ms 0` counts the thread saturated
//! always, a lag of a minute never. The window here is long (2 s) so that
//! a burst sent back to back certainly falls inside it; nothing below
//! depends on how long anything takes.

mod common;

use common::inbox::Inbox;
use common::ws::{Client, Ended};
use serde_json::{json, Value};

/// Lines in a burst: with the join, within the default rate burst of 20.
const BURST: usize = 15;

/// Ann and bob in one room; ann then says `BURST` lines back to back
/// without waiting for anything. Returns both, after the server has taken
/// every line.
async fn burst(server: &common::TestServer) -> (Client, Client, Value) {
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (bob, bob_welcome) = Client::join(&server.ws_url(), "bob", "lobby").await;
    ann.expect("joined").await;
    for n in 0..BURST {
        ann.send(json!({"type": "say", "text": format!("line {n}"), "ref": format!("r{n}")}))
            .await;
    }
    server
        .wait_metric("parley_messages_in_total", BURST as f64)
        .await;
    (ann, bob, bob_welcome)
}

/// Reads `client` until it ends; returns the texts of the messages it got
/// and how it ended.
async fn messages_until_closed(client: &mut Client) -> (Vec<String>, Ended) {
    let mut texts = Vec::new();
    loop {
        match client.next_or_end().await {
            Ok(frame) if frame["type"] == "message" => {
                texts.push(frame["text"].as_str().unwrap().to_owned())
            }
            Ok(_) => {}
            Err(ended) => return (texts, ended),
        }
    }
}

fn lines() -> Vec<String> {
    (0..BURST).map(|n| format!("line {n}")).collect()
}

#[tokio::test]
async fn a_burst_on_a_saturated_thread_waits_for_one_write_and_arrives_whole_and_in_order() {
    let server = common::start(&["--coalesce-ms", "2000", "--saturation-lag-ms", "0"]);
    let (mut ann, mut bob, _) = burst(&server).await;
    for expected in lines() {
        assert_eq!(bob.expect("message").await["text"], expected.as_str());
    }
    // Ann's own copies and acks went the same way.
    for n in 0..BURST {
        assert_eq!(ann.until("ack").await["ref"], format!("r{n}"));
    }
    assert!(
        server.metric("parley_deliveries_held_total").await > 0.0,
        "frames sent back to back within the window were held"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_close_does_not_overtake_the_frames_held_before_it() {
    let server = common::start(&["--coalesce-ms", "2000", "--saturation-lag-ms", "0"]);
    let (_ann, mut bob, welcome) = burst(&server).await;
    // Bob resumes on a new connection while his old one still has the
    // burst held: the old one is closed with 4001, after all of it.
    let resume = json!({"type": "join", "nick": "bob", "room": "lobby",
                        "resume": welcome["session"]});
    let (_bob_again, _) = Client::join_with(&server.ws_url(), resume).await;
    let (texts, ended) = messages_until_closed(&mut bob).await;
    assert_eq!(ended, Ended::Closed(4001));
    assert_eq!(texts, lines());
    server.stop().await;
}

#[tokio::test]
async fn on_a_thread_that_keeps_up_a_burst_is_not_held() {
    let server = common::start(&["--coalesce-ms", "2000", "--saturation-lag-ms", "60000"]);
    let (_ann, mut bob, _) = burst(&server).await;
    for expected in lines() {
        assert_eq!(bob.expect("message").await["text"], expected.as_str());
    }
    assert_eq!(server.metric("parley_deliveries_held_total").await, 0.0);
    assert_eq!(server.metric("parley_hub_saturated_total").await, 0.0);
    server.stop().await;
}

#[tokio::test]
async fn with_a_zero_window_nothing_is_held() {
    let server = common::start(&["--coalesce-ms", "0", "--saturation-lag-ms", "0"]);
    let (_ann, mut bob, _) = burst(&server).await;
    for expected in lines() {
        assert_eq!(bob.expect("message").await["text"], expected.as_str());
    }
    assert_eq!(server.metric("parley_deliveries_held_total").await, 0.0);
    server.stop().await;
}
