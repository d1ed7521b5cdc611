/*
 * The messages, as the chat keeps them for the page: each one from the
 * server drawn (and counted as unread while the tab is hidden), ours
 * shown "sending…" from the moment the library queues them until the
 * server has them, or marked failed with the reason in words, the rate
 * limit's line, and older messages on scroll (older.js).
 *
 * Owns: the pending items (ref -> the view's item) and the pager of older
 * messages.
 * Must not touch: the DOM, the network, the roster or the room; it draws
 * through the `view` it is given, hears the library's message events from
 * `client`, and reads the room only through `room()`.
 */

import { errorText } from './wording.js';
import { mentions } from './message-parts.js';
import { createOlder } from './older.js';

/** Why a message the server never refused did not go, by the library's own codes. */
const UNSENT = {
  left_room: () => 'You left the room before it went.',
  join_failed: ({ room }) => `Could not join #${room}.`,
  too_large: () => 'It was too large to send.',
  closed: () => 'The chat was closed before it went.',
};

/**
 * The message side of the chat. Arguments: `client` (a ParleyClient),
 * `view`, `room()` (the room the chat is in), `spoke(nick)` (the sender
 * stopped typing) and `io` (the older pager's timers).
 */
export function createMessages({ client, view, room, spoke, io }) {
  /** ref -> the view's "sending…" item, until our message or its ack comes. */
  const items = new Map();
  const older = createOlder({
    history: (query) => client.history(query),
    canAsk: () => client.joined && !client.awaitingWelcome,
    ownNick: () => client.nick,
    view,
    io,
  });

  function dropItem(ref) {
    const item = items.get(ref);
    if (item === undefined) return;
    items.delete(ref);
    view.dropItem(item);
  }

  function show(m) {
    // Our own message arrived: its placeholder gives way to it.
    if (m.ref !== undefined) dropItem(m.ref);
    spoke(m.nick);
    view.addMessage(m, m.own, client.nick);
    if (!m.own) view.noteUnread(room(), mentions(m.text, client.nick));
  }

  function onFailed({ ref, text, room: meant, error }) {
    const item = items.get(ref);
    items.delete(ref);
    if (item === undefined) return;
    const why = Object.hasOwn(UNSENT, error.code)
      ? UNSENT[error.code]({ room: meant })
      : errorText(error.frame || error, { text, room: room(), limits: client.limits });
    view.markFailed(item, why);
  }

  client.on('queued', ({ ref, text, nick }) => { items.set(ref, view.addPending(ref, text, nick)); });
  client.on('ack', ({ ref }) => dropItem(ref));
  client.on('failed', onFailed);
  client.on('slowdown', ({ waiting }) => view.showSlowDown(waiting));
  client.on('message', (m) => { show(m); view.scrollIfFollowing(); });

  return {
    /** Another room: the list holds only our messages still on their way. */
    clear() {
      view.resetMessages([...items.values()]);
    },

    /** The room's history was renumbered: what older.js was paging through is gone. */
    renumbered() {
      older.stop();
    },

    /** A welcome's history, shown; a fresh room's older messages start above it. */
    welcomed(w) {
      for (const message of w.history) show(message);
      if (w.freshRoom) older.reset({ first: w.history[0]?.id, cursor: w.cursor, minor: w.minor });
    },

    /** A fresh room with nothing in it, not even ours on the way: greet the reader. */
    greet(w) {
      if (w.freshRoom && w.history.length === 0 && items.size === 0) {
        view.showEmptyRoom(w.room, { recent: w.cursor > 0 });
      }
    },

    /** The top of the list is in view: fetch older messages if there are any. */
    nearTop() {
      older.nearTop();
    },

    linkLost() {
      older.linkLost();
    },
  };
}
