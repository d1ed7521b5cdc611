/*
 * The chat session: which room the user is in or joining and under what
 * nickname, the frames the server sends (welcome, message, ack, joined,
 * left, presence, renamed, typing, left_room, status, history, error,
 * pong), and
 * the joins, room switches and renames the user asks for. It resumes
 * across reconnects: every join after the first carries the last welcome's
 * resume token, and a rejoin of the room shown carries `since` (the
 * highest id shown) and `epoch`, so nothing is shown twice or missed.
 *
 * Owns: the nickname (wanted and registered), the room (wanted and shown),
 * the highest message id shown, whether we are joined or awaiting a
 * welcome, the kind of join sent, the resume token and epoch, whether the
 * server reported itself degraded, and the room's Roster, the Outbox of
 * unacknowledged messages and the pager of older messages (older.js), each
 * of which owns its own state.
 * Must not touch: the DOM, the network or the address directly. It draws
 * through the `view` it is given, sends through `link`, and changes the
 * address through `address`; so Node can feed it frames and watch.
 */

import { CLOSE, isJoinError, joinFrame } from './protocol.js';
import { participants } from './format.js';
import { errorText } from './wording.js';
import { mentions } from './message-parts.js';
import { Roster } from './roster.js';
import { createOutbox } from './outbox.js';
import { createOlder } from './older.js';

const BROWSER_IO = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
};

/**
 * A session. Arguments:
 *   room      the room to start in (from the address)
 *   link      {send(frame) -> bool, isOpen(), reconnectNow(), welcomed()}
 *   typing    our typing reporter (typing.js): {stop(), linkLost()}
 *   view      what it draws with (view.js has them all)
 *   address   {showRoom(room), restoreRoom(room)}
 *   remember  (nick) => void: keeps the nickname for next time
 *   onLimits  (limits) => void: the welcome's limits, for the message box
 *   onCommand (name, ok) => void: how a /join or /nick the user typed
 *             ended ('join' or 'nick'; ok false when the server refused it)
 *   io        {setTimeout, clearTimeout, now, randomWords} (timers for retries)
 */
export function createSession({
  room: startRoom, link, typing, view, address, remember = () => {}, onLimits = () => {},
  onCommand = () => {}, io = {},
}) {
  const clock = { ...BROWSER_IO, ...io };
  /** The nickname to join with: from the form, then as the server registered it. */
  let wantedNick = '';
  /** Our nickname in the room (from the last welcome or rename). */
  let nick = null;
  /** The room we are in or are joining. */
  let room = startRoom;
  /** The room whose messages the list shows; lastId counts in it. */
  let shownRoom = null;
  /** Highest message id shown: anything at or below it is a duplicate. */
  let lastId = 0;
  /** The server has us in a room on the current connection. */
  let joined = false;
  /** The user asked to be in a room: (re)join whenever a link opens. */
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
  /** The server reported it cannot reach or write its store (Redis, or its disk). */
  let degraded = false;
  /** The limits of the last welcome (undefined before the first). */
  let limits;
  /** The nickname a `nick` frame asked for, until it is renamed or refused. */
  let renaming = null;

  const roster = new Roster();
  const outbox = createOutbox({
    send: link.send,
    canSend: () => joined && !awaitingWelcome,
    room: () => room,
    view,
    io,
  });
  const older = createOlder({
    send: link.send,
    canAsk: () => joined && !awaitingWelcome,
    ownNick: () => nick,
    view,
    io,
  });

  function drawRoster() {
    view.showRoster(roster.people(), roster.count, nick);
  }

  function drawTyping() {
    view.showTyping(roster.typists(nick));
  }

  /** Whether the user wants a room the server does not have them in. */
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
    remember(w.nick);
    const freshList = w.room !== previousRoom;
    limits = w.limits;
    if (kind === 'switch') onCommand('join', true);

    if (w.room !== previousRoom) {
      const dropped = outbox.failOutside(w.room);
      view.resetMessages(outbox.items());
      lastId = 0;
      shownRoom = w.room;
      if (previousRoom !== null) view.notice(`You left #${previousRoom} and joined #${w.room}.`);
      if (dropped > 0) view.notice(`${dropped} unsent message(s) meant for #${previousRoom} were dropped.`, 'error');
      address.showRoom(w.room);
    } else if (joinSince !== undefined && (w.epoch !== previousEpoch || w.cursor < joinSince)) {
      // The room's numbering started again (the server restarted, or the
      // room was emptied and recreated): old ids mean nothing any more.
      lastId = 0;
      older.stop();
      view.notice('The server restarted and lost this room\'s history; messages sent while you were away may be missing.', 'error');
    }
    epoch = w.epoch;
    if (kind === 'rejoin') view.notice('Reconnected.');
    if (w.gap) view.notice('Some messages were missed while you were away; only the most recent ones are shown.');
    for (const message of w.history) onMessage(message);
    if (freshList) older.reset({ first: w.history[0]?.id, cursor: w.cursor, minor: w.minor });
    // Messages up to the cursor that were not replayed predate this visit.
    lastId = Math.max(lastId, w.cursor);

    roster.reset(w.roster, w.count);
    view.markRosterStale(false);
    drawRoster();
    drawTyping();
    view.showRoom(room);
    onLimits(w.limits);
    view.showChat();
    link.welcomed();
    view.scrollToEnd();
    // A list too short to scroll has its top in view already.
    if (view.nearTop()) older.nearTop();
    // Unacknowledged messages go again with their refs.
    outbox.pump();
  }

  function onMessage(m) {
    if (!Number.isSafeInteger(m.id) || m.id <= lastId) return;
    lastId = m.id;
    const own = m.nick === nick;
    if (own) outbox.adopt(m.text);
    if (roster.endTyping(m.nick)) {
      drawTyping();
      drawRoster();
    }
    view.addMessage(m, own, nick);
    if (!own) view.noteUnread(room, mentions(m.text, nick));
  }

  function onJoined(j) {
    roster.add(j.nick, j.count);
    drawRoster();
    view.notice(`${j.nick} joined — ${participants(j.count)}`);
  }

  function onLeft(l) {
    roster.remove(l.nick, l.count);
    drawRoster();
    drawTyping();
    view.notice(`${l.nick} left — ${participants(l.count)}`);
  }

  function onPresence(p) {
    const { came, went } = roster.applyPresence(p.changes, p.count, nick);
    drawRoster();
    drawTyping();
    const parts = [];
    if (came > 0) parts.push(`${came} joined`);
    if (went > 0) parts.push(`${went} left`);
    if (parts.length > 0) view.notice(`${parts.join(', ')} — ${participants(p.count)}`);
  }

  function onRenamed(r) {
    roster.rename(r.old, r.new);
    if (r.old === nick) {
      renaming = null;
      onCommand('nick', true);
      nick = r.new;
      wantedNick = r.new;
      remember(r.new);
      view.notice(`You are now known as ${r.new}.`);
    } else {
      view.notice(`${r.old} is now known as ${r.new}.`);
    }
    drawRoster();
    drawTyping();
  }

  function onTyping(t) {
    if (t.nick === nick || !roster.setTyping(t.nick, t.on)) return;
    drawTyping();
    drawRoster();
  }

  function onLeftRoom(l) {
    joined = false;
    wantJoin = false;
    view.notice(`You left #${l.room}.`);
  }

  /**
   * The server lost (or regained) the store that joins it to the other
   * instances. Nothing is lost: refused sends stay pending and go out
   * again when it is back.
   */
  function onStatus(s) {
    const now = !!s.degraded;
    if (now === degraded) return;
    degraded = now;
    view.showDegraded(degraded);
    if (degraded) {
      view.notice('The chat is degraded: the server cannot store messages right now. Your messages wait and are sent when it recovers.', 'error');
    } else {
      view.notice('The chat has recovered.');
      outbox.release();
    }
  }

  /** A rename the user asked for was refused: say why, and give the command back. */
  function renameFailed(e) {
    const asked = renaming;
    renaming = null;
    view.notice(errorText(e, { nick: asked, room, limits }), 'error');
    onCommand('nick', false);
  }

  function onError(e) {
    if (older.owns(e.ref)) {
      older.refused(e);
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
        // rename; only the rename was the user's to wait for.
        renameFailed(e);
      } else if (e.code === 'degraded') {
        outbox.pumpLater(wait);
      }
      // A refused typing signal or ping needs no word: the next one goes
      // when it is due, and messages have the outbox's "slow down" line.
      return;
    }
    if (mine) {
      outbox.refused(e.ref, e.code, errorText(e, { text: outbox.textOf(e.ref), room, limits }));
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
    view.notice(errorText(e, { room, limits }), 'error');
  }

  function joinFailed(e) {
    awaitingWelcome = false;
    const why = errorText(e, { nick: wantedNick, room, limits });
    if (joinKind === 'switch' && joined) {
      // The server refused before moving us: we are still where we were.
      view.notice(why, 'error');
      onCommand('join', false);
      outbox.failRoom(room);
      room = shownRoom;
      address.restoreRoom(room);
      outbox.pump();
      return;
    }
    joined = false;
    wantJoin = false;
    view.showLogin(why, wantedNick);
  }

  /** Frame type -> handler. Unknown types are ignored: a newer server may send more. */
  const HANDLERS = {
    welcome: onWelcome,
    message: (frame) => { onMessage(frame); view.scrollIfFollowing(); },
    ack: (a) => outbox.ack(a.ref),
    joined: onJoined,
    presence: onPresence,
    left: onLeft,
    renamed: onRenamed,
    typing: onTyping,
    left_room: onLeftRoom,
    pong: () => {},
    status: onStatus,
    history: (h) => older.answer(h),
    error: onError,
  };

  return {
    /** A frame from the server. */
    handle(frame) {
      if (Object.hasOwn(HANDLERS, frame.type)) HANDLERS[frame.type](frame);
    },

    /** A link opened: join if the user wants a room. */
    linkOpened() {
      if (wantJoin) sendJoin();
    },

    /** The link closed with `code`: the server has forgotten us until we join again. */
    linkClosed(code) {
      const wasJoined = joined;
      joined = false;
      awaitingWelcome = false;
      // A rename unanswered now never will be; the user sees the name it has.
      renaming = null;
      typing.linkLost();
      older.linkLost();
      roster.stopAllTyping();
      drawTyping();
      view.markRosterStale(true);
      outbox.linkLost(code === CLOSE.TOO_BIG);
      if (code === CLOSE.REPLACED) {
        view.notice('This chat was opened in another window, so this one stopped.', 'error');
        return;
      }
      if (wasJoined) view.notice('Connection lost; reconnecting…');
    },

    /** The user asked to join as `name` (the nickname form). */
    joinAs(name) {
      wantedNick = name;
      wantJoin = true;
      if (link.isOpen()) sendJoin();
      else link.reconnectNow();
    },

    /** The user asked for another room (/join, or the address while chatting). */
    switchRoom(to) {
      if (to === room && (joined || awaitingWelcome)) {
        view.notice(`You are already in #${to}.`);
        onCommand('join', true);
        return;
      }
      typing.stop();
      room = to;
      wantJoin = true;
      if (link.isOpen()) sendJoin();
      else link.reconnectNow();
    },

    /** The address names another room before the user has joined one. */
    pickRoom(to) {
      room = to;
      view.showRoom(room);
    },

    /** /nick: false (with a notice) when not in a room to be renamed in. */
    changeNick(name) {
      if (!joined) {
        view.notice('Not connected; try again once reconnected.', 'error');
        return false;
      }
      // The server answers a rename to the very same name with nothing at all.
      if (name.trim() === nick) {
        view.notice(`You are already known as ${nick}.`);
        onCommand('nick', true);
        return true;
      }
      renaming = name;
      link.send({ type: 'nick', nick: name });
      return true;
    },

    /** The top of the message list is in view: fetch older messages if there are any. */
    nearTop() {
      older.nearTop();
    },

    /** Sends a message (it shows as pending until acknowledged). */
    say(text) {
      outbox.say(text, nick || wantedNick);
    },

    isJoined: () => joined,
    isAwaitingWelcome: () => awaitingWelcome,
    currentRoom: () => room,
  };
}
