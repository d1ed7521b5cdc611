//! Parley instances sharing a Redis Cluster (`--redis-cluster`, three
//! masters started by the test, `common/redis/cluster.rs`) behave as on one
//! Redis: rooms whose keys live on different masters each keep one order
//! and deliver every message exactly once to every member, whichever
//! instance they are on; a member moves between rooms on different
//! masters; a polling session is served by either instance in turn; and
//! `--max-rooms` holds cluster-wide. Waits are event-driven: every frame
//! awaited is one the test caused.

mod common;

use common::inbox::Inbox;
use common::order::{check_acks, check_one_order, gather, round_robin_chat, say};
use common::redis::cluster::RedisCluster;
use common::redis::round_robin::Request;
use common::ws::Client;
use common::TestServer;
use serde_json::json;
use tokio::time::Instant;

/// Messages each member says in each room.
const EACH: usize = 4;

/// Rooms the first test spreads over the masters (one per master).
const ROOMS: usize = 3;

/// Starts an in-process instance on `cluster` (with `extra` arguments)
/// and waits until its backplane is ready.
async fn instance(cluster: &RedisCluster, extra: &[&str]) -> TestServer {
    let url = cluster.url();
    let mut args = vec!["--redis-url", url.as_str(), "--redis-cluster"];
    args.extend_from_slice(&["--lease-secs", "3"]);
    args.extend_from_slice(extra);
    let server = common::start(&args);
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let ready = reqwest::get(server.url("/readyz")).await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        assert!(Instant::now() < deadline, "the instance never got ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Room names whose keys live on `ROOMS` different masters, one each.
fn rooms_on_every_master(cluster: &RedisCluster) -> Vec<String> {
    let mut picked: Vec<(u16, String)> = Vec::new();
    for n in 0..1_000 {
        let name = format!("room-{n}");
        let master = cluster.master_of(&format!("parley:{{{name}}}:meta"));
        if picked.iter().all(|(m, _)| *m != master) {
            picked.push((master, name));
        }
        if picked.len() == ROOMS {
            return picked.into_iter().map(|(_, name)| name).collect();
        }
    }
    panic!("no room names found for every master")
}

#[tokio::test]
async fn rooms_on_different_masters_each_keep_one_order_and_a_member_moves_between_them() {
    let cluster = RedisCluster::start().await;
    let a = instance(&cluster, &[]).await;
    let b = instance(&cluster, &[]).await;
    let rooms = rooms_on_every_master(&cluster);

    // In each room, one member on each instance.
    let mut pairs = Vec::new();
    for (r, room) in rooms.iter().enumerate() {
        let (ann, bob) = (format!("ann{r}"), format!("bob{r}"));
        let (mut on_a, welcome) = Client::join(&a.ws_url(), &ann, room).await;
        assert_eq!(welcome["count"], 1, "{welcome}");
        let (on_b, welcome) = Client::join(&b.ws_url(), &bob, room).await;
        assert_eq!(welcome["count"], 2, "{welcome}");
        assert_eq!(
            on_a.next().await,
            json!({"type": "joined", "nick": bob, "count": 2})
        );
        pairs.push((on_a, on_b, ann, bob));
    }

    // Everyone talks at once, in every room.
    for i in 0..EACH {
        for (on_a, on_b, ann, bob) in &mut pairs {
            on_a.send(say(&format!("{ann} {i}"))).await;
            on_b.send(say(&format!("{bob} {i}"))).await;
        }
    }
    for (on_a, on_b, ann, bob) in &mut pairs {
        let (seen_a, acks_a) = gather(on_a, 2 * EACH, EACH).await;
        let (seen_b, acks_b) = gather(on_b, 2 * EACH, EACH).await;
        check_acks(&acks_a, &seen_a, ann);
        check_acks(&acks_b, &seen_b, bob);
        check_one_order(&[seen_a, seen_b], &[ann, bob], EACH);
    }
    for &port in cluster.ports() {
        assert!(cluster.keys_on(port) > 0, "master {port} holds some rooms");
    }

    // ann0 moves from the first room to the second (another master): the
    // first sees her leave, the second her arrive, and she talks there.
    let (first, rest) = pairs.split_at_mut(1);
    let (ann0, bob0, ..) = &mut first[0];
    let (ann1, bob1, ..) = &mut rest[0];
    ann0.send(json!({"type": "join", "nick": "ann0", "room": rooms[1]}))
        .await;
    let welcome = ann0.until("welcome").await;
    assert_eq!(
        (welcome["room"].as_str(), welcome["count"].as_u64()),
        (Some(rooms[1].as_str()), Some(3))
    );
    assert_eq!(
        bob0.next().await,
        json!({"type": "left", "nick": "ann0", "count": 1})
    );
    let arrived = json!({"type": "joined", "nick": "ann0", "count": 3});
    assert_eq!(ann1.next().await, arrived);
    assert_eq!(bob1.next().await, arrived);
    ann0.send(say("moved")).await;
    let next_id = 2 * EACH as u64 + 1;
    for client in [&mut *ann1, &mut *bob1] {
        let message = client.next().await;
        assert_eq!(
            (message["text"].as_str(), message["id"].as_u64()),
            (Some("moved"), Some(next_id))
        );
    }
    let (seen, acks) = gather(ann0, 1, 1).await;
    check_acks(&acks, &seen, "ann0");
    // Nothing else reached the first room: bob0's next frame is his own.
    bob0.send(say("still here")).await;
    let (seen, _) = gather(bob0, 1, 1).await;
    assert_eq!(seen[0]["id"], 2 * EACH as u64 + 1);
}

#[tokio::test]
async fn a_polling_session_alternating_between_instances_on_a_cluster_loses_and_repeats_nothing() {
    let cluster = RedisCluster::start().await;
    let nodes = [instance(&cluster, &[]).await, instance(&cluster, &[]).await];
    let bases = [nodes[0].url(""), nodes[1].url("")];
    let (mut ann, mut bob) = round_robin_chat(&nodes[0].ws_url(), &bases, 4).await;
    for (index, base) in bases.iter().enumerate() {
        for kind in [Request::Poll, Request::Send] {
            assert!(bob.served_by(kind, index) > 0, "{base} served no {kind:?}");
        }
    }
    assert_eq!(bob.close().await, 204);
    assert_eq!(
        ann.next().await,
        json!({"type": "left", "nick": "bob", "count": 1})
    );
}

/// `--max-rooms` counts cluster-wide on a Redis Cluster as on one Redis.
#[tokio::test]
async fn max_rooms_holds_across_instances_on_a_cluster() {
    let cluster = RedisCluster::start().await;
    let a = instance(&cluster, &["--max-rooms", "2"]).await;
    let b = instance(&cluster, &["--max-rooms", "2"]).await;
    let (_ann, _) = Client::join(&a.ws_url(), "ann", "one").await;
    let (mut bob, _) = Client::join(&b.ws_url(), "bob", "two").await;
    for url in [a.ws_url(), b.ws_url()] {
        let mut cat = Client::connect(&url).await;
        cat.send(json!({"type": "join", "nick": "cat", "room": "three"}))
            .await;
        cat.expect_error("too_many_rooms").await;
    }
    // bob moves to room one: two is empty, and three fits.
    bob.send(json!({"type": "join", "nick": "bob", "room": "one"}))
        .await;
    bob.until("welcome").await;
    let (_cat, welcome) = Client::join(&a.ws_url(), "cat", "three").await;
    assert_eq!(welcome["room"], "three");
}
