//! Older messages in a real browser (headless Chromium over WebDriver, see
//! `common/browser.rs`): a room filled by a WebSocket client, the page
//! opened on it, and its message list scrolled to the top twice. Each time
//! the page fetches the page before its oldest message and puts it above,
//! and the message that was at the top stays exactly where it was on the
//! screen; the second time the room's first message arrives, under
//! "Beginning of the room", with every message shown once, in order.

mod common;

use common::browser::{eventually, log_in, screenshot, Driver};
use common::ws::Client;
use fantoccini::Client as Browser;
use serde_json::{json, Value};

/// Where message `id` is, in CSS pixels below the top of the list's box
/// (negative once scrolled above it), and the list's scroll offset; with
/// `to_top`, scrolls the list to its very top first, as a user dragging
/// it up, and measures in the same step (the scroll event, and so the
/// request, comes only after the script).
async fn place_of(browser: &Browser, id: u64, to_top: bool) -> (f64, f64) {
    let found: Value = browser
        .execute(
            "const list = document.getElementById('messages');
             if (arguments[1]) list.scrollTop = 0;
             const item = list.querySelector(`li.message[data-id=\"${arguments[0]}\"]`);
             if (!item) return null;
             return [item.getBoundingClientRect().top - list.getBoundingClientRect().top,
                     list.scrollTop];",
            vec![json!(id), json!(to_top)],
        )
        .await
        .expect("measure a message");
    let pair = found
        .as_array()
        .unwrap_or_else(|| panic!("no message {id}"));
    (pair[0].as_f64().unwrap(), pair[1].as_f64().unwrap())
}

/// The ids of the messages shown, top to bottom.
async fn shown_ids(browser: &Browser) -> Result<Vec<u64>, String> {
    let ids: Value = browser
        .execute(
            "return [...document.querySelectorAll('#messages li.message')]
               .map((li) => Number(li.dataset.id));",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(ids
        .as_array()
        .ok_or("not an array")?
        .iter()
        .filter_map(Value::as_u64)
        .collect())
}

/// Waits until the list shows exactly `want`.
async fn wait_shown(browser: &Browser, what: &str, want: &[u64]) {
    eventually(what, || async {
        let ids = shown_ids(browser).await?;
        if ids == want {
            Ok(())
        } else {
            Err(format!("{} shown, from {:?}", ids.len(), ids.first()))
        }
    })
    .await;
}

/// Scrolls to the top, waits for the page before `oldest` to arrive
/// (`shown` is the whole list then), and checks that message `oldest`
/// stayed where it was on the screen while the list grew above it.
async fn page_up(browser: &Browser, oldest: u64, shown: &[u64]) {
    let (before, _) = place_of(browser, oldest, true).await;
    wait_shown(browser, &format!("the page before {oldest}"), shown).await;
    let (after, scrolled) = place_of(browser, oldest, false).await;
    // Sub-pixel layout may round; a jump would be a whole page of rows.
    assert!(
        (after - before).abs() < 1.0,
        "message {oldest} moved from {before} to {after} px"
    );
    assert!(scrolled > 0.0, "the view jumped to the new top");
}

#[tokio::test]
async fn scrolling_up_loads_older_messages_and_keeps_the_view() {
    let server = common::start(&["--rate-burst", "100000", "--rate-per-sec", "100000"]);
    let (mut ann, _) = Client::join(&server.ws_url(), "ann", "archive").await;
    for n in 1..=130u64 {
        ann.say(&format!("message number {n}"), &format!("r{n}"))
            .await;
    }
    let driver = Driver::start("history").await;
    let reader = driver.browser().await;
    log_in(&reader, &server.url("/#archive"), "reader").await;
    let ids = |from: u64| (from..=130).collect::<Vec<_>>();
    wait_shown(&reader, "the welcome's 50 newest", &ids(81)).await;
    let beginning = || async {
        let first: Value = reader
            .execute(
                "const top = document.querySelector('#messages > li');
                 return top && top.classList.contains('history-start') ? top.textContent : null;",
                vec![],
            )
            .await
            .expect("read the list's top");
        first.as_str().map(str::to_owned)
    };
    assert_eq!(beginning().await, None, "more to come");

    page_up(&reader, 81, &ids(31)).await;
    assert_eq!(beginning().await, None, "still more to come");
    page_up(&reader, 31, &ids(1)).await;
    eventually("Beginning of the room on top", || async {
        match beginning().await {
            Some(text) if text == "Beginning of the room" => Ok(()),
            other => Err(format!("top of the list: {other:?}")),
        }
    })
    .await;
    let texts: Value = reader
        .execute(
            "return [...document.querySelectorAll('#messages li.message .text')]
               .slice(0, 2).map((t) => t.textContent);",
            vec![],
        )
        .await
        .expect("read the oldest texts");
    assert_eq!(texts, json!(["message number 1", "message number 2"]));
    screenshot(&reader, "history-beginning.png").await;
}
