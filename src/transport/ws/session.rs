//! The WebSocket transport: one actor per connection. It turns WebSocket
//! messages into protocol frames for the ChatRoom, writes the room's frames
//! back, keeps the peer alive with pings, and enforces what only the
//! transport can see (frame size, binary frames, fragments, a peer that stops
//! reading). It holds no chat state.

use std::cell::RefCell;
use std::time::Instant;

use actix::prelude::*;
use actix::WeakAddr;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use bytes::Bytes;

use crate::core::backplane::LeftWhy;
use crate::core::rules::rate_limit::RateBucket;
use crate::delivery::hub::{self, Sink};
use crate::delivery::member::{Close, CloseKind};
use crate::delivery::outbox::{wire_len, Outbox};
use crate::http::client_addr::client_addr;
use crate::http::client_gate::WebSocketSlot;
use crate::http::error::HttpError;
use crate::http::state::AppState;
use crate::protocol::{error, parse_client_frame, ErrorCode, ServerFrame};
use crate::room_server::chat_room::{next_member_id, now_ms, Connect};
use crate::transport::ws::heartbeat::{self, Beat, Groups, CLIENT_TIMEOUT};
use crate::transport::ws::inbound::{failure, Failure, FrameGate, SharedVerdict};
use crate::transport::ws::socket::ConnSocket;
use crate::transport::ws::upgrade::Watch;

thread_local! {
    /// This thread's sessions, for the heartbeat.
    static BEATS: RefCell<Option<Groups<WeakAddr<WsSession>>>> = const { RefCell::new(None) };
}

/// Sends a session its beat; false once it has stopped.
fn beat(session: &WeakAddr<WsSession>) -> bool {
    session.upgrade().map(|s| s.do_send(Beat)).is_some()
}

/// What a session does with the messages it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Protocol frames for the ChatRoom: the server's `/ws`.
    Chat,
    /// Every text and binary message sent back as it came, and no room:
    /// the Autobahn|Testsuite target (`examples/autobahn_echo.rs`), which
    /// so tests this very session, codec, gate and upgrade path.
    Echo,
}

/// A fragmented message being reassembled.
struct Partial {
    text: bool,
    bytes: Vec<u8>,
    /// How much of `bytes` is known to be valid UTF-8 (text only), so each
    /// fragment is checked once, and an invalid one fails at once.
    checked: usize,
}

/// One WebSocket connection.
pub(crate) struct WsSession {
    id: u64,
    mode: Mode,
    state: web::Data<AppState>,
    last_heard: Instant,
    outbox: Outbox,
    socket: Option<ConnSocket>,
    /// What the frame gate saw, to tell why the decoder failed.
    verdict: SharedVerdict,
    partial: Option<Partial>,
    /// Discarding the fragments of a binary message.
    skipping_binary: bool,
    /// Direct answers (pongs, errors) the client may still draw.
    answers: RateBucket,
    /// Whether the client has been told its answers are rate-limited.
    quieted: bool,
    /// Text messages the client may still send before it is cut:
    /// [`INBOUND_FACTOR`] times the room's own allowance.
    inbound: RateBucket,
    /// Its place among its client's WebSockets (which names the client for
    /// the room's buckets), given back when it stops.
    slot: Option<WebSocketSlot>,
    /// The client closed with [`HANDOVER_CLOSE`]: its member keeps its
    /// place (for its lease) for a resume from another connection.
    handed_over: bool,
}

/// The close code a client sends when another of its connections (another
/// tab of the same browser) is about to resume its member: the member is
/// detached rather than made to leave, and holds its place for one lease
/// (`--lease-secs`), as a client that vanished without a close would until
/// its heartbeat timed out ([`CLIENT_TIMEOUT`]); no resume in time, and it
/// leaves. PROTOCOL.md 2.2.
pub(crate) const HANDOVER_CLOSE: u16 = 4100;

/// Replies of the session's own (pongs, error frames) a client may draw in
/// a burst, and per second after it: a client that sends pings or broken
/// frames faster gets no more answers, and one `rate_limited` notice.
const REPLY_BURST: u32 = 20;
const REPLIES_PER_SEC: u32 = 10;

/// How far past the per-user rate limit (`--rate-burst`,
/// `--rate-per-sec`) a WebSocket may send text messages before it is closed
/// with 1008: the room answers `rate_limited` up to here, so a client that
/// honours those answers never comes near it.
const INBOUND_FACTOR: u32 = 5;

impl WsSession {
    /// Queues a reply of the session's own, within the member's backlog
    /// bound like the room's frames; a client that has let the bound fill
    /// is dropped instead.
    fn reply(&mut self, len: usize, ctx: &mut ws::WebsocketContext<Self>) -> bool {
        let limit = self.state.limits.max_outbox_bytes;
        if self.outbox.backlog().try_reserve(wire_len(len), limit) {
            return true;
        }
        log::warn!(
            "connection {} is not reading its replies; dropping it",
            self.id
        );
        self.state.metrics.slow_clients_dropped.inc();
        self.outbox.backlog().drop_reader();
        self.outbox.wake();
        if let Some(socket) = self.socket.take() {
            socket.cut();
        }
        ctx.stop();
        false
    }

    /// Whether a frame that asks for a direct answer (a ping, a frame that
    /// is refused) may have one now; the first time not, the client hears
    /// `rate_limited` once.
    fn may_answer(&mut self, ctx: &mut ws::WebsocketContext<Self>) -> bool {
        match self.answers.take(now_ms()) {
            Ok(()) => {
                self.quieted = false;
                true
            }
            Err(retry_ms) => {
                if !std::mem::replace(&mut self.quieted, true) {
                    let notice = ServerFrame::Error {
                        code: ErrorCode::RateLimited,
                        message: "too many pings or refused frames; answers resume shortly".into(),
                        reference: None,
                        retry_ms: Some(retry_ms),
                    };
                    self.send_frame(notice, ctx);
                }
                false
            }
        }
    }

    fn send_frame(&mut self, frame: ServerFrame, ctx: &mut ws::WebsocketContext<Self>) {
        if let ServerFrame::Error { code, .. } = &frame {
            self.state.metrics.error(*code);
        }
        let text = frame.encode();
        if self.reply(text.len(), ctx) {
            ctx.text(text);
        }
    }

    /// Answers a frame with an error, if answers are not rate-limited now.
    fn refuse(&mut self, code: ErrorCode, message: &str, ctx: &mut ws::WebsocketContext<Self>) {
        if self.may_answer(ctx) {
            self.send_frame(error(code, message), ctx);
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        // Far past what the room would accept from one person: the room's
        // own limits answer each frame, but on its one thread; a client
        // that keeps this up is cut here, before its frames reach it.
        if self.inbound.take(now_ms()).is_err() {
            log::debug!("connection {} sends too fast; closing it", self.id);
            self.state.metrics.error(ErrorCode::RateLimited);
            self.close(ws::CloseCode::Policy, "sending too fast", ctx);
            return;
        }
        if self.mode == Mode::Echo {
            if self.reply(text.len(), ctx) {
                ctx.text(text);
            }
            return;
        }
        match parse_client_frame(text) {
            Ok(frame) => self.state.rooms.inbound(self.id, frame),
            Err(refusal) => {
                if self.may_answer(ctx) {
                    self.send_frame(refusal.frame(), ctx);
                }
            }
        }
    }

    fn on_ping(&mut self, payload: &[u8], ctx: &mut ws::WebsocketContext<Self>) {
        if self.may_answer(ctx) && self.reply(payload.len(), ctx) {
            ctx.pong(payload);
        }
    }

    fn on_binary(&mut self, bytes: Bytes, ctx: &mut ws::WebsocketContext<Self>) {
        if self.mode == Mode::Echo {
            if self.reply(bytes.len(), ctx) {
                ctx.binary(bytes);
            }
        } else {
            self.refuse(
                ErrorCode::BinaryUnsupported,
                "the protocol is JSON text frames",
                ctx,
            );
        }
    }

    /// Counts a frame of the session's own that is never refused (a ping,
    /// a close: small, and at most one per beat or per connection) in the
    /// backlog, which the writer releases as it writes it.
    fn count(&self, payload: usize) {
        self.outbox.backlog().add(wire_len(payload));
    }

    /// Sends `reason` as the close frame (its size counted), and stops.
    fn send_close(&self, reason: Option<ws::CloseReason>, ctx: &mut ws::WebsocketContext<Self>) {
        let payload = reason
            .as_ref()
            .map_or(0, |r| 2 + r.description.as_ref().map_or(0, String::len));
        self.count(payload);
        ctx.close(reason);
        ctx.stop();
    }

    /// Closes with `code` and a reason, and stops.
    fn close(&self, code: ws::CloseCode, reason: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let reason = ws::CloseReason {
            code,
            description: Some(reason.into()),
        };
        self.send_close(Some(reason), ctx);
    }

    /// Text that is not UTF-8 fails the connection (RFC 6455 §8.1): 1007.
    fn not_utf8(&self, ctx: &mut ws::WebsocketContext<Self>) {
        log::debug!("connection {}: text is not UTF-8", self.id);
        self.close(ws::CloseCode::Invalid, "text is not UTF-8", ctx);
    }

    fn too_large(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let limit = self.state.limits.max_frame_bytes;
        self.refuse(
            ErrorCode::FrameTooLarge,
            &format!("frames are limited to {limit} bytes"),
            ctx,
        );
        self.close(ws::CloseCode::Size, "frame too large", ctx);
    }

    fn on_fragment(&mut self, item: actix_http::ws::Item, ctx: &mut ws::WebsocketContext<Self>) {
        use actix_http::ws::Item;
        let (bytes, last) = match item {
            Item::FirstText(bytes) => {
                self.partial = Some(Partial {
                    text: true,
                    bytes: Vec::new(),
                    checked: 0,
                });
                (bytes, false)
            }
            Item::FirstBinary(bytes) if self.mode == Mode::Echo => {
                self.partial = Some(Partial {
                    text: false,
                    bytes: Vec::new(),
                    checked: 0,
                });
                (bytes, false)
            }
            Item::FirstBinary(_) => {
                self.skipping_binary = true;
                self.on_binary(Bytes::new(), ctx);
                return;
            }
            Item::Continue(bytes) => (bytes, false),
            Item::Last(bytes) => (bytes, true),
        };
        if self.skipping_binary {
            self.skipping_binary = !last;
            return;
        }
        // The codec refuses a continuation with no first fragment, so a
        // message is always under way here.
        let Some(partial) = self.partial.as_mut() else {
            return;
        };
        partial.bytes.extend_from_slice(&bytes);
        if partial.bytes.len() > self.state.limits.max_frame_bytes {
            self.partial = None;
            self.too_large(ctx);
            return;
        }
        if partial.text {
            match std::str::from_utf8(&partial.bytes[partial.checked..]) {
                Ok(_) => partial.checked = partial.bytes.len(),
                // Cut inside a character: the rest may come with the next
                // fragment, unless this was the last.
                Err(err) if err.error_len().is_none() && !last => {
                    partial.checked += err.valid_up_to();
                }
                Err(_) => {
                    self.partial = None;
                    self.not_utf8(ctx);
                    return;
                }
            }
        }
        if last {
            let Some(Partial { text, bytes, .. }) = self.partial.take() else {
                return;
            };
            if text {
                // unwrap: every byte was checked above.
                let text = String::from_utf8(bytes).unwrap();
                self.on_text(&text, ctx);
            } else {
                self.on_binary(Bytes::from(bytes), ctx);
            }
        }
    }
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.state
            .metrics
            .connections_of(crate::metrics::Transport::WebSocket)
            .inc();
        heartbeat::join(&BEATS, ctx.address().downgrade(), beat);
        if self.mode == Mode::Echo {
            return;
        }
        let close = ctx.address().recipient();
        let sink = Sink::Socket(self.outbox.clone());
        let hub = hub::join(self.id, close, sink, &self.state.delivery);
        let connect = Connect {
            id: self.id,
            hub,
            // unwrap: the slot is taken only when the session stops.
            client: self.slot.as_ref().map(WebSocketSlot::key).unwrap(),
            poll: None,
        };
        self.state.rooms.connect(connect, None);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.slot = None;
        self.state
            .metrics
            .connections_of(crate::metrics::Transport::WebSocket)
            .dec();
        if self.mode == Mode::Echo {
            return;
        }
        hub::leave(self.id);
        let why = if self.handed_over {
            None
        } else if self.outbox.backlog().is_dropped() {
            Some(LeftWhy::Dropped)
        } else {
            Some(LeftWhy::Gone)
        };
        self.state.rooms.disconnect(self.id, why);
    }
}

impl Handler<Beat> for WsSession {
    type Result = ();

    fn handle(&mut self, _: Beat, ctx: &mut Self::Context) {
        if self.last_heard.elapsed() > CLIENT_TIMEOUT {
            log::debug!("connection {} timed out", self.id);
            ctx.stop();
        } else {
            self.count(0);
            ctx.ping(b"");
        }
    }
}

impl Handler<Close> for WsSession {
    type Result = ();

    fn handle(&mut self, Close(kind): Close, ctx: &mut Self::Context) {
        if kind == CloseKind::SlowReader {
            // Dropped by its hub for not reading: nothing more is sent, and
            // the socket is cut so the HTTP layer lets go of what is still
            // queued.
            if let Some(socket) = self.socket.take() {
                socket.cut();
            }
            ctx.stop();
        } else {
            let (code, reason) = kind.code_and_reason();
            self.close(ws::CloseCode::from(code), reason, ctx);
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(bytes)) => self.on_binary(bytes, ctx),
            Ok(ws::Message::Continuation(item)) => self.on_fragment(item, ctx),
            Ok(ws::Message::Ping(payload)) => self.on_ping(&payload, ctx),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                self.handed_over = reason
                    .as_ref()
                    .is_some_and(|r| u16::from(r.code) == HANDOVER_CLOSE);
                self.send_close(reason, ctx);
            }
            // The decoder's errors do not say whether the gate refused a
            // header or the text was not UTF-8; the gate's verdict does.
            Err(err) => match failure(&err, self.verdict.get()) {
                Failure::TooLarge => self.too_large(ctx),
                Failure::NotUtf8 => self.not_utf8(ctx),
                Failure::Broken => {
                    log::debug!("connection {}: {err}", self.id);
                    ctx.stop();
                }
                Failure::Protocol => {
                    log::debug!("connection {}: protocol error: {err}", self.id);
                    let reason = match err {
                        ws::ProtocolError::Io(_) => "protocol error".to_owned(),
                        err => err.to_string(),
                    };
                    self.close(ws::CloseCode::Protocol, &reason, ctx);
                }
            },
        }
    }
}

/// `GET /ws`: upgrades to a WebSocket session after the origin check and
/// the client's connection limits (attempts per second, WebSockets open).
pub(crate) async fn route(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    upgrade(req, stream, state, Mode::Chat)
}

/// `GET /ws` of the Autobahn|Testsuite target: the same, echoing.
pub(crate) async fn echo_route(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    upgrade(req, stream, state, Mode::Echo)
}

fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    mode: Mode,
) -> Result<HttpResponse, actix_web::Error> {
    if !state.transports.websocket {
        return Err(HttpError::TransportDisabled("websocket").into());
    }
    let client = client_addr(&req, &state.trusted_proxies);
    state.origins.check(&req, client.host.as_deref())?;
    let key = state.gate.key(client.ip);
    state.gate.attempt(key)?;
    let slot = state.gate.open_websocket(key)?;
    let mut response = ws::handshake(&req)?;
    let outbox = Outbox::new(state.queued.backlog());
    let verdict = SharedVerdict::default();
    let max_frame_bytes = state.limits.max_frame_bytes;
    let write_stall = state.limits.write_stall;
    let (inbound_burst, inbound_per_sec) = (state.limits.rate_burst, state.limits.rate_per_sec);
    let session = WsSession {
        id: next_member_id(),
        mode,
        state,
        last_heard: Instant::now(),
        outbox: outbox.clone(),
        socket: req.conn_data::<ConnSocket>().copied(),
        verdict: verdict.clone(),
        partial: None,
        skipping_binary: false,
        answers: RateBucket::new(REPLY_BURST, REPLIES_PER_SEC, now_ms()),
        quieted: false,
        inbound: RateBucket::new(
            inbound_burst.saturating_mul(INBOUND_FACTOR),
            inbound_per_sec.saturating_mul(INBOUND_FACTOR),
            now_ms(),
        ),
        slot: Some(slot),
        handed_over: false,
    };
    // The gate refuses oversized frames from their header; the codec's own
    // limit stays as a second line.
    let gated = FrameGate::new(stream, max_frame_bytes, verdict);
    let codec = actix_http::ws::Codec::new().max_size(max_frame_bytes);
    let frames = Box::pin(ws::WebsocketContext::with_codec(session, gated, codec));
    // The connection's writer (src/transport/ws/upgrade.rs) ends it as soon
    // as the backlog is marked dropped, whether or not the session runs.
    response.extensions_mut().insert(Watch {
        backlog: outbox.backlog().clone(),
        stall: write_stall,
    });
    Ok(response.streaming(outbox.meter(frames)))
}
