//! The chat page in real browsers: headless Chromium driven over WebDriver
//! (chromedriver, see `common/browser.rs`), against the real server on
//! port 0. Two people log in, see each other, type, chat, and a third joins
//! later and sees the history; a WebSocket user and a long-polling user
//! chat; and on a server that offers only long-polling the page uses it by
//! itself. Screenshots land in `test-artifacts/` for a human to look at.
//! Proxies in between are `proxy_browser.rs`'s business.

mod common;

use common::browser::{
    content_of, eventually, log_in, roster_nicks, say, screenshot, submit_nick, texts_of,
    wait_all_acknowledged, wait_message, wait_text, wait_transport, Driver,
};
use fantoccini::key::Key;
use fantoccini::Locator;

#[tokio::test]
async fn people_chat_in_real_browsers() {
    let server = common::start(&[]);
    let driver = Driver::start("people-chat").await;
    let ann = driver.browser().await;
    let bob = driver.browser().await;

    // Both ways of naming a room in the URL lead to the same room.
    log_in(&ann, &server.url("/?room=qa"), "ann").await;
    log_in(&bob, &server.url("/#qa"), "bob").await;
    for (browser, who, other) in [(&ann, "ann", "bob"), (&bob, "bob", "ann")] {
        wait_text(browser, "#roster", &format!("{who} to list {other}"), |t| {
            t.contains(other)
        })
        .await;
        wait_text(browser, "#count", &format!("{who} to count 2"), |t| {
            t == "2"
        })
        .await;
        wait_text(browser, "#room-name", "the room name", |t| t == "#qa").await;
        wait_text(browser, "#conn-state", "connected", |t| t == "Connected").await;
        wait_text(browser, "#transport", "the transport", |t| t == "websocket").await;
    }
    wait_text(&ann, "#messages", "ann to be told bob joined", |t| {
        t.contains("bob joined — there are 2 participants")
    })
    .await;

    // Typing shows on the other side; sending ends it.
    let ann_box = ann
        .find(Locator::Css("#message-input"))
        .await
        .expect("#message-input");
    ann_box.send_keys("hello bob").await.expect("ann types");
    wait_text(&bob, "#typing", "bob to see ann typing", |t| {
        t.contains("ann is typing")
    })
    .await;
    ann_box
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("ann sends");
    wait_message(&bob, "bob", "hello bob").await;
    wait_text(&bob, "#typing", "ann's typing to end", str::is_empty).await;
    wait_all_acknowledged(&ann, "ann").await;
    wait_message(&ann, "ann", "hello bob").await;

    // Shift+Enter makes a new line; markup arrives as text, never as HTML.
    let reply = "hi ann\n<b>how</b> are you?";
    let bob_box = bob
        .find(Locator::Css("#message-input"))
        .await
        .expect("#message-input");
    let shift = Key::Shift.to_string();
    bob_box
        .send_keys(&format!(
            "hi ann{shift}{}{shift}<b>how</b> are you?",
            Key::Enter
        ))
        .await
        .expect("bob types two lines");
    bob_box
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("bob sends");
    wait_message(&ann, "ann", reply).await;
    let injected = ann
        .find_all(Locator::Css("#messages b"))
        .await
        .expect("query #messages");
    assert!(injected.is_empty(), "message text was inserted as HTML");

    screenshot(&ann, "browser-ann.png").await;
    screenshot(&bob, "browser-bob.png").await;

    // A latecomer: a taken nickname is refused with the server's reason,
    // then a free one gets in and sees the conversation so far.
    let cy = driver.browser().await;
    cy.set_window_size(390, 844)
        .await
        .expect("phone-sized window");
    cy.goto(&server.url("/#qa")).await.expect("open the page");
    submit_nick(&cy, "Ann").await;
    wait_text(&cy, "#nick-error", "the nick_taken reason", |t| {
        t.contains("taken")
    })
    .await;
    screenshot(&cy, "browser-cy-nick-taken.png").await;
    submit_nick(&cy, "cy").await;
    // On a phone-sized screen the roster folds behind a toggle.
    eventually("cy to count 3", || async {
        let count = content_of(&cy, "#count").await?;
        if count == "3" {
            Ok(())
        } else {
            Err(format!("#count = {count:?}"))
        }
    })
    .await;
    cy.find(Locator::Css("#roster-toggle"))
        .await
        .expect("#roster-toggle")
        .click()
        .await
        .expect("open the roster");
    wait_text(&cy, "#roster", "cy to list everyone", |t| {
        ["ann", "bob", "cy"].iter().all(|n| t.contains(n))
    })
    .await;
    wait_message(&cy, "cy", "hello bob").await;
    wait_message(&cy, "cy", reply).await;
    wait_text(&ann, "#messages", "ann to be told cy joined", |t| {
        t.contains("cy joined — there are 3 participants")
    })
    .await;
    screenshot(&cy, "browser-cy-phone.png").await;

    for browser in [ann, bob, cy] {
        browser.close().await.expect("end the browser session");
    }
    drop(driver);
    server.stop().await;
}

const WS_CONNECTIONS: &str = "parley_connections{transport=\"websocket\"}";
const POLL_CONNECTIONS: &str = "parley_connections{transport=\"polling\"}";

/// Waits until `who` has seen every text of `sent`, in that order.
async fn wait_in_order(browser: &fantoccini::Client, who: &str, sent: &[String]) {
    eventually(&format!("{who} to see {sent:?} in order"), || async {
        let texts = texts_of(browser, "#messages li.message:not(.pending) .text").await?;
        let seen: Vec<&String> = texts.iter().filter(|t| sent.contains(t)).collect();
        if seen.len() == sent.len() && seen.iter().zip(sent).all(|(a, b)| *a == b) {
            Ok(())
        } else {
            Err(format!("messages {texts:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn a_websocket_user_and_a_polling_user_chat() {
    let server = common::start(&[]);
    let driver = Driver::start("mixed-transports").await;
    let ann = driver.browser().await;
    let bob = driver.browser().await;

    log_in(&ann, &server.url("/#mixed"), "ann").await;
    // Over polling the first join opens the session; a refused one leaves
    // it open, and the next join travels through it.
    bob.goto(&server.url("/?transport=polling#mixed"))
        .await
        .expect("open the page");
    submit_nick(&bob, "ANN").await;
    wait_text(&bob, "#nick-error", "the nick_taken reason", |t| {
        t.contains("taken")
    })
    .await;
    submit_nick(&bob, "bob").await;
    wait_transport(&ann, "ann", "websocket").await;
    wait_transport(&bob, "bob", "polling").await;
    // The labels are true: the server sees one connection of each kind.
    server.wait_metric(WS_CONNECTIONS, 1.0).await;
    server.wait_metric(POLL_CONNECTIONS, 1.0).await;
    for (browser, who) in [(&ann, "ann"), (&bob, "bob")] {
        wait_text(browser, "#count", &format!("{who} to count 2"), |t| {
            t == "2"
        })
        .await;
    }

    // Typing and messages travel from the polling user...
    let bob_box = bob
        .find(Locator::Css("#message-input"))
        .await
        .expect("#message-input");
    bob_box.send_keys("hello ann").await.expect("bob types");
    wait_text(&ann, "#typing", "ann to see bob typing", |t| {
        t.contains("bob is typing")
    })
    .await;
    bob_box
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("bob sends");
    wait_message(&ann, "ann", "hello ann").await;
    wait_all_acknowledged(&bob, "bob").await;
    wait_message(&bob, "bob", "hello ann").await;

    // ...and to him, including markup, which stays text.
    say(&ann, "hi bob, <i>polling</i> works").await;
    wait_message(&bob, "bob", "hi bob, <i>polling</i> works").await;
    let injected = bob
        .find_all(Locator::Css("#messages i"))
        .await
        .expect("query #messages");
    assert!(injected.is_empty(), "message text was inserted as HTML");

    // A quick run of messages over polling arrives complete and in order.
    let run: Vec<String> = (1..=5).map(|i| format!("bob's line {i}")).collect();
    for line in &run {
        say(&bob, line).await;
    }
    wait_in_order(&ann, "ann", &run).await;
    wait_all_acknowledged(&bob, "bob").await;
    wait_in_order(&bob, "bob", &run).await;

    screenshot(&bob, "browser-polling-bob.png").await;
    for browser in [ann, bob] {
        browser.close().await.expect("end the browser session");
    }
    drop(driver);
    server.stop().await;
}

#[tokio::test]
async fn on_a_polling_only_server_the_plain_page_polls() {
    let server = common::start(&["--transports", "polling"]);
    let driver = Driver::start("polling-only").await;
    let ann = driver.browser().await;
    let bob = driver.browser().await;

    // No ?transport: the page reads what the server offers.
    log_in(&ann, &server.url("/"), "ann").await;
    log_in(&bob, &server.url("/"), "bob").await;
    for (browser, who) in [(&ann, "ann"), (&bob, "bob")] {
        wait_transport(browser, who, "polling").await;
        wait_text(browser, "#count", &format!("{who} to count 2"), |t| {
            t == "2"
        })
        .await;
    }
    server.wait_metric(POLL_CONNECTIONS, 2.0).await;
    assert_eq!(server.metric(WS_CONNECTIONS).await, 0.0);

    say(&ann, "anyone polling?").await;
    wait_message(&bob, "bob", "anyone polling?").await;
    say(&bob, "me, every 25 seconds at most").await;
    wait_message(&ann, "ann", "me, every 25 seconds at most").await;
    wait_all_acknowledged(&ann, "ann").await;
    wait_all_acknowledged(&bob, "bob").await;

    screenshot(&ann, "browser-polling-only-ann.png").await;
    for browser in [ann, bob] {
        browser.close().await.expect("end the browser session");
    }
    drop(driver);
    server.stop().await;
}

#[tokio::test]
async fn the_page_keeps_an_exact_roster_through_a_crowd() {
    // Rooms of 32 or more get arrivals and departures in `presence`
    // batches; the page must apply them and end with the exact roster.
    let server = common::start(&[]);
    let driver = Driver::start("crowd").await;
    let ann = driver.browser().await;
    log_in(&ann, &server.url("/?room=crowd"), "ann").await;
    let url = server.ws_url();
    let names: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
    let mut crowd = futures_util::future::join_all(
        names
            .iter()
            .map(|n| common::ws::Client::join(&url, n, "crowd")),
    )
    .await;
    wait_text(&ann, "#count", "ann to count 41", |t| t == "41").await;
    let staying = crowd.split_off(20);
    futures_util::future::join_all(crowd.into_iter().map(|(client, _)| client.close())).await;
    wait_text(&ann, "#count", "ann to count 21", |t| t == "21").await;
    let mut expected: std::collections::BTreeSet<String> = names[20..].iter().cloned().collect();
    expected.insert("ann".into());
    eventually("ann's roster to list exactly who stayed", || async {
        let listed = roster_nicks(&ann).await?;
        if listed == expected {
            Ok(())
        } else {
            Err(format!("roster {listed:?}"))
        }
    })
    .await;
    screenshot(&ann, "browser-crowd-ann.png").await;
    drop(staying);
    ann.close().await.expect("end the browser session");
    drop(driver);
    server.stop().await;
}
