//! Bounded output for one WebSocket connection. actix-web-actors queues what
//! an actor writes without limit until the HTTP layer can take it; a client
//! that stops reading would make that queue, and the server's memory, grow
//! for ever. [`Outbox`] counts the bytes written but not yet taken by the
//! socket writer, and [`Metered`] (wrapped around the actor's response stream)
//! counts them out again. The session asks [`Outbox::would_exceed`] before
//! each write and drops the connection instead of queueing past the limit.
//! Both halves live on the connection's worker thread, so a `Cell` suffices.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

/// The counter shared by a session and its response stream.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    pending: Rc<Cell<usize>>,
}

impl Outbox {
    /// Bytes written but not yet handed to the socket writer.
    pub fn pending(&self) -> usize {
        self.pending.get()
    }

    /// Whether queueing `len` more bytes would pass `limit`. An empty
    /// outbox takes any one frame, so a single large frame (a resume welcome
    /// with a long history) cannot get its reader dropped on every attempt.
    pub fn would_exceed(&self, len: usize, limit: usize) -> bool {
        let pending = self.pending.get();
        pending > 0 && pending + len > limit
    }

    /// Records `len` bytes queued.
    pub fn add(&self, len: usize) {
        self.pending.set(self.pending.get() + len);
    }

    fn taken(&self, len: usize) {
        // Encoded chunks carry frame headers the session did not count, so
        // the subtraction saturates rather than wrapping.
        self.pending.set(self.pending.get().saturating_sub(len));
    }

    /// Wraps the actor's response stream so that what it yields is counted.
    pub fn meter<S>(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            outbox: self.clone(),
        }
    }
}

/// A response stream that reports what it yields to its [`Outbox`].
pub struct Metered<S> {
    inner: S,
    outbox: Outbox,
}

impl<S, E> Stream for Metered<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
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
        assert!(!outbox.would_exceed(5000, 1000));
        outbox.add(5000);
        assert!(outbox.would_exceed(1, 1000));
        outbox.taken(4500);
        assert!(!outbox.would_exceed(500, 1000));
        assert!(outbox.would_exceed(501, 1000));
    }
}
