//! The transport-agnostic chat core: every connection (WebSocket or polling),
//! every room, and the rules between them (join, move, resume, say, typing,
//! rename, leave, rate limits). Pure state: each call takes the clock and
//! returns [`Effect`]s saying what to deliver to whom; it never does I/O and
//! never knows which transport a member uses. The ChatRoom actor
//! (`chat_room.rs`) is its thin shell. Entering a room (checks, resume
//! take-over, room creation, the welcome) is in `chat_core/joining.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::limits::Limits;
use crate::message_text::MessageText;
use crate::nickname::Nickname;
use crate::protocol::{error, ClientFrame, ErrorCode, ServerFrame};
use crate::rate_limit::TokenBucket;

mod joining;
use crate::room::{Posted, Room};
use crate::room_name::RoomName;

pub use crate::room::MemberId;

/// A typing indicator not renewed or ended for this long is ended by the
/// server. Clients renew it (send `typing` `on` again) while typing; the
/// page sends off after 3 s without a keystroke, well inside this.
pub const TYPING_TIMEOUT_MS: u64 = 8_000;

/// Longest `ref` a client may attach to a `say`.
pub const MAX_REF_CHARS: usize = 64;

/// Who receives a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// One connection.
    Member(MemberId),
    /// Everyone in the room.
    Room(RoomName),
    /// Everyone in the room but one.
    RoomExcept(RoomName, MemberId),
}

/// Why the core ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The same user resumed on another connection.
    Replaced,
}

/// What the shell must do after a call.
// `Send` is large and `Close` small, but effects live only until the shell
// applies them, and boxing the frame would allocate once more per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Deliver `frame` to `to`.
    Send {
        /// The recipients.
        to: Audience,
        /// The frame.
        frame: ServerFrame,
    },
    /// Close a connection (it is already forgotten by the core).
    Close {
        /// The connection.
        member: MemberId,
        /// Why.
        reason: CloseReason,
    },
}

#[derive(Debug)]
struct Connection {
    room: Option<RoomName>,
    bucket: TokenBucket,
}

/// All rooms and connections of one server.
#[derive(Debug)]
pub struct ChatCore {
    limits: Limits,
    connections: HashMap<MemberId, Connection>,
    rooms: HashMap<RoomName, Room>,
    tokens: HashMap<Arc<str>, MemberId>,
    /// Members in rooms, kept as they enter and leave so that the metrics
    /// read after every event do not walk every room.
    members_in_rooms: usize,
}

fn to_member(id: MemberId, frame: ServerFrame) -> Effect {
    Effect::Send {
        to: Audience::Member(id),
        frame,
    }
}

fn refusal(id: MemberId, code: ErrorCode, message: impl Into<String>) -> Vec<Effect> {
    vec![to_member(id, error(code, message))]
}

impl ChatCore {
    /// An empty server with these limits.
    pub fn new(limits: Limits) -> Self {
        ChatCore {
            limits,
            connections: HashMap::new(),
            rooms: HashMap::new(),
            tokens: HashMap::new(),
            members_in_rooms: 0,
        }
    }

    /// Registers a new connection (not yet in a room).
    pub fn connect(&mut self, id: MemberId, now_ms: u64) {
        let bucket = TokenBucket::new(self.limits.rate_burst, self.limits.rate_per_sec, now_ms);
        self.connections
            .insert(id, Connection { room: None, bucket });
    }

    /// Forgets a connection; its room sees it leave.
    pub fn disconnect(&mut self, id: MemberId) -> Vec<Effect> {
        let mut effects = Vec::new();
        self.leave_room(id, &mut effects);
        self.connections.remove(&id);
        effects
    }

    /// Number of rooms held and of members in rooms.
    pub fn stats(&self) -> (usize, usize) {
        (self.rooms.len(), self.members_in_rooms)
    }

    /// Number of participants in a room.
    pub fn count(&self, room: &RoomName) -> usize {
        self.rooms.get(room).map_or(0, Room::len)
    }

    /// The connections in a room.
    pub fn members_of<'a>(&'a self, room: &RoomName) -> impl Iterator<Item = MemberId> + 'a {
        self.rooms.get(room).into_iter().flat_map(Room::member_ids)
    }

    /// Handles one frame from a connection.
    pub fn handle(&mut self, id: MemberId, frame: ClientFrame, now_ms: u64) -> Vec<Effect> {
        let Some(conn) = self.connections.get_mut(&id) else {
            return Vec::new();
        };
        if let Err(retry_ms) = conn.bucket.take(now_ms) {
            let reference = match &frame {
                ClientFrame::Say { reference, .. } => reference.clone(),
                _ => None,
            };
            let frame = ServerFrame::Error {
                code: ErrorCode::RateLimited,
                message: format!("too many frames; retry in {retry_ms} ms"),
                reference,
                retry_ms: Some(retry_ms),
            };
            return vec![to_member(id, frame)];
        }
        match frame {
            ClientFrame::Join {
                v,
                nick,
                room,
                since,
                resume,
                epoch,
            } => self.join(
                id,
                v,
                &nick,
                room.as_deref(),
                since,
                resume.as_deref(),
                epoch.as_deref(),
                now_ms,
            ),
            ClientFrame::Say { text, reference } => self.say(id, text, reference, now_ms),
            ClientFrame::Typing { on } => self.typing(id, on, now_ms),
            ClientFrame::Nick { nick } => self.rename(id, &nick),
            ClientFrame::Leave {} => self.leave(id),
            ClientFrame::Ping {} => vec![to_member(id, ServerFrame::Pong {})],
        }
    }

    fn current_room(&self, id: MemberId) -> Option<RoomName> {
        self.connections.get(&id).and_then(|c| c.room.clone())
    }

    /// Takes `id` out of its room, telling the others; returns its token.
    fn leave_room(&mut self, id: MemberId, effects: &mut Vec<Effect>) -> Option<Arc<str>> {
        let room_name = self.connections.get_mut(&id)?.room.take()?;
        let room = self.rooms.get_mut(&room_name)?;
        let member = room.remove(id)?;
        self.members_in_rooms -= 1;
        self.tokens.remove(&member.token);
        let count = room.len();
        effects.push(Effect::Send {
            to: Audience::Room(room_name),
            frame: ServerFrame::Left {
                nick: member.nick.to_string(),
                count,
            },
        });
        Some(member.token)
    }

    fn say(
        &mut self,
        id: MemberId,
        text: String,
        reference: Option<String>,
        now_ms: u64,
    ) -> Vec<Effect> {
        let refuse = |code, message: String, reference: Option<String>| {
            vec![to_member(
                id,
                ServerFrame::Error {
                    code,
                    message,
                    reference,
                    retry_ms: None,
                },
            )]
        };
        let Some(room_name) = self.current_room(id) else {
            return refuse(
                ErrorCode::NotJoined,
                "join a room before sending".into(),
                reference,
            );
        };
        if reference
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REF_CHARS)
        {
            return refuse(
                ErrorCode::BadFrame,
                format!("ref is longer than {MAX_REF_CHARS} characters"),
                None,
            );
        }
        let text = match MessageText::parse(text, self.limits.max_message_chars) {
            Ok(text) => text.into_string(),
            Err((code, message)) => return refuse(code, message, reference),
        };
        let Some(room) = self.rooms.get_mut(&room_name) else {
            return Vec::new();
        };
        let mut effects = Vec::with_capacity(2);
        let msg_id = match room.post(id, text, reference.as_deref(), now_ms) {
            Some(Posted::New(message)) => {
                let msg_id = message.id;
                effects.push(Effect::Send {
                    to: Audience::Room(room_name),
                    frame: ServerFrame::Message(message),
                });
                msg_id
            }
            // A resend: the original id is acknowledged again, nothing is
            // broadcast twice.
            Some(Posted::Duplicate(msg_id)) => msg_id,
            None => return effects,
        };
        if let Some(reference) = reference {
            effects.push(to_member(
                id,
                ServerFrame::Ack {
                    reference,
                    id: msg_id,
                },
            ));
        }
        effects
    }

    /// Ends typing indicators older than [`TYPING_TIMEOUT_MS`].
    pub fn expire_typing(&mut self, now_ms: u64) -> Vec<Effect> {
        let cutoff = now_ms.saturating_sub(TYPING_TIMEOUT_MS);
        let mut effects = Vec::new();
        for (name, room) in &mut self.rooms {
            for nick in room.expire_typing(cutoff) {
                effects.push(Effect::Send {
                    to: Audience::Room(name.clone()),
                    frame: ServerFrame::Typing { nick, on: false },
                });
            }
        }
        effects
    }

    fn typing(&mut self, id: MemberId, on: bool, now_ms: u64) -> Vec<Effect> {
        let Some(room_name) = self.current_room(id) else {
            return refusal(id, ErrorCode::NotJoined, "join a room before typing");
        };
        let Some(room) = self.rooms.get_mut(&room_name) else {
            return Vec::new();
        };
        if !room.set_typing(id, on, now_ms) {
            return Vec::new();
        }
        // unwrap: set_typing returned true, so the member exists.
        let nick = room.member(id).unwrap().nick.to_string();
        vec![Effect::Send {
            to: Audience::RoomExcept(room_name, id),
            frame: ServerFrame::Typing { nick, on },
        }]
    }

    fn rename(&mut self, id: MemberId, raw: &str) -> Vec<Effect> {
        let Some(room_name) = self.current_room(id) else {
            return refusal(
                id,
                ErrorCode::NotJoined,
                "join a room before changing nickname",
            );
        };
        let nick = match Nickname::parse(raw, self.limits.max_nick_chars) {
            Ok(nick) => nick,
            Err(e) => return refusal(id, ErrorCode::InvalidNick, e.0),
        };
        let Some(room) = self.rooms.get_mut(&room_name) else {
            return Vec::new();
        };
        if room.holder_of(&nick).is_some_and(|holder| holder != id) {
            return refusal(
                id,
                ErrorCode::NickTaken,
                format!("the nickname {nick} is taken in {room_name}"),
            );
        }
        let new = nick.to_string();
        match room.rename(id, nick) {
            Some(old) if old.as_str() != new => vec![Effect::Send {
                to: Audience::Room(room_name),
                frame: ServerFrame::Renamed {
                    old: old.to_string(),
                    new,
                },
            }],
            _ => Vec::new(),
        }
    }

    fn leave(&mut self, id: MemberId) -> Vec<Effect> {
        let Some(room_name) = self.current_room(id) else {
            return refusal(id, ErrorCode::NotJoined, "not in a room");
        };
        let mut effects = Vec::with_capacity(2);
        self.leave_room(id, &mut effects);
        effects.push(to_member(
            id,
            ServerFrame::LeftRoom {
                room: room_name.to_string(),
            },
        ));
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> ChatCore {
        ChatCore::new(Limits {
            history_on_join: 2,
            max_rooms: 2,
            max_room_members: 3,
            ..Limits::default()
        })
    }

    fn join_frame(nick: &str, room: &str) -> ClientFrame {
        ClientFrame::Join {
            v: None,
            nick: nick.into(),
            room: Some(room.into()),
            since: None,
            resume: None,
            epoch: None,
        }
    }

    fn say(text: &str, reference: &str) -> ClientFrame {
        ClientFrame::Say {
            text: text.into(),
            reference: Some(reference.into()),
        }
    }

    fn connect_and_join(core: &mut ChatCore, id: MemberId, nick: &str, room: &str) -> Vec<Effect> {
        core.connect(id, 0);
        core.handle(id, join_frame(nick, room), 0)
    }

    fn error_code(effects: &[Effect]) -> Option<ErrorCode> {
        effects.iter().find_map(|e| match e {
            Effect::Send {
                frame: ServerFrame::Error { code, .. },
                ..
            } => Some(*code),
            _ => None,
        })
    }

    fn session_of(effects: &[Effect]) -> String {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::Send {
                    frame: ServerFrame::Welcome { session, .. },
                    ..
                } => Some(session.clone()),
                _ => None,
            })
            .expect("a welcome")
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn join_welcomes_the_joiner_and_tells_the_others() {
        let mut core = core();
        connect_and_join(&mut core, 1, "ann", "lobby");
        let effects = connect_and_join(&mut core, 2, "bob", "lobby");
        assert!(
            matches!(&effects[0], Effect::Send { to: Audience::Member(2), frame: ServerFrame::Welcome { count: 2, roster, .. } } if roster.len() == 2)
        );
        assert_eq!(
            effects[1],
            Effect::Send {
                to: Audience::RoomExcept(room("lobby"), 2),
                frame: ServerFrame::Joined {
                    nick: "bob".into(),
                    count: 2
                }
            }
        );
        assert_eq!(core.stats(), (1, 2));
    }

    #[test]
    fn nicknames_are_unique_per_room_only() {
        let mut core = core();
        connect_and_join(&mut core, 1, "Ann", "lobby");
        assert_eq!(
            error_code(&connect_and_join(&mut core, 2, "ann", "lobby")),
            Some(ErrorCode::NickTaken)
        );
        assert_eq!(
            error_code(&connect_and_join(&mut core, 3, "ann", "other")),
            None
        );
    }

    #[test]
    fn moving_rooms_leaves_the_old_one_and_keeps_the_token() {
        let mut core = core();
        let session = session_of(&connect_and_join(&mut core, 1, "ann", "a"));
        let effects = core.handle(1, join_frame("ann", "b"), 0);
        assert!(effects.contains(&Effect::Send {
            to: Audience::Room(room("a")),
            frame: ServerFrame::Left {
                nick: "ann".into(),
                count: 0
            }
        }));
        assert_eq!(session_of(&effects), session);
        assert_eq!(core.members_of(&room("a")).count(), 0);
        assert_eq!(core.stats(), (2, 1), "a move counts the member once");
        assert_eq!(core.members_of(&room("b")).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn a_resume_token_takes_over_a_ghost_without_notices() {
        let mut core = core();
        let session = session_of(&connect_and_join(&mut core, 1, "ann", "lobby"));
        connect_and_join(&mut core, 2, "bob", "lobby");
        core.connect(3, 0);
        let frame = ClientFrame::Join {
            v: None,
            nick: "ann".into(),
            room: Some("lobby".into()),
            since: None,
            resume: Some(session),
            epoch: None,
        };
        let effects = core.handle(3, frame, 0);
        assert!(effects.contains(&Effect::Close {
            member: 1,
            reason: CloseReason::Replaced
        }));
        assert!(!effects.iter().any(|e| matches!(
            e,
            Effect::Send {
                frame: ServerFrame::Left { .. } | ServerFrame::Joined { .. },
                ..
            }
        )));
        let mut members: Vec<_> = core.members_of(&room("lobby")).collect();
        members.sort();
        assert_eq!(members, vec![2, 3]);
        assert_eq!(core.stats(), (1, 2), "a take-over keeps the count");
        assert!(
            core.disconnect(1).is_empty(),
            "the ghost's late disconnect changes nothing"
        );
    }

    #[test]
    fn rejoining_the_same_room_is_a_quiet_resync() {
        let mut core = core();
        connect_and_join(&mut core, 1, "ann", "lobby");
        connect_and_join(&mut core, 2, "bob", "lobby");
        let effects = core.handle(1, join_frame("ann", "lobby"), 0);
        assert_eq!(effects.len(), 1, "{effects:?}");
        assert!(matches!(
            &effects[0],
            Effect::Send {
                to: Audience::Member(1),
                frame: ServerFrame::Welcome { .. }
            }
        ));
    }

    #[test]
    fn a_refused_resume_leaves_the_old_connection_alone() {
        let mut core = core();
        let session = session_of(&connect_and_join(&mut core, 1, "ann", "one"));
        connect_and_join(&mut core, 2, "bob", "two");
        core.connect(3, 0);
        let frame = ClientFrame::Join {
            v: None,
            nick: "bob".into(),
            room: Some("two".into()),
            since: None,
            resume: Some(session),
            epoch: None,
        };
        let effects = core.handle(3, frame, 0);
        assert_eq!(error_code(&effects), Some(ErrorCode::NickTaken));
        assert!(!effects.iter().any(|e| matches!(e, Effect::Close { .. })));
        assert_eq!(core.members_of(&room("one")).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn a_cursor_from_another_epoch_is_ignored() {
        let mut core = core();
        connect_and_join(&mut core, 1, "ann", "lobby");
        core.handle(1, say("one", "1"), 0);
        core.handle(1, say("two", "2"), 0);
        core.connect(2, 0);
        let frame = ClientFrame::Join {
            v: None,
            nick: "bob".into(),
            room: Some("lobby".into()),
            since: Some(1),
            resume: None,
            epoch: Some("old".into()),
        };
        let effects = core.handle(2, frame, 0);
        let Effect::Send {
            frame: ServerFrame::Welcome { history, gap, .. },
            ..
        } = &effects[0]
        else {
            panic!("{effects:?}")
        };
        assert!(*gap);
        assert_eq!(
            history.len(),
            2,
            "the recent history, not what follows cursor 1 of another epoch"
        );
    }

    #[test]
    fn say_needs_a_room_and_is_acked_and_deduplicated() {
        let mut core = core();
        core.connect(1, 0);
        assert_eq!(
            error_code(&core.handle(1, say("hi", "r"), 0)),
            Some(ErrorCode::NotJoined)
        );
        core.handle(1, join_frame("ann", "lobby"), 0);
        let effects = core.handle(1, say("hi", "r"), 0);
        assert!(
            matches!(&effects[0], Effect::Send { to: Audience::Room(_), frame: ServerFrame::Message(m) } if m.id == 1)
        );
        assert_eq!(
            effects[1],
            to_member(
                1,
                ServerFrame::Ack {
                    reference: "r".into(),
                    id: 1
                }
            )
        );
        assert_eq!(
            core.handle(1, say("hi", "r"), 0),
            vec![to_member(
                1,
                ServerFrame::Ack {
                    reference: "r".into(),
                    id: 1
                }
            )]
        );
        assert_eq!(
            error_code(&core.handle(1, say("  ", "s"), 0)),
            Some(ErrorCode::EmptyMessage)
        );
    }

    #[test]
    fn floods_are_refused_with_a_retry_hint() {
        let mut core = ChatCore::new(Limits {
            rate_burst: 2,
            rate_per_sec: 1,
            ..Limits::default()
        });
        connect_and_join(&mut core, 1, "ann", "lobby");
        assert_eq!(error_code(&core.handle(1, say("one", "1"), 0)), None);
        let effects = core.handle(1, say("two", "2"), 0);
        let Effect::Send {
            frame:
                ServerFrame::Error {
                    code,
                    reference,
                    retry_ms,
                    ..
                },
            ..
        } = &effects[0]
        else {
            panic!("{effects:?}")
        };
        assert_eq!(
            (*code, reference.as_deref(), *retry_ms),
            (ErrorCode::RateLimited, Some("2"), Some(1000))
        );
        assert_eq!(error_code(&core.handle(1, say("two", "2"), 1000)), None);
    }

    #[test]
    fn typing_is_sent_to_others_on_change_only() {
        let mut core = core();
        connect_and_join(&mut core, 1, "ann", "lobby");
        let effects = core.handle(1, ClientFrame::Typing { on: true }, 0);
        assert_eq!(
            effects,
            vec![Effect::Send {
                to: Audience::RoomExcept(room("lobby"), 1),
                frame: ServerFrame::Typing {
                    nick: "ann".into(),
                    on: true
                }
            }]
        );
        assert!(core
            .handle(1, ClientFrame::Typing { on: true }, 0)
            .is_empty());
    }

    #[test]
    fn rooms_and_members_are_capped() {
        let mut core = core();
        connect_and_join(&mut core, 1, "a", "one");
        connect_and_join(&mut core, 2, "b", "two");
        assert_eq!(
            error_code(&connect_and_join(&mut core, 3, "c", "three")),
            Some(ErrorCode::TooManyRooms)
        );
        core.disconnect(2);
        assert_eq!(
            error_code(&connect_and_join(&mut core, 3, "c", "three")),
            None,
            "the empty room is evicted"
        );
        connect_and_join(&mut core, 4, "d", "one");
        connect_and_join(&mut core, 5, "e", "one");
        assert_eq!(
            error_code(&connect_and_join(&mut core, 6, "f", "one")),
            Some(ErrorCode::RoomFull)
        );
    }

    #[test]
    fn disconnect_tells_the_room() {
        let mut core = core();
        connect_and_join(&mut core, 1, "ann", "lobby");
        connect_and_join(&mut core, 2, "bob", "lobby");
        assert_eq!(
            core.disconnect(1),
            vec![Effect::Send {
                to: Audience::Room(room("lobby")),
                frame: ServerFrame::Left {
                    nick: "ann".into(),
                    count: 1
                }
            }]
        );
        assert_eq!(core.stats(), (1, 1));
    }
}
