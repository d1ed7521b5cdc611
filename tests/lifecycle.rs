//! Integration tests for the server's life around the chat: `/healthz`,
//! `/metrics` (connections, messages, deliveries), the page and its assets,
//! graceful stop through the library's stop path and through SIGTERM to the
//! real binary, and the binary's `--help`.

mod common;

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use clap::CommandFactory;
use common::inbox::Inbox;
use common::ws::{Client, Ended};
use serde_json::{json, Value};

const WS_CONNECTIONS: &str = "parley_connections{transport=\"websocket\"}";

/// A hang guard for the real binary: generous, never a performance bound.
const PROCESS_PATIENCE: Duration = Duration::from_secs(20);

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("HTTP request")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ASCII header")
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = common::start(&[]);
    let response = get(&server.url("/healthz")).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body, json!({"status": "ok"}));
    server.stop().await;
}

#[tokio::test]
async fn the_connection_gauge_follows_connections() {
    let server = common::start(&[]);
    server.wait_metric(WS_CONNECTIONS, 0.0).await;
    let first = Client::connect(&server.ws_url()).await;
    server.wait_metric(WS_CONNECTIONS, 1.0).await;
    let (second, _) = Client::join(&server.ws_url(), "ann", "lobby").await;
    server.wait_metric(WS_CONNECTIONS, 2.0).await;
    first.close().await;
    server.wait_metric(WS_CONNECTIONS, 1.0).await;
    second.close().await;
    server.wait_metric(WS_CONNECTIONS, 0.0).await;
    server.wait_metric("parley_users", 0.0).await;
    server.stop().await;
}

#[tokio::test]
async fn messages_and_deliveries_are_counted() {
    let server = common::start(&[]);
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "lobby").await;
    ann.expect("joined").await;
    server.wait_metric("parley_users", 2.0).await;
    let deliveries_before = server.metric("parley_deliveries_total").await;
    assert_eq!(server.metric("parley_messages_in_total").await, 0.0);
    for i in 0..3 {
        // No ref, so no ack: each message is exactly one delivery per member.
        ann.send(json!({"type": "say", "text": format!("m{i}")}))
            .await;
        ann.expect("message").await;
        bob.expect("message").await;
    }
    server.wait_metric("parley_messages_in_total", 3.0).await;
    server
        .wait_metric("parley_deliveries_total", deliveries_before + 6.0)
        .await;
    server.stop().await;
}

#[tokio::test]
async fn the_page_is_served_with_a_csp_and_links_its_script() {
    let server = common::start(&[]);
    let response = get(&server.url("/")).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(header(&response, "content-type").starts_with("text/html"));
    let csp = header(&response, "content-security-policy").to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = response.text().await.expect("page body");
    let start = html.find("/assets/").expect("page links its script");
    let end = start + html[start..].find('"').expect("closing quote");
    let script = get(&server.url(&html[start..end])).await;
    assert_eq!(script.status().as_u16(), 200);
    assert!(header(&script, "content-type").contains("javascript"));
    assert!(!script.text().await.expect("script body").is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_asset_is_a_json_404() {
    let server = common::start(&[]);
    let response = get(&server.url("/assets/nope.js")).await;
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "not_found");
    server.stop().await;
}

#[tokio::test]
async fn a_graceful_stop_closes_every_client_with_1001() {
    let server = common::start(&[]);
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "lobby").await;
    let (mut bob, _) = Client::join(&server.ws_url(), "bob", "kitchen").await;
    let stopped = tokio::time::timeout(PROCESS_PATIENCE, async {
        tokio::join!(server.stop(), ann.ended(), bob.ended())
    })
    .await
    .expect("the stop completes");
    assert_eq!(stopped.1, Ended::Closed(1001));
    assert_eq!(stopped.2, Ended::Closed(1001));
}

/// A port that was free a moment ago (the binary does not report the port
/// it picks for `--port 0`).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Polls `/healthz` until the freshly started binary answers.
async fn wait_until_healthy(base: &str, child: &mut tokio::process::Child) {
    let deadline = tokio::time::Instant::now() + PROCESS_PATIENCE;
    loop {
        if let Ok(response) = reqwest::get(format!("{base}/healthz")).await {
            if response.status().is_success() {
                return;
            }
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

#[tokio::test]
async fn sigterm_stops_the_binary_gracefully() {
    let port = free_port().to_string();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["--port", &port, "--bind", "127.0.0.1", "--workers", "1"])
        .args(["--data-dir", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("parley starts");
    let base = format!("http://127.0.0.1:{port}");
    wait_until_healthy(&base, &mut child).await;
    let (mut ann, _) = Client::join(&format!("ws://127.0.0.1:{port}/ws"), "ann", "lobby").await;

    let pid = child.id().expect("running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    assert_eq!(ann.ended().await, Ended::Closed(1001));
    let status = tokio::time::timeout(PROCESS_PATIENCE, child.wait())
        .await
        .expect("parley exits after SIGTERM")
        .expect("exit status");
    assert!(status.success(), "{status}");
}

#[test]
fn help_lists_every_option() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("--help")
        .output()
        .expect("parley runs");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("UTF-8 help");
    for name in [
        "--port",
        "--history-size",
        "--allowed-origins",
        "--rate-burst",
        "--max-outbox-bytes",
    ] {
        assert!(help.contains(name), "--help lacks {name}:\n{help}");
    }
    let command = parley::Config::command();
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(long) = arg.get_long() {
            assert!(
                help.contains(&format!("--{long}")),
                "--help lacks --{long}:\n{help}"
            );
        }
    }
}
