//! Applying log entries: moving a room's mirror forward (fetching what was
//! missed when an entry arrives after a gap), binding and unbinding the
//! connections here that an entry is about, and turning each entry into the
//! frames the connections here must see. Part of the pure core; it sees
//! `ChatCore`'s private state as a child module.

use crate::core::backplane::ResumeToken;
use crate::core::backplane::{Entry, Event, LeftWhy, Snapshot, LOG_TAIL};
use crate::core::mirror::Mirror;
use crate::core::rules::room_name::RoomName;
use crate::protocol::ServerFrame;

use super::{Audience, ChatCore, CloseReason, Effect};

/// No connection has this id: an audience "everyone but nobody".
const NOBODY: u64 = 0;

/// A joiner's welcome shows its room as of the joiner's own entry, so the
/// room's frames of earlier entries in the same batch (entries read back
/// to fill a gap just before it) must not reach it, although it is a
/// member by the time they are sent (the ChatRoom resolves a room's
/// audience when it delivers). Those frames leave the joiner out;
/// `members` are the room's members here before the joiner.
fn keep_from_joiner(effects: &mut Vec<Effect>, room: &RoomName, joiner: u64, members: &[u64]) {
    let mut i = 0;
    while i < effects.len() {
        if let Effect::Send { to, frame, at } = &mut effects[i] {
            match to {
                Audience::Room(r) if r == room => *to = Audience::RoomExcept(r.clone(), joiner),
                Audience::RoomExcept(r, except) if r == room && *except == NOBODY => {
                    *except = joiner;
                }
                Audience::RoomExcept(r, except) if r == room && *except != joiner => {
                    // Two to leave out: the others get it one by one.
                    let except = *except;
                    let sends: Vec<Effect> = members
                        .iter()
                        .filter(|&&m| m != except && m != joiner)
                        .map(|&m| Effect::Send {
                            to: Audience::Member(m),
                            frame: frame.clone(),
                            at: *at,
                        })
                        .collect();
                    let added = sends.len();
                    effects.splice(i..=i, sends);
                    i += added;
                    continue;
                }
                _ => {}
            }
        }
        i += 1;
    }
}

impl ChatCore {
    pub(super) fn apply_entry(&mut self, entry: Entry, now_ms: u64, effects: &mut Vec<Effect>) {
        let Some(room) = self.rooms.get(&entry.room) else {
            // Heard while the room's snapshot is on its way: applied after
            // it. Otherwise not mirrored here.
            if let Some(heard) = self.opening.get_mut(&entry.room) {
                if heard.len() < LOG_TAIL {
                    heard.push(entry);
                }
            }
            return;
        };
        if entry.seq <= room.seq {
            return; // an echo of an entry already applied
        }
        if entry.prev > room.seq {
            // Entries between were missed (a dropped subscription message,
            // or a reconnect): fetch them from the log first.
            let missed_from = room.seq;
            match self.backplane.read(&entry.room, missed_from) {
                Ok(Some(missed)) => {
                    for earlier in missed.into_iter().filter(|e| e.seq < entry.seq) {
                        self.apply_one(earlier, now_ms, effects);
                    }
                }
                Ok(None) => {
                    log::warn!(
                        "room {}: entries after {missed_from} are gone; re-reading its state",
                        entry.room
                    );
                    self.resync(&entry.room, effects);
                    return;
                }
                Err(_) => return, // applied later, once the log is readable
            }
        }
        self.apply_one(entry, now_ms, effects);
    }

    /// Rebuilds a mirror from a fresh snapshot when its log tail is lost
    /// (or Redis came back empty), and gives its members here a fresh
    /// welcome; members the room no longer knows are told to reconnect,
    /// which resumes them.
    pub(super) fn resync(&mut self, room_name: &RoomName, effects: &mut Vec<Effect>) {
        let Ok(snapshot) = self.backplane.snapshot(room_name) else {
            return;
        };
        self.resync_from(room_name, snapshot, effects);
    }

    pub(super) fn resync_from(
        &mut self,
        room_name: &RoomName,
        snapshot: Snapshot,
        effects: &mut Vec<Effect>,
    ) {
        let Some(old) = self.forget_mirror(room_name) else {
            return;
        };
        let mut room = Mirror::from_snapshot(
            snapshot,
            self.limits.history_size,
            self.limits.max_room_history_bytes,
        );
        let locals: Vec<_> = old
            .local_ids()
            .filter_map(|id| old.local_token(id).map(|t| (id, t.clone())))
            .collect();
        let seq = room.seq;
        let mut welcomed = Vec::new();
        for (id, token) in locals {
            if room.member(&token).is_some() {
                room.attach(id, token.clone());
                welcomed.push((id, token));
            } else {
                if let Some(conn) = self.connections.get_mut(&id) {
                    conn.room = None;
                }
                self.members_in_rooms -= 1;
                self.forget(id);
                effects.push(Effect::Close {
                    member: id,
                    reason: CloseReason::Lost,
                });
            }
        }
        self.keep_mirror(room_name, room);
        for (id, token) in welcomed {
            let frame = self.welcome(id, room_name, &token, Some(u64::MAX));
            effects.push(Effect::Send {
                to: Audience::Member(id),
                frame,
                at: seq,
            });
        }
        self.drop_mirror_if_unused(room_name);
    }

    fn apply_one(&mut self, entry: Entry, now_ms: u64, effects: &mut Vec<Effect>) {
        // unwrap: callers found the mirror.
        let room = self.rooms.get_mut(&entry.room).unwrap();
        let before = room.history_bytes();
        let applied = room.apply(&entry, now_ms);
        if applied.stale {
            return;
        }
        let after = room.history_bytes();
        if after != before {
            self.count_history(after.saturating_sub(before), before.saturating_sub(after));
            self.hold_history_bound();
        }
        let at = entry.seq;
        let name = entry.room;
        let local = self.tokens.get(entry.event.token()).copied();
        let send = |to: Audience, frame: ServerFrame| Effect::Send { to, frame, at };
        match entry.event {
            Event::Joined {
                token,
                nick,
                count,
                origin,
                since,
                resumed,
            } => {
                let joiner = (origin.node == self.node
                    && self.connections.contains_key(&origin.member))
                .then_some(origin.member);
                // Whoever held this token here before is a ghost: the user
                // is now on the joining connection.
                if let Some(ghost) = local.filter(|&g| Some(g) != joiner) {
                    self.replace(ghost, effects);
                }
                if let Some(id) = joiner {
                    if !self.is_in(id, &name) {
                        let members: Vec<u64> = self.members_of(&name).collect();
                        keep_from_joiner(effects, &name, id, &members);
                    }
                    self.joining.remove(&id);
                    // A cursor from another incarnation of a room that was
                    // opening when it was given: recent history, as a gap.
                    let since = match self.seen_epochs.remove(&id) {
                        Some(seen) if self.rooms.get(&name).is_some_and(|r| r.epoch != seen) => {
                            Some(u64::MAX)
                        }
                        _ => since,
                    };
                    self.bind(id, &name, &token);
                    let welcome = self.welcome(id, &name, &token, since);
                    effects.push(send(Audience::Member(id), welcome));
                }
                let others = Audience::RoomExcept(name, joiner.unwrap_or(NOBODY));
                if !resumed {
                    effects.push(send(others, ServerFrame::Joined { nick, count }));
                } else if applied.typing_ended {
                    effects.push(send(others, ServerFrame::Typing { nick, on: false }));
                }
            }
            Event::Left {
                nick, count, why, ..
            } => {
                log::debug!("node {}: {nick} left {name} ({why:?})", self.node);
                if let Some(id) = local.filter(|id| self.is_in(*id, &name)) {
                    self.unbind_keeping_mirror(id);
                    match why {
                        LeftWhy::Left => effects.push(Effect::Send {
                            to: Audience::Member(id),
                            frame: ServerFrame::LeftRoom {
                                room: name.to_string(),
                            },
                            at,
                        }),
                        LeftWhy::Expired => {
                            self.forget(id);
                            effects.push(Effect::Close {
                                member: id,
                                reason: CloseReason::Expired,
                            });
                        }
                        // Moved by a join that is not its own: the same
                        // user took its place from a connection on another
                        // shard or instance, into another room.
                        LeftWhy::Moved if !self.joining.contains_key(&id) => {
                            self.replace(id, effects);
                        }
                        LeftWhy::Moved | LeftWhy::Gone | LeftWhy::Dropped => {}
                    }
                }
                effects.push(send(
                    Audience::Room(name),
                    ServerFrame::Left { nick, count },
                ));
            }
            Event::Renamed { old, new, .. } => {
                effects.push(send(
                    Audience::Room(name),
                    ServerFrame::Renamed { old, new },
                ));
            }
            Event::Typing { nick, on, .. } => {
                let others = Audience::RoomExcept(name, local.unwrap_or(NOBODY));
                effects.push(send(others, ServerFrame::Typing { nick, on }));
            }
            Event::Message {
                reference, message, ..
            } => {
                effects.push(send(
                    Audience::Room(name.clone()),
                    ServerFrame::Message(message.clone()),
                ));
                if let (Some(id), Some(reference)) =
                    (local.filter(|id| self.is_in(*id, &name)), reference)
                {
                    effects.push(send(
                        Audience::Member(id),
                        ServerFrame::Ack {
                            reference,
                            id: message.id,
                        },
                    ));
                }
            }
        }
    }

    /// Closes connection `ghost`, whose member is now on another
    /// connection.
    fn replace(&mut self, ghost: u64, effects: &mut Vec<Effect>) {
        // A replaced polling session is over on every instance.
        if let Some(poll) = self.connections.get(&ghost).and_then(|c| c.poll.clone()) {
            let _ = self.backplane.drop_poll(&poll);
        }
        self.unbind_keeping_mirror(ghost);
        self.forget(ghost);
        effects.push(Effect::Close {
            member: ghost,
            reason: CloseReason::Replaced,
        });
    }

    fn is_in(&self, id: u64, room: &RoomName) -> bool {
        self.connections
            .get(&id)
            .is_some_and(|c| c.room.as_ref() == Some(room))
    }

    /// Makes connection `id` member `token` of `room` here.
    pub(super) fn bind(&mut self, id: u64, room: &RoomName, token: &ResumeToken) {
        if let Some(conn) = self.connections.get_mut(&id) {
            if conn.room.as_ref() != Some(room) {
                conn.room = Some(room.clone());
                if let Some(mirror) = self.rooms.get_mut(room) {
                    mirror.attach(id, token.clone());
                    self.members_in_rooms += 1;
                }
            }
            conn.token = Some(token.clone());
            self.tokens.insert(token.clone(), id);
        }
        // A polling session's record now names its member, so the next
        // request may go to any instance.
        self.save_place(id);
    }

    /// Takes `id` out of its room here without dropping an emptied mirror
    /// yet: entries being applied may still be for that room. Returns the
    /// room.
    pub(super) fn unbind_keeping_mirror(&mut self, id: u64) -> Option<RoomName> {
        let room = self.connections.get_mut(&id)?.room.take()?;
        if let Some(mirror) = self.rooms.get_mut(&room) {
            if mirror.detach(id) {
                self.members_in_rooms -= 1;
            }
        }
        Some(room)
    }

    /// Frames a connection catching up from `after` (a polling session
    /// served here for the first time) must see, from the entries this
    /// mirror has applied; `None` when they are no longer kept.
    pub(crate) fn catch_up(&mut self, id: u64, after: u64) -> Option<Vec<Effect>> {
        let (room_name, token) = self.place_of(id)?;
        let upto = self.rooms.get(&room_name)?.seq;
        if after >= upto {
            return Some(Vec::new());
        }
        let entries = self.backplane.read(&room_name, after).ok()??;
        let me = Audience::Member(id);
        let mut effects = Vec::new();
        for entry in entries.into_iter().filter(|e| e.seq <= upto) {
            let at = entry.seq;
            let mine = *entry.event.token() == token;
            let frames = match entry.event {
                Event::Joined {
                    nick,
                    count,
                    resumed: false,
                    ..
                } if !mine => vec![ServerFrame::Joined { nick, count }],
                Event::Joined { .. } => Vec::new(),
                Event::Left { nick, count, .. } => vec![ServerFrame::Left { nick, count }],
                Event::Renamed { old, new, .. } => vec![ServerFrame::Renamed { old, new }],
                Event::Typing { nick, on, .. } if !mine => vec![ServerFrame::Typing { nick, on }],
                Event::Typing { .. } => Vec::new(),
                Event::Message {
                    reference, message, ..
                } => {
                    let id = message.id;
                    let mut frames = vec![ServerFrame::Message(message)];
                    if let Some(reference) = reference.filter(|_| mine) {
                        frames.push(ServerFrame::Ack { reference, id });
                    }
                    frames
                }
            };
            effects.extend(frames.into_iter().map(|frame| Effect::Send {
                to: me.clone(),
                frame,
                at,
            }));
        }
        Some(effects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(to: Audience) -> Effect {
        Effect::Send {
            to,
            frame: ServerFrame::Pong {},
            at: 3,
        }
    }

    #[test]
    fn a_joiner_is_left_out_of_its_rooms_earlier_frames_only() {
        let room = RoomName::parse("tea").unwrap();
        let other = RoomName::parse("cake").unwrap();
        let mut effects = vec![
            send(Audience::Room(room.clone())),
            send(Audience::RoomExcept(room.clone(), NOBODY)),
            send(Audience::RoomExcept(room.clone(), 5)),
            send(Audience::Room(other.clone())),
            send(Audience::Member(9)),
        ];
        keep_from_joiner(&mut effects, &room, 7, &[5, 6]);
        assert_eq!(
            effects,
            vec![
                send(Audience::RoomExcept(room.clone(), 7)),
                send(Audience::RoomExcept(room.clone(), 7)),
                send(Audience::Member(6)),
                send(Audience::Room(other)),
                send(Audience::Member(9)),
            ]
        );
    }
}
