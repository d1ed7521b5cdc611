//! Bounded output for one WebSocket connection. actix-web-actors queues what
//! is written to a connection without limit, and once a client stops reading
//! and its socket fills, the HTTP layer stops polling the connection's
//! response, so the session actor never runs again: any check inside it
//! would never fire, and frames sent to it would pile up in its mailbox.
//!
//! So the bound is kept where frames are queued. [`Outbox`] is shared by the
//! hub of the connection's thread ([`crate::delivery::hub`]), the session and
//! [`Metered`], wrapped around the session's response stream; its byte count
//! is the member's [`Backlog`], the bound both transports share. The hub puts
//! the room's frames straight in the outbox's queue, already encoded as
//! WebSocket frames ([`SharedFrame`]: encoded once per broadcast, the same
//! bytes for every recipient), and wakes the connection's writer, at once
//! or at the next flush ([`crate::delivery::coalesce`]); the session actor is not
//! involved. The session adds only its own replies (errors, pongs, the
//! close) to its context's stream. [`Metered`] hands the writer the queued
//! frames first, then the session's; the bytes stay counted until the
//! socket has taken them (the connection's writer,
//! `transport/ws/upgrade.rs`, releases them as it writes), so what waits in
//! the writer counts against the bound too. When a reservation would pass the limit the hub
//! marks the reader dropped and queues nothing more for it, so what it
//! holds stays bounded; the connection is aborted as soon as anything polls
//! it again.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{MutexGuard, OnceLock};
use std::task::{Context, Poll};

use actix_http::ws::{OpCode, Parser};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_core::Stream;

use crate::delivery::backlog::{Backlog, Waiting};

/// A frame as the room hands it to each recipient: its text, the log seq
/// it comes from (see [`crate::delivery::member::PollFeed`]), and the two
/// forms recipients keep, each made on first need, charged to the server's
/// queued-bytes pool ([`crate::delivery::backlog::QueuePool`]) for as long
/// as any recipient holds it, and shared by every recipient on any thread:
/// its encoding as a WebSocket text frame, and the text as polling
/// sessions keep it.
#[derive(Debug)]
pub(crate) struct SharedFrame {
    text: ByteString,
    at: u64,
    encoded: OnceLock<Bytes>,
    polled: OnceLock<ByteString>,
}

impl SharedFrame {
    /// `text`, from log seq `at` (0 for a frame of one connection alone).
    pub(crate) fn new(text: ByteString, at: u64) -> Self {
        SharedFrame {
            text,
            at,
            encoded: OnceLock::new(),
            polled: OnceLock::new(),
        }
    }

    /// The frame's text.
    pub(crate) fn text(&self) -> &ByteString {
        &self.text
    }

    /// The log seq it comes from.
    pub(crate) fn at(&self) -> u64 {
        self.at
    }

    /// Its size as a WebSocket frame, header included: what it costs a
    /// WebSocket's backlog, and what the writer gives back.
    pub(crate) fn wire_len(&self) -> usize {
        wire_len(self.text.len())
    }

    /// As a server's WebSocket text frame (unmasked, one fragment) for the
    /// WebSocket of `backlog`; `None` when the server's pool has no room and
    /// that member holds the most (it is to be dropped).
    pub(crate) fn encoded_for(&self, backlog: &Backlog) -> Option<Bytes> {
        if let Some(encoded) = self.encoded.get() {
            return Some(encoded.clone());
        }
        let mut frame = BytesMut::with_capacity(self.text.len() + 10);
        Parser::write_message(&mut frame, self.text.as_bytes(), OpCode::Text, true, false);
        let charged = backlog.pool().charged(frame.freeze(), backlog)?;
        // Another thread may have made it meanwhile: theirs is kept, ours
        // (and its charge) dropped.
        Some(self.encoded.get_or_init(|| charged).clone())
    }

    /// The text, as the polling session of `backlog` keeps it; `None` as
    /// for [`Self::encoded_for`].
    pub(crate) fn text_for(&self, backlog: &Backlog) -> Option<ByteString> {
        if let Some(text) = self.polled.get() {
            return Some(text.clone());
        }
        let charged = backlog
            .pool()
            .charged(self.text.as_bytes().clone(), backlog)?;
        // unwrap-free: the bytes are the text's own, so UTF-8.
        let text = ByteString::try_from(charged).unwrap_or_else(|_| self.text.clone());
        Some(self.polled.get_or_init(|| text).clone())
    }
}

/// The size of a server's unmasked WebSocket frame of `payload` bytes.
pub(crate) fn wire_len(payload: usize) -> usize {
    let header = match payload {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    header + payload
}

/// Queues kept past this many slots are given back once drained, so an
/// idle connection does not keep the queue a burst grew.
const KEPT_SLOTS: usize = 8;

/// A WebSocket's queue of the room's encoded frames and its byte count
/// (both in its [`Backlog`]), shared by its hub, its session and its
/// response stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outbox {
    backlog: Backlog,
}

impl Outbox {
    /// An outbox counting against `backlog`.
    pub(crate) fn new(backlog: Backlog) -> Self {
        Outbox { backlog }
    }

    /// The byte count: what the hub reserves against, and the session's
    /// own replies add to.
    pub(crate) fn backlog(&self) -> &Backlog {
        &self.backlog
    }

    /// Queues a frame's encoding ([`SharedFrame::encoded_for`]) for the
    /// writer; its bytes must have been reserved ([`Backlog::try_reserve`]).
    /// The writer takes it when next woken.
    pub(crate) fn push(&self, encoded: Bytes) {
        self.queue().frames.push_back(encoded);
    }

    /// Wakes the writer to take what is queued.
    pub(crate) fn wake(&self) {
        if let Some(writer) = self.queue().writer.take() {
            writer.wake();
        }
    }

    fn queue(&self) -> MutexGuard<'_, Waiting> {
        // A panic elsewhere while holding the lock leaves a queue of whole
        // frames, still usable.
        self.backlog
            .waiting()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wraps the session's response stream so that what it yields is counted.
    pub(crate) fn meter<S>(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            outbox: self.clone(),
        }
    }
}

/// A response stream that hands the writer the room's frames before the
/// session's own (charged to the server's pool), and ends the connection
/// with an error once the reader has been dropped.
pub(crate) struct Metered<S> {
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
        if self.outbox.backlog.is_dropped() {
            let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "client stopped reading");
            return Poll::Ready(Some(Err(E::from(error))));
        }
        // The room's frames first: a close the session writes after them
        // must not overtake them.
        {
            let mut queue = self.outbox.queue();
            if let Some(frame) = queue.frames.pop_front() {
                if queue.frames.is_empty() && queue.frames.capacity() > KEPT_SLOTS {
                    queue.frames = VecDeque::new();
                }
                drop(queue);
                return Poll::Ready(Some(Ok(frame)));
            }
            if !queue
                .writer
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                queue.writer = Some(cx.waker().clone());
            }
        }
        // The session's own frames (replies, pongs, the close), each
        // checked against the member's bound when queued, are charged to
        // the server's pool from here until the socket has them.
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let charged = self.outbox.backlog.pool().charged_anyway(chunk);
                Poll::Ready(Some(Ok(charged)))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The session's own stream: one chunk, then pending for ever.
    struct Session(Option<Bytes>);

    impl Stream for Session {
        type Item = Result<Bytes, std::io::Error>;

        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            match self.0.take() {
                Some(chunk) => Poll::Ready(Some(Ok(chunk))),
                None => Poll::Pending,
            }
        }
    }

    fn next<S: Stream + Unpin>(stream: &mut S) -> Poll<Option<S::Item>> {
        Pin::new(stream).poll_next(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn wire_len_is_the_encoded_size() {
        for len in [0, 125, 126, 65535, 65536] {
            let frame = SharedFrame::new(ByteString::from("x".repeat(len)), 0);
            let encoded = frame.encoded_for(&Backlog::default()).unwrap();
            assert_eq!(frame.wire_len(), encoded.len(), "{len}");
        }
    }

    #[test]
    fn queued_frames_go_first_encoded_once_and_are_counted_out() {
        let outbox = Outbox::default();
        let frame = SharedFrame::new(ByteString::from_static("hi"), 7);
        for _ in 0..2 {
            assert!(outbox.backlog().try_reserve(frame.wire_len(), 1000));
            outbox.push(frame.encoded_for(outbox.backlog()).unwrap());
        }
        let mut metered = outbox.meter(Session(Some(Bytes::from_static(b"close"))));
        let first = match next(&mut metered) {
            Poll::Ready(Some(Ok(chunk))) => chunk,
            other => panic!("expected a frame, got {other:?}"),
        };
        // A final text frame of two bytes, unmasked.
        assert_eq!(&first[..], b"\x81\x02hi");
        let second = match next(&mut metered) {
            Poll::Ready(Some(Ok(chunk))) => chunk,
            other => panic!("expected a frame, got {other:?}"),
        };
        assert_eq!(second.as_ptr(), first.as_ptr(), "one encoding, shared");
        match next(&mut metered) {
            Poll::Ready(Some(Ok(chunk))) => assert_eq!(&chunk[..], b"close"),
            other => panic!("expected the session's chunk, got {other:?}"),
        }
        assert!(next(&mut metered).is_pending());
        assert_eq!(
            outbox.backlog().pending(),
            2 * frame.wire_len(),
            "counted until the socket takes them"
        );
    }
}
