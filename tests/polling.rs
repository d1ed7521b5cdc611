//! Integration tests of the long-polling transport over real HTTP: chatting,
//! mixing with WebSocket users, delivery by cursor across cut-off and
//! replaced polls, expiry, the transport switch, and its bad input.

mod common;

use common::inbox::Inbox;
use common::poll::PollClient;
use common::ws::{Client, Ended};
use serde_json::{json, Value};

fn base(server: &common::TestServer) -> String {
    server.url("")
}

#[tokio::test]
async fn two_polling_users_chat() {
    let server = common::start(&[]);
    let (mut ann, welcome) = PollClient::open(&base(&server), "ann", "lobby").await;
    assert_eq!(
        (welcome["type"].as_str(), welcome["count"].as_u64()),
        (Some("welcome"), Some(1))
    );
    let (mut bob, welcome) = PollClient::open(&base(&server), "bob", "lobby").await;
    assert_eq!(welcome["count"], 2);
    assert_eq!(ann.expect("joined").await["nick"], "bob");
    let (message, ack) = ann.say("hello over http", "p1").await;
    assert_eq!(ack["id"], message["id"]);
    assert_eq!(bob.expect("message").await, message);
    bob.close().await;
    assert_eq!(
        ann.expect("left").await,
        json!({"type": "left", "nick": "bob", "count": 1})
    );
}

#[tokio::test]
async fn websocket_and_polling_users_share_a_room() {
    let server = common::start(&[]);
    let (mut ws, _) = Client::join(&server.ws_url(), "ann", "mixed").await;
    let (mut poll, welcome) = PollClient::open(&base(&server), "bob", "mixed").await;
    assert_eq!(welcome["roster"].as_array().unwrap().len(), 2);
    assert_eq!(ws.expect("joined").await["nick"], "bob");

    ws.send(json!({"type": "typing", "on": true})).await;
    assert_eq!(
        poll.expect("typing").await,
        json!({"type": "typing", "nick": "ann", "on": true})
    );
    let (message, _) = ws.say("from the socket", "w1").await;
    assert_eq!(poll.expect("message").await, message);

    poll.send(json!({"type": "typing", "on": true})).await;
    assert_eq!(ws.expect("typing").await["nick"], "bob");
    let (message, _) = poll.say("from the poll", "p1").await;
    assert_eq!(ws.expect("message").await, message);

    poll.close().await;
    assert_eq!(
        ws.expect("left").await,
        json!({"type": "left", "nick": "bob", "count": 1})
    );
}

#[tokio::test]
async fn a_repeated_cursor_redelivers_and_a_new_one_does_not_duplicate() {
    let server = common::start(&[]);
    let (mut ann, _) = PollClient::open(&base(&server), "ann", "lobby").await;
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "lobby").await;
    ann.expect("joined").await;
    let before = ann.cursor;
    bob.say("one", "b1").await;
    bob.say("two", "b2").await;
    // The answer to this poll is "lost": the client polls again from the
    // same cursor and must get the same frames.
    let lost: Value = ann.poll_at(before).await.json().await.unwrap();
    let again: Value = ann.poll_at(before).await.json().await.unwrap();
    assert_eq!(lost, again);
    let texts: Vec<&str> = again["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["text"].as_str())
        .collect();
    assert_eq!(texts, vec!["one", "two"]);
    // Acknowledged now; the next message comes alone.
    ann.cursor = again["cursor"].as_u64().unwrap();
    bob.say("three", "b3").await;
    let next = ann.expect("message").await;
    assert_eq!(next["text"], "three");
}

#[tokio::test]
async fn a_poll_cut_off_midway_loses_nothing() {
    let server = common::start(&[]);
    let (mut ann, _) = PollClient::open(&base(&server), "ann", "lobby").await;
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "lobby").await;
    ann.expect("joined").await;
    // A poll waiting at the server is cut, as a proxy timeout would cut it.
    ann.parked_poll().await.abort();
    bob.say("while cut", "b1").await;
    assert_eq!(ann.expect("message").await["text"], "while cut");
    bob.say("after", "b2").await;
    assert_eq!(
        ann.expect("message").await["text"],
        "after",
        "no duplicate of the first"
    );
}

#[tokio::test]
async fn a_second_poll_replaces_the_first_and_gets_the_frames() {
    let server = common::start(&[]);
    let (ann, _) = PollClient::open(&base(&server), "ann", "lobby").await;
    let parked = ann.parked_poll().await;
    let (_bob, _) = Client::join(&server.ws_url(), "bob", "lobby").await;
    let batch = parked.await.unwrap();
    assert_eq!(batch["frames"][0]["type"], "joined");
    // Cursors only increase; they are not consecutive.
    assert!(batch["cursor"].as_u64().unwrap() > ann.cursor);
}

#[tokio::test]
async fn a_session_that_stops_polling_expires_and_its_user_leaves() {
    let server = common::start(&["--poll-wait-secs", "1", "--session-grace-secs", "2"]);
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "lobby").await;
    let (ann, _) = PollClient::open(&base(&server), "ann", "lobby").await;
    assert_eq!(bob.expect("joined").await["nick"], "ann");
    // ann never polls again.
    assert_eq!(
        bob.expect("left").await,
        json!({"type": "left", "nick": "ann", "count": 1})
    );
    let response = ann.poll_at(ann.cursor).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_session");
}

#[tokio::test]
async fn polling_only_servers_refuse_upgrades_and_still_chat() {
    let server = common::start(&["--transports", "polling"]);
    let refused = tokio_tungstenite::connect_async(server.ws_url()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"]["code"], "transport_disabled");
        }
        other => panic!("upgrade should be refused, got {other:?}"),
    }
    let page = reqwest::get(server.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-transports=\"polling\""), "{page}");
    let (mut ann, _) = PollClient::open(&base(&server), "ann", "lobby").await;
    ann.say("still here", "p1").await;
}

#[tokio::test]
async fn websocket_only_servers_refuse_polling() {
    let server = common::start(&["--transports", "websocket"]);
    let response = reqwest::Client::new()
        .post(server.url("/poll/open"))
        .body(json!({"type": "join", "nick": "ann"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn bad_polling_requests_get_clear_errors() {
    let server = common::start(&["--max-sessions-per-ip", "2", "--poll-wait-secs", "1"]);
    let http = reqwest::Client::new();
    let unknown = http
        .get(server.url("/poll?cursor=0"))
        .header(common::poll::SESSION, "0".repeat(32))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(unknown).await, (404, "unknown_session".into()));
    let missing = http
        .post(server.url("/poll/send"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(missing).await, (404, "unknown_session".into()));
    let bad_cursor = http
        .get(server.url("/poll?cursor=abc"))
        .header(common::poll::SESSION, "0".repeat(32))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(bad_cursor).await, (400, "bad_frame".into()));
    let not_join = http
        .post(server.url("/poll/open"))
        .body(r#"{"type":"say","text":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(not_join).await, (400, "bad_frame".into()));
    let garbage = http
        .post(server.url("/poll/open"))
        .body("{{{")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(garbage).await, (400, "bad_frame".into()));
    let huge = http
        .post(server.url("/poll/open"))
        .body("x".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(huge).await, (413, "body_too_large".into()));

    let (mut ann, _) = PollClient::open(&base(&server), "ann", "lobby").await;
    let (_bob, _) = PollClient::open(&base(&server), "bob", "lobby").await;
    let third = http
        .post(server.url("/poll/open"))
        .body(json!({"type": "join", "nick": "cy"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(third).await, (429, "too_many_sessions".into()));

    // Malformed frames through send come back as error frames, in order,
    // and the session goes on.
    let response = ann
        .send_raw(r#"[{"type":"dance"},"nope",{"type":"say","text":"ok","ref":"r"}]"#.into())
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(ann.until("error").await["code"], "unknown_type");
    assert_eq!(ann.until("error").await["code"], "bad_frame");
    assert_eq!(ann.until("ack").await["ref"], "r");

    // Polls hammered in a loop (each replacing the last, so each returns at
    // once) are refused with a retry hint once past the burst.
    let polls = (0..30).map(|_| ann.poll_at(ann.cursor));
    let mut limited = Vec::new();
    for response in futures_util::future::join_all(polls).await {
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            limited.push(error_code(response).await);
        }
    }
    assert!(
        !limited.is_empty(),
        "some of 30 simultaneous polls are refused"
    );
    assert!(
        limited.iter().all(|l| *l == (429, "rate_limited".into())),
        "{limited:?}"
    );
}

#[tokio::test]
async fn graceful_stop_answers_pending_polls_and_closes_sockets() {
    let server = common::start(&[]);
    let (mut ann, _) = PollClient::open(&base(&server), "ann", "lobby").await;
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "lobby").await;
    ann.expect("joined").await;
    let pending = ann.parked_poll().await;
    let (batch, ended, ()) = tokio::join!(pending, bob.ended(), server.stop());
    assert_eq!(batch.unwrap()["closed"]["code"], 1001);
    assert_eq!(ended, Ended::Closed(1001));
}

#[tokio::test]
async fn everything_lives_under_the_base_path() {
    let server = common::start(&["--base-path", "/chat"]);
    let http = reqwest::Client::new();
    let page = http.get(server.url("/chat/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("src=\"/chat/assets/"));
    for (path, status) in [
        ("/chat/healthz", 200),
        ("/chat/metrics", 200),
        ("/healthz", 404),
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
    let ws_url = format!("ws://127.0.0.1:{}/chat/ws", server.port);
    let (mut ws, _) = Client::join(&ws_url, "ann", "lobby").await;
    let (mut poll, _) = PollClient::open(&server.url("/chat"), "bob", "lobby").await;
    ws.expect("joined").await;
    let (message, _) = poll.say("under a prefix", "p").await;
    assert_eq!(ws.expect("message").await, message);
}

#[tokio::test]
async fn listed_origins_may_poll_across_origins_and_others_may_not() {
    let server = common::start(&["--allowed-origins", "http://widget.example"]);
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, server.url("/poll/open"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "parley-session")
            .send()
    };
    let allowed = preflight("http://widget.example").await.unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://widget.example"
    );
    let allow_headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allow_headers.contains("parley-session"), "{allow_headers}");

    let join = json!({"type": "join", "nick": "ann"}).to_string();
    let opened = http
        .post(server.url("/poll/open"))
        .header("Origin", "http://widget.example")
        .body(join.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    assert_eq!(
        opened.headers()["access-control-allow-origin"],
        "http://widget.example"
    );

    let refused = preflight("http://evil.example").await.unwrap();
    assert_eq!(
        error_code(refused).await,
        (403, "origin_not_allowed".into())
    );
    let refused = http
        .post(server.url("/poll/open"))
        .header("Origin", "http://evil.example")
        .body(join)
        .send()
        .await
        .unwrap();
    // The refusal, and only it, is readable by the refused origin, so its
    // page can say why.
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "http://evil.example"
    );
    assert_eq!(
        error_code(refused).await,
        (403, "origin_not_allowed".into())
    );
    let unlisted_poll = http
        .get(server.url("/poll?cursor=0"))
        .header("Origin", "http://evil.example")
        .header("Parley-Session", "0123456789abcdef0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(unlisted_poll.status(), 403);
    assert!(unlisted_poll
        .headers()
        .contains_key("access-control-allow-origin"));
    let listed_unknown = http
        .get(server.url("/poll?cursor=0"))
        .header("Origin", "http://widget.example")
        .header("Parley-Session", "0123456789abcdef0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(listed_unknown.status(), 404);
}

#[tokio::test]
async fn a_polling_session_that_never_polls_is_dropped_at_the_servers_queued_bound() {
    // The session may hold 16 MiB, the server 64 KiB in all: only the
    // server's bound can end it, and it must, though it never polls again.
    let server = common::start(&[
        "--max-queued-bytes",
        "65536",
        "--max-outbox-bytes",
        "16777216",
        "--rate-burst",
        "100000",
        "--rate-per-sec",
        "100000",
        "--room-rate-burst",
        "100000",
        "--room-rate-per-sec",
        "100000",
    ]);
    let (_silent, _) = PollClient::open(&base(&server), "silent", "lobby").await;
    let (mut ann, _) = Client::join(&server.ws_url(), "Ann", "lobby").await;
    let (mut bob, _) = Client::join(&server.ws_url(), "Bob", "lobby").await;
    ann.until("joined").await;
    let text = "y".repeat(1900);
    let mut sent = 0;
    let mut silent_left = false;
    while !silent_left {
        assert!(sent < 500, "never dropped after {sent} messages");
        ann.send(json!({"type": "say", "text": text, "ref": sent.to_string()}))
            .await;
        sent += 1;
        ann.until("ack").await;
        loop {
            let frame = bob.next().await;
            if frame["type"] == "left" {
                assert_eq!(frame["nick"], "silent");
                silent_left = true;
            }
            if frame["type"] == "message" {
                break;
            }
        }
    }
    assert!(server.metric("parley_queue_evictions_total").await >= 1.0);
    ann.send(json!({"type": "say", "text": "still here"})).await;
    assert_eq!(
        bob.until_matches(|f| f["type"] == "message").await["text"],
        "still here"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_probe_answers_ok_or_the_refusal_a_poll_would_get() {
    let server = common::start(&["--allowed-origins", "http://widget.example"]);
    let http = reqwest::Client::new();
    let probe = |origin: Option<&'static str>| {
        let request = http.get(server.url("/poll/probe"));
        match origin {
            Some(origin) => request.header("Origin", origin),
            None => request,
        }
        .send()
    };
    for origin in [None, Some("http://widget.example")] {
        let ok = probe(origin).await.unwrap();
        assert_eq!(ok.status(), 200, "{origin:?}");
        if origin.is_some() {
            assert_eq!(
                ok.headers()["access-control-allow-origin"],
                "http://widget.example",
                "a listed origin can read the answer"
            );
        }
        let body: Value = ok.json().await.unwrap();
        assert_eq!(body, json!({"status": "ok"}));
    }
    let refused = probe(Some("http://elsewhere.example")).await.unwrap();
    assert_eq!(
        error_code(refused).await,
        (403, "origin_not_allowed".into())
    );

    let websocket_only = common::start(&["--transports", "websocket"]);
    let disabled = http
        .get(websocket_only.url("/poll/probe"))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 403);
}
