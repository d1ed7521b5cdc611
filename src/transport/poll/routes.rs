//! The long-polling transport's HTTP endpoints, for browsers and proxies
//! without WebSocket. They carry exactly the protocol frames the WebSocket
//! carries; see `docs/PROTOCOL.md`:
//! - `POST /poll/open`: body is a `join` frame; answers the session token and
//!   the first batch (the welcome, or the error).
//! - `GET /poll?cursor=N`: frames after N, waiting up to `--poll-wait-secs` for one.
//! - `POST /poll/send`: body is one client frame or an array of them.
//! - `POST /poll/close`: ends the session; the user leaves.
//!
//! A body must arrive whole within `--body-timeout-secs` (408 otherwise),
//! so a client trickling bytes cannot hold a request open for ever.
//!
//! The session token travels in the `Parley-Session` header, never in the
//! URL, so that it does not end up in proxy access logs.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::core::backplane::LeftWhy;
use crate::core::client_key::ClientKey;
use crate::core::ids::{self, MemberId};
use crate::core::rules::room_name::RoomName;
use crate::delivery::backlog::Backlog;
use crate::delivery::hub::{self, Sink};
use crate::delivery::member::{Close, CloseKind, PollFeed};
use crate::http::client_addr::client_addr;
use crate::http::error::HttpError;
use crate::http::state::AppState;
use crate::protocol::{parse_client_frame, parse_client_value, ClientFrame, Invalid};
use crate::room_server::chat_room::{next_member_id, now_ms, Attach, Connect, FindPoll};
use crate::room_server::placement::joined_room;
use crate::transport::poll::registry::SessionRef;
use crate::transport::poll::session::{seq_of, Batch, End, Heard, Poll, PollSession, Sessions};

/// A session as the routes reach it.
type Session = SessionRef<Addr<PollSession>>;

/// The header that carries the session token.
pub(crate) const SESSION_HEADER: &str = "Parley-Session";

/// Most frames one `send` may carry.
pub(crate) const MAX_FRAMES_PER_SEND: usize = 32;

/// Query of a poll.
#[derive(Debug, Deserialize)]
pub(crate) struct PollQuery {
    /// The last frame number the client has received (0 at first).
    #[serde(default)]
    pub(crate) cursor: u64,
    /// The longest the client wants this poll to wait, in whole seconds
    /// (at least 1; more than `--poll-wait-secs` counts as that).
    #[serde(default)]
    pub(crate) wait: Option<u64>,
}

fn json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        // Tells nginx not to buffer the answer of a long poll.
        .insert_header(("X-Accel-Buffering", "no"))
        .body(body)
}

/// Checks the transport and the origin; answers the client.
fn guard(req: &HttpRequest, state: &AppState) -> Result<ClientKey, HttpError> {
    if !state.transports.polling {
        return Err(HttpError::TransportDisabled("polling"));
    }
    let client = client_addr(req, &state.trusted_proxies);
    state.origins.check(req, client.host.as_deref())?;
    Ok(state.gate.key(client.ip))
}

/// The session a request names: served here already, or, when another
/// instance opened it, adopted from its record in the backplane. `cursor`
/// is the poll's, `None` for a send or a close.
/// The session token a request names in its `Parley-Session` header.
fn session_token(req: &HttpRequest) -> Result<&str, HttpError> {
    req.headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| ids::is_well_formed(t))
        .ok_or(HttpError::UnknownSession)
}

async fn session_of(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    sessions: &web::Data<Sessions>,
    client: ClientKey,
    cursor: Option<u64>,
) -> Result<Session, HttpError> {
    let token = session_token(req)?;
    if let Some(session) = sessions.get(token) {
        return Ok(session);
    }
    let token: Arc<str> = Arc::from(token);
    let record = match state
        .rooms
        .find_poll(FindPoll {
            poll: token.clone(),
        })
        .await
    {
        Ok(Ok(Some(record))) => record,
        Ok(Err(_)) => return Err(HttpError::Degraded),
        _ => return Err(HttpError::UnknownSession),
    };
    let id = next_member_id();
    let backlog = state.queued.backlog();
    let start = || start_session(state, sessions, id, &token, &backlog, cursor);
    let (session, started) =
        sessions
            .adopt(client, token.clone(), id, start)
            .map_err(|refused| {
                log::info!("refused to serve a polling session for {client}: {refused:?}");
                HttpError::TooManySessions
            })?;
    if started {
        let room = record.room.as_deref().and_then(|r| RoomName::parse(r).ok());
        connect(state, &session, client, token, backlog, room.as_ref());
        state.rooms.attach(Attach {
            id,
            record,
            after: cursor.map_or(u64::MAX, seq_of),
        });
    }
    Ok(session)
}

/// Starts the actor of session `token` (member `id`) on this thread, its
/// client having every frame up to `cursor` (see [`PollSession::new`]).
fn start_session(
    state: &web::Data<AppState>,
    sessions: &web::Data<Sessions>,
    id: MemberId,
    token: &Arc<str>,
    backlog: &Backlog,
    cursor: Option<u64>,
) -> Addr<PollSession> {
    let (state, sessions) = (state.clone(), sessions.clone());
    PollSession::new(
        id,
        token.clone(),
        state,
        sessions,
        backlog.clone(),
        now_ms(),
        cursor,
    )
    .start()
}

/// Registers a session just started here with this thread's hub, then
/// tells the room shard of `room` about it (of the room it is joining or
/// is in); anything the room sends it comes through the hub.
fn connect(
    state: &AppState,
    session: &Session,
    client: ClientKey,
    token: Arc<str>,
    backlog: Backlog,
    room: Option<&RoomName>,
) {
    let evicted = session.addr.clone();
    backlog.on_evict(move || evicted.do_send(Close(CloseKind::SlowReader)));
    let feed = session.addr.clone().recipient();
    let close = session.addr.clone().recipient();
    let hub = hub::join(
        session.id,
        close,
        Sink::Poll { feed, backlog },
        &state.delivery,
    );
    let connect = Connect {
        id: session.id,
        hub,
        client,
        poll: Some(token),
    };
    state.rooms.connect(connect, room);
}

/// The whole body, at most `limit` bytes, within the body timeout.
async fn read_body(payload: web::Payload, state: &AppState) -> Result<Bytes, HttpError> {
    let limit = state.limits.max_frame_bytes;
    let within = state.limits.body_timeout;
    let Ok(read) = tokio::time::timeout(within, payload.to_bytes_limited(limit)).await else {
        return Err(HttpError::BodyTimeout(within.as_secs()));
    };
    match read {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(err)) => Err(HttpError::BadRequest(format!(
            "could not read the body: {err}"
        ))),
        Err(_) => Err(HttpError::BodyTooLarge(limit)),
    }
}

fn utf8(body: &[u8]) -> Result<&str, HttpError> {
    std::str::from_utf8(body).map_err(|_| HttpError::BadRequest("the body is not UTF-8".into()))
}

/// The `join` frame an open's body must be.
pub(crate) fn opening_join(body: &[u8]) -> Result<ClientFrame, HttpError> {
    match parse_client_frame(utf8(body)?) {
        Ok(frame @ ClientFrame::Join { .. }) => Ok(frame),
        Ok(_) => Err(HttpError::BadRequest(
            "a session opens with a join frame".into(),
        )),
        Err(refusal) => Err(HttpError::BadRequest(refusal.message)),
    }
}

/// The frames of a send's body: one frame, or an array of at most
/// [`MAX_FRAMES_PER_SEND`] sent in order, each parsed or refused alone.
pub(crate) fn sent_frames(text: &str) -> Result<Vec<Result<ClientFrame, Invalid>>, HttpError> {
    // The body is parsed once, and each frame read from what that parse
    // built.
    Ok(match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(list)) if list.len() > MAX_FRAMES_PER_SEND => {
            return Err(HttpError::BadRequest(format!(
                "at most {MAX_FRAMES_PER_SEND} frames per send"
            )))
        }
        Ok(serde_json::Value::Array(list)) => list.into_iter().map(parse_client_value).collect(),
        Ok(value) => vec![parse_client_value(value)],
        // Not JSON: refused the way a WebSocket frame would be.
        Err(_) => vec![parse_client_frame(text)],
    })
}

async fn poll_once(
    session: &Session,
    cursor: u64,
    wait: Option<Duration>,
) -> Result<Batch, HttpError> {
    let (reply, answer) = oneshot::channel();
    session.addr.do_send(Poll {
        cursor,
        wait,
        reply,
    });
    match answer.await {
        Ok(Ok(batch)) => Ok(batch),
        Ok(Err(retry_ms)) => Err(HttpError::RateLimited(retry_ms)),
        Err(_) => Err(HttpError::UnknownSession),
    }
}

/// `POST /poll/open`.
pub(crate) async fn open(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, HttpError> {
    let client = guard(&req, &state)?;
    state.gate.attempt(client)?;
    let body = read_body(payload, &state).await?;
    let join = opening_join(&body)?;
    let token: Arc<str> = Arc::from(ids::new_secret());
    let id = next_member_id();
    let backlog = state.queued.backlog();
    let start = || start_session(&state, &sessions, id, &token, &backlog, Some(0));
    let session = sessions
        .open(client, token.clone(), id, start)
        .map_err(|refused| {
            log::info!("refused a polling session for {client}: {refused:?}");
            HttpError::TooManySessions
        })?;
    // Connect and join from here, in this order, so the room cannot see the
    // join before the member.
    let room = joined_room(&join);
    connect(
        &state,
        &session,
        client,
        token.clone(),
        backlog,
        room.as_ref(),
    );
    state.rooms.inbound(id, join);
    let batch = poll_once(&session, 0, None).await?;
    Ok(json(batch.to_json(Some(&token))))
}

/// `GET /poll/probe`: whether this page may long-poll here, without opening
/// a session: `200 {"status":"ok"}`, or the refusal a poll would get (403
/// `origin_not_allowed` with its hint, 403 `transport_disabled`). Clients
/// ask it when a WebSocket does not open; a success adds no failed request
/// to a browser's console beside the WebSocket's own.
pub(crate) async fn probe(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    guard(&req, &state)?;
    Ok(json(r#"{"status":"ok"}"#.to_owned()))
}

/// `GET /poll?cursor=N`.
pub(crate) async fn poll(
    req: HttpRequest,
    query: web::Query<PollQuery>,
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, HttpError> {
    let client = guard(&req, &state)?;
    let session = session_of(&req, &state, &sessions, client, Some(query.cursor)).await?;
    let wait = match query.wait {
        Some(0) => {
            return Err(HttpError::BadRequest(
                "bad query string: wait must be at least 1".into(),
            ))
        }
        wait => wait.map(Duration::from_secs),
    };
    Ok(json(
        poll_once(&session, query.cursor, wait).await?.to_json(None),
    ))
}

/// `POST /poll/send`.
pub(crate) async fn send(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, HttpError> {
    let client = guard(&req, &state)?;
    let mut session = session_of(&req, &state, &sessions, client, None).await?;
    let body = read_body(payload, &state).await?;
    let text = utf8(&body)?;
    session.addr.do_send(Heard);
    let frames = sent_frames(text)?;
    let accepted = frames.len();
    // The answer waits until the room has handled the frames, so that sends
    // made one after another are handled in that order even when each goes
    // to another instance.
    for frame in frames {
        match frame {
            Ok(frame) => {
                let heard = state.rooms.handled(session.id, frame);
                let Err(unheard) = heard.await else {
                    continue;
                };
                // The session's actor here ended while this send was on its
                // way (the room no longer knows its member). The session may
                // live on (its lease holds): serve it afresh and hand the
                // frame to that; if it is gone, say so, and the client
                // resends what was not acknowledged after resuming.
                sessions.remove(session_token(&req)?, session.id);
                session = session_of(&req, &state, &sessions, client, None).await?;
                let heard = state.rooms.handled(session.id, unheard);
                if heard.await.is_err() {
                    return Err(HttpError::UnknownSession);
                }
            }
            Err(refusal) => {
                state.metrics.error(refusal.code);
                session
                    .addr
                    .do_send(PollFeed::Reply(refusal.frame().encode()));
            }
        }
    }
    Ok(json(
        serde_json::json!({ "accepted": accepted }).to_string(),
    ))
}

/// `POST /poll/close`.
pub(crate) async fn close(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, HttpError> {
    let client = guard(&req, &state)?;
    let session = session_of(&req, &state, &sessions, client, None).await?;
    session.addr.do_send(End);
    // The member has left, and the session is forgotten on every instance,
    // before the answer: a request right after it, anywhere, finds nothing.
    state
        .rooms
        .disconnected(session.id, Some(LeftWhy::Gone))
        .await;
    Ok(HttpResponse::NoContent().finish())
}
