//! Fuzz entry points for the WebSocket wire: a client's bytes through the
//! frame gate and actix-http's codec, read the way actix-web-actors reads
//! them (drain the body until it is pending, then decode one frame), and
//! the upgrade request before them. Each panics when an invariant breaks.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_codec::Decoder;
use actix_http::error::PayloadError;
use actix_http::h1;
use actix_http::ws::{Codec, Frame, Item, ProtocolError};
use actix_http::{HttpMessage, Request, ServiceConfig};
use actix_web::test::TestRequest;
use bytes::{Bytes, BytesMut};
use futures_core::Stream;

use crate::fuzzing::headers::{check_client, check_origin};
use crate::transport::ws::inbound::{failure, Failure, FrameGate, SharedVerdict};

/// The limits a target may pick from (`--max-frame-bytes`): around the
/// control frames' 125, the codec's two length forms, and the default.
const LIMITS: [usize; 8] = [0, 1, 125, 126, 1000, 65_535, 65_536, 64 * 1024 * 1024];

/// Largest frame header, and the most a control frame carries.
const MAX_HEADER: usize = 14;
const MAX_CONTROL: usize = 125;

thread_local! {
    /// The HTTP/1 codec's configuration, made once: it starts a task that
    /// keeps the date for responses, so it needs a runtime, kept here too
    /// (the task never runs: decoding a request reads no date).
    static CONFIG: (actix_rt::SystemRunner, ServiceConfig) = {
        let system = actix_rt::System::new();
        let config = system.block_on(async { ServiceConfig::default() });
        (system, config)
    };
}

/// What the session is handed: a frame, or the end of the connection.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Frame(Frame),
    Failed(Failure),
}

/// A request body of the given chunks, then its end.
struct Chunks(VecDeque<Bytes>);

impl Stream for Chunks {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

/// Reads `chunks` through the gate and the codec as a session would, up to
/// the first failure; checks that the gate hands on the input's bytes in
/// order and that the decoder never holds more than one frame.
fn read(chunks: Vec<Bytes>, max: usize) -> Vec<Event> {
    let input: Vec<u8> = chunks.concat();
    let verdict = SharedVerdict::default();
    let body = Chunks(chunks.into());
    let mut gate = FrameGate::new(body, max, verdict.clone());
    let mut codec = Codec::new().max_size(max);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let (mut buf, mut handed, mut ended) = (BytesMut::new(), 0, false);
    let mut events = Vec::new();
    let fail = |events: &mut Vec<Event>, why: &str| {
        let err = ProtocolError::Io(io::Error::other(why.to_owned()));
        events.push(Event::Failed(failure(&err, verdict.get())));
    };
    loop {
        while !ended {
            match Pin::new(&mut gate).poll_next(&mut cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    assert_eq!(chunk[..], input[handed..handed + chunk.len()]);
                    handed += chunk.len();
                    buf.extend_from_slice(&chunk);
                }
                Poll::Ready(Some(Err(err))) => {
                    fail(&mut events, &err.to_string());
                    return events;
                }
                Poll::Ready(None) => ended = true,
                Poll::Pending => break,
            }
        }
        assert!(
            buf.len() <= max.max(MAX_CONTROL) + MAX_HEADER,
            "the decoder holds {} bytes with a limit of {max}",
            buf.len()
        );
        match codec.decode(&mut buf) {
            Ok(Some(Frame::Text(text))) if std::str::from_utf8(&text).is_err() => {
                fail(&mut events, "text is not UTF-8");
                return events;
            }
            Ok(Some(frame)) => {
                if let Frame::Text(data)
                | Frame::Binary(data)
                | Frame::Continuation(
                    Item::FirstText(data)
                    | Item::FirstBinary(data)
                    | Item::Continue(data)
                    | Item::Last(data),
                ) = &frame
                {
                    assert!(
                        data.len() <= max,
                        "{} bytes passed a limit of {max}",
                        data.len()
                    );
                }
                events.push(Event::Frame(frame));
            }
            Ok(None) if ended => return events,
            Ok(None) => {}
            Err(err) => {
                events.push(Event::Failed(failure(&err, verdict.get())));
                return events;
            }
        }
    }
}

/// A client's bytes after the upgrade. The first byte picks the limit,
/// the second where the bytes are split in two: the session is handed the
/// same frames and the same failure whether they arrive whole, split
/// there, or one byte at a time; no data frame over the limit is handed
/// on, and the decoder holds at most one frame.
pub fn websocket(data: &[u8]) {
    let [limit, split, wire @ ..] = data else {
        return;
    };
    let max = LIMITS[usize::from(limit % 8)];
    let whole = read(vec![Bytes::copy_from_slice(wire)], max);
    let at = usize::from(*split) * wire.len() / 255;
    let (a, b) = wire.split_at(at);
    let parts = vec![Bytes::copy_from_slice(a), Bytes::copy_from_slice(b)];
    assert_eq!(whole, read(parts, max), "split at {at}");
    let bytes = wire.iter().map(|b| Bytes::copy_from_slice(&[*b])).collect();
    assert_eq!(whole, read(bytes, max), "one byte at a time");
}

/// An upgrade request and the frames sent right behind it. The head is
/// read by actix-http's HTTP/1 codec (the same whole or split where the
/// first byte says), then checked as `/ws` checks it: client address,
/// origin, WebSocket handshake; whatever followed the head goes through
/// the frame gate as in [`websocket`].
pub fn upgrade(data: &[u8]) {
    let [split, rest @ ..] = data else {
        return;
    };
    let at = usize::from(*split) * rest.len() / 255;
    let (a, b) = rest.split_at(at);
    let Some((req, early)) = head(&[rest]) else {
        assert!(head(&[a, b]).is_none(), "split at {at}");
        return;
    };
    let (again, early_again) = head(&[a, b]).expect("the head read whole is read split");
    assert_eq!(summary(&req), summary(&again), "split at {at}");
    assert_eq!(early, early_again);
    let mut test = TestRequest::default()
        .method(req.method().clone())
        .version(req.version())
        .peer_addr(([127, 0, 0, 1], 40000).into());
    for (name, value) in req.headers().iter() {
        test = test.append_header((name.clone(), value.clone()));
    }
    let req = test.to_http_request();
    let client = check_client(&req, &["127.0.0.1".parse().expect("an address")]);
    check_origin(&req, client.host.as_deref());
    if actix_web_actors::ws::handshake(&req).is_ok() {
        assert_eq!(req.method(), actix_web::http::Method::GET);
        read(vec![early], LIMITS[4]);
    }
}

/// What of a request head the route sees, comparable.
type Summary = (String, String, Vec<(String, Vec<u8>)>);

fn summary(req: &Request) -> Summary {
    let headers = req.headers().iter();
    let mut headers: Vec<_> = headers
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect();
    // The header map's order is its hashing's, not the request's.
    headers.sort();
    (
        format!("{} {:?}", req.method(), req.version()),
        req.uri().to_string(),
        headers,
    )
}

/// The request head read from `parts` in turn, and every byte after it;
/// `None` when the parts hold no whole head or a malformed one.
fn head(parts: &[&[u8]]) -> Option<(Request, Bytes)> {
    let mut codec = h1::Codec::new(CONFIG.with(|(_, config)| config.clone()));
    let mut buf = BytesMut::new();
    for (i, part) in parts.iter().enumerate() {
        buf.extend_from_slice(part);
        match codec.decode(&mut buf) {
            Ok(Some(h1::Message::Item(req))) => {
                for rest in &parts[i + 1..] {
                    buf.extend_from_slice(rest);
                }
                return Some((req, buf.freeze()));
            }
            Ok(Some(h1::Message::Chunk(_))) | Err(_) => return None,
            Ok(None) => {}
        }
    }
    None
}
