//! Rooms spread over room shards (`--room-shards`), over real sockets:
//! rooms of different shards chat at the same time, each in its own order
//! with every message delivered once; a member who moves to a room of
//! another shard keeps its token, both rooms see it go and come, it can
//! resume there, and its ghost is closed when its token is taken over from
//! a room of another shard; the per-address frame allowance is one
//! allowance whichever shards a client's connections are on; the gauges
//! add up every shard's rooms; and one shard still serves everything.
//! Rooms are picked with `parley::room_shard`, the placement the server
//! uses. Waits are event-driven (each frame awaited under the inbox's hang
//! guard); "nothing else arrived" is a ping whose pong comes next.

mod common;

use std::collections::BTreeMap;

use common::inbox::Inbox;
use common::poll::PollClient;
use common::ws::{Client, Ended};
use serde_json::{json, Value};

/// Shards every test here runs with, whatever the machine's cores.
const SHARDS: usize = 2;

/// `count` room names owned by shard `shard` of [`SHARDS`], from `prefix`.
fn rooms_on(shard: usize, prefix: &str, count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|room| parley::room_shard(room, SHARDS) == Some(shard))
        .take(count)
        .collect()
}

fn start(extra: &[&str]) -> common::TestServer {
    let mut args = vec![
        "--room-shards",
        "2",
        "--rate-burst",
        "10000",
        "--rate-per-sec",
        "10000",
    ];
    args.extend_from_slice(extra);
    common::start(&args)
}

fn roster(welcome: &Value) -> Vec<String> {
    let mut nicks: Vec<String> = welcome["roster"]
        .as_array()
        .expect("roster is a list")
        .iter()
        .map(|entry| entry["nick"].as_str().expect("roster nick").to_owned())
        .collect();
    nicks.sort();
    nicks
}

/// Shows nothing else is queued for `client`: its ping's pong comes next.
async fn nothing_else(client: &mut Client) {
    client.send(json!({"type": "ping"})).await;
    let next = client.next().await;
    assert_eq!(
        next["type"], "pong",
        "expected nothing before the pong, got {next}"
    );
}

#[test]
fn the_placement_spreads_rooms_and_is_fixed() {
    let placed: Vec<Option<usize>> = ["lobby", "tea", "a"]
        .iter()
        .map(|room| parley::room_shard(room, SHARDS))
        .collect();
    assert!(placed.iter().all(|p| p.is_some_and(|s| s < SHARDS)));
    assert_eq!(parley::room_shard("lobby", 1), Some(0));
    assert_eq!(parley::room_shard("not a room name!", SHARDS), None);
    assert_eq!(rooms_on(0, "r", 3).len(), 3);
    assert_eq!(rooms_on(1, "r", 3).len(), 3);
}

#[tokio::test]
async fn rooms_of_different_shards_chat_at_once_in_order_exactly_once() {
    const MEMBERS: usize = 3;
    const SAYS: usize = 40;
    let server = start(&[]);
    let url = server.ws_url();
    let rooms: Vec<String> = rooms_on(0, "busy", 2)
        .into_iter()
        .chain(rooms_on(1, "busy", 2))
        .collect();
    // Everyone is in before anyone speaks: each sees every message of its
    // room after its own welcome.
    let mut clients = Vec::new();
    for room in &rooms {
        for m in 0..MEMBERS {
            let (client, _) = Client::join(&url, &format!("m{m}"), room).await;
            clients.push((room.clone(), m, client));
        }
    }
    for (_, _, client) in &mut clients {
        client.send(json!({"type": "ping"})).await;
        client.until("pong").await;
    }
    // Nobody leaves before everyone has shown nothing else came: a member
    // gone early would be a `left` for the others.
    let all_read = std::sync::Arc::new(tokio::sync::Barrier::new(clients.len()));
    let all_checked = std::sync::Arc::new(tokio::sync::Barrier::new(clients.len()));
    let mut tasks = Vec::new();
    for (room, m, mut client) in clients {
        let (all_read, all_checked) = (all_read.clone(), all_checked.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..SAYS {
                let text = format!("{room}/m{m}/{i}");
                client
                    .send(json!({"type": "say", "text": text, "ref": format!("r{i}")}))
                    .await;
            }
            // Every member's messages, in the order the room gave them.
            let mut seen = Vec::new();
            let mut acks = 0;
            while seen.len() < MEMBERS * SAYS || acks < SAYS {
                let frame = client.next().await;
                match frame["type"].as_str() {
                    Some("message") => seen.push((
                        frame["id"].as_u64().expect("an id"),
                        frame["text"].as_str().expect("a text").to_owned(),
                    )),
                    Some("ack") => acks += 1,
                    Some("joined") | Some("left") | Some("typing") => {}
                    _ => panic!("{room}: unexpected {frame}"),
                }
            }
            all_read.wait().await;
            nothing_else(&mut client).await;
            all_checked.wait().await;
            (room, seen)
        }));
    }
    let mut by_room: BTreeMap<String, Vec<Vec<(u64, String)>>> = BTreeMap::new();
    for task in tasks {
        let (room, seen) = task.await.expect("a member's task");
        by_room.entry(room).or_default().push(seen);
    }
    for (room, views) in by_room {
        let first = &views[0];
        for view in &views {
            assert_eq!(view, first, "{room}: every member sees the same order");
        }
        let ids: Vec<u64> = first.iter().map(|(id, _)| *id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{room}: ids rise");
        for m in 0..MEMBERS {
            let said: Vec<&str> = first
                .iter()
                .map(|(_, text)| text.as_str())
                .filter(|text| text.starts_with(&format!("{room}/m{m}/")))
                .collect();
            let expected: Vec<String> = (0..SAYS).map(|i| format!("{room}/m{m}/{i}")).collect();
            assert_eq!(
                said, expected,
                "{room}: m{m}'s messages once each, in order"
            );
        }
        assert!(
            first
                .iter()
                .all(|(_, text)| text.starts_with(&format!("{room}/"))),
            "{room}: nothing of another room"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_member_moving_to_a_room_of_another_shard_keeps_its_token_and_presence() {
    let server = start(&[]);
    let url = server.ws_url();
    let here = &rooms_on(0, "here", 1)[0];
    let there = &rooms_on(1, "there", 1)[0];
    let (mut ann, first) = Client::join(&url, "ann", here).await;
    let (mut bob, _) = Client::join(&url, "bob", here).await;
    assert_eq!(ann.expect("joined").await["nick"], "bob");
    let (mut cat, _) = Client::join(&url, "cat", there).await;
    server.wait_metric("parley_users", 3.0).await;
    server.wait_metric("parley_rooms", 2.0).await;

    ann.send(json!({"type": "join", "nick": "ann", "room": there}))
        .await;
    let welcome = ann.expect("welcome").await;
    assert_eq!(welcome["room"], there.as_str());
    assert_eq!(welcome["session"], first["session"], "the token is kept");
    assert_eq!(roster(&welcome), ["ann", "cat"]);
    let left = bob.expect("left").await;
    assert_eq!(
        (left["nick"].as_str(), left["count"].as_u64()),
        (Some("ann"), Some(1))
    );
    let joined = cat.expect("joined").await;
    assert_eq!(
        (joined["nick"].as_str(), joined["count"].as_u64()),
        (Some("ann"), Some(2))
    );

    // Ann speaks where she is now, and only there.
    let (message, _) = ann.say("over here now", "m1").await;
    assert_eq!(cat.expect("message").await["id"], message["id"]);
    nothing_else(&mut bob).await;
    server.wait_metric("parley_users", 3.0).await;

    // She resumes on a new connection, in the room of the other shard,
    // with nobody told; the ghost connection is closed.
    let resume = json!({"type": "join", "nick": "ann", "room": there,
                        "resume": first["session"], "since": message["id"]});
    let (mut back, again) = Client::join_with(&url, resume).await;
    assert_eq!(again["session"], first["session"]);
    assert_eq!(again["nick"], "ann");
    assert_eq!(ann.ended().await, Ended::Closed(4001));
    let (message, _) = back.say("still me", "m2").await;
    assert_eq!(cat.expect("message").await["id"], message["id"]);

    // And back again to the first shard's room.
    back.send(json!({"type": "join", "nick": "ann", "room": here}))
        .await;
    let welcome = back.expect("welcome").await;
    assert_eq!(roster(&welcome), ["ann", "bob"]);
    assert_eq!(bob.expect("joined").await["nick"], "ann");
    assert_eq!(cat.expect("left").await["nick"], "ann");
    server.wait_metric("parley_users", 3.0).await;
    server.stop().await;
}

#[tokio::test]
async fn a_refused_join_on_another_shard_leaves_the_member_where_it_was() {
    let server = start(&[]);
    let url = server.ws_url();
    let here = &rooms_on(0, "stay", 1)[0];
    let there = &rooms_on(1, "full", 1)[0];
    let (mut ann, _) = Client::join(&url, "ann", here).await;
    let (mut bob, _) = Client::join(&url, "bob", here).await;
    assert_eq!(ann.expect("joined").await["nick"], "bob");
    let (_cat, _) = Client::join(&url, "cat", there).await;

    // The nickname is taken there: ann stays, and still hears her room.
    ann.send(json!({"type": "join", "nick": "cat", "room": there}))
        .await;
    ann.expect_error("nick_taken").await;
    let (message, _) = bob.say("still with me?", "b1").await;
    assert_eq!(ann.expect("message").await["id"], message["id"]);
    let (mine, _) = ann.say("yes", "a1").await;
    assert_eq!(bob.expect("message").await["id"], mine["id"]);
    server.stop().await;
}

#[tokio::test]
async fn a_token_taken_over_into_a_room_of_another_shard_closes_the_ghost() {
    let server = start(&[]);
    let url = server.ws_url();
    let here = &rooms_on(0, "old", 1)[0];
    let there = &rooms_on(1, "new", 1)[0];
    let (mut ghost, first) = Client::join(&url, "ann", here).await;
    let (mut bob, _) = Client::join(&url, "bob", here).await;
    assert_eq!(ghost.expect("joined").await["nick"], "bob");

    let resume = json!({"type": "join", "nick": "ann", "room": there,
                        "resume": first["session"]});
    let (mut ann, welcome) = Client::join_with(&url, resume).await;
    assert_eq!(welcome["session"], first["session"]);
    assert_eq!(welcome["room"], there.as_str());
    assert_eq!(ghost.ended().await, Ended::Closed(4001));
    assert_eq!(bob.expect("left").await["nick"], "ann");
    nothing_else(&mut ann).await;
    server.wait_metric("parley_users", 2.0).await;
    server.stop().await;
}

#[tokio::test]
async fn a_polling_member_moves_between_shards() {
    let server = start(&[]);
    let base = server.url("");
    let here = &rooms_on(0, "poll-a", 1)[0];
    let there = &rooms_on(1, "poll-b", 1)[0];
    let (mut ann, first) = PollClient::open(&base, "ann", here).await;
    let (mut cat, _) = Client::join(&server.ws_url(), "cat", there).await;
    assert_eq!(
        ann.send(json!({"type": "join", "nick": "ann", "room": there}))
            .await
            .status(),
        200
    );
    let welcome = ann.until("welcome").await;
    assert_eq!(welcome["session"], first["session"]);
    assert_eq!(cat.expect("joined").await["nick"], "ann");
    let (message, _) = ann.say("polled over", "p1").await;
    assert_eq!(cat.expect("message").await["id"], message["id"]);
    server.stop().await;
}

#[tokio::test]
async fn the_per_address_allowance_is_one_across_shards() {
    // Ten frames at once per address, refilled at one a second.
    let server = start(&["--address-rate-burst", "10", "--address-rate-per-sec", "1"]);
    let url = server.ws_url();
    let (mut one, _) = Client::join(&url, "one", &rooms_on(0, "addr", 1)[0]).await;
    let (mut two, _) = Client::join(&url, "two", &rooms_on(1, "addr", 1)[0]).await;
    // Two joins and eight pings spend the ten.
    for _ in 0..4 {
        nothing_else(&mut one).await;
        nothing_else(&mut two).await;
    }
    // Had each shard its own allowance, `two` would have five left.
    let mut limited = 0;
    for _ in 0..3 {
        two.send(json!({"type": "ping"})).await;
        let answer = two.next().await;
        if answer["type"] == "error" {
            assert_eq!(answer["code"], "rate_limited", "{answer}");
            limited += 1;
        }
    }
    assert!(
        limited > 0,
        "the address's allowance was spent on both shards"
    );
    server.stop().await;
}

#[tokio::test]
async fn one_shard_serves_every_room() {
    let server = common::start(&["--room-shards", "1"]);
    let url = server.ws_url();
    let (mut ann, first) = Client::join(&url, "ann", "one").await;
    let (mut bob, _) = Client::join(&url, "bob", "two").await;
    ann.send(json!({"type": "join", "nick": "ann", "room": "two"}))
        .await;
    let welcome = ann.expect("welcome").await;
    assert_eq!(welcome["session"], first["session"]);
    assert_eq!(bob.expect("joined").await["nick"], "ann");
    let (message, _) = bob.say("hello", "b1").await;
    assert_eq!(ann.expect("message").await["id"], message["id"]);
    server.wait_metric("parley_rooms", 1.0).await;
    server.stop().await;
}
