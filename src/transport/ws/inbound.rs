//! What a WebSocket client sends, checked as the bytes arrive and handed to
//! actix-web-actors' decoder one frame at a time. actix-http's codec checks
//! `--max-frame-bytes` only once a whole frame has arrived, and
//! actix-web-actors reads everything the socket holds into one buffer
//! before it decodes: a header declaring 2^62 bytes followed by a stream of
//! zeros was read for 2 GB before anything refused it. [`FrameGate`] sits
//! between the request body and that decoder and follows the frame
//! boundaries itself:
//!
//! - a data frame whose header declares more than the limit is refused from
//!   its header, before any of its payload is read; the session then
//!   closes with 1009 ([`Verdict::TooLarge`]); so is a control frame over
//!   125 bytes, a fragmented one or a reserved opcode, with 1002;
//! - each round of reading (the decoder polls until the body is pending)
//!   carries at most one frame's end, so the decoder's buffer holds at most
//!   one frame (the limit plus its header) and the gate at most one read
//!   chunk: what a client can make the server hold is bounded whatever it
//!   sends.
//!
//! It also tells the session why the decoder failed, which the decoder's
//! errors do not say: the body's own error, the gate's refusal (an oversized
//! frame, or reserved bits set, which the codec reports as an I/O error
//! too), or else a text frame that is not UTF-8, which closes with 1007. It
//! knows nothing of the chat.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_http::error::PayloadError;
use actix_http::ws::ProtocolError;
use bytes::Bytes;
use futures_core::Stream;

/// Why the stream of frames ended, as far as the gate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Verdict {
    /// Nothing wrong seen by the gate.
    #[default]
    Fine,
    /// A data frame declared more than the limit.
    TooLarge,
    /// A header broke the protocol: reserved bits set with no extension
    /// negotiated (the codec reports it as an I/O error), a reserved
    /// opcode, or a control frame over 125 bytes or fragmented.
    Protocol,
    /// The body itself failed (the socket).
    Broken,
}

/// The gate's verdict, shared with the session on the same thread.
pub(crate) type SharedVerdict = Rc<Cell<Verdict>>;

/// What a failed stream of frames means for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A data frame over the limit: `frame_too_large`, then close 1009.
    TooLarge,
    /// Text that is not UTF-8: close 1007.
    NotUtf8,
    /// Anything else against RFC 6455: close 1002.
    Protocol,
    /// The socket failed: nothing more can be sent.
    Broken,
}

/// Why the decoder failed with `err`, given the gate's `verdict`: the
/// decoder reports the gate's refusals, the body's errors and text that
/// is not UTF-8 all as I/O errors.
pub(crate) fn failure(err: &ProtocolError, verdict: Verdict) -> Failure {
    match err {
        ProtocolError::Overflow => Failure::TooLarge,
        ProtocolError::Io(err) => match verdict {
            Verdict::TooLarge => Failure::TooLarge,
            Verdict::Broken => Failure::Broken,
            // actix-web-actors reports text that is not UTF-8 as an I/O
            // error of kind `Other`; anything else is the protocol.
            Verdict::Fine if err.kind() == io::ErrorKind::Other => Failure::NotUtf8,
            Verdict::Fine | Verdict::Protocol => Failure::Protocol,
        },
        _ => Failure::Protocol,
    }
}

/// Largest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER: usize = 14;

/// Where the gate is in the frame it follows.
#[derive(Debug)]
enum Position {
    /// Reading a header: the bytes of it seen so far.
    Header {
        bytes: [u8; MAX_HEADER],
        have: usize,
    },
    /// Inside a payload: bytes still to come.
    Payload { left: u64 },
}

/// The request body of one WebSocket, gated frame by frame.
pub(crate) struct FrameGate<S> {
    inner: S,
    max_frame_bytes: usize,
    position: Position,
    /// Bytes read from the body and not yet handed on.
    held: Bytes,
    /// Set once this round has handed on a frame's end.
    round_done: bool,
    ended: bool,
    verdict: SharedVerdict,
}

impl<S> FrameGate<S> {
    /// Gates `inner`, refusing data frames over `max_frame_bytes`; the
    /// verdict is written to `verdict`.
    pub(crate) fn new(inner: S, max_frame_bytes: usize, verdict: SharedVerdict) -> Self {
        FrameGate {
            inner,
            max_frame_bytes,
            position: Position::Header {
                bytes: [0; MAX_HEADER],
                have: 0,
            },
            held: Bytes::new(),
            round_done: false,
            ended: false,
            verdict,
        }
    }

    /// Follows `chunk` through the frames; answers how many of its bytes
    /// go out now (up to and including the first frame's end), or `Err`
    /// when a header is refused.
    fn follow(&mut self, chunk: &[u8]) -> Result<usize, Verdict> {
        let mut at = 0;
        while at < chunk.len() {
            match &mut self.position {
                Position::Header { bytes, have } => {
                    bytes[*have] = chunk[at];
                    *have += 1;
                    at += 1;
                    if *have == 1 && bytes[0] & 0x70 != 0 {
                        return Err(Verdict::Protocol);
                    }
                    if let Some(length) = header_length(&bytes[..*have]) {
                        let (fin, opcode) = (bytes[0] & 0x80 != 0, bytes[0] & 0x0f);
                        match opcode {
                            // Text, binary, continuation: the limit.
                            0..=2 if length > self.max_frame_bytes as u64 => {
                                return Err(Verdict::TooLarge)
                            }
                            0..=2 => {}
                            // Close, ping, pong: 125 bytes at most, never
                            // fragmented (RFC 6455 §5.5), refused from the
                            // header too, before a long one is buffered.
                            8..=10 if length > 125 || !fin => return Err(Verdict::Protocol),
                            8..=10 => {}
                            // Reserved opcodes.
                            _ => return Err(Verdict::Protocol),
                        }
                        if length == 0 {
                            self.position = Position::Header {
                                bytes: [0; MAX_HEADER],
                                have: 0,
                            };
                            self.round_done = true;
                            return Ok(at);
                        }
                        self.position = Position::Payload { left: length };
                    }
                }
                Position::Payload { left } => {
                    let take = (chunk.len() - at).min(usize::try_from(*left).unwrap_or(usize::MAX));
                    at += take;
                    *left -= take as u64;
                    if *left == 0 {
                        self.position = Position::Header {
                            bytes: [0; MAX_HEADER],
                            have: 0,
                        };
                        self.round_done = true;
                        return Ok(at);
                    }
                }
            }
        }
        Ok(at)
    }
}

/// A complete header's payload length; `None` while more bytes are
/// needed.
fn header_length(header: &[u8]) -> Option<u64> {
    if header.len() < 2 {
        return None;
    }
    let masked = header[1] & 0x80 != 0;
    let mask = if masked { 4 } else { 0 };
    let (length, size) = match header[1] & 0x7f {
        126 => (2, 4),
        127 => (8, 10),
        short => return (header.len() == 2 + mask).then_some(u64::from(short)),
    };
    if header.len() < size + mask {
        return None;
    }
    let mut value = 0u64;
    for byte in &header[2..2 + length] {
        value = (value << 8) | u64::from(*byte);
    }
    Some(value)
}

impl<S> Stream for FrameGate<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.round_done {
            // Let the decoder take the frame it has before reading more.
            self.round_done = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let chunk = if self.held.is_empty() {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => chunk,
                Poll::Ready(Some(Err(err))) => {
                    self.ended = true;
                    self.verdict.set(Verdict::Broken);
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(None) => {
                    self.ended = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        } else {
            std::mem::take(&mut self.held)
        };
        match self.follow(&chunk) {
            Ok(out) => {
                let mut chunk = chunk;
                self.held = chunk.split_off(out);
                Poll::Ready(Some(Ok(chunk)))
            }
            Err(verdict) => {
                self.ended = true;
                self.verdict.set(verdict);
                let error = match verdict {
                    Verdict::TooLarge => PayloadError::Overflow,
                    _ => PayloadError::EncodingCorrupted,
                };
                Poll::Ready(Some(Err(error)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of the given chunks, then pending for ever.
    struct Body(Vec<Bytes>);

    impl Stream for Body {
        type Item = Result<Bytes, PayloadError>;

        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            if self.0.is_empty() {
                Poll::Pending
            } else {
                Poll::Ready(Some(Ok(self.0.remove(0))))
            }
        }
    }

    /// A masked client frame with this opcode and payload.
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(payload);
        out
    }

    /// Polls until pending; answers the bytes handed on and whether the
    /// round ended on its own (a frame's end) rather than for lack of bytes.
    fn round<S>(gate: &mut FrameGate<S>) -> (Vec<u8>, Option<PayloadError>)
    where
        S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    {
        let mut out = Vec::new();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        loop {
            match Pin::new(&mut *gate).poll_next(&mut cx) {
                Poll::Ready(Some(Ok(bytes))) => out.extend_from_slice(&bytes),
                Poll::Ready(Some(Err(err))) => return (out, Some(err)),
                Poll::Ready(None) | Poll::Pending => return (out, None),
            }
        }
    }

    fn gated(chunks: Vec<Vec<u8>>, max: usize) -> (FrameGate<Body>, SharedVerdict) {
        let verdict = SharedVerdict::default();
        let body = Body(chunks.into_iter().map(Bytes::from).collect());
        (FrameGate::new(body, max, verdict.clone()), verdict)
    }

    #[test]
    fn each_round_carries_one_frame_however_the_bytes_arrive() {
        let (a, b, c) = (frame(1, b"one"), frame(9, b""), frame(2, &[7; 300]));
        let all = [a.clone(), b.clone(), c.clone()].concat();
        // All three in one chunk, then the same split at odd places.
        for chunks in [
            vec![all.clone()],
            vec![all[..3].to_vec(), all[3..20].to_vec(), all[20..].to_vec()],
        ] {
            let (mut gate, verdict) = gated(chunks, 1000);
            assert_eq!(round(&mut gate).0, a);
            assert_eq!(round(&mut gate).0, b);
            assert_eq!(round(&mut gate).0, c);
            assert_eq!(verdict.get(), Verdict::Fine);
        }
    }

    #[test]
    fn an_oversized_header_is_refused_before_its_payload() {
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
        huge.extend_from_slice(&[0, 0, 0, 0]);
        let first = frame(1, b"ok");
        let (mut gate, verdict) = gated(vec![[first.clone(), huge].concat(), vec![0; 4096]], 1000);
        assert_eq!(round(&mut gate).0, first);
        let (out, err) = round(&mut gate);
        assert!(out.is_empty(), "nothing of the refused frame is handed on");
        assert!(matches!(err, Some(PayloadError::Overflow)));
        assert_eq!(verdict.get(), Verdict::TooLarge);
    }

    #[test]
    fn a_long_control_frame_is_refused_from_its_header() {
        let mut ping = vec![0x89, 0x80 | 127];
        ping.extend_from_slice(&(1u64 << 40).to_be_bytes());
        ping.extend_from_slice(&[0, 0, 0, 0]);
        for header in [
            ping,
            frame(9, &[0; 126]),
            vec![0x09, 0x80, 0, 0, 0, 0],
            frame(3, b""),
        ] {
            let (mut gate, verdict) = gated(vec![header], 1 << 20);
            assert!(round(&mut gate).1.is_some());
            assert_eq!(verdict.get(), Verdict::Protocol);
        }
    }

    #[test]
    fn reserved_bits_are_refused() {
        let mut rsv = frame(1, b"x");
        rsv[0] |= 0x40;
        let (mut gate, verdict) = gated(vec![rsv], 1000);
        assert!(round(&mut gate).1.is_some());
        assert_eq!(verdict.get(), Verdict::Protocol);
    }

    #[test]
    fn the_limit_is_per_data_frame_and_control_frames_pass() {
        let (mut gate, verdict) = gated(vec![frame(1, &[b'a'; 1000]), frame(9, b"ping")], 1000);
        assert_eq!(round(&mut gate).0.len(), 1000 + 8);
        assert_eq!(round(&mut gate).0, frame(9, b"ping"));
        assert_eq!(verdict.get(), Verdict::Fine);
        let (mut gate, verdict) = gated(vec![frame(0, &[b'a'; 1001])], 1000);
        assert!(round(&mut gate).1.is_some());
        assert_eq!(verdict.get(), Verdict::TooLarge);
    }
}
