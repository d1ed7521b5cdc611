//! The client library embedded in another site: `examples/embed/`, served
//! by a small static file server of this test on its own port (so a second
//! origin), loads `parley-client.js` from Parley and chats with it, in
//! headless Chromium (see `common/browser.rs`). Parley lists that origin in
//! `--allowed-origins`; one user is on WebSocket and the other on
//! long-polling, so the cross-origin module load, the WebSocket's Origin
//! check and CORS on `/poll` are all crossed, and a message goes each way.
//! A page on an origin that is not listed is told why, with the fix.

mod common;

use std::path::{Path, PathBuf};

use common::browser::{eventually, texts_of, wait_text, Driver};
use fantoccini::{Client, Locator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves the files of `dir` (GET only, no subfolders) on 127.0.0.1 until
/// the test ends; returns the port.
async fn serve_folder(dir: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the static server");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let dir = dir.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let target = head.split(' ').nth(1).unwrap_or("/");
                let path = target.split('?').next().unwrap_or("/");
                let name = match path.trim_start_matches('/') {
                    "" => "index.html",
                    name => name,
                };
                let found = (!name.contains('/') && !name.contains(".."))
                    .then(|| std::fs::read(dir.join(name)).ok())
                    .flatten();
                let (status, kind, body) = match found {
                    Some(body) if name.ends_with(".js") => ("200 OK", "text/javascript", body),
                    Some(body) => ("200 OK", "text/html; charset=utf-8", body),
                    None => ("404 Not Found", "text/plain", b"not found".to_vec()),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                     Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/embed")
}

/// Opens the example at `page` and asks to join as `nick` once the
/// library has wired the form and its status is one `ready` accepts.
async fn ask_to_join(browser: &Client, page: &str, nick: &str, ready: fn(&str) -> bool) {
    browser.goto(page).await.expect("open the example");
    let field = eventually(&format!("{nick}'s nickname field"), || async {
        browser
            .find(Locator::Css("#nick"))
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    // The library is imported before the form is wired.
    wait_text(
        browser,
        "#status",
        &format!("{nick}'s library to start"),
        ready,
    )
    .await;
    field.send_keys(nick).await.expect("type the nickname");
    browser
        .find(Locator::Css("#join"))
        .await
        .expect("#join")
        .click()
        .await
        .expect("join");
}

/// Opens the example at `page` and joins as `nick`; waits for the welcome.
async fn join(browser: &Client, page: &str, nick: &str) {
    ask_to_join(browser, page, nick, |t| t == "connected").await;
    wait_text(browser, "#log", &format!("{nick} to be welcomed"), |t| {
        t.contains(&format!("You are {nick} in #embed."))
    })
    .await;
}

async fn say(browser: &Client, text: &str) {
    let field = browser.find(Locator::Css("#text")).await.expect("#text");
    field.send_keys(text).await.expect("type");
    browser
        .find(Locator::Css("#send"))
        .await
        .expect("#send")
        .click()
        .await
        .expect("send");
}

/// Waits until `who` shows a message line `nick` + `text`.
async fn wait_line(browser: &Client, who: &str, nick: &str, text: &str) {
    let want = format!("{nick}{text}");
    eventually(&format!("{who} to see {nick}: {text}"), || async {
        let lines = texts_of(browser, "#log li.message").await?;
        let flat: Vec<String> = lines.iter().map(|l| l.replace(' ', "")).collect();
        if flat.iter().any(|l| *l == want.replace(' ', "")) {
            Ok(())
        } else {
            Err(format!("{lines:?}"))
        }
    })
    .await;
}

#[tokio::test]
async fn a_page_on_another_origin_chats_through_the_library() {
    let site = serve_folder(example_dir()).await;
    let origin = format!("http://127.0.0.1:{site}");
    let server = common::start(&["--allowed-origins", &origin]);
    let parley = server.url("/");
    let driver = Driver::start("client-embed").await;
    let ann = driver.browser().await;
    let bob = driver.browser().await;

    let page = |transport: &str| {
        format!("{origin}/index.html?server={parley}&room=embed&transport={transport}")
    };
    join(&ann, &page("websocket"), "ann").await;
    join(&bob, &page("polling"), "bob").await;
    wait_text(&ann, "#transport", "ann on WebSocket", |t| t == "websocket").await;
    wait_text(&bob, "#transport", "bob on polling", |t| t == "polling").await;
    wait_text(&ann, "#log", "ann to see bob join", |t| {
        t.contains("bob joined")
    })
    .await;

    say(&ann, "hello from <b>ann</b>").await;
    wait_line(&bob, "bob", "ann", "hello from <b>ann</b>").await;
    say(&bob, "hi ann, polling here").await;
    wait_line(&ann, "ann", "bob", "hi ann, polling here").await;
    // Each saw its own message come back, and the library resolved its say.
    wait_line(&ann, "ann", "ann", "hello from <b>ann</b>").await;
    wait_line(&bob, "bob", "bob", "hi ann, polling here").await;
    for (browser, who) in [(&ann, "ann"), (&bob, "bob")] {
        eventually(&format!("{who}'s message to be acknowledged"), || async {
            let acked = browser
                .find(Locator::Css("#log"))
                .await
                .map_err(|e| e.to_string())?
                .attr("data-acked")
                .await
                .map_err(|e| e.to_string())?;
            acked.ok_or_else(|| "no ack yet".to_string())
        })
        .await;
    }
    let injected = bob
        .find_all(Locator::Css("#log b"))
        .await
        .expect("query #log");
    assert!(injected.is_empty(), "message text was inserted as HTML");

    for browser in [ann, bob] {
        browser.close().await.expect("end the browser session");
    }
    drop(driver);
    server.stop().await;
}

#[tokio::test]
async fn a_page_on_an_unlisted_origin_is_told_why_it_is_refused() {
    let site = serve_folder(example_dir()).await;
    let origin = format!("http://127.0.0.1:{site}");
    // Another origin is listed, not this one.
    let server = common::start(&["--allowed-origins", "http://elsewhere.example"]);
    let parley = server.url("/");
    let driver = Driver::start("client-embed-refused").await;
    let browser = driver.browser().await;
    for transport in ["websocket", "polling"] {
        let page = format!("{origin}/index.html?server={parley}&room=embed&transport={transport}");
        // Refused, it never connects: any status but the page's own says
        // the library is running.
        ask_to_join(&browser, &page, "eve", |t| t != "loading").await;
        // The refusal is readable from this origin: the library stops with
        // the server's hint, which names the flag that would let it in.
        wait_text(
            &browser,
            "#problem",
            &format!("the refusal on {transport}"),
            |t| t.contains("--allowed-origins") && t.contains(&origin),
        )
        .await;
    }
    browser.close().await.expect("end the browser session");
    drop(driver);
    server.stop().await;
}
