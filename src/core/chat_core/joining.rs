//! Entering a room: checking the join, opening the room's mirror from a
//! backplane snapshot, asking the backplane for the place (which decides
//! nickname, resume and room size cluster-wide), leaving the room one was
//! in, attaching a polling session that another instance started, and
//! building the welcome. Part of the pure core; it sees `ChatCore`'s
//! private state as a child module.

use std::sync::Arc;

use super::{refusal, refused, ChatCore, Effect, MemberId};
use crate::core::backplane::{
    JoinRequest, LeftWhy, Origin, Refusal, ResumeToken, Snapshot, LOG_TAIL,
};
use crate::core::ids;
use crate::core::limits::MAX_ROSTER_LIMIT;
use crate::core::mirror::Mirror;
use crate::core::roster::PageAsk;
use crate::core::rules::nickname::Nickname;
use crate::core::rules::room_name::RoomName;
use crate::protocol::{
    ErrorCode, RosterEntry, ServerFrame, DEFAULT_ROSTER_LIMIT, PAGED_ROSTER_MINOR, PROTOCOL_MINOR,
    PROTOCOL_VERSION,
};

/// A `join` frame's fields.
pub(super) struct JoinAsk<'a> {
    pub(crate) v: Option<u32>,
    pub(crate) nick: &'a str,
    pub(crate) room: Option<&'a str>,
    pub(crate) since: Option<u64>,
    pub(crate) resume: Option<&'a str>,
    pub(crate) epoch: Option<&'a str>,
    pub(crate) minor: Option<u32>,
}

/// The refusal of a room past `--max-rooms` mirrored here.
fn too_many_rooms() -> Refusal {
    Refusal::new(
        ErrorCode::TooManyRooms,
        "the server holds as many rooms as it may; try an existing room",
    )
}

impl ChatCore {
    pub(super) fn join(&mut self, id: MemberId, ask: JoinAsk<'_>, now_ms: u64) -> Vec<Effect> {
        if let Some(v) = ask.v.filter(|&v| v != PROTOCOL_VERSION) {
            return refusal(
                id,
                ErrorCode::UnsupportedVersion,
                format!(
                    "protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}"
                ),
            );
        }
        let nick = match Nickname::parse(ask.nick, self.limits.max_nick_chars) {
            Ok(nick) => nick,
            Err(invalid) => return refusal(id, invalid.code, invalid.message),
        };
        let room_name = match ask
            .room
            .map(RoomName::parse)
            .unwrap_or_else(|| Ok(RoomName::default_room()))
        {
            Ok(name) => name,
            Err(invalid) => return refusal(id, invalid.code, invalid.message),
        };
        // One join at a time: a second one before the first is decided
        // (its welcome or refusal not yet here) would race it.
        if self.joining.contains_key(&id) {
            let mut busy = Refusal::new(
                ErrorCode::RateLimited,
                "a join of this connection is still being decided; retry once it is answered",
            );
            busy.retry_ms = Some(100);
            return refused(id, busy, None);
        }
        let before = self.place_or_away(id);
        // A well-formed token from the client is theirs to resume with: it
        // takes back their own nickname at once, wherever they were
        // connected. Otherwise the connection keeps the token it has.
        let token: ResumeToken = ask
            .resume
            .filter(|t| ids::is_well_formed(t))
            .map(Arc::from)
            .or_else(|| self.connections.get(&id).and_then(|c| c.token.clone()))
            .unwrap_or_else(|| Arc::from(ids::new_secret()));
        // A join may be decided later (its welcome, or its refusal, comes
        // through the feed) unless something waits on it: a polling
        // session's next request may reach another instance, a move from
        // another shard goes back there when refused, and a join under
        // another token leaves the old membership only once it is taken.
        let waited_on = self
            .connections
            .get(&id)
            .is_some_and(|c| c.poll.is_some() || c.away.is_some())
            || before.as_ref().is_some_and(|(_, t)| *t != token);
        let later = !waited_on && self.backplane.decides_later();
        // A room already opening opens from the snapshot on its way, for
        // a joiner decided at once too (its entries wait with the rest):
        // a second snapshot now would be older than what arrives later.
        let opened = match later || self.opening.contains_key(&room_name) {
            true => self.open_later(&room_name),
            false => self.open_mirror(&room_name),
        };
        if let Err(refusal) = opened {
            return refused(id, refusal, None);
        }
        // A cursor from another incarnation of the room means nothing here:
        // the client gets the recent history, flagged as a gap. A room
        // still opening is checked as its joiner is welcomed.
        let other_epoch = (self.rooms.get(&room_name))
            .map(|room| ask.epoch.is_some_and(|seen| room.epoch != seen));
        let since = match other_epoch {
            Some(true) => Some(u64::MAX),
            Some(false) => ask.since,
            None => {
                if let Some(seen) = ask.epoch {
                    self.seen_epochs.insert(id, seen.to_owned());
                }
                ask.since
            }
        };
        let open = other_epoch.is_none();
        let request = JoinRequest {
            room: room_name.clone(),
            nick,
            token: token.clone(),
            origin: Origin {
                node: self.node.clone(),
                member: id,
            },
            since,
            max_members: self.limits.max_room_members,
            lease_ms: match self.connections.get(&id).and_then(|c| c.poll.as_ref()) {
                Some(_) => self.limits.poll_lease().as_millis() as u64,
                None => self.lease_ms,
            },
        };
        // The welcome, whenever it is built, has the shape this client reads.
        if let Some(conn) = self.connections.get_mut(&id) {
            conn.minor = ask.minor.unwrap_or(0);
        }
        // Until its entry is applied (at once in memory, once committed
        // with a store, once Redis answered when decided later), the
        // joiner keeps the room's mirror open, or opening.
        self.joining.insert(id, room_name.clone());
        let decided = match later {
            true => self.backplane.join_later(request, open),
            false => self.backplane.join(request),
        };
        let mut effects = match decided {
            Ok(entries) => self.apply(entries, now_ms),
            Err(refusal) => return self.join_refused(id, &room_name, refusal),
        };
        // Joining under another token leaves the old membership behind:
        // end it, so the user is in one room once.
        if let Some((old_room, old_token)) = before.filter(|(_, t)| *t != token) {
            if let Ok(entries) = self.backplane.leave(&old_room, &old_token, LeftWhy::Moved) {
                effects.extend(self.apply(entries, now_ms));
            }
        }
        effects
    }

    /// A join that was refused (at once, or decided later): the joiner,
    /// if it is still joining that room, is told, and the room's mirror
    /// closed (or its opening given up) if nobody here needs it.
    pub(crate) fn join_refused(
        &mut self,
        id: MemberId,
        room_name: &RoomName,
        refusal: Refusal,
    ) -> Vec<Effect> {
        if self.joining.get(&id) != Some(room_name) {
            return Vec::new();
        }
        self.joining.remove(&id);
        self.seen_epochs.remove(&id);
        self.drop_mirror_if_unused(room_name);
        refused(id, refusal, None)
    }

    /// Starts opening `room_name`'s mirror, if it is neither mirrored nor
    /// opening: its snapshot comes through the feed before the join's
    /// entries ([`Self::opened`]), and what the room logs meanwhile is
    /// kept for it.
    fn open_later(&mut self, room_name: &RoomName) -> Result<(), Refusal> {
        if self.rooms.contains_key(room_name) || self.opening.contains_key(room_name) {
            return Ok(());
        }
        if self.share.mirrors() + self.opening.len() >= self.limits.max_rooms {
            return Err(too_many_rooms());
        }
        // Watch first, then read, as for a mirror opened at once.
        self.backplane.watch(room_name, true);
        self.opening.insert(room_name.clone(), Vec::new());
        Ok(())
    }

    /// The snapshot of a room being opened: its mirror starts from it and
    /// takes the entries heard meanwhile (those it already holds are
    /// ignored). Nothing when the room is no longer wanted here.
    pub(crate) fn opened(
        &mut self,
        room_name: &RoomName,
        snapshot: Snapshot,
        now_ms: u64,
    ) -> Vec<Effect> {
        let Some(heard) = self.opening.remove(room_name) else {
            return Vec::new();
        };
        // Opened meanwhile another way (a polling session adopted here):
        // that mirror is newer; what was heard is applied to it.
        if !self.rooms.contains_key(room_name) {
            let room = Mirror::from_snapshot(
                snapshot,
                self.limits.history_size,
                self.limits.max_room_history_bytes,
            );
            self.keep_mirror(room_name, room);
        }
        let overflowed = heard.len() >= LOG_TAIL;
        let mut effects = self.apply(heard, now_ms);
        // More was heard than kept: what follows is read from the log.
        if overflowed {
            let seq = self.rooms.get(room_name).map_or(0, |r| r.seq);
            if let Ok(Some(missed)) = self.backplane.read(room_name, seq) {
                effects.extend(self.apply(missed, now_ms));
            }
        }
        effects
    }

    /// Starts mirroring `room_name` if it is not mirrored yet.
    pub(super) fn open_mirror(&mut self, room_name: &RoomName) -> Result<(), Refusal> {
        if self.rooms.contains_key(room_name) {
            return Ok(());
        }
        if self.share.mirrors() + self.opening.len() >= self.limits.max_rooms {
            return Err(too_many_rooms());
        }
        // Watch first, then read: an entry written in between arrives both
        // in the snapshot and as an echo, which the mirror ignores.
        self.backplane.watch(room_name, true);
        match self.backplane.snapshot(room_name) {
            Ok(snapshot) => {
                let room = Mirror::from_snapshot(
                    snapshot,
                    self.limits.history_size,
                    self.limits.max_room_history_bytes,
                );
                self.keep_mirror(room_name, room);
                Ok(())
            }
            Err(refusal) => {
                self.backplane.watch(room_name, false);
                Err(refusal)
            }
        }
    }

    /// Makes connection `id` (a polling session first served here) the
    /// local connection of member `token` in `room_name`, without telling
    /// anyone: the member is already there. Returns the frames after the
    /// session's position `after`, or a fresh welcome with `gap` set when
    /// those are no longer kept.
    pub(crate) fn attach(
        &mut self,
        id: MemberId,
        token: ResumeToken,
        room_name: Option<RoomName>,
        after: u64,
    ) -> Vec<Effect> {
        if let Some(conn) = self.connections.get_mut(&id) {
            conn.token = Some(token.clone());
        }
        self.tokens.insert(token.clone(), id);
        let Some(room_name) = room_name else {
            return Vec::new();
        };
        if let Err(refusal) = self.open_mirror(&room_name) {
            return refused(id, refusal, None);
        }
        let is_member = self
            .rooms
            .get(&room_name)
            .is_some_and(|r| r.member(&token).is_some());
        if !is_member {
            self.drop_mirror_if_unused(&room_name);
            return Vec::new();
        }
        self.bind(id, &room_name, &token);
        self.catch_up_or_welcome(id, after)
    }

    /// What connection `id` missed after log seq `after`, or, when that is
    /// no longer kept, a fresh welcome with `gap` set.
    pub(crate) fn catch_up_or_welcome(&mut self, id: MemberId, after: u64) -> Vec<Effect> {
        if let Some(effects) = self.catch_up(id, after) {
            return effects;
        }
        let Some((room_name, token)) = self.place_of(id) else {
            return Vec::new();
        };
        let seq = self.rooms.get(&room_name).map_or(0, |r| r.seq);
        let frame = self.welcome(id, &room_name, &token, Some(u64::MAX));
        vec![Effect::Send {
            to: super::Audience::Member(id),
            frame,
            at: seq,
        }]
    }

    /// The welcome of connection `id` into `room_name`, whose roster has
    /// the shape the connection's client reads ([`ChatCore::welcome_roster`]).
    pub(super) fn welcome(
        &self,
        id: MemberId,
        room_name: &RoomName,
        token: &ResumeToken,
        since: Option<u64>,
    ) -> ServerFrame {
        // unwrap: callers have just made sure the mirror exists.
        let room = self.rooms.get(room_name).unwrap();
        let nick = room
            .member(token)
            .map(|m| m.nick.clone())
            .unwrap_or_default();
        // A welcome must fit its reader's queue with room to spare, so the
        // history it carries is held to half of it: the newest messages
        // that fit, and a gap when that leaves out some the cursor asked for.
        let replay = room
            .replay(since, self.limits.history_on_join)
            .within(self.limits.max_outbox_bytes / 2, since.is_some());
        let minor = self.connections.get(&id).map_or(0, |c| c.minor);
        let (roster, roster_next) = self.welcome_roster(room, minor);
        ServerFrame::Welcome {
            v: PROTOCOL_VERSION,
            minor: PROTOCOL_MINOR,
            nick,
            room: room_name.to_string(),
            epoch: room.epoch.clone(),
            session: token.to_string(),
            roster,
            roster_next,
            count: room.len(),
            history: replay.messages,
            cursor: room.cursor(),
            gap: replay.gap,
            limits: self.limits.announced(),
        }
    }

    /// The roster a welcome carries, and its `roster_next` when that is
    /// not everybody. Its cost does not grow with the room beyond
    /// `big_room_members`:
    ///
    /// - a client of minor version 2 gets the first page in name order
    ///   (`DEFAULT_ROSTER_LIMIT`), or none at all in a big room, where the
    ///   first names say nothing; it asks for what it shows;
    /// - an older client gets everybody in join order, as it always did,
    ///   below `big_room_members`; in a big room, the first page of the
    ///   join order (`MAX_ROSTER_LIMIT`), with `count` saying how many
    ///   there are.
    ///
    /// Both kinds of page are held to `roster_page_bytes`.
    fn welcome_roster(&self, room: &Mirror, minor: u32) -> (Vec<RosterEntry>, Option<String>) {
        let big = room.len() >= self.limits.big_room_members;
        let max_bytes = self.limits.roster_page_bytes();
        if minor >= PAGED_ROSTER_MINOR {
            if big {
                return (Vec::new(), Some(String::new()));
            }
            let page = room.roster_page(PageAsk {
                after: None,
                prefix: None,
                // A constant far below usize::MAX: the cast cannot truncate.
                limit: DEFAULT_ROSTER_LIMIT as usize,
                max_bytes,
            });
            return (page.entries, page.next);
        }
        if !big {
            return (room.roster(usize::MAX, usize::MAX), None);
        }
        let roster = room.roster(MAX_ROSTER_LIMIT as usize, max_bytes);
        // Not a cursor into the join order: the rest is paged from the
        // start of the name order, by a client that can.
        let next = (roster.len() < room.len()).then(String::new);
        (roster, next)
    }
}
