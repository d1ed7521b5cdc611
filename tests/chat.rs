//! Integration tests over real WebSockets: chatting, presence (joined, left,
//! counts, roster), nicknames, rooms, typing, renames, history on join,
//! message ids, resume (cursor, gap, ghost take-over), idempotent resends and
//! ping, against the real server on port 0.
//!
//! "Nothing else arrived" is shown without waiting for silence: a later frame
//! from the same source (a marker message, or a pong) must be the very next
//! one, because the server delivers in the order it handles frames.

mod common;

use common::inbox::Inbox;
use common::ws::{Client, Ended};
use common::TestServer;
use serde_json::{json, Value};

/// Joins `room` as `nick` and checks that everyone in `already_there`
/// sees the `joined` frame with the new count.
async fn join_seen_by(
    server: &TestServer,
    nick: &str,
    room: &str,
    already_there: &mut [&mut Client],
) -> (Client, Value) {
    let (client, welcome) = Client::join(&server.ws_url(), nick, room).await;
    let count = welcome["count"].clone();
    for other in already_there.iter_mut() {
        assert_eq!(
            other.expect("joined").await,
            json!({"type": "joined", "nick": nick, "count": count})
        );
    }
    (client, welcome)
}

/// The nicknames of a welcome's roster, in order.
fn roster_nicks(welcome: &Value) -> Vec<&str> {
    welcome["roster"]
        .as_array()
        .expect("roster is a list")
        .iter()
        .map(|entry| entry["nick"].as_str().expect("roster nick"))
        .collect()
}

/// The typing flag of `nick` in a welcome's roster.
fn roster_typing(welcome: &Value, nick: &str) -> bool {
    welcome["roster"]
        .as_array()
        .expect("roster is a list")
        .iter()
        .find(|entry| entry["nick"] == nick)
        .unwrap_or_else(|| panic!("{nick} in roster {welcome}"))["typing"]
        .as_bool()
        .expect("typing flag")
}

fn history(welcome: &Value) -> Vec<Value> {
    welcome["history"].as_array().expect("history list").clone()
}

/// Attempts a join that must be refused with `code`.
async fn join_refused(server: &TestServer, nick: &str, room: &str, code: &str) -> Client {
    let mut client = Client::connect(&server.ws_url()).await;
    client
        .send(json!({"type": "join", "nick": nick, "room": room}))
        .await;
    client.expect_error(code).await;
    client
}

/// Says each text (using the text as its ref, so texts must be unique per
/// sender), returning the messages as history shows them (without `type`).
async fn say_all(client: &mut Client, texts: &[&str]) -> Vec<Value> {
    let mut sent = Vec::new();
    for text in texts {
        let (mut message, _) = client.say(text, text).await;
        message
            .as_object_mut()
            .expect("message object")
            .remove("type");
        sent.push(message);
    }
    sent
}

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

#[tokio::test]
async fn join_leave_and_close_update_counts_and_roster() {
    let server = common::start(&[]);
    let (mut ann, welcome) = join_seen_by(&server, "ann", "lobby", &mut []).await;
    assert_eq!(roster_nicks(&welcome), ["ann"]);
    let (mut bob, welcome) = join_seen_by(&server, "bob", "lobby", &mut [&mut ann]).await;
    assert_eq!(roster_nicks(&welcome), ["ann", "bob"]);
    let (mut cat, welcome) = join_seen_by(&server, "cat", "lobby", &mut [&mut ann, &mut bob]).await;
    assert_eq!(roster_nicks(&welcome), ["ann", "bob", "cat"], "join order");
    assert_eq!(welcome["count"], 3);

    bob.send(json!({"type": "leave"})).await;
    assert_eq!(
        bob.next().await,
        json!({"type": "left_room", "room": "lobby"}),
        "the leaver gets left_room, not left"
    );
    let left_bob = json!({"type": "left", "nick": "bob", "count": 2});
    assert_eq!(ann.expect("left").await, left_bob);
    assert_eq!(cat.expect("left").await, left_bob);
    bob.send(json!({"type": "say", "text": "anyone?"})).await;
    bob.expect_error("not_joined").await;

    cat.close().await;
    assert_eq!(
        ann.expect("left").await,
        json!({"type": "left", "nick": "cat", "count": 1})
    );
    let (_dan, welcome) = join_seen_by(&server, "dan", "lobby", &mut [&mut ann]).await;
    assert_eq!(roster_nicks(&welcome), ["ann", "dan"]);
    server.stop().await;
}

#[tokio::test]
async fn nicknames_are_unique_case_insensitively() {
    let server = common::start(&[]);
    let (mut ann, _) = Client::join(&server.ws_url(), "Ann", "lobby").await;
    for lookalike in ["ann", "ANN", "ＡＮＮ", "  ann  "] {
        join_refused(&server, lookalike, "lobby", "nick_taken").await;
    }
    let mut refused = join_refused(&server, "ann", "lobby", "nick_taken").await;
    refused
        .send(json!({"type": "join", "nick": "bob", "room": "lobby"}))
        .await;
    let welcome = refused.expect("welcome").await;
    assert_eq!(roster_nicks(&welcome), ["Ann", "bob"]);
    assert_eq!(
        ann.next().await,
        json!({"type": "joined", "nick": "bob", "count": 2}),
        "refused joins are not announced"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_same_nickname_may_be_used_in_another_room() {
    let server = common::start(&[]);
    let (_ann, _) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (_other, welcome) = Client::join(&server.ws_url(), "ann", "kitchen").await;
    assert_eq!(welcome["room"], "kitchen");
    assert_eq!(welcome["count"], 1);
    server.stop().await;
}

#[tokio::test]
async fn rooms_are_separate_and_lobby_is_the_default() {
    let server = common::start(&[]);
    let (mut ann, welcome) =
        Client::join_with(&server.ws_url(), json!({"type": "join", "nick": "ann"})).await;
    assert_eq!(welcome["room"], "lobby", "no room means the lobby");
    let (mut bob, _) = join_seen_by(&server, "bob", "lobby", &mut [&mut ann]).await;
    let (mut cat, welcome) = Client::join(&server.ws_url(), "cat", "kitchen").await;
    assert_eq!(roster_nicks(&welcome), ["cat"], "nobody from the lobby");

    let (in_lobby, _) = ann.say("lobby talk", "a1").await;
    assert_eq!(bob.expect("message").await, in_lobby);
    // Ann's message was handled before cat's: had it crossed rooms, it would
    // reach cat before cat's own.
    let (in_kitchen, _) = cat.say("kitchen talk", "c1").await;
    assert_eq!(in_kitchen["text"], "kitchen talk");
    let (next_in_lobby, _) = bob.say("still lobby", "b1").await;
    assert_eq!(
        ann.expect("message").await,
        next_in_lobby,
        "the kitchen message did not reach the lobby"
    );
    assert_eq!(in_kitchen["id"], 1, "each room numbers its own messages");
    server.stop().await;
}

#[tokio::test]
async fn typing_goes_to_others_once_per_change_and_a_message_ends_it() {
    let server = common::start(&[]);
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = join_seen_by(&server, "bob", "lobby", &mut [&mut ann]).await;
    let typing = |on: bool| json!({"type": "typing", "on": on});
    let ann_typing = |on: bool| json!({"type": "typing", "nick": "ann", "on": on});

    ann.send(typing(true)).await;
    assert_eq!(bob.next().await, ann_typing(true));
    ann.expect_nothing_pending().await;
    ann.send(typing(true)).await;
    ann.send(typing(false)).await;
    assert_eq!(
        bob.next().await,
        ann_typing(false),
        "a repeated typing-on is not re-sent"
    );
    ann.expect_nothing_pending().await;

    ann.send(typing(true)).await;
    assert_eq!(bob.next().await, ann_typing(true));
    let (mut cat, welcome) = join_seen_by(&server, "cat", "lobby", &mut [&mut ann, &mut bob]).await;
    assert!(roster_typing(&welcome, "ann"), "roster shows typing");
    let (message, _) = ann.say("done typing", "a1").await;
    assert_eq!(bob.next().await, message);
    assert_eq!(cat.next().await, message);
    let (_dan, welcome) =
        join_seen_by(&server, "dan", "lobby", &mut [&mut ann, &mut bob, &mut cat]).await;
    assert!(!roster_typing(&welcome, "ann"), "the message ended typing");
    server.stop().await;
}

#[tokio::test]
async fn a_rename_reaches_everyone_and_a_taken_name_is_refused() {
    let server = common::start(&[]);
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = join_seen_by(&server, "bob", "lobby", &mut [&mut ann]).await;

    ann.send(json!({"type": "nick", "nick": "anna"})).await;
    let renamed = json!({"type": "renamed", "old": "ann", "new": "anna"});
    assert_eq!(ann.next().await, renamed, "the renamer is told too");
    assert_eq!(bob.next().await, renamed);

    ann.send(json!({"type": "nick", "nick": "BOB"})).await;
    ann.expect_error("nick_taken").await;
    let (message, _) = ann.say("who am I", "a1").await;
    assert_eq!(message["nick"], "anna");
    assert_eq!(bob.next().await, message, "the refusal was not broadcast");
    // The old name is free again.
    let (_, welcome) = join_seen_by(&server, "ann", "lobby", &mut [&mut ann, &mut bob]).await;
    assert_eq!(roster_nicks(&welcome), ["anna", "bob", "ann"]);
    server.stop().await;
}

#[tokio::test]
async fn a_joiner_gets_the_last_messages_in_order() {
    let server = common::start(&["--history-on-join", "3"]);
    let (mut ann, welcome) = Client::join(&server.ws_url(), "ann", "lobby").await;
    assert_eq!(welcome["history"], json!([]));
    assert_eq!(welcome["cursor"], 0);
    let sent = say_all(&mut ann, &["m1", "m2", "m3", "m4", "m5"]).await;
    let (_bob, welcome) = Client::join(&server.ws_url(), "bob", "lobby").await;
    assert_eq!(history(&welcome), sent[2..], "the last 3, oldest first");
    assert_eq!(welcome["cursor"], sent[4]["id"]);
    assert_eq!(welcome["gap"], false);
    server.stop().await;
}

#[tokio::test]
async fn ids_increase_and_are_the_same_for_every_recipient() {
    let server = common::start(&[]);
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = join_seen_by(&server, "bob", "lobby", &mut [&mut ann]).await;
    let (mut cat, _) = join_seen_by(&server, "cat", "lobby", &mut [&mut ann, &mut bob]).await;
    // Two senders at once, so the server, not the test, decides the order.
    for i in 0..5 {
        ann.send(json!({"type": "say", "text": format!("ann {i}")}))
            .await;
        bob.send(json!({"type": "say", "text": format!("bob {i}")}))
            .await;
    }
    let mut seen = Vec::new();
    for client in [&mut ann, &mut bob, &mut cat] {
        let mut messages = Vec::new();
        for _ in 0..10 {
            messages.push(client.expect("message").await);
        }
        seen.push(messages);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
    let ids: Vec<u64> = seen[0].iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {ids:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn resume_with_a_cursor_replays_exactly_the_missed_messages() {
    let server = common::start(&[]);
    let (mut ann, first) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = join_seen_by(&server, "bob", "lobby", &mut [&mut ann]).await;
    say_all(&mut bob, &["seen 1", "seen 2"]).await;
    ann.expect("message").await;
    let cursor = ann.expect("message").await["id"].clone();
    ann.close().await;
    bob.until("left").await;
    let missed = say_all(&mut bob, &["missed 1", "missed 2", "missed 3"]).await;

    let rejoin = json!({"type": "join", "nick": "ann", "room": "lobby",
                        "since": cursor, "resume": first["session"]});
    let (_ann, welcome) = Client::join_with(&server.ws_url(), rejoin).await;
    assert_eq!(history(&welcome), missed, "no duplicates, no gaps");
    assert_eq!(welcome["gap"], false);
    assert_eq!(welcome["cursor"], missed[2]["id"]);
    assert_eq!(welcome["session"], first["session"], "the token is kept");
    server.stop().await;
}

#[tokio::test]
async fn resume_older_than_the_kept_history_reports_a_gap() {
    let server = common::start(&["--history-size", "3"]);
    let (mut ann, first) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = join_seen_by(&server, "bob", "lobby", &mut [&mut ann]).await;
    say_all(&mut bob, &["seen"]).await;
    let cursor = ann.expect("message").await["id"].clone();
    ann.close().await;
    bob.until("left").await;
    let missed = say_all(&mut bob, &["m2", "m3", "m4", "m5", "m6"]).await;

    let rejoin = json!({"type": "join", "nick": "ann", "room": "lobby",
                        "since": cursor, "resume": first["session"]});
    let (_ann, welcome) = Client::join_with(&server.ws_url(), rejoin).await;
    assert_eq!(welcome["gap"], true);
    assert_eq!(history(&welcome), missed[2..], "what is still kept");
    server.stop().await;
}

#[tokio::test]
async fn a_resume_token_takes_over_a_ghost_connection_silently() {
    let server = common::start(&[]);
    let (mut ghost, first) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = join_seen_by(&server, "bob", "lobby", &mut [&mut ghost]).await;

    let resume = json!({"type": "join", "nick": "ann", "room": "lobby",
                        "resume": first["session"]});
    let (mut ann, welcome) = Client::join_with(&server.ws_url(), resume).await;
    assert_eq!(welcome["nick"], "ann");
    assert_eq!(roster_nicks(&welcome), ["ann", "bob"]);
    assert_eq!(welcome["count"], 2);
    assert_eq!(ghost.ended().await, Ended::Closed(4001));
    // Once the ghost's socket is gone on the server too, any left it caused
    // would already be queued for bob.
    server
        .wait_metric("parley_connections{transport=\"websocket\"}", 2.0)
        .await;
    let (message, _) = ann.say("I am back", "a1").await;
    assert_eq!(message["nick"], "ann");
    assert_eq!(
        bob.next().await,
        message,
        "bob sees no left or joined for ann"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_resent_say_is_acked_with_the_same_id_and_posted_once() {
    let server = common::start(&[]);
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = join_seen_by(&server, "bob", "lobby", &mut [&mut ann]).await;
    let say = json!({"type": "say", "text": "once", "ref": "r1"});
    ann.send(say.clone()).await;
    ann.send(say).await;
    let message = ann.expect("message").await;
    let ack = json!({"type": "ack", "ref": "r1", "id": message["id"]});
    assert_eq!(ann.expect("ack").await, ack);
    assert_eq!(ann.expect("ack").await, ack, "the resend gets the same id");
    let (marker, _) = ann.say("marker", "r2").await;

    assert_eq!(bob.next().await, message);
    assert_eq!(bob.next().await, marker, "no second copy before the marker");
    server.stop().await;
}

#[tokio::test]
async fn ping_gets_pong_before_and_after_join() {
    let server = common::start(&[]);
    let mut client = Client::connect(&server.ws_url()).await;
    client.send(json!({"type": "ping"})).await;
    assert_eq!(client.next().await, json!({"type": "pong"}));
    client
        .send(json!({"type": "join", "nick": "ann", "room": "lobby"}))
        .await;
    client.expect("welcome").await;
    client.send(json!({"type": "ping"})).await;
    assert_eq!(client.next().await, json!({"type": "pong"}));
    server.stop().await;
}

/// Applies a presence frame of any kind to a roster and count.
fn apply_presence(roster: &mut std::collections::BTreeSet<String>, count: &mut u64, frame: &Value) {
    let nick = |v: &Value| v.as_str().unwrap().to_owned();
    match frame["type"].as_str().unwrap() {
        "joined" => {
            roster.insert(nick(&frame["nick"]));
        }
        "left" => {
            roster.remove(&nick(&frame["nick"]));
        }
        "presence" => {
            for change in frame["changes"].as_array().unwrap() {
                if change["present"].as_bool().unwrap() {
                    roster.insert(nick(&change["nick"]));
                } else {
                    roster.remove(&nick(&change["nick"]));
                }
            }
        }
        _ => return,
    }
    *count = frame["count"].as_u64().unwrap();
}

#[tokio::test]
async fn a_crowd_arriving_and_leaving_at_once_leaves_every_roster_exact() {
    // Rooms of 32 or more get joins and leaves in batches; whatever mix of
    // joined, left and presence frames arrives, the roster must come out
    // exact, and agree with what a newcomer's welcome says.
    let server = common::start(&[]);
    let url = server.ws_url();
    let (mut observer, _) = Client::join(&url, "observer", "crowd").await;
    let mut roster: std::collections::BTreeSet<String> = ["observer".to_owned()].into();
    let mut count = 1;
    let names: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
    let crowd =
        futures_util::future::join_all(names.iter().map(|n| Client::join(&url, n, "crowd"))).await;
    while count != 41 || roster.len() != 41 {
        apply_presence(&mut roster, &mut count, &observer.next().await);
    }
    let mut leaving = crowd;
    let staying = leaving.split_off(20);
    futures_util::future::join_all(leaving.into_iter().map(|(client, _)| client.close())).await;
    while count != 21 || roster.len() != 21 {
        apply_presence(&mut roster, &mut count, &observer.next().await);
    }
    let mut expected: std::collections::BTreeSet<String> = names[20..].iter().cloned().collect();
    expected.insert("observer".into());
    assert_eq!(roster, expected);
    let (_late, welcome) = Client::join(&url, "late", "crowd").await;
    let listed: std::collections::BTreeSet<String> = welcome["roster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["nick"].as_str().unwrap().to_owned())
        .collect();
    expected.insert("late".into());
    assert_eq!(listed, expected);
    drop(staying);
}
