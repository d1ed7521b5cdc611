//! The wire protocol: every frame a client may send ([`ClientFrame`]) and every
//! frame the server sends ([`ServerFrame`]), as serde enums tagged by `type`,
//! plus the stable error codes ([`ErrorCode`]).
//!
//! Both transports (WebSocket and long-polling) carry exactly these frames as
//! JSON text; `docs/PROTOCOL.md` is their prose description and must change
//! with this file. This module owns the shapes only: it decides nothing about
//! rooms, nicknames or limits (see `core/`: `chat_core.rs`, `rules/`, `limits.rs`). The one exception
//! is [`Invalid`], the refusal every parser of client input answers.

use std::sync::Arc;

use bytestring::ByteString;
use serde::{Deserialize, Serialize};

/// The protocol version this server speaks; a `join` may name it in `v`.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

/// The minor version within [`PROTOCOL_VERSION`], announced in every
/// `welcome` as `minor`: what this server adds to version 1 without
/// breaking a client of it. 1: the `history` frame (older messages on
/// demand). A client sends a minor version's frames only to a server whose
/// welcome announces at least that minor. 2: the roster in pages
/// (`roster` frames, and a welcome carrying the first page to a client
/// whose `join` says `minor` 2) and big rooms, whose arrivals and
/// departures are counted with a sample of names.
pub(crate) const PROTOCOL_MINOR: u32 = 2;

/// The first minor version whose clients are sent the roster in pages;
/// a `join` whose `minor` is below it gets the roster in join order, as
/// minor versions 0 and 1 always did.
pub(crate) const PAGED_ROSTER_MINOR: u32 = 2;

/// A frame sent by a client.
/// A frame sent by a client. Serialisable too, so that the fuzz targets
/// (`src/fuzzing/`) can check that what was parsed writes back to the
/// same frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ClientFrame {
    /// Enter a room under a nickname (or move to another room).
    Join {
        /// Protocol version the client speaks; absent means 1.
        #[serde(default)]
        v: Option<u32>,
        /// Wanted nickname.
        nick: String,
        /// Room to enter; absent means the default room.
        #[serde(default)]
        room: Option<String>,
        /// Resume cursor: the id of the last message the client has seen in
        /// this room. History after it is replayed in the welcome.
        #[serde(default)]
        since: Option<u64>,
        /// Resume token from an earlier welcome: reclaims the nickname from a
        /// connection of the same user that has not yet been noticed as dead.
        #[serde(default)]
        resume: Option<String>,
        /// The room's `epoch` from the welcome `since` was read in. When the
        /// room has since restarted, `since` is ignored and the recent
        /// history comes with `gap: true`.
        #[serde(default)]
        epoch: Option<String>,
        /// The minor version the client understands (minor version 2):
        /// from 2 on, the welcome carries the roster's first page in name
        /// order and the rest comes on request. Absent means 0.
        #[serde(default)]
        minor: Option<u32>,
    },
    /// Post a message to the current room.
    Say {
        /// The message text.
        text: String,
        /// Client-chosen reference echoed in the `ack`; also makes a resend
        /// idempotent.
        #[serde(default, rename = "ref")]
        reference: Option<String>,
    },
    /// Start or stop the "is typing" indicator.
    Typing {
        /// `true` while the user types, `false` when they stop.
        on: bool,
    },
    /// Change nickname within the current room.
    Nick {
        /// The new nickname.
        nick: String,
    },
    /// Leave the current room but keep the connection.
    Leave {},
    /// Application-level liveness check; answered by `pong`.
    Ping {},
    /// Ask for the messages of the current room older than a given id
    /// (minor version 1); answered by a `history` frame to this client only.
    History {
        /// Only messages with an id below this one; the oldest id the
        /// client holds.
        before: u64,
        /// Most messages wanted, 1 to `max_history_limit`; absent means
        /// [`DEFAULT_HISTORY_LIMIT`].
        #[serde(default)]
        limit: Option<u64>,
        /// Client-chosen reference echoed in the answer or the error.
        #[serde(default, rename = "ref")]
        reference: Option<String>,
    },
    /// Ask for a page of the current room's roster in name order (minor
    /// version 2); answered by a `roster` frame to this client only.
    Roster {
        /// Only names after this one: the `next` of the previous page.
        #[serde(default)]
        after: Option<String>,
        /// Only names starting with this, compared without regard to case.
        #[serde(default)]
        prefix: Option<String>,
        /// Most members wanted, 1 to `max_roster_limit`; absent means
        /// [`DEFAULT_ROSTER_LIMIT`].
        #[serde(default)]
        limit: Option<u64>,
        /// Client-chosen reference echoed in the answer or the error.
        #[serde(default, rename = "ref")]
        reference: Option<String>,
    },
}

/// Messages a `history` request without `limit` asks for.
pub(crate) const DEFAULT_HISTORY_LIMIT: u64 = 50;

/// Members a `roster` request without `limit` asks for, and the most a
/// welcome to a client of minor version 2 lists.
pub(crate) const DEFAULT_ROSTER_LIMIT: u64 = 50;

/// One chat message as it is stored in history and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChatMessage {
    /// Room-scoped id, strictly increasing: the order of the room, and the
    /// resume cursor.
    pub(crate) id: u64,
    /// Server time of acceptance, milliseconds since the Unix epoch.
    pub(crate) ts: u64,
    /// Sender's nickname at the time of sending.
    pub(crate) nick: String,
    /// The text, as sent.
    pub(crate) text: String,
}

/// One roster entry in a welcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RosterEntry {
    /// The participant's nickname.
    pub(crate) nick: String,
    /// Whether they are typing right now.
    pub(crate) typing: bool,
}

/// One arrival or departure in a `presence` batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PresenceChange {
    /// Who.
    pub(crate) nick: String,
    /// `true` for an arrival, `false` for a departure.
    pub(crate) present: bool,
}

/// The limits a client should respect, announced in every welcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct AnnouncedLimits {
    /// Longest message text, in characters.
    pub(crate) max_message_chars: usize,
    /// Longest nickname, in characters.
    pub(crate) max_nick_chars: usize,
    /// Largest client frame, in bytes.
    pub(crate) max_frame_bytes: usize,
    /// Frames the client may send in a burst.
    pub(crate) rate_burst: u32,
    /// Frames per second the client may sustain.
    pub(crate) rate_per_sec: u32,
    /// Most messages one `history` request may ask for (minor version 1).
    pub(crate) max_history_limit: u64,
    /// Most members one `roster` request may ask for (minor version 2).
    pub(crate) max_roster_limit: u64,
    /// Rooms of this many members or more are big: arrivals and
    /// departures come counted, with a sample of names (minor version 2).
    pub(crate) big_room_members: usize,
}

/// A frame sent by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ServerFrame {
    /// Answer to a successful `join`.
    Welcome {
        /// Protocol version of the server.
        v: u32,
        /// Minor version: what the server adds to `v` ([`PROTOCOL_MINOR`]).
        minor: u32,
        /// The nickname as registered (trimmed).
        nick: String,
        /// The room joined.
        room: String,
        /// Identifies this incarnation of the room's message sequence. When
        /// it differs from the one a client saw before (the server restarted,
        /// or the room was forgotten), ids start over and the client must
        /// drop its cursor.
        epoch: String,
        /// Secret resume token for this nickname in this room.
        session: String,
        /// The room's members, the new member included: everybody, in join
        /// order; or, when `roster_next` is set, only the first of them.
        roster: Vec<RosterEntry>,
        /// Set when `roster` does not list everybody: the `after` of a
        /// `roster` request for the rest (empty: from the start).
        #[serde(skip_serializing_if = "Option::is_none")]
        roster_next: Option<String>,
        /// Number of participants.
        count: usize,
        /// Recent messages, oldest first.
        history: Vec<Arc<ChatMessage>>,
        /// Id of the newest message in the room (0 when none); resume from it.
        cursor: u64,
        /// True when messages after the client's `since` are no longer kept.
        gap: bool,
        /// Limits that apply to this connection.
        limits: AnnouncedLimits,
    },
    /// A chat message, shared with the histories that keep it.
    Message(Arc<ChatMessage>),
    /// Confirms that a `say` was accepted under message id `id`.
    Ack {
        /// The client's `ref`.
        #[serde(rename = "ref")]
        reference: String,
        /// The message id it received.
        id: u64,
    },
    /// Someone entered the room.
    Joined {
        /// Their nickname.
        nick: String,
        /// Participants now.
        count: usize,
    },
    /// Someone left the room.
    Left {
        /// Their nickname.
        nick: String,
        /// Participants now.
        count: usize,
    },
    /// Several arrivals and departures at once, in the order they happened
    /// (sent instead of several `joined`/`left` frames when people come and
    /// go together). Apply them in order as set additions and removals: a
    /// batch may name someone already in your roster, or yourself.
    Presence {
        /// The changes, oldest first; in a big room only the newest few.
        changes: Vec<PresenceChange>,
        /// Participants after them.
        count: usize,
        /// In a big room: how many arrived in this batch (`changes` is a
        /// sample of them and of the departures).
        #[serde(skip_serializing_if = "Option::is_none")]
        arrived: Option<usize>,
        /// In a big room: how many left in this batch.
        #[serde(skip_serializing_if = "Option::is_none")]
        departed: Option<usize>,
    },
    /// Someone changed nickname.
    Renamed {
        /// The nickname before.
        old: String,
        /// The nickname now.
        new: String,
    },
    /// Someone started or stopped typing.
    Typing {
        /// Their nickname.
        nick: String,
        /// Whether they are typing.
        on: bool,
    },
    /// The sender's own `leave` took effect.
    LeftRoom {
        /// The room left.
        room: String,
    },
    /// Answer to `ping`.
    Pong {},
    /// The instance lost (`true`) or regained (`false`) the shared store
    /// that joins it to the other instances. While degraded, changes are
    /// refused with `degraded`; what was acknowledged stays.
    Status {
        /// Whether the chat is degraded now.
        degraded: bool,
    },
    /// The answer to a `history` request: messages older than `before`,
    /// oldest first, and whether the room keeps older ones still.
    History {
        /// The request's `ref`, when it had one.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The request's `before`.
        before: u64,
        /// The newest messages with an id below `before`, oldest first.
        messages: Vec<Arc<ChatMessage>>,
        /// Whether messages older than the first one here are kept: ask
        /// again with its id as `before`. `false` at the start of what the
        /// room keeps.
        more: bool,
    },
    /// The answer to a `roster` request: a page of the room's members in
    /// name order, and the cursor of the next.
    Roster {
        /// The request's `ref`, when it had one.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The members, in name order.
        members: Vec<RosterEntry>,
        /// The `after` of the next page, when more members match.
        #[serde(skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        /// Participants in the room now.
        count: usize,
    },
    /// Something the client sent was refused.
    Error {
        /// Stable machine-readable code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
        /// The `ref` of the refused `say`, when there was one.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// When to retry, for `rate_limited`.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_ms: Option<u64>,
    },
}

/// Stable error codes. Clients branch on these; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    /// The frame was not JSON, or lacked or mistyped a field.
    BadFrame,
    /// The frame's `type` is not one this server knows.
    UnknownType,
    /// A binary WebSocket frame; the protocol is JSON text.
    BinaryUnsupported,
    /// The frame exceeded the byte limit; the connection is closed (1009).
    FrameTooLarge,
    /// `join` named a protocol version this server does not speak.
    UnsupportedVersion,
    /// A frame that needs a room arrived before `join`.
    NotJoined,
    /// The nickname is empty, too long, or has forbidden characters.
    InvalidNick,
    /// The nickname is in use in the room (compared case-insensitively).
    NickTaken,
    /// The room name is not valid.
    InvalidRoom,
    /// The server holds as many rooms as it may.
    TooManyRooms,
    /// The room holds as many members as it may.
    RoomFull,
    /// The message text is empty or only white space.
    EmptyMessage,
    /// The message text is longer than the limit.
    MessageTooLong,
    /// The message text holds control characters.
    InvalidText,
    /// Too many frames too fast; retry after `retry_ms`.
    RateLimited,
    /// The server is stopping; reconnect shortly.
    ShuttingDown,
    /// The instance cannot reach the shared store (Redis) that makes the
    /// chat one across instances; nothing was done. Retry after `retry_ms`.
    Degraded,
    /// A `history` request's `before` is 0 or past the room's newest id + 1.
    InvalidBefore,
    /// A `history` request's `limit` is 0 or over `max_history_limit`.
    InvalidLimit,
}

impl ErrorCode {
    /// Every code, for metrics and documentation checks.
    pub(crate) const ALL: [ErrorCode; 19] = [
        ErrorCode::BadFrame,
        ErrorCode::UnknownType,
        ErrorCode::BinaryUnsupported,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::NotJoined,
        ErrorCode::InvalidNick,
        ErrorCode::NickTaken,
        ErrorCode::InvalidRoom,
        ErrorCode::TooManyRooms,
        ErrorCode::RoomFull,
        ErrorCode::EmptyMessage,
        ErrorCode::MessageTooLong,
        ErrorCode::InvalidText,
        ErrorCode::RateLimited,
        ErrorCode::ShuttingDown,
        ErrorCode::Degraded,
        ErrorCode::InvalidBefore,
        ErrorCode::InvalidLimit,
    ];

    /// The code as it appears on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BinaryUnsupported => "binary_unsupported",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::InvalidNick => "invalid_nick",
            ErrorCode::NickTaken => "nick_taken",
            ErrorCode::InvalidRoom => "invalid_room",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::EmptyMessage => "empty_message",
            ErrorCode::MessageTooLong => "message_too_long",
            ErrorCode::InvalidText => "invalid_text",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Degraded => "degraded",
            ErrorCode::InvalidBefore => "invalid_before",
            ErrorCode::InvalidLimit => "invalid_limit",
        }
    }
}

/// Builds an error frame with no `ref` and no retry hint.
pub(crate) fn error(code: ErrorCode, message: impl Into<String>) -> ServerFrame {
    ServerFrame::Error {
        code,
        message: message.into(),
        reference: None,
        retry_ms: None,
    }
}

impl ServerFrame {
    /// Serialises the frame once; the result is shared by every recipient.
    pub(crate) fn encode(&self) -> ByteString {
        // unwrap: these types hold only strings, numbers, bools and vectors
        // of them, which serde_json always serialises.
        ByteString::from(serde_json::to_string(self).unwrap())
    }
}

/// Why something a client sent was refused: the stable code and the text
/// of the error frame to answer with. Every parser of client input answers
/// this one shape: a client frame ([`parse_client_frame`]), a nickname, a
/// room name, a message's text (`core/rules/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// The error code.
    pub(crate) code: ErrorCode,
    /// What was wrong, for a person.
    pub(crate) message: String,
}

impl Invalid {
    /// A refusal with this code and message.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Invalid {
            code,
            message: message.into(),
        }
    }

    /// The error frame for it.
    pub(crate) fn frame(self) -> ServerFrame {
        error(self.code, self.message)
    }
}

/// Parses one client frame, telling an unknown `type` apart from other
/// malformed input so the client gets the precise code.
pub(crate) fn parse_client_frame(text: &str) -> Result<ClientFrame, Invalid> {
    serde_json::from_str::<ClientFrame>(text).map_err(|err| {
        let value = serde_json::from_str::<serde_json::Value>(text).ok();
        refusal(value.as_ref(), &err)
    })
}

/// Reads one client frame from JSON already parsed (a frame of a polling
/// send's array), with the same refusals as [`parse_client_frame`].
pub(crate) fn parse_client_value(value: serde_json::Value) -> Result<ClientFrame, Invalid> {
    ClientFrame::deserialize(&value).map_err(|err| refusal(Some(&value), &err))
}

/// Why a frame was refused: an unknown `type`, or anything else malformed.
fn refusal(value: Option<&serde_json::Value>, err: &serde_json::Error) -> Invalid {
    let kind = value.and_then(|v| v.get("type")).and_then(|t| t.as_str());
    match kind {
        Some(t) if !KNOWN_TYPES.contains(&t) => Invalid {
            code: ErrorCode::UnknownType,
            message: format!(
                "unknown frame type {t:?}; known: {}",
                KNOWN_TYPES.join(", ")
            ),
        },
        _ => Invalid {
            code: ErrorCode::BadFrame,
            message: format!("malformed frame: {err}"),
        },
    }
}

/// The `type` values a client may send.
pub(crate) const KNOWN_TYPES: [&str; 8] = [
    "join", "say", "typing", "nick", "leave", "ping", "history", "roster",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_frame() {
        let join = parse_client_frame(r#"{"type":"join","nick":"ann","room":"x","since":4}"#);
        assert_eq!(
            join,
            Ok(ClientFrame::Join {
                v: None,
                nick: "ann".into(),
                room: Some("x".into()),
                since: Some(4),
                resume: None,
                epoch: None,
                minor: None
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"say","text":"hi","ref":"c1"}"#),
            Ok(ClientFrame::Say {
                text: "hi".into(),
                reference: Some("c1".into())
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"typing","on":true}"#),
            Ok(ClientFrame::Typing { on: true })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"leave"}"#),
            Ok(ClientFrame::Leave {})
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping {})
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"history","before":51,"limit":20,"ref":"h1"}"#),
            Ok(ClientFrame::History {
                before: 51,
                limit: Some(20),
                reference: Some("h1".into())
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"history","before":7}"#),
            Ok(ClientFrame::History {
                before: 7,
                limit: None,
                reference: None
            })
        );
    }

    #[test]
    fn parses_roster_requests_and_the_minor_a_join_understands() {
        assert_eq!(
            parse_client_frame(
                r#"{"type":"roster","after":"ann","prefix":"b","limit":20,"ref":"r1"}"#
            ),
            Ok(ClientFrame::Roster {
                after: Some("ann".into()),
                prefix: Some("b".into()),
                limit: Some(20),
                reference: Some("r1".into())
            })
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"roster"}"#),
            Ok(ClientFrame::Roster {
                after: None,
                prefix: None,
                limit: None,
                reference: None
            })
        );
        let join = parse_client_frame(r#"{"type":"join","nick":"ann","minor":2}"#);
        assert!(matches!(join, Ok(ClientFrame::Join { minor: Some(2), .. })));
        for text in [
            r#"{"type":"roster","limit":-1}"#,
            r#"{"type":"roster","after":5}"#,
            r#"{"type":"roster","room":"x"}"#,
            r#"{"type":"join","nick":"ann","minor":"2"}"#,
        ] {
            assert_eq!(
                code_of(parse_client_frame(text).unwrap_err()),
                ErrorCode::BadFrame,
                "{text}"
            );
        }
    }

    #[test]
    fn encodes_a_roster_page_and_a_counted_presence_batch() {
        let page = ServerFrame::Roster {
            reference: Some("r1".into()),
            members: vec![RosterEntry {
                nick: "ann".into(),
                typing: false,
            }],
            next: Some("ann".into()),
            count: 3,
        };
        assert_eq!(
            &*page.encode(),
            r#"{"type":"roster","ref":"r1","members":[{"nick":"ann","typing":false}],"next":"ann","count":3}"#
        );
        let presence = ServerFrame::Presence {
            changes: vec![PresenceChange {
                nick: "bob".into(),
                present: true,
            }],
            count: 1200,
            arrived: Some(40),
            departed: Some(2),
        };
        assert_eq!(
            &*presence.encode(),
            r#"{"type":"presence","changes":[{"nick":"bob","present":true}],"count":1200,"arrived":40,"departed":2}"#
        );
    }

    #[test]
    fn refuses_malformed_history_requests() {
        for text in [
            r#"{"type":"history"}"#,
            r#"{"type":"history","before":-1}"#,
            r#"{"type":"history","before":"5"}"#,
            r#"{"type":"history","before":5,"limit":2.5}"#,
            r#"{"type":"history","before":5,"room":"x"}"#,
        ] {
            assert_eq!(
                code_of(parse_client_frame(text).unwrap_err()),
                ErrorCode::BadFrame,
                "{text}"
            );
        }
    }

    #[test]
    fn encodes_a_history_answer_with_its_ref_first() {
        let frame = ServerFrame::History {
            reference: Some("h1".into()),
            before: 3,
            messages: vec![Arc::new(ChatMessage {
                id: 2,
                ts: 1,
                nick: "ann".into(),
                text: "hi".into(),
            })],
            more: true,
        };
        assert_eq!(
            &*frame.encode(),
            r#"{"type":"history","ref":"h1","before":3,"messages":[{"id":2,"ts":1,"nick":"ann","text":"hi"}],"more":true}"#
        );
    }

    fn code_of(refusal: Invalid) -> ErrorCode {
        refusal.code
    }

    #[test]
    fn tells_unknown_types_from_malformed_frames() {
        assert_eq!(
            code_of(parse_client_frame(r#"{"type":"dance"}"#).unwrap_err()),
            ErrorCode::UnknownType
        );
        assert_eq!(
            code_of(parse_client_frame("not json").unwrap_err()),
            ErrorCode::BadFrame
        );
        assert_eq!(
            code_of(parse_client_frame(r#"{"type":"say"}"#).unwrap_err()),
            ErrorCode::BadFrame
        );
        assert_eq!(
            code_of(parse_client_frame(r#"{"text":"x"}"#).unwrap_err()),
            ErrorCode::BadFrame
        );
        assert_eq!(
            code_of(parse_client_frame(r#"{"type":"say","text":"x","admin":true}"#).unwrap_err()),
            ErrorCode::BadFrame
        );
    }

    #[test]
    fn encodes_with_type_tags_and_stable_codes() {
        let msg = ServerFrame::Message(Arc::new(ChatMessage {
            id: 7,
            ts: 1,
            nick: "ann".into(),
            text: "hi".into(),
        }));
        assert_eq!(
            &*msg.encode(),
            r#"{"type":"message","id":7,"ts":1,"nick":"ann","text":"hi"}"#
        );
        let err = error(ErrorCode::NickTaken, "taken").encode();
        assert_eq!(
            &*err,
            r#"{"type":"error","code":"nick_taken","message":"taken"}"#
        );
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
