//! `parley config` against the real programs it configures, and against
//! the copies of its output kept in the repository.
//!
//! - nginx and Apache: the site `parley config nginx|apache` prints for the
//!   test server's port is loaded by a real nginx (`nginx -t` first) or a
//!   real Debian apache2 (`apache2 -t` first, mod_proxy_http and friends),
//!   on a free loopback port; then two WebSocket clients sending a
//!   browser's `Origin` chat through it (so `Host` is kept and upgrades
//!   pass), a long-polling client chats with them (so nothing holds a poll
//!   back: the hang guard is shorter than the poll wait), and `/metrics`
//!   answers loopback but not another address. Both at the root and under
//!   `--base-path /chat`. And headless Chromium (`common/browser.rs`): two
//!   pages on WebSocket and one forced to long-polling chat through the
//!   printed nginx site under `/chat`.
//! - systemd: `systemd-analyze verify` accepts the unit
//!   `parley config systemd` prints (pointed at this build's binary), with
//!   no warning.
//! - The binary: `parley config iis` prints what the library renders and
//!   exits 0; a target it does not know is refused.
//! - docs/DEPLOY.md: every fenced block after a `<!-- parley config ... -->`
//!   marker is exactly what that command prints.
//!
//! Needs `/usr/sbin/nginx` and `/usr/sbin/apache2` (`scripts/test`
//! installs them). Waits are bounded hang guards, never timing assertions.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::apache::Apache;
use common::browser::{log_in, say, wait_all_acknowledged, wait_message, wait_transport, Driver};
use common::inbox::Inbox;
use common::nginx::Nginx;
use common::poll::PollClient;
use common::ws;
use parley::Command;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// What `parley ARGS` prints (ARGS starting with `config`).
fn printed(args: &[&str]) -> String {
    match Command::parse_args(std::iter::once("parley").chain(args.iter().copied())) {
        Ok(Command::Print(text)) => text,
        Ok(other) => panic!("parley {args:?} does not print: {other:?}"),
        Err(err) => panic!("parley {args:?}: {err}"),
    }
}

/// The site `parley config TARGET` prints for a server on `port` started
/// with `extra` flags.
fn site_for(target: &str, port: u16, extra: &[&str]) -> String {
    let port = port.to_string();
    let mut args = vec!["config", target, "--port", &port];
    args.extend_from_slice(extra);
    printed(&args)
}

/// A WebSocket client through the proxy at `origin` (`http://127.0.0.1:P`),
/// sending that origin as a browser on the proxy's page would, joined to
/// `room` as `nick`.
async fn ws_join(origin: &str, base: &str, nick: &str, room: &str) -> ws::Client {
    let url = format!("{}{base}/ws", origin.replacen("http://", "ws://", 1));
    let mut request = url.as_str().into_client_request().expect("a WebSocket URL");
    request
        .headers_mut()
        .insert("Origin", origin.parse().expect("an origin header"));
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .unwrap_or_else(|e| panic!("WebSocket through the proxy at {url}: {e}"));
    let mut client = ws::Client::from_socket(socket);
    client
        .send(json!({"type": "join", "nick": nick, "room": room}))
        .await;
    client.expect("welcome").await;
    client
}

fn text_of(message: &Value) -> &str {
    message["text"].as_str().expect("a message's text")
}

/// Two WebSocket clients and a long-polling one chat through the proxy at
/// `origin`, with Parley under `base`; `/metrics` answers loopback only.
async fn chat_through(origin: &str, base: &str) {
    let room = "through-the-proxy";
    let mut ann = ws_join(origin, base, "ann", room).await;
    let mut bob = ws_join(origin, base, "bob", room).await;
    ann.say("hello bob", "a1").await;
    assert_eq!(text_of(&bob.until("message").await), "hello bob");
    bob.say("hello ann", "b1").await;
    assert_eq!(text_of(&ann.until("message").await), "hello ann");

    let (mut cy, _) = PollClient::open(&format!("{origin}{base}"), "cy", room).await;
    ann.say("hello cy", "a2").await;
    assert_eq!(text_of(&cy.until("message").await), "hello cy");
    assert_eq!(text_of(&bob.until("message").await), "hello cy");
    cy.say("hello all", "c1").await;
    for client in [&mut ann, &mut bob] {
        assert_eq!(text_of(&client.until("message").await), "hello all");
    }

    let metrics = format!("{origin}{base}/metrics");
    let status = |from: IpAddr| {
        let metrics = metrics.clone();
        async move {
            reqwest::Client::builder()
                .local_address(from)
                .build()
                .expect("an HTTP client")
                .get(&metrics)
                .send()
                .await
                .expect("a metrics request")
                .status()
        }
    };
    assert_eq!(status(IpAddr::V4(Ipv4Addr::LOCALHOST)).await, 200);
    assert_eq!(status(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).await, 403);
    ann.close().await;
    bob.close().await;
}

#[tokio::test]
async fn nginx_with_the_printed_site_carries_both_transports() {
    let server = common::start(&[]);
    let nginx = Nginx::start_site(&site_for("nginx", server.port, &[])).await;
    chat_through(&nginx.url(""), "").await;
    drop(nginx);
    server.stop().await;
}

#[tokio::test]
async fn nginx_with_the_printed_site_under_a_base_path() {
    let server = common::start(&["--base-path", "/chat"]);
    let nginx = Nginx::start_site(&site_for("nginx", server.port, &["--base-path", "/chat"])).await;
    chat_through(&nginx.url(""), "/chat").await;
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
        .get(nginx.url("/chat"))
        .send()
        .await
        .expect("a request for /chat");
    assert_eq!(bare.status(), 301);
    drop(nginx);
    server.stop().await;
}

#[tokio::test]
async fn apache_with_the_printed_site_carries_both_transports() {
    let server = common::start(&[]);
    let apache = Apache::start(&site_for("apache", server.port, &[])).await;
    chat_through(&apache.url(""), "").await;
    drop(apache);
    server.stop().await;
}

#[tokio::test]
async fn apache_with_the_printed_site_under_a_base_path() {
    let server = common::start(&["--base-path", "/chat"]);
    let apache = Apache::start(&site_for("apache", server.port, &["--base-path", "/chat"])).await;
    chat_through(&apache.url(""), "/chat").await;
    drop(apache);
    server.stop().await;
}

#[tokio::test]
async fn browsers_chat_through_the_printed_nginx_site_under_a_base_path() {
    let server = common::start(&["--base-path", "/chat"]);
    let nginx = Nginx::start_site(&site_for("nginx", server.port, &["--base-path", "/chat"])).await;
    let driver = Driver::start("printed-nginx").await;
    let ann = driver.browser().await;
    let bob = driver.browser().await;
    let cy = driver.browser().await;
    log_in(&ann, &nginx.url("/chat/?room=printed"), "ann").await;
    log_in(&bob, &nginx.url("/chat/?room=printed"), "bob").await;
    log_in(
        &cy,
        &nginx.url("/chat/?room=printed&transport=polling"),
        "cy",
    )
    .await;
    wait_transport(&ann, "ann", "websocket").await;
    wait_transport(&bob, "bob", "websocket").await;
    wait_transport(&cy, "cy", "polling").await;
    let pages = [(&ann, "ann"), (&bob, "bob"), (&cy, "cy")];
    for (from, sender) in pages {
        let text = format!("{sender}, through the printed site");
        say(from, &text).await;
        for (to, reader) in pages {
            wait_message(to, reader, &text).await;
        }
        wait_all_acknowledged(from, sender).await;
    }
    for browser in [ann, bob, cy] {
        browser.close().await.expect("end the browser session");
    }
    drop(driver);
    drop(nginx);
    server.stop().await;
}

#[test]
fn the_binary_prints_the_configuration_and_exits() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
            .args(args)
            .env_remove("PORT")
            .output()
            .expect("run parley")
    };
    let iis = run(&["config", "iis", "--base-path", "/chat"]);
    assert!(iis.status.success(), "{iis:?}");
    assert_eq!(
        String::from_utf8_lossy(&iis.stdout),
        printed(&["config", "iis", "--base-path", "/chat"])
    );
    let unknown = run(&["config", "caddy"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nginx"));
}

#[test]
fn systemd_accepts_the_printed_unit_without_a_warning() {
    let analyze = "/usr/bin/systemd-analyze";
    assert!(
        std::path::Path::new(analyze).exists(),
        "{analyze} is missing: run scripts/test, which installs systemd, or install it yourself"
    );
    let unit = printed(&[
        "config",
        "systemd",
        "--port",
        "3000",
        "--base-path",
        "/chat",
    ]);
    let unit = unit.replacen(
        "ExecStart=/usr/local/bin/parley\n",
        &format!("ExecStart={}\n", env!("CARGO_BIN_EXE_parley")),
        1,
    );
    assert!(
        unit.contains(env!("CARGO_BIN_EXE_parley")),
        "ExecStart moved"
    );
    let dir = std::env::temp_dir().join(format!("parley-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the unit");
    let path = dir.join("parley.service");
    std::fs::write(&path, unit).expect("write the unit");
    let verify = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let _ = std::fs::remove_dir_all(&dir);
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {}\n{complaints}",
        verify.status
    );
}

/// Each `<!-- parley config ... -->` marker in `doc` with the fenced block
/// that follows it: (the command's arguments, the block's text).
fn marked_blocks(doc: &str) -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(command) = line
            .trim()
            .strip_prefix("<!-- parley ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let args: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        let fence = lines
            .next()
            .unwrap_or_else(|| panic!("nothing after the marker for {command}"));
        assert!(
            fence.starts_with("```"),
            "the marker for {command} is not followed at once by a fenced block"
        );
        let mut block = String::new();
        for line in lines.by_ref() {
            if line == "```" {
                break;
            }
            block.push_str(line);
            block.push('\n');
        }
        found.push((args, block));
    }
    found
}

#[test]
fn deploy_md_shows_what_parley_config_prints() {
    let doc = include_str!("../docs/DEPLOY.md");
    let blocks = marked_blocks(doc);
    for target in ["nginx", "apache", "iis", "systemd"] {
        assert!(
            blocks.iter().any(|(args, _)| args[1] == target),
            "DEPLOY.md shows no `parley config {target}` block"
        );
    }
    for (args, block) in blocks {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(
            block,
            printed(&args),
            "DEPLOY.md's block for `parley {}` is not what it prints; paste its output (run with no PARLEY_* variables set)",
            args.join(" ")
        );
    }
}
