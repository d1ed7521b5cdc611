//! Limits per client, not per connection, against the real server over real
//! sockets: a reconnect loop and a resume-takeover loop get the bucket they
//! left (the accepted messages, counted by the server's own acks, stay
//! within burst + rate × elapsed) while two bystanders keep chatting and
//! lose nothing acknowledged; a room's message budget; the per-address caps
//! on WebSockets and connection attempts (429 too_many_connections); and the
//! timeouts on a trickled request head and body. Clients spread over
//! 127.0.0.x by binding their sockets, so "another address" is real.

mod common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::MaybeTlsStream;

use common::inbox::{within, Inbox, PATIENCE};
use common::ws::Client;
use common::TestServer;

/// 127.0.0.`last`.
fn local(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// A TCP connection to the server from `from`.
async fn tcp_from(server: &TestServer, from: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket
        .connect(SocketAddr::from(([127, 0, 0, 1], server.port)))
        .await
        .expect("tcp connects")
}

/// A refused request: its status, `Retry-After` and JSON body.
#[derive(Debug)]
struct Refused {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

impl Refused {
    /// Asserts a 429 `too_many_connections` with a retry hint.
    fn assert_too_many(&self) {
        assert_eq!(self.status, 429, "{self:?}");
        assert_eq!(
            self.body["error"]["code"], "too_many_connections",
            "{self:?}"
        );
        assert!(self.retry_after.is_some(), "{self:?}");
    }
}

/// A WebSocket from `from`, or how its upgrade was refused.
async fn ws_from(server: &TestServer, from: Ipv4Addr) -> Result<Client, Refused> {
    let stream = tcp_from(server, from).await;
    match tokio_tungstenite::client_async(server.ws_url(), MaybeTlsStream::Plain(stream)).await {
        Ok((socket, _)) => Ok(Client::from_socket(socket)),
        Err(WsError::Http(response)) => Err(Refused {
            status: response.status().as_u16(),
            retry_after: response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned()),
            body: response
                .body()
                .as_ref()
                .map_or(Value::Null, |b| serde_json::from_slice(b).unwrap()),
        }),
        Err(other) => panic!("upgrade failed: {other}"),
    }
}

/// A `POST /poll/open` from `from`: the session's first frame, or the refusal.
async fn poll_open_from(server: &TestServer, from: Ipv4Addr, nick: &str) -> Result<Value, Refused> {
    let http = reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(from))
        .timeout(PATIENCE)
        .build()
        .unwrap();
    let response = http
        .post(server.url("/poll/open"))
        .body(json!({"type": "join", "nick": nick, "room": "open"}).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    if status == 200 {
        Ok(body)
    } else {
        Err(Refused {
            status,
            retry_after,
            body,
        })
    }
}

/// Says `text` under `reference` and reads until the server answers that
/// reference: `Ok(id)` for an ack, `Err(frame)` for a `rate_limited`
/// refusal. The ids of the messages read meanwhile go to `seen`.
async fn say_seeing(
    client: &mut Client,
    text: &str,
    reference: &str,
    seen: &mut BTreeSet<u64>,
) -> Result<u64, Value> {
    client
        .send(json!({"type": "say", "text": text, "ref": reference}))
        .await;
    let answer = client
        .until_matches(|f| {
            if f["type"] == "message" {
                seen.insert(f["id"].as_u64().unwrap());
            }
            (f["type"] == "ack" || f["type"] == "error") && f["ref"] == reference
        })
        .await;
    if answer["type"] == "ack" {
        Ok(answer["id"].as_u64().expect("an ack names the message"))
    } else {
        assert_eq!(answer["code"], "rate_limited", "{answer}");
        assert!(answer["retry_ms"].as_u64().is_some(), "{answer}");
        Err(answer)
    }
}

/// [`say_seeing`], for a client that does not care what else it reads.
async fn say_and_answer(client: &mut Client, text: &str, reference: &str) -> Result<u64, Value> {
    say_seeing(client, text, reference, &mut BTreeSet::new()).await
}

/// The most a client may get accepted in `elapsed` from a bucket of
/// `burst` refilled at `per_sec`.
fn allowance(burst: u32, per_sec: u32, elapsed: std::time::Duration) -> f64 {
    f64::from(burst) + f64::from(per_sec) * elapsed.as_secs_f64()
}

/// Two members chatting in `room` from their own addresses, and what each
/// had acknowledged and saw.
struct Bystanders {
    ann: Client,
    bob: Client,
    acked: [BTreeSet<u64>; 2],
    seen: [BTreeSet<u64>; 2],
    lines: usize,
}

impl Bystanders {
    async fn join(server: &TestServer, room: &str) -> Bystanders {
        let mut ann = ws_from(server, local(200)).await.unwrap();
        ann.send(json!({"type": "join", "nick": "ann", "room": room}))
            .await;
        ann.expect("welcome").await;
        let mut bob = ws_from(server, local(201)).await.unwrap();
        bob.send(json!({"type": "join", "nick": "bob", "room": room}))
            .await;
        bob.expect("welcome").await;
        Bystanders {
            ann,
            bob,
            acked: Default::default(),
            seen: Default::default(),
            lines: 0,
        }
    }

    /// Each says one line, which must be acknowledged.
    async fn chat(&mut self) {
        self.lines += 1;
        for (who, client) in [&mut self.ann, &mut self.bob].into_iter().enumerate() {
            let line = format!("b{who}-{}", self.lines);
            let id = say_seeing(client, "still here", &line, &mut self.seen[who])
                .await
                .expect("a bystander within its allowance is never refused");
            self.acked[who].insert(id);
        }
    }

    /// Each must have received every line the other had acknowledged, and
    /// the messages `others` (ids acknowledged to other members of the room).
    async fn lost_nothing(mut self, others: &BTreeSet<u64>) {
        let clients = [&mut self.ann, &mut self.bob];
        for (who, client) in clients.into_iter().enumerate() {
            let wanted: BTreeSet<u64> = self.acked[1 - who].union(others).copied().collect();
            while !wanted.is_subset(&self.seen[who]) {
                let frame = client.until("message").await;
                self.seen[who].insert(frame["id"].as_u64().unwrap());
            }
        }
    }
}

#[tokio::test]
async fn a_reconnect_loop_gets_the_bucket_it_left() {
    let (burst, per_sec) = (5, 1);
    let server = common::start(&[
        "--address-rate-burst",
        &burst.to_string(),
        "--address-rate-per-sec",
        &per_sec.to_string(),
    ]);
    let mut bystanders = Bystanders::join(&server, "busy").await;
    let started = Instant::now();
    let (mut accepted, mut refused) = (BTreeSet::new(), 0);
    for i in 0..30 {
        // The bystanders chat throughout, within their own allowance (the
        // join and three lines of 5).
        if i % 10 == 0 {
            bystanders.chat().await;
        }
        let mut client = ws_from(&server, local(1)).await.unwrap();
        client
            .send(json!({"type": "join", "nick": format!("loop{i}"), "room": "busy"}))
            .await;
        let first = client.next().await;
        if first["type"] == "welcome" {
            match say_and_answer(&mut client, "flood", &format!("r{i}")).await {
                Ok(id) => {
                    accepted.insert(id);
                }
                Err(_) => refused += 1,
            }
        } else {
            // The join itself drew on the address's empty bucket.
            assert_eq!(first["code"], "rate_limited", "{first}");
            refused += 1;
        }
        client.close().await;
    }
    bystanders.lost_nothing(&accepted).await;
    let accepted = accepted.len() as u32;
    let bound = allowance(burst, per_sec, started.elapsed());
    assert!(
        f64::from(accepted) <= bound,
        "{accepted} messages accepted from one address, at most {bound} allowed"
    );
    assert_eq!(accepted + refused, 30);
    server.stop().await;
}

#[tokio::test]
async fn a_resume_takeover_loop_gets_the_bucket_it_left() {
    let (burst, per_sec) = (5, 1);
    let server = common::start(&[
        "--rate-burst",
        &burst.to_string(),
        "--rate-per-sec",
        &per_sec.to_string(),
    ]);
    let (_first, welcome) = Client::join(&server.ws_url(), "mallory", "busy").await;
    let session = welcome["session"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let mut accepted = 0;
    for i in 0..30u8 {
        // A fresh address every time: only the token's bucket can stop it.
        let mut client = ws_from(&server, local(10 + i)).await.unwrap();
        client
            .send(json!({"type": "join", "nick": "mallory", "room": "busy", "resume": session}))
            .await;
        client.expect("welcome").await;
        if say_and_answer(&mut client, "flood", &format!("t{i}"))
            .await
            .is_ok()
        {
            accepted += 1;
        }
    }
    let bound = allowance(burst, per_sec, started.elapsed());
    assert!(
        f64::from(accepted) <= bound,
        "{accepted} messages accepted under one token, at most {bound} allowed"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_busy_room_refuses_the_sender_past_its_budget() {
    let (burst, per_sec) = (3, 1);
    let server = common::start(&[
        "--room-rate-burst",
        &burst.to_string(),
        "--room-rate-per-sec",
        &per_sec.to_string(),
    ]);
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "small").await;
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "small").await;
    ann.until("joined").await;
    let started = Instant::now();
    for i in 0..15 {
        ann.send(json!({"type": "say", "text": "hurry", "ref": format!("r{i}")}))
            .await;
    }
    let (mut accepted, mut refusals) = (0, 0);
    while accepted + refusals < 15 {
        let frame = ann.next().await;
        match frame["type"].as_str() {
            Some("ack") => accepted += 1,
            Some("error") => {
                assert_eq!(frame["code"], "rate_limited", "{frame}");
                assert!(frame["retry_ms"].as_u64().is_some(), "{frame}");
                assert!(frame["ref"].is_string(), "{frame}");
                refusals += 1;
            }
            _ => {}
        }
    }
    let bound = allowance(burst, per_sec, started.elapsed());
    assert!(f64::from(accepted) <= bound, "{accepted} > {bound}");
    assert!(refusals > 0, "the room refused nothing");
    // Bob sees the accepted messages and nothing of the refusals.
    for _ in 0..accepted {
        bob.expect("message").await;
    }
    bob.expect_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn the_websocket_past_the_per_address_cap_gets_429() {
    let server = common::start(&["--max-websockets-per-ip", "3"]);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(ws_from(&server, local(1)).await.unwrap());
    }
    let refused = ws_from(&server, local(1))
        .await
        .err()
        .expect("a 4th is refused");
    refused.assert_too_many();
    // Another address is another client.
    let mut other = ws_from(&server, local(2)).await.unwrap();
    other.expect_nothing_pending().await;
    // A closed one gives its place back once its session has stopped.
    let mut gone = open.pop().unwrap();
    gone.send(json!({"type": "ping"})).await;
    gone.expect("pong").await;
    gone.close().await;
    within(PATIENCE, "a freed place", async {
        loop {
            match ws_from(&server, local(1)).await {
                Ok(client) => return client,
                Err(refused) => refused.assert_too_many(),
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn connection_attempts_past_the_budget_get_429_on_both_transports() {
    let (burst, per_sec) = (3, 1);
    let server = common::start(&[
        "--connect-burst",
        &burst.to_string(),
        "--connect-per-sec",
        &per_sec.to_string(),
    ]);
    let started = Instant::now();
    let (mut accepted, mut ws_refused, mut poll_refused) = (0, 0, 0);
    let mut kept = Vec::new();
    for i in 0..10 {
        match ws_from(&server, local(1)).await {
            Ok(client) => {
                accepted += 1;
                kept.push(client);
            }
            Err(refused) => {
                refused.assert_too_many();
                ws_refused += 1;
            }
        }
        match poll_open_from(&server, local(1), &format!("p{i}")).await {
            Ok(first) => {
                assert_eq!(first["frames"][0]["type"], "welcome", "{first}");
                accepted += 1;
            }
            Err(refused) => {
                refused.assert_too_many();
                poll_refused += 1;
            }
        }
    }
    let bound = allowance(burst, per_sec, started.elapsed());
    assert!(f64::from(accepted) <= bound, "{accepted} > {bound}");
    assert!(
        ws_refused > 0 && poll_refused > 0,
        "{ws_refused} {poll_refused}"
    );
    // Another address has its own budget.
    assert!(poll_open_from(&server, local(2), "other").await.is_ok());
    server.stop().await;
}

/// Sends `head` on a raw connection, then `trickle` one byte at a time,
/// each a while after the last (rarely, against the server's timeout);
/// returns the server's answer (its head and its body, or what came before
/// it closed).
async fn trickle(server: &TestServer, head: String, trickle: &'static [u8]) -> String {
    let stream = tcp_from(server, local(1)).await;
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let slow = tokio::spawn(async move {
        for byte in trickle {
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    });
    let answer = within(PATIENCE, "the server's answer", async {
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&answer).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if text.len() >= end + 4 + length {
                    return text;
                }
            }
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return text,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    slow.abort();
    answer
}

#[tokio::test]
async fn a_trickled_poll_open_body_gets_408() {
    let server = common::start(&["--body-timeout-secs", "1"]);
    let head = format!(
        "POST /poll/open HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{{",
        server.port
    );
    let answer = trickle(&server, head, b"\"type\": \"join\", \"nick\": \"slow\"").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = &answer[answer.find("\r\n\r\n").expect("a body") + 4..];
    let body: Value = serde_json::from_str(body.trim()).expect("the JSON error shape");
    assert_eq!(body["error"]["code"], "body_timeout", "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_trickled_upgrade_head_is_cut_off() {
    let server = common::start(&[]);
    let head = format!(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        server.port
    );
    let answer = trickle(&server, head, b"Sec-WebSocket-Version: 13\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    server.stop().await;
}

#[tokio::test]
async fn the_websocket_past_the_servers_cap_gets_503_server_full() {
    let server = common::start(&["--max-websockets", "2"]);
    let mut first = ws_from(&server, local(1)).await.unwrap();
    let _second = ws_from(&server, local(2)).await.unwrap();
    let refused = ws_from(&server, local(3))
        .await
        .err()
        .expect("a 3rd is refused");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.body["error"]["code"], "server_full", "{refused:?}");
    assert!(refused.retry_after.is_some(), "{refused:?}");
    // A closed one gives its place back once its session has stopped.
    first.send(json!({"type": "ping"})).await;
    first.expect("pong").await;
    first.close().await;
    within(PATIENCE, "a freed place", async {
        loop {
            if ws_from(&server, local(3)).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    server.stop().await;
}
