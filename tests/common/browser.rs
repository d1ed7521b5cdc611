//! Real browsers for the page tests: a chromedriver child process, one
//! headless Chromium per user (each with a fresh profile), and the waits and
//! page actions the tests share (log in, say, read the hooks the page's script keeps, assets/js/main.js lists them).
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`scripts/test`
//! installs them). Every wait polls for a condition and gives up after
//! [`WAIT`], so a broken page fails the test instead of hanging it; nothing
//! here asserts how fast anything is.

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::key::Key;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Longest any single wait may take before the test fails. A bound on hangs,
/// not a performance threshold.
pub const WAIT: Duration = Duration::from_secs(30);

/// How often a wait re-checks its condition.
pub const POLL: Duration = Duration::from_millis(50);

/// A chromedriver child process and the browser profiles it created; both
/// are cleaned up on drop, also when the test panics.
pub struct Driver {
    child: Child,
    port: u16,
    /// Holds one fresh profile directory per browser.
    profiles: PathBuf,
    sessions: AtomicUsize,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it is ready; it
    /// logs to `test-artifacts/chromedriver-{label}.log`.
    pub async fn start(label: &str) -> Driver {
        for program in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: run scripts/test, which installs chromium and \
                 chromium-driver, or install them yourself"
            );
        }
        let port = super::free_port();
        let artifacts = artifacts_dir();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let profiles =
            std::env::temp_dir().join(format!("parley-browser-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&profiles).expect("create the profiles directory");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                artifacts
                    .join(format!("chromedriver-{label}.log"))
                    .display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that Drop can end it with every
            // browser it started.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let mut driver = Driver {
            child,
            port,
            profiles,
            sessions: AtomicUsize::new(0),
        };
        driver.wait_ready().await;
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Polls `/status` until chromedriver says it is ready (bounded).
    async fn wait_ready(&mut self) {
        let status = format!("{}/status", self.url());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(exit) = self.child.try_wait().expect("poll chromedriver") {
                panic!("chromedriver exited before it was ready: {exit}");
            }
            if let Ok(response) = reqwest::get(&status).await {
                if let Ok(body) = response.json::<serde_json::Value>().await {
                    if body["value"]["ready"] == true {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready on port {}",
                self.port
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs the Chrome DevTools command `cmd` with `params` in `browser`'s
    /// current tab, through chromedriver's `goog/cdp/execute`, and returns
    /// its result.
    pub async fn cdp(
        &self,
        browser: &Client,
        cmd: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        let session = browser
            .session_id()
            .await
            .expect("read the session id")
            .expect("a session");
        let response = reqwest::Client::new()
            .post(format!("{}/session/{session}/goog/cdp/execute", self.url()))
            .json(&json!({ "cmd": cmd, "params": params }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("a JSON answer");
        assert!(status.is_success(), "{cmd}: {status} {body}");
        body["value"].clone()
    }

    /// Opens a new headless Chromium with a profile of its own.
    pub async fn browser(&self) -> Client {
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        let profile = self.profiles.join(format!("profile-{n}"));
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1024,768",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let capabilities: Capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        })
        .as_object()
        .cloned()
        // unwrap: the literal above is an object.
        .unwrap();
        ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver ends a browser when its session is closed; after a
        // panic the sessions are still open, so end the whole process group
        // (created for chromedriver in `start`) rather than leave Chromium
        // running.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

/// `test-artifacts/` under the crate root, created if needed.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create test-artifacts");
    dir
}

/// Calls `probe` until it returns `Ok`, failing after [`WAIT`] with `what`
/// and the last thing the probe reported.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("gave up waiting for {what}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// The visible text of the first element matching `css`.
pub async fn text_of(browser: &Client, css: &str) -> Result<String, String> {
    let element = browser
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("no {css}: {e}"))?;
    element.text().await.map_err(|e| format!("{css}: {e}"))
}

/// The `textContent` of the first element matching `css`, shown or not.
pub async fn content_of(browser: &Client, css: &str) -> Result<String, String> {
    let element = browser
        .find(Locator::Css(css))
        .await
        .map_err(|e| format!("no {css}: {e}"))?;
    let content = element
        .prop("textContent")
        .await
        .map_err(|e| format!("{css}: {e}"))?;
    Ok(content.unwrap_or_default())
}

/// Waits until the text of `css` satisfies `want`; returns that text.
pub async fn wait_text(
    browser: &Client,
    css: &str,
    what: &str,
    want: impl Fn(&str) -> bool,
) -> String {
    eventually(what, || async {
        let text = text_of(browser, css).await?;
        if want(&text) {
            Ok(text)
        } else {
            Err(format!("{css} = {text:?}"))
        }
    })
    .await
}

/// The texts of every element matching `css`.
pub async fn texts_of(browser: &Client, css: &str) -> Result<Vec<String>, String> {
    let elements = browser
        .find_all(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?;
    let mut texts = Vec::with_capacity(elements.len());
    for element in elements {
        texts.push(element.text().await.map_err(|e| format!("{css}: {e}"))?);
    }
    Ok(texts)
}

/// Waits until some message text equals `text` exactly (newlines included).
pub async fn wait_message(browser: &Client, who: &str, text: &str) {
    eventually(&format!("{who} to see the message {text:?}"), || async {
        let texts = texts_of(browser, "#messages li.message:not(.pending) .text").await?;
        if texts.iter().any(|t| t == text) {
            Ok(())
        } else {
            Err(format!("messages {texts:?}"))
        }
    })
    .await
}

/// Waits until nothing `who` wrote is still waiting for its ack.
pub async fn wait_all_acknowledged(browser: &Client, who: &str) {
    eventually(&format!("{who}'s messages to be acknowledged"), || async {
        let pending = texts_of(browser, "#messages li.pending").await?;
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!("still pending: {pending:?}"))
        }
    })
    .await
}

/// Waits until `#transport` names `name` and the link is up.
pub async fn wait_transport(browser: &Client, who: &str, name: &str) {
    wait_text(browser, "#transport", &format!("{who} on {name}"), |t| {
        t == name
    })
    .await;
    wait_text(
        browser,
        "#conn-state",
        &format!("{who} to be connected"),
        |t| t == "Connected",
    )
    .await;
}

/// Loads the page and submits `nick` on the nickname screen.
pub async fn submit_nick(browser: &Client, nick: &str) {
    let input = browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#nick-input"))
        .await
        .expect("the nickname screen shows #nick-input");
    input.clear().await.expect("clear #nick-input");
    input.send_keys(nick).await.expect("type a nickname");
    input
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("submit");
}

/// Logs `nick` in at `url` and waits for the chat view.
pub async fn log_in(browser: &Client, url: &str, nick: &str) {
    browser.goto(url).await.expect("open the chat page");
    submit_nick(browser, nick).await;
    eventually(&format!("{nick} to reach the chat view"), || async {
        let input = browser
            .find(Locator::Css("#message-input"))
            .await
            .map_err(|e| e.to_string())?;
        let shown = input.is_displayed().await.map_err(|e| e.to_string())?;
        let error = text_of(browser, "#nick-error").await.unwrap_or_default();
        if shown {
            Ok(())
        } else {
            Err(format!(
                "still on the nickname screen; #nick-error = {error:?}"
            ))
        }
    })
    .await;
    let focused = browser
        .active_element()
        .await
        .expect("the focused element")
        .attr("id")
        .await
        .expect("its id");
    assert_eq!(
        focused.as_deref(),
        Some("message-input"),
        "after login the keyboard focus is in the message box"
    );
}

/// Types `text` into the message box and sends it with Enter.
pub async fn say(browser: &Client, text: &str) {
    let input = browser
        .find(Locator::Css("#message-input"))
        .await
        .expect("#message-input");
    input.send_keys(text).await.expect("type a message");
    input
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("send it");
}

/// The page's `sessionStorage` value for `key`, if any.
pub async fn session_storage(browser: &Client, key: &str) -> Option<String> {
    let value = browser
        .execute(
            "return window.sessionStorage.getItem(arguments[0]);",
            vec![json!(key)],
        )
        .await
        .expect("read sessionStorage");
    value.as_str().map(str::to_owned)
}

/// Saves a screenshot of `browser` as `test-artifacts/{name}`.
pub async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("take a screenshot");
    let path = artifacts_dir().join(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The nicknames the page lists in its roster.
pub async fn roster_nicks(browser: &Client) -> Result<std::collections::BTreeSet<String>, String> {
    let people = browser
        .find_all(Locator::Css("#roster li.person"))
        .await
        .map_err(|e| format!("roster: {e}"))?;
    let mut nicks = std::collections::BTreeSet::new();
    for person in people {
        let nick = person
            .attr("data-nick")
            .await
            .map_err(|e| format!("data-nick: {e}"))?;
        nicks.insert(nick.unwrap_or_default());
    }
    Ok(nicks)
}
