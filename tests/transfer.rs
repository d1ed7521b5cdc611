//! `parley export` and `parley import` on the real binary: a room said
//! into one data directory is exported as JSON lines, imported into a
//! second data directory and into a real Redis, and a client joining there
//! sees the same messages (nicknames, texts, times) in the same order; an
//! export of the Redis copy gives the same lines again, ids and epoch
//! aside. A running server's directory is refused by name.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::inbox::Inbox;
use common::redis::RedisServer;
use common::ws::Client;
use serde_json::{json, Value};

/// A directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "parley-transfer-{name}-{}-{}",
            std::process::id(),
            common::free_port()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `parley ARGS` with `stdin` on its standard input.
fn parley(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run parley");
    // unwrap: piped just above.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .expect("write standard input");
    child.wait_with_output().expect("parley ends")
}

/// An export's lines, parsed, each without its id and epoch (which belong
/// to the store that kept it).
fn portable(lines: &str) -> Vec<Value> {
    lines
        .lines()
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).expect("a JSON line");
            let object = value.as_object_mut().expect("an object");
            object.remove("id");
            object.remove("epoch");
            value
        })
        .collect()
}

/// Every message in `room` as a joining client sees it.
async fn seen(ws: &str) -> Vec<Value> {
    let (_carol, welcome) = Client::join_with(
        ws,
        json!({"type": "join", "nick": "carol", "room": "lobby", "since": 0}),
    )
    .await;
    welcome["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|m| json!({"nick": m["nick"], "text": m["text"], "ts": m["ts"]}))
        .collect()
}

/// What is said, with quotes, a newline and characters past ASCII.
const TEXTS: [&str; 4] = [
    "hello",
    "a \"quoted\" line\nand a second",
    "héllo 👋",
    "bye",
];

#[tokio::test]
async fn a_room_goes_out_as_json_lines_and_back_into_a_store_and_redis() {
    let from = TempDir::new("from");
    let server = common::start(&["--data-dir", from.arg()]);
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "lobby").await;
    let texts = TEXTS;
    for (i, text) in texts.iter().enumerate() {
        let who = if i % 2 == 0 { &mut ann } else { &mut bob };
        who.send(json!({"type": "say", "text": text, "ref": format!("r{i}")}))
            .await;
        // The other's messages may come first.
        let ack = who.until("ack").await;
        assert_eq!(ack["id"], i as u64 + 1);
    }
    let before = seen(&server.ws_url()).await;
    assert_eq!(before.len(), texts.len());

    // A running server's directory is refused, by name.
    let refused = parley(&["export", "--room", "lobby", "--data-dir", from.arg()], "");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("in use by a running Parley"), "{stderr}");
    server.stop().await;

    let export = parley(&["export", "--room", "lobby", "--data-dir", from.arg()], "");
    assert!(export.status.success(), "{export:?}");
    let lines = String::from_utf8(export.stdout).expect("UTF-8");
    let first: Value = serde_json::from_str(lines.lines().next().expect("a line")).unwrap();
    assert_eq!(
        (&first["room"], &first["id"], &first["nick"], &first["text"]),
        (&json!("lobby"), &json!(1), &json!("ann"), &json!("hello"))
    );
    assert_eq!(lines.lines().count(), texts.len(), "one line a message");

    // Into a second data directory.
    let to = TempDir::new("to");
    let import = parley(&["import", "--data-dir", to.arg()], &lines);
    assert!(import.status.success(), "{import:?}");
    let server = common::start(&["--data-dir", to.arg()]);
    assert_eq!(seen(&server.ws_url()).await, before, "the same messages");
    server.stop().await;

    // Into Redis, and out again.
    let redis = RedisServer::start().await;
    let url = redis.url();
    let import = parley(&["import", "--redis-url", &url], &lines);
    assert!(import.status.success(), "{import:?}");
    let again = parley(&["export", "--room", "lobby", "--redis-url", &url], "");
    assert!(again.status.success(), "{again:?}");
    let again = String::from_utf8(again.stdout).expect("UTF-8");
    assert_eq!(portable(&again), portable(&lines), "the same lines");
    let server = common::start(&["--redis-url", &url]);
    assert_eq!(seen(&server.ws_url()).await, before);
    server.stop().await;
}
