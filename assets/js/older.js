/*
 * Older messages on demand: when the user scrolls to the top of the
 * message list, ask the server for the page of messages before the oldest
 * one shown (the `history` frame, protocol minor version 1) and put them
 * above, keeping what the user was reading where it was. One request at a
 * time: scrolling while one is out asks nothing more. When the server
 * says there is no more, the list starts with "Beginning of the room"
 * (or, when the room has forgotten its oldest messages, says so), and
 * nothing more is asked in that room. A request refused with
 * `rate_limited` or `degraded` waits the time the server named, then asks
 * again if the top is still in view.
 *
 * Owns: the oldest id shown in the room, whether the server may have
 * older ones, the request in flight (a number of its own, so an answer to
 * one it no longer waits for is dropped), and the hold the server asked
 * for.
 * Must not touch: the DOM (it draws through the `view` it is given:
 * prependMessages, showBeginning, nearTop), the network (it asks through
 * `history`, the client library's), or the chat's state, which it reads
 * only through `canAsk()` and `ownNick()`.
 */

import { BROWSER_IO } from './clock.js';

/** Messages asked for at once (the server allows up to welcome.limits.max_history_limit). */
export const PAGE_SIZE = 50;

/** The protocol minor version that brought the `history` frame. */
export const HISTORY_MINOR = 1;

/**
 * A pager. `history({before, limit}) -> Promise<{before, messages, more}>`
 * asks the server (ParleyClient.history); `canAsk()` says whether the
 * server has us in a room with no join outstanding; `ownNick()` is our
 * nickname (our own messages are drawn as ours).
 */
export function createOlder({ history, canAsk, ownNick, view, io = {} }) {
  const clock = { ...BROWSER_IO, ...io };
  /** The server speaks the `history` frame. */
  let supported = false;
  /** The oldest message id shown in this room (0 when none is). */
  let oldest = 0;
  /** The server may keep messages older than `oldest`. */
  let more = false;
  /** The number of the request awaiting its answer, or null. */
  let inFlight = null;
  let requests = 0;
  /** No request before this time (the server asked us to slow down). */
  let holdUntil = 0;
  let holdTimer = 0;

  function ended() {
    more = false;
    // Ids start at 1: a room whose oldest kept message is later has
    // forgotten the ones before it.
    view.showBeginning(oldest <= 1);
  }

  function ask() {
    if (!supported || !more || inFlight !== null || !canAsk()) return false;
    if (clock.now() < holdUntil) return false;
    requests += 1;
    const request = requests;
    inFlight = request;
    history({ before: oldest, limit: PAGE_SIZE }).then(
      (page) => { if (inFlight === request) answer(page); },
      (error) => { if (inFlight === request) refused(error); },
    );
    return true;
  }

  /** A page of older messages. Answers from before a room switch are dropped. */
  function answer(page) {
    inFlight = null;
    if (page.before !== oldest) return;
    const nick = ownNick();
    const older = (Array.isArray(page.messages) ? page.messages : [])
      .filter((m) => Number.isSafeInteger(m.id) && m.id < oldest);
    if (older.length > 0) {
      view.prependMessages(older.map((m) => ({ message: m, own: m.nick === nick, me: nick })));
      oldest = older[0].id;
    }
    if (!page.more || older.length === 0) {
      ended();
      return;
    }
    // The list may still not reach past the top of its box.
    if (view.nearTop()) ask();
  }

  /** The request failed with `e` ({code, retry_ms}). */
  function refused(e) {
    inFlight = null;
    const retry = e.retry_ms !== undefined ? e.retry_ms : e.frame && e.frame.retry_ms;
    if (e.code === 'rate_limited' || e.code === 'degraded') {
      const wait = Number.isFinite(retry) ? retry : 1000;
      holdUntil = clock.now() + wait;
      clock.clearTimeout(holdTimer);
      holdTimer = clock.setTimeout(() => { if (view.nearTop()) ask(); }, wait);
      return;
    }
    // not_joined or link_lost: the link went down meanwhile, and the next
    // welcome resets us. Anything else would repeat: stop asking in this room.
    if (e.code !== 'not_joined' && e.code !== 'link_lost') more = false;
  }

  return {
    /**
     * A welcome put a fresh list up (another room, or the first): `first`
     * is the id of its oldest message (undefined when it has none),
     * `cursor` the room's newest id, `minor` the server's minor version.
     */
    reset({ first, cursor, minor }) {
      supported = Number.isSafeInteger(minor) && minor >= HISTORY_MINOR;
      inFlight = null;
      holdUntil = 0;
      clock.clearTimeout(holdTimer);
      oldest = Number.isSafeInteger(first) ? first : cursor + 1;
      more = supported && oldest > 1;
      if (supported && oldest <= 1) view.showBeginning(true);
    },

    /** The room's numbering started again: older ids would be another room's. */
    stop() {
      more = false;
      inFlight = null;
    },

    /** The user scrolled near the top (or the list does not fill its box). */
    nearTop() {
      return ask();
    },

    /** The link closed: an answer to what is in flight will not come. */
    linkLost() {
      inFlight = null;
    },

    isLoading: () => inFlight !== null,
    hasMore: () => more,
  };
}
