//! The long-polling transport's connection actor: one per polling session
//! on each instance that serves it, so the ChatRoom sees the same kind of
//! member whatever the transport.
//!
//! Frames from the room are numbered by the log entry they come from
//! (`seq << 10`, plus a sub-number for further frames of the same entry or
//! frames of this session alone), so every instance numbers a session's
//! frames alike and any of them can answer its next poll: the numbers only
//! increase, and are not consecutive. Frames are kept until the client
//! acknowledges them by polling with a cursor at or past their number. A
//! poll that a proxy cuts off is simply repeated with the same cursor:
//! nothing is lost, nothing is sent twice. An instance that starts serving
//! a session it did not open first fetches, from the log, what the client
//! has not seen after its cursor. At most one poll waits at a time; a newer
//! one answers the older at once with no frames. The bytes of the frames
//! it keeps are its [`Backlog`]: its hub reserves them (and drops a session
//! past the bound, as it does a WebSocket), the session releases them as the
//! client acknowledges. The session's member leaves when the client closes
//! it, when it lets more than the backlog limit pile up, or when no instance
//! has been polled for `Limits::session_grace` (its lease lapses); an
//! instance not polled for that long just stops serving it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::web;
use bytestring::ByteString;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::core::backplane::LeftWhy;
use crate::core::ids::MemberId;
use crate::core::rules::rate_limit::RateBucket;
use crate::delivery::backlog::Backlog;
use crate::delivery::member::{Close, CloseKind, PollFeed};
use crate::http::state::AppState;
use crate::metrics::Transport;
use crate::room_server::chat_room::{now_ms, Reattach};
use crate::transport::poll::registry::PollRegistry;

/// The polling sessions this instance serves, by token.
pub(crate) type Sessions = PollRegistry<Addr<PollSession>>;

/// How often a session checks whether it has expired, at most; shorter
/// graces are checked twice per grace.
const EXPIRY_CHECK: Duration = Duration::from_secs(5);

/// Bits of a frame number below the log seq.
const SUB_BITS: u32 = 10;
const SUB_MAX: u64 = (1 << SUB_BITS) - 1;

/// The log seq a frame number (or a client's cursor) stands for.
pub(crate) fn seq_of(number: u64) -> u64 {
    number >> SUB_BITS
}

/// Answers to refused frames a session may draw in a burst, and per second
/// after it (as on WebSocket).
const REPLY_BURST: u32 = 20;
const REPLIES_PER_SEC: u32 = 10;

/// Polls a session may make in a burst, and per second after it.
const POLL_BURST: u32 = 10;
const POLLS_PER_SEC: u32 = 5;

/// Most bytes of frames one poll's answer carries (at least one frame,
/// whatever its size); the client polls again at once for the rest. An
/// answer is a copy of its frames that waits in the HTTP connection until
/// the client reads it, so this bounds what each connection holds.
pub(crate) const MAX_BATCH_BYTES: usize = 64 * 1024;

/// What a poll returns.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Number of the last frame in `frames` (the cursor to poll with next).
    pub(crate) cursor: u64,
    /// Encoded frames, oldest first.
    pub(crate) frames: Vec<ByteString>,
    /// Set when the session has ended: the WebSocket close code it stands for.
    pub(crate) closed: Option<CloseKind>,
}

/// How a batch says that its session has ended.
#[derive(Serialize)]
struct Closed {
    code: u16,
    reason: &'static str,
}

impl Batch {
    /// The JSON body `{"session":...,"cursor":N,"frames":[...],"closed":...}`
    /// (`session` only when given: the answer to an open). Every value is
    /// written by serde except the frames, which are already JSON, encoded
    /// once per broadcast by serde, and are put in as they are rather than
    /// decoded and encoded again for every poll.
    pub(crate) fn to_json(&self, session: Option<&str>) -> String {
        let size = self.frames.iter().map(|f| f.len() + 1).sum::<usize>() + 128;
        let mut out = String::with_capacity(size);
        out.push('{');
        if let Some(session) = session {
            out.push_str("\"session\":");
            push_json(&mut out, &session);
            out.push(',');
        }
        out.push_str("\"cursor\":");
        push_json(&mut out, &self.cursor);
        out.push_str(",\"frames\":[");
        for (i, frame) in self.frames.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(frame);
        }
        out.push(']');
        if let Some(kind) = self.closed {
            let (code, reason) = kind.code_and_reason();
            out.push_str(",\"closed\":");
            push_json(&mut out, &Closed { code, reason });
        }
        out.push('}');
        out
    }
}

/// Appends `value` as JSON.
fn push_json(out: &mut String, value: &impl Serialize) {
    // unwrap: these values (numbers, strings, a struct of them) always
    // serialize.
    out.push_str(&serde_json::to_string(value).unwrap());
}

/// A poll: answer with frames after `cursor`, now or when some arrive.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Poll {
    /// The last frame number the client has.
    pub(crate) cursor: u64,
    /// How long to wait for a frame at most, when shorter than
    /// `--poll-wait-secs` (a client behind a proxy that cuts idle requests
    /// sooner asks for less).
    pub(crate) wait: Option<Duration>,
    /// Where to answer; `Err(retry_ms)` when polling too fast.
    pub(crate) reply: oneshot::Sender<Result<Batch, u64>>,
}

/// The client sent something: it is alive.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Heard;

/// The client closed its session.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct End;

/// One polling session.
pub(crate) struct PollSession {
    id: MemberId,
    token: Arc<str>,
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    frames: VecDeque<(u64, ByteString)>,
    /// Number of the newest frame (or the cursor the session started at).
    last_seq: u64,
    /// Log seq and sub-number of the newest frame.
    position: (u64, u64),
    /// The cursor from which the queue is complete; `None` for a session
    /// started here by a send, which catches up at its first poll.
    complete_from: Option<u64>,
    /// Set from asking the room for what the client missed until the room
    /// starts sending it: what is queued meanwhile is about to be replaced,
    /// so no poll is answered from it.
    restarting: bool,
    last_alive: Option<Instant>,
    /// The bytes of `frames`, shared with the hub that reserves them.
    backlog: Backlog,
    waiting: Option<(u64, oneshot::Sender<Result<Batch, u64>>)>,
    /// The timer that answers the waiting poll empty when the wait is over.
    wait_timer: Option<SpawnHandle>,
    last_contact: Instant,
    closed: Option<CloseKind>,
    /// Highest cursor the client has acknowledged.
    acked: u64,
    /// Charged only by polls that acknowledge nothing new: a client keeping
    /// up with a busy room polls as often as frames come and is never
    /// limited; one re-polling without progress (hammering) is.
    polls: RateBucket,
    /// Answers to refused frames the client may still draw.
    replies: RateBucket,
}

impl PollSession {
    /// A session for member `id`, known to clients by `token`, whose
    /// frames' bytes are counted in `backlog` (its hub's bound), whose
    /// client has every frame up to `cursor` (0 for a new session), or
    /// `None` when not known yet.
    pub(crate) fn new(
        id: MemberId,
        token: Arc<str>,
        state: web::Data<AppState>,
        sessions: web::Data<Sessions>,
        backlog: Backlog,
        now_ms: u64,
        cursor: Option<u64>,
    ) -> Self {
        let start = cursor.unwrap_or(0);
        PollSession {
            id,
            token,
            state,
            sessions,
            frames: VecDeque::new(),
            last_seq: start,
            position: (seq_of(start), start & SUB_MAX),
            complete_from: cursor,
            restarting: false,
            last_alive: None,
            backlog,
            waiting: None,
            wait_timer: None,
            last_contact: Instant::now(),
            closed: None,
            acked: start,
            polls: RateBucket::new(POLL_BURST, POLLS_PER_SEC, now_ms),
            replies: RateBucket::new(REPLY_BURST, REPLIES_PER_SEC, now_ms),
        }
    }

    fn batch_after(&self, cursor: u64) -> Batch {
        let (mut frames, mut bytes, mut last) = (Vec::new(), 0, None);
        for (seq, frame) in self.frames.iter().filter(|(seq, _)| *seq > cursor) {
            bytes += frame.len();
            if last.is_some() && bytes > MAX_BATCH_BYTES {
                break;
            }
            frames.push(frame.clone());
            last = Some(*seq);
        }
        let cursor = last.unwrap_or(cursor.min(self.last_seq));
        let closed = if frames.is_empty() { self.closed } else { None };
        Batch {
            cursor,
            frames,
            closed,
        }
    }

    /// Answers the waiting poll, if any, with what there is.
    fn flush(&mut self) {
        if let Some((cursor, reply)) = self.waiting.take() {
            let batch = if self.restarting {
                // What is queued is about to be replaced: nothing yet.
                Batch {
                    cursor,
                    ..Batch::default()
                }
            } else {
                self.batch_after(cursor)
            };
            let _ = reply.send(Ok(batch));
        }
    }

    /// The number of the next frame, from the log seq it comes from.
    fn number(&mut self, at: u64) -> u64 {
        let (seq, sub) = self.position;
        self.position = if at > seq {
            (at, 0)
        } else {
            (seq, (sub + 1).min(SUB_MAX))
        };
        (self.position.0 << SUB_BITS) | self.position.1
    }

    /// Tells the room, at most every `Limits::poll_renewal`, that the
    /// client polls.
    fn alive(&mut self) {
        let every = self.state.limits.poll_renewal();
        if self.last_alive.is_none_or(|t| t.elapsed() >= every) {
            self.last_alive = Some(Instant::now());
            crate::delivery::hub::polled(self.id);
        }
    }

    fn acknowledge(&mut self, cursor: u64) {
        while let Some((seq, frame)) = self.frames.front() {
            if *seq > cursor {
                break;
            }
            self.backlog.release(frame.len());
            self.frames.pop_front();
        }
    }

    /// Drops every queued frame, releasing its bytes.
    fn drop_queued(&mut self) {
        let bytes = self.frames.iter().map(|(_, f)| f.len()).sum();
        self.backlog.release(bytes);
        self.frames.clear();
    }

    /// Queues one frame numbered from log seq `at`, and answers the
    /// waiting poll unless a restart is under way.
    fn queue(&mut self, frame: ByteString, at: u64) {
        self.last_seq = self.number(at);
        self.frames.push_back((self.last_seq, frame));
        // While restarting, the waiting poll waits for the frames that
        // follow the restart.
        if !self.restarting {
            self.flush();
        }
    }

    fn end(&mut self, kind: CloseKind, ctx: &mut Context<Self>) {
        if self.closed.is_none() {
            self.closed = Some(kind);
        }
        if self.frames.is_empty() || matches!(kind, CloseKind::SlowReader | CloseKind::Expired) {
            self.drop_queued();
            self.flush();
            ctx.stop();
        } else {
            // Let the client collect what is queued; the close comes with the
            // poll that finds nothing more.
            self.flush();
        }
    }
}

impl Actor for PollSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.state.metrics.connections_of(Transport::Polling).inc();
        let grace = self.state.limits.session_grace;
        ctx.run_interval(EXPIRY_CHECK.min(grace / 2), move |act, ctx| {
            if act.waiting.is_none() && act.last_contact.elapsed() > grace {
                log::debug!("polling session {} expired", act.id);
                act.end(CloseKind::Expired, ctx);
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.state.metrics.connections_of(Transport::Polling).dec();
        // Only a closing client or one that stopped reading leaves; a session
        // this instance stops serving (not polled here, or the server
        // stopping) may go on elsewhere, and its lease decides.
        // A client's close was already told to the room by the route that
        // received it, which answers only then.
        let why = match self.closed {
            Some(CloseKind::SlowReader) => Some(LeftWhy::Dropped),
            _ => None,
        };
        crate::delivery::hub::leave(self.id);
        self.state.rooms.disconnect(self.id, why);
        self.sessions.remove(&self.token, self.id);
        if let Some((_, reply)) = self.waiting.take() {
            let closed = self.closed.or(Some(CloseKind::Expired));
            let _ = reply.send(Ok(Batch {
                cursor: self.last_seq,
                frames: Vec::new(),
                closed,
            }));
        }
    }
}

impl Handler<PollFeed> for PollSession {
    type Result = ();

    fn handle(&mut self, msg: PollFeed, ctx: &mut Context<Self>) {
        match msg {
            // Reserved in the backlog by the hub; after the end, given back.
            PollFeed::Frame(frame, _) if self.closed.is_some() => self.backlog.release(frame.len()),
            PollFeed::Frame(frame, at) => self.queue(frame, at),
            PollFeed::Reply(_) if self.closed.is_some() => {}
            // Refusals a client draws faster than the reply bucket allows
            // get no answer; those it does get count against its bound, so
            // a session that sends refused frames and never polls is
            // dropped like any reader that does not read.
            PollFeed::Reply(_) if self.replies.take(now_ms()).is_err() => {}
            PollFeed::Reply(frame) => {
                let limit = self.state.limits.max_outbox_bytes;
                if self.backlog.try_reserve(frame.len(), limit) {
                    // A reply is this session's alone: charged to the
                    // server's pool until acknowledged.
                    let charged = self
                        .backlog
                        .pool()
                        .charged_anyway(frame.clone().into_bytes());
                    self.queue(ByteString::try_from(charged).unwrap_or(frame), 0);
                } else {
                    self.state.metrics.slow_clients_dropped.inc();
                    self.backlog.drop_reader();
                    self.end(CloseKind::SlowReader, ctx);
                }
            }
            PollFeed::Restart(after) => {
                // What the room sends next replaces what is queued: the
                // frames after `after` that the client has not seen.
                self.restarting = false;
                self.drop_queued();
                let start = after << SUB_BITS;
                self.position = (after, 0);
                self.last_seq = start;
                self.acked = self.acked.min(start);
                // Nothing missed and nothing new: the poll keeps waiting
                // for the next frame.
            }
        }
    }
}

impl Handler<Close> for PollSession {
    type Result = ();

    fn handle(&mut self, Close(kind): Close, ctx: &mut Context<Self>) {
        self.end(kind, ctx);
    }
}

impl Handler<Poll> for PollSession {
    type Result = ();

    fn handle(&mut self, msg: Poll, ctx: &mut Context<Self>) {
        self.last_contact = Instant::now();
        self.alive();
        let now_ms = now_ms();
        // Started here by a send, or asked for frames from before this
        // instance served the session: fetch them from the log first.
        let catching_up = self.complete_from.is_none_or(|from| msg.cursor < from);
        if catching_up {
            self.complete_from = Some(msg.cursor);
            self.restarting = true;
            self.state.rooms.reattach(Reattach {
                id: self.id,
                after: seq_of(msg.cursor),
            });
        }
        let progressed = msg.cursor > self.acked
            && self
                .frames
                .front()
                .is_some_and(|(seq, _)| *seq <= msg.cursor);
        if !progressed {
            if let Err(retry_ms) = self.polls.take(now_ms) {
                let _ = msg.reply.send(Err(retry_ms));
                return;
            }
        }
        self.acked = self.acked.max(msg.cursor.min(self.last_seq));
        self.acknowledge(msg.cursor);
        // A newer poll replaces an older one, which returns empty at once.
        self.flush();
        let batch = self.batch_after(msg.cursor);
        // While catching up, what is queued is about to be replaced: the
        // poll waits for the frames from the log.
        if !catching_up && (!batch.frames.is_empty() || batch.closed.is_some()) {
            let _ = msg.reply.send(Ok(batch));
            if self.closed.is_some() && self.frames.iter().all(|(seq, _)| *seq <= msg.cursor) {
                ctx.stop();
            }
            return;
        }
        // A replaced poll's timer goes with it, so timers do not pile up.
        if let Some(timer) = self.wait_timer.take() {
            ctx.cancel_future(timer);
        }
        self.waiting = Some((msg.cursor, msg.reply));
        let wait = msg.wait.map_or(self.state.limits.poll_wait, |asked| {
            asked.min(self.state.limits.poll_wait)
        });
        self.wait_timer = Some(ctx.run_later(wait, |act, _| {
            act.wait_timer = None;
            act.last_contact = Instant::now();
            act.flush();
        }));
    }
}

impl Handler<Heard> for PollSession {
    type Result = ();

    fn handle(&mut self, _: Heard, _: &mut Context<Self>) {
        self.last_contact = Instant::now();
        self.alive();
    }
}

impl Handler<End> for PollSession {
    type Result = ();

    fn handle(&mut self, _: End, ctx: &mut Context<Self>) {
        self.closed = Some(CloseKind::ClientLeft);
        self.drop_queued();
        self.flush();
        ctx.stop();
    }
}

#[cfg(test)]
#[path = "session/tests.rs"]
mod tests;
