//! What the subscription thread passes on: the entries of watched rooms
//! written by any instance, and nothing of another prefix or of an
//! unwatched room. Outages of the subscription are `connection.rs`'s.

use std::sync::mpsc;

use super::*;

#[test]
fn prefixes_keep_clusters_apart() {
    let redis = TestRedis::start();
    let mut red = backplane(&redis, "red:", 10);
    let mut blue = backplane(&redis, "blue:", 10);
    let (tx, rx) = mpsc::channel();
    blue.watch(&room("lobby"), true);
    blue.subscribe_with(Box::new(move |logged| {
        let _ = tx.send(logged);
    }));
    wait_subscribed(&redis, "blue:ev");
    red.join(join("a", "Ann", "lobby", 10)).unwrap();
    let entries = blue.join(join("b", "Ann", "lobby", 10)).unwrap();
    assert_eq!(entries[0].seq, 1, "blue's own counter");
    match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
        Logged::Entries(heard) => assert_eq!(heard, entries, "blue hears blue only"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(blue.snapshot(&room("lobby")).unwrap().members.len(), 1);
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Logged>) -> Vec<Entry> {
    let got = actix_rt::time::timeout(Duration::from_secs(5), rx.recv()).await;
    match got.expect("heard in time").expect("collector alive") {
        Logged::Entries(entries) => entries,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_subscriber_hears_another_instances_entries_of_watched_rooms() {
    let redis = TestRedis::start();
    actix::System::new().block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut here = backplane(&redis, "parley:", 10);
        here.watch(&room("lobby"), true);
        here.subscribe(Box::new(move |logged| {
            let _ = tx.send(logged);
        }));
        wait_subscribed(&redis, "parley:ev");
        let mut there = backplane(&redis, "parley:", 10);
        there.join(join("a", "Ann", "elsewhere", 10)).unwrap();
        let moved = there.join(join("a", "Ann", "lobby", 10)).unwrap();
        assert_eq!(moved.len(), 2, "left elsewhere, joined the lobby");
        let said = there
            .say(&room("lobby"), &tok("a"), "hi".into(), None, NOW)
            .unwrap();

        assert_eq!(
            next(&mut rx).await,
            moved[1..].to_vec(),
            "only the watched room's"
        );
        assert_eq!(next(&mut rx).await, said.entries);
        // Published in this order, so hearing the second proves the
        // first was passed over.
        here.watch(&room("lobby"), false);
        here.watch(&room("side"), true);
        there.typing(&room("lobby"), &tok("a"), true).unwrap();
        let joined = there.join(join("b", "Bob", "side", 10)).unwrap();
        assert_eq!(next(&mut rx).await, joined, "nothing of an unwatched room");
    });
}
