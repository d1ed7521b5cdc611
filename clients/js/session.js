/*
 * The chat session as the protocol sees it: the frames the server sends
 * (welcome, message, ack, joined, left, presence, renamed, typing,
 * left_room, status, history, roster, error, pong) turned into events,
 * each told once, and what the client asks for sent. It wires together who
 * and where we are (membership.js: joins, resume, renames), the messages
 * said and not yet acknowledged (outbox.js), and the history and roster
 * requests in flight (history-requests.js, roster-requests.js), and keeps
 * the cursor: the highest message id
 * seen, so that a message replayed after a resume is not told twice, and
 * the numbering (epoch) it belongs to.
 *
 * Owns: the cursor (highest id seen, epoch), whether the server reported
 * itself degraded, the limits and minor version of the last welcome, and which of its parts
 * an error frame answers.
 * Must not touch: the DOM, wording meant for people, the network directly,
 * or the state of its parts (each owns its own). It sends through `link`
 * and reports through `emit(name, detail)`; so Node can feed it frames
 * and watch.
 */

import { CLOSE, isJoinError, refusesMinor } from './protocol.js';
import { ParleyError, createOutbox } from './outbox.js';
import { createMembership } from './membership.js';
import { createHistoryRequests } from './history-requests.js';
import { createRosterRequests } from './roster-requests.js';

const DEFAULT_IO = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
};

/**
 * A session. Arguments:
 *   room   the room to join when none is named
 *   link   {send(frame) -> bool, isOpen(), reconnectNow(), welcomed()}
 *   emit   (name, detail) => void
 *   io     {setTimeout, clearTimeout, now, randomWords}
 */
export function createSession({ room = 'lobby', link, emit, io = {} }) {
  const clock = { ...DEFAULT_IO, ...io };
  /** Highest message id seen: anything at or below it is a duplicate. */
  let lastId = 0;
  /** The numbering of the room's ids, from the last welcome. */
  let epoch;
  /** The server reported it cannot reach or write its store. */
  let degraded = false;
  /** The limits of the last welcome (undefined before the first). */
  let limits;
  /** The minor version of the last welcome's server (0 before the first, or when it says none). */
  let minor = 0;

  const outbox = createOutbox({
    send: link.send,
    canSend: () => member.joined && !member.awaitingWelcome,
    room: () => member.room,
    emit,
    io,
  });
  const member = createMembership({
    room,
    link,
    outbox,
    cursor: { get lastId() { return lastId; }, get epoch() { return epoch; } },
    emit,
    clock,
  });
  const history = createHistoryRequests({ send: link.send, emit });
  const rosters = createRosterRequests({ send: link.send, emit });

  /** Message `m` unless already seen, with `ref` when it is our own pending one. */
  function fresh(m) {
    if (!Number.isSafeInteger(m.id) || m.id <= lastId) return null;
    lastId = m.id;
    const own = m.nick === member.nick;
    const out = { ...m, room: member.room, own };
    delete out.type;
    if (own) {
      const ref = outbox.adopt(m.text);
      if (ref !== undefined) out.ref = ref;
    }
    return out;
  }

  function onWelcome(w) {
    limits = w.limits;
    minor = Number.isSafeInteger(w.minor) ? w.minor : 0;
    outbox.welcomed();
    const {
      kind, previousRoom, freshRoom, since, dropped,
    } = member.welcomed(w);
    let renumbered = false;
    if (freshRoom) {
      lastId = 0;
    } else if (since !== undefined && (w.epoch !== epoch || w.cursor < since)) {
      // The room's numbering started again (the server restarted, or the
      // room was emptied and recreated): old ids mean nothing any more.
      lastId = 0;
      renumbered = true;
    }
    epoch = w.epoch;
    const replayed = [];
    for (const message of Array.isArray(w.history) ? w.history : []) {
      const shown = fresh(message);
      if (shown) replayed.push(shown);
    }
    // Messages up to the cursor that were not replayed predate this visit.
    lastId = Math.max(lastId, w.cursor);
    const big = limits && Number.isSafeInteger(limits.big_room_members) ? limits.big_room_members : Infinity;
    const detail = {
      ...w,
      history: replayed,
      // The welcome lists everybody unless it says where the rest starts.
      rosterComplete: typeof w.roster_next !== 'string',
      bigRoom: Number.isSafeInteger(w.count) && w.count >= big,
      kind,
      freshRoom,
      previousRoom,
      dropped,
      renumbered,
    };
    delete detail.type;
    delete detail.session;
    link.welcomed();
    emit('welcome', detail);
    member.joinsAnswered(detail);
    // Unacknowledged messages go again with their refs.
    outbox.pump();
  }

  function onMessage(m) {
    const shown = fresh(m);
    if (shown) emit('message', shown);
  }

  /**
   * The server lost (or regained) its store. Nothing is lost: refused
   * sends stay pending and go out again when it is back.
   */
  function onStatus(s) {
    const now = !!s.degraded;
    if (now === degraded) return;
    degraded = now;
    emit('degraded', { degraded });
    if (!degraded) outbox.release();
  }

  function onError(e) {
    if (history.refused(e) || rosters.refused(e)) return;
    // An older server refused the minor version our join stated: the
    // join goes again without it.
    if (member.awaitingWelcome && refusesMinor(e) && member.minorRefused()) return;
    const mine = Boolean(e.ref) && outbox.has(e.ref);
    // Both mean "not now": the message stays pending and is resent (with
    // the same ref, so it is posted once) after the wait.
    if (e.code === 'rate_limited' || e.code === 'degraded') {
      const wait = Number.isFinite(e.retry_ms) ? e.retry_ms : 1000;
      if (mine) {
        outbox.holdOff(e.ref, wait, e.code === 'rate_limited');
      } else if (member.awaitingWelcome) {
        member.joinLater(wait);
      } else if (member.renaming !== null) {
        // Errors without a ref answer a typing signal, a ping or a
        // rename; only the rename was asked to be waited for.
        member.renameFailed(e);
      } else if (e.code === 'degraded') {
        outbox.pumpLater(wait);
      }
      // A refused typing signal or ping needs no word: the next one goes
      // when it is due, and messages have their `slowdown` events.
      return;
    }
    if (mine) {
      outbox.refused(e.ref, e);
      return;
    }
    if (member.awaitingWelcome && isJoinError(e.code)) {
      member.joinFailed(e);
      return;
    }
    if (member.renaming !== null && (e.code === 'invalid_nick' || e.code === 'nick_taken')) {
      member.renameFailed(e);
      return;
    }
    emit('error', { ...e, room: member.room });
  }

  /**
   * A batch of arrivals and departures. In a big room (PROTOCOL.md 4.5.2)
   * it counts them (`arrived`, `departed`) and names only a sample.
   */
  function onPresence(p) {
    const detail = { kind: 'presence', changes: Array.isArray(p.changes) ? p.changes : [], count: p.count };
    if (Number.isSafeInteger(p.arrived) && Number.isSafeInteger(p.departed)) {
      detail.arrived = p.arrived;
      detail.departed = p.departed;
    }
    emit('presence', detail);
  }

  /** Frame type -> handler. Unknown types are ignored: a newer server may send more. */
  const HANDLERS = {
    welcome: onWelcome,
    message: onMessage,
    ack: (a) => outbox.ack(a.ref, a.id),
    joined: (j) => emit('presence', { kind: 'joined', nick: j.nick, count: j.count }),
    left: (l) => emit('presence', { kind: 'left', nick: l.nick, count: l.count }),
    presence: onPresence,
    renamed: (r) => member.renamed(r),
    typing: (t) => emit('typing', { nick: t.nick, on: !!t.on, own: t.nick === member.nick }),
    left_room: (l) => member.leftRoom(l),
    pong: () => {},
    status: onStatus,
    history: (h) => history.answer(h, member.room, member.nick),
    roster: (r) => rosters.answer(r),
    error: onError,
  };

  return {
    /** A frame from the server. */
    handle(frame) {
      if (Object.hasOwn(HANDLERS, frame.type)) HANDLERS[frame.type](frame);
    },

    /** A link opened: join if a room was asked for. */
    linkOpened() {
      member.linkOpened();
    },

    /** The link closed with `code`: the server has forgotten us until we join again. */
    linkClosed(code) {
      const wasJoined = member.linkClosed();
      const lost = () => new ParleyError('link_lost', 'the connection dropped before the answer came');
      history.failAll(lost);
      rosters.failAll(lost);
      outbox.linkLost(code === CLOSE.TOO_BIG);
      return wasJoined;
    },

    /**
     * Joins `room` (the current one when not given) as `nick` (the current
     * one when not given): a first join, or a switch of rooms keeping the
     * nickname. Resolves with the welcome; rejects with the join's error.
     */
    join(options = {}) {
      return member.join(options);
    },

    /** Asks for another nickname; resolves with the rename, rejects with its error. */
    rename(name) {
      return member.rename(name);
    },

    /** Leaves the room, keeping the connection; no rejoin until join() again. */
    leave() {
      member.leave();
    },

    /** Sends a message (it waits in the outbox until acknowledged). */
    say(text) {
      return outbox.say(text, member.nick || member.wantedNick);
    },

    /** Says whether we are typing; false when it could not be sent. */
    typing(on) {
      if (!member.joined) return false;
      return link.send({ type: 'typing', on: !!on });
    },

    /** Asks for up to `limit` messages before id `before` in the current room. */
    history(options = {}) {
      return history.ask(options, member.joined && !member.awaitingWelcome);
    },

    /** Asks for a page of the current room's members ({after, prefix, limit}). */
    roster(options = {}) {
      return rosters.ask(options, { joined: member.joined && !member.awaitingWelcome, minor });
    },

    /** The client is closing: every promise still waiting rejects. */
    closed() {
      const error = new ParleyError('closed', 'the client was closed');
      member.closed(error);
      history.failAll(() => error);
      rosters.failAll(() => error);
      outbox.failAll('closed', 'the client was closed');
    },

    get nick() { return member.nick; },
    get wantedNick() { return member.wantedNick; },
    get room() { return member.room; },
    get joined() { return member.joined; },
    get awaitingWelcome() { return member.awaitingWelcome; },
    get degraded() { return degraded; },
    get limits() { return limits; },
    get minor() { return minor; },
    get pending() { return outbox.size; },
  };
}
