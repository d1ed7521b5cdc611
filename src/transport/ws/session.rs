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

use crate::core::backplane::LeftWhy;
use crate::delivery::hub::{self, Sink};
use crate::delivery::member::{Close, CloseKind};
use crate::delivery::outbox::Outbox;
use crate::http::client_addr::client_addr;
use crate::http::client_gate::WebSocketSlot;
use crate::http::error::HttpError;
use crate::http::state::AppState;
use crate::protocol::{error, parse_client_frame, ErrorCode, ServerFrame};
use crate::room_server::chat_room::{next_member_id, Connect, Disconnect, Inbound};
use crate::transport::ws::heartbeat::{self, Beat, Groups, CLIENT_TIMEOUT};
use crate::transport::ws::socket::ConnSocket;

thread_local! {
    /// This thread's sessions, for the heartbeat.
    static BEATS: RefCell<Option<Groups<WeakAddr<WsSession>>>> = const { RefCell::new(None) };
}

/// Sends a session its beat; false once it has stopped.
fn beat(session: &WeakAddr<WsSession>) -> bool {
    session.upgrade().map(|s| s.do_send(Beat)).is_some()
}

/// One WebSocket connection.
pub(crate) struct WsSession {
    id: u64,
    state: web::Data<AppState>,
    last_heard: Instant,
    outbox: Outbox,
    socket: Option<ConnSocket>,
    /// A fragmented text message being reassembled.
    partial: Option<Vec<u8>>,
    /// Discarding the fragments of a binary message.
    skipping_binary: bool,
    /// Its place among its client's WebSockets (which names the client for
    /// the room's buckets), given back when it stops.
    slot: Option<WebSocketSlot>,
}

impl WsSession {
    fn send_frame(&self, frame: ServerFrame, ctx: &mut ws::WebsocketContext<Self>) {
        if let ServerFrame::Error { code, .. } = &frame {
            self.state.metrics.error(*code);
        }
        let text = frame.encode();
        self.outbox.backlog().add(text.len());
        ctx.text(text);
    }

    fn refuse(&self, code: ErrorCode, message: &str, ctx: &mut ws::WebsocketContext<Self>) {
        self.send_frame(error(code, message), ctx);
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match parse_client_frame(text) {
            Ok(frame) => self.state.room.do_send(Inbound { id: self.id, frame }),
            Err(refusal) => self.send_frame(refusal.frame(), ctx),
        }
    }

    fn too_large(&self, ctx: &mut ws::WebsocketContext<Self>) {
        let limit = self.state.limits.max_frame_bytes;
        self.refuse(
            ErrorCode::FrameTooLarge,
            &format!("frames are limited to {limit} bytes"),
            ctx,
        );
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Size,
            description: Some("frame too large".into()),
        }));
        ctx.stop();
    }

    fn on_fragment(&mut self, item: actix_http::ws::Item, ctx: &mut ws::WebsocketContext<Self>) {
        let (bytes, last) = match item {
            actix_http::ws::Item::FirstText(bytes) => {
                self.partial = Some(Vec::new());
                (bytes, false)
            }
            actix_http::ws::Item::FirstBinary(_) => {
                self.skipping_binary = true;
                self.refuse(
                    ErrorCode::BinaryUnsupported,
                    "the protocol is JSON text frames",
                    ctx,
                );
                return;
            }
            actix_http::ws::Item::Continue(bytes) => (bytes, false),
            actix_http::ws::Item::Last(bytes) => (bytes, true),
        };
        if self.skipping_binary {
            self.skipping_binary = !last;
            return;
        }
        let Some(buffer) = self.partial.as_mut() else {
            self.refuse(
                ErrorCode::BadFrame,
                "continuation without a first fragment",
                ctx,
            );
            return;
        };
        buffer.extend_from_slice(&bytes);
        if buffer.len() > self.state.limits.max_frame_bytes {
            self.partial = None;
            self.too_large(ctx);
        } else if last {
            let whole = self.partial.take().unwrap_or_default();
            match String::from_utf8(whole) {
                Ok(text) => self.on_text(&text, ctx),
                Err(_) => self.refuse(ErrorCode::BadFrame, "text is not UTF-8", ctx),
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
        let close = ctx.address().recipient();
        let sink = Sink::Socket(self.outbox.clone());
        let hub = hub::join(self.id, close, sink, &self.state.delivery);
        self.state.room.do_send(Connect {
            id: self.id,
            hub,
            // unwrap: the slot is taken only when the session stops.
            client: self.slot.as_ref().map(WebSocketSlot::key).unwrap(),
            poll: None,
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.slot = None;
        self.state
            .metrics
            .connections_of(crate::metrics::Transport::WebSocket)
            .dec();
        hub::leave(self.id);
        self.state.room.do_send(Disconnect {
            id: self.id,
            why: Some(LeftWhy::Gone),
        });
    }
}

impl Handler<Beat> for WsSession {
    type Result = ();

    fn handle(&mut self, _: Beat, ctx: &mut Self::Context) {
        if self.last_heard.elapsed() > CLIENT_TIMEOUT {
            log::debug!("connection {} timed out", self.id);
            ctx.stop();
        } else {
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
        } else {
            let (code, reason) = kind.code_and_reason();
            ctx.close(Some(ws::CloseReason {
                code: ws::CloseCode::from(code),
                description: Some(reason.into()),
            }));
        }
        ctx.stop();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => self.refuse(
                ErrorCode::BinaryUnsupported,
                "the protocol is JSON text frames",
                ctx,
            ),
            Ok(ws::Message::Continuation(item)) => self.on_fragment(item, ctx),
            Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Err(ws::ProtocolError::Overflow) => self.too_large(ctx),
            Err(err) => {
                log::debug!("connection {}: protocol error: {err}", self.id);
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Protocol,
                    description: Some(err.to_string()),
                }));
                ctx.stop();
            }
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
    if !state.transports.websocket {
        return Err(HttpError::TransportDisabled("websocket").into());
    }
    let client = client_addr(&req, &state.trusted_proxies);
    state.origins.check(&req, client.host.as_deref())?;
    let key = state.gate.key(client.ip);
    state.gate.attempt(key)?;
    let slot = state.gate.open_websocket(key)?;
    let mut response = ws::handshake(&req)?;
    let outbox = Outbox::default();
    let session = WsSession {
        id: next_member_id(),
        state: state.clone(),
        last_heard: Instant::now(),
        outbox: outbox.clone(),
        socket: req.conn_data::<ConnSocket>().copied(),
        partial: None,
        skipping_binary: false,
        slot: Some(slot),
    };
    let codec = actix_http::ws::Codec::new().max_size(state.limits.max_frame_bytes);
    let frames = Box::pin(ws::WebsocketContext::with_codec(session, stream, codec));
    Ok(response.streaming(outbox.meter(frames)))
}
