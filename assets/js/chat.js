/*
 * The page's side of the chat: what the client library (parley-client.js)
 * reports, drawn for people, and what the user asks for, passed to it.
 * The library keeps the protocol (joins, resume, acks, the offline queue,
 * dedupe); this module keeps what only a page needs: the roster as drawn,
 * the "sending…" items of messages not yet acknowledged, the wording of
 * every notice, the unread count and mentions, older messages on scroll
 * (older.js), the roster of a big room in pages and its search
 * (roster-pager.js), the address following the room, and the nickname
 * remembered for next time. In a big room (PROTOCOL.md 4.5.2) arrivals
 * and departures come counted, with a sample of names: they are told in
 * one line a batch ("12 people joined, 3 left"), and the sample updates
 * the partial list; below that size every arrival is told by name.
 *
 * Owns: the Roster, the pending items (ref -> the view's item), the room
 * the user picked before joining, who is coming back after a reconnect
 * (returning.js), the one reconnect line, whether a join waits for the
 * link, and the pagers of older messages and of the roster (each owns
 * its own state).
 * Must not touch: the DOM, the network or the address directly. It draws
 * through the `view` it is given, talks to the server only through
 * `client` (a ParleyClient), and changes the address through `address`;
 * so Node can drive it with a client on a fake transport and watch.
 */

import { countedPresenceText, participants, rosterNote } from './format.js';
import { errorText, reconnectedText } from './wording.js';
import { mentions } from './message-parts.js';
import { Roster } from './roster.js';
import { Returning } from './returning.js';
import { createOlder } from './older.js';
import { createRosterPager } from './roster-pager.js';

/** Refusals of a join that are about the room, not the nickname. */
const ROOM_REFUSALS = new Set(['invalid_room', 'room_full', 'too_many_rooms']);

/** Why a message the server never refused did not go, by the library's own codes. */
const UNSENT = {
  left_room: () => 'You left the room before it went.',
  join_failed: ({ room }) => `Could not join #${room}.`,
  too_large: () => 'It was too large to send.',
  closed: () => 'The chat was closed before it went.',
};

/**
 * The chat. Arguments:
 *   client    a ParleyClient (not yet connected)
 *   room      the room to start in (from the address)
 *   typing    our typing reporter (typing.js): {stop(), linkLost()}
 *   view      what it draws with (view.js has them all)
 *   address   {showRoom(room), restoreRoom(room)}
 *   remember  (nick) => void: keeps the nickname for next time
 *   onLimits  (limits) => void: the welcome's limits, for the message box
 *   onCommand (name, ok) => void: how a /join or /nick the user typed
 *             ended ('join' or 'nick'; ok false when the server refused it)
 *   io        {setTimeout, clearTimeout, now} (the pager's timers)
 */
export function createChat({
  client, room: startRoom, typing, view, address, remember = () => {}, onLimits = () => {},
  onCommand = () => {}, io = {},
}) {
  /** The room asked for: picked from the address, switched to, or welcomed into. */
  let room = startRoom;
  const roster = new Roster();
  const returning = new Returning();
  const now = () => (io.now ? io.now() : Date.now());
  /** "Connection lost; reconnecting…", reworded once back (one line per drop). */
  let lostLine = null;
  /** The user pressed Join and no welcome or refusal has answered yet. */
  let joinAsked = false;
  /** ref -> the view's "sending…" item, until our message or its ack comes. */
  const items = new Map();
  const older = createOlder({
    history: (query) => client.history(query),
    canAsk: () => client.joined && !client.awaitingWelcome,
    ownNick: () => client.nick,
    view,
    io,
  });

  const pager = createRosterPager({
    ask: (query) => client.roster(query),
    canAsk: () => client.joined && !client.awaitingWelcome,
    addPage: (members, count) => roster.addPage(members, count),
    changed: () => drawRoster(),
    atEnd: () => view.rosterNearEnd(),
    io,
  });

  /** The roster: the search's results while one is shown, else the list with the true count. */
  function drawRoster() {
    const results = pager.results();
    const people = results ? results.members : roster.people();
    const note = rosterNote({
      complete: roster.complete,
      shown: people.length,
      count: roster.count,
      prefix: results ? results.prefix : '',
      more: results ? results.next !== null : pager.more,
    });
    view.showRoster(people, roster.count, client.nick, { note, partial: !roster.complete });
  }

  function drawTyping() {
    view.showTyping(roster.typists(client.nick));
  }

  /** By the Join button: whether the join waits for the server or is on its way. */
  function drawJoinStatus() {
    // The join goes out as soon as the link is up, and waits till then.
    if (!joinAsked || client.joined) view.showJoinStatus('');
    else view.showJoinStatus(client.connected ? 'Joining…' : 'Waiting for the server…');
  }

  function dropItem(ref) {
    const item = items.get(ref);
    if (item === undefined) return;
    items.delete(ref);
    view.dropItem(item);
  }

  function showMessage(m) {
    // Our own message arrived: its placeholder gives way to it.
    if (m.ref !== undefined) dropItem(m.ref);
    if (roster.endTyping(m.nick)) {
      drawTyping();
      drawRoster();
    }
    view.addMessage(m, m.own, client.nick);
    if (!m.own) view.noteUnread(room, mentions(m.text, client.nick));
  }

  function onWelcome(w) {
    room = w.room;
    remember(w.nick);
    if (w.kind === 'switch') onCommand('join', true);
    if (w.freshRoom) {
      view.resetMessages([...items.values()]);
      if (w.previousRoom !== null) view.notice(`You left #${w.previousRoom} and joined #${w.room}.`);
      if (w.dropped > 0) view.notice(`${w.dropped} unsent message(s) meant for #${w.previousRoom} were dropped.`, 'error');
      address.showRoom(w.room);
    } else if (w.renumbered) {
      older.stop();
    }
    // One line per drop: the "Connection lost" line, reworded; it says
    // messages may be missing only when the server says so. A handover
    // (another tab of this browser took over the shared connection) is no
    // reconnect the user need hear of, unless something was missed.
    const quietHandover = w.handover && !w.gap && !w.renumbered;
    if (w.kind === 'rejoin' && !quietHandover) {
      lostLine = view.reword(lostLine, reconnectedText(w), w.renumbered ? 'error' : undefined);
    } else if (w.gap) {
      view.notice('Some messages were missed while you were away; only the most recent ones are shown.');
    }
    lostLine = null;
    joinAsked = false;
    view.showJoinStatus('');
    for (const message of w.history) showMessage(message);
    if (w.freshRoom) older.reset({ first: w.history[0]?.id, cursor: w.cursor, minor: w.minor });
    roster.reset(w.roster, w.count, w.rosterComplete !== false);
    returning.welcomed({
      rejoin: !w.freshRoom, present: roster.people().map((p) => p.nick), now: now(),
    });
    if (w.freshRoom && w.history.length === 0 && items.size === 0) {
      view.showEmptyRoom(w.room, { recent: w.cursor > 0 });
    }
    view.markRosterStale(false);
    drawRoster();
    drawTyping();
    view.showRoom(room);
    onLimits(w.limits);
    view.showChat();
    // Once the list is on screen: a partial one asks for what fills it.
    pager.reset({ complete: roster.complete, next: w.roster_next });
    view.scrollToEnd();
    // A list too short to scroll has its top in view already.
    if (view.nearTop()) older.nearTop();
  }

  function onPresence(p) {
    switch (p.kind) {
      case 'joined':
        roster.add(p.nick, p.count);
        drawRoster();
        // Someone reconnecting after our own reconnect is no new arrival.
        if (!returning.isReturn(p.nick, now())) view.notice(`${p.nick} joined — ${participants(p.count)}`);
        break;
      case 'left':
        roster.remove(p.nick, p.count);
        pager.departed(p.nick);
        drawRoster();
        drawTyping();
        view.notice(`${p.nick} left — ${participants(p.count)}`);
        break;
      case 'presence': {
        if (p.arrived !== undefined) {
          onCounted(p);
          break;
        }
        const back = p.changes.filter((c) => c.present && returning.isReturn(c.nick, now())).length;
        const { came: all, went } = roster.applyPresence(p.changes, p.count, client.nick);
        const came = all - back;
        drawRoster();
        drawTyping();
        const parts = [];
        if (came > 0) parts.push(`${came} joined`);
        if (went > 0) parts.push(`${went} left`);
        if (parts.length > 0) view.notice(`${parts.join(', ')} — ${participants(p.count)}`);
        break;
      }
      case 'renamed':
        roster.rename(p.old, p.new);
        if (p.own) {
          onCommand('nick', true);
          remember(p.new);
          view.notice(`You are now known as ${p.new}.`);
        } else {
          view.notice(`${p.old} is now known as ${p.new}.`);
        }
        drawRoster();
        drawTyping();
        break;
      default:
        break;
    }
  }

  /**
   * A big room's batch: counted, with a sample of names. The sample
   * updates the list, which is partial from now on (a room that grew big
   * while we listed it whole is then listed in pages), and the batch is
   * one line.
   */
  function onCounted(p) {
    if (roster.complete) {
      roster.reset(roster.people(), p.count, false);
      pager.reset({ complete: false, next: '' });
    }
    roster.applyPresence(p.changes, p.count, client.nick);
    for (const change of p.changes) if (!change.present) pager.departed(change.nick);
    drawRoster();
    drawTyping();
    const text = countedPresenceText(p);
    if (text !== '') view.notice(text);
  }

  function onTyping(t) {
    if (t.own || !roster.setTyping(t.nick, t.on)) return;
    drawTyping();
    drawRoster();
  }

  function onDegraded({ degraded }) {
    view.showDegraded(degraded);
    if (degraded) {
      view.notice('The chat is degraded: the server cannot store messages right now. Your messages wait and are sent when it recovers.', 'error');
    } else {
      view.notice('The chat has recovered.');
    }
  }

  function onFailed({ ref, text, room: meant, error }) {
    const item = items.get(ref);
    items.delete(ref);
    if (item === undefined) return;
    const why = Object.hasOwn(UNSENT, error.code)
      ? UNSENT[error.code]({ room: meant })
      : errorText(error.frame || error, { text, room, limits: client.limits });
    view.markFailed(item, why);
  }

  function onError(e) {
    const context = { nick: e.nick, room: e.room, limits: client.limits };
    if (e.code === 'origin_not_allowed' && e.fatal) {
      view.showRefused(e.hint);
    } else if (e.during === 'nick') {
      view.notice(errorText(e, context), 'error');
      onCommand('nick', false);
    } else if (e.during === 'switch') {
      // The server refused before moving us: we are still where we were.
      view.notice(errorText(e, context), 'error');
      onCommand('join', false);
      room = client.room;
      address.restoreRoom(room);
    } else if (e.during === 'join') {
      joinAsked = false;
      drawJoinStatus();
      view.showLogin(errorText(e, context), e.nick, ROOM_REFUSALS.has(e.code) ? 'room' : 'nick');
    } else {
      view.notice(errorText(e, { room, limits: client.limits }), 'error');
    }
  }

  function onClose({ wasJoined, replaced }) {
    typing.linkLost();
    older.linkLost();
    pager.linkLost();
    roster.stopAllTyping();
    drawTyping();
    view.markRosterStale(true);
    if (replaced) {
      view.notice('This chat was opened in another window, so this one stopped.', 'error');
      return;
    }
    if (wasJoined) {
      returning.linkLost(roster.people().map((p) => p.nick).filter((nick) => nick !== client.nick));
      if (lostLine === null) lostLine = view.notice('Connection lost; reconnecting…');
    }
  }

  client.on('queued', ({ ref, text, nick }) => { items.set(ref, view.addPending(ref, text, nick)); });
  client.on('ack', ({ ref }) => dropItem(ref));
  client.on('failed', onFailed);
  client.on('slowdown', ({ waiting }) => view.showSlowDown(waiting));
  client.on('welcome', onWelcome);
  client.on('message', (m) => { showMessage(m); view.scrollIfFollowing(); });
  client.on('presence', onPresence);
  client.on('typing', onTyping);
  client.on('left', (l) => view.notice(`You left #${l.room}.`));
  client.on('degraded', onDegraded);
  client.on('error', onError);
  client.on('close', onClose);
  client.on('status', ({ state, detail, attempt, retryAt }) => {
    view.showConnState({ kind: state, detail, attempt, retryAt });
    drawJoinStatus();
  });
  client.on('transport', ({ name, why }) => view.showTransport(name, why));
  client.on('notice', ({ text }) => view.notice(text));

  return {
    /** The user asked to join as `name` (the nickname form). */
    joinAs(name) {
      joinAsked = true;
      client.join({ nick: name, room });
      drawJoinStatus();
    },

    /** The user asked for another room (/join, or the address while chatting). */
    switchRoom(to) {
      if (to === room && (client.joined || client.awaitingWelcome)) {
        view.notice(`You are already in #${to}.`);
        onCommand('join', true);
        return;
      }
      typing.stop();
      room = to;
      client.join({ room: to });
    },

    /** The address names another room before the user has joined one. */
    pickRoom(to) {
      room = to;
      view.showRoom(room);
    },

    /** /nick: false (with a notice) when not in a room to be renamed in. */
    changeNick(name) {
      if (!client.joined) {
        view.notice('Not connected; try again once reconnected.', 'error');
        return false;
      }
      // The server answers a rename to the very same name with nothing at all.
      if (name.trim() === client.nick) {
        view.notice(`You are already known as ${client.nick}.`);
        onCommand('nick', true);
        return true;
      }
      client.rename(name);
      return true;
    },

    /** The top of the message list is in view: fetch older messages if there are any. */
    nearTop() {
      older.nearTop();
    },

    /** The roster was scrolled to its end (or opened): a partial one loads more. */
    rosterNearEnd() {
      pager.nearEnd();
    },

    /** The roster's search box holds `text`: a partial roster is searched by name prefix. */
    searchRoster(text) {
      pager.search(text);
    },

    /** Sends a message (it shows as pending until acknowledged). */
    say(text) {
      client.say(text);
    },

    isJoined: () => client.joined,
    isAwaitingWelcome: () => client.awaitingWelcome,
    currentRoom: () => room,
  };
}
