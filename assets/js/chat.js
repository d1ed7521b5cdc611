/*
 * The page's side of the chat: what the client library (parley-client.js)
 * reports, drawn for people, and what the user asks for, passed to it.
 * The library keeps the protocol (joins, resume, acks, the offline queue,
 * dedupe); the page keeps what only a page needs, in three parts this
 * module makes and wires: the messages (chat-messages.js: "sending…"
 * items, failures in words, older messages on scroll), who is here
 * (chat-presence.js: the roster, presence lines, typing, a big room's
 * roster in pages and its search) and the chat's own lines
 * (chat-lines.js: room switches, the one reconnect line per drop). Here
 * are the joins, room switches and renames the user asks for, the
 * welcome that draws them all in order, the server's refusals, the
 * address following the room, and the nickname remembered for next time.
 *
 * Owns: the room the user picked before joining and whether a join waits
 * for the link; each part owns its own state.
 * Must not touch: the DOM, the network or the address directly. It draws
 * through the `view` it is given, talks to the server only through
 * `client` (a ParleyClient), and changes the address through `address`;
 * so Node can drive it with a client on a fake transport and watch.
 */

import { errorText } from './wording.js';
import { nameIn, sentence } from './sentence.js';
import { createLines } from './chat-lines.js';
import { createMessages } from './chat-messages.js';
import { createPresence } from './chat-presence.js';

/** Refusals of a join that are about the room, not the nickname. */
const ROOM_REFUSALS = new Set(['invalid_room', 'room_full', 'too_many_rooms']);

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
  const now = () => (io.now ? io.now() : Date.now());
  /** The user pressed Join and no welcome or refusal has answered yet. */
  let joinAsked = false;
  const presence = createPresence({
    client,
    view,
    now,
    io,
    renamedSelf: (nick) => {
      onCommand('nick', true);
      remember(nick);
    },
  });
  const messages = createMessages({
    client, view, room: () => room, spoke: (nick) => presence.spoke(nick), io,
  });
  const lines = createLines({ client, view });

  /** By the Join button: whether the join waits for the server or is on its way. */
  function drawJoinStatus() {
    // The join goes out as soon as the link is up, and waits till then.
    if (!joinAsked || client.joined) view.showJoinStatus('');
    else view.showJoinStatus(client.connected ? 'Joining…' : 'Waiting for the server…');
  }

  /** Welcomed (joined, switched or back): every part drawn, in this order. */
  function onWelcome(w) {
    room = w.room;
    remember(w.nick);
    if (w.kind === 'switch') onCommand('join', true);
    if (w.freshRoom) {
      messages.clear();
      lines.switched(w);
      address.showRoom(w.room);
    } else if (w.renumbered) {
      messages.renumbered();
    }
    lines.welcomed(w);
    joinAsked = false;
    view.showJoinStatus('');
    messages.welcomed(w);
    presence.welcomed(w);
    messages.greet(w);
    presence.show();
    view.showRoom(room);
    onLimits(w.limits);
    view.showChat();
    // Once the list is on screen: a partial one asks for what fills it.
    presence.listed(w);
    view.scrollToEnd();
    // A list too short to scroll has its top in view already.
    if (view.nearTop()) messages.nearTop();
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
    messages.linkLost();
    presence.linkLost();
    if (replaced) {
      lines.replaced();
      return;
    }
    if (wasJoined) {
      presence.away();
      lines.lost();
    }
  }

  client.on('welcome', onWelcome);
  client.on('error', onError);
  client.on('close', onClose);
  client.on('status', ({ state, detail, attempt, retryAt }) => {
    view.showConnState({ kind: state, detail, attempt, retryAt });
    drawJoinStatus();
  });
  client.on('transport', ({ name, why }) => view.showTransport(name, why));

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
        view.notice(sentence`You are already known as ${nameIn(client.nick)}.`);
        onCommand('nick', true);
        return true;
      }
      client.rename(name);
      return true;
    },

    /** The top of the message list is in view: fetch older messages if there are any. */
    nearTop() {
      messages.nearTop();
    },

    /** The roster was scrolled to its end: a partial one loads more. */
    rosterNearEnd() {
      presence.nearEnd();
    },

    /** The roster was opened: a partial one is asked again if due, or loads what fills it. */
    rosterOpened() {
      presence.opened();
    },

    /** The roster's search box holds `text`: a partial roster is searched by name prefix. */
    searchRoster(text) {
      presence.search(text);
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
