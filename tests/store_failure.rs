//! The embedded store when its disk fails, on the real binary: a data
//! directory on a tmpfs too small for the messages (made and unmounted by
//! the test; root only) fills up, and the instance goes degraded (sends
//! refused with `degraded` and a retry hint, `/readyz` 503, clients told
//! by `status`), then recovers by itself once there is room again, having
//! lost nothing it acknowledged. A data directory that cannot be opened
//! (read-only, or not a directory) or is in use by another process stops
//! the start with one line naming the path and exit status 1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::inbox::Inbox;
use common::process::Process;
use common::ws::Client;
use serde_json::{json, Value};

/// A guard on the number of messages sent to fill the disk: far more than
/// the tmpfs holds, so reaching it means the store never failed.
const MOST_MESSAGES: usize = 20_000;

/// A directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "parley-store-failure-{name}-{}-{}",
            std::process::id(),
            common::free_port()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make the test's directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tmpfs mounted by the test, unmounted (and its directory removed) on
/// drop.
struct Tmpfs(TempDir);

impl Tmpfs {
    /// A tmpfs of `options` (`size=…`, `ro`, …), or `None`, said on
    /// standard error, where this process may not mount (not root).
    fn mount(name: &str, options: &str) -> Option<Tmpfs> {
        let dir = TempDir::new(name);
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir.0)
            .status();
        match status {
            Ok(status) if status.success() => Some(Tmpfs(dir)),
            other => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs on {} ({other:?}); run as root",
                    dir.0.display()
                );
                None
            }
        }
    }

    fn path(&self) -> &Path {
        &self.0 .0
    }

    /// Mounts it again with `options` (e.g. a bigger size).
    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a process killed a moment ago may still hold the file.
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// The binary on `dir` with the per-client limits lifted and room for
/// every message in history and in a welcome.
fn start(dir: &Path) -> Process {
    let dir = dir.to_str().expect("a UTF-8 path").to_owned();
    let args: Vec<String> = [
        "--workers",
        "1",
        "--data-dir",
        &dir,
        "--history-size",
        "100000",
        "--max-room-history-bytes",
        "1000000000",
        "--max-outbox-bytes",
        "100000000",
        "--rate-burst",
        "1000000",
        "--rate-per-sec",
        "1000000",
        "--address-rate-burst",
        "1000000",
        "--address-rate-per-sec",
        "1000000",
        "--room-rate-burst",
        "1000000",
        "--room-rate-per-sec",
        "1000000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Process::start(&args)
}

/// `/readyz`: its status code and body.
async fn readyz(server: &Process) -> (u16, Value) {
    let response = reqwest::get(format!("{}/readyz", server.base()))
        .await
        .expect("/readyz answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// The binary started on `dir` expecting it to refuse: its exit code and
/// standard error.
fn refused_start(dir: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "info")
        .output()
        .expect("run parley");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// What one `say` came to while the disk fills.
enum Outcome {
    Acked(Value),
    /// The store failed with this message decided: its ack waits.
    Held,
    /// Refused with `degraded`.
    Refused(Value),
}

async fn say(ann: &mut Client, i: usize, text: &str) -> Outcome {
    ann.send(json!({"type": "say", "text": text, "ref": format!("r{i}")}))
        .await;
    loop {
        let frame = ann.next().await;
        match frame["type"].as_str() {
            Some("ack") => return Outcome::Acked(frame),
            Some("status") if frame["degraded"] == true => return Outcome::Held,
            Some("error") => return Outcome::Refused(frame),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_full_disk_degrades_the_instance_until_there_is_room_and_loses_nothing() {
    let Some(disk) = Tmpfs::mount("full", "size=1m") else {
        return;
    };
    let data = disk.path().join("data");
    let server = start(&data);
    let (mut ann, welcome) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let epoch = welcome["epoch"].clone();
    let text = "x".repeat(400);
    let mut acked = Vec::new();
    let mut held = None;
    let mut refused = None;
    for i in 0..MOST_MESSAGES {
        match say(&mut ann, i, &text).await {
            Outcome::Acked(ack) => acked.push(ack["id"].as_u64().expect("an id")),
            Outcome::Held => {
                held = Some(i);
                // The next one is refused, not held.
                match say(&mut ann, i + 1, &text).await {
                    Outcome::Refused(error) => refused = Some(error),
                    Outcome::Acked(_) | Outcome::Held => panic!("accepted while degraded"),
                }
                break;
            }
            Outcome::Refused(error) => {
                refused = Some(error);
                break;
            }
        }
    }
    let refused = refused.expect("the disk filled up within the guard");
    assert_eq!(refused["code"], "degraded", "{refused}");
    assert!(refused["retry_ms"].as_u64().is_some(), "{refused}");
    let (status, body) = readyz(&server).await;
    assert_eq!((status, &body["status"]), (503, &json!("degraded")));
    assert!(server_alive(&server).await, "no panic");
    eprintln!(
        "disk full after {} acknowledged messages ({held:?} held)",
        acked.len()
    );

    disk.remount("size=64m");
    // The held message is written and acknowledged, and the instance says
    // it is well again.
    let mut recovered = false;
    while !recovered || held.is_some_and(|i| acked.len() <= i) {
        let frame = ann.next().await;
        match frame["type"].as_str() {
            Some("status") => recovered = frame["degraded"] == false,
            Some("ack") => acked.push(frame["id"].as_u64().expect("an id")),
            _ => {}
        }
    }
    assert_eq!(readyz(&server).await.0, 200);
    let (_, ack) = ann.say("after", "after").await;
    acked.push(ack["id"].as_u64().expect("an id"));
    let want: Vec<u64> = (1..=acked.len() as u64).collect();
    assert_eq!(acked, want, "acknowledged once each, in order");
    drop(ann);
    drop(server);

    // SIGKILLed (the drop): everything acknowledged is on the disk.
    let server = start(&data);
    let (_carol, everything) = Client::join_with(
        &server.ws_url(),
        json!({"type": "join", "nick": "carol", "room": "lobby", "since": 0, "epoch": epoch}),
    )
    .await;
    assert_eq!(everything["gap"], false);
    let ids: Vec<u64> = everything["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|m| m["id"].as_u64().expect("an id"))
        .collect();
    assert_eq!(ids, want, "every acknowledged message, once, in order");
}

/// The process answers `/healthz`.
async fn server_alive(server: &Process) -> bool {
    reqwest::get(format!("{}/healthz", server.base()))
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[test]
fn a_read_only_data_directory_stops_the_start_naming_the_path() {
    let Some(disk) = Tmpfs::mount("read-only", "ro,size=1m") else {
        return;
    };
    let (code, stderr) = refused_start(disk.path());
    assert_eq!(code, Some(1), "{stderr}");
    let file = disk.path().join("parley.redb");
    assert!(
        stderr.contains(&format!(
            "parley cannot start: cannot open the store {}",
            file.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_data_directory_that_is_a_file_stops_the_start_naming_the_path() {
    let dir = TempDir::new("file");
    let file = dir.0.join("not-a-directory");
    std::fs::write(&file, "").expect("write a file");
    let (code, stderr) = refused_start(&file);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot create the data directory {}",
            file.display()
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_second_process_on_the_same_directory_is_refused_naming_it() {
    let dir = TempDir::new("locked");
    let _first = start(&dir.0);
    let (code, stderr) = refused_start(&dir.0);
    assert_eq!(code, Some(1), "{stderr}");
    let shown = dir.0.canonicalize().expect("the directory exists");
    assert!(
        stderr.contains(&format!(
            "the data directory {} is in use by another process",
            shown.display()
        )),
        "{stderr}"
    );
}
