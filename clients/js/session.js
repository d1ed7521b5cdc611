/*
 * The chat session as the protocol sees it: which room the client is in or
 * joining and under what nickname, the frames the server sends (welcome,
 * message, ack, joined, left, presence, renamed, typing, left_room,
 * status, history, error, pong), and the joins, room switches, renames,
 * messages and history requests asked for. It resumes across reconnects:
 * every join after the first carries the last welcome's resume token, and
 * a rejoin of the same room carries `since` (the highest id seen) and
 * `epoch`, so nothing is told twice or missed.
 *
 * Owns: the nickname (wanted and registered), the room (wanted and
 * welcomed), the highest message id seen, whether we are joined or
 * awaiting a welcome, the kind of join sent, the resume token and epoch,
 * whether the server reported itself degraded, the limits, the rename in
 * progress, the history requests in flight, the callers waiting on a join
 * or a rename, and the Outbox of unacknowledged messages (which owns its
 * own state).
 * Must not touch: the DOM, wording meant for people, or the network
 * directly. It sends through `link` and reports through `emit(name,
 * detail)`; so Node can feed it frames and watch.
 */

import { CLOSE, isJoinError, joinFrame } from './protocol.js';
import { ParleyError, createOutbox } from './outbox.js';

const DEFAULT_IO = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
};

/** Messages a history request asks for when the caller names no limit. */
export const HISTORY_PAGE = 50;

/**
 * A session. Arguments:
 *   room   the room to join when none is named
 *   link   {send(frame) -> bool, isOpen(), reconnectNow(), welcomed()}
 *   emit   (name, detail) => void
 *   io     {setTimeout, clearTimeout, now, randomWords}
 */
export function createSession({ room: startRoom = 'lobby', link, emit, io = {} }) {
  const clock = { ...DEFAULT_IO, ...io };
  /** The nickname to join with: as asked, then as the server registered it. */
  let wantedNick = '';
  /** Our nickname in the room (from the last welcome or rename). */
  let nick = null;
  /** The room we are in or are joining. */
  let room = startRoom;
  /** The room of the last welcome; lastId counts in it. */
  let shownRoom = null;
  /** Highest message id seen: anything at or below it is a duplicate. */
  let lastId = 0;
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
  /** The numbering of the room's ids, from the last welcome. */
  let epoch;
  /** The server reported it cannot reach or write its store. */
  let degraded = false;
  /** The limits of the last welcome (undefined before the first). */
  let limits;
  /** The nickname a `nick` frame asked for, until it is renamed or refused. */
  let renaming = null;
  /** Callers of join() awaiting the welcome: [{resolve, reject}]. */
  let joinWaiters = [];
  /** Callers of nick() awaiting the rename: [{resolve, reject}]. */
  let nickWaiters = [];
  /** History requests in flight: ref -> {resolve, reject}. */
  const histories = new Map();
  let historyCounter = 0;

  const outbox = createOutbox({
    send: link.send,
    canSend: () => joined && !awaitingWelcome,
    room: () => room,
    emit,
    io,
  });

  /** A promise whose rejection nobody need handle (callers may ignore it). */
  function quiet(executor) {
    const promise = new Promise(executor);
    promise.catch(() => {});
    return promise;
  }

  function settleJoin(error, welcome) {
    const waiters = joinWaiters;
    joinWaiters = [];
    for (const waiter of waiters) {
      if (error) waiter.reject(error);
      else waiter.resolve(welcome);
    }
  }

  function settleNick(error, renamed) {
    const waiters = nickWaiters;
    nickWaiters = [];
    for (const waiter of waiters) {
      if (error) waiter.reject(error);
      else waiter.resolve(renamed);
    }
  }

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
      since: joinKind === 'rejoin' ? lastId : undefined,
      epoch,
      resume,
    });
    joinSince = frame.since;
    awaitingWelcome = link.send(frame);
  }

  /** Message `m` unless already seen, with `ref` when it is our own pending one. */
  function fresh(m) {
    if (!Number.isSafeInteger(m.id) || m.id <= lastId) return null;
    lastId = m.id;
    const own = m.nick === nick;
    const out = { ...m, room, own };
    delete out.type;
    if (own) {
      const ref = outbox.adopt(m.text);
      if (ref !== undefined) out.ref = ref;
    }
    return out;
  }

  function onWelcome(w) {
    const kind = joinKind;
    const previousRoom = shownRoom;
    awaitingWelcome = false;
    joined = true;
    wantJoin = true;
    outbox.welcomed();
    nick = w.nick;
    wantedNick = w.nick;
    resume = w.session;
    const previousEpoch = epoch;
    room = w.room;
    limits = w.limits;
    const freshRoom = w.room !== previousRoom;
    let dropped = 0;
    let renumbered = false;
    if (freshRoom) {
      dropped = outbox.failOutside(w.room);
      lastId = 0;
      shownRoom = w.room;
    } else if (joinSince !== undefined && (w.epoch !== previousEpoch || w.cursor < joinSince)) {
      // The room's numbering started again (the server restarted, or the
      // room was emptied and recreated): old ids mean nothing any more.
      lastId = 0;
      renumbered = true;
    }
    epoch = w.epoch;
    const history = [];
    for (const message of Array.isArray(w.history) ? w.history : []) {
      const shown = fresh(message);
      if (shown) history.push(shown);
    }
    // Messages up to the cursor that were not replayed predate this visit.
    lastId = Math.max(lastId, w.cursor);
    const detail = {
      ...w,
      history,
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
    settleJoin(null, detail);
    // Unacknowledged messages go again with their refs.
    outbox.pump();
  }

  function onMessage(m) {
    const shown = fresh(m);
    if (shown) emit('message', shown);
  }

  function onRenamed(r) {
    const own = r.old === nick;
    if (own) {
      renaming = null;
      nick = r.new;
      wantedNick = r.new;
    }
    const detail = { kind: 'renamed', old: r.old, new: r.new, own };
    emit('presence', detail);
    if (own) settleNick(null, detail);
  }

  function onLeftRoom(l) {
    joined = false;
    wantJoin = false;
    emit('left', { room: l.room });
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

  function onHistory(h) {
    const waiter = histories.get(h.ref);
    if (!waiter) return;
    histories.delete(h.ref);
    const messages = (Array.isArray(h.messages) ? h.messages : []).map((m) => {
      const out = { ...m, room, own: m.nick === nick };
      delete out.type;
      return out;
    });
    const detail = { ref: h.ref, before: h.before, messages, more: !!h.more, room };
    emit('history', detail);
    waiter.resolve(detail);
  }

  /** A rename asked for was refused. */
  function renameFailed(e) {
    const asked = renaming;
    renaming = null;
    emit('error', { ...e, during: 'nick', nick: asked, room });
    settleNick(new ParleyError(e.code, e.message, { frame: e, nick: asked }));
  }

  function onError(e) {
    const waiter = e.ref === undefined ? undefined : histories.get(e.ref);
    if (waiter) {
      histories.delete(e.ref);
      waiter.reject(new ParleyError(e.code, e.message, { frame: e, retry_ms: e.retry_ms }));
      return;
    }
    const mine = Boolean(e.ref) && outbox.has(e.ref);
    // Both mean "not now": the message stays pending and is resent (with
    // the same ref, so it is posted once) after the wait.
    if (e.code === 'rate_limited' || e.code === 'degraded') {
      const wait = Number.isFinite(e.retry_ms) ? e.retry_ms : 1000;
      if (mine) {
        outbox.holdOff(e.ref, wait, e.code === 'rate_limited');
      } else if (awaitingWelcome) {
        awaitingWelcome = false;
        clock.setTimeout(() => { if (needsJoin() && link.isOpen() && !awaitingWelcome) sendJoin(); }, wait);
      } else if (renaming !== null) {
        // Errors without a ref answer a typing signal, a ping or a
        // rename; only the rename was asked to be waited for.
        renameFailed(e);
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
    if (awaitingWelcome && isJoinError(e.code)) {
      joinFailed(e);
      return;
    }
    if (renaming !== null && (e.code === 'invalid_nick' || e.code === 'nick_taken')) {
      renameFailed(e);
      return;
    }
    emit('error', { ...e, room });
  }

  function joinFailed(e) {
    awaitingWelcome = false;
    const asked = { nick: wantedNick, room };
    const error = new ParleyError(e.code, e.message, { frame: e, ...asked });
    if (joinKind === 'switch' && joined) {
      // The server refused before moving us: we are still where we were.
      outbox.failRoom(room);
      room = shownRoom;
      emit('error', { ...e, during: 'switch', ...asked });
      settleJoin(error);
      outbox.pump();
      return;
    }
    joined = false;
    wantJoin = false;
    emit('error', { ...e, during: 'join', ...asked });
    settleJoin(error);
  }

  /** Frame type -> handler. Unknown types are ignored: a newer server may send more. */
  const HANDLERS = {
    welcome: onWelcome,
    message: onMessage,
    ack: (a) => outbox.ack(a.ref, a.id),
    joined: (j) => emit('presence', { kind: 'joined', nick: j.nick, count: j.count }),
    left: (l) => emit('presence', { kind: 'left', nick: l.nick, count: l.count }),
    presence: (p) => emit('presence', { kind: 'presence', changes: p.changes, count: p.count }),
    renamed: onRenamed,
    typing: (t) => emit('typing', { nick: t.nick, on: !!t.on, own: t.nick === nick }),
    left_room: onLeftRoom,
    pong: () => {},
    status: onStatus,
    history: onHistory,
    error: onError,
  };

  return {
    /** A frame from the server. */
    handle(frame) {
      if (Object.hasOwn(HANDLERS, frame.type)) HANDLERS[frame.type](frame);
    },

    /** A link opened: join if a room was asked for. */
    linkOpened() {
      if (wantJoin) sendJoin();
    },

    /** The link closed with `code`: the server has forgotten us until we join again. */
    linkClosed(code) {
      const wasJoined = joined;
      joined = false;
      awaitingWelcome = false;
      // A rename unanswered now never will be.
      if (renaming !== null) {
        renaming = null;
        settleNick(new ParleyError('link_lost', 'the connection dropped before the rename was answered'));
      }
      for (const [ref, waiter] of histories) {
        histories.delete(ref);
        waiter.reject(new ParleyError('link_lost', 'the connection dropped before the answer came'));
      }
      outbox.linkLost(code === CLOSE.TOO_BIG);
      return wasJoined;
    },

    /**
     * Joins `room` (the current one when not given) as `nick` (the current
     * one when not given): a first join, or a switch of rooms keeping the
     * nickname. Resolves with the welcome; rejects with the join's error.
     */
    join({ nick: asNick, room: to } = {}) {
      if (typeof asNick === 'string') wantedNick = asNick;
      if (typeof to === 'string') room = to;
      wantJoin = true;
      const promise = quiet((resolve, reject) => joinWaiters.push({ resolve, reject }));
      if (link.isOpen()) sendJoin();
      else link.reconnectNow();
      return promise;
    },

    /** Asks for another nickname; resolves with the rename, rejects with its error. */
    rename(name) {
      if (!joined) return quiet((_, reject) => reject(new ParleyError('not_joined', 'not in a room')));
      renaming = name;
      const promise = quiet((resolve, reject) => nickWaiters.push({ resolve, reject }));
      link.send({ type: 'nick', nick: name });
      return promise;
    },

    /** Leaves the room, keeping the connection; no rejoin until join() again. */
    leave() {
      wantJoin = false;
      if (joined) link.send({ type: 'leave' });
    },

    /** Sends a message (it waits in the outbox until acknowledged). */
    say(text) {
      return outbox.say(text, nick || wantedNick);
    },

    /** Says whether we are typing; false when it could not be sent. */
    typing(on) {
      if (!joined) return false;
      return link.send({ type: 'typing', on: !!on });
    },

    /** Asks for up to `limit` messages before id `before` in the current room. */
    history({ before, limit = HISTORY_PAGE } = {}) {
      return quiet((resolve, reject) => {
        if (!joined || awaitingWelcome) {
          reject(new ParleyError('not_joined', 'not in a room'));
          return;
        }
        historyCounter += 1;
        const ref = `h${historyCounter}`;
        if (!link.send({ type: 'history', before, limit, ref })) {
          reject(new ParleyError('link_lost', 'no connection'));
          return;
        }
        histories.set(ref, { resolve, reject });
      });
    },

    /** The client is closing: every promise still waiting rejects. */
    closed() {
      const error = new ParleyError('closed', 'the client was closed');
      settleJoin(error);
      settleNick(error);
      for (const [ref, waiter] of histories) {
        histories.delete(ref);
        waiter.reject(error);
      }
      outbox.failAll('closed', 'the client was closed');
    },

    get nick() { return nick; },
    get wantedNick() { return wantedNick; },
    get room() { return room; },
    get joined() { return joined; },
    get awaitingWelcome() { return awaitingWelcome; },
    get degraded() { return degraded; },
    get limits() { return limits; },
    get pending() { return outbox.size; },
  };
}
