//! Entering a room: checking the join, taking over a ghost connection with
//! a resume token, creating (and, at the cap, evicting) rooms, and building
//! the welcome. Part of the pure room core; it sees `ChatCore`'s private
//! state as a child module and does no I/O.

use std::sync::Arc;

use super::{refusal, to_member, Audience, ChatCore, CloseReason, Effect, MemberId};
use crate::nickname::Nickname;
use crate::protocol::{error, ErrorCode, ServerFrame, PROTOCOL_VERSION};
use crate::room::Room;
use crate::room_name::RoomName;
use crate::token;

impl ChatCore {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn join(
        &mut self,
        id: MemberId,
        v: Option<u32>,
        nick: &str,
        room: Option<&str>,
        since: Option<u64>,
        resume: Option<&str>,
        epoch: Option<&str>,
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
        // A cursor from another incarnation of the room means nothing here:
        // the client gets the recent history, flagged as a gap.
        let since = match epoch {
            Some(seen) if self.rooms.get(&room_name).is_some_and(|r| r.epoch != seen) => {
                Some(u64::MAX)
            }
            _ => since,
        };
        let mut effects = Vec::new();
        let ghost = resume
            .and_then(|t| self.tokens.get(t).copied())
            .filter(|&g| g != id);
        if let Some(ghost) = ghost {
            if self.current_room(ghost).as_ref() == Some(&room_name) {
                return self.take_over(id, ghost, room_name, since);
            }
        }
        // Joining the room one is already in, under the same name, is a
        // re-sync: a fresh welcome, and nobody sees a leave or a join.
        let same_place = self.current_room(id).as_ref() == Some(&room_name)
            && self
                .rooms
                .get(&room_name)
                .and_then(|r| r.member(id))
                .is_some_and(|m| m.nick.key() == nick.key());
        if same_place {
            return vec![to_member(id, self.welcome(id, &room_name, since))];
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
        // The join will succeed: only now is a ghost elsewhere ended, so a
        // resume that is refused leaves the old connection alone.
        if let Some(ghost) = ghost {
            effects.extend(self.disconnect(ghost));
            effects.push(Effect::Close {
                member: ghost,
                reason: CloseReason::Replaced,
            });
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
        self.members_in_rooms += 1;
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
        let was_typing = room.member(ghost).is_some_and(|m| m.typing_since.is_some());
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
        let epoch = token::new_token()[..12].to_owned();
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
        self.rooms.insert(
            name.clone(),
            Room::new(self.limits.history_size, now_ms, epoch),
        );
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
            epoch: room.epoch.clone(),
            session: member.token.to_string(),
            roster: room.roster(),
            count: room.len(),
            history: replay.messages,
            cursor: room.cursor(),
            gap: replay.gap,
            limits: self.limits.announced(),
        }
    }
}
