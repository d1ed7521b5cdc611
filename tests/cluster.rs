//! Parley instances sharing one Redis (`common/redis.rs`) behave as one
//! server: users on different instances see each other join, type, rename
//! and leave; every instance delivers the same messages in the same order
//! with the same consecutive ids; rosters, counts, history and nicknames
//! are cluster-wide; any instance serves any polling request, directly or
//! through an nginx balancing without stickiness; a crashed instance's
//! users are removed once their leases lapse and resume elsewhere; an
//! outage of Redis is announced, refused cleanly and recovered from without
//! losing anything acknowledged; and a key prefix keeps two clusters on one
//! Redis apart. Each test has a redis-server of its own.
//!
//! Waits are event-driven. Where the cluster acts on its own time (a lease
//! lapsing, Redis going or coming back) a bounded loop watches an
//! observable condition for at most [`CLUSTER_PATIENCE`], a hang guard and
//! never a timing assertion. "Nothing else arrived" is shown as in
//! `chat.rs`: by a later frame that must be the very next one.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::inbox::Inbox;
use common::nginx::Nginx;
use common::order::{check_acks, check_one_order, gather, ids, round_robin_chat, say};
use common::poll::PollClient;
use common::redis::instance::Instance;
use common::redis::resp::{self, Reply};
use common::redis::round_robin::{Request, RoundRobinPoll};
use common::redis::RedisServer;
use common::ws::Client;
use common::TestServer;
use serde_json::{json, Value};
use tokio::time::Instant;

/// `--lease-secs` for every instance: a crashed instance's users are
/// removed elsewhere within 3 + 1 s.
const LEASE_SECS: &str = "3";

/// Longest the cluster may take to act on its own: a lapsed lease (4 s at
/// most with [`LEASE_SECS`]), an instance noticing that Redis is gone or
/// back. Generous; a bound on hangs, not on speed.
const CLUSTER_PATIENCE: Duration = Duration::from_secs(20);

/// Between two looks at a condition no event announces. Slow enough that
/// the pings of [`await_frame`] stay well inside the frame rate limit.
const RECHECK: Duration = Duration::from_millis(200);

/// Messages each user says in the tests where everyone talks at once.
const EACH: usize = 4;

/// Starts an in-process instance on `redis` (with `extra` arguments) and
/// waits until its backplane is ready.
async fn instance(redis: &RedisServer, extra: &[&str]) -> TestServer {
    let url = redis.url();
    let mut args = vec!["--redis-url", url.as_str(), "--lease-secs", LEASE_SECS];
    args.extend_from_slice(extra);
    let server = common::start(&args);
    readyz_becomes(&server.url("/readyz"), 200).await;
    server
}

/// `n` in-process instances on `redis`.
async fn instances(redis: &RedisServer, n: usize) -> Vec<TestServer> {
    let mut started = Vec::with_capacity(n);
    for _ in 0..n {
        started.push(instance(redis, &[]).await);
    }
    started
}

/// Polls `url` (a `/readyz`) until it answers `status`; returns the body.
async fn readyz_becomes(url: &str, status: u16) -> Value {
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    let mut last = "no answer".to_owned();
    loop {
        if let Ok(response) = reqwest::get(url).await {
            let got = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            if got == status {
                return serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("{url} answered {got} with {body:?}: {e}"));
            }
            last = format!("{got} {body}");
        }
        assert!(
            Instant::now() < deadline,
            "{url} never answered {status}; last: {last}"
        );
        tokio::time::sleep(RECHECK).await;
    }
}

/// Waits up to [`CLUSTER_PATIENCE`] for a frame of type `kind` and returns
/// it; any other frame fails the test. `Client::next` gives up sooner than
/// a lease may take to lapse, so this waits in rounds, each ended at the
/// latest by the answer to a `ping` of its own.
async fn await_frame(client: &mut Client, kind: &str) -> Value {
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    loop {
        client.send(json!({"type": "ping"})).await;
        let frame = client.next().await;
        if frame["type"] == kind {
            client.expect("pong").await;
            return frame;
        }
        assert_eq!(frame["type"], "pong", "waiting for {kind}, got {frame}");
        assert!(
            Instant::now() < deadline,
            "no {kind} within {CLUSTER_PATIENCE:?}"
        );
        tokio::time::sleep(RECHECK).await;
    }
}

fn joined(nick: &str, count: u64) -> Value {
    json!({"type": "joined", "nick": nick, "count": count})
}

fn left(nick: &str, count: u64) -> Value {
    json!({"type": "left", "nick": nick, "count": count})
}

/// Checks a `status` frame (members it may gain later are ignored).
fn assert_status(frame: &Value, degraded: bool) {
    assert_eq!(
        (frame["type"].as_str(), frame["degraded"].as_bool()),
        (Some("status"), Some(degraded)),
        "expected status degraded={degraded}, got {frame}"
    );
}

/// A welcome's roster as a set: what it must hold is cluster-wide; the
/// order across instances is not asserted.
fn roster(welcome: &Value) -> BTreeSet<String> {
    welcome["roster"]
        .as_array()
        .unwrap_or_else(|| panic!("a roster in {welcome}"))
        .iter()
        .map(|entry| entry["nick"].as_str().expect("roster nick").to_owned())
        .collect()
}

fn nicks(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

/// A message as a welcome's history shows it (without `type`).
fn without_type(message: &Value) -> Value {
    let mut message = message.clone();
    message
        .as_object_mut()
        .expect("message object")
        .remove("type");
    message
}

fn history(welcome: &Value) -> Vec<Value> {
    welcome["history"].as_array().expect("history list").clone()
}

/// Attempts a join at `url` that must be refused with `code`.
async fn join_refused(url: &str, nick: &str, room: &str, code: &str) -> Client {
    let mut client = Client::connect(url).await;
    client
        .send(json!({"type": "join", "nick": nick, "room": room}))
        .await;
    client.expect_error(code).await;
    client
}

#[tokio::test]
async fn redis_harness_starts_and_restarts() {
    let mut redis = RedisServer::start().await;
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/0", redis.port()));
    assert_eq!(
        redis.command(&["SET", "harness:greeting", "hello"]),
        Reply::Simple("OK".into())
    );
    for n in 1..=3 {
        assert_eq!(redis.command(&["INCR", "harness:count"]), Reply::Integer(n));
    }
    redis.kill();
    assert!(!resp::pong(redis.port()), "a killed redis answers nothing");
    redis.restart().await;
    assert_eq!(
        redis.command(&["GET", "harness:greeting"]),
        Reply::Bulk(Some("hello".into())),
        "a write acknowledged before the kill survives it"
    );
    assert_eq!(
        redis.command(&["GET", "harness:count"]),
        Reply::Bulk(Some("3".into()))
    );
    let mut keys = redis.command(&["KEYS", "harness:*"]).strings();
    keys.sort();
    assert_eq!(keys, ["harness:count", "harness:greeting"]);
    assert_eq!(redis.command(&["GET", "missing"]), Reply::Bulk(None));
}

#[tokio::test]
async fn three_instances_make_one_room_over_websocket() {
    let redis = RedisServer::start().await;
    let nodes = instances(&redis, 3).await;
    let (mut ann, welcome) = Client::join(&nodes[0].ws_url(), "ann", "lobby").await;
    assert_eq!(welcome["count"], 1);
    assert_eq!(roster(&welcome), nicks(&["ann"]));
    let (mut bob, welcome) = Client::join(&nodes[1].ws_url(), "bob", "lobby").await;
    assert_eq!(welcome["count"], 2, "the count is cluster-wide");
    assert_eq!(roster(&welcome), nicks(&["ann", "bob"]));
    assert_eq!(ann.next().await, joined("bob", 2));
    let (mut cara, welcome) = Client::join(&nodes[2].ws_url(), "cara", "lobby").await;
    assert_eq!(welcome["count"], 3);
    assert_eq!(roster(&welcome), nicks(&["ann", "bob", "cara"]));
    for other in [&mut ann, &mut bob] {
        assert_eq!(other.next().await, joined("cara", 3));
    }

    // Typing crosses instances, on and off.
    for on in [true, false] {
        cara.send(json!({"type": "typing", "on": on})).await;
        for other in [&mut ann, &mut bob] {
            assert_eq!(
                other.next().await,
                json!({"type": "typing", "nick": "cara", "on": on})
            );
        }
    }

    // All three talk at once, so the cluster, not the test, picks the
    // order; every instance must deliver the same one.
    for i in 0..EACH {
        for (client, nick) in [(&mut ann, "ann"), (&mut bob, "bob"), (&mut cara, "cara")] {
            client.send(say(&format!("{nick} {i}"))).await;
        }
    }
    let mut seen = Vec::new();
    for (client, nick) in [(&mut ann, "ann"), (&mut bob, "bob"), (&mut cara, "cara")] {
        let (messages, acks) = gather(client, 3 * EACH, EACH).await;
        check_acks(&acks, &messages, nick);
        seen.push(messages);
    }
    check_one_order(&seen, &["ann", "bob", "cara"], EACH);

    // A rename on one instance reaches all three, the renamer included.
    bob.send(json!({"type": "nick", "nick": "bobby"})).await;
    let renamed = json!({"type": "renamed", "old": "bob", "new": "bobby"});
    for client in [&mut ann, &mut bob, &mut cara] {
        assert_eq!(client.next().await, renamed);
    }

    // A late joiner gets the cluster's roster, count and history.
    let (_dan, welcome) = Client::join(&nodes[0].ws_url(), "dan", "lobby").await;
    assert_eq!(welcome["count"], 4);
    assert_eq!(roster(&welcome), nicks(&["ann", "bobby", "cara", "dan"]));
    assert_eq!(
        history(&welcome),
        seen[0].iter().map(without_type).collect::<Vec<_>>()
    );
    assert_eq!(welcome["cursor"], 3 * EACH);
    for client in [&mut ann, &mut bob, &mut cara] {
        assert_eq!(client.next().await, joined("dan", 4));
    }
}

#[tokio::test]
async fn a_websocket_user_and_a_polling_user_on_two_instances_chat() {
    let redis = RedisServer::start().await;
    let nodes = instances(&redis, 2).await;
    let (mut ann, _) = Client::join(&nodes[0].ws_url(), "ann", "mixed").await;
    let (mut bob, welcome) = PollClient::open(&nodes[1].url(""), "bob", "mixed").await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["count"], 2);
    assert_eq!(roster(&welcome), nicks(&["ann", "bob"]));
    assert_eq!(ann.next().await, joined("bob", 2));

    ann.send(json!({"type": "typing", "on": true})).await;
    assert_eq!(
        bob.next().await,
        json!({"type": "typing", "nick": "ann", "on": true})
    );
    let typing = bob.send(json!({"type": "typing", "on": true})).await;
    assert_eq!(typing.status(), 200);
    assert_eq!(
        ann.next().await,
        json!({"type": "typing", "nick": "bob", "on": true})
    );

    for i in 0..EACH {
        ann.send(say(&format!("ann {i}"))).await;
        let sent = bob.send(say(&format!("bob {i}"))).await;
        assert_eq!(sent.status(), 200);
    }
    let (ann_seen, ann_acks) = gather(&mut ann, 2 * EACH, EACH).await;
    let (bob_seen, bob_acks) = gather(&mut bob, 2 * EACH, EACH).await;
    check_acks(&ann_acks, &ann_seen, "ann");
    check_acks(&bob_acks, &bob_seen, "bob");
    check_one_order(&[ann_seen, bob_seen], &["ann", "bob"], EACH);

    let renaming = bob.send(json!({"type": "nick", "nick": "bobby"})).await;
    assert_eq!(renaming.status(), 200);
    let renamed = json!({"type": "renamed", "old": "bob", "new": "bobby"});
    assert_eq!(bob.next().await, renamed);
    assert_eq!(ann.next().await, renamed);

    assert_eq!(bob.close().await.status(), 204);
    assert_eq!(ann.next().await, left("bobby", 1));
}

#[tokio::test]
async fn a_nickname_held_on_one_instance_is_taken_on_another_until_it_leaves() {
    let redis = RedisServer::start().await;
    let nodes = instances(&redis, 2).await;
    let (a, b) = (nodes[0].ws_url(), nodes[1].ws_url());
    let (mut ann, _) = Client::join(&a, "Ann", "lobby").await;
    for lookalike in ["ann", "ANN", "Ａｎｎ", "  ann  "] {
        join_refused(&b, lookalike, "lobby", "nick_taken").await;
    }
    let (refused, first) = PollClient::open(&nodes[1].url(""), "aNN", "lobby").await;
    assert_eq!(
        (first["type"].as_str(), first["code"].as_str()),
        (Some("error"), Some("nick_taken")),
        "{first}"
    );
    assert_eq!(refused.close().await.status(), 204);

    let (mut bob, _) = Client::join(&b, "bob", "lobby").await;
    assert_eq!(
        ann.next().await,
        joined("bob", 2),
        "refused joins are not announced"
    );
    bob.send(json!({"type": "nick", "nick": "ANN"})).await;
    bob.expect_error("nick_taken").await;

    // Once its holder has left, the name is free on the other instance,
    // and from then on held there.
    ann.close().await;
    assert_eq!(bob.next().await, left("Ann", 1));
    let (_ann, welcome) = Client::join(&b, "ann", "lobby").await;
    assert_eq!(welcome["nick"], "ann");
    assert_eq!(roster(&welcome), nicks(&["ann", "bob"]));
    assert_eq!(bob.next().await, joined("ann", 2));
    join_refused(&a, "ANN", "lobby", "nick_taken").await;
}

/// Rounds of [`round_robin_chat`]; each user says two messages a round.
const ROUNDS: usize = 4;

/// [`round_robin_chat`], then bob closes his session and ann sees him go.
async fn round_robin_chat_and_leave(ws_url: &str, bases: &[String]) -> RoundRobinPoll {
    let (mut ann, mut bob) = round_robin_chat(ws_url, bases, ROUNDS).await;
    assert_eq!(bob.close().await, 204);
    assert_eq!(ann.next().await, left("bob", 1));
    bob
}

#[tokio::test]
async fn a_polling_session_alternating_between_instances_loses_and_repeats_nothing() {
    let redis = RedisServer::start().await;
    let nodes = instances(&redis, 2).await;
    let bases = [nodes[0].url(""), nodes[1].url("")];
    let bob = round_robin_chat_and_leave(&nodes[0].ws_url(), &bases).await;
    for (index, base) in bases.iter().enumerate() {
        for kind in [Request::Poll, Request::Send] {
            assert!(
                bob.served_by(kind, index) > 0,
                "{base} served no {kind:?}: {:?}",
                bob.served
            );
        }
    }
}

#[tokio::test]
async fn a_polling_session_through_nginx_without_stickiness_loses_and_repeats_nothing() {
    let redis = RedisServer::start().await;
    let nodes = instances(&redis, 2).await;
    let nginx = Nginx::start_balancing(&[nodes[0].port, nodes[1].port]).await;
    round_robin_chat_and_leave(&nodes[0].ws_url(), &[nginx.url("")]).await;
    // Only bob went through nginx: its log is his session's requests.
    let log = nginx.access_log();
    for node in &nodes {
        for request in ["GET /poll", "POST /poll/send"] {
            let line = format!("127.0.0.1:{} {request}", node.port);
            assert!(
                log.lines().any(|l| l == line),
                "no {request} reached port {}:\n{log}",
                node.port
            );
        }
    }
}

#[tokio::test]
async fn a_crashed_instances_user_lapses_and_resumes_on_another_without_gap() {
    let redis = RedisServer::start().await;
    let mut crashing = Instance::start(&redis.url(), &[]).await;
    readyz_becomes(&crashing.url("/readyz"), 200).await;
    let staying = instance(&redis, &[]).await;
    let (mut ann, first) = Client::join(&crashing.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = Client::join(&staying.ws_url(), "bob", "lobby").await;
    assert_eq!(ann.next().await, joined("bob", 2));
    for text in ["seen 0", "seen 1"] {
        bob.send(say(text)).await;
    }
    let (seen, _) = gather(&mut bob, 2, 2).await;
    assert_eq!(gather(&mut ann, 2, 0).await.0, seen);
    assert_eq!(ids(&seen), [1, 2]);

    // SIGKILL: nobody is told; ann's lease lapses and bob's instance
    // removes her.
    crashing.kill();
    drop(ann);
    assert_eq!(await_frame(&mut bob, "left").await, left("ann", 1));
    for text in ["missed 0", "missed 1", "missed 2"] {
        bob.send(say(text)).await;
    }
    let (missed, _) = gather(&mut bob, 3, 3).await;
    assert_eq!(ids(&missed), [3, 4, 5]);

    let rejoin = json!({"type": "join", "nick": "ann", "room": "lobby",
                        "resume": first["session"], "since": seen[1]["id"],
                        "epoch": first["epoch"]});
    let (mut ann, welcome) = Client::join_with(&staying.ws_url(), rejoin).await;
    assert_eq!(welcome["nick"], "ann");
    assert_eq!(
        history(&welcome),
        missed.iter().map(without_type).collect::<Vec<_>>(),
        "exactly what she missed: no gap, no duplicate"
    );
    assert_eq!(welcome["gap"], false);
    assert_eq!(welcome["cursor"], 5);
    assert_eq!(welcome["count"], 2);
    assert_eq!(roster(&welcome), nicks(&["ann", "bob"]));
    // The room saw her leave, so this is an ordinary join for bob.
    assert_eq!(bob.next().await, joined("ann", 2));
    ann.send(say("back")).await;
    let (back, _) = gather(&mut ann, 1, 1).await;
    assert_eq!(back[0]["id"], 6);
    assert_eq!(bob.next().await, back[0]);
}

#[tokio::test]
async fn an_outage_of_redis_is_announced_refused_and_recovered_without_loss() {
    let mut redis = RedisServer::start().await;
    let nodes = instances(&redis, 2).await;
    let (mut ann, _) = Client::join(&nodes[0].ws_url(), "ann", "lobby").await;
    let (mut bob, _) = Client::join(&nodes[1].ws_url(), "bob", "lobby").await;
    assert_eq!(ann.next().await, joined("bob", 2));
    let (mut cara, _) = PollClient::open(&nodes[1].url(""), "cara", "lobby").await;
    for client in [&mut ann, &mut bob] {
        assert_eq!(client.next().await, joined("cara", 3));
    }

    // Acknowledged before the outage: one message from each.
    ann.send(say("ann 0")).await;
    bob.send(say("bob 0")).await;
    assert_eq!(cara.send(say("cara 0")).await.status(), 200);
    let (ann_seen, ann_acks) = gather(&mut ann, 3, 1).await;
    let (bob_seen, bob_acks) = gather(&mut bob, 3, 1).await;
    let (cara_seen, cara_acks) = gather(&mut cara, 3, 1).await;
    check_acks(&ann_acks, &ann_seen, "ann");
    check_acks(&bob_acks, &bob_seen, "bob");
    check_acks(&cara_acks, &cara_seen, "cara");
    let acknowledged = ann_seen.clone();
    check_one_order(&[ann_seen, bob_seen, cara_seen], &["ann", "bob", "cara"], 1);

    // Redis dies: every instance says so, and so does every member.
    redis.kill();
    for node in &nodes {
        let body = readyz_becomes(&node.url("/readyz"), 503).await;
        assert_eq!(body["status"], "degraded", "{body}");
        let health = reqwest::get(node.url("/healthz"))
            .await
            .expect("GET /healthz");
        assert_eq!(health.status(), 200, "/healthz stays up");
    }
    assert_status(&ann.next().await, true);
    assert_status(&bob.next().await, true);
    assert_status(&cara.next().await, true);

    // What needs Redis is refused, and says so.
    ann.send(say("ann 1")).await;
    let refused = ann.expect_error("degraded").await;
    assert_eq!(refused["ref"], "ann 1");
    assert!(refused["retry_ms"].is_u64(), "{refused}");
    bob.send(json!({"type": "typing", "on": true})).await;
    bob.expect_error("degraded").await;
    bob.send(json!({"type": "nick", "nick": "bobby"})).await;
    bob.expect_error("degraded").await;
    assert_eq!(cara.send(say("cara 1")).await.status(), 200);
    let refused = cara.expect("error").await;
    assert_eq!(
        (refused["code"].as_str(), refused["ref"].as_str()),
        (Some("degraded"), Some("cara 1")),
        "{refused}"
    );
    let mut dan = Client::connect(&nodes[0].ws_url()).await;
    assert_status(&dan.next().await, true);
    dan.send(json!({"type": "join", "nick": "dan", "room": "lobby"}))
        .await;
    dan.expect_error("degraded").await;

    // Redis comes back (replaying its append-only file).
    redis.restart().await;
    for node in &nodes {
        let body = readyz_becomes(&node.url("/readyz"), 200).await;
        assert_eq!(body, json!({"status": "ready"}));
    }
    for client in [&mut ann, &mut bob, &mut dan] {
        assert_status(&client.next().await, false);
    }
    assert_status(&cara.next().await, false);

    // ann resends her refused say: posted once, with the next id; a second
    // resend of the same ref is only acknowledged again, with the same id.
    ann.send(say("ann 1")).await;
    let (resent, _) = gather(&mut ann, 1, 1).await;
    assert_eq!(resent[0]["id"], 4, "ids go on from before the outage");
    ann.send(say("ann 1")).await;
    assert_eq!(
        ann.next().await,
        json!({"type": "ack", "ref": "ann 1", "id": 4}),
        "the resend is not posted again"
    );
    ann.send(say("ann 2")).await;
    let (marker, _) = gather(&mut ann, 1, 1).await;
    assert_eq!(bob.next().await, resent[0]);
    assert_eq!(bob.next().await, marker[0], "no second copy before it");
    assert_eq!(cara.next().await, resent[0]);
    assert_eq!(cara.next().await, marker[0]);

    // A joiner now sees everything acknowledged before the outage.
    dan.send(json!({"type": "join", "nick": "dan", "room": "lobby"}))
        .await;
    let welcome = dan.expect("welcome").await;
    let expected: Vec<Value> = acknowledged
        .iter()
        .chain([&resent[0], &marker[0]])
        .map(without_type)
        .collect();
    assert_eq!(history(&welcome), expected, "nothing acknowledged was lost");
    assert_eq!(welcome["count"], 4);
    assert_eq!(roster(&welcome), nicks(&["ann", "bob", "cara", "dan"]));
    for client in [&mut ann, &mut bob] {
        assert_eq!(client.next().await, joined("dan", 4));
    }
    assert_eq!(cara.next().await, joined("dan", 4));

    // And chat crosses instances again.
    bob.send(say("bob 1")).await;
    let (after, _) = gather(&mut bob, 1, 1).await;
    assert_eq!(after[0]["id"], 6);
    assert_eq!(ann.next().await, after[0]);
    assert_eq!(dan.next().await, after[0]);
    assert_eq!(cara.next().await, after[0]);
}

#[tokio::test]
async fn a_prefix_keeps_two_clusters_on_one_redis_apart() {
    let redis = RedisServer::start().await;
    let red = [
        instance(&redis, &["--redis-prefix", "red:"]).await,
        instance(&redis, &["--redis-prefix", "red:"]).await,
    ];
    let blue = [
        instance(&redis, &["--redis-prefix", "blue:"]).await,
        instance(&redis, &["--redis-prefix", "blue:"]).await,
    ];
    let (mut red_ann, _) = Client::join(&red[0].ws_url(), "ann", "lobby").await;
    let (mut red_bob, welcome) = Client::join(&red[1].ws_url(), "bob", "lobby").await;
    assert_eq!(roster(&welcome), nicks(&["ann", "bob"]));
    assert_eq!(red_ann.next().await, joined("bob", 2));
    // The same nickname in the same room name, in the other cluster.
    let (mut blue_ann, welcome) = Client::join(&blue[0].ws_url(), "ann", "lobby").await;
    assert_eq!(welcome["count"], 1, "red's members are not counted");
    assert_eq!(roster(&welcome), nicks(&["ann"]));
    let (mut blue_cy, welcome) = Client::join(&blue[1].ws_url(), "cy", "lobby").await;
    assert_eq!(roster(&welcome), nicks(&["ann", "cy"]));
    assert_eq!(blue_ann.next().await, joined("cy", 2));

    // Each cluster numbers its own messages, and keeps them to itself.
    red_ann.send(say("red 0")).await;
    let (red_said, _) = gather(&mut red_ann, 1, 1).await;
    assert_eq!(red_bob.next().await, red_said[0]);
    blue_cy.send(say("blue 0")).await;
    let (blue_said, _) = gather(&mut blue_cy, 1, 1).await;
    assert_eq!(blue_ann.next().await, blue_said[0]);
    assert_eq!(
        (red_said[0]["id"].as_u64(), blue_said[0]["id"].as_u64()),
        (Some(1), Some(1))
    );
    for client in [&mut red_ann, &mut red_bob, &mut blue_ann, &mut blue_cy] {
        client.expect_nothing_pending().await;
    }

    // Every key the two clusters wrote is under one prefix or the other.
    let keys = redis.command(&["KEYS", "*"]).strings();
    for prefix in ["red:", "blue:"] {
        assert!(
            keys.iter().any(|key| key.starts_with(prefix)),
            "no key under {prefix}: {keys:?}"
        );
    }
    let stray: Vec<&String> = keys
        .iter()
        .filter(|key| !key.starts_with("red:") && !key.starts_with("blue:"))
        .collect();
    assert!(stray.is_empty(), "keys outside both prefixes: {stray:?}");
}

#[tokio::test]
async fn a_user_of_a_dead_instance_resumes_elsewhere_before_anyone_sees_them_go() {
    let redis = RedisServer::start().await;
    // A long lease: ann's place is still held when she comes back.
    let mut crashing = Instance::start(&redis.url(), &["--lease-secs", "60"]).await;
    readyz_becomes(&crashing.url("/readyz"), 200).await;
    let staying = instance(&redis, &[]).await;
    let (mut ann, first) = Client::join(&crashing.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = Client::join(&staying.ws_url(), "bob", "lobby").await;
    assert_eq!(ann.next().await, joined("bob", 2));
    bob.send(say("seen")).await;
    let (seen, _) = gather(&mut bob, 1, 1).await;
    assert_eq!(gather(&mut ann, 1, 0).await.0, seen);

    crashing.kill();
    drop(ann);
    for text in ["missed 0", "missed 1"] {
        bob.send(say(text)).await;
    }
    let (missed, _) = gather(&mut bob, 2, 2).await;

    let rejoin = json!({"type": "join", "nick": "ann", "room": "lobby",
                        "resume": first["session"], "since": seen[0]["id"],
                        "epoch": first["epoch"]});
    let (mut ann, welcome) = Client::join_with(&staying.ws_url(), rejoin).await;
    assert_eq!(welcome["session"], first["session"], "the same token");
    assert_eq!(
        history(&welcome),
        missed.iter().map(without_type).collect::<Vec<_>>(),
        "exactly what she missed"
    );
    assert_eq!(
        (welcome["count"].as_u64(), welcome["gap"].as_bool()),
        (Some(2), Some(false))
    );
    // Bob saw neither a departure nor an arrival: her next message is the
    // very next frame he gets.
    ann.send(say("back")).await;
    let (back, _) = gather(&mut ann, 1, 1).await;
    assert_eq!(bob.next().await, back[0]);
}

#[tokio::test]
async fn a_closed_polling_session_is_unknown_on_every_instance() {
    let redis = RedisServer::start().await;
    let nodes = instances(&redis, 2).await;
    let (cara, _) = PollClient::open(&nodes[0].url(""), "cara", "lobby").await;
    let elsewhere = cara.at(&nodes[1].url(""));
    assert_eq!(cara.close().await.status(), 204);
    assert_eq!(elsewhere.poll_at(elsewhere.cursor).await.status(), 404);
    assert_eq!(cara.poll_at(cara.cursor).await.status(), 404);
}

/// `--max-rooms` holds cluster-wide with Redis, counted in Redis: each
/// instance mirrors one room, but the cluster holds two with members, so a
/// third is refused on either with the memory backplane's code; a room
/// that empties makes way for a new one.
#[tokio::test]
async fn max_rooms_is_applied_across_instances_through_redis() {
    let redis = RedisServer::start().await;
    let a = instance(&redis, &["--max-rooms", "2"]).await;
    let b = instance(&redis, &["--max-rooms", "2"]).await;
    let (_ann, _) = Client::join(&a.ws_url(), "ann", "one").await;
    let (mut bob, _) = Client::join(&b.ws_url(), "bob", "two").await;
    join_refused(&a.ws_url(), "cat", "three", "too_many_rooms").await;
    join_refused(&b.ws_url(), "cat", "three", "too_many_rooms").await;
    let (_dan, _) = Client::join(&b.ws_url(), "dan", "one").await;

    // bob moves to room one: two is empty, and three fits.
    bob.send(json!({"type": "join", "nick": "bob", "room": "one"}))
        .await;
    bob.until("welcome").await;
    let (_cat, welcome) = Client::join(&a.ws_url(), "cat", "three").await;
    assert_eq!(welcome["room"], "three");
    join_refused(&b.ws_url(), "eve", "four", "too_many_rooms").await;
}

/// Frame rate limits lifted, for the bursts below: nobody types this fast,
/// and the point is many decisions in flight at once.
const BURST_LIMITS: &[&str] = &[
    "--rate-burst",
    "1000",
    "--rate-per-sec",
    "1000",
    "--address-rate-burst",
    "1000",
    "--address-rate-per-sec",
    "1000",
    "--room-rate-burst",
    "1000",
    "--room-rate-per-sec",
    "1000",
];

#[tokio::test]
async fn pipelined_bursts_from_many_senders_in_many_rooms_keep_one_order_per_room() {
    const ROOMS: [&str; 3] = ["red", "green", "blue"];
    const MEMBERS: usize = 4;
    const BURST: usize = 25;
    let redis = RedisServer::start().await;
    let nodes = [
        instance(&redis, BURST_LIMITS).await,
        instance(&redis, BURST_LIMITS).await,
    ];
    // Each room's members alternate between the instances.
    let mut rooms: Vec<(Vec<String>, Vec<Client>)> = Vec::new();
    for room in ROOMS {
        let (mut nicks, mut clients) = (Vec::new(), Vec::<Client>::new());
        for m in 0..MEMBERS {
            let nick = format!("{room}{m}");
            let (client, _) = Client::join(&nodes[m % 2].ws_url(), &nick, room).await;
            for (earlier, other) in clients.iter_mut().enumerate() {
                assert_eq!(other.next().await, joined(&nick, m as u64 + 1), "{earlier}");
            }
            nicks.push(nick);
            clients.push(client);
        }
        rooms.push((nicks, clients));
    }
    // Everyone at once, without waiting for any ack.
    for i in 0..BURST {
        for (nicks, clients) in &mut rooms {
            for (nick, client) in nicks.iter().zip(clients.iter_mut()) {
                client.send(say(&format!("{nick} {i}"))).await;
            }
        }
    }
    for (nicks, clients) in &mut rooms {
        let mut seen = Vec::new();
        for (nick, client) in nicks.iter().zip(clients.iter_mut()) {
            let (messages, acks) = gather(client, MEMBERS * BURST, BURST).await;
            check_acks(&acks, &messages, nick);
            seen.push(messages);
        }
        let senders: Vec<&str> = nicks.iter().map(String::as_str).collect();
        check_one_order(&seen, &senders, BURST);
    }
}

/// One sender of the restart test: what it was told of each of its says.
struct Burst {
    nick: &'static str,
    client: Client,
    /// Every message received, in order.
    seen: Vec<Value>,
    /// Each acked ref's id.
    acked: std::collections::BTreeMap<String, u64>,
    refused: BTreeSet<String>,
}

impl Burst {
    fn new(nick: &'static str, client: Client) -> Burst {
        Burst {
            nick,
            client,
            seen: Vec::new(),
            acked: Default::default(),
            refused: BTreeSet::new(),
        }
    }

    /// Reads one frame and files it; status changes are not counted.
    async fn read(&mut self) {
        let frame = self.client.next().await;
        match frame["type"].as_str() {
            Some("message") => self.seen.push(frame),
            Some("ack") => {
                // A say logged before Redis died whose answer was lost is
                // refused, resent and acked as a resend, then acked again
                // when its entry is read back: with the same id.
                let reference = frame["ref"].as_str().expect("ack ref").to_owned();
                self.refused.remove(&reference);
                let id = frame["id"].as_u64().expect("ack id");
                let first = *self.acked.entry(reference).or_insert(id);
                assert_eq!(first, id, "acked again with another id: {frame}");
            }
            Some("error") => {
                assert_eq!(frame["code"], "degraded", "{frame}");
                let reference = frame["ref"].as_str().expect("error ref").to_owned();
                self.refused.insert(reference);
            }
            Some("status") => {}
            _ => panic!("{}: unexpected {frame}", self.nick),
        }
    }

    /// Reads until each of its `n` says is answered, acked or refused.
    async fn until_answered(&mut self, n: usize) {
        while self.acked.len() + self.refused.len() < n {
            self.read().await;
        }
    }
}

#[tokio::test]
async fn a_redis_restart_mid_burst_loses_nothing_acknowledged_and_repeats_nothing() {
    const BURST: usize = 40;
    let mut redis = RedisServer::start().await;
    let nodes = [
        instance(&redis, BURST_LIMITS).await,
        instance(&redis, BURST_LIMITS).await,
    ];
    let (mut ann, _) = Client::join(&nodes[0].ws_url(), "ann", "lobby").await;
    let (bob, _) = Client::join(&nodes[1].ws_url(), "bob", "lobby").await;
    assert_eq!(ann.next().await, joined("bob", 2));
    let mut senders = [Burst::new("ann", ann), Burst::new("bob", bob)];
    for i in 0..BURST {
        for sender in &mut senders {
            let text = format!("{} {i}", sender.nick);
            sender.client.send(say(&text)).await;
        }
    }
    // Redis dies as the first answer comes back, with most of the burst
    // still queued or in flight.
    while senders[0].acked.is_empty() && senders[0].refused.is_empty() {
        senders[0].read().await;
    }
    redis.kill();
    for sender in &mut senders {
        sender.until_answered(BURST).await;
    }
    redis.restart().await;
    for node in &nodes {
        readyz_becomes(&node.url("/readyz"), 200).await;
    }
    // Each sender resends what was refused, in order, until all is acked:
    // a say that was logged before its answer was lost is only acked again.
    for sender in &mut senders {
        while !sender.refused.is_empty() {
            let again: Vec<String> = sender.refused.iter().cloned().collect();
            let mut again: Vec<(usize, String)> = again
                .into_iter()
                .map(|text| (text.rsplit(' ').next().unwrap().parse().unwrap(), text))
                .collect();
            again.sort();
            let waiting = again.len();
            sender.refused.clear();
            for (_, text) in &again {
                sender.client.send(say(text)).await;
            }
            let answered = sender.acked.len() + waiting;
            while sender.acked.len() + sender.refused.len() < answered {
                sender.read().await;
            }
        }
        assert_eq!(sender.acked.len(), BURST, "{} all acked", sender.nick);
    }
    for sender in &mut senders {
        while sender.seen.len() < 2 * BURST {
            sender.read().await;
        }
    }
    let seen = [senders[0].seen.clone(), senders[1].seen.clone()];
    check_one_order(&seen, &["ann", "bob"], BURST);
    // And Redis holds exactly that: a joiner's history is the same list.
    let (_, welcome) = Client::join(&nodes[1].ws_url(), "dan", "lobby").await;
    let tail: Vec<Value> = seen[0].iter().map(without_type).collect();
    let kept = history(&welcome);
    assert_eq!(
        kept[..],
        tail[tail.len() - kept.len()..],
        "the log is what was seen"
    );
}

/// Polls Redis until a client is held by `CLIENT PAUSE` (flag `b`) in
/// the middle of a script: a decision is waiting on Redis.
async fn until_a_script_waits(redis: &RedisServer) {
    let deadline = Instant::now() + CLUSTER_PATIENCE;
    loop {
        let Reply::Bulk(Some(list)) = redis.command(&["CLIENT", "LIST"]) else {
            panic!("CLIENT LIST answered no text");
        };
        if list
            .lines()
            .any(|line| line.contains(" flags=b ") && line.contains(" cmd=evalsha "))
        {
            return;
        }
        assert!(Instant::now() < deadline, "no script waited: {list}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_join_waiting_on_redis_holds_up_nobody_else() {
    let redis = RedisServer::start().await;
    let node = instance(&redis, &[]).await;
    let (mut bob, _) = Client::join(&node.ws_url(), "bob", "lobby").await;
    // Redis holds every script from now on: ann's join waits on it.
    let paused = redis.command(&["CLIENT", "PAUSE", "20000", "WRITE"]);
    assert_eq!(paused, Reply::Simple("OK".into()));
    // Into a room this instance mirrors, and into one it must open first.
    let mut ann = Client::connect(&node.ws_url()).await;
    ann.send(json!({"type": "join", "nick": "ann", "room": "lobby"}))
        .await;
    let mut cy = Client::connect(&node.ws_url()).await;
    cy.send(json!({"type": "join", "nick": "cy", "room": "annex"}))
        .await;
    until_a_script_waits(&redis).await;
    // One join at a time: a second one from ann meanwhile is refused at
    // once, and the first goes on.
    ann.send(json!({"type": "join", "nick": "ann2", "room": "annex"}))
        .await;
    let busy = ann.next().await;
    assert_eq!(
        (&busy["type"], &busy["code"]),
        (&json!("error"), &json!("rate_limited")),
        "{busy}"
    );
    // Meanwhile the room goes on: bob's request, answered from the
    // room's state here, comes back while the join is still held. Were
    // the join decided on the room's thread, bob's answer would come only
    // after Redis timed out, and ann would be refused as degraded.
    bob.send(json!({"type": "roster", "limit": 10, "ref": "r1"}))
        .await;
    let roster = bob.next().await;
    assert_eq!(roster["type"], "roster", "{roster}");
    assert_eq!(roster["ref"], "r1", "{roster}");
    let unpaused = redis.command(&["CLIENT", "UNPAUSE"]);
    assert_eq!(unpaused, Reply::Simple("OK".into()));
    let welcome = ann.next().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(bob.next().await, joined("ann", 2));
    let welcome = cy.next().await;
    assert_eq!(
        (&welcome["type"], &welcome["room"], &welcome["count"]),
        (&json!("welcome"), &json!("annex"), &json!(1)),
        "{welcome}"
    );
}

#[tokio::test]
async fn a_room_opened_while_its_members_talk_shows_each_message_once() {
    let redis = RedisServer::start().await;
    let nodes = instances(&redis, 2).await;
    let (mut bob, _) = Client::join(&nodes[1].ws_url(), "bob", "annex").await;
    // cy's instance does not mirror the room: her join reads its snapshot
    // first. Redis holds every script while bob talks, so once it lets go
    // his messages may be logged before the snapshot, between it and her
    // join, or after; whichever it is, she sees each once, in order,
    // either in her welcome's history or as it comes.
    let paused = redis.command(&["CLIENT", "PAUSE", "20000", "WRITE"]);
    assert_eq!(paused, Reply::Simple("OK".into()));
    let mut cy = Client::connect(&nodes[0].ws_url()).await;
    cy.send(json!({"type": "join", "nick": "cy", "room": "annex"}))
        .await;
    for text in ["one", "two", "three"] {
        bob.send(say(text)).await;
    }
    until_a_script_waits(&redis).await;
    let unpaused = redis.command(&["CLIENT", "UNPAUSE"]);
    assert_eq!(unpaused, Reply::Simple("OK".into()));

    let (mut acks, mut cy_joined) = (0, false);
    while acks < 3 || !cy_joined {
        let frame = bob.next().await;
        match frame["type"].as_str() {
            Some("ack") => acks += 1,
            Some("message") => {}
            _ => {
                assert_eq!(frame, joined("cy", 2));
                cy_joined = true;
            }
        }
    }
    let welcome = cy.next().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let mut seen: Vec<String> = history(&welcome)
        .iter()
        .map(|m| m["text"].as_str().expect("text").to_owned())
        .collect();
    while seen.len() < 3 {
        let frame = cy.next().await;
        assert_eq!(frame["type"], "message", "{frame}");
        seen.push(frame["text"].as_str().expect("text").to_owned());
    }
    assert_eq!(seen, ["one", "two", "three"]);
    cy.expect_nothing_pending().await;
}
