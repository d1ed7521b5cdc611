//! The chat features of issue 15 in a real browser (headless Chromium over
//! WebDriver, see `common/browser.rs`):
//!
//! - an empty room greets the reader with who is there, until the first
//!   message; a mention of the reader in it is highlighted;
//! - a sender's messages in a row are grouped (the name and time shown
//!   once), under one "Today" date line;
//! - a message arriving while the reader is scrolled up gets a "New"
//!   divider and a jump button that counts it; the button jumps to the
//!   end and goes, and the focus is back in the message box;
//! - a restart of the server with nothing missed leaves one quiet
//!   "Reconnected." line per page, says nothing about missing messages,
//!   and announces nobody joining again;
//! - Join waits for a server that is away, saying so by the button;
//! - a room in the address the server would refuse is reported against
//!   the room, the nickname stays valid, and the suggested room works.
//!
//! Every wait is on a condition in the page (bounded, as a hang guard);
//! nothing here sleeps or measures how fast anything is.

mod common;

use common::browser::{
    eventually, log_in, say, screenshot, submit_nick, texts_of, wait_all_acknowledged,
    wait_message, wait_text, Driver,
};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

/// Runs `script` in `browser` and returns what it returns.
async fn run(browser: &Client, script: &str) -> Value {
    browser
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("run {script:?}: {e}"))
}

/// Whether the end of the message list is in view (as the page judges it).
const AT_END: &str = "const list = document.getElementById('messages');
    return list.scrollHeight - list.scrollTop - list.clientHeight < 48;";

/// Sends `text` (which may hold newlines) from the message box with Enter.
async fn say_lines(browser: &Client, text: &str) {
    browser
        .execute(
            "const box = document.getElementById('message-input');
             box.value = arguments[0];
             box.dispatchEvent(new InputEvent('input'));
             box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));",
            vec![json!(text)],
        )
        .await
        .expect("send from the box");
}

/// The id of the focused element.
async fn focused(browser: &Client) -> Option<String> {
    browser
        .active_element()
        .await
        .expect("the focused element")
        .attr("id")
        .await
        .expect("its id")
}

#[tokio::test]
async fn the_list_greets_groups_dates_and_keeps_new_messages_below_a_divider() {
    let server = common::start(&[]);
    let driver = Driver::start("page-features").await;
    let ann = driver.browser().await;
    let bob = driver.browser().await;

    // An empty room greets the reader, with who is there.
    log_in(&ann, &server.url("/#features"), "ann").await;
    wait_text(&ann, "#messages li.empty-room", "the greeting", |t| {
        t.contains("No messages yet in #features — say hello.")
            && t.contains("You are the only one here.")
    })
    .await;
    log_in(&bob, &server.url("/#features"), "bob").await;
    wait_text(
        &ann,
        "#messages li.empty-room",
        "bob in the greeting",
        |t| t.contains("bob is here too."),
    )
    .await;
    screenshot(&ann, "page-features-empty-room.png").await;

    // bob's first message ends it, and its mention of ann stands out.
    say(&bob, "hello ann, welcome").await;
    wait_message(&ann, "ann", "hello ann, welcome").await;
    assert!(
        texts_of(&ann, "#messages li.empty-room")
            .await
            .expect("the list")
            .is_empty(),
        "the greeting goes with the first message"
    );
    assert_eq!(
        texts_of(&ann, "#messages li.mentioned mark.mention")
            .await
            .expect("the marks"),
        ["ann"]
    );

    // bob's messages in a row are one group under one date line.
    for text in ["one", "two", "three"] {
        say(&bob, text).await;
    }
    wait_message(&ann, "ann", "three").await;
    let shape: Value = run(
        &ann,
        "return [...document.querySelectorAll('#messages > li')].map((li) => {
            const nick = li.querySelector('.nick');
            return {
                kind: li.classList.contains('day-separator') ? 'day'
                    : li.classList.contains('message') ? 'message' : li.className,
                text: li.classList.contains('message') ? li.querySelector('.text').textContent : li.textContent,
                continued: li.classList.contains('continued'),
                nickShown: nick ? nick.getBoundingClientRect().width > 1 : null,
            };
        }).filter((item) => item.kind === 'day' || item.kind === 'message');",
    )
    .await;
    assert_eq!(
        shape,
        json!([
            {"kind": "day", "text": "Today", "continued": false, "nickShown": null},
            {"kind": "message", "text": "hello ann, welcome", "continued": false, "nickShown": true},
            {"kind": "message", "text": "one", "continued": true, "nickShown": false},
            {"kind": "message", "text": "two", "continued": true, "nickShown": false},
            {"kind": "message", "text": "three", "continued": true, "nickShown": false},
        ]),
        "one date line, and bob's name once for the group"
    );
    screenshot(&ann, "page-features-grouped.png").await;

    // Enough to scroll, then ann reads back up and bob writes on.
    let tall: Vec<String> = (1..=60).map(|n| format!("line {n}")).collect();
    say_lines(&bob, &tall.join("\n")).await;
    wait_all_acknowledged(&bob, "bob").await;
    wait_message(&ann, "ann", &tall.join("\n")).await;
    eventually("ann's list to scroll", || async {
        let scrolls = run(
            &ann,
            "const list = document.getElementById('messages');
             return list.scrollHeight > list.clientHeight + 200;",
        )
        .await;
        (scrolls == json!(true))
            .then_some(())
            .ok_or("it fits".to_owned())
    })
    .await;
    run(&ann, "document.getElementById('messages').scrollTop = 0;").await;
    assert_eq!(run(&ann, AT_END).await, json!(false));
    assert!(
        texts_of(&ann, "#messages li.unread-divider")
            .await
            .expect("the list")
            .is_empty(),
        "no divider while ann saw everything arrive"
    );
    say(&bob, "while you were reading").await;
    wait_text(&ann, "#jump-new", "the jump button", |t| {
        t.contains("1 new message")
    })
    .await;
    let below: Value = run(
        &ann,
        "const divider = document.querySelector('#messages > li.unread-divider');
         const next = divider && divider.nextElementSibling;
         return next && next.querySelector('.text') ? next.querySelector('.text').textContent : null;",
    )
    .await;
    assert_eq!(
        below,
        json!("while you were reading"),
        "the divider is above the new message"
    );
    assert_eq!(
        run(&ann, AT_END).await,
        json!(false),
        "the list stays where ann reads"
    );
    screenshot(&ann, "page-features-new-messages.png").await;

    ann.find(Locator::Css("#jump-new"))
        .await
        .expect("#jump-new")
        .click()
        .await
        .expect("click the jump button");
    eventually("the jump to the end", || async {
        let at_end = run(&ann, AT_END).await;
        let hidden = run(&ann, "return document.getElementById('jump-new').hidden;").await;
        (at_end == json!(true) && hidden == json!(true))
            .then_some(())
            .ok_or(format!("at the end: {at_end}, button hidden: {hidden}"))
    })
    .await;
    assert_eq!(focused(&ann).await.as_deref(), Some("message-input"));

    // Sending takes the divider away and leaves the focus in the box, also
    // when the Send button was used.
    ann.find(Locator::Css("#message-input"))
        .await
        .expect("the box")
        .send_keys("back with you")
        .await
        .expect("type");
    ann.find(Locator::Css("#message-form button[type=submit]"))
        .await
        .expect("Send")
        .click()
        .await
        .expect("click Send");
    wait_message(&ann, "ann", "back with you").await;
    assert_eq!(focused(&ann).await.as_deref(), Some("message-input"));
    assert!(
        texts_of(&ann, "#messages li.unread-divider")
            .await
            .expect("the list")
            .is_empty(),
        "the divider goes once ann writes"
    );

    for browser in [ann, bob] {
        browser.close().await.expect("end the browser session");
    }
    drop(driver);
}

/// A directory of the test's own, removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The notices a page shows.
async fn notices(browser: &Client) -> Vec<String> {
    texts_of(browser, "#messages li.notice")
        .await
        .expect("the notices")
}

#[tokio::test]
async fn a_restart_with_nothing_missed_leaves_one_quiet_line_and_no_arrivals() {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "parley-features-restart-{}-{}",
        std::process::id(),
        common::free_port()
    )));
    let data = dir.0.to_str().expect("a UTF-8 path").to_owned();
    let server = common::start(&["--data-dir", &data]);
    let port = server.port.to_string();
    let driver = Driver::start("page-features-restart").await;
    let ann = driver.browser().await;
    let bob = driver.browser().await;
    log_in(&ann, &server.url("/#restart"), "ann").await;
    log_in(&bob, &server.url("/#restart"), "bob").await;
    for browser in [&ann, &bob] {
        wait_text(browser, "#count", "both in", |t| t == "2").await;
    }
    say(&ann, "before").await;
    wait_message(&bob, "bob", "before").await;
    let before = [notices(&ann).await, notices(&bob).await];

    server.stop().await;
    for (browser, who) in [(&ann, "ann"), (&bob, "bob")] {
        wait_text(
            browser,
            "#messages",
            &format!("{who} to see the drop"),
            |t| t.contains("Connection lost; reconnecting…"),
        )
        .await;
    }
    let server = common::start(&["--data-dir", &data, "--port", &port]);
    for (browser, who) in [(&ann, "ann"), (&bob, "bob")] {
        wait_text(browser, "#messages", &format!("{who} to be back"), |t| {
            t.contains("Reconnected.")
        })
        .await;
        eventually(&format!("{who} to see both again"), || async {
            let count = common::browser::text_of(browser, "#count").await?;
            (count == "2").then_some(()).ok_or(count)
        })
        .await;
    }
    // Something said after both are back, so anything the restart would
    // announce has been drawn by the time it shows.
    say(&bob, "after").await;
    wait_message(&ann, "ann", "after").await;
    wait_message(&bob, "bob", "after").await;
    screenshot(&ann, "page-features-restart.png").await;

    for ((browser, who), before) in [(&ann, "ann"), (&bob, "bob")].into_iter().zip(before) {
        let after = notices(browser).await;
        let added: Vec<&String> = after.iter().skip(before.len()).collect();
        assert_eq!(
            added,
            ["Reconnected."],
            "{who}: one line for the restart, and nobody joined again; all: {after:?}"
        );
        assert!(
            !after.iter().any(|t| t.contains("may be missing")),
            "{who}: {after:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn join_waits_for_a_server_that_is_away_and_a_bad_room_is_the_rooms_fault() {
    let server = common::start(&[]);
    let port = server.port.to_string();
    let driver = Driver::start("page-features-join").await;
    let ann = driver.browser().await;

    // A room in the address the server would refuse.
    ann.goto(&server.url("/#My%20Room!"))
        .await
        .expect("open the page");
    wait_text(&ann, "#room-error", "the room's problem", |t| {
        t.contains("cannot be a room") && t.contains("Join #my-room instead")
    })
    .await;
    submit_nick(&ann, "ann").await;
    let invalid = ann
        .find(Locator::Css("#nick-input"))
        .await
        .expect("#nick-input")
        .attr("aria-invalid")
        .await
        .expect("aria-invalid");
    assert_ne!(invalid.as_deref(), Some("true"), "the nickname is fine");
    assert_eq!(
        common::browser::content_of(&ann, "#nick-error")
            .await
            .expect("#nick-error"),
        ""
    );
    assert_eq!(
        focused(&ann).await.as_deref(),
        Some("room-suggestion"),
        "Join refused for the room offers the suggestion"
    );
    screenshot(&ann, "page-features-bad-room.png").await;
    ann.find(Locator::Css("#room-suggestion"))
        .await
        .expect("the suggestion")
        .click()
        .await
        .expect("follow it");
    wait_text(&ann, "#login-room", "the suggested room", |t| {
        t == "#my-room"
    })
    .await;
    assert_eq!(
        common::browser::content_of(&ann, "#room-error")
            .await
            .expect("#room-error"),
        ""
    );

    // The server goes away; Join waits for it, and says so.
    server.stop().await;
    wait_text(&ann, "#conn-state", "the page to notice", |t| {
        t != "Connected"
    })
    .await;
    submit_nick(&ann, "ann").await;
    wait_text(&ann, "#join-status", "the wait by the button", |t| {
        t == "Waiting for the server…"
    })
    .await;
    screenshot(&ann, "page-features-join-waiting.png").await;
    let server = common::start(&["--port", &port]);
    ann.find(Locator::Css("#reconnect-now"))
        .await
        .expect("#reconnect-now")
        .click()
        .await
        .ok();
    eventually("ann to reach the chat", || async {
        let shown = ann
            .find(Locator::Css("#message-input"))
            .await
            .map_err(|e| e.to_string())?
            .is_displayed()
            .await
            .map_err(|e| e.to_string())?;
        shown
            .then_some(())
            .ok_or("still on the nickname screen".to_owned())
    })
    .await;
    wait_text(&ann, "#room-name", "the room", |t| t == "#my-room").await;

    ann.close().await.expect("end the browser session");
    drop(driver);
    server.stop().await;
}
