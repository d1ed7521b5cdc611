//! The chat page in real browsers on two Parley instances that share one
//! Redis (`common/redis.rs`): two headless Chromium users (see
//! `common/browser.rs`), each logged in to a different instance, list each
//! other in the roster, count two, and chat both ways; once with both on
//! WebSocket, once with one of them long-polling. What the cluster does at
//! the protocol level is `cluster.rs`'s business.
//!
//! Needs `/usr/bin/redis-server`, `/usr/bin/chromium` and
//! `/usr/bin/chromedriver` (`scripts/test` installs them). Waits are
//! bounded hang guards, never timing assertions.

mod common;

use std::collections::BTreeSet;

use common::browser::{
    eventually, log_in, roster_nicks, say, screenshot, wait_all_acknowledged, wait_message,
    wait_text, wait_transport, Driver,
};
use common::redis::RedisServer;
use common::TestServer;
use fantoccini::{Client, Locator};

/// Starts an in-process instance on `redis` and waits until its backplane
/// is ready.
async fn instance(redis: &RedisServer) -> TestServer {
    let url = redis.url();
    let server = common::start(&["--redis-url", &url, "--lease-secs", "3"]);
    let readyz = server.url("/readyz");
    eventually("the instance to be ready", || async {
        let response = reqwest::get(&readyz).await.map_err(|e| e.to_string())?;
        match response.status().as_u16() {
            200 => Ok(()),
            other => Err(format!("/readyz answered {other}")),
        }
    })
    .await;
    server
}

/// ann on one instance and bob on another, on the transports given (page
/// query strings), log in to one room, see each other and chat both ways.
async fn chat_across_instances(label: &str, ann_query: &str, bob_query: &str) {
    let redis = RedisServer::start().await;
    let a = instance(&redis).await;
    let b = instance(&redis).await;
    let driver = Driver::start(label).await;
    let ann = driver.browser().await;
    let bob = driver.browser().await;

    log_in(&ann, &a.url(&format!("/?room=cluster{ann_query}")), "ann").await;
    log_in(&bob, &b.url(&format!("/?room=cluster{bob_query}")), "bob").await;
    let transport = |query: &str| {
        if query.contains("polling") {
            "polling"
        } else {
            "websocket"
        }
    };
    let both: BTreeSet<String> = ["ann", "bob"].map(String::from).into();
    for (browser, who, query) in [(&ann, "ann", ann_query), (&bob, "bob", bob_query)] {
        wait_transport(browser, who, transport(query)).await;
        eventually(&format!("{who} to list ann and bob"), || async {
            let listed = roster_nicks(browser).await?;
            if listed == both {
                Ok(())
            } else {
                Err(format!("roster {listed:?}"))
            }
        })
        .await;
        wait_text(browser, "#count", &format!("{who} to count 2"), |t| {
            t == "2"
        })
        .await;
    }

    for ((from, sender), (to, reader)) in [
        ((&ann, "ann"), (&bob, "bob")),
        ((&bob, "bob"), (&ann, "ann")),
    ] {
        let text = format!("{sender} to {reader}, across instances");
        say(from, &text).await;
        wait_message(to, reader, &text).await;
        wait_all_acknowledged(from, sender).await;
        wait_message(from, sender, &text).await;
    }
    screenshot(&bob, &format!("{label}-bob.png")).await;

    for browser in [ann, bob] {
        browser.close().await.expect("end the browser session");
    }
    drop(driver);
}

#[tokio::test]
async fn two_people_on_two_instances_chat_in_real_browsers() {
    chat_across_instances("cluster-websocket", "", "").await;
}

#[tokio::test]
async fn a_websocket_page_and_a_polling_page_on_two_instances_chat() {
    chat_across_instances("cluster-polling", "", "&transport=polling").await;
}

/// The `data-degraded` attribute of the page's connection state.
async fn degraded_flag(browser: &Client) -> Result<String, String> {
    browser
        .find(Locator::Css("#conn-state"))
        .await
        .map_err(|e| format!("#conn-state: {e}"))?
        .attr("data-degraded")
        .await
        .map_err(|e| format!("data-degraded: {e}"))
        .map(Option::unwrap_or_default)
}

async fn wait_degraded(browser: &Client, who: &str, degraded: bool) {
    let want = degraded.to_string();
    eventually(&format!("{who}'s page to show degraded={want}"), || async {
        let flag = degraded_flag(browser).await?;
        if flag == want {
            Ok(())
        } else {
            Err(format!("data-degraded={flag:?}"))
        }
    })
    .await;
}

#[tokio::test]
async fn the_page_shows_a_redis_outage_and_sends_what_waited_once_it_is_over() {
    let mut redis = RedisServer::start().await;
    let a = instance(&redis).await;
    let b = instance(&redis).await;
    let driver = Driver::start("cluster-outage").await;
    let ann = driver.browser().await;
    let bob = driver.browser().await;
    log_in(&ann, &a.url("/?room=outage"), "ann").await;
    log_in(&bob, &b.url("/?room=outage"), "bob").await;
    wait_text(&bob, "#count", "bob to count 2", |t| t == "2").await;

    redis.kill();
    wait_degraded(&ann, "ann", true).await;
    wait_degraded(&bob, "bob", true).await;
    say(&ann, "written while degraded").await;
    eventually("ann's message to wait, pending", || async {
        let pending = common::browser::texts_of(&ann, "#messages li.pending").await?;
        if pending.iter().any(|t| t.contains("written while degraded")) {
            Ok(())
        } else {
            Err(format!("pending: {pending:?}"))
        }
    })
    .await;
    screenshot(&ann, "cluster-outage-ann-degraded.png").await;

    redis.restart().await;
    wait_degraded(&ann, "ann", false).await;
    wait_all_acknowledged(&ann, "ann").await;
    wait_message(&bob, "bob", "written while degraded").await;
    let copies = common::browser::texts_of(&bob, "#messages li.message")
        .await
        .expect("bob's messages")
        .into_iter()
        .filter(|t| t.contains("written while degraded"))
        .count();
    assert_eq!(copies, 1, "posted once, however often it was resent");

    for browser in [ann, bob] {
        browser.close().await.expect("end the browser session");
    }
    drop(driver);
}
