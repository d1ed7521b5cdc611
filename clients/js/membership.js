/*
 * Where the server has us and under what name: the room and nickname
 * asked for and those the server registered, the joins (first, rejoin of
 * the same room with `since` and `epoch`, switch to another room), each
 * after the first carrying the last welcome's resume token, their
 * welcome or refusal, renames, and leaving. After a drop it joins again
 * whenever a link opens, until the room is left.
 *
 * Joins state minor version 2 (PROTOCOL.md 1.2) until a server refuses
 * that with `bad_frame`: then the same join goes again without it, and
 * this membership never states it again.
 *
 * Owns: the nickname (wanted and registered), the room (wanted and
 * welcomed), whether we are joined or awaiting a welcome, whether a join
 * is wanted, the kind of join sent and its `since`, whether joins state
 * the minor version, the resume token, the
 * rename in progress, and the callers waiting on a join or a rename.
 * Must not touch: the DOM, the network (it sends through `link`), the
 * cursor (it reads `cursor.lastId` and `cursor.epoch` for a rejoin) or
 * the outbox's state (it tells the outbox what a welcome or a refusal
 * means for the pending messages).
 */

import { STATED_MINOR, joinFrame } from './protocol.js';
import { ParleyError } from './outbox.js';
import { createWaiters, quiet } from './waiters.js';

/**
 * A membership. Arguments:
 *   room    the room to join when none is named
 *   link    {send(frame) -> bool, isOpen(), reconnectNow()}
 *   outbox  the session's outbox (outbox.js)
 *   cursor  {lastId, epoch}: what a rejoin asks to resume from
 *   emit    (name, detail) => void
 *   clock   {setTimeout}
 */
export function createMembership({ room: startRoom, link, outbox, cursor, emit, clock }) {
  /** The nickname to join with: as asked, then as the server registered it. */
  let wantedNick = '';
  /** Our nickname in the room (from the last welcome or rename). */
  let nick = null;
  /** The room we are in or are joining. */
  let room = startRoom;
  /** The room of the last welcome; the cursor counts in it. */
  let shownRoom = null;
  /** The server has us in a room on the current connection. */
  let joined = false;
  /** A room was asked for: (re)join whenever a link opens. */
  let wantJoin = false;
  /** A join was sent and neither its welcome nor its error has come. */
  let awaitingWelcome = false;
  /** first, rejoin (same room, with since) or switch (another room). */
  let joinKind = 'first';
  /** The `since` of the join awaiting its welcome. */
  let joinSince;
  /** Resume token from the last welcome. */
  let resume = null;
  /** Joins state STATED_MINOR: false once a server refused it. */
  let statesMinor = true;
  /** The nickname a `nick` frame asked for, until it is renamed or refused. */
  let renaming = null;
  const joins = createWaiters();
  const renames = createWaiters();

  /** Whether a room was asked for that the server does not have us in. */
  function needsJoin() {
    return wantJoin && (!joined || room !== shownRoom);
  }

  function sendJoin() {
    if (shownRoom === null) joinKind = 'first';
    else if (shownRoom === room) joinKind = 'rejoin';
    else joinKind = 'switch';
    const frame = joinFrame({
      nick: wantedNick,
      room,
      since: joinKind === 'rejoin' ? cursor.lastId : undefined,
      epoch: cursor.epoch,
      resume,
      minor: statesMinor ? STATED_MINOR : undefined,
    });
    joinSince = frame.since;
    awaitingWelcome = link.send(frame);
  }

  return {
    /**
     * Welcome `w` came: we are in its room under its nickname. Returns
     * {kind, previousRoom, freshRoom, since, dropped}: the kind of join it
     * answers, the room shown before, whether it is another room, the
     * `since` the join asked with, and how many pending messages of other
     * rooms failed.
     */
    welcomed(w) {
      const kind = joinKind;
      const previousRoom = shownRoom;
      awaitingWelcome = false;
      joined = true;
      wantJoin = true;
      nick = w.nick;
      wantedNick = w.nick;
      resume = w.session;
      room = w.room;
      const freshRoom = w.room !== previousRoom;
      let dropped = 0;
      if (freshRoom) {
        dropped = outbox.failOutside(w.room);
        shownRoom = w.room;
      }
      return { kind, previousRoom, freshRoom, since: joinSince, dropped };
    },

    /** The welcome was told: the callers of join() have it. */
    joinsAnswered(detail) {
      joins.settle(null, detail);
    },

    /** A join error answered our join. */
    joinFailed(e) {
      awaitingWelcome = false;
      const asked = { nick: wantedNick, room };
      const error = new ParleyError(e.code, e.message, { frame: e, ...asked });
      if (joinKind === 'switch' && joined) {
        // The server refused before moving us: we are still where we were.
        outbox.failRoom(room);
        room = shownRoom;
        emit('error', { ...e, during: 'switch', ...asked });
        joins.settle(error);
        outbox.pump();
        return;
      }
      joined = false;
      wantJoin = false;
      emit('error', { ...e, during: 'join', ...asked });
      joins.settle(error);
    },

    /**
     * Our join was refused with `bad_frame` for its `minor` (an older
     * server): the same join goes again without it, as every later one
     * will. Returns false when joins already went without it.
     */
    minorRefused() {
      if (!statesMinor) return false;
      statesMinor = false;
      awaitingWelcome = false;
      if (needsJoin() && link.isOpen()) sendJoin();
      return true;
    },

    /** Our join was refused for now: it goes again after `wait` ms, if still wanted. */
    joinLater(wait) {
      awaitingWelcome = false;
      clock.setTimeout(() => { if (needsJoin() && link.isOpen() && !awaitingWelcome) sendJoin(); }, wait);
    },

    /** Someone was renamed (`r`): us, when it was our old nickname. */
    renamed(r) {
      const own = r.old === nick;
      if (own) {
        renaming = null;
        nick = r.new;
        wantedNick = r.new;
      }
      const detail = { kind: 'renamed', old: r.old, new: r.new, own };
      emit('presence', detail);
      if (own) renames.settle(null, detail);
    },

    /** The rename asked for was refused with error `e`. */
    renameFailed(e) {
      const asked = renaming;
      renaming = null;
      emit('error', { ...e, during: 'nick', nick: asked, room });
      renames.settle(new ParleyError(e.code, e.message, { frame: e, nick: asked }));
    },

    /** The server let us out of room `l.room`. */
    leftRoom(l) {
      joined = false;
      wantJoin = false;
      emit('left', { room: l.room });
    },

    /** A link opened: join if a room was asked for. */
    linkOpened() {
      if (wantJoin) sendJoin();
    },

    /** The link closed: the server has forgotten us. Returns whether we were joined. */
    linkClosed() {
      const wasJoined = joined;
      joined = false;
      awaitingWelcome = false;
      // A rename unanswered now never will be.
      if (renaming !== null) {
        renaming = null;
        renames.settle(new ParleyError('link_lost', 'the connection dropped before the rename was answered'));
      }
      return wasJoined;
    },

    /** Joins `room` as `nick` (each the current one when not given); resolves with the welcome. */
    join({ nick: asNick, room: to } = {}) {
      if (typeof asNick === 'string') wantedNick = asNick;
      if (typeof to === 'string') room = to;
      wantJoin = true;
      const promise = joins.wait();
      if (link.isOpen()) sendJoin();
      else link.reconnectNow();
      return promise;
    },

    /** Asks for another nickname; resolves with the rename, rejects with its error. */
    rename(name) {
      if (!joined) return quiet((_, reject) => reject(new ParleyError('not_joined', 'not in a room')));
      renaming = name;
      const promise = renames.wait();
      link.send({ type: 'nick', nick: name });
      return promise;
    },

    /** Leaves the room, keeping the connection; no rejoin until join() again. */
    leave() {
      wantJoin = false;
      if (joined) link.send({ type: 'leave' });
    },

    /** The client is closing: every join and rename still waiting rejects with `error`. */
    closed(error) {
      joins.settle(error);
      renames.settle(error);
    },

    get nick() { return nick; },
    get wantedNick() { return wantedNick; },
    get room() { return room; },
    get joined() { return joined; },
    get awaitingWelcome() { return awaitingWelcome; },
    get renaming() { return renaming; },
    /** Whether joins state the minor version (no server has refused it). */
    get statesMinor() { return statesMinor; },
  };
}
