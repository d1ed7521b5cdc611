//! The chat page behind a real nginx (`common/nginx.rs`), in headless
//! Chromium (`common/browser.rs`): a proxy that passes WebSocket upgrades
//! on, one that strips them (the page falls back to long-polling by itself
//! and remembers that for the tab), one that holds them unanswered (the
//! page stops waiting and polls), a server mounted under a base path, and
//! a proxy that starts refusing upgrades under a page already connected
//! (polling takes over and no message is lost either way), and one that is
//! down for a while (an outage, after which the page keeps WebSocket); and
//! a polling page that outlives the server behind the proxy.
//!
//! Needs `/usr/sbin/nginx`, `/usr/bin/chromium` and `/usr/bin/chromedriver`
//! (`scripts/test` installs them). Waits are bounded hang guards, never
//! timing assertions.

mod common;

use common::browser::{
    eventually, log_in, say, screenshot, session_storage, submit_nick, texts_of,
    wait_all_acknowledged, wait_message, wait_text, wait_transport, Driver,
};
use common::nginx::{Nginx, Proxy, Upgrades};
use fantoccini::{Client, Locator};
use serde_json::Value;

const WS_CONNECTIONS: &str = "parley_connections{transport=\"websocket\"}";
const POLL_CONNECTIONS: &str = "parley_connections{transport=\"polling\"}";

/// Where the page (assets/js/storage.js) remembers a fallback, for a page served at the root.
const FALLBACK_KEY: &str = "parley.transport:";

/// A Parley server behind nginx, and two browsers (ann and bob) on one
/// chromedriver: what every test here starts from.
struct Stack {
    server: common::TestServer,
    nginx: Nginx,
    proxy: Proxy,
    driver: Driver,
    ann: Client,
    bob: Client,
}

impl Stack {
    /// Starts Parley with `args`, nginx forwarding `location` with
    /// `upgrades`, and the browsers, logging chromedriver as `label`.
    async fn start(
        args: &[&str],
        location: &'static str,
        upgrades: Upgrades,
        label: &str,
    ) -> Stack {
        let server = common::start(args);
        let proxy = Proxy {
            upstream: server.port,
            location,
            upgrades,
        };
        let nginx = Nginx::start(proxy).await;
        let driver = Driver::start(label).await;
        let ann = driver.browser().await;
        let bob = driver.browser().await;
        Stack {
            server,
            nginx,
            proxy,
            driver,
            ann,
            bob,
        }
    }
}

/// Ends a test from the outside in: the browsers first, then chromedriver,
/// nginx, and last the server, so no page reconnects into a half-stopped
/// stack.
async fn tear_down(
    browsers: [Client; 2],
    driver: Driver,
    nginx: Nginx,
    server: common::TestServer,
) {
    for browser in browsers {
        browser.close().await.expect("end the browser session");
    }
    drop(driver);
    drop(nginx);
    server.stop().await;
}

/// Each says something and the other sees it.
async fn chat_both_ways(a: (&Client, &str), b: (&Client, &str)) {
    for ((from, sender), (to, reader)) in [(a, b), (b, a)] {
        let text = format!("{sender} to {reader}, over the proxy");
        say(from, &text).await;
        wait_message(to, reader, &text).await;
        wait_all_acknowledged(from, sender).await;
    }
}

/// How often `text` is on `browser`'s message list.
async fn times_shown(browser: &Client, text: &str) -> usize {
    texts_of(browser, "#messages li.message:not(.pending) .text")
        .await
        .expect("read the messages")
        .iter()
        .filter(|t| *t == text)
        .count()
}

#[tokio::test]
async fn through_nginx_passing_upgrades_the_page_uses_websocket() {
    let Stack {
        server,
        nginx,
        driver,
        ann,
        bob,
        ..
    } = Stack::start(&[], "/", Upgrades::Pass, "nginx-websocket").await;

    log_in(&ann, &nginx.url("/?room=proxied"), "ann").await;
    log_in(&bob, &nginx.url("/?room=proxied"), "bob").await;
    for (browser, who) in [(&ann, "ann"), (&bob, "bob")] {
        wait_transport(browser, who, "websocket").await;
        assert_eq!(session_storage(browser, FALLBACK_KEY).await, None);
    }
    server.wait_metric(WS_CONNECTIONS, 2.0).await;
    chat_both_ways((&ann, "ann"), (&bob, "bob")).await;

    tear_down([ann, bob], driver, nginx, server).await;
}

#[tokio::test]
async fn through_nginx_stripping_upgrades_the_page_falls_back_to_polling() {
    let Stack {
        server,
        nginx,
        driver,
        ann,
        bob,
        ..
    } = Stack::start(&[], "/", Upgrades::Strip, "nginx-no-upgrade").await;

    // ann comes through the proxy, with the plain URL; bob straight to the
    // server, on WebSocket.
    log_in(&ann, &nginx.url("/?room=fallback"), "ann").await;
    log_in(&bob, &server.url("/?room=fallback"), "bob").await;
    wait_transport(&ann, "ann", "polling").await;
    wait_transport(&bob, "bob", "websocket").await;
    server.wait_metric(POLL_CONNECTIONS, 1.0).await;
    server.wait_metric(WS_CONNECTIONS, 1.0).await;
    assert_eq!(
        session_storage(&ann, FALLBACK_KEY).await.as_deref(),
        Some("polling"),
        "the fallback is remembered for the tab"
    );
    chat_both_ways((&ann, "ann"), (&bob, "bob")).await;
    screenshot(&ann, "proxy-fallback-polling-ann.png").await;
    // The fallback's probe succeeds, so the only failure the browser logs
    // is the WebSocket's own (which resource timing does not list).
    let failed: Value = ann
        .execute(
            "return performance.getEntriesByType('resource')
               .filter((e) => e.responseStatus >= 400 || e.name.includes('/poll/probe'))
               .map((e) => `${e.responseStatus} ${new URL(e.name).pathname}`);",
            vec![],
        )
        .await
        .expect("read the resource timings");
    let failed: Vec<&str> = failed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        failed.contains(&"200 /poll/probe") && failed.iter().all(|f| *f == "200 /poll/probe"),
        "the probe answered 200, and no request of the page failed: {failed:?}"
    );

    // Reloaded, the tab goes straight to polling and says why. (The old
    // page closes its session on the way out; once bob sees that, the
    // nickname is free again.)
    ann.refresh().await.expect("reload the page");
    wait_text(&bob, "#messages", "bob to see the old page leave", |t| {
        t.contains("ann left")
    })
    .await;
    submit_nick(&ann, "ann").await;
    wait_transport(&ann, "ann", "polling").await;
    let why = ann
        .find(Locator::Css("#transport"))
        .await
        .expect("#transport")
        .attr("title")
        .await
        .expect("its title");
    assert!(
        why.as_deref().is_some_and(|t| t.contains("earlier")),
        "#transport title: {why:?}"
    );
    say(&ann, "back after a reload").await;
    wait_message(&bob, "bob", "back after a reload").await;

    tear_down([ann, bob], driver, nginx, server).await;
}

#[tokio::test]
async fn through_nginx_holding_upgrades_the_page_stops_waiting_and_polls() {
    let Stack {
        server,
        nginx,
        driver,
        ann,
        bob,
        ..
    } = Stack::start(&[], "/", Upgrades::Stall, "nginx-stall").await;

    // The upgrade is neither answered nor refused; the page gives up on it
    // (after a few seconds) and polls.
    log_in(&ann, &nginx.url("/?room=stalled"), "ann").await;
    log_in(&bob, &server.url("/?room=stalled"), "bob").await;
    wait_transport(&ann, "ann", "polling").await;
    wait_transport(&bob, "bob", "websocket").await;
    assert_eq!(
        session_storage(&ann, FALLBACK_KEY).await.as_deref(),
        Some("polling")
    );
    chat_both_ways((&ann, "ann"), (&bob, "bob")).await;

    tear_down([ann, bob], driver, nginx, server).await;
}

#[tokio::test]
async fn an_outage_of_the_proxy_does_not_cost_the_tab_its_websocket() {
    let Stack {
        server,
        nginx,
        driver,
        ann,
        bob,
        proxy: upgrading,
    } = Stack::start(&[], "/", Upgrades::Pass, "nginx-outage").await;
    let port = nginx.port();

    log_in(&ann, &nginx.url("/?room=outage"), "ann").await;
    log_in(&bob, &server.url("/?room=outage"), "bob").await;
    wait_transport(&ann, "ann", "websocket").await;

    // Nothing answers at all, for three reconnects and more: an outage,
    // not a WebSocket problem, so it is no reason to poll from now on.
    drop(nginx);
    eventually("ann to fail three reconnects", || async {
        let attempt = ann
            .find(Locator::Css("#conn-state"))
            .await
            .map_err(|e| e.to_string())?
            .attr("data-attempt")
            .await
            .map_err(|e| e.to_string())?;
        match attempt.as_deref().map(str::parse::<u32>) {
            // The first is scheduled by the drop itself.
            Some(Ok(n)) if n > 3 => Ok(()),
            other => Err(format!("data-attempt = {other:?}")),
        }
    })
    .await;
    let nginx = Nginx::start_on(port, upgrading).await;
    wait_transport(&ann, "ann", "websocket").await;
    assert_eq!(session_storage(&ann, FALLBACK_KEY).await, None);
    chat_both_ways((&ann, "ann"), (&bob, "bob")).await;

    tear_down([ann, bob], driver, nginx, server).await;
}

#[tokio::test]
async fn a_polling_page_rides_out_a_server_restart() {
    let old = common::start(&[]);
    let nginx = Nginx::start(Proxy {
        upstream: old.port,
        location: "/",
        upgrades: Upgrades::Pass,
    })
    .await;
    let port = nginx.port();
    let driver = Driver::start("nginx-restart").await;
    let ann = driver.browser().await;
    log_in(&ann, &nginx.url("/?room=restart&transport=polling"), "ann").await;
    wait_transport(&ann, "ann", "polling").await;

    // The server stops: the waiting poll is answered with "closed" (1001)
    // and the page starts reconnecting.
    old.stop().await;
    wait_text(&ann, "#messages", "ann to be told", |t| {
        t.contains("Connection lost")
    })
    .await;
    // A new server comes up behind the same address.
    let new = common::start(&[]);
    drop(nginx);
    let nginx = Nginx::start_on(
        port,
        Proxy {
            upstream: new.port,
            location: "/",
            upgrades: Upgrades::Pass,
        },
    )
    .await;
    wait_text(&ann, "#messages", "ann to be back", |t| {
        t.contains("Reconnected.")
    })
    .await;
    wait_transport(&ann, "ann", "polling").await;
    let bob = driver.browser().await;
    log_in(&bob, &new.url("/?room=restart"), "bob").await;
    chat_both_ways((&ann, "ann"), (&bob, "bob")).await;

    tear_down([ann, bob], driver, nginx, new).await;
}

#[tokio::test]
async fn under_a_base_path_through_nginx_two_users_chat() {
    let Stack {
        server,
        nginx,
        driver,
        ann,
        bob,
        ..
    } = Stack::start(
        &["--base-path", "/chat"],
        "/chat/",
        Upgrades::Pass,
        "nginx-base-path",
    )
    .await;

    log_in(&ann, &nginx.url("/chat/"), "ann").await;
    log_in(&bob, &nginx.url("/chat/?transport=polling"), "bob").await;
    wait_transport(&ann, "ann", "websocket").await;
    wait_transport(&bob, "bob", "polling").await;
    for (browser, who) in [(&ann, "ann"), (&bob, "bob")] {
        wait_text(browser, "#count", &format!("{who} to count 2"), |t| {
            t == "2"
        })
        .await;
    }
    chat_both_ways((&ann, "ann"), (&bob, "bob")).await;
    screenshot(&bob, "proxy-base-path-polling-bob.png").await;

    tear_down([ann, bob], driver, nginx, server).await;
}

#[tokio::test]
async fn when_websocket_keeps_failing_polling_takes_over_and_nothing_is_lost() {
    let Stack {
        server,
        nginx,
        driver,
        ann,
        bob,
        proxy: upgrading,
    } = Stack::start(&[], "/", Upgrades::Pass, "nginx-takeover").await;
    let port = nginx.port();

    log_in(&ann, &nginx.url("/?room=takeover"), "ann").await;
    log_in(&bob, &server.url("/?room=takeover"), "bob").await;
    wait_transport(&ann, "ann", "websocket").await;
    wait_transport(&bob, "bob", "websocket").await;
    chat_both_ways((&ann, "ann"), (&bob, "bob")).await;

    // The proxy dies; ann's socket with it.
    drop(nginx);
    wait_text(&bob, "#messages", "bob to see ann drop", |t| {
        t.contains("ann left")
    })
    .await;
    wait_text(&ann, "#conn-state", "ann to notice", |t| t != "Connected").await;
    // Both write while she is cut off.
    say(&bob, "while you were away").await;
    wait_all_acknowledged(&bob, "bob").await;
    say(&ann, "written while cut off").await;

    // It comes back refusing upgrades: ann's WebSocket keeps failing, and
    // polling takes over.
    let nginx = Nginx::start_on(
        port,
        Proxy {
            upgrades: Upgrades::Strip,
            ..upgrading
        },
    )
    .await;
    wait_transport(&ann, "ann", "polling").await;
    assert_eq!(
        session_storage(&ann, FALLBACK_KEY).await.as_deref(),
        Some("polling")
    );
    wait_message(&ann, "ann", "while you were away").await;
    wait_message(&bob, "bob", "written while cut off").await;
    wait_all_acknowledged(&ann, "ann").await;
    // And nothing came twice.
    eventually("ann's list to hold each message once", || async {
        let mut seen = Vec::new();
        for text in [
            "while you were away",
            "written while cut off",
            "ann to bob, over the proxy",
            "bob to ann, over the proxy",
        ] {
            seen.push((text, times_shown(&ann, text).await));
        }
        if seen.iter().all(|(_, n)| *n == 1) {
            Ok(())
        } else {
            Err(format!("{seen:?}"))
        }
    })
    .await;
    screenshot(&ann, "proxy-takeover-polling-ann.png").await;

    tear_down([ann, bob], driver, nginx, server).await;
}
