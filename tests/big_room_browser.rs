//! A big room in a real browser (headless Chromium over WebDriver, see
//! `common/browser.rs`), with the big-room size set to 5 so that a test
//! can fill one: 40 WebSocket members, then the page joins. Its welcome
//! (the page states minor 2) lists nobody, so the page shows the true
//! count, asks for the first page of names (30, in name order), pages in
//! the rest when its list is scrolled to the end, finds members by name
//! prefix through the search box, returns to the paged list when the
//! search is cleared, and tells a batch of arrivals and departures in one
//! counted line ("3 people joined, 2 left") while the sample of names
//! updates its list; when more leave than a batch names, the page asks
//! its list again, so nobody who left stays listed.

mod common;

use std::collections::BTreeSet;

use common::browser::{
    content_of, eventually, log_in, roster_nicks, screenshot, texts_of, wait_text, Driver,
};
use common::ws::Client;
use fantoccini::key::Key;
use fantoccini::{Client as Browser, Locator};

/// Waits until the roster lists exactly `want`.
async fn wait_listed(browser: &Browser, what: &str, want: &BTreeSet<String>) {
    eventually(what, || async {
        let listed = roster_nicks(browser).await?;
        if &listed == want {
            Ok(())
        } else {
            Err(format!("{} listed: {listed:?}", listed.len()))
        }
    })
    .await;
}

fn names(from: &[String]) -> BTreeSet<String> {
    from.iter().cloned().collect()
}

#[tokio::test]
async fn a_big_room_is_counted_paged_searched_and_summarised() {
    let server = common::start(&["--big-room-members", "5"]);
    let url = server.ws_url();
    let members: Vec<String> = (0..40).map(|i| format!("m{i:02}")).collect();
    let mut crowd =
        futures_util::future::join_all(members.iter().map(|nick| Client::join(&url, nick, "hall")))
            .await;

    let driver = Driver::start("big-room").await;
    let zed = driver.browser().await;
    log_in(&zed, &server.url("/#hall"), "zed").await;
    wait_text(&zed, "#count", "zed to count 41", |t| t == "41").await;

    // The first page: 30 names in name order, and no more until scrolled.
    wait_listed(&zed, "the first page of 30", &names(&members[..30])).await;
    wait_text(
        &zed,
        "#roster-note",
        "the note to say how much is listed",
        |t| t.starts_with("Showing 30 of 41 people"),
    )
    .await;
    let searchable = zed
        .find(Locator::Css("#roster-search"))
        .await
        .expect("#roster-search")
        .is_displayed()
        .await
        .expect("is it shown");
    assert!(searchable, "a room listed in pages has its search box");

    // Scrolled to its end, the list pages in the rest.
    zed.execute(
        "const list = document.getElementById('roster'); list.scrollTop = list.scrollHeight;",
        vec![],
    )
    .await
    .expect("scroll the roster to its end");
    let mut everyone = names(&members);
    everyone.insert("zed".into());
    wait_listed(&zed, "the rest paged in on scroll", &everyone).await;

    // A search by prefix replaces the list with what the server finds.
    let search = zed
        .find(Locator::Css("#roster-search"))
        .await
        .expect("#roster-search");
    search.send_keys("M3").await.expect("type a search");
    wait_listed(&zed, "the members starting with m3", &names(&members[30..])).await;
    wait_text(&zed, "#roster-note", "the search's outcome", |t| {
        t == "10 people whose name starts with “M3”."
    })
    .await;
    let backspaces = Key::Backspace.to_string().repeat(2);
    search
        .send_keys(&backspaces)
        .await
        .expect("clear the search");
    wait_listed(&zed, "the paged list back", &everyone).await;

    // A batch of arrivals and departures: one counted line, and the
    // sample of names updates the list.
    let newcomers: Vec<String> = (0..3).map(|i| format!("new{i}")).collect();
    let arrived = futures_util::future::join_all(
        newcomers
            .iter()
            .map(|nick| Client::join(&url, nick, "hall")),
    )
    .await;
    let leaving: Vec<_> = crowd.drain(..2).collect();
    futures_util::future::join_all(leaving.into_iter().map(|(client, _)| client.close())).await;
    wait_text(&zed, "#count", "zed to count 42", |t| t == "42").await;
    let mut now = everyone.clone();
    now.remove("m00");
    now.remove("m01");
    now.extend(newcomers.iter().cloned());
    wait_listed(&zed, "the sample applied to the list", &now).await;
    let notices = eventually("a counted presence line", || async {
        let notices = texts_of(&zed, "#messages li.notice").await?;
        if notices
            .iter()
            .any(|n| n.contains("left") && n.ends_with("there are 42 participants"))
        {
            Ok(notices)
        } else {
            Err(format!("notices {notices:?}"))
        }
    })
    .await;
    for line in notices
        .iter()
        .filter(|n| n.contains("joined") || n.contains("left"))
    {
        assert!(
            line.starts_with(|c: char| c.is_ascii_digit())
                && (line.contains(" people ") || line.contains(" person ")),
            "presence is told counted, not by name: {line:?}"
        );
        assert!(
            !newcomers.iter().any(|nick| line.contains(nick.as_str())),
            "no line names a newcomer: {line:?}"
        );
    }
    assert_eq!(
        content_of(&zed, "#count").await.expect("#count"),
        "42",
        "the count is the room's size"
    );

    // Twelve leave at once: the batch names only the newest ten
    // (PRESENCE_SAMPLE), so two of them are only counted. The page asks
    // its list again, and nobody who left stays listed.
    let gone: Vec<_> = crowd.drain(..12).collect();
    futures_util::future::join_all(gone.into_iter().map(|(client, _)| client.close())).await;
    wait_text(&zed, "#count", "zed to count 30", |t| t == "30").await;
    for nick in &members[2..14] {
        now.remove(nick);
    }
    wait_listed(&zed, "everyone who left gone from the list", &now).await;
    screenshot(&zed, "big-room-zed.png").await;

    drop(arrived);
    drop(crowd);
    zed.close().await.expect("end the browser session");
    drop(driver);
    server.stop().await;
}
