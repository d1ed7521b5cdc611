//! Integration tests for everything a client can get wrong, over real
//! WebSockets against the real server: each bad input gets its stable error
//! code (and is counted in `/metrics` as `parley_errors_total{code}`), the
//! offender's connection keeps working afterwards, and a bystander in the
//! same room sees nothing of it. Also: oversize frames (1009), floods (rate
//! limits), foreign origins (HTTP 403), and a client that stops reading.

mod common;

use common::inbox::Inbox;
use common::ws::{Client, Ended};
use common::TestServer;
use serde_json::{json, Value};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::MaybeTlsStream;

/// A server with a bystander (bob) and an offender (ann) in the lobby.
struct Scene {
    server: TestServer,
    ann: Client,
    bob: Client,
    /// Whether ann is in the room (she starts outside for not_joined cases).
    ann_joined: bool,
    said: usize,
}

impl Scene {
    /// Bob and ann both in the lobby.
    async fn new(args: &[&str]) -> Scene {
        let mut scene = Scene::newcomer(args).await;
        scene.join_ann().await;
        scene
    }

    /// Bob in the lobby; ann connected but not joined.
    async fn newcomer(args: &[&str]) -> Scene {
        let server = common::start(args);
        let (bob, _) = Client::join(&server.ws_url(), "bob", "lobby").await;
        let ann = Client::connect(&server.ws_url()).await;
        Scene {
            server,
            ann,
            bob,
            ann_joined: false,
            said: 0,
        }
    }

    async fn join_ann(&mut self) {
        self.ann
            .send(json!({"type": "join", "nick": "ann", "room": "lobby"}))
            .await;
        self.ann.expect("welcome").await;
        assert_eq!(
            self.bob.next().await,
            json!({"type": "joined", "nick": "ann", "count": 2}),
            "bob sees nothing of ann's mistakes before her join"
        );
        self.ann_joined = true;
    }

    /// Ann sends `input`; it must be refused with `code`, counted once in
    /// the metrics, and leave ann able to chat and bob undisturbed.
    async fn refused(&mut self, input: Message, code: &str) -> Value {
        let refusal = self.refused_only(input, code).await;
        self.still_fine().await;
        refusal
    }

    /// Like [`Scene::refused`] for a JSON frame.
    async fn refused_json(&mut self, frame: Value, code: &str) -> Value {
        self.refused(Message::text(frame.to_string()), code).await
    }

    /// Ann sends `input`, which is refused with `code` and counted.
    async fn refused_only(&mut self, input: Message, code: &str) -> Value {
        let series = format!("parley_errors_total{{code=\"{code}\"}}");
        let before = self.server.metric(&series).await;
        self.ann.send_raw(input).await;
        let refusal = self.ann.expect_error(code).await;
        assert_eq!(
            self.server.metric(&series).await,
            before + 1.0,
            "{series} counts the refusal"
        );
        refusal
    }

    /// Ann (joining first if need be) says something; she gets it and its
    /// ack, and it is the very next thing bob receives.
    async fn still_fine(&mut self) {
        if !self.ann_joined {
            self.join_ann().await;
        }
        self.said += 1;
        let text = format!("still here {}", self.said);
        let (message, ack) = self.ann.say(&text, &format!("ok{}", self.said)).await;
        assert_eq!(message["text"], text.as_str());
        assert_eq!(ack["id"], message["id"]);
        assert_eq!(self.bob.next().await, message, "bob is undisturbed");
    }
}

/// Rate limits out of the way, for tests that send more frames than the
/// default burst; the flood test covers the limiter.
const UNLIMITED: [&str; 4] = ["--rate-burst", "100000", "--rate-per-sec", "100000"];

fn say(text: &str) -> Value {
    json!({"type": "say", "text": text, "ref": "bad"})
}

fn join_as(nick: &str) -> Value {
    json!({"type": "join", "nick": nick, "room": "lobby"})
}

#[tokio::test]
async fn malformed_json_is_a_bad_frame() {
    let mut scene = Scene::new(&[]).await;
    for text in ["{not json", "", "[1,2]", "\"say\""] {
        scene.refused(Message::text(text), "bad_frame").await;
    }
}

#[tokio::test]
async fn an_unknown_type_is_named_as_such() {
    let mut scene = Scene::new(&[]).await;
    let refusal = scene
        .refused_json(json!({"type": "dance"}), "unknown_type")
        .await;
    assert!(refusal["message"].as_str().unwrap().contains("dance"));
}

#[tokio::test]
async fn missing_or_mistyped_fields_are_bad_frames() {
    let mut scene = Scene::new(&[]).await;
    for frame in [
        json!({"type": "say"}),
        json!({"text": "no type"}),
        json!({"type": "join", "room": "lobby"}),
        json!({"type": "typing"}),
        json!({"type": "say", "text": 42}),
        json!({"type": "typing", "on": "yes"}),
    ] {
        scene.refused_json(frame, "bad_frame").await;
    }
}

#[tokio::test]
async fn unknown_fields_are_bad_frames() {
    let mut scene = Scene::new(&[]).await;
    scene
        .refused_json(
            json!({"type": "say", "text": "hi", "admin": true}),
            "bad_frame",
        )
        .await;
    scene
        .refused_json(json!({"type": "ping", "extra": 1}), "bad_frame")
        .await;
}

#[tokio::test]
async fn room_frames_before_join_are_not_joined() {
    let mut scene = Scene::newcomer(&[]).await;
    for frame in [
        say("too early"),
        json!({"type": "typing", "on": true}),
        json!({"type": "nick", "nick": "anna"}),
        json!({"type": "leave"}),
    ] {
        let refusal = scene
            .refused_only(Message::text(frame.to_string()), "not_joined")
            .await;
        if frame["type"] == "say" {
            assert_eq!(refusal["ref"], "bad", "a refused say carries its ref");
        }
    }
    scene.still_fine().await;
}

#[tokio::test]
async fn binary_frames_are_unsupported() {
    let mut scene = Scene::new(&[]).await;
    let binary = Message::binary(br#"{"type":"say","text":"hi"}"#.to_vec());
    scene.refused(binary, "binary_unsupported").await;
}

#[tokio::test]
async fn empty_and_blank_messages_are_refused() {
    let mut scene = Scene::new(&[]).await;
    for text in ["", " ", "   \n\t  "] {
        let refusal = scene.refused_json(say(text), "empty_message").await;
        assert_eq!(refusal["ref"], "bad");
    }
}

#[tokio::test]
async fn messages_are_limited_to_2000_characters() {
    let mut scene = Scene::new(&[]).await;
    scene
        .refused_json(say(&"x".repeat(2001)), "message_too_long")
        .await;
    // The limit counts characters, not bytes: 2000 two-byte ones pass.
    for (reference, limit) in [("ascii", "x".repeat(2000)), ("accented", "é".repeat(2000))] {
        let (message, _) = scene.ann.say(&limit, reference).await;
        assert_eq!(message["text"], limit.as_str());
        assert_eq!(scene.bob.next().await, message);
    }
}

#[tokio::test]
async fn control_characters_are_invalid_text() {
    let mut scene = Scene::new(&[]).await;
    for text in ["bell\u{7}", "\u{1b}[2Jclear", "nul\u{0}", "del\u{7f}"] {
        scene.refused_json(say(text), "invalid_text").await;
    }
    // Newlines and tabs are what people type.
    let (message, _) = scene.ann.say("two\nlines\tand a tab", "nl").await;
    assert_eq!(scene.bob.next().await, message);
}

#[tokio::test]
async fn invalid_nicknames_are_refused_on_join_and_rename() {
    let mut scene = Scene::newcomer(&UNLIMITED).await;
    let bad_nicks = [
        "".to_string(),
        "   ".to_string(),
        "a".repeat(25),
        "ann\u{7}".to_string(),
        "a\u{200B}b".to_string(),
        "\u{202E}nna".to_string(),
        "<b>".to_string(),
    ];
    for nick in &bad_nicks {
        scene
            .refused_only(Message::text(join_as(nick).to_string()), "invalid_nick")
            .await;
    }
    scene.still_fine().await;
    for nick in &bad_nicks {
        scene
            .refused_json(json!({"type": "nick", "nick": nick}), "invalid_nick")
            .await;
    }
    // 24 characters is the limit, not past it.
    let longest = "b".repeat(24);
    scene
        .ann
        .send(json!({"type": "nick", "nick": longest}))
        .await;
    let renamed = json!({"type": "renamed", "old": "ann", "new": longest});
    assert_eq!(scene.ann.next().await, renamed);
    assert_eq!(scene.bob.next().await, renamed);
}

#[tokio::test]
async fn invalid_room_names_are_refused() {
    let mut scene = Scene::new(&[]).await;
    for room in ["", "a b", "a/b", "../etc", "café", &"r".repeat(33)] {
        // Ann is already in the lobby: a refused move leaves her there.
        scene
            .refused_json(
                json!({"type": "join", "nick": "ann", "room": room}),
                "invalid_room",
            )
            .await;
    }
}

#[tokio::test]
async fn another_protocol_version_is_unsupported() {
    let mut scene = Scene::newcomer(&[]).await;
    let frame = json!({"type": "join", "v": 2, "nick": "ann", "room": "lobby"});
    scene
        .refused_only(Message::text(frame.to_string()), "unsupported_version")
        .await;
    scene.still_fine().await;
}

#[tokio::test]
async fn a_ref_longer_than_64_characters_is_a_bad_frame() {
    let mut scene = Scene::new(&[]).await;
    let frame = json!({"type": "say", "text": "hi", "ref": "r".repeat(65)});
    scene.refused_json(frame, "bad_frame").await;
    let (_, ack) = scene.ann.say("longest ref", &"r".repeat(64)).await;
    assert_eq!(ack["ref"], "r".repeat(64));
    scene.bob.expect("message").await;
}

#[tokio::test]
async fn an_oversize_frame_closes_with_1009_and_spares_the_room() {
    let mut scene = Scene::new(&[]).await;
    let huge = say(&"x".repeat(65 * 1024)).to_string();
    assert!(huge.len() > 16_384, "default --max-frame-bytes is 16384");
    scene
        .refused_only(Message::text(huge), "frame_too_large")
        .await;
    assert_eq!(scene.ann.ended().await, Ended::Closed(1009));

    let bob = &mut scene.bob;
    assert_eq!(
        bob.next().await,
        json!({"type": "left", "nick": "ann", "count": 1})
    );
    let (message, _) = bob.say("still here", "b1").await;
    assert_eq!(message["nick"], "bob");
    let (_cat, welcome) = Client::join(&scene.server.ws_url(), "cat", "lobby").await;
    assert_eq!(welcome["count"], 2, "ann is gone, bob and cat remain");
    assert_eq!(
        bob.next().await,
        json!({"type": "joined", "nick": "cat", "count": 2})
    );
}

#[tokio::test]
async fn a_flood_is_rate_limited_with_refs_and_retry_hints() {
    let mut scene = Scene::new(&["--rate-burst", "5", "--rate-per-sec", "1"]).await;
    for i in 0..10 {
        scene
            .ann
            .send(json!({"type": "say", "text": format!("flood {i}"), "ref": format!("f{i}")}))
            .await;
    }
    // The join drew on the address's bucket (lifted by the harness); the
    // resume token's bucket of 5 frames starts with the join and holds
    // every say after it.
    let allowed = 5;
    let mut retry_ms = 0;
    for i in 0..10 {
        let reference = format!("f{i}");
        if i < allowed {
            let message = scene.ann.expect("message").await;
            assert_eq!(message["text"], format!("flood {i}"));
            let ack = scene.ann.expect("ack").await;
            assert_eq!(ack["ref"], reference);
            assert_eq!(scene.bob.next().await, message);
        } else {
            let refusal = scene.ann.expect_error("rate_limited").await;
            assert_eq!(refusal["ref"], reference, "the refusal names the say");
            retry_ms = refusal["retry_ms"].as_u64().expect("retry_ms");
            assert!(retry_ms > 0, "{refusal}");
        }
    }
    assert_eq!(
        scene
            .server
            .metric("parley_errors_total{code=\"rate_limited\"}")
            .await,
        5.0
    );
    // Waiting as long as the server asked is the protocol, not a guess.
    tokio::time::sleep(std::time::Duration::from_millis(retry_ms)).await;
    scene.still_fine().await;
}

/// Opens a WebSocket with an `Origin` header.
async fn connect_from(server: &TestServer, origin: &str) -> Result<Client, WsError> {
    let mut request = server.ws_url().into_client_request()?;
    request.headers_mut().insert(
        "Origin",
        HeaderValue::from_str(origin).expect("header value"),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(Client::from_socket(socket))
}

/// Joins as `nick` and checks the welcome.
async fn joins(mut client: Client, nick: &str) {
    client.send(join_as(nick)).await;
    assert_eq!(client.expect("welcome").await["nick"], nick);
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403() {
    let server = common::start(&[]);
    match connect_from(&server, "http://evil.example").await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), StatusCode::FORBIDDEN),
        Err(other) => panic!("expected HTTP 403, got {other}"),
        Ok(_) => panic!("a foreign origin was let in"),
    }
    // The same refusal, read by an HTTP client for its whole body.
    let response = reqwest::Client::new()
        .get(server.url("/ws"))
        .header("Origin", "http://evil.example")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["error"]["code"], "origin_not_allowed");
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[tokio::test]
async fn the_pages_own_origin_is_accepted() {
    let server = common::start(&[]);
    let own = format!("http://127.0.0.1:{}", server.port);
    joins(connect_from(&server, &own).await.expect("accepted"), "ann").await;
}

#[tokio::test]
async fn a_listed_origin_is_accepted() {
    let server = common::start(&["--allowed-origins", "http://evil.example"]);
    let client = connect_from(&server, "http://evil.example")
        .await
        .expect("accepted");
    joins(client, "ann").await;
    let other = connect_from(&server, "http://other.example").await;
    assert!(other.is_err(), "only the listed origin");
}

/// Connects with a tiny receive buffer, so that a client that stops reading
/// backs up into the server quickly.
async fn connect_tiny_buffer(server: &TestServer) -> Client {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket
        .connect(([127, 0, 0, 1], server.port).into())
        .await
        .expect("tcp connects");
    let (socket, _) =
        tokio_tungstenite::client_async(server.ws_url(), MaybeTlsStream::Plain(stream))
            .await
            .expect("handshake");
    Client::from_socket(socket)
}

/// The most the slow-reader test floods before it gives up: far more than
/// the outbox, the socket buffers (a few MiB on common systems) and the
/// history could hold together.
const MAX_FLOOD_BYTES: usize = 64 << 20;

/// A client that joins and then never reads is dropped once its outbox
/// (`--max-outbox-bytes`) is full. That limit is what keeps memory bounded:
/// the server queues at most that many bytes for a non-reader (beyond the
/// fixed socket buffers) and then cuts it off, instead of holding every
/// message the flooder sends for as long as the reader stalls. Without it
/// the flood below would pile up in the server and no drop would be counted.
#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_the_room_goes_on() {
    let mut args = vec!["--max-outbox-bytes", "65536"];
    args.extend(UNLIMITED);
    let server = common::start(&args);
    let (mut flooder, _) = Client::join(&server.ws_url(), "flooder", "lobby").await;
    let mut slow = connect_tiny_buffer(&server).await;
    slow.send(join_as("slow")).await;
    slow.expect("welcome").await;
    flooder.expect("joined").await;
    // From here on the slow client reads nothing.

    // 2000 four-byte characters: the largest message, about 8 KiB a frame.
    let text = "\u{1F600}".repeat(2000);
    let dropped = "parley_slow_clients_dropped_total";
    let mut flooded = 0;
    let mut sent = 0;
    while server.metric(dropped).await < 1.0 {
        assert!(
            flooded < MAX_FLOOD_BYTES,
            "the non-reader was never dropped after {sent} messages ({} MiB); \
             parley_users = {}",
            flooded >> 20,
            server.metric("parley_users").await
        );
        for _ in 0..100 {
            // Awaiting the ack keeps the flooder itself reading.
            flooder.say(&text, &format!("f{sent}")).await;
            sent += 1;
            flooded += text.len();
        }
    }

    server.wait_metric("parley_users", 1.0).await;
    let (mut third, welcome) = Client::join(&server.ws_url(), "third", "lobby").await;
    assert_eq!(roster_of(&welcome), ["flooder", "third"]);
    flooder.until("joined").await;
    let (message, _) = flooder.say("anyone left?", "q").await;
    assert_eq!(third.next().await, message);
    let (reply, _) = third.say("me", "r").await;
    assert_eq!(flooder.until("message").await, reply);
    server.wait_metric("parley_users", 2.0).await;
    // Cut off: the socket ends, at most after a 4003 close if one got through.
    let ended = slow.ended().await;
    assert!(
        matches!(ended, Ended::Dropped | Ended::Closed(4003)),
        "{ended:?}"
    );
}

fn roster_of(welcome: &Value) -> Vec<&str> {
    welcome["roster"]
        .as_array()
        .expect("roster")
        .iter()
        .map(|e| e["nick"].as_str().expect("nick"))
        .collect()
}

/// Finding 6 of the hardening issue: text that shows nothing, a
/// right-to-left override, and a nickname that poses as another.
#[tokio::test]
async fn invisible_text_overrides_and_look_alike_names_are_refused() {
    let mut scene = Scene::new(&[]).await;
    for text in ["\u{200B}\u{200B}", " \u{2060}\u{FEFF} ", "\u{3164}"] {
        scene.refused_json(say(text), "empty_message").await;
    }
    scene
        .refused_json(say("\u{202E}gpj.exe"), "invalid_text")
        .await;
    // A Cyrillic А among Latin letters is refused; an all-Cyrillic name
    // that looks like a taken one is taken.
    scene
        .refused_json(
            json!({"type": "nick", "nick": "\u{0410}nna"}),
            "invalid_nick",
        )
        .await;
    scene
        .refused_json(
            json!({"type": "nick", "nick": "\u{0412}\u{041E}\u{0412}"}),
            "nick_taken",
        )
        .await;
    // Right-to-left text itself is what people type.
    let (message, _) = scene.ann.say("\u{200F}שלום", "rtl").await;
    assert_eq!(scene.bob.next().await, message);
}
