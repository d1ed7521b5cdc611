//! The roster in pages and big rooms (protocol minor version 2) over real
//! sockets: a client whose `join` says `"minor":2` gets the first page of
//! the roster in its welcome and pages through the rest, by cursor and by
//! name prefix, over a WebSocket and over long-polling alike; a client
//! that says nothing (the page, and every older client) still gets the
//! whole roster in join order and one `joined` per arrival below
//! `--big-room-members`; at or above it everybody gets arrivals and
//! departures counted, with a sample of names; roster requests spend the
//! client's frame allowance; and with several instances on one Redis the
//! pages are the room's, whichever instance answers them.
//!
//! Waits are event-driven (each frame is awaited, bounded by the inbox's
//! hang guard); "nothing else arrived" is shown by a ping whose pong must
//! be the very next frame.

mod common;

use common::inbox::Inbox;
use common::poll::PollClient;
use common::redis::RedisServer;
use common::ws::Client;
use serde_json::{json, Value};

fn nicks(entries: &Value) -> Vec<String> {
    entries
        .as_array()
        .expect("a list of roster entries")
        .iter()
        .map(|e| e["nick"].as_str().expect("a nick").to_owned())
        .collect()
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// A join that says the client reads minor version 2.
fn paged_join(nick: &str, room: &str) -> Value {
    json!({"type": "join", "v": 1, "minor": 2, "nick": nick, "room": room})
}

fn ask(after: Option<&str>, prefix: Option<&str>, limit: u64, reference: &str) -> Value {
    let mut frame = json!({"type": "roster", "limit": limit, "ref": reference});
    if let Some(after) = after {
        frame["after"] = json!(after);
    }
    if let Some(prefix) = prefix {
        frame["prefix"] = json!(prefix);
    }
    frame
}

/// Members who joined `room` in this order, each over its own WebSocket
/// as an older client would; kept connected while the test runs.
async fn crowd(url: &str, room: &str, names: &[&str]) -> Vec<Client> {
    let mut clients = Vec::new();
    for name in names {
        clients.push(Client::join(url, name, room).await.0);
    }
    clients
}

/// The sending half of each transport, so one paging routine serves both.
trait Sender<C> {
    async fn send(&self, client: &mut C, frame: Value);
}

struct OverWs;
impl Sender<Client> for OverWs {
    async fn send(&self, client: &mut Client, frame: Value) {
        client.send(frame).await;
    }
}

struct OverPoll;
impl Sender<PollClient> for OverPoll {
    async fn send(&self, client: &mut PollClient, frame: Value) {
        assert_eq!(client.send(frame).await.status(), 200);
    }
}

/// Pages through the roster (`prefix`, `limit`) from the start, following
/// `next`; answers the names of each page and the last `count`.
async fn all_pages<C: Inbox>(
    client: &mut C,
    send: &impl Sender<C>,
    prefix: Option<&str>,
    limit: u64,
) -> (Vec<Vec<String>>, u64) {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    for n in 0.. {
        let reference = format!("p{n}");
        send.send(client, ask(after.as_deref(), prefix, limit, &reference))
            .await;
        let page = client.until("roster").await;
        assert_eq!(page["ref"], reference.as_str());
        pages.push(nicks(&page["members"]));
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return (pages, page["count"].as_u64().expect("a count")),
        }
    }
    unreachable!()
}

/// Waits until an instance's backplane is ready (`/readyz` answers 200);
/// the loop is a hang guard, not a timing assertion.
async fn ready(server: &common::TestServer) {
    common::inbox::within(common::inbox::PATIENCE, "readyz 200", async {
        loop {
            if let Ok(response) = reqwest::get(server.url("/readyz")).await {
                if response.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
}

const NAMES: [&str; 6] = ["zoe", "Bob", "anna", "Andy", "carl", "ann"];

#[tokio::test]
async fn a_paging_client_pages_the_roster_by_cursor_and_prefix_over_websocket() {
    let server = common::start(&[]);
    let url = server.ws_url();
    let _crowd = crowd(&url, "tea", &NAMES).await;
    let (mut eve, welcome) = Client::join_with(&url, paged_join("eve", "tea")).await;
    assert_eq!(welcome["minor"], 2, "the server speaks minor version 2");
    assert_eq!(welcome["limits"]["max_roster_limit"], 100);
    assert_eq!(welcome["limits"]["big_room_members"], 1000);
    assert_eq!(welcome["count"], 7);
    assert_eq!(
        nicks(&welcome["roster"]),
        strings(&["Andy", "ann", "anna", "Bob", "carl", "eve", "zoe"]),
        "the first page, in name order without regard to case"
    );
    assert!(
        welcome.get("roster_next").is_none(),
        "the page is everybody"
    );
    let (pages, count) = all_pages(&mut eve, &OverWs, None, 3).await;
    assert_eq!(
        pages,
        vec![
            strings(&["Andy", "ann", "anna"]),
            strings(&["Bob", "carl", "eve"]),
            strings(&["zoe"])
        ]
    );
    assert_eq!(count, 7);
    let (found, _) = all_pages(&mut eve, &OverWs, Some("AN"), 2).await;
    assert_eq!(
        found,
        vec![strings(&["Andy", "ann"]), strings(&["anna"])],
        "a prefix search, a page at a time"
    );
    let (none, _) = all_pages(&mut eve, &OverWs, Some("x"), 10).await;
    assert_eq!(none, vec![Vec::<String>::new()]);
    eve.expect_nothing_pending().await;
}

#[tokio::test]
async fn a_paging_client_pages_the_roster_over_long_polling() {
    let server = common::start(&[]);
    let _crowd = crowd(&server.ws_url(), "tea", &NAMES).await;
    let (mut eve, welcome) = PollClient::open_with(&server.url(""), paged_join("eve", "tea")).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["count"], 7);
    assert_eq!(nicks(&welcome["roster"]).len(), 7);
    let (pages, count) = all_pages(&mut eve, &OverPoll, None, 4).await;
    assert_eq!(
        pages,
        vec![
            strings(&["Andy", "ann", "anna", "Bob"]),
            strings(&["carl", "eve", "zoe"])
        ],
        "the same pages as over a WebSocket"
    );
    assert_eq!(count, 7);
    let (found, _) = all_pages(&mut eve, &OverPoll, Some("b"), 10).await;
    assert_eq!(found, vec![strings(&["Bob"])]);
    // Refusals carry the ref, over polling too.
    assert_eq!(eve.send(ask(None, None, 101, "big")).await.status(), 200);
    let refused = eve.expect_error("invalid_limit").await;
    assert_eq!(refused["ref"], "big");
}

#[tokio::test]
async fn an_older_client_below_the_big_room_size_sees_what_it_always_saw() {
    let server = common::start(&[]);
    let url = server.ws_url();
    let mut crowd = crowd(&url, "tea", &NAMES).await;
    // The join says nothing of minor versions, as the page's does not.
    let (mut old, welcome) = Client::join(&url, "old", "tea").await;
    assert_eq!(
        nicks(&welcome["roster"]),
        strings(&["zoe", "Bob", "anna", "Andy", "carl", "ann", "old"]),
        "everybody, in join order"
    );
    assert_eq!(welcome["count"], 7);
    assert!(welcome.get("roster_next").is_none());
    let (_late, _) = Client::join(&url, "late", "tea").await;
    assert_eq!(
        old.next().await,
        json!({"type": "joined", "nick": "late", "count": 8}),
        "one joined per arrival, as before"
    );
    crowd.pop().unwrap().close().await;
    assert_eq!(
        old.next().await,
        json!({"type": "left", "nick": "ann", "count": 7})
    );
    old.expect_nothing_pending().await;
}

#[tokio::test]
async fn a_big_room_counts_arrivals_and_departures_with_a_sample_of_names() {
    let server = common::start(&["--big-room-members", "4"]);
    let url = server.ws_url();
    let (mut old, _) = Client::join(&url, "old", "hall").await;
    let (mut new, _) = Client::join_with(&url, paged_join("new", "hall")).await;
    let _pair = crowd(&url, "hall", &["ann", "bob"]).await;
    for observer in [&mut old, &mut new] {
        observer.until_matches(|f| f["count"] == 4).await;
    }
    // The room has 4 now: big. Every kind of client gets a counted
    // presence frame, even for one arrival.
    let (mut carl, welcome) = Client::join_with(&url, paged_join("carl", "hall")).await;
    assert_eq!(welcome["count"], 5);
    assert_eq!(welcome["roster"], json!([]), "no page in a big room");
    assert_eq!(welcome["roster_next"], "", "page from the start on request");
    let expected = json!({"type": "presence", "changes": [{"nick": "carl", "present": true}],
        "count": 5, "arrived": 1, "departed": 0});
    assert_eq!(old.next().await, expected);
    assert_eq!(new.next().await, expected);
    // An older client's welcome in a big room holds the first members in
    // join order (all of them here: fewer than a page).
    let (_dora, welcome) = Client::join(&url, "dora", "hall").await;
    assert_eq!(
        nicks(&welcome["roster"]),
        strings(&["old", "new", "ann", "bob", "carl", "dora"])
    );
    // A crowd arriving at once: however the batches fall, each names at
    // most 10 members, the arrivals add up and the count ends right.
    let names: Vec<String> = (0..30).map(|n| format!("u{n:02}")).collect();
    let joins = names.iter().map(|n| Client::join(&url, n, "hall"));
    let arrivals = futures_util::future::join_all(joins).await;
    let mut arrived = 0;
    let mut count = 0;
    while count != 36 {
        let frame = carl.next().await;
        assert_eq!(frame["type"], "presence", "{frame}");
        assert!(frame["changes"].as_array().unwrap().len() <= 10, "{frame}");
        assert_eq!(frame["departed"], 0);
        arrived += frame["arrived"].as_u64().unwrap();
        count = frame["count"].as_u64().unwrap();
    }
    assert_eq!(arrived, 31, "dora and the 30");
    drop(arrivals);
    let mut departed = 0;
    while count != 6 {
        let frame = carl.next().await;
        departed += frame["departed"].as_u64().expect("counted departures");
        count = frame["count"].as_u64().unwrap();
    }
    assert_eq!(departed, 30);
    // The paging client finds anyone by asking.
    new.send(ask(None, Some("do"), 10, "d")).await;
    let page = new.until("roster").await;
    assert_eq!(
        (nicks(&page["members"]), &page["count"]),
        (strings(&["dora"]), &json!(6))
    );
}

#[tokio::test]
async fn roster_requests_spend_the_frame_allowance() {
    let server = common::start(&["--rate-burst", "3", "--rate-per-sec", "1"]);
    let (mut ann, _) = Client::join_with(&server.ws_url(), paged_join("ann", "tea")).await;
    for n in 0..4 {
        ann.send(ask(None, None, 10, &format!("r{n}"))).await;
    }
    for n in 0..3 {
        let page = ann.expect("roster").await;
        assert_eq!(page["ref"], format!("r{n}"));
    }
    let refused = ann.expect_error("rate_limited").await;
    assert_eq!(refused["ref"], "r3");
    assert!(refused["retry_ms"].as_u64().is_some_and(|ms| ms > 0));
}

#[tokio::test]
async fn instances_on_one_redis_page_the_same_roster_and_take_each_others_cursors() {
    let redis = RedisServer::start().await;
    let url = redis.url();
    let args = ["--redis-url", url.as_str(), "--lease-secs", "3"];
    let (a, b) = (common::start(&args), common::start(&args));
    for server in [&a, &b] {
        ready(server).await;
    }
    // Members on both instances.
    let _on_a = crowd(&a.ws_url(), "tea", &["zoe", "anna", "carl"]).await;
    let _on_b = crowd(&b.ws_url(), "tea", &["Bob", "ann"]).await;
    let (mut reader_a, _) = Client::join_with(&a.ws_url(), paged_join("xa", "tea")).await;
    let (mut reader_b, _) = Client::join_with(&b.ws_url(), paged_join("xb", "tea")).await;
    // Each instance learns of the last join from the log; wait for it.
    reader_a.until_matches(|f| f["nick"] == "xb").await;
    let everyone = strings(&["ann", "anna", "Bob", "carl", "xa", "xb", "zoe"]);
    for reader in [&mut reader_a, &mut reader_b] {
        let (pages, count) = all_pages(reader, &OverWs, None, 100).await;
        assert_eq!((pages, count), (vec![everyone.clone()], 7));
    }
    // A cursor read on one instance pages on the other.
    reader_a.send(ask(None, None, 3, "first")).await;
    let first = reader_a.until("roster").await;
    assert_eq!(nicks(&first["members"]), everyone[..3].to_vec());
    let cursor = first["next"].as_str().expect("more").to_owned();
    reader_b.send(ask(Some(&cursor), None, 10, "rest")).await;
    let rest = reader_b.until("roster").await;
    assert_eq!(nicks(&rest["members"]), everyone[3..].to_vec());
}
