//! The transport-agnostic chat core: every connection (WebSocket or polling),
//! every room, and the rules between them (join, move, resume, say, typing,
//! rename, leave, rate limits). Pure state: each call takes the clock and
//! returns [`Effect`]s saying what to deliver to whom; it never does I/O and
//! never knows which transport a member uses. The ChatRoom actor
//! (`chat_room.rs`) is its thin shell.

use std::collections::HashMap;
use std::sync::Arc;

use crate::limits::Limits;
use crate::message_text::MessageText;
use crate::nickname::Nickname;
use crate::protocol::{error, ClientFrame, ErrorCode, ServerFrame, PROTOCOL_VERSION};
use crate::rate_limit::TokenBucket;
use crate::room::{Posted, Room};
use crate::room_name::RoomName;
use crate::token;

pub use crate::room::MemberId;

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
        (self.rooms.len(), self.rooms.values().map(Room::len).sum())
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
            } => self.join(
                id,
                v,
                &nick,
                room.as_deref(),
                since,
                resume.as_deref(),
                now_ms,
            ),
            ClientFrame::Say { text, reference } => self.say(id, text, reference, now_ms),
            ClientFrame::Typing { on } => self.typing(id, on),
            ClientFrame::Nick { nick } => self.rename(id, &nick),
            ClientFrame::Leave {} => self.leave(id),
            ClientFrame::Ping {} => vec![to_member(id, ServerFrame::Pong {})],
        }
    }

    fn current_room(&self, id: MemberId) -> Option<RoomName> {
        self.connections.get(&id).and_then(|c| c.room.clone())
    }

    #[allow(clippy::too_many_arguments)]
    fn join(
        &mut self,
        id: MemberId,
        v: Option<u32>,
        nick: &str,
        room: Option<&str>,
        since: Option<u64>,
        resume: Option<&str>,
        now_ms: u64,
    ) -> Vec<Effect> {
        if let Some(v) = v.filter(|&v| v != PROTOCOL_VERSION) {
            return refusal(
                id,
                ErrorCode::UnsupportedVersion,
                format!(
                    "protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}"
                ),
            );
        }
        let nick = match Nickname::parse(nick, self.limits.max_nick_chars) {
            Ok(nick) => nick,
            Err(e) => return refusal(id, ErrorCode::InvalidNick, e.0),
        };
        let room_name = match room
            .map(RoomName::parse)
            .unwrap_or_else(|| Ok(RoomName::default_room()))
        {
            Ok(name) => name,
            Err(e) => return refusal(id, ErrorCode::InvalidRoom, e),
        };
        let mut effects = Vec::new();
        let ghost = resume
            .and_then(|t| self.tokens.get(t).copied())
            .filter(|&g| g != id);
        if let Some(ghost) = ghost {
            if self.current_room(ghost).as_ref() == Some(&room_name) {
                return self.take_over(id, ghost, room_name, since);
            }
            // The old connection sits elsewhere: end it the ordinary way.
            effects.extend(self.disconnect(ghost));
            effects.push(Effect::Close {
                member: ghost,
                reason: CloseReason::Replaced,
            });
        }
        if let Err((code, text)) = self.ensure_room(&room_name, now_ms) {
            effects.push(to_member(id, error(code, text)));
            return effects;
        }
        // unwrap: ensure_room just made sure the room exists.
        let room = self.rooms.get(&room_name).unwrap();
        if room.holder_of(&nick).is_some_and(|holder| holder != id) {
            effects.push(to_member(
                id,
                error(
                    ErrorCode::NickTaken,
                    format!("the nickname {nick} is taken in {room_name}"),
                ),
            ));
            return effects;
        }
        let already_here = room.member(id).is_some();
        if !already_here && room.len() >= self.limits.max_room_members {
            effects.push(to_member(
                id,
                error(ErrorCode::RoomFull, format!("{room_name} is full")),
            ));
            return effects;
        }
        // A well-formed token that no live connection holds is kept, so that
        // resends after a full reconnect are still recognised; a user moving
        // between rooms keeps theirs.
        let reusable = resume
            .filter(|t| token::is_well_formed(t) && !self.tokens.contains_key(*t))
            .map(Arc::from);
        let previous = self.leave_room(id, &mut effects);
        let token = reusable
            .or(previous)
            .unwrap_or_else(|| Arc::from(token::new_token()));
        // unwrap: the room was ensured above and leaving another room does
        // not remove rooms.
        let room = self.rooms.get_mut(&room_name).unwrap();
        room.insert(id, nick.clone(), token.clone());
        room.last_active_ms = now_ms;
        self.tokens.insert(token.clone(), id);
        if let Some(conn) = self.connections.get_mut(&id) {
            conn.room = Some(room_name.clone());
        }
        let count = room.len();
        effects.push(to_member(id, self.welcome(id, &room_name, since)));
        effects.push(Effect::Send {
            to: Audience::RoomExcept(room_name, id),
            frame: ServerFrame::Joined {
                nick: nick.to_string(),
                count,
            },
        });
        effects
    }

    /// Moves a ghost's place in `room` to `id` without a leave or join
    /// notice: to everyone else the user never left.
    fn take_over(
        &mut self,
        id: MemberId,
        ghost: MemberId,
        room_name: RoomName,
        since: Option<u64>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        self.leave_room(id, &mut effects);
        self.connections.remove(&ghost);
        effects.push(Effect::Close {
            member: ghost,
            reason: CloseReason::Replaced,
        });
        // unwrap: the ghost was in this room a moment ago.
        let room = self.rooms.get_mut(&room_name).unwrap();
        let was_typing = room.member(ghost).is_some_and(|m| m.typing);
        let Some(member) = room.transfer(ghost, id) else {
            return effects;
        };
        let (nick, token) = (member.nick.to_string(), member.token.clone());
        self.tokens.insert(token, id);
        if let Some(conn) = self.connections.get_mut(&id) {
            conn.room = Some(room_name.clone());
        }
        effects.push(to_member(id, self.welcome(id, &room_name, since)));
        if was_typing {
            effects.push(Effect::Send {
                to: Audience::RoomExcept(room_name, id),
                frame: ServerFrame::Typing { nick, on: false },
            });
        }
        effects
    }

    /// Makes sure `name` exists, creating it and evicting the longest-idle
    /// empty room when at the cap.
    fn ensure_room(&mut self, name: &RoomName, now_ms: u64) -> Result<(), (ErrorCode, String)> {
        if self.rooms.contains_key(name) {
            return Ok(());
        }
        if self.rooms.len() >= self.limits.max_rooms {
            let idle = self
                .rooms
                .iter()
                .filter(|(_, room)| room.is_empty())
                .min_by_key(|(_, room)| room.last_active_ms)
                .map(|(name, _)| name.clone());
            match idle {
                Some(idle) => {
                    self.rooms.remove(&idle);
                }
                None => {
                    return Err((
                        ErrorCode::TooManyRooms,
                        "the server holds as many rooms as it may; try an existing room".into(),
                    ))
                }
            }
        }
        self.rooms
            .insert(name.clone(), Room::new(self.limits.history_size, now_ms));
        Ok(())
    }

    fn welcome(&self, id: MemberId, room_name: &RoomName, since: Option<u64>) -> ServerFrame {
        // unwrap: callers have just put `id` into this room.
        let room = self.rooms.get(room_name).unwrap();
        let member = room.member(id).unwrap();
        let replay = room.replay(since, self.limits.history_on_join);
        ServerFrame::Welcome {
            v: PROTOCOL_VERSION,
            nick: member.nick.to_string(),
            room: room_name.to_string(),
            session: member.token.to_string(),
            roster: room.roster(),
            count: room.len(),
            history: replay.messages,
            cursor: room.cursor(),
            gap: replay.gap,
            limits: self.limits.announced(),
        }
    }

    /// Takes `id` out of its room, telling the others; returns its token.
    fn leave_room(&mut self, id: MemberId, effects: &mut Vec<Effect>) -> Option<Arc<str>> {
        let room_name = self.connections.get_mut(&id)?.room.take()?;
        let room = self.rooms.get_mut(&room_name)?;
        let member = room.remove(id)?;
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
        match room.post(id, text, reference.as_deref(), now_ms) {
            Some(Posted::New(message)) => {
                let msg_id = message.id;
                effects.push(Effect::Send {
                    to: Audience::Room(room_name),
                    frame: ServerFrame::Message(message),
                });
                if let Some(reference) = reference {
                    effects.push(to_member(
                        id,
                        ServerFrame::Ack {
                            reference,
                            id: msg_id,
                        },
                    ));
                }
            }
            Some(Posted::Duplicate(msg_id)) => {
                if let Some(reference) = reference {
                    effects.push(to_member(
                        id,
                        ServerFrame::Ack {
                            reference,
                            id: msg_id,
                        },
                    ));
                }
            }
            None => {}
        }
        effects
    }

    fn typing(&mut self, id: MemberId, on: bool) -> Vec<Effect> {
        let Some(room_name) = self.current_room(id) else {
            return refusal(id, ErrorCode::NotJoined, "join a room before typing");
        };
        let Some(room) = self.rooms.get_mut(&room_name) else {
            return Vec::new();
        };
        if !room.set_typing(id, on) {
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
