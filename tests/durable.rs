//! Durable by default: the real binary on a data directory of the test's
//! own, killed with SIGKILL in the middle of a burst of messages and
//! started again on the same directory. Every message that was
//! acknowledged is there, once, in order, with its id and the room's
//! epoch; a client resuming with its cursor gets exactly what it missed
//! and no gap. And the in-process server, stopped and started again,
//! keeps its rooms, its members' places and its polling sessions.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::inbox::Inbox;
use common::poll::PollClient;
use common::ws::{Client, Ended};
use serde_json::{json, Value};

/// A hang guard for the real binary: generous, never a performance bound.
const PROCESS_PATIENCE: Duration = Duration::from_secs(30);

/// Messages in the burst.
const BURST: usize = 10_000;

/// Acks seen before the process is killed.
const KILL_AFTER: usize = 300;

/// A temporary directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "parley-durable-{name}-{}-{}",
            std::process::id(),
            common::free_port()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary on `dir`, with the rate limits lifted and room for the whole
/// burst in history.
async fn start(dir: &Path) -> (tokio::process::Child, u16) {
    let port = common::free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--workers", "1", "--data-dir"])
        .arg(dir)
        .args(["--history-size", "10000", "--max-room-history-bytes"])
        .args(["100000000", "--max-outbox-bytes", "100000000"])
        .args(["--rate-burst", "1000000", "--rate-per-sec", "1000000"])
        .args(["--address-rate-burst", "1000000"])
        .args(["--address-rate-per-sec", "1000000"])
        .args([
            "--room-rate-burst",
            "1000000",
            "--room-rate-per-sec",
            "1000000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("parley starts");
    let deadline = tokio::time::Instant::now() + PROCESS_PATIENCE;
    loop {
        let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return (child, port);
        }
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("parley exited early with {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "parley never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every frame until the connection ends.
async fn drain(client: &mut Client) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        match client.next_or_end().await {
            Ok(frame) => frames.push(frame),
            Err(Ended::Closed(_) | Ended::Dropped) => return frames,
        }
    }
}

fn message_ids(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["id"].as_u64().expect("an id"))
        .collect()
}

/// Joins lobby from the start as carol and checks what the restarted
/// server kept: the same incarnation, no gap, the messages `m0`, `m1`, ...
/// numbered from 1, each once, in order, with no hole. Answers carol,
/// still in the room, and the ids.
async fn everything_kept(ws: &str, epoch: &str) -> (Client, Vec<u64>) {
    let (carol, everything) = Client::join_with(
        ws,
        json!({"type": "join", "nick": "carol", "room": "lobby", "since": 0, "epoch": epoch}),
    )
    .await;
    assert_eq!(everything["epoch"], epoch, "the same incarnation");
    assert_eq!(everything["gap"], false);
    let kept = everything["history"].as_array().expect("history");
    let ids: Vec<u64> = kept.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    let want: Vec<u64> = (1..=ids.len() as u64).collect();
    assert_eq!(ids, want, "every message once, in order, no hole");
    for message in kept {
        let id = message["id"].as_u64().unwrap();
        assert_eq!(message["text"], format!("m{}", id - 1));
    }
    (carol, ids)
}

#[tokio::test]
async fn a_sigkill_mid_burst_loses_no_acknowledged_message() {
    let dir = TempDir::new("sigkill");
    let (mut child, port) = start(&dir.0).await;
    let ws = format!("ws://127.0.0.1:{port}/ws");
    let (mut ann, welcome) = Client::join(&ws, "ann", "lobby").await;
    let epoch = welcome["epoch"].as_str().expect("an epoch").to_owned();
    let (mut bob, bob_welcome) = Client::join(&ws, "bob", "lobby").await;
    let bob_session = bob_welcome["session"].clone();
    for i in 0..BURST {
        ann.send(json!({"type": "say", "text": format!("m{i}"), "ref": format!("r{i}")}))
            .await;
    }
    let mut acked = Vec::new();
    while acked.len() < KILL_AFTER {
        let frame = ann.next().await;
        if frame["type"] == "ack" {
            acked.push(frame);
        }
    }
    // SIGKILL at once (no `kill` process to spawn first).
    child.start_kill().expect("SIGKILL");
    // Acks already on their way count as acknowledged too.
    acked.extend(
        drain(&mut ann)
            .await
            .into_iter()
            .filter(|f| f["type"] == "ack"),
    );
    let bob_seen = message_ids(&drain(&mut bob).await);
    let bob_cursor = bob_seen.last().copied().unwrap_or(0);
    for ack in &acked {
        let i: u64 = ack["ref"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(ack["id"], i + 1, "messages are numbered in the order sent");
    }
    let last_acked = acked.len() as u64;

    let (_child, port) = start(&dir.0).await;
    let ws = format!("ws://127.0.0.1:{port}/ws");
    let (_carol, ids) = everything_kept(&ws, &epoch).await;
    assert!(
        ids.len() as u64 >= last_acked,
        "{last_acked} acknowledged, {} kept",
        ids.len()
    );
    eprintln!(
        "killed mid-burst: {BURST} sent, {last_acked} acknowledged, {} kept",
        ids.len()
    );

    let (mut bob, resumed) = Client::join_with(
        &ws,
        json!({"type": "join", "nick": "bob", "room": "lobby", "since": bob_cursor,
               "epoch": epoch, "resume": bob_session}),
    )
    .await;
    assert_eq!(resumed["gap"], false, "no gap notice after the restart");
    let missed: Vec<u64> = resumed["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = (bob_cursor + 1..=ids.len() as u64).collect();
    assert_eq!(missed, want, "exactly what bob missed");
    assert_eq!(resumed["cursor"], ids.len() as u64);
    let (message, ack) = bob.say("after", "b1").await;
    assert_eq!(message["id"], ids.len() as u64 + 1, "ids go on");
    assert_eq!(ack["id"], message["id"]);
}

#[tokio::test]
async fn a_graceful_restart_keeps_the_room_and_its_members_for_resuming_clients() {
    let dir = TempDir::new("graceful");
    let data = dir.0.to_str().expect("a UTF-8 path").to_owned();
    let server = common::start(&["--data-dir", &data]);
    let (mut ann, welcome) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (_bob, bob_welcome) = Client::join(&server.ws_url(), "bob", "lobby").await;
    let epoch = welcome["epoch"].clone();
    ann.expect("joined").await;
    for i in 0..5 {
        let (_, ack) = ann.say(&format!("hello {i}"), &format!("r{i}")).await;
        assert_eq!(ack["id"], i + 1);
    }
    server.stop().await;

    let server = common::start(&["--data-dir", &data]);
    let resume = |who: &str, welcome: &Value, since: u64| {
        json!({"type": "join", "nick": who, "room": "lobby", "since": since,
               "epoch": epoch, "resume": welcome["session"]})
    };
    let (mut ann, resumed) = Client::join_with(&server.ws_url(), resume("ann", &welcome, 3)).await;
    assert_eq!(resumed["epoch"], epoch);
    assert_eq!(resumed["gap"], false);
    let ids: Vec<&Value> = resumed["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(ids, [4, 5], "what followed the cursor");
    let roster: Vec<&Value> = resumed["roster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["nick"])
        .collect();
    assert_eq!(roster, ["ann", "bob"], "bob holds his place meanwhile");
    let (_bob, bob_back) =
        Client::join_with(&server.ws_url(), resume("bob", &bob_welcome, 5)).await;
    assert_eq!(bob_back["history"], json!([]));
    ann.expect_nothing_pending().await;
    // A resend of a message from before the restart keeps its id.
    ann.send(json!({"type": "say", "text": "hello 4", "ref": "r4"}))
        .await;
    let ack = ann.expect("ack").await;
    assert_eq!(ack["id"], 5);
    server.stop().await;
}

#[tokio::test]
async fn a_polling_client_goes_on_with_its_session_after_a_restart() {
    let dir = TempDir::new("polling");
    let data = dir.0.to_str().expect("a UTF-8 path").to_owned();
    let server = common::start(&["--data-dir", &data]);
    let (mut ann, welcome) = PollClient::open(&server.url(""), "ann", "lobby").await;
    assert_eq!(welcome["type"], "welcome");
    let (_, ack) = ann.say("before", "p1").await;
    assert_eq!(ack["id"], 1);
    server.stop().await;

    let server = common::start(&["--data-dir", &data]);
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "lobby").await;
    let mut ann = ann.at(&server.url(""));
    let (message, ack) = ann.say("after", "p2").await;
    assert_eq!(message["id"], 2, "the same session, in the same room");
    assert_eq!(ack["id"], 2);
    let seen = bob.until("message").await;
    assert_eq!(
        (&seen["nick"], &seen["text"]),
        (&json!("ann"), &json!("after"))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_polling_session_outlives_a_sigkill() {
    let dir = TempDir::new("polling-sigkill");
    let (mut child, port) = start(&dir.0).await;
    let base = format!("http://127.0.0.1:{port}");
    let (mut ann, welcome) = PollClient::open(&base, "ann", "lobby").await;
    assert_eq!(welcome["type"], "welcome");
    let epoch = welcome["epoch"].clone();
    let (_, ack) = ann.say("before", "p1").await;
    assert_eq!(ack["id"], 1);
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("the binary ends");

    let (_child, port) = start(&dir.0).await;
    let base = format!("http://127.0.0.1:{port}");
    let mut ann = ann.at(&base);
    let (message, ack) = ann.say("after", "p2").await;
    assert_eq!(message["id"], 2, "the same session, in the same room");
    assert_eq!(ack["id"], 2);
    let (_bob, seen) = Client::join_with(
        &format!("ws://127.0.0.1:{port}/ws"),
        json!({"type": "join", "nick": "bob", "room": "lobby", "since": 0, "epoch": epoch}),
    )
    .await;
    let texts: Vec<&Value> = seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["text"])
        .collect();
    assert_eq!(texts, ["before", "after"]);
    let roster: Vec<&Value> = seen["roster"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["nick"])
        .collect();
    assert_eq!(
        roster,
        ["ann", "bob"],
        "ann kept her place, not joined twice"
    );
}

#[tokio::test]
async fn retention_deletes_a_rooms_oldest_messages_and_metrics_say_so() {
    let dir = TempDir::new("retention");
    let data = dir.0.to_str().expect("a UTF-8 path").to_owned();
    let args = [
        "--data-dir",
        data.as_str(),
        "--retention-messages",
        "5",
        "--rate-burst",
        "1000000",
        "--rate-per-sec",
        "1000000",
    ];
    let server = common::start(&args);
    let (mut ann, welcome) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let epoch = welcome["epoch"].clone();
    // More than the 256 entries after which a room is swept at once.
    for i in 0..300 {
        ann.send(json!({"type": "say", "text": format!("m{i}"), "ref": format!("r{i}")}))
            .await;
    }
    let mut acks = 0;
    while acks < 300 {
        if ann.next().await["type"] == "ack" {
            acks += 1;
        }
    }
    let deadline = tokio::time::Instant::now() + common::inbox::PATIENCE;
    loop {
        let deleted = server
            .metric("parley_store_retention_messages_deleted_total")
            .await;
        if deleted > 0.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention deleted nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.metric("parley_store_bytes").await > 0.0);
    server.stop().await;

    let server = common::start(&args);
    let (_bob, seen) = Client::join_with(
        &server.ws_url(),
        json!({"type": "join", "nick": "bob", "room": "lobby", "since": 0, "epoch": epoch}),
    )
    .await;
    let ids: Vec<&Value> = seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert_eq!(ids, [296, 297, 298, 299, 300], "the newest five");
    server.stop().await;
}

/// An image of the store's file as a power cut could leave it, taken while
/// the server commits: copied a page at a time from the end of the file to
/// its start, so the header (at the start) is read last and may name a
/// commit whose pages were read before they were written; the image is
/// then given the file's length at the end of the copy, as if the length
/// had reached the disk and the new pages had not. redb checksums each
/// commit and falls back to the previous one when the newest does not
/// verify. Answers whether the file was written while it was copied (its
/// modification time moved), i.e. whether the image may be torn.
fn torn_image(from: &Path, to: &Path) -> bool {
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 4096;
    std::fs::create_dir_all(to).expect("image directory");
    let source = std::fs::File::open(from.join("parley.redb")).expect("the store's file");
    let image = std::fs::File::create(to.join("parley.redb")).expect("the image's file");
    let first = source.metadata().expect("metadata");
    let len = first.len();
    let mut buf = vec![0u8; CHUNK as usize];
    let mut at = len.div_ceil(CHUNK) * CHUNK;
    while at > 0 {
        at -= CHUNK;
        let want = CHUNK.min(len - at) as usize;
        source
            .read_exact_at(&mut buf[..want], at)
            .expect("read a chunk");
        image.write_all_at(&buf[..want], at).expect("write a chunk");
    }
    let last = source.metadata().expect("metadata");
    image
        .set_len(last.len().max(len))
        .expect("the final length");
    last.modified().expect("mtime") != first.modified().expect("mtime")
}

#[tokio::test]
async fn an_image_torn_mid_commit_opens_at_its_last_complete_commit() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    /// Images taken while the file was being written.
    const IMAGES: usize = 8;
    /// A hang guard: the burst stops here whatever happened.
    const MOST: usize = 200_000;
    /// Messages in flight at once, so commits go on the whole time.
    const WINDOW: usize = 32;
    let dir = TempDir::new("torn");
    let (_child, port) = start(&dir.0).await;
    let ws = format!("ws://127.0.0.1:{port}/ws");
    let (mut ann, welcome) = Client::join(&ws, "ann", "lobby").await;
    let epoch = welcome["epoch"].as_str().expect("an epoch").to_owned();

    let acked = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(AtomicBool::new(false));
    // Images start once the room and a first message are on disk: an image
    // from before the room was created would be another room.
    let mut sent = 0;
    while sent < WINDOW {
        ann.send(json!({"type": "say", "text": format!("m{sent}"), "ref": format!("r{sent}")}))
            .await;
        sent += 1;
    }
    while ann.next().await["type"] != "ack" {}
    acked.fetch_add(1, Ordering::SeqCst);
    let imager = {
        let (acked, enough, dir) = (acked.clone(), enough.clone(), dir.0.clone());
        tokio::task::spawn_blocking(move || {
            let mut kept = Vec::new();
            let mut tries = 0;
            while kept.len() < IMAGES && tries < 10_000 {
                tries += 1;
                let before = acked.load(Ordering::SeqCst);
                let to = dir.join(format!("image-{tries}"));
                // A crash tears at most the commit being written: every
                // write before the last fsync is on disk. A copy during
                // which acks arrived spans more than one commit (pages of
                // an older one read before a newer one rewrote them, the
                // header read last), an image no crash can leave; only
                // copies that saw the file written and no commit end are
                // kept.
                if torn_image(&dir, &to) && acked.load(Ordering::SeqCst) == before {
                    kept.push((to, before));
                } else {
                    let _ = std::fs::remove_dir_all(&to);
                }
            }
            enough.store(true, Ordering::SeqCst);
            kept
        })
    };
    while acked.load(Ordering::SeqCst) < sent {
        if ann.next().await["type"] != "ack" {
            continue;
        }
        acked.fetch_add(1, Ordering::SeqCst);
        if !enough.load(Ordering::SeqCst) && sent < MOST {
            ann.send(json!({"type": "say", "text": format!("m{sent}"), "ref": format!("r{sent}")}))
                .await;
            sent += 1;
        }
    }
    let images = imager.await.expect("the imager");
    assert_eq!(
        images.len(),
        IMAGES,
        "images taken while the file was written"
    );
    for (image, acked_before) in images {
        let (child, port) = start(&image).await;
        let (_carol, ids) = everything_kept(&format!("ws://127.0.0.1:{port}/ws"), &epoch).await;
        assert!(
            ids.len() >= acked_before,
            "{acked_before} acknowledged before the image, {} in it",
            ids.len()
        );
        eprintln!(
            "image after {acked_before} acks: {} messages kept",
            ids.len()
        );
        drop(child);
    }
}

/// On the store, entries come back once committed, so the room can hear
/// that carol left after bob's resume was already decided but before it
/// was applied. The room here was mirrored for carol alone; it used to be
/// dropped when her leave came back (nobody left in it here), and bob's
/// entry then found no mirror: he never got his welcome.
#[tokio::test]
async fn a_resume_racing_the_last_members_leave_is_welcomed() {
    let dir = TempDir::new("race");
    let data = dir.0.to_str().expect("a UTF-8 path").to_owned();
    let server = common::start(&["--data-dir", &data]);
    let ws = server.ws_url();
    let (mut ann, _) = Client::join(&ws, "ann", "lobby").await;
    let (bob, bob_welcome) = Client::join(&ws, "bob", "lobby").await;
    ann.say("one", "a1").await;
    drop(bob);
    drop(ann);
    let (carol, _) = Client::join(&ws, "carol", "lobby").await;
    drop(carol);
    let resume = json!({"type": "join", "nick": "bob", "room": "lobby", "since": 1,
                        "resume": bob_welcome["session"], "epoch": bob_welcome["epoch"]});
    let (mut bob, resumed) = Client::join_with(&ws, resume).await;
    assert_eq!(resumed["gap"], false);
    let (message, ack) = bob.say("after", "b1").await;
    assert_eq!(message["id"], 2);
    assert_eq!(ack["id"], 2);
    server.stop().await;
}
