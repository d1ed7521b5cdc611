//! Bounded output for one WebSocket connection. actix-web-actors queues what
//! is written to a connection without limit, and once a client stops reading
//! and its socket fills, the HTTP layer stops polling the connection's
//! response, so the session actor never runs again: any check inside it
//! would never fire, and frames sent to it would pile up in its mailbox.
//!
//! So the bound is kept where frames are queued. [`Outbox`] is shared by the
//! ChatRoom (which reserves bytes before each send), the session (which adds
//! its own frames) and [`Metered`], wrapped around the response stream,
//! which counts bytes out again as the HTTP layer takes them. When a
//! reservation would pass the limit the room marks the reader dropped and
//! stops sending to it, so what it holds stays bounded; the connection is
//! aborted as soon as anything polls it again.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

#[derive(Debug, Default)]
struct Shared {
    pending: AtomicUsize,
    dropped: AtomicBool,
}

/// The counter shared by a connection's room membership, its session and
/// its response stream.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    shared: Arc<Shared>,
}

impl Outbox {
    /// Bytes queued but not yet handed to the socket writer.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::Relaxed)
    }

    /// Reserves `len` bytes unless that would pass `limit`. An empty outbox
    /// takes any one frame, so a single large frame (a resume welcome with a
    /// long history) cannot get its reader dropped on every attempt.
    pub fn try_reserve(&self, len: usize, limit: usize) -> bool {
        self.shared
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |pending| {
                (pending == 0 || pending + len <= limit).then_some(pending + len)
            })
            .is_ok()
    }

    /// Records `len` bytes queued, unconditionally (the session's own replies,
    /// which are bounded by the client's own rate limit).
    pub fn add(&self, len: usize) {
        self.shared.pending.fetch_add(len, Ordering::Relaxed);
    }

    /// Marks the reader as dropped for not reading.
    pub fn drop_reader(&self) {
        self.shared.dropped.store(true, Ordering::Relaxed);
    }

    /// Whether the reader was dropped.
    pub fn is_dropped(&self) -> bool {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    fn taken(&self, len: usize) {
        // Encoded chunks carry frame headers that were not reserved, so the
        // subtraction saturates rather than wrapping.
        let _ = self
            .shared
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(len))
            });
    }

    /// Wraps the session's response stream so that what it yields is counted.
    pub fn meter<S>(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            outbox: self.clone(),
        }
    }
}

/// A response stream that reports what it yields to its [`Outbox`], and ends
/// the connection with an error once the reader has been dropped.
pub struct Metered<S> {
    inner: S,
    outbox: Outbox,
}

impl<S, E> Stream for Metered<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: From<std::io::Error>,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.outbox.is_dropped() {
            let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "client stopped reading");
            return Poll::Ready(Some(Err(E::from(error))));
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.outbox.taken(chunk.len());
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_outbox_takes_one_frame_of_any_size() {
        let outbox = Outbox::default();
        assert!(outbox.try_reserve(5000, 1000));
        assert!(!outbox.try_reserve(1, 1000));
        outbox.taken(4500);
        assert!(outbox.try_reserve(500, 1000));
        assert!(!outbox.try_reserve(1, 1000));
        assert_eq!(outbox.pending(), 1000);
    }
}
