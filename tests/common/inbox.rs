//! What every test client does with the frames the server sends it, written
//! once: [`Inbox`] turns a client's one way of receiving a frame (a
//! WebSocket read, a long poll, a poll that goes round several instances)
//! into `next`, `expect`, `until` and the like, each bounded by a hang
//! guard ([`PATIENCE`] unless the client says otherwise). Waiting is
//! event-driven: a frame is returned as soon as it arrives, and the guard
//! only turns a hang into a readable failure, never a timing assertion.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

/// How long a test waits for a frame before it fails (a hang guard, not a
/// timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Awaits `future` for at most `patience`, failing the test with `what`
/// (what was being waited for) if it takes longer.
pub async fn within<T>(patience: Duration, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(patience, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not arrive within {patience:?}"))
}

/// A test client seen as the frames it receives, in order.
pub trait Inbox {
    /// How long [`Inbox::next`] waits for a frame.
    const PATIENCE: Duration = PATIENCE;

    /// Waits, however long it takes, for the next frame: the one thing each
    /// client does its own way. It may fail the test (a dropped connection,
    /// a closed session) but never gives up on its own; the hang guard is
    /// the caller's.
    async fn arrival(&mut self) -> Value;

    /// The next frame, if it arrives within `patience`.
    async fn next_within(&mut self, patience: Duration) -> Value {
        within(patience, "a frame", self.arrival()).await
    }

    /// The next frame from the server.
    async fn next(&mut self) -> Value {
        self.next_within(Self::PATIENCE).await
    }

    /// The next frame, which must be of type `kind`.
    async fn expect(&mut self, kind: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(frame["type"], kind, "expected {kind}, got {frame}");
        frame
    }

    /// Skips frames until one for which `wanted` holds; returns it. Each
    /// frame is waited for within the client's patience.
    async fn until_matches(&mut self, mut wanted: impl FnMut(&Value) -> bool) -> Value {
        loop {
            let frame = self.next().await;
            if wanted(&frame) {
                return frame;
            }
        }
    }

    /// Skips frames until one of type `kind`; returns it.
    async fn until(&mut self, kind: &str) -> Value {
        self.until_matches(|frame| frame["type"] == kind).await
    }

    /// The next frame, which must be an error with this code and a message.
    async fn expect_error(&mut self, code: &str) -> Value {
        let frame = self.expect("error").await;
        assert_eq!(frame["code"], code, "expected error {code}, got {frame}");
        assert!(
            frame["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error explains itself: {frame}"
        );
        frame
    }
}
