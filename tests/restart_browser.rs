//! A deploy as two people see it: both chat in real browsers (headless
//! Chromium over WebDriver) with a server on a data directory; the server
//! stops gracefully, one of them types while it is down, and it starts
//! again on the same port and directory. Afterwards neither page says the
//! history was lost, nobody is announced leaving or joining again, and the
//! message typed during the restart is posted once and acknowledged.

mod common;

use common::browser::{
    eventually, log_in, roster_nicks, say, screenshot, texts_of, wait_all_acknowledged,
    wait_message, wait_text, Driver,
};

/// A directory of the test's own, removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The notices and messages a page shows, as text.
async fn shown(browser: &fantoccini::Client) -> String {
    texts_of(browser, "#messages li")
        .await
        .expect("#messages")
        .join("\n")
}

#[tokio::test]
async fn a_graceful_restart_looks_like_a_pause_to_two_browsers() {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "parley-restart-browser-{}-{}",
        std::process::id(),
        common::free_port()
    )));
    let data = dir.0.to_str().expect("a UTF-8 path").to_owned();
    let server = common::start(&["--data-dir", &data]);
    let port = server.port.to_string();
    let driver = Driver::start("graceful-restart").await;
    let ann = driver.browser().await;
    let bob = driver.browser().await;
    log_in(&ann, &server.url("/?room=deploy"), "ann").await;
    log_in(&bob, &server.url("/?room=deploy"), "bob").await;
    for (browser, who) in [(&ann, "ann"), (&bob, "bob")] {
        eventually(&format!("{who} to see both"), || async {
            let nicks = roster_nicks(browser).await?;
            (nicks.len() == 2)
                .then_some(())
                .ok_or(format!("roster {nicks:?}"))
        })
        .await;
    }
    say(&ann, "before the deploy").await;
    wait_message(&bob, "bob", "before the deploy").await;
    wait_all_acknowledged(&ann, "ann").await;

    server.stop().await;
    for (browser, who) in [(&ann, "ann"), (&bob, "bob")] {
        wait_text(browser, "#conn-state", &format!("{who} to notice"), |t| {
            t != "Connected"
        })
        .await;
    }
    say(&ann, "typed during the deploy").await;

    let server = common::start(&["--data-dir", &data, "--port", &port]);
    for (browser, who) in [(&ann, "ann"), (&bob, "bob")] {
        wait_text(browser, "#conn-state", &format!("{who} to be back"), |t| {
            t == "Connected"
        })
        .await;
    }
    wait_message(&bob, "bob", "typed during the deploy").await;
    wait_all_acknowledged(&ann, "ann").await;
    screenshot(&ann, "graceful-restart-ann").await;
    screenshot(&bob, "graceful-restart-bob").await;

    for (browser, who, other) in [(&ann, "ann", "bob"), (&bob, "bob", "ann")] {
        let text = shown(browser).await;
        assert!(!text.contains("lost this room's history"), "{who}:\n{text}");
        assert!(!text.contains("were missed"), "{who}:\n{text}");
        assert!(!text.contains(&format!("{other} left")), "{who}:\n{text}");
        let joined = text.matches(&format!("{other} joined")).count();
        assert!(
            joined <= 1,
            "{who} told {other} joined {joined} times:\n{text}"
        );
        let during = texts_of(browser, "#messages li.message .text")
            .await
            .expect("messages")
            .iter()
            .filter(|t| *t == "typed during the deploy")
            .count();
        assert_eq!(during, 1, "{who}: posted once");
    }
    server.stop().await;
}
