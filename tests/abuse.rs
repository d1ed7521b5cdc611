//! The abuse suite: findings 1 to 5 of the hardening issue
//! (docs/HARDENING.md) replayed against the real `parley` binary, one
//! process per finding, started with small limits so each attack reaches
//! them within seconds. Each scenario asserts that the attack is answered
//! as documented (the offender cut or refused with the documented close
//! code or error), that the server's peak resident memory (VmHWM) stays
//! within the worst case docs/DEPLOY.md gives for the flags it was started
//! with (`common::bound`), and that two bystanders, one on a WebSocket and
//! one long-polling, chat in the attacked room throughout and lose nothing
//! acknowledged (`common::bystanders`). Every loop is bounded in count;
//! every wait is for an event, with a timeout only as a hang guard.
//! Attackers come from their own 127.0.0.x addresses.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::MaybeTlsStream;

use common::bound::{queue_bound, worst_case_rss, Flags};
use common::bystanders::Bystanders;
use common::inbox::{within, Inbox, PATIENCE};
use common::process::{listening_port, Process};
use common::raw::{self, Raw};
use common::ws::{Client, Ended};

/// 127.0.0.`last`.
fn local(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// The limits every scenario starts from; a scenario overrides some.
const SMALL: [(&str, &str); 17] = [
    ("--workers", "1"),
    ("--max-outbox-bytes", "65536"),
    ("--max-frame-bytes", "16384"),
    ("--max-message-chars", "500"),
    ("--history-on-join", "20"),
    ("--max-history-bytes", "1048576"),
    ("--max-room-history-bytes", "65536"),
    ("--max-rooms", "50"),
    ("--max-websockets-per-ip", "8"),
    ("--max-sessions-per-ip", "8"),
    ("--max-poll-sessions", "64"),
    ("--max-http-connections", "64"),
    ("--max-queued-bytes", "8388608"),
    ("--write-stall-secs", "2"),
    ("--poll-wait-secs", "2"),
    ("--session-grace-secs", "3"),
    ("--body-timeout-secs", "10"),
];

/// A server under attack: the process and its memory at start.
struct Target {
    server: Process,
    started_rss: u64,
}

impl Target {
    /// Starts `parley` with [`SMALL`] and `overrides` in their place.
    fn start(overrides: &[(&str, &str)]) -> Target {
        let mut args: Vec<String> = Vec::new();
        for (flag, value) in SMALL.iter().chain(overrides) {
            if let Some(at) = args.iter().position(|a| a == flag) {
                args[at + 1] = value.to_string();
            } else {
                args.extend([flag.to_string(), value.to_string()]);
            }
        }
        let server = Process::start(&args);
        let started_rss = server.rss();
        Target {
            server,
            started_rss,
        }
    }

    fn port(&self) -> u16 {
        self.server.port
    }

    /// Asserts that the peak RSS stayed within the documented worst case
    /// for the flags given and `subnets` client subnets (B is the larger of
    /// the formula's 8 MiB and this debug build's own RSS at start).
    fn assert_memory_within_bound(&mut self, subnets: u64) {
        assert!(self.server.alive(), "the server is still running");
        let base = self.started_rss.max(8 << 20);
        let bound = worst_case_rss(&Flags::parse(&self.server.args), subnets, base);
        let peak = self.server.peak_rss();
        eprintln!(
            "peak RSS {:.1} MiB (at start {:.1} MiB), documented bound {:.1} MiB",
            peak as f64 / 1048576.0,
            self.started_rss as f64 / 1048576.0,
            bound as f64 / 1048576.0
        );
        assert!(peak <= bound, "peak RSS {peak} over the bound {bound}");
    }
}

/// A refused connection: status, `Retry-After` and the JSON error code.
#[derive(Debug)]
struct Refused {
    status: u16,
    retry_after: Option<String>,
    code: String,
}

impl Refused {
    fn assert(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code.as_str()),
            (status, code),
            "{self:?}"
        );
    }
}

/// A WebSocket from `from`, or how the upgrade was refused.
async fn ws_from(port: u16, from: Ipv4Addr) -> Result<Client, Refused> {
    let stream = raw::tcp(port, from, None).await;
    let url = format!("ws://127.0.0.1:{port}/ws");
    match tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await {
        Ok((socket, _)) => Ok(Client::from_socket(socket)),
        Err(WsError::Http(response)) => {
            let body: Value = response.body().as_ref().map_or(Value::Null, |b| {
                serde_json::from_slice(b).unwrap_or(Value::Null)
            });
            Err(Refused {
                status: response.status().as_u16(),
                retry_after: response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap_or_default().to_owned()),
                code: body["error"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            })
        }
        Err(other) => panic!("upgrade failed: {other}"),
    }
}

/// Joins `room` as `nick` on a WebSocket from `from`; returns the welcome.
async fn ws_join(port: u16, from: Ipv4Addr, nick: &str, room: &str) -> (Client, Value) {
    let mut client = ws_from(port, from).await.expect("the upgrade is accepted");
    client
        .send(json!({"type": "join", "nick": nick, "room": room}))
        .await;
    let welcome = client.expect("welcome").await;
    (client, welcome)
}

/// `POST /poll/open` from `from`: the session token, or the refusal.
async fn poll_open_from(port: u16, from: Ipv4Addr, nick: &str) -> Result<String, Refused> {
    let http = reqwest::Client::builder()
        .local_address(IpAddr::V4(from))
        .timeout(PATIENCE)
        .build()
        .expect("an HTTP client");
    let response = http
        .post(format!("http://127.0.0.1:{port}/poll/open"))
        .body(json!({"type": "join", "nick": nick, "room": "lobby"}).to_string())
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body: Value = response.json().await.expect("a JSON body");
    if status == 200 {
        Ok(body["session"].as_str().expect("a session").to_owned())
    } else {
        Err(Refused {
            status,
            retry_after,
            code: body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

/// Says `text` under `reference` and reads until the answer to it:
/// `Ok(id)` for an ack, `Err(code)` for a refusal.
async fn say(client: &mut Client, text: &str, reference: &str) -> Result<u64, String> {
    client
        .send(json!({"type": "say", "text": text, "ref": reference}))
        .await;
    let answer = client
        .until_matches(|f| (f["type"] == "ack" || f["type"] == "error") && f["ref"] == reference)
        .await;
    if answer["type"] == "ack" {
        Ok(answer["id"].as_u64().expect("an id"))
    } else {
        Err(answer["code"].as_str().unwrap_or_default().to_owned())
    }
}

/// The most a bucket of `burst` refilled at `per_sec` lets through in
/// `elapsed` (a budget, not a speed).
fn allowance(burst: u32, per_sec: u32, elapsed: Duration) -> f64 {
    f64::from(burst) + f64::from(per_sec) * elapsed.as_secs_f64()
}

#[test]
fn the_port_is_read_from_the_servers_first_log_line() {
    let line = "[2026-01-01T00:00:00Z INFO  parley::server] parley listening on 127.0.0.1:40123/ (websocket,polling)";
    assert_eq!(listening_port(line), Some(40123));
    assert_eq!(listening_port("[INFO] something else"), None);
}

/// Finding 1: a header declaring 2^62 bytes followed by zeros, and several
/// 100 MB frames streamed in full, are refused from the header (1009), so
/// the server's memory stays at its bound however much is sent.
#[tokio::test]
async fn finding_1_oversized_frames_close_with_1009_from_the_header() {
    let mut target = Target::start(&[]);
    let port = target.port();
    let bystanders = Bystanders::start(port, "lobby").await;

    // The header alone, not one byte of payload: the refusal cannot have
    // waited for the payload.
    let mut raw = Raw::connect(port, local(10), None).await;
    raw.send(0x82, &[], 100 << 20).await;
    let mut texts = Vec::new();
    assert_eq!(raw.close_code(&mut texts).await, Some(1009));
    assert!(
        texts.iter().any(|t| t.contains("frame_too_large")),
        "{texts:?}"
    );

    // 2^62 declared, then zeros, and four 100 MiB frames sent in full, all
    // at once; each must get its 1009 while the bytes keep coming.
    let mut attacks = Vec::new();
    for i in 0..5u64 {
        attacks.push(tokio::spawn(async move {
            let mut raw = Raw::connect(port, local(11), None).await;
            let declared = if i == 0 { 1 << 62 } else { 100 << 20 };
            raw.socket
                .write_all(&raw::frame(0x82, &[], declared))
                .await
                .expect("the header is sent");
            let (code, sent) = raw.close_code_while_sending(declared.min(100 << 20)).await;
            assert_eq!(code, Some(1009), "attack {i}");
            sent
        }));
    }
    for attack in attacks {
        let sent = attack.await.expect("the attack ran");
        assert!(
            sent < 100 << 20,
            "the close came before the payload was all sent ({sent} bytes)"
        );
    }

    bystanders.finish().await;
    // The bystanders (two subnets) and the attackers (two).
    target.assert_memory_within_bound(4);
}

/// Finding 2: sockets that flood pings and never read, and readers that
/// join a full room with `since: 0` and never read, are cut (by the byte
/// bound or the write stall) while a filler keeps the room busy; memory
/// stays at its bound.
#[tokio::test]
async fn finding_2_readers_that_never_read_are_cut() {
    let lifted = "1000000";
    let mut target = Target::start(&[
        // The bystanders' queues have room for the filler's stream.
        ("--max-outbox-bytes", "262144"),
        // Long lines: the kernel takes some 3 MB for a socket that is not
        // read (tcp_wmem's 4 MiB on this machine) before the server's
        // bound and stall come into play.
        ("--max-message-chars", "4000"),
        ("--max-frame-bytes", "20000"),
        ("--rate-burst", lifted),
        ("--rate-per-sec", lifted),
        ("--address-rate-burst", lifted),
        ("--address-rate-per-sec", lifted),
        ("--room-rate-burst", lifted),
        ("--room-rate-per-sec", lifted),
    ]);
    let port = target.port();
    let (mut filler, _) = ws_join(port, local(12), "Filler", "lobby").await;
    let bystanders = Bystanders::start(port, "lobby").await;
    let text = "f".repeat(4000);
    let mut sent = 0;

    // Six pingers: joined, then pings as fast as they go, never reading.
    let stop = Arc::new(AtomicBool::new(false));
    let mut pingers = Vec::new();
    for i in 0..6 {
        let mut raw = Raw::connect(port, local(13), Some(4096)).await;
        raw.send_text(
            &json!({"type": "join", "nick": format!("pinger{i}"), "room": "lobby"}).to_string(),
        )
        .await;
        let stop = stop.clone();
        pingers.push(tokio::spawn(async move {
            let ping = raw::frame(0x89, &[b'p'; 125], 125);
            for _ in 0..1_000_000 {
                if stop.load(Ordering::Relaxed) || raw.socket.write_all(&ping).await.is_err() {
                    break;
                }
            }
            raw
        }));
    }
    let mut gone: BTreeSet<String> = BTreeSet::new();
    let mut expected: BTreeSet<String> = (0..6).map(|i| format!("pinger{i}")).collect();
    // The room's history fills (64 KiB is about 16 of these lines)...
    filler_round(&mut filler, &text, &mut sent, 20, &mut gone).await;
    // ...and four readers ask for all of it, then read nothing.
    let mut stuck = Vec::new();
    for i in 0..4 {
        let mut raw = Raw::connect(port, local(14), Some(4096)).await;
        raw.send_text(
            &json!({"type": "join", "nick": format!("stuck{i}"), "room": "lobby", "since": 0})
                .to_string(),
        )
        .await;
        expected.insert(format!("stuck{i}"));
        stuck.push(raw);
    }
    // The filler goes on until the room has seen all ten leave.
    while !expected.is_subset(&gone) {
        assert!(
            sent < 3000,
            "still there after {sent} lines: {:?}",
            expected.difference(&gone)
        );
        filler_round(&mut filler, &text, &mut sent, 20, &mut gone).await;
    }
    stop.store(true, Ordering::Relaxed);
    for pinger in pingers {
        let mut raw = within(PATIENCE, "the pinger's end", pinger)
            .await
            .expect("the pinger ran");
        raw.until_cut().await;
    }
    for raw in &mut stuck {
        raw.until_cut().await;
    }

    bystanders.finish().await;
    // Bystanders (two subnets), filler, pingers and readers (three).
    target.assert_memory_within_bound(5);
}

/// Finding 2, the replay: DEPLOY.md counts what one connection may hold as
/// A `join` with `since: 0` replays what the room keeps, and text of
/// quotes doubles once JSON-escaped, so without a cap that `welcome` would
/// be about twice `--max-room-history-bytes`; the replay is held to
/// `O / 2` as written, so the frame fits the connection's own bound `O`.
#[tokio::test]
async fn finding_2_a_since_0_replay_fits_the_documented_largest_frame() {
    let lifted = "1000000";
    let target = Target::start(&[
        ("--rate-burst", lifted),
        ("--rate-per-sec", lifted),
        ("--address-rate-burst", lifted),
        ("--address-rate-per-sec", lifted),
        ("--room-rate-burst", lifted),
        ("--room-rate-per-sec", lifted),
    ]);
    let port = target.port();
    let (mut filler, _) = ws_join(port, local(12), "Filler", "lobby").await;
    let quotes = "\"".repeat(500);
    let mut gone = BTreeSet::new();
    let mut sent = 0;
    // 64 KiB of room history is about 100 of these lines.
    for _ in 0..8 {
        filler_round(&mut filler, &quotes, &mut sent, 20, &mut gone).await;
    }
    let (_reader, welcome) = {
        let mut client = ws_from(port, local(13)).await.expect("an upgrade");
        client
            .send(json!({"type": "join", "nick": "Reader", "room": "lobby", "since": 0}))
            .await;
        let welcome = client.expect("welcome").await;
        (client, welcome)
    };
    let frame = welcome.to_string().len() as u64;
    let allowed = queue_bound(&Flags::parse(&target.server.args));
    assert!(
        frame <= allowed,
        "a since: 0 welcome of {frame} bytes; DEPLOY.md allows a connection {allowed}"
    );
}

/// Sends `count` lines from the filler and reads until they are all
/// acknowledged, noting who the room saw leave.
async fn filler_round(
    filler: &mut Client,
    text: &str,
    sent: &mut usize,
    count: usize,
    gone: &mut BTreeSet<String>,
) {
    let first = *sent;
    for n in first..first + count {
        filler
            .send(json!({"type": "say", "text": text, "ref": format!("f{n}")}))
            .await;
    }
    *sent += count;
    let last = format!("f{}", *sent - 1);
    filler
        .until_matches(|f| {
            if f["type"] == "left" {
                gone.insert(f["nick"].as_str().unwrap_or_default().to_owned());
            }
            assert!(f["type"] != "error", "the filler was refused: {f}");
            f["type"] == "ack" && f["ref"] == last.as_str()
        })
        .await;
}

/// Finding 3: history written into many rooms is held to
/// `--max-history-bytes` in all (the backplane's and the mirrors'), not
/// `--max-room-history-bytes` per room: forty rooms of 256 KiB each would
/// be 10 MiB, the bound is 1 MiB. The oldest room's history is gone (a
/// resume from its start is a gap) and memory stays at its bound.
#[tokio::test]
async fn finding_3_history_across_many_rooms_is_held_to_the_global_bound() {
    let lifted = "1000000";
    let global: u64 = 1 << 20;
    let mut target = Target::start(&[
        ("--max-message-chars", "4000"),
        ("--max-frame-bytes", "20000"),
        ("--max-history-bytes", &global.to_string()),
        ("--max-room-history-bytes", "262144"),
        ("--max-rooms", "45"),
        // Few connections, so the per-connection terms leave the history
        // terms visible in the bound.
        ("--max-websockets-per-ip", "2"),
        ("--max-sessions-per-ip", "1"),
        ("--rate-burst", lifted),
        ("--rate-per-sec", lifted),
        ("--address-rate-burst", lifted),
        ("--address-rate-per-sec", lifted),
        ("--room-rate-burst", lifted),
        ("--room-rate-per-sec", lifted),
    ]);
    let port = target.port();
    let bystanders = Bystanders::start(port, "lobby").await;
    let (mut writer, _) = ws_join(port, local(15), "Writer", "r0").await;
    let text = "h".repeat(4000);
    for room in 0..40 {
        if room > 0 {
            writer
                .send(json!({"type": "join", "nick": "Writer", "room": format!("r{room}")}))
                .await;
            writer.until("welcome").await;
        }
        // 64 lines of 4,000 bytes: more than the room's own 256 KiB, in
        // eights, so that the writer's own copies stay under its bound.
        for eight in 0..8 {
            for n in eight * 8..eight * 8 + 8 {
                writer
                    .send(json!({"type": "say", "text": text, "ref": format!("r{room}-{n}")}))
                    .await;
            }
            let last = format!("r{room}-{}", eight * 8 + 7);
            writer
                .until_matches(|f| {
                    assert!(f["type"] != "error", "the writer was refused: {f}");
                    f["type"] == "ack" && f["ref"] == last.as_str()
                })
                .await;
        }
    }
    for holder in ["backplane", "mirrors"] {
        let held = target
            .server
            .metric(&format!("parley_history_bytes{{holder=\"{holder}\"}}"))
            .await;
        assert!(
            held <= global as f64,
            "{holder} holds {held} bytes, over {global}"
        );
    }
    // The first room, least recently active, lost its oldest lines.
    let (mut late, _) = ws_join(port, local(15), "Late", "r0").await;
    late.send(json!({"type": "join", "nick": "Late", "room": "r0", "since": 0}))
        .await;
    let resync = late.until("welcome").await;
    assert_eq!(resync["gap"], true, "{}", resync["cursor"]);
    bystanders.finish().await;
    target.assert_memory_within_bound(3);
}

/// Finding 4: a reconnect loop from one address and a takeover loop on one
/// resume token (each takeover from a new address) get the bucket they
/// left, counted by the server's own acks; each takeover closes the old
/// connection with 4001; many connections sending at once into one room
/// are held to the room's budget; and the bystanders, who share that
/// budget, are refused at worst (then say it again), never dropped.
#[tokio::test]
async fn finding_4_rates_follow_the_client_and_the_room() {
    let (burst, per_sec) = (5, 2);
    let (room_burst, room_per_sec) = (10, 5);
    let lifted = "1000000";
    let mut target = Target::start(&[
        ("--rate-burst", &burst.to_string()),
        ("--rate-per-sec", &per_sec.to_string()),
        ("--address-rate-burst", &burst.to_string()),
        ("--address-rate-per-sec", &per_sec.to_string()),
        ("--room-rate-burst", &room_burst.to_string()),
        ("--room-rate-per-sec", &room_per_sec.to_string()),
        // Connection attempts are finding 5's; here every reconnect gets in.
        ("--connect-burst", lifted),
        ("--connect-per-sec", lifted),
    ]);
    let port = target.port();
    let bystanders = Bystanders::start(port, "lobby").await;

    // A reconnect loop: a new connection and a new nickname each time.
    let started = Instant::now();
    let (mut accepted, mut refused) = (0u32, 0u32);
    for i in 0..15 {
        let mut client = ws_from(port, local(20)).await.expect("an upgrade");
        client
            .send(json!({"type": "join", "nick": format!("loop{i}"), "room": "lobby"}))
            .await;
        let first = client.next().await;
        if first["type"] == "welcome" {
            for n in 0..3 {
                match say(&mut client, "again", &format!("l{i}-{n}")).await {
                    Ok(_) => accepted += 1,
                    Err(code) => {
                        assert_eq!(code, "rate_limited");
                        refused += 1;
                    }
                }
            }
        } else {
            assert_eq!(first["code"], "rate_limited", "{first}");
            refused += 1;
        }
        client.close().await;
    }
    let bound = allowance(burst, per_sec, started.elapsed());
    assert!(
        f64::from(accepted) <= bound,
        "{accepted} accepted from one address, {bound} allowed"
    );
    assert!(refused > 0, "the address's bucket refused nothing");

    // A takeover loop: one token, a new address each time.
    let (mut holder, welcome) = ws_join(port, local(21), "mallory", "lobby").await;
    let token = welcome["session"].as_str().expect("a token").to_owned();
    let started = Instant::now();
    let mut accepted = 0u32;
    for i in 0..12u8 {
        let mut client = ws_from(port, local(30 + i)).await.expect("an upgrade");
        client
            .send(json!({"type": "join", "nick": "mallory", "room": "lobby", "resume": token}))
            .await;
        client.until("welcome").await;
        assert_eq!(
            holder.ended().await,
            Ended::Closed(4001),
            "the old connection is told"
        );
        for n in 0..3 {
            if say(&mut client, "mine", &format!("t{i}-{n}")).await.is_ok() {
                accepted += 1;
            }
        }
        holder = client;
    }
    let bound = allowance(burst, per_sec, started.elapsed());
    assert!(
        f64::from(accepted) <= bound,
        "{accepted} accepted under one token, {bound} allowed"
    );
    holder.close().await;

    // Six connections from six addresses, ten lines each at once, into the
    // bystanders' room.
    let mut senders = Vec::new();
    for i in 0..6u8 {
        let (client, _) = ws_join(port, local(50 + i), &format!("crowd{i}"), "lobby").await;
        senders.push(client);
    }
    let started = Instant::now();
    for (i, client) in senders.iter_mut().enumerate() {
        for n in 0..10 {
            client
                .send(json!({"type": "say", "text": "crowd", "ref": format!("c{i}-{n}")}))
                .await;
        }
    }
    let mut accepted = 0u32;
    for (i, client) in senders.iter_mut().enumerate() {
        let prefix = format!("c{i}-");
        let mut answered = 0;
        client
            .until_matches(|f| {
                if !f["ref"].as_str().is_some_and(|r| r.starts_with(&prefix)) {
                    return false;
                }
                match f["type"].as_str() {
                    Some("ack") => accepted += 1,
                    _ => assert_eq!(f["code"], "rate_limited", "{f}"),
                }
                answered += 1;
                answered == 10
            })
            .await;
    }
    let bound = allowance(room_burst, room_per_sec, started.elapsed());
    assert!(
        f64::from(accepted) <= bound,
        "{accepted} accepted in one room, {bound} allowed"
    );

    bystanders.finish().await;
    assert_eq!(
        target
            .server
            .metric("parley_slow_clients_dropped_total")
            .await,
        0.0,
        "nobody was dropped as slow"
    );
    // Bystanders (two subnets), the loop, the holder, 12 takeovers, 6 senders.
    target.assert_memory_within_bound(2 + 1 + 1 + 12 + 6);
}

/// Sends `head` on a raw connection from `from`, then `body` one byte at a
/// time, each a while after the last; returns the server's answer (its
/// head and body, or what came before it closed).
async fn trickle(port: u16, from: Ipv4Addr, head: String, body: &'static [u8]) -> String {
    let stream = raw::tcp(port, from, None).await;
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(head.as_bytes())
        .await
        .expect("the head is sent");
    let slow = tokio::spawn(async move {
        for byte in body {
            tokio::time::sleep(Duration::from_millis(400)).await;
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
                if text[end + 4..].trim_end().ends_with('}') {
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

/// Finding 5: the per-address WebSocket cap and the budget of connection
/// attempts answer 429 `too_many_connections` with `Retry-After`, both per
/// subnet (here a /31, so 127.0.0.2k and 2k+1 are one client); a trickled
/// polling body gets 408 `body_timeout`; the polling sessions of a subnet
/// are capped (429 `too_many_sessions`) while another subnet still gets in.
#[tokio::test]
async fn finding_5_connection_caps_and_timeouts_per_subnet() {
    let (burst, per_sec) = (6, 1);
    let mut target = Target::start(&[
        ("--ipv4-subnet-bits", "31"),
        ("--max-websockets-per-ip", "4"),
        ("--connect-burst", &burst.to_string()),
        ("--connect-per-sec", &per_sec.to_string()),
        ("--max-sessions-per-ip", "3"),
        ("--body-timeout-secs", "1"),
        // The held sessions never poll; they must outlive the test.
        ("--session-grace-secs", "60"),
    ]);
    let port = target.port();
    let bystanders = Bystanders::start(port, "lobby").await;

    // The WebSocket cap of 127.0.0.10/31.
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(ws_from(port, local(10)).await.expect("within the cap"));
    }
    for from in [10, 11] {
        let refused = ws_from(port, local(from))
            .await
            .err()
            .expect("past the cap");
        refused.assert(429, "too_many_connections");
        assert!(refused.retry_after.is_some(), "{refused:?}");
    }

    // The attempts of 127.0.0.12/31, both transports; sessions are closed
    // at once so that only the budget can refuse.
    let started = Instant::now();
    let (mut accepted, mut ws_refused, mut poll_refused) = (0u32, 0, 0);
    for i in 0..6 {
        match ws_from(port, local(12)).await {
            Ok(client) => {
                accepted += 1;
                open.push(client);
            }
            Err(refused) => {
                refused.assert(429, "too_many_connections");
                assert!(refused.retry_after.is_some(), "{refused:?}");
                ws_refused += 1;
            }
        }
        match poll_open_from(port, local(13), &format!("try{i}")).await {
            Ok(session) => {
                accepted += 1;
                let closed = reqwest::Client::new()
                    .post(format!("http://127.0.0.1:{port}/poll/close"))
                    .header("Parley-Session", session)
                    .send()
                    .await
                    .expect("an answer");
                assert_eq!(closed.status(), 204);
            }
            Err(refused) => {
                refused.assert(429, "too_many_connections");
                assert!(refused.retry_after.is_some(), "{refused:?}");
                poll_refused += 1;
            }
        }
    }
    let bound = allowance(burst, per_sec, started.elapsed());
    assert!(
        f64::from(accepted) <= bound,
        "{accepted} attempts accepted, {bound} allowed"
    );
    assert!(
        ws_refused > 0 && poll_refused > 0,
        "{ws_refused} {poll_refused}"
    );

    // A polling body trickled a byte at a time.
    let head = format!(
        "POST /poll/open HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{{"
    );
    let answer = trickle(
        port,
        local(18),
        head,
        b"\"type\": \"join\", \"nick\": \"slow\"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");

    // The polling sessions of 127.0.0.14/31.
    for i in 0..3 {
        poll_open_from(port, local(14), &format!("held{i}"))
            .await
            .expect("within the cap");
    }
    poll_open_from(port, local(15), "one-more")
        .await
        .expect_err("past the subnet's cap")
        .assert(429, "too_many_sessions");
    poll_open_from(port, local(16), "elsewhere")
        .await
        .expect("another subnet has its own cap");

    bystanders.finish().await;
    // Bystanders (two subnets) and 127.0.0.10, 12, 14, 16 and 18 (/31s).
    target.assert_memory_within_bound(7);
}
