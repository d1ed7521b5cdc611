//! Older history on demand (`history`, protocol minor version 1) over real
//! sockets, on both transports: paging back to the start of a room with
//! `more: false` there, the limit's bounds, `before`'s, the not-joined
//! refusal, the per-client rate with its retry hint, and that nobody but
//! the asker hears anything. A room is filled by a WebSocket member and
//! read by a WebSocket or a long-polling one: the frames are the same.

mod common;

use common::inbox::Inbox;
use common::poll::PollClient;
use common::ws::Client;
use serde_json::{json, Value};

/// Lifts the per-client frame rate so a test can fill a room quickly; the
/// history rate keeps its default unless a test names it.
const FILL: [&str; 4] = ["--rate-burst", "100000", "--rate-per-sec", "100000"];

fn ids(frame: &Value) -> Vec<u64> {
    frame["messages"]
        .as_array()
        .expect("a history answer has messages")
        .iter()
        .map(|m| m["id"].as_u64().expect("an id"))
        .collect()
}

fn range(from: u64, to: u64) -> Vec<u64> {
    (from..=to).collect()
}

/// Ann joins `room` and says `count` messages, "m1" to "mN".
async fn filled(server: &common::TestServer, room: &str, count: u64) -> Client {
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", room).await;
    for n in 1..=count {
        ann.say(&format!("m{n}"), &format!("r{n}")).await;
    }
    ann
}

fn ask(before: u64, limit: u64, reference: &str) -> Value {
    json!({"type": "history", "before": before, "limit": limit, "ref": reference})
}

/// Pages back from `before` in pages of `limit` until `more` is false;
/// answers the ids of each page.
async fn page_back<C: Inbox>(
    client: &mut C,
    send: impl AsyncSend<C>,
    mut before: u64,
    limit: u64,
) -> Vec<Vec<u64>> {
    let mut pages = Vec::new();
    for n in 0.. {
        let reference = format!("h{n}");
        send.send(client, ask(before, limit, &reference)).await;
        let answer = client.expect("history").await;
        assert_eq!(answer["ref"], reference.as_str());
        assert_eq!(answer["before"], before);
        let page = ids(&answer);
        let more = answer["more"].as_bool().expect("more is a bool");
        pages.push(page.clone());
        if !more {
            return pages;
        }
        before = page[0];
    }
    unreachable!()
}

/// Sending a frame the way each transport does.
trait AsyncSend<C> {
    async fn send(&self, client: &mut C, frame: Value);
}

struct OverWs;
impl AsyncSend<Client> for OverWs {
    async fn send(&self, client: &mut Client, frame: Value) {
        client.send(frame).await;
    }
}

struct OverPoll;
impl AsyncSend<PollClient> for OverPoll {
    async fn send(&self, client: &mut PollClient, frame: Value) {
        let response = client.send(frame).await;
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn pages_back_to_the_start_of_the_room_over_websocket() {
    let server = common::start(&FILL);
    let mut ann = filled(&server, "tea", 120).await;
    let (mut bob, welcome) = Client::join(&server.ws_url(), "bob", "tea").await;
    ann.expect("joined").await;
    assert!(
        welcome["minor"].as_u64() >= Some(1),
        "the server announces minor version 1 or later"
    );
    assert_eq!(welcome["limits"]["max_history_limit"], 100);
    let shown = ids(&json!({"messages": welcome["history"]}));
    assert_eq!(shown, range(71, 120), "the welcome's newest 50");
    let pages = page_back(&mut bob, OverWs, 71, 30).await;
    assert_eq!(
        pages,
        vec![range(41, 70), range(11, 40), range(1, 10)],
        "oldest first within a page, and more: false at message 1"
    );
    bob.send(ask(1, 30, "start")).await;
    let empty = bob.expect("history").await;
    assert_eq!((ids(&empty), &empty["more"]), (vec![], &json!(false)));
    // The texts are the messages themselves.
    bob.send(ask(3, 1, "two")).await;
    let two = bob.expect("history").await;
    assert_eq!(two["messages"][0]["text"], "m2");
    assert_eq!(two["messages"][0]["nick"], "ann");
    // Only the asker heard any of it.
    ann.expect_nothing_pending().await;
    bob.expect_nothing_pending().await;
}

#[tokio::test]
async fn pages_back_to_the_start_of_the_room_over_long_polling() {
    let server = common::start(&FILL);
    let mut ann = filled(&server, "tea", 75).await;
    let (mut bob, welcome) = PollClient::open(&server.url(""), "bob", "tea").await;
    assert_eq!(welcome["type"], "welcome");
    assert!(welcome["minor"].as_u64() >= Some(1));
    ann.expect("joined").await;
    let pages = page_back(&mut bob, OverPoll, 26, 10).await;
    assert_eq!(
        pages,
        vec![range(16, 25), range(6, 15), range(1, 5)],
        "the same pages as over a WebSocket"
    );
    // The room goes on meanwhile; the pages did not disturb it.
    ann.say("after", "r-after").await;
    let message = bob.until("message").await;
    assert_eq!(message["id"], 76);
    ann.expect_nothing_pending().await;
}

#[tokio::test]
async fn the_limit_is_capped_and_before_must_be_in_the_room() {
    let server = common::start(&FILL);
    let _ann = filled(&server, "cap", 130).await;
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "cap").await;
    bob.send(ask(131, 100, "max")).await;
    let page = bob.expect("history").await;
    assert_eq!(ids(&page), range(31, 130), "at most 100");
    assert_eq!(page["more"], true);
    for (before, limit, code) in [
        (131, 101, "invalid_limit"),
        (131, 0, "invalid_limit"),
        (0, 10, "invalid_before"),
        (132, 10, "invalid_before"),
    ] {
        bob.send(ask(before, limit, "bad")).await;
        let error = bob.expect_error(code).await;
        assert_eq!(error["ref"], "bad", "{code} carries the ref");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{error}"
        );
    }
    // Without `limit`, 50; the refusals changed nothing.
    bob.send(json!({"type": "history", "before": 131})).await;
    let page = bob.expect("history").await;
    assert_eq!(ids(&page), range(81, 130));
    assert!(page.get("ref").is_none(), "no ref asked, none echoed");
    // The same refusals over long-polling.
    let (mut cy, _) = PollClient::open(&server.url(""), "cy", "cap").await;
    cy.send(ask(131, 101, "p")).await;
    assert_eq!(cy.expect_error("invalid_limit").await["ref"], "p");
    cy.send(ask(500, 10, "q")).await;
    assert_eq!(cy.expect_error("invalid_before").await["ref"], "q");
    cy.send(ask(131, 100, "r")).await;
    assert_eq!(ids(&cy.expect("history").await), range(31, 130));
}

#[tokio::test]
async fn asking_outside_a_room_is_not_joined() {
    let server = common::start(&FILL);
    let _ann = filled(&server, "tea", 3).await;
    let mut stranger = Client::connect(&server.ws_url()).await;
    stranger.send(ask(2, 10, "s1")).await;
    let error = stranger.expect_error("not_joined").await;
    assert_eq!(error["ref"], "s1");
    // After leaving, the same.
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "tea").await;
    bob.send(json!({"type": "leave"})).await;
    bob.expect("left_room").await;
    bob.send(ask(2, 10, "s2")).await;
    assert_eq!(bob.expect_error("not_joined").await["ref"], "s2");
    // A polling session whose join was refused is in no room either.
    let (mut taken, first) = PollClient::open(&server.url(""), "ann", "tea").await;
    assert_eq!(first["code"], "nick_taken");
    taken.send(ask(2, 10, "s3")).await;
    assert_eq!(taken.expect_error("not_joined").await["ref"], "s3");
}

#[tokio::test]
async fn a_client_asking_too_often_is_rate_limited_with_a_retry_hint() {
    let mut args = FILL.to_vec();
    args.extend(["--history-rate-burst", "2", "--history-rate-per-sec", "1"]);
    let server = common::start(&args);
    let _ann = filled(&server, "tea", 10).await;
    for transport in ["websocket", "polling"] {
        let nick = format!("reader-{transport}");
        // Ten at once: the first two take the burst; the bucket refills one
        // a second, so ten cannot all pass unless sending them took 8 s.
        let answers = if transport == "websocket" {
            let (mut reader, _) = Client::join(&server.ws_url(), &nick, "tea").await;
            for n in 0..10 {
                reader.send(ask(11, 5, &format!("x{n}"))).await;
            }
            let mut answers = Vec::new();
            for _ in 0..10 {
                answers.push(reader.next().await);
            }
            answers
        } else {
            let (mut reader, _) = PollClient::open(&server.url(""), &nick, "tea").await;
            let batch: Vec<Value> = (0..10).map(|n| ask(11, 5, &format!("x{n}"))).collect();
            assert_eq!(reader.send(json!(batch)).await.status(), 200);
            let mut answers = Vec::new();
            for _ in 0..10 {
                answers.push(reader.next().await);
            }
            answers
        };
        for (n, answer) in answers.iter().enumerate() {
            assert_eq!(
                answer["ref"],
                format!("x{n}"),
                "in order, each with its ref"
            );
        }
        assert_eq!(answers[0]["type"], "history", "{transport}");
        assert_eq!(answers[1]["type"], "history", "{transport}");
        let refused: Vec<&Value> = answers.iter().filter(|a| a["type"] == "error").collect();
        assert!(!refused.is_empty(), "{transport}: none refused");
        for error in refused {
            assert_eq!(error["code"], "rate_limited", "{error}");
            assert!(
                error["retry_ms"].as_u64().is_some_and(|ms| ms > 0),
                "{error}"
            );
        }
    }
}
